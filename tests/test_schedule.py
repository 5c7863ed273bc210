"""Schedules of the next N periods (mmmjax.optimize.schedule, optimize_budget(periods=N)): exact
constraints under hypothesis, the flat schedule is the horizon plan, responses against a float64
series computed by hand with the carry-in in the baseline, free flighting never below flat and
moving money where it must (carry-in, a multiplicative baseline), the multiplicative baseline
forecast in closed form, evaluate_budget of a plan is the plan, clear errors, no recompiles."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import mmmjax
from mmmjax.inference.fit import fit_from_draws
from mmmjax.insights import response_params
from mmmjax.model.design import fourier_terms
from mmmjax.optimize import schedule as sch
from mmmjax.optimize.current import current_split
from mmmjax.optimize.stages import TRACE_COUNT

CHANNELS = ["tv", "search", "social", "radio"]
LEVELS = np.array([8000.0, 3000.0, 5000.0, 1500.0])
N, S, T, TAIL = 13, 100, 60, 40


def small_fit(seed=0, burst=1.0, form="additive", season=0, slope=1.0):
    """A Fit from known draws: geometric adstock (alpha <= 0.6), Hill; ``burst`` multiplies
    tv's spend in the last 6 data periods (carry-in); ``season`` a yearly Fourier order."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(LEVELS * rng.lognormal(0, 0.3, (T, 4)), columns=CHANNELS)
    df.iloc[-6:, 0] *= burst
    df["week"] = pd.date_range("2022-01-02", periods=T, freq="W")
    df["sales"] = 50_000 + rng.normal(0, 500, T)
    ds = mmmjax.Dataset.from_frame(df, date="week", target="sales", channels=CHANNELS)
    spec = mmmjax.MMM(saturation="hill", seasonality=season, trend="none", form=form)
    mult = form == "multiplicative"
    draws = {"intercept": np.full(S, 0.0 if mult else 1.0), "sigma": np.full(S, 0.05)}
    roi = np.array([2.0, 3.0, 1.5, 4.0]) * (0.2 if mult else 1.0)
    draws["media_roi"] = roi * rng.lognormal(0, 0.3, (S, 4))
    draws["alpha"] = rng.uniform(0.3, 0.6, (S, 4))
    draws["half_saturation"] = np.array([1.0, 0.8, 1.5, 0.6]) * rng.lognormal(0, 0.2, (S, 4))
    draws["slope"] = slope * np.array([1.0, 0.9, 0.8, 1.0]) * rng.lognormal(0, 0.1, (S, 4))
    if season:
        draws["season"] = np.tile([0.3, 0.0], (S, 1)) + rng.normal(0, 0.01, (S, 2))
    return fit_from_draws(spec, ds, draws)


@pytest.fixture(scope="module")
def fit():
    return small_fit()


@pytest.fixture(scope="module")
def burst_fit():
    return small_fit(burst=5.0)


def _budget(f) -> float:
    return N * float(f.scales.spend.sum())


def _by_hand(f, X: np.ndarray, tail: int, carry_in: bool = True) -> np.ndarray:
    """``(S, C)`` float64: each channel's response over the N periods and ``tail`` after them to
    schedule ``X``, minus that of the carry-in alone, from the whole history: geometric adstock
    ``y[t] = x[t] + alpha y[t-1]`` times ``1 - alpha``, then Hill, times effect and multiplier
    (``carry_in=False``: as if nothing had been spent before the plan)."""
    p = response_params(f)
    alpha = np.asarray(f.draws()["alpha"], np.float64)
    k = np.asarray(p.channel["half_saturation"], np.float64)
    s = np.asarray(p.channel["slope"], np.float64)
    money = np.asarray(p.channel["effect"], np.float64) * np.asarray(p.multiplier, np.float64)
    m = np.asarray(p.spend_scale, np.float64)
    hist = np.asarray(f.dataset.spend, np.float64) * carry_in
    after = np.zeros((tail, X.shape[1]))

    def window(spend):
        y, out = np.zeros_like(alpha), []
        for row in spend / m:
            y = row + alpha * y
            out.append((1 - alpha) * y)
        a = np.stack(out, 1)[:, len(hist) :]  # (S, N + tail, C)
        with np.errstate(divide="ignore"):
            sat = np.where(a > 0, a ** s[:, None] / (a ** s[:, None] + k[:, None] ** s[:, None]), 0)
        return (money[:, None] * sat).sum(1)

    return window(np.concatenate([hist, X, after])) - window(
        np.concatenate([hist, np.zeros_like(X), after])
    )


