"""Health review and the verdict-first report of geo fits (issue 17 for panels)."""

from __future__ import annotations

import contextlib
import io
import re

import numpy as np
import pytest

import mmmjax
from mmmjax import review
from mmmjax.geo import insights
from mmmjax.report import render_report

PANEL = dict(n_geos=4, n_periods=104, n_channels=3, seed=2)


@pytest.fixture(scope="module")
def geo_fit():
    """``(panel, truth, fit)``: a small simulated panel and a short geo fit (2 x 150)."""
    panel, truth = mmmjax.simulate_geo(**PANEL)
    fit = mmmjax.GeoMMM().fit(
        panel, chains=2, draws=150, warmup=150, seed=0, progress=False, warn=False
    )
    return panel, truth, fit


@pytest.fixture(scope="module")
def geo_page(geo_fit):
    _, truth, fit = geo_fit
    health = fit.review()
    return health, render_report(fit, truth=truth, health=health)


@pytest.mark.slow
def test_geo_review_has_named_checks_and_a_score(geo_fit):
    _, _, fit = geo_fit
    r = fit.review()
    names = {c.name for c in r.checks}
    expected = {"r_hat", "ess", "divergences", "ppc", "fit_vs_ridge", "baseline", "media_share"}
    assert expected <= names
    assert {f"roi_learned[{ch}]" for ch in fit.channels} <= names
    assert {f"roi_plausible[{ch}]" for ch in fit.channels} <= names
    assert all(c.status in ("pass", "warn", "fail") and c.message for c in r.checks)
    assert 0 <= r.score <= 100 and r.score == review.score_checks(r.checks)
    assert r.verdict in r.summary()
    # the model is the one that simulated the data: the model checks pass by wide margins
    status = r.to_frame()["status"]
    assert (status[["ppc", "fit_vs_ridge", "baseline", "media_share"]] == "pass").all(), str(r)
    # the ROI checks read the national ROI of the geo fit (sum over geos), not one geo's
    national = insights.roi(fit, by="national")
    for ch in fit.channels:
        value = r.to_frame().loc[f"roi_plausible[{ch}]", "value"]
        assert value == pytest.approx(national.loc[ch, "roi_mean"], rel=1e-6)


@pytest.mark.slow
def test_geo_report_opens_with_summary_verdict_then_health_and_data_review(geo_page, geo_fit):
    health, text = geo_page
    _, _, fit = geo_fit
    first = text.index('<section id="summary">')
    assert first < text.index("<nav>") < text.index('<section id="health">')
    assert (
        text.index('<section id="health">')
        < text.index('<section id="data-review">')
        < text.index('<section id="data">')
    )
    summary = text[first : text.index("</section>", first)]
    assert 'id="verdict"' in summary
    assert f"Health {health.score:.0f}/100: {health.verdict}" in summary
    for failing in health.failing:
        assert failing.label in summary
    assert all(ch in summary for ch in fit.channels)
    assert "share of spend" in summary and "Media drive" in summary
    assert "Least certain geo ROIs" in summary and "Weakest fit" in summary
    national = insights.roi(fit, by="national")
    lo, hi = national.loc[fit.channels[0], ["roi_low", "roi_high"]]
    assert f"({lo:.2f} to {hi:.2f})" in summary  # national interval, formatted for people
    assert not re.search(r"\d\.\d{5,}", summary)
    assert "roi_mean" not in summary and "_pct" not in summary


@pytest.mark.slow
def test_geo_verdict_is_on_the_first_screen(geo_page, first_screen):
    _, text = geo_page
    px = first_screen(text, "#verdict{background:#ff00ff!important}")
    painted = int(np.all(px == np.array((255, 0, 255)), axis=-1).sum())
    assert painted > 5000, "the verdict is not on the first screen"


# ----------------------------------------------------------------------------------------------
# a deliberately weak fit, through the CLI
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def weak_cli(tmp_path_factory):
    """``mmmjax fit --geo`` with 2 chains x 30 draws: ``(status, stdout, stderr, out dir)``."""
    from mmmjax.cli import main

    panel, _ = mmmjax.simulate_geo(**PANEL)
    tmp = tmp_path_factory.mktemp("weak")
    csv = tmp / "panel.csv"
    panel.to_frame().to_csv(csv, index=False)
    out = tmp / "out"
    argv = ["fit", str(csv), "--geo", "geo", "--population", "population", "--date", "date",
            "--target", "revenue", "--channels", ",".join(panel.channels), "--out", str(out),
            "--chains", "2", "--draws", "30", "--warmup", "30", "--no-progress"]  # fmt: skip
    # capsys is function-scoped: a module fixture captures the output itself
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main(argv)
    return status, stdout.getvalue(), stderr.getvalue(), out


@pytest.mark.slow
def test_weak_geo_fit_scores_below_50_naming_convergence(weak_cli):
    *_, out = weak_cli
    fit = mmmjax.load_geo_fit(out)
    assert fit.n_draws == 60
    r = fit.review()
    # 60 draws cannot give every parameter a bulk ESS of 100: the ESS check fails, which caps
    # the score at CAP_UNCONVERGED
    assert r.score <= review.CAP_UNCONVERGED < 50 and r.verdict == "weak", str(r)
    assert "ess" in {c.name for c in r.failing}
    assert "few effective draws" in r.summary()


@pytest.mark.slow
def test_cli_fit_geo_prints_data_review_and_verdict(weak_cli):
    from mmmjax.cli import EXIT_NOT_CONVERGED

    status, printed, err, out = weak_cli
    assert status == EXIT_NOT_CONVERGED and "NOT CONVERGED" in err
    fit = mmmjax.load_geo_fit(out)
    r = fit.review()
    assert "data review" in printed
    assert printed.index("data review") < printed.index(r.summary())  # reviewed, then sampled
    assert f"health {r.score:.0f}/100 (weak)" in printed
    html = (out / "report.html").read_text(encoding="utf-8")
    assert f"Health {r.score:.0f}/100: weak" in html
    assert html.index('id="verdict"') < html.index('<section id="data">')
