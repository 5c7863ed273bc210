"""The data review before a fit and the health score after it (issue 17, items 1-3)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import mmmjax
from mmmjax import review
from mmmjax.cli import main
from mmmjax.errors import DataError, DataWarning


def _dataset(spend: np.ndarray, target: np.ndarray | None = None, names=None) -> mmmjax.Dataset:
    T, C = spend.shape
    rng = np.random.default_rng(1)
    target = 1000 + 50 * rng.standard_normal(T) if target is None else target
    return mmmjax.Dataset(
        dates=pd.date_range("2021-01-03", periods=T, freq="W"),
        channels=list(names or [f"c{i}" for i in range(C)]),
        spend=spend,
        target=target,
    )


def _spend(T: int = 120, C: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).gamma(4.0, 25.0, size=(T, C))


def _severities(r: review.DataReview, check: str, column: str | None = None) -> set[str]:
    return {f.severity for f in r.findings if f.check == check and column in (None, f.column)}


# ----------------------------------------------------------------------------------------------
# data review
# ----------------------------------------------------------------------------------------------
def test_demo_data_is_clean(demo):
    r = mmmjax.review_data(demo[0])
    assert r.ok and not r.warnings, str(r)


def test_independent_spend_has_no_findings_beyond_information():
    r = mmmjax.review_data(_dataset(_spend()))
    assert r.ok and not r.warnings, str(r)
    assert {f.check for f in r.findings} == {"data_per_parameter", "target_correlation"}


def test_duplicated_channel_is_an_error_naming_both_columns():
    x = _spend()
    x[:, 2] = 3.0 * x[:, 0]
    r = mmmjax.review_data(_dataset(x, names=["tv", "radio", "tv_copy"]))
    assert "error" in _severities(r, "collinearity", "tv_copy")
    with pytest.raises(DataError, match=r"'tv'.*'tv_copy'.*review='warn'"):
        r.enforce("error")
    with pytest.warns(DataWarning) as caught:
        r.enforce("warn")
    assert len(caught) == len(r.errors) and any("tv_copy" in str(w.message) for w in caught)
    r.enforce("off")  # nothing
    with pytest.raises(ValueError, match="review must be"):
        r.enforce("loud")


def test_correlated_channels_warn_and_vif_flags_a_near_combination():
    rng = np.random.default_rng(3)
    x = _spend(C=4)
    x[:, 1] = x[:, 0] * (1 + 0.05 * rng.standard_normal(len(x)))  # r ~ 0.99, not exact
    r = mmmjax.review_data(_dataset(x))
    assert _severities(r, "collinearity", "c1") == {"warning"}
    assert "warning" in _severities(r, "vif", "c0")


def test_constant_rare_and_flat_spend():
    x = _spend(C=4)
    x[:, 1] = 50.0  # constant: error
    x[:, 2] = 0.0
    x[:3, 2] = 100.0  # spend in 3 of 120 periods
    x[:, 3] = 100.0 + np.random.default_rng(4).uniform(-2, 2, len(x))  # cv ~ 0.01
    r = mmmjax.review_data(_dataset(x))
    assert _severities(r, "variation", "c1") == {"error"}
    assert _severities(r, "activity", "c2") == {"warning"}
    assert _severities(r, "variation", "c3") == {"warning"}
    assert _severities(r, "variation", "c0") == set()
    assert "c1" in r.errors[0].message


def test_outliers_in_the_target_name_the_date():
    x = _spend()
    y = 1000 + 20 * np.random.default_rng(5).standard_normal(len(x))
    y[40] = 5000.0
    r = mmmjax.review_data(_dataset(x, y))
    (f,) = [f for f in r.findings if f.check == "outliers"]
    assert f.severity == "warning" and "2021-10-10" in f.message and f.value > review.OUTLIER_Z


def test_spend_against_the_target_warns():
    x = _spend()
    y = 5000 - 10 * x[:, 1] + np.random.default_rng(6).normal(0, 30, len(x))
    r = mmmjax.review_data(_dataset(x, y))
    assert _severities(r, "target_correlation", "c1") == {"warning"}
    assert _severities(r, "target_correlation", "c0") == set()


def test_data_per_parameter_warns_on_short_data_and_counts_model_parameters():
    r = mmmjax.review_data(_dataset(_spend(T=60, C=6)))
    (f,) = [f for f in r.findings if f.check == "data_per_parameter"]
    n_params = 6 * 4 + 4 + 3  # roi, decay, hill's 2 per channel; 4 Fourier; level, slope, sigma
    assert f.severity == "warning" and f.value == pytest.approx(60 / n_params)
    lean = mmmjax.review_data(_dataset(_spend(T=60, C=6)), mmmjax.MMM(seasonality=0))
    assert next(g.value for g in lean.findings if g.check == "data_per_parameter") > f.value


def test_hams_data_warns_about_data_per_parameter(hams):
    r = mmmjax.review_data(hams)
    assert r.ok
    assert "warning" in _severities(r, "data_per_parameter")


def _panel(spend: np.ndarray) -> mmmjax.GeoDataset:
    G, T, C = spend.shape
    rng = np.random.default_rng(7)
    return mmmjax.GeoDataset(
        geos=[f"g{i}" for i in range(G)],
        dates=pd.date_range("2021-01-03", periods=T, freq="W"),
        channels=[f"c{i}" for i in range(C)],
        spend=spend,
        target=1000 + 50 * rng.standard_normal((G, T)),
        population=np.linspace(1.0, 3.0, G),
    )


def test_geo_panel_flags_spend_that_moves_the_same_in_every_geo():
    G, T = 6, 80
    rng = np.random.default_rng(8)
    pop = np.linspace(1.0, 3.0, G)
    national = rng.gamma(4.0, 25.0, size=(T, 2))
    spend = pop[:, None, None] * national[None]  # per head: the same series everywhere
    spend[:, :, 1] *= rng.uniform(0.2, 2.0, size=(G, T))  # channel 1 varies by geo and week
    r = mmmjax.review_data(_panel(spend))
    assert _severities(r, "geo_time", "c0") == {"warning"}
    assert _severities(r, "geo_time", "c1") == set()
    (f,) = [f for f in r.findings if f.check == "data_per_parameter"]
    assert f.value > 1  # G * T observations


def test_fit_stops_on_data_errors_before_sampling(monkeypatch):
    x = _spend()
    x[:, 1] = x[:, 0]
    data = _dataset(x)

    def never(*a, **k):
        raise AssertionError("sampled despite a data error")

    monkeypatch.setattr("mmmjax.inference.fit.run_nuts", never)
    with pytest.raises(DataError, match="data review"):
        mmmjax.MMM().fit(data, chains=1, draws=10, warmup=10, progress=False)
    with pytest.raises(AssertionError, match="sampled"):  # "off" goes on to sample
        mmmjax.MMM().fit(data, chains=1, draws=10, warmup=10, progress=False, review="off")


def test_cli_fit_refuses_bad_data_with_one_line(tmp_path, capsys, demo):
    frame = demo[0].to_frame()
    frame["tv_again"] = frame["tv"]
    csv = tmp_path / "dup.csv"
    frame.to_csv(csv, index=False)
    out = tmp_path / "out"
    argv = ["fit", str(csv), "--date", demo[0].date_name, "--target", demo[0].target_name,
            "--channels", "tv,search,tv_again", "--out", str(out)]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tv_again" in err[0] and "--ignore-data-errors" in err[0]
    assert not out.exists()


# ----------------------------------------------------------------------------------------------
# health score
# ----------------------------------------------------------------------------------------------
def _check(group: str, status: str, name: str | None = None) -> review.Check:
    return review.Check(name or group, group, status, 0.0, "", "")


def test_score_formula():
    checks = [_check("r_hat", "pass"), _check("ppc", "warn"), _check("baseline", "fail")]
    w = review.WEIGHTS
    expected = 100 * (w["r_hat"] + 0.5 * w["ppc"]) / (w["r_hat"] + w["ppc"] + w["baseline"])
    assert review.score_checks(checks) == pytest.approx(expected, abs=0.05)
    # a group's weight is split over its channels
    split = [_check("roi_learned", "fail", "a"), _check("roi_learned", "pass", "b")]
    assert review.score_checks([_check("r_hat", "pass"), *split]) == pytest.approx(
        100 * (w["r_hat"] + w["roi_learned"] / 2) / (w["r_hat"] + w["roi_learned"]), abs=0.05
    )
    # unconverged chains cap the score
    capped = [_check("ess", "fail")] + [_check(g, "pass") for g in w if g != "ess"]
    assert review.score_checks(capped) == review.CAP_UNCONVERGED


def test_demo_fit_is_healthy(demo_fit):
    r = demo_fit.review()
    assert r.score >= 80 and r.verdict == "good", str(r)
    assert not r.failing, str(r)
    names = {c.name for c in r.checks}
    assert {
        "r_hat",
        "ess",
        "divergences",
        "ppc",
        "fit_vs_ridge",
        "baseline",
        "media_share",
    } <= names
    assert {f"roi_learned[{ch}]" for ch in demo_fit.channels} <= names
    status = r.to_frame()["status"]
    assert (status[["fit_vs_ridge", "baseline", "media_share", "ppc"]] == "pass").all()
    assert r.notes and "in sample" in r.notes[0]  # no holdout: says the comparison is in sample


@pytest.mark.slow
def test_a_short_fit_scores_below_50_and_names_convergence(demo):
    weak = mmmjax.MMM().fit(demo[0], chains=2, draws=50, warmup=50, seed=0, progress=False,
                            warn=False)  # fmt: skip
    r = weak.review()
    assert r.score < 50 and r.verdict == "weak", str(r)
    failing = {c.name for c in r.failing}
    assert failing & {"r_hat", "ess"}, str(r)
    assert "few effective draws" in r.summary() or "chains disagree" in r.summary()


@pytest.mark.slow
def test_hams_verdict_names_its_weaknesses(hams):
    fit = mmmjax.MMM().fit(hams, chains=2, draws=250, warmup=250, seed=0, progress=False,
                           warn=False)  # fmt: skip
    r = fit.review()
    status = r.to_frame()["status"]
    assert status["fit_vs_ridge"] != "pass"  # in-sample R² below the ridge's
    assert status["media_share"] != "pass"  # media ~ 80% of the prediction
    assert status["baseline"] == "fail"  # the baseline's interval runs below zero
    assert r.score < 80
    text = str(r)
    for words in ("ridge baseline", "media drive", "baseline's total"):
        assert words in text, text


def test_roi_priors_and_lift_tests_are_checked_when_present(demo_fit):
    wrong = mmmjax.roi_prior(20.0, 25.0)  # tv's ROI is about 1.3: the posterior sits far below
    spec = mmmjax.MMM(priors={"media_roi": {"tv": wrong}})
    fit = mmmjax.inference.fit.fit_from_draws(
        spec, demo_fit.dataset, {k: v for k, v in demo_fit.draws().items()}
    )
    checks = {c.name: c for c in review._prior_agreement(fit, review._roi_draws(fit))}
    assert set(checks) == {"roi_prior[tv]"} and checks["roi_prior[tv]"].status == "fail"
    implied = float(mmmjax.insights.lift_draws(demo_fit)[:, :0].size)  # no tests: nothing
    assert implied == 0 and review._lift_agreement(demo_fit) == []
    d = demo_fit.dataset
    test = mmmjax.LiftTest("tv", d.dates[20], d.dates[27], 1000.0, 1e7, 1000.0)  # absurd lift
    calibrated = mmmjax.inference.fit.fit_from_draws(
        demo_fit.spec, d, demo_fit.draws(), lift_tests=[test]
    )
    (lift,) = review._lift_agreement(calibrated)
    assert lift.status == "fail" and lift.value < -3


# ----------------------------------------------------------------------------------------------
# the report opens with the verdict
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def report_page(demo_fit, tmp_path_factory):
    plan = mmmjax.optimize_budget(demo_fit, float(demo_fit.dataset.spend.mean(axis=0).sum()))
    path = tmp_path_factory.mktemp("review") / "report.html"
    mmmjax.write_report(demo_fit, path, plan=plan)
    return path, path.read_text(encoding="utf-8")


def test_report_opens_with_summary_verdict_and_plan(report_page, demo_fit):
    _, text = report_page
    first = text.index('<section id="summary">')
    assert first < text.index("<nav>") < text.index('<section id="data">')
    summary = text[first : text.index("</section>", first)]
    score = demo_fit.review().score
    assert f"Health {score:.0f}/100: good" in summary
    assert "Recommended plan" in summary and "94% interval" in summary
    assert all(ch in summary for ch in demo_fit.channels)
    assert "share of spend" in summary and "Media drive" in summary
    # numbers for people: no long floats, no raw column names
    assert not re.search(r"\d\.\d{5,}", summary)
    assert "_pct" not in summary and "change_pct" not in summary
    assert 'id="health"' in text and 'id="data-review"' in text


def test_verdict_and_recommendation_are_on_the_first_screen(report_page, first_screen):
    """Paint the verdict and the plan in marker colours; both must show in a 1366x768 shot."""
    _, text = report_page
    px = first_screen(
        text, "#verdict{background:#ff00ff!important}#recommendation{background:#00ffff!important}"
    )

    def painted(rgb) -> int:
        return int(np.all(px == np.array(rgb), axis=-1).sum())

    assert painted((255, 0, 255)) > 5000, "the verdict is not on the first screen"
    assert painted((0, 255, 255)) > 5000, "the recommendation is not on the first screen"