# ----------------------------------------------------------------------------------------------
# constraints
# ----------------------------------------------------------------------------------------------
@settings(max_examples=16, deadline=None)
@given(
    data=st.data(),
    kind=st.sampled_from(["flat", "free"]),
    scale=st.floats(0.4, 2.5),
)
def test_schedules_hold_the_budget_and_every_bound_exactly(fit, data, kind, scale):
    B = scale * _budget(fit)
    per = B / N
    low = data.draw(st.lists(st.floats(0.0, 0.3), min_size=4, max_size=4))
    width = data.draw(st.lists(st.floats(0.05, 1.0), min_size=4, max_size=4))
    lo = np.array(low) * per
    hi = lo + np.array(width) * per
    assume(lo.sum() <= 0.98 * per and hi.sum() >= 1.02 * per)
    bounds = {c: (lo[i], hi[i]) for i, c in enumerate(CHANNELS)}
    plan = mmmjax.optimize_budget(fit, B, bounds=bounds, periods=N, schedule=kind, max_iter=80)
    X = plan.schedule.to_numpy()
    assert X.shape == (N, 4) and list(plan.schedule.columns) == CHANNELS
    assert abs(X.sum() - B) <= 1e-6 * B
    margin = 1e-9 * B
    if kind == "free":  # every period's spend inside the channel's bounds
        assert np.all(X >= lo - margin) and np.all(X <= hi + margin)
    else:  # the same spend every period, inside the bounds
        np.testing.assert_allclose(X, np.broadcast_to(X[0], X.shape), rtol=1e-12)
        assert np.all(X[0] >= lo - margin) and np.all(X[0] <= hi + margin)
    np.testing.assert_allclose(plan.allocation.to_numpy(), X.sum(0), rtol=1e-12)
    assert np.all(plan.allocation >= plan.lower - N * margin)
    assert np.all(plan.allocation <= plan.upper + N * margin)
    assert plan.total_budget == B and plan.periods == N


def test_fixed_channels_are_fixed_every_period(fit):
    B = _budget(fit)
    plan = mmmjax.optimize_budget(fit, B, fixed={"radio": 500.0}, periods=N, schedule="free")
    np.testing.assert_allclose(plan.schedule["radio"], 500.0, rtol=1e-12)
    assert abs(plan.schedule.to_numpy().sum() - B) <= 1e-6 * B


# ----------------------------------------------------------------------------------------------
# what the response is
# ----------------------------------------------------------------------------------------------
def test_the_flat_schedule_is_the_horizon_plan_over_n_periods(fit):
    B = _budget(fit)
    plan = mmmjax.optimize_budget(fit, B, periods=N)
    h = mmmjax.optimize_budget(fit, B / N, horizon=N, tail=plan.tail)
    np.testing.assert_allclose(plan.allocation, N * h.allocation, rtol=1e-9)
    np.testing.assert_allclose(plan.schedule.to_numpy(), np.tile(h.allocation, (N, 1)), rtol=1e-9)
    assert plan.expected_response == pytest.approx(N * h.expected_response, rel=1e-5)
    np.testing.assert_allclose(plan.response_interval, np.multiply(N, h.response_interval),
                               rtol=1e-5)  # fmt: skip
    np.testing.assert_allclose(plan.marginal_roi, h.marginal_roi, rtol=1e-4)
    assert list(plan.schedule.index) == list(fit.dataset.future_dates(N))


@pytest.mark.parametrize("burst", [1.0, 5.0])
def test_a_schedule_response_is_its_series_with_the_carry_in_in_the_baseline(burst):
    """Against float64 by hand from the whole history; the carry-in of a recent burst of tv
    spend saturates the plan's tv response (not credited to the plan, but it is there)."""
    f = small_fit(burst=burst)
    X = LEVELS * np.random.default_rng(3).uniform(0.0, 2.0, (N, 4))
    X[4, 1] = 0.0
    what = mmmjax.evaluate_budget(f, pd.DataFrame(X, columns=CHANNELS), tail=TAIL)
    ref = _by_hand(f, X, TAIL)
    assert what.expected_response == pytest.approx(ref.sum(1).mean(), rel=2e-5)
    np.testing.assert_allclose(what.channel_response, ref.mean(0), rtol=2e-5)
    lo, hi = np.quantile(ref.sum(1), [0.03, 0.97])
    np.testing.assert_allclose(what.response_interval, (lo, hi), rtol=1e-4)
    # without the carry-in the same schedule would be credited more (the test can fail)
    fresh = _by_hand(f, X, TAIL, carry_in=False).mean(0)
    assert np.all(fresh > 1.01 * ref.mean(0))
    if burst > 1:
        assert fresh[0] > 1.05 * ref.mean(0)[0]


