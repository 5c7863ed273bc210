"""optimize_budget and budget_frontier (mmmjax.optimize.budget): exact optimum in closed
form, global optimum on S-shaped curves, SLSQP agreement, frontier, objectives, planning horizon,
against a dense grid, honest convergence and no recompilation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

import mmmjax
from mmmjax.inference.fit import fit_from_draws
from mmmjax.insights import response_params, series_response, steady_state_response
from mmmjax.optimize.problem import resolve_bounds
from mmmjax.optimize.stages import TRACE_COUNT

CHANNELS = ["tv", "search", "social", "radio"]


def _dataset(C: int = 4, T: int = 60, seed: int = 0) -> mmmjax.Dataset:
    rng = np.random.default_rng(seed)
    levels = np.array([8000.0, 3000.0, 5000.0, 1500.0, 4000.0, 2500.0, 6000.0])[:C]
    df = pd.DataFrame(levels * rng.lognormal(0, 0.3, (T, C)), columns=CHANNELS[:C])
    df["week"] = pd.date_range("2022-01-02", periods=T, freq="W")
    df["sales"] = 50_000 + rng.normal(0, 500, T)
    return mmmjax.Dataset.from_frame(df, date="week", target="sales", channels=CHANNELS[:C])


def _fit(saturation: str, S: int, seed: int = 0, C: int = 4, **channel):
    """A Fit from known draws: no trend, no seasonality, no controls; channel sites ``(S, C)``."""
    ds = _dataset(C)
    spec = mmmjax.MMM(adstock="geometric", saturation=saturation, seasonality=0, trend="none")
    rng = np.random.default_rng(seed)
    draws = {"intercept": np.ones(S), "sigma": np.full(S, 0.05)}
    draws["media_roi"] = np.array([2.0, 3.0, 1.5, 4.0])[:C] * rng.lognormal(0, 0.3, (S, C))
    draws["alpha"] = rng.uniform(0.2, 0.6, (S, C))
    if saturation == "hill":
        k = np.array([1.0, 0.8, 1.5, 0.6])[:C]
        draws["half_saturation"] = k * rng.lognormal(0, 0.2, (S, C))
        draws["slope"] = np.array([1.0, 1.4, 0.8, 1.2])[:C] * rng.lognormal(0, 0.1, (S, C))
    draws.update({k: np.broadcast_to(np.asarray(v, float), (S, C)) for k, v in channel.items()})
    return fit_from_draws(spec, ds, draws)


@pytest.fixture(scope="module")
def hill_fit():
    return _fit("hill", S=200)


def test_exact_optimum_michaelis_menten_one_draw():
    """R_c(s) = a_c s / (s + k_c): equal marginal returns a_c k_c / (s + k_c)^2 = lambda give
    s_c = sqrt(a_c k_c) (B + sum k) / sum sqrt(a k) - k_c."""
    roi, h = np.array([2.0, 3.0, 1.5, 4.0]), np.array([1.0, 0.5, 2.0, 0.7])
    fit = _fit("michaelis_menten", S=1, media_roi=roi[None], half_saturation=h[None])
    m = fit.scales.spend
    k = h * m  # money
    at_mean = mmmjax.response_curves(fit, m[None, :])[0, 0]  # R(m) = a m / (m + k)
    a = at_mean * (m + k) / m  # money
    B = 1.1 * m.sum()
    expected = np.sqrt(a * k) * (B + k.sum()) / np.sqrt(a * k).sum() - k
    assert np.all(expected > 0)
    plan = mmmjax.optimize_budget(fit, B)
    np.testing.assert_allclose(plan.allocation.to_numpy(), expected, rtol=2e-4, atol=1e-3 * B)
    np.testing.assert_allclose(plan.expected_response, (a * expected / (expected + k)).sum(),
                               rtol=1e-5)  # fmt: skip
    assert plan.converged and plan.mroi_spread < 1e-3
    assert plan.allocation.sum() == pytest.approx(B, rel=1e-12)


def test_matches_slsqp_on_posterior_mean(hill_fit):
    spec, params = hill_fit.spec, response_params(hill_fit)
    current = hill_fit.scales.spend
    C = len(current)

    @jax.jit
    def neg(x):
        return jax.value_and_grad(lambda x: -steady_state_response(spec, params, x).sum(-1).mean())(
            x
        )

    def fun(x):
        v, g = neg(jnp.asarray(x, jnp.float32))
        return float(v), np.asarray(g, np.float64)

    for B, bounds in ((current.sum(), None), (1.3 * current.sum(), {"tv": (None, 6000.0)})):
        lo, hi = resolve_bounds(CHANNELS, current, bounds, None)
        box = [(lo_, min(hi_, B)) for lo_, hi_ in zip(lo, hi, strict=True)]
        x0 = np.clip(current * B / current.sum(), lo, np.minimum(hi, B))
        ref = minimize(fun, x0, jac=True, method="SLSQP", bounds=box,
                       constraints={"type": "eq", "fun": lambda x, B=B: x.sum() - B,
                                    "jac": lambda x: np.ones(C)},
                       options={"ftol": 1e-10, "maxiter": 500})  # fmt: skip
        plan = mmmjax.optimize_budget(hill_fit, B, bounds)
        ours = -fun(plan.allocation.to_numpy())[0]
        assert ours >= -ref.fun * (1 - 1e-3), (ours, -ref.fun)
        assert plan.objective_value == pytest.approx(ours, rel=1e-5)


def test_global_optimum_on_s_shaped_curves():
    """Hill curves with slope 3 (S-shaped): at most budgets some channels are best left off.
    Against a dynamic programme on exact curves over a grid of budget/400 steps (a feasible
    allocation, so the continuous optimum is at least as good)."""
    roi, h = np.array([2.0, 3.0, 1.5, 4.0]), np.array([1.0, 1.5, 2.0, 2.5])
    fit = _fit(
        "hill", S=1, media_roi=roi[None], half_saturation=h[None], slope=np.full((1, 4), 3.0)
    )
    spec, params = fit.spec, response_params(fit)
    budgets = fit.scales.spend.sum() * np.array([0.5, 0.8, 1.5])
    frontier = mmmjax.budget_frontier(fit, budgets)
    n = 400
    for B, (_, row) in zip(budgets, frontier.iterrows(), strict=True):
        x = np.arange(n + 1) * B / n
        v = np.asarray(steady_state_response(spec, params, np.repeat(x[:, None], 4, 1)))[0]
        best, b, i = v[:, 0], np.arange(n + 1)[:, None], np.arange(n + 1)[None, :]
        for k in range(1, 4):
            best = np.where(i <= b, best[np.maximum(b - i, 0)] + v[None, :, k], -np.inf).max(1)
        assert row["expected_response"] >= best[n] * (1 - 1e-6), (B, row["expected_response"])
        assert (row[CHANNELS] < 1e-6 * B).sum() >= 1 and row["converged"]


def test_frontier_matches_single_calls(hill_fit):
    budgets = hill_fit.scales.spend.sum() * np.array([0.6, 1.0, 1.7])
    bounds = {"search": (1000.0, None)}
    frontier = mmmjax.budget_frontier(hill_fit, budgets, bounds)
    assert list(frontier.index) == list(budgets) and frontier["converged"].all()
    for B in budgets:
        plan = mmmjax.optimize_budget(hill_fit, B, bounds)
        row = frontier.loc[B]
        np.testing.assert_allclose(row[CHANNELS].to_numpy(float), plan.allocation.to_numpy(),
                                   atol=1e-3 * B)  # fmt: skip
        assert row["expected_response"] == pytest.approx(plan.expected_response, rel=1e-4)
    # the Lagrange multiplier is the slope of the frontier
    fine = mmmjax.budget_frontier(hill_fit, budgets[1] * np.array([0.99, 1.0, 1.01]))
    slope = np.diff(fine["objective_value"].to_numpy()[[0, 2]])[0] / (0.02 * budgets[1])
    assert fine["marginal_return"].iloc[1] == pytest.approx(slope, rel=2e-2)
    assert np.all(np.diff(frontier["expected_response"]) > 0)


def test_objectives_behave(hill_fit):
    B = hill_fit.scales.spend.sum()
    mean = mmmjax.optimize_budget(hill_fit, B)
    zero_risk = mmmjax.optimize_budget(hill_fit, B, objective="mean_minus_std", risk=0.0)
    np.testing.assert_allclose(zero_risk.allocation, mean.allocation, atol=1e-4 * B)
    assert zero_risk.objective_value == pytest.approx(mean.objective_value, rel=1e-5)
    cvar = mmmjax.optimize_budget(hill_fit, B, objective="cvar", cvar_level=0.1)
    assert cvar.objective_value <= cvar.expected_response
    assert cvar.objective_value <= mean.objective_value
    assert cvar.expected_response <= mean.expected_response * (1 + 1e-6)
    risky = mmmjax.optimize_budget(hill_fit, B, objective="mean_minus_std", risk=2.0)
    assert risky.converged and risky.objective_value < mean.objective_value
    assert risky.expected_response <= mean.expected_response * (1 + 1e-6)


def test_horizon_counts_carryover(hill_fit):
    B = hill_fit.scales.spend.sum()
    short = mmmjax.optimize_budget(hill_fit, B, horizon=4, tail=0)
    long = mmmjax.optimize_budget(hill_fit, B, horizon=4, tail=12)
    assert short.allocation.sum() == pytest.approx(B) and long.converged
    assert long.expected_response > short.expected_response
    steady = mmmjax.optimize_budget(hill_fit, B)
    far = mmmjax.optimize_budget(hill_fit, B, horizon=100, tail=12)  # ramp-up is a small part
    assert far.expected_response == pytest.approx(steady.expected_response, rel=0.05)
    np.testing.assert_allclose(far.allocation, steady.allocation, atol=0.03 * B)


def test_no_recompilation_on_same_shapes(hill_fit):
    B = hill_fit.scales.spend.sum()
    mmmjax.optimize_budget(hill_fit, B)
    before = TRACE_COUNT["solve"]
    mmmjax.optimize_budget(hill_fit, 0.7 * B, {"tv": (100.0, 3000.0)}, max_iter=50, tol=1e-5)
    mmmjax.optimize_budget(hill_fit, 1.9 * B, fixed={"radio": 10.0})
    assert TRACE_COUNT["solve"] == before
    budgets = np.linspace(0.5, 1.5, 5) * B
    mmmjax.budget_frontier(hill_fit, budgets)
    after = TRACE_COUNT["solve"]
    mmmjax.budget_frontier(hill_fit, budgets * 1.1, {"tv": (0.0, 5000.0)})
    assert TRACE_COUNT["solve"] == after


TAIL = 60  # long enough that fast-decaying carryover reaches float32's underflow range


def fast_decay():
    """3 channels whose carryover decays fast, slowly and in between (alpha 0.01-0.9), Hill
    slopes 0.6-2: over a long tail the adstocked levels fall to 1e-30 and below."""
    S, rng = 100, np.random.default_rng(3)
    alpha = np.stack([rng.uniform(0.01, 0.08, S), rng.uniform(0.3, 0.6, S),
                      rng.uniform(0.7, 0.9, S)], -1)  # fmt: skip
    slope = np.array([0.7, 1.8, 1.1]) * rng.lognormal(0, 0.15, (S, 3))
    return _fit("hill", S=S, seed=3, C=3, alpha=alpha, slope=slope)


@pytest.fixture(scope="module")
def fast_decay_fit():
    return fast_decay()


def _channel_curves(fit, levels: np.ndarray, horizon: int | None, tail: int) -> np.ndarray:
    """``(S, G, C)`` each channel's response at ``levels (G,)`` money per period, computed
    independently of the optimizer: steady state, or over ``[recent spend, level x horizon,
    0 x tail]`` minus the same without the plan, per plan period (no level floor)."""
    spec, params = fit.spec, response_params(fit)
    C = len(fit.channels)
    x = np.repeat(levels[:, None], C, 1).astype(np.float32)
    if horizon is None:
        return np.asarray(steady_state_response(spec, params, x), np.float64)
    history = np.asarray(fit.dataset.spend, np.float32)[-max(tail, 1) :]
    L = len(history)
    plan = np.concatenate([np.broadcast_to(history, (len(x), L, C)),
                           np.broadcast_to(x[:, None], (len(x), horizon, C)),
                           np.zeros((len(x), tail, C), np.float32)], 1)  # fmt: skip
    series = np.asarray(series_response(spec, params, plan), np.float64)  # (S, G, T, C)
    window = series[:, :, L:].sum(2)
    base = np.asarray(series_response(spec, params, plan[:1] * (np.arange(plan.shape[1]) < L)[
        :, None]), np.float64)[:, 0, L:].sum(1)  # fmt: skip
    return (window - base[:, None]) / horizon


def _grid_optimum(fit, B, objective, horizon=None, tail=TAIL, n=120, cvar_level=0.1, risk=1.0):
    """The best objective over every split of ``B`` into 3 channels in steps of ``B / n``."""
    r = _channel_curves(fit, np.arange(n + 1) * B / n, horizon, tail)
    i, j = np.triu_indices(n + 1)  # i <= j: channel 0 gets i steps, channel 1 j - i, 2 the rest
    t = r[:, i, 0] + r[:, j - i, 1] + r[:, n - j, 2]  # (S, P) per-draw totals
    if objective == "mean":
        v = t.mean(0)
    elif objective == "mean_minus_std":
        v = t.mean(0) - risk * t.std(0)
    else:
        k = max(1, int(np.ceil(cvar_level * t.shape[0] - 1e-9)))
        v = np.sort(t, 0)[:k].mean(0)
    return float(v.max())


@pytest.mark.parametrize("objective", ["mean", "mean_minus_std", "cvar"])
@pytest.mark.parametrize("horizon", [None, 8])
def test_optimum_beats_a_dense_grid(fast_decay_fit, objective, horizon):
    """Every split on a grid of B/120 steps is feasible, so the optimum is at least as good;
    ``converged`` may only be claimed there. "mean" is solved globally (dynamic programme on
    the tabulated curves); the other objectives are not separable and are solved from three
    starts (with two, one stopped at a local KKT point where an S-shaped channel is off, 2.4e-5
    below a split that spends 1/120 of the budget on it; the issue's cvar defect was 1.6%)."""
    rtol = 2e-5
    spend = fast_decay_fit.scales.spend.sum()
    for B in (0.3 * spend, spend, 2.5 * spend):
        plan = mmmjax.optimize_budget(fast_decay_fit, B, objective=objective, horizon=horizon,
                                      tail=TAIL if horizon else None)  # fmt: skip
        best = _grid_optimum(fast_decay_fit, B, objective, horizon)
        assert plan.objective_value >= best - rtol * abs(best), (B, plan.objective_value, best)
        assert plan.allocation.sum() == pytest.approx(B, rel=1e-9)
        assert np.all(plan.allocation >= 0)
        if objective != "cvar":
            assert plan.converged, (B, plan.iterations)


def test_frontier_with_horizon_beats_a_dense_grid(fast_decay_fit):
    budgets = fast_decay_fit.scales.spend.sum() * np.array([0.4, 1.0, 1.8])
    frontier = mmmjax.budget_frontier(fast_decay_fit, budgets, horizon=6, tail=TAIL)
    assert frontier["converged"].all()
    for B in budgets:
        best = _grid_optimum(fast_decay_fit, B, "mean", 6)
        assert frontier.loc[B, "objective_value"] >= best - 2e-5 * abs(best), B
        assert frontier.loc[B, fast_decay_fit.channels].sum() == pytest.approx(B, rel=1e-9)


def test_cvar_sweep_converges_honestly(fast_decay_fit):
    """CVaR over budgets from 0.1x to 3x current spend: never below a dense grid (the issue's
    defect: converged 1.6% below; 2302a31 still claimed it 14.6% below at 0.1x, a local optimum
    with every S-shaped channel off), and ``converged`` only with a certified optimality gap on
    the exact CVaR (smoothed weights' slack + Frank-Wolfe gap), checked here independently."""
    spend = fast_decay_fit.scales.spend.sum()
    budgets = np.linspace(0.1, 3.0, 22) * spend
    frontier = mmmjax.budget_frontier(fast_decay_fit, budgets, objective="cvar")
    assert frontier["converged"].mean() >= 0.5
    S, k = 100, 10
    for B in budgets:
        row = frontier.loc[B]
        best = _grid_optimum(fast_decay_fit, B, "cvar")
        assert row["objective_value"] >= best - 2e-5 * abs(best), (B, row["objective_value"], best)
        x = row[fast_decay_fit.channels].to_numpy(float)
        assert x.sum() == pytest.approx(B, rel=1e-9)
        # the reported value is the exact CVaR of the reported split
        t = _channel_curves(fast_decay_fit, x, None, 0)  # (S, C, C): channel c at x_c
        totals = np.einsum("scc->s", t)
        assert row["objective_value"] == pytest.approx(np.sort(totals)[:k].mean(), rel=1e-5)
    assert S == len(totals)
