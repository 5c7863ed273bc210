"""One call's problem (mmmjax.optimize.problem): bounds, budget and input checks, exact
feasibility for any feasible input, fixed channels, batch buckets; the command line's bounds
parser (mmmjax.cli.parse_bounds)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_optimize_budget import CHANNELS, _fit

import mmmjax
from mmmjax.cli import parse_bounds
from mmmjax.optimize.problem import bucket
from mmmjax.optimize.stages import TRACE_COUNT


@pytest.fixture(scope="module")
def hill_fit():
    return _fit("hill", S=200)


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_constraints_hold_for_any_feasible_input(hill_fit, data):
    current = hill_fit.scales.spend
    bounds, lo, hi = {}, np.zeros(4), np.full(4, np.inf)
    for i, name in enumerate(CHANNELS):
        kind = data.draw(st.sampled_from(["none", "money", "relative"]))
        if kind == "none":
            continue
        a = data.draw(st.floats(0.0, 1.5))
        b = a + data.draw(st.floats(0.0, 1.5))
        if kind == "money":
            lo[i], hi[i] = a * current[i], b * current[i]
            bounds[name] = (lo[i], hi[i])
        else:
            bounds[name] = (f"{a}x", f"{b}x")
            lo[i], hi[i] = a * current[i], b * current[i]
    top = min(np.sum(hi), 3 * current.sum())
    if top <= lo.sum() or top <= 0:
        return
    B = lo.sum() + data.draw(st.floats(0.01, 1.0)) * (top - lo.sum())
    plan = mmmjax.optimize_budget(hill_fit, B, bounds, max_iter=100)
    x = plan.allocation.to_numpy()
    assert abs(x.sum() - B) <= 1e-4 * B
    assert np.all(x >= lo - 1e-6 * B) and np.all(x <= hi + 1e-6 * B)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"total_budget": -5.0}, "total_budget must be a positive number per period, got -5"),
        ({"total_budget": 0.0}, "positive"),
        ({"bounds": {"print": (0, 10)}}, "unknown channel 'print'"),
        ({"bounds": {"tv": (500.0, 100.0)}}, "channel 'tv': low 500 is above high 100"),
        ({"bounds": {"tv": (-1.0, 100.0)}}, "channel 'tv'"),
        ({"bounds": {"tv": ("abc", 100.0)}}, "channel 'tv'"),
        ({"bounds": {"tv": 5}}, "channel 'tv' must be"),
        ({"bounds": {"tv": (1e9, None)}}, "lower bounds sum to 1e\\+09, over the total_budget"),
        ({"bounds": {c: (0, 1.0) for c in CHANNELS}}, "upper bounds sum to 4, below"),
        ({"fixed": {"radio": 1e9}}, "fixed spend sums to 1e\\+09, over the total_budget"),
        ({"fixed": {"print": 1.0}}, "unknown channel 'print'"),
        ({"objective": "median"}, "objective must be one of"),
    ],
)
def test_infeasible_input_is_refused(hill_fit, kwargs, match):
    args = {"total_budget": 20_000.0, **kwargs}
    with pytest.raises(ValueError, match=match) as info:
        mmmjax.optimize_budget(hill_fit, **args)
    assert "\n" not in str(info.value)


def test_fixed_channels_and_parse_bounds(hill_fit):
    current = hill_fit.scales.spend
    plan = mmmjax.optimize_budget(hill_fit, current.sum(), fixed={"radio": "1x", "tv": 2000})
    assert plan.allocation["radio"] == pytest.approx(current[3])
    assert plan.allocation["tv"] == pytest.approx(2000.0)
    parsed = parse_bounds(["tv=100:5000", "search=0.5x:1.5x", "radio=:2000"], CHANNELS, current)
    assert parsed == {
        "tv": (100.0, 5000.0),
        "search": (pytest.approx(0.5 * current[1]), pytest.approx(1.5 * current[1])),
        "radio": (0.0, 2000.0),
    }
    for bad, match in (("tv", "expected CHANNEL=LOW:HIGH"), ("ooh=1:2", "unknown channel 'ooh'"),
                       ("tv=9:1", "channel 'tv': low 9 is above high 1"),
                       ("tv=a:1", "channel 'tv'")):  # fmt: skip
        with pytest.raises(ValueError, match=match):
            parse_bounds([bad], CHANNELS, current)


def test_new_batch_sizes_reuse_compiled_programs(hill_fit):
    """Budgets are padded to a bucket (powers of two up to 8, then multiples of 8): a 13-budget
    frontier after a 12-budget one traces nothing, and the padding changes no row."""
    assert [bucket(n) for n in (1, 2, 3, 5, 8, 9, 12, 13, 16, 17, 100)] == [
        1, 2, 4, 8, 8, 16, 16, 16, 16, 24, 104]  # fmt: skip
    B = hill_fit.scales.spend.sum()
    twelve = mmmjax.budget_frontier(hill_fit, np.linspace(0.5, 1.5, 12) * B)
    before = TRACE_COUNT["solve"]
    thirteen = mmmjax.budget_frontier(hill_fit, np.linspace(0.5, 1.5, 13) * B)
    assert TRACE_COUNT["solve"] == before and len(thirteen) == 13
    for b in (twelve.index[0], twelve.index[-1]):  # both grids share their end points
        got, want = (f.loc[b, CHANNELS].to_numpy(float) for f in (thirteen, twelve))
        np.testing.assert_allclose(got, want, atol=1e-4 * b)
