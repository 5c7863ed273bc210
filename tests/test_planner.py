"""The planner page (mmmjax.write_planner, ``mmmjax plan``): one self-contained file whose
tabulated curves are the model's, and which, in headless Chromium, moves with its sliders and
agrees with mmmjax.evaluate_budget within 1%. The browser test skips without Chromium
(``apt-get install -y chromium``; .ci/run installs it)."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from test_whatif import CHANNELS, small_fit

import mmmjax
from mmmjax.cli import main
from mmmjax.insights import response_curves
from mmmjax.optimize.current import current_split
from mmmjax.planner import planner_data, render_planner


@pytest.fixture(scope="module")
def fit():
    return small_fit(S=300, seed=2)


def _decode(b64: str, shape) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype="<f4").reshape(shape)


def _data(page: str) -> dict:
    blob = re.search(
        r'<script type="application/json" id="planner-data">(.*?)</script>', page, re.S
    )
    return json.loads(blob.group(1))


def test_the_tables_are_the_models_curves_and_the_page_is_self_contained(fit):
    data = planner_data(fit, draws=50, levels=41)
    S, G, C = data["draws"], data["levels"], len(CHANNELS)
    assert (S, G) == (50, 41) and data["channels"] == CHANNELS
    resp = _decode(data["resp"], (C, S, G))
    grid = np.asarray(data["top"])[None, :] * (np.linspace(0, 1, G)[:, None] ** 2)
    full = response_curves(fit, grid)  # (300, G, C)
    keep = np.round(np.linspace(0, 299, 50)).astype(int)
    np.testing.assert_allclose(resp, np.transpose(full[keep], (2, 0, 1)), rtol=1e-6, atol=1e-3)
    # the mean slope: finite differences of the curve agree with the model's marginal ROI
    dmean = _decode(data["dmean"], (C, G))
    g = 20
    m = mmmjax.marginal_roi(fit, spend=grid[g])[keep].mean(0)
    np.testing.assert_allclose(dmean[:, g], m, rtol=1e-3)
    # every channel's top covers 3x its current spend
    assert np.all(np.asarray(data["top"]) >= 3 * np.asarray(data["current"]) - 1e-9)

    page = render_planner(fit)
    assert len(page.encode()) < 2_000_000
    assert not re.search(r"(src|href)\s*=|https?://|<link|@import", page)  # nothing fetched
    assert _data(page)["draws"] == 200


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if found := shutil.which(name):
            return found
    return None


def _dom(browser: str, url: str, profile) -> dict[str, float]:
    """The page after its scripts ran: every ``id="..." data-value="..."`` pair."""
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
        "--virtual-time-budget=10000",
    ]  # fmt: skip
    run = subprocess.run([browser, *flags, "--dump-dom", url], capture_output=True, text=True,
                         timeout=180)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    errors = [ln for ln in run.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert not errors, errors
    return {k: float(v) for k, v in re.findall(r'id="([\w-]+)" data-value="([^"]*)"', run.stdout)}


def _agrees(shown: dict[str, float], w, rel: float = 0.01) -> None:
    want = {"total-resp": w.expected_response, "total-low": w.response_interval[0],
            "total-high": w.response_interval[1], "total-roi": w.roi,
            "total-spend": w.total_budget, "cur-resp": w.current_response,
            "cur-low": w.current_interval[0], "cur-high": w.current_interval[1]}  # fmt: skip
    for c in range(len(CHANNELS)):
        want[f"resp-{c}"] = w.channel_response.iloc[c]
        want[f"low-{c}"] = w.channel_interval["low"].iloc[c]
        want[f"high-{c}"] = w.channel_interval["high"].iloc[c]
        want[f"roi-{c}"] = w.channel_roi["mean"].iloc[c]
        want[f"mroi-{c}"] = w.marginal_roi.iloc[c]
    for key, value in want.items():
        assert shown[key] == pytest.approx(value, rel=rel), key
    # the uplift is a difference of nearly equal totals: within 1% of the total response
    assert abs(shown["uplift"] - w.uplift) < rel * w.expected_response


def test_moving_the_sliders_changes_the_numbers_and_they_agree_with_evaluate_budget(fit, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium) - browser check")
    path = mmmjax.write_planner(fit, tmp_path / "planner.html", draws=None)  # every draw
    url = path.resolve().as_uri()

    opened = _dom(browser, url, tmp_path / "p0")  # as opened: the current mix
    budget = float(np.asarray(current_split(fit)).sum())
    start = mmmjax.evaluate_budget(fit, current_split(fit))
    _agrees(opened, start)
    assert opened["uplift"] == pytest.approx(0.0, abs=1e-6 * start.expected_response)

    plan = mmmjax.optimize_budget(fit, budget)  # the sliders moved to the optimal split
    moved = _dom(browser, url + "#spend=" + ",".join(f"{v:.6f}" for v in plan.allocation),
                 tmp_path / "p1")  # fmt: skip
    assert moved["total-resp"] != pytest.approx(opened["total-resp"], rel=1e-4)
    assert moved["resp-1"] != pytest.approx(opened["resp-1"], rel=1e-3)
    _agrees(moved, mmmjax.evaluate_budget(fit, plan.allocation))
    assert moved["total-resp"] == pytest.approx(plan.expected_response, rel=0.01)
    assert moved["uplift"] > 0  # the optimum beats the current mix at the same budget

    own = [12_000.0, 1_000.0, 6_000.0, 2_500.0]  # a user's plan, the channels far apart
    mine = _dom(browser, url + "#spend=" + ",".join(map(str, own)), tmp_path / "p2")
    _agrees(mine, mmmjax.evaluate_budget(fit, own))

    bigger = _dom(browser, url + f"#budget={1.5 * budget}", tmp_path / "p3")  # budget field
    _agrees(bigger, mmmjax.evaluate_budget(fit, 1.5 * current_split(fit)))


def test_the_plan_command_writes_the_page_and_bad_input_is_one_line_exit_2(fit, tmp_path, capsys):
    saved = tmp_path / "fit"
    fit.save(saved)
    out = tmp_path / "site" / "planner.html"
    assert main(["plan", str(saved), "--out", str(out), "--draws", "40"]) == 0
    assert "wrote" in capsys.readouterr().out
    data = _data(out.read_text(encoding="utf-8"))
    assert data["draws"] == 40 and data["channels"] == CHANNELS
    assert main(["plan", str(saved)]) == 0 and (saved / "planner.html").is_file()

    assert main(["plan", str(tmp_path / "nope"), "--out", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mmmjax: error:") and "not a saved fit" in err and "\n" not in err
    assert not (tmp_path / "x.html").exists()
