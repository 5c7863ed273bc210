"""Budget for a target (mmmjax.optimize.target and optimize_budget(target_roi=, target_mroi=)):
the search on curves with a closed-form answer, the marginal return at bounds, input errors, and
plans that meet the target while a slightly larger budget does not."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_optimize_budget import _fit

import mmmjax
from mmmjax.optimize import target as tg


@pytest.fixture(scope="module")
def hill_fit():
    return _fit("hill", S=200)


def _sqrt_curve(scale: float = 10.0):
    """``V(B) = scale sqrt(B)``: ROI ``scale / sqrt(B)``, marginal ``scale / (2 sqrt(B))``."""
    calls = []

    def evaluate(b):
        b = np.asarray(b, float)
        calls.append(len(b))
        return scale * np.sqrt(b), scale / (2 * np.sqrt(b))

    return evaluate, calls


@pytest.mark.parametrize(
    "kind, target, expected",
    [("target_roi", 2.0, 25.0), ("target_roi", 0.5, 400.0), ("target_mroi", 1.0, 25.0),
     ("target_mroi", 0.25, 400.0)],
)  # fmt: skip
def test_find_budget_hits_the_closed_form(kind, target, expected):
    evaluate, calls = _sqrt_curve()
    found = tg.find_budget(evaluate, kind, target, 1.0, 1e4, capped=False)
    assert not found.at_cap
    assert found.value >= target
    low, high = found.bracket
    assert low <= expected <= high * (1 + 1e-12)
    assert abs(found.budget - expected) <= 1e-5 * expected
    # every batch is one call of at most BATCH budgets; the count is what the search reports
    assert max(calls) <= tg.BATCH and sum(calls) == found.evaluations
    assert found.evaluations <= tg.GRID_POINTS + tg.MAX_ROUNDS * tg.BATCH


def test_find_budget_on_an_s_curve_takes_the_largest_budget_meeting_the_target():
    # ROI rises then falls: met on an interval [b1, b2]; the answer is b2, not b1
    def evaluate(b):
        b = np.asarray(b, float)
        v = b**2 / (b + 50.0) ** 1.5 * 40.0
        return v, v / b

    found = tg.find_budget(evaluate, "target_roi", 1.0, 1.0, 1e4, capped=False)
    b = np.geomspace(1.0, 1e4, 200_001)
    roi = b / (b + 50.0) ** 1.5 * 40.0
    expected = b[roi >= 1.0].max()
    assert abs(found.budget - expected) <= 1e-4 * expected
    assert roi[b < 10].max() < 1.0  # small budgets do not meet it: the set is an interval


def test_find_budget_errors_and_cap():
    evaluate, _ = _sqrt_curve()
    with pytest.raises(ValueError, match=r"target_roi 50 is not reachable: the best expected ROI"):
        tg.find_budget(evaluate, "target_roi", 50.0, 1.0, 1e4, capped=False)
    with pytest.raises(ValueError, match=r"still holds at a budget of 10,000 per period"):
        tg.find_budget(evaluate, "target_roi", 0.01, 1.0, 1e4, capped=False)
    found = tg.find_budget(evaluate, "target_roi", 0.01, 1.0, 1e4, capped=True)
    assert found.at_cap and found.budget == 1e4 and found.value == pytest.approx(0.1)
    with pytest.raises(ValueError, match="kind must be one of"):
        tg.find_budget(evaluate, "roas", 1.0, 1.0, 1e4, capped=False)


def test_marginal_return_at_and_inside_bounds():
    lo, hi = np.zeros(3), np.array([5.0, 5.0, 5.0])
    g = np.array([[0.9, 0.5, 0.7]])
    # two inside at 0.6 and 0.8 marginal return: their mean; the one at zero does not count
    x = np.array([[2.0, 0.0, 2.0]])
    g_in = np.array([[0.6, 0.3, 0.8]])
    assert tg.marginal_return(x, g_in, lo, hi, np.array([4.0]))[0] == pytest.approx(0.7)
    # all at bounds, budget 5 = one full channel, two at zero: the next unit's best return
    x = np.array([[5.0, 0.0, 0.0]])
    assert tg.marginal_return(x, g, lo, hi, np.array([5.0]))[0] == pytest.approx(0.7)
    # every channel at its cap: the last unit's worst return
    x = np.array([[5.0, 5.0, 5.0]])
    assert tg.marginal_return(x, g, lo, hi, np.array([15.0]))[0] == pytest.approx(0.5)


@pytest.mark.parametrize(
    "args, match",
    [((None, None, None), r"exactly one .* \(got none\)"),
     ((1000.0, 2.0, None), r"got total_budget and target_roi"),
     ((None, -1.0, None), "target_roi must be a positive number"),
     ((None, None, "high"), "target_mroi must be a positive number"),
     ((None, float("nan"), None), "target_roi must be a positive number")],
)  # fmt: skip
def test_budget_source_refuses(args, match):
    with pytest.raises(ValueError, match=match):
        tg.budget_source(*args)


@pytest.mark.parametrize("kind", ["target_roi", "target_mroi"])
def test_plan_meets_the_target_and_a_larger_budget_does_not(hill_fit, kind):
    current = float(hill_fit.dataset.spend.mean(0).sum())
    reference = mmmjax.optimize_budget(hill_fit, current)
    roi_now = reference.expected_response / current
    frontier = mmmjax.budget_frontier(hill_fit, [current])
    # a target a little below today's value: the budget found is larger than today's
    target = 0.8 * (roi_now if kind == "target_roi" else frontier["marginal_return"].iloc[0])
    plan = mmmjax.optimize_budget(hill_fit, **{kind: target})
    assert plan.budget_from == kind and plan.target == target
    assert plan.total_budget > current
    assert plan.target_value >= target * (1 - 1e-5)
    assert abs(plan.allocation.sum() - plan.total_budget) <= 1e-4 * plan.total_budget
    # the rule's own metric, recomputed independently, one percent above the budget found
    above = plan.total_budget * 1.01
    if kind == "target_roi":
        value_above = mmmjax.optimize_budget(hill_fit, above).expected_response / above
        assert plan.expected_response / plan.total_budget == pytest.approx(plan.target_value)
    else:
        value_above = mmmjax.budget_frontier(hill_fit, [above])["marginal_return"].iloc[0]
    assert value_above < target
    d = plan.to_dict()
    assert d["budget_from"] == kind and d["target"] == target and not d["budget_at_cap"]
    json.dumps(d)


def test_target_roi_with_caps_returns_the_cap(hill_fit):
    means = hill_fit.dataset.spend.mean(0)
    caps = {c: (0, float(v)) for c, v in zip(hill_fit.dataset.channels, means, strict=True)}
    plan = mmmjax.optimize_budget(hill_fit, target_roi=1e-3, bounds=caps)
    assert plan.budget_at_cap
    assert plan.total_budget == pytest.approx(sum(hi for _, hi in caps.values()), rel=1e-6)


def test_target_errors_reach_the_user(hill_fit):
    with pytest.raises(ValueError, match="not reachable"):
        mmmjax.optimize_budget(hill_fit, target_roi=1e6)
    with pytest.raises(ValueError, match="give every channel an upper bound"):
        mmmjax.optimize_budget(hill_fit, target_mroi=1e-9)
    with pytest.raises(ValueError, match="exactly one"):
        mmmjax.optimize_budget(hill_fit, 1000.0, target_roi=2.0)


def test_targets_in_closed_form_on_michaelis_menten_one_draw():
    """``R_c(s) = a_c s / (s + k_c)``, one draw. Equal marginal returns ``lambda`` give
    ``s_c = sqrt(a_c k_c / lambda) - k_c``, so with ``K = sum k``, ``A = sum a`` and
    ``Q = (sum sqrt(a k))^2`` the optimum of budget ``B`` has ``lambda(B) = Q / (B + K)^2`` and
    ``V(B) = A - Q / (B + K)``. Hence ``target_mroi = m`` gives ``B = sqrt(Q / m) - K`` and
    ``target_roi = r`` the larger root of ``r B^2 + (r K - A) B + Q - A K = 0``."""
    roi, h = np.array([2.0, 3.0, 1.5, 4.0]), np.array([1.0, 0.5, 2.0, 0.7])
    fit = _fit("michaelis_menten", S=1, media_roi=roi[None], half_saturation=h[None])
    m = fit.scales.spend
    k = h * m
    a = mmmjax.response_curves(fit, m[None, :])[0, 0] * (m + k) / m
    K, A, Q = k.sum(), a.sum(), np.sqrt(a * k).sum() ** 2
    for B_true in (0.7 * m.sum(), 2.0 * m.sum()):
        lam = Q / (B_true + K) ** 2
        assert np.all(np.sqrt(a * k / lam) - k > 0)  # every channel inside: the formula holds
        plan = mmmjax.optimize_budget(fit, target_mroi=lam)
        assert plan.total_budget == pytest.approx(np.sqrt(Q / lam) - K, rel=1e-3)
        r = (A - Q / (B_true + K)) / B_true
        b, c = r * K - A, Q - A * K
        expected = (-b + np.sqrt(b * b - 4 * r * c)) / (2 * r)
        assert expected == pytest.approx(B_true, rel=1e-9)
        plan = mmmjax.optimize_budget(fit, target_roi=r)
        assert plan.total_budget == pytest.approx(expected, rel=1e-3)
        assert plan.target_value == pytest.approx(r, rel=1e-3) and plan.target_value >= r * (
            1 - 1e-5
        )
