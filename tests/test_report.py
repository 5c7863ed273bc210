"""The HTML report: self-contained, names every channel, embeds the figures, opens in a browser.

Uses the session-scoped ``demo_fit`` from ``conftest.py``. The browser test runs headless
Chromium when it is installed (``apt-get install -y chromium``) and is skipped otherwise.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import mmmjax
from mmmjax import report
from mmmjax.inference import validation
from mmmjax.inference.idata import add_groups
from mmmjax.report import html as page_html
from mmmjax.report import national

IMG = '<img alt="'
PNG = 'src="data:image/png;base64,'


class FakePlan:
    """Duck-typed stand-in for ``mmmjax.optimize.Plan`` (written by a colleague)."""

    def __init__(self, channels):
        self.allocation = pd.Series(np.linspace(1.0, 2.0, len(channels)) * 1000, index=channels)
        self.expected_response = 12345.0

    def to_frame(self):
        return self.allocation.to_frame("allocation")

    def plot(self):
        fig = Figure()
        fig.subplots().bar(self.allocation.index, self.allocation.values)
        return fig


@pytest.fixture(scope="module")
def page(demo_fit, demo, tmp_path_factory):
    """One report with every optional section: a plan, a holdout and the truth."""
    _, truth = demo
    y = demo_fit.dataset.target[-13:]
    pred = demo_fit.predict(kind="predictive")[:, -13:]
    mean = demo_fit.predict(kind="mean")[:, -13:]
    lo, hi = np.quantile(pred, [0.03, 0.97], axis=0)
    ho = validation.Holdout(
        n_train=demo_fit.dataset.n_periods - 13, n_test=13,
        metrics=validation.score(y, mean, pred), dates=demo_fit.dataset.dates[-13:],
        actual=y, mean=mean.mean(0), low=lo, high=hi,
    )  # fmt: skip
    path = tmp_path_factory.mktemp("report") / "out" / "report.html"
    written = report.write_report(
        demo_fit, path, plan=FakePlan(demo_fit.channels), validation=ho, truth=truth
    )
    assert written == path
    return path, path.read_text(encoding="utf-8")


def test_report_names_every_channel_and_embeds_figures(demo_fit, page):
    _, text = page
    for ch in demo_fit.channels:
        assert html.escape(ch) in text
    assert text.count(PNG) >= 6
    assert text.count(IMG) == text.count(PNG)  # every figure is embedded


def test_report_is_self_contained(page):
    _, text = page
    links = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', text, flags=re.IGNORECASE)
    assert links and all(u.startswith(("data:image/png;base64,", "#")) for u in links)
    assert "http://" not in text and "https://" not in text
    assert "<script" not in text.lower()
    assert "@import" not in text and "url(" not in text


def test_report_answers_the_analysts_questions(demo_fit, page):
    _, text = page
    for heading in ("Data", "Carryover (adstock)", "Priors", "How well the model fits",
                    "Channels: contribution, ROI and marginal ROI", "Sampler health",
                    "Optimal budget", "True vs estimated (simulated data)"):  # fmt: skip
        assert f"<h2>{html.escape(heading)}</h2>" in text
    best_mroi = mmmjax.roi(demo_fit)["mroi_mean"].idxmax()
    assert f"The next dollar is best spent on {best_mroi}" in text
    assert "ridge baseline" in text and "VIF" in text
    assert "LogNormal(loc=0, scale=1)" in text  # the media_roi prior, with its reason
    assert "window ROI" in text and "contribution over the data window divided by its spend" in text
    assert "out of sample (last 13 periods)" in text
    assert "12,345" in text  # the plan's expected response


def test_validation_table_from_rolling_cv():
    cv = pd.DataFrame(
        {"train_end": pd.to_datetime(["2023-01-01", "2023-04-02"]), "n_train": [100, 113],
         "mape": [0.05, 0.07], "crps": [1000.0, 1200.0]},
        index=pd.Index([0, 1], name="fold"),
    )  # fmt: skip
    parts = "".join(national._validation_parts(cv))
    assert "Rolling-origin" in parts and "2023-04-02" in parts and "6.0%" in parts


def test_write_is_atomic_and_accepts_a_directory(tmp_path, monkeypatch, demo_fit):
    monkeypatch.setattr(report, "render_report", lambda fit, **kw: "<html>ok &amp;</html>")
    out = report.write_report(demo_fit, tmp_path)
    assert out == tmp_path / "report.html" and out.read_text() == "<html>ok &amp;</html>"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]  # no temp left over

    def boom(fit, **kw):
        raise RuntimeError("render failed")

    monkeypatch.setattr(report, "render_report", boom)
    with pytest.raises(RuntimeError):
        report.write_report(demo_fit, out)
    assert out.read_text() == "<html>ok &amp;</html>"  # the old report is untouched


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def test_report_renders_in_headless_chromium(page, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium) - browser check")
    path, _ = page
    shot = tmp_path / "shot.png"
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
    ]  # fmt: skip
    url = path.resolve().as_uri()
    run = subprocess.run(
        [browser, *flags, f"--screenshot={shot}", "--window-size=1280,2000", url],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    # the page has no script, so any console line (chromium logs console.error and uncaught
    # exceptions as "INFO:CONSOLE ... Uncaught ...") means something went wrong
    console = [ln for ln in run.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert not console, console

    from matplotlib.image import imread

    pixels = imread(str(shot))
    assert pixels.shape[0] >= 1000 and pixels.shape[1] >= 1000
    assert float(np.std(pixels[..., :3])) > 0.05, "the screenshot is blank"

    dom = subprocess.run(
        [browser, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=180
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count("<img") >= 6 and "Sampler health" in dom.stdout


def test_calibration_section_only_for_a_calibrated_fit(demo_fit, demo, page):
    _, text = page
    assert 'id="calibration"' not in text  # the demo fit has no ROI prior and no lift test
    dataset, _ = demo
    tests = (
        mmmjax.LiftTest("search", "2022-03-06", "2022-04-02", 3000, 20000, 4000),
        mmmjax.LiftTest("search", "2023-05-07", "2023-05-27", -1000, -5000, 2500),
    )
    spec = mmmjax.MMM(priors={"media_roi": {"tv": mmmjax.roi_prior(1.0, 2.0)}})
    draws = {k: v[:, :50] for k, v in (
        (k, demo_fit.idata.posterior[k].values) for k in demo_fit.sites)}  # fmt: skip
    fit = mmmjax.inference.fit.fit_from_draws(spec, dataset, draws, lift_tests=tests)
    prior = spec.sample_prior_predictive(dataset, draws=100, seed=1).prior
    add_groups(fit.idata, {"prior": prior})
    text = report.render_report(fit)
    section = text[text.index('<section id="calibration">') :]
    section = section[: section.index("</section>")]
    assert "<h2>Calibration: prior, lift tests and posterior ROI</h2>" in section
    assert ">tv<" in section and ">search<" in section and ">radio<" not in section
    # each test's own ROI: lift / (spend change x periods in the window), with a 1.96 se band
    for lift, se, spend in ((20000, 4000, 3000 * 4), (-5000, 2500, -1000 * 3)):  # 4 and 3 weeks
        value, half = lift / spend, 1.96 * se / abs(spend)
        assert page_html.interval(value, value - half, value + half) in section
    assert "2022-03-06 to 2022-04-02" in section
    assert section.count(IMG + "calibration") == 1 and PNG in section
    assert '<a href="#calibration">' in text


def test_dollar_signs_in_channel_names_do_not_break_the_report(dollar_fit, tmp_path):
    """`$` is mathtext to matplotlib: two in one label ("search $x^$") crashed the report."""
    names = dollar_fit.channels
    plan = FakePlan(names)  # its own figure, drawn outside mmmjax.plots
    path = report.write_report(dollar_fit, tmp_path / "r.html", plan=plan)
    text = path.read_text(encoding="utf-8")
    for ch in names:
        assert html.escape(ch) in text
    assert text.count(PNG) >= 6