def test_a_plan_is_its_series_by_hand(burst_fit):
    plan = mmmjax.optimize_budget(burst_fit, _budget(burst_fit), periods=N, schedule="free",
                                  tail=TAIL)  # fmt: skip
    ref = _by_hand(burst_fit, plan.schedule.to_numpy(), TAIL)
    assert plan.expected_response == pytest.approx(ref.sum(1).mean(), rel=2e-5)


def test_the_multiplicative_baseline_forecast_in_closed_form():
    """No trend or controls: log baseline = intercept + season . fourier(t), so the weight is
    exp(season . f(t)) over its mean over the data window; additive models weigh 1."""
    f = small_fit(form="multiplicative", season=1)
    w = sch.baseline_weight(f, 30)
    season = np.asarray(f.draws()["season"], np.float64)  # (S, 2)
    ppy = f.dataset.periods_per_year
    ahead = np.exp(season @ fourier_terms(np.arange(T, T + 30), ppy, 1).T)
    window = np.exp(season @ fourier_terms(np.arange(T), ppy, 1).T).mean(1, keepdims=True)
    np.testing.assert_allclose(w, ahead / window, rtol=2e-5)
    assert w.std() > 0.1  # a seasonal baseline: the test can fail
    np.testing.assert_array_equal(sch.baseline_weight(small_fit(), 30), 1.0)


# ----------------------------------------------------------------------------------------------
# free flighting
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [0.5, 1.0, 2.0])
def test_free_flighting_is_never_below_flat(fit, scale):
    B = scale * _budget(fit)
    flat = mmmjax.optimize_budget(fit, B, periods=N)
    free = mmmjax.optimize_budget(fit, B, periods=N, schedule="free")
    assert free.converged and free.mroi_spread < 1e-3
    assert free.expected_response >= flat.expected_response * (1 - 1e-6)
    assert free.objective_value == pytest.approx(free.expected_response, rel=1e-5)


def test_free_flighting_waits_out_a_carry_in(fit, burst_fit):
    """After a burst of tv spend the first weeks are already saturated: free flighting spends
    less tv there than later; without the burst it does not."""
    B = _budget(fit)
    calm = mmmjax.optimize_budget(fit, B, periods=N, schedule="free").schedule["tv"]
    after = mmmjax.optimize_budget(burst_fit, B, periods=N, schedule="free").schedule["tv"]
    assert after.iloc[0] < 0.5 * after.iloc[6]
    assert calm.iloc[0] > 0.8 * calm.iloc[6]


def test_free_flighting_follows_a_multiplicative_baseline():
    """A seasonal multiplicative baseline makes the same spend worth more in some weeks: free
    flighting spends more there (weeks 2..N-1: the first and last carry edge effects)."""
    f = small_fit(form="multiplicative", season=1)
    B = _budget(f)
    flat = mmmjax.optimize_budget(f, B, periods=N)
    free = mmmjax.optimize_budget(f, B, periods=N, schedule="free")
    assert free.converged
    assert free.expected_response > flat.expected_response * 1.002
    w = sch.baseline_weight(f, N).mean(0)[1:-1]
    X = free.schedule.to_numpy()[1:-1]
    for c in range(4):
        assert np.corrcoef(X[:, c], w)[0, 1] > 0.5, CHANNELS[c]


