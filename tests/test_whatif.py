"""What-if (mmmjax.evaluate_budget): an optimal plan evaluated again is that plan; intervals are
the per-draw quantiles; totals are sums over channels; the current mix is the last 13 periods'
at the same total; bad allocations are one clear DataError naming the channel."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import mmmjax
from mmmjax.inference.fit import fit_from_draws
from mmmjax.insights import INTERVAL_QUANTILES, marginal_roi, response_curves
from mmmjax.optimize.current import CURRENT_PERIODS, current_split
from mmmjax.optimize.whatif import WhatIf

CHANNELS = ["tv", "search", "social", "radio"]


def small_fit(saturation: str = "hill", S: int = 200, seed: int = 0, form: str = "additive"):
    """A Fit from known draws (no trend, seasonality or controls), 4 channels, 60 weeks."""
    rng = np.random.default_rng(seed)
    T, C = 60, len(CHANNELS)
    levels = np.array([8000.0, 3000.0, 5000.0, 1500.0])
    df = pd.DataFrame(levels * rng.lognormal(0, 0.3, (T, C)), columns=CHANNELS)
    df.iloc[-CURRENT_PERIODS:, 0] *= 2.0  # the recent mix differs from the window's
    df["week"] = pd.date_range("2022-01-02", periods=T, freq="W")
    df["sales"] = 50_000 + rng.normal(0, 500, T)
    ds = mmmjax.Dataset.from_frame(df, date="week", target="sales", channels=CHANNELS)
    spec = mmmjax.MMM(saturation=saturation, seasonality=0, trend="none", form=form)
    draws = {"intercept": np.ones(S), "sigma": np.full(S, 0.05)}
    draws["media_roi"] = np.array([2.0, 3.0, 1.5, 4.0]) * rng.lognormal(0, 0.3, (S, C))
    draws["alpha"] = rng.uniform(0.2, 0.6, (S, C))
    if saturation == "hill":
        draws["half_saturation"] = np.array([1.0, 0.8, 1.5, 0.6]) * rng.lognormal(0, 0.2, (S, C))
        draws["slope"] = np.array([1.0, 1.4, 0.8, 1.2]) * rng.lognormal(0, 0.1, (S, C))
    else:
        draws["lam"] = np.array([1.0, 2.0, 0.7, 1.5]) * rng.lognormal(0, 0.2, (S, C))
    return fit_from_draws(spec, ds, draws)


@pytest.fixture(scope="module")
def hill_fit():
    return small_fit()


@pytest.mark.parametrize(
    "saturation, form", [("hill", "additive"), ("logistic", "additive"), ("hill", "multiplicative")]
)
def test_an_optimal_plan_evaluated_again_is_that_plan(saturation, form):
    fit = small_fit(saturation, S=120, seed=1, form=form)
    plan = mmmjax.optimize_budget(fit, 16_000.0, bounds={"radio": (500, None)})
    again = mmmjax.evaluate_budget(fit, plan.allocation)
    assert isinstance(again, mmmjax.Plan) and isinstance(again, WhatIf)
    assert again.total_budget == pytest.approx(16_000.0, rel=1e-12)
    assert again.expected_response == pytest.approx(plan.expected_response, rel=1e-5)
    np.testing.assert_allclose(again.response_interval, plan.response_interval, rtol=1e-5)
    np.testing.assert_allclose(again.channel_response, plan.channel_response, rtol=1e-5)
    np.testing.assert_allclose(again.marginal_roi, plan.marginal_roi, rtol=1e-4)
    # at an interior optimum the marginal returns agree, and the what-if's spread says so
    assert again.mroi_spread < 1e-3


def test_intervals_are_quantiles_of_the_per_draw_responses(hill_fit):
    x = np.array([9000.0, 2000.0, 4000.0, 3000.0])
    w = mmmjax.evaluate_budget(hill_fit, dict(zip(CHANNELS, x, strict=True)))
    r = response_curves(hill_fit, x[None])[:, 0]  # (S, C)
    t = r.sum(-1)
    low, high = np.quantile(t, INTERVAL_QUANTILES)
    assert w.response_interval == pytest.approx((low, high), rel=1e-6)
    assert w.expected_response == pytest.approx(t.mean(), rel=1e-6)
    q = np.quantile(r, INTERVAL_QUANTILES, axis=0)
    np.testing.assert_allclose(w.channel_interval[["low", "high"]].to_numpy().T, q, rtol=1e-6)
    np.testing.assert_allclose(w.channel_roi["mean"], r.mean(0) / x, rtol=1e-6)
    np.testing.assert_allclose(w.channel_roi["low"], q[0] / x, rtol=1e-6)
    assert w.roi_interval == pytest.approx((low / x.sum(), high / x.sum()), rel=1e-6)
    m = marginal_roi(hill_fit, spend=x)
    np.testing.assert_allclose(w.marginal_roi, m.mean(0), rtol=1e-6)
    np.testing.assert_allclose(
        w.marginal_roi_interval.to_numpy().T, np.quantile(m, INTERVAL_QUANTILES, axis=0), rtol=1e-6
    )
    # the interval is a real spread (the draws differ), and contains the mean
    assert low < t.mean() < high and high - low > 0.05 * t.mean()


def test_a_user_plan_totals_are_sums_over_channels_and_the_current_mix_has_the_same_total(
    hill_fit,
):
    alloc = pd.Series({"radio": 2500.0, "tv": 12_000.0, "search": 0.0, "social": 3000.0})
    w = mmmjax.evaluate_budget(hill_fit, alloc)
    assert list(w.allocation.index) == CHANNELS  # reordered to the fit's channels
    assert w.total_budget == pytest.approx(17_500.0)
    assert w.expected_response == pytest.approx(w.channel_response.sum(), rel=1e-9)
    assert w.current_response == pytest.approx(w.current_channel_response.sum(), rel=1e-9)
    assert w.roi == pytest.approx(w.expected_response / 17_500.0, rel=1e-9)
    assert w.uplift == pytest.approx(w.expected_response - w.current_response, rel=1e-6)
    assert w.uplift_interval[0] < w.uplift < w.uplift_interval[1]
    assert np.isnan(w.channel_roi.loc["search", "mean"])  # no spend, no ROI
    # the current mix: the last 13 periods' mean spend, scaled to the plan's total
    recent = hill_fit.dataset.spend[-CURRENT_PERIODS:].mean(0)
    np.testing.assert_allclose(current_split(hill_fit), recent)
    np.testing.assert_allclose(w.current_allocation, 17_500.0 * recent / recent.sum())
    assert not np.allclose(
        recent / recent.sum(), hill_fit.scales.spend / hill_fit.scales.spend.sum()
    )
    frame = w.to_frame()
    assert {"plan", "current", "response_low", "response_high", "roi", "marginal_roi"} <= set(frame)
    d = json.loads(json.dumps(w.to_dict()))
    assert d["kind"] == "what-if" and d["channel_roi"]["search"] is None
    assert d["expected_response"] == pytest.approx(w.expected_response)


def test_a_sequence_in_channel_order_is_accepted(hill_fit):
    x = [9000.0, 2000.0, 4000.0, 3000.0]
    a = mmmjax.evaluate_budget(hill_fit, x)
    b = mmmjax.evaluate_budget(hill_fit, dict(zip(CHANNELS, x, strict=True)))
    assert a.expected_response == b.expected_response


@pytest.mark.parametrize(
    "alloc, needle",
    [
        ({"tv": 1, "search": 1, "social": 1, "radio": 1, "print": 5}, "unknown channel 'print'"),
        ({"tv": 1, "search": 1, "social": 1}, "channel 'radio'"),
        ({"tv": -1, "search": 1, "social": 1, "radio": 1}, "channel 'tv'"),
        ({"tv": float("nan"), "search": 1, "social": 1, "radio": 1}, "channel 'tv'"),
        ({"tv": "lots", "search": 1, "social": 1, "radio": 1}, "channel 'tv'"),
        ({"tv": 0, "search": 0, "social": 0, "radio": 0}, "total spend must be positive"),
        ([1.0, 2.0], "4 numbers"),
    ],
)
def test_bad_allocations_are_one_data_error_naming_the_channel(hill_fit, alloc, needle):
    with pytest.raises(mmmjax.DataError, match=needle) as info:
        mmmjax.evaluate_budget(hill_fit, alloc)
    assert "\n" not in str(info.value)


def test_periods_spread_a_total_flat_and_equal_that_schedule(hill_fit):
    """``periods=N`` with money per channel over the plan is that money spread flat: the same
    figures as the flat DataFrame (tests/test_schedule.py checks schedules in depth)."""
    x = dict(zip(CHANNELS, [13 * 900.0, 13 * 300.0, 0.0, 13 * 200.0], strict=True))
    a = mmmjax.evaluate_budget(hill_fit, x, periods=13)
    frame = pd.DataFrame([{c: v / 13 for c, v in x.items()}] * 13)
    b = mmmjax.evaluate_budget(hill_fit, frame)
    assert a.periods == b.periods == 13 and a.total_budget == pytest.approx(13 * 1400.0)
    assert a.expected_response == pytest.approx(b.expected_response, rel=1e-12)
    pd.testing.assert_frame_equal(a.schedule, b.schedule)
    assert list(a.schedule.index) == list(hill_fit.dataset.future_dates(13))


def test_by_geo_on_a_national_fit_is_by_channel(hill_fit):
    """A national fit is one geo (as in optimize_budget): by="geo" is by channel."""
    x = dict(zip(CHANNELS, [900.0, 300.0, 500.0, 200.0], strict=True))
    a, b = mmmjax.evaluate_budget(hill_fit, x), mmmjax.evaluate_budget(hill_fit, x, by="geo")
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    with pytest.raises(ValueError, match="by must be 'national' or 'geo'"):
        mmmjax.evaluate_budget(hill_fit, x, by="region")


def test_a_geo_fit_is_evaluated_for_the_nation():
    panel, _ = mmmjax.simulate_geo(n_geos=3, n_periods=40, n_channels=2, n_controls=0,
                                   seasonality=1, seed=5)  # fmt: skip
    fit = mmmjax.GeoMMM().fit(panel, chains=1, draws=40, warmup=40, seed=0, progress=False,
                              warn=False)  # fmt: skip
    recent = panel.spend.sum(0)[-CURRENT_PERIODS:].mean(0)  # national: summed over geos
    np.testing.assert_allclose(current_split(fit), recent)
    x = np.array([1.2, 0.7]) * recent
    w = mmmjax.evaluate_budget(fit, x)
    r = mmmjax.geo.response_curves(fit, x[None], by="national")[:, 0]
    assert w.expected_response == pytest.approx(r.sum(-1).mean(), rel=1e-6)
    assert w.response_interval == pytest.approx(
        tuple(np.quantile(r.sum(-1), INTERVAL_QUANTILES)), rel=1e-6
    )
    np.testing.assert_allclose(w.current_allocation, x.sum() * recent / recent.sum())
    from mmmjax.planner import planner_data

    assert planner_data(fit, draws=None, levels=11)["draws"] == 40