# ----------------------------------------------------------------------------------------------
# shapes, what-ifs, outputs
# ----------------------------------------------------------------------------------------------
def test_a_given_shape_is_kept_and_bounds_are_on_the_average(fit):
    shape = [2.0, 2.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    B = _budget(fit)
    plan = mmmjax.optimize_budget(fit, B, bounds={"tv": (2000.0, 4000.0)}, periods=N,
                                  schedule={"tv": shape})  # fmt: skip
    tv = plan.schedule["tv"].to_numpy()
    np.testing.assert_allclose(tv / tv.mean(), np.array(shape) / np.mean(shape), rtol=1e-9)
    assert 2000.0 - 1e-6 <= tv.mean() <= 4000.0 + 1e-6
    others = plan.schedule[CHANNELS[1:]].to_numpy()
    np.testing.assert_allclose(others, np.broadcast_to(others[0], others.shape), rtol=1e-12)
    frame = pd.DataFrame({"tv": shape})
    again = mmmjax.optimize_budget(fit, B, bounds={"tv": (2000.0, 4000.0)}, periods=N,
                                   schedule=frame)  # fmt: skip
    pd.testing.assert_frame_equal(again.schedule, plan.schedule)


@pytest.mark.parametrize("kind", ["flat", "free", "shape"])
def test_an_optimal_schedule_evaluated_again_is_that_plan(fit, kind):
    schedule = {"search": np.linspace(1.0, 2.0, N)} if kind == "shape" else kind
    plan = mmmjax.optimize_budget(fit, _budget(fit), periods=N, schedule=schedule)
    again = mmmjax.evaluate_budget(fit, plan.schedule)
    assert again.periods == N and again.tail == plan.tail
    assert again.total_budget == pytest.approx(plan.total_budget, rel=1e-12)
    assert again.expected_response == pytest.approx(plan.expected_response, rel=1e-6)
    np.testing.assert_allclose(again.response_interval, plan.response_interval, rtol=1e-6)
    np.testing.assert_allclose(again.channel_response, plan.channel_response, rtol=1e-6)
    np.testing.assert_allclose(again.marginal_roi, plan.marginal_roi, rtol=1e-6)
    pd.testing.assert_frame_equal(again.schedule, plan.schedule)


def test_a_what_if_schedule_against_the_current_mix_spread_flat(fit):
    X = np.tile(LEVELS, (N, 1))
    X[:6, 0] *= 2.0
    what = mmmjax.evaluate_budget(fit, pd.DataFrame(X, columns=CHANNELS))
    B = X.sum()
    mix = current_split(fit)
    flat = mmmjax.evaluate_budget(fit, pd.DataFrame(np.tile(B * mix / mix.sum() / N, (N, 1)),
                                                    columns=CHANNELS))  # fmt: skip
    np.testing.assert_allclose(what.current_allocation, B * mix / mix.sum(), rtol=1e-12)
    assert what.current_response == pytest.approx(flat.expected_response, rel=1e-9)
    assert what.uplift == pytest.approx(what.expected_response - what.current_response, rel=1e-6)
    assert what.roi == pytest.approx(what.expected_response / B, rel=1e-9)
    r, _ = sch.schedule_draws(sch.schedule_model(fit, N), X)
    np.testing.assert_allclose(what.channel_roi["mean"], (r / X.sum(0)).mean(0), rtol=1e-6)
    # marginal ROI: one more unit spread over the channel's schedule, by finite differences
    eps = 1e-3 * X.sum(0)
    r2, _ = sch.schedule_draws(sch.schedule_model(fit, N), X * (1 + eps / X.sum(0)))
    np.testing.assert_allclose(what.marginal_roi, ((r2 - r) / eps).mean(0), rtol=2e-2)


def test_plan_outputs_with_a_schedule(fit):
    plan = mmmjax.optimize_budget(fit, _budget(fit), periods=N, schedule="free")
    d = json.loads(json.dumps(plan.to_dict()))
    assert d["periods"] == N and len(d["schedule"]) == N
    first = plan.schedule.index[0].date().isoformat()
    assert d["schedule"][first] == pytest.approx(plan.schedule.iloc[0].to_dict())
    assert d["allocation"] == pytest.approx(plan.allocation.to_dict())
    assert list(plan.to_frame().index) == CHANNELS
    lo, hi = plan.response_interval
    assert lo < plan.expected_response < hi
    from matplotlib.figure import Figure

    assert isinstance(plan.plot(), Figure)
    assert set(plan.curves) == set(CHANNELS)


def test_a_second_plan_of_the_same_shape_compiles_nothing(fit):
    B = _budget(fit)
    mmmjax.optimize_budget(fit, B, periods=N, schedule="free")
    mmmjax.evaluate_budget(fit, pd.DataFrame(np.tile(LEVELS, (N, 1)), columns=CHANNELS))
    before = TRACE_COUNT["solve"]
    mmmjax.optimize_budget(fit, 0.7 * B, {"tv": (100.0, 3000.0)}, periods=N, schedule="free")
    mmmjax.optimize_budget(fit, 1.3 * B, periods=N)
    mmmjax.evaluate_budget(fit, pd.DataFrame(np.tile(LEVELS / 2, (N, 1)), columns=CHANNELS))
    assert TRACE_COUNT["solve"] == before


def test_a_real_fit_plans_thirteen_weeks(demo_fit):
    B = 13 * float(demo_fit.scales.spend.sum())
    flat = mmmjax.optimize_budget(demo_fit, B, periods=13)
    free = mmmjax.optimize_budget(demo_fit, B, periods=13, schedule="free")
    for plan in (flat, free):
        assert abs(plan.schedule.to_numpy().sum() - B) <= 1e-6 * B
        assert plan.schedule.to_numpy().min() >= 0 and plan.converged
    assert free.expected_response >= flat.expected_response * (1 - 1e-6)
    again = mmmjax.evaluate_budget(demo_fit, free.schedule)
    assert again.expected_response == pytest.approx(free.expected_response, rel=1e-6)


# ----------------------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"periods": 0}, "periods must be a whole number of periods >= 1"),
        ({"periods": 2.5}, "periods must be a whole number"),
        ({"periods": N, "horizon": 4}, "not both"),
        ({"schedule": "free"}, "schedule= needs periods=N"),
        ({"periods": N, "schedule": "free", "objective": "cvar"}, "objective='mean' only"),
        ({"periods": N, "schedule": "weekly"}, "schedule must be 'flat', 'free'"),
        ({"periods": N, "schedule": {"print": [1.0] * N}}, "unknown channel 'print'"),
        ({"periods": N, "schedule": {"tv": [1.0] * 5}}, "channel 'tv': 5 weights"),
        ({"periods": N, "schedule": {"tv": [0.0] * N}}, "channel 'tv'.*all 0"),
        ({"periods": N, "schedule": {"tv": [-1.0] + [1.0] * 12}}, "channel 'tv'.*>= 0"),
        ({"periods": N, "bounds": {"tv": (3000.0, None)}, "scale": 0.1}, "over 13 periods"),
    ],
)
def test_bad_plan_arguments_are_one_clear_error(fit, kwargs, match):
    kwargs = dict(kwargs)
    B = kwargs.pop("scale", 1.0) * _budget(fit)
    with pytest.raises(ValueError, match=match) as info:
        mmmjax.optimize_budget(fit, B, **kwargs)
    assert "\n" not in str(info.value)


def _frame(fit, **change):
    frame = pd.DataFrame(np.tile(LEVELS, (N, 1)), columns=CHANNELS,
                         index=fit.dataset.future_dates(N))  # fmt: skip
    for value in change.values():
        frame = value(frame)
    return frame


@pytest.mark.parametrize(
    "make, periods, match",
    [
        (lambda f: f.rename(columns={"tv": "print"}), None, "unknown channel 'print'"),
        (lambda f: f.drop(columns="radio"), None, "no column for channel 'radio'"),
        (lambda f: f.iloc[:0], None, "no periods"),
        (lambda f: f, 12, "13 rows .* periods=12"),
        (lambda f: f.set_axis(f.index + pd.Timedelta(days=7)), None, "row 1 is dated"),
        (lambda f: f.assign(search=[100.0] * 4 + [-5.0] + [100.0] * 8), None,
         r"channel 'search' on \d{4}-\d\d-\d\d \(period 5\)"),
        (lambda f: f.assign(tv=["x"] + [1.0] * 12), None, r"channel 'tv' on .* \(period 1\)"),
        (lambda f: f * 0.0, None, "total spend must be positive"),
    ],
)  # fmt: skip
def test_bad_schedules_are_one_data_error_naming_the_channel_and_date(fit, make, periods, match):
    with pytest.raises(mmmjax.DataError, match=match) as info:
        mmmjax.evaluate_budget(fit, _frame(fit, make=make), periods=periods)
    assert "\n" not in str(info.value)


def test_a_negative_cell_names_its_date(fit):
    frame = _frame(fit)
    frame.iloc[4, 1] = -5.0
    with pytest.raises(mmmjax.DataError, match=str(frame.index[4].date())):
        mmmjax.evaluate_budget(fit, frame)
