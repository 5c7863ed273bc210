r"""The planning entry points: :func:`optimize_budget` (one budget, or the largest meeting an ROI
or marginal-ROI target, or a schedule of ``periods``) and :func:`budget_frontier` (many budgets
at once). Both go through :func:`solve_budgets` (check the inputs, find a target's budget,
solve every budget in one batched call); :func:`optimize_budget` builds the :class:`Plan` of
its one budget from that solve, :func:`budget_frontier` the table of all of them.

Example:
    >>> plan = mmmjax.optimize_budget(fit, 50_000, bounds={"tv": (5_000, 20_000)})
    >>> plan.allocation.round()            # money per period, sums to 50,000
    >>> plan.uplift, plan.uplift_interval  # vs the current split, per period
    >>> frontier = mmmjax.budget_frontier(fit, np.linspace(30_000, 80_000, 51))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from mmmjax.insights import INTERVAL
from mmmjax.optimize.plan import Plan, mroi_spread, summary
from mmmjax.optimize.problem import (
    Problem,
    bounds_by_name,
    check_budget,
    prepare,
    resolve_bounds,
)
from mmmjax.optimize.schedule import optimize_schedule
from mmmjax.optimize.solver import Solution
from mmmjax.optimize.target import (
    TargetBudget,
    budget_source,
    find_budget,
    marginal_return,
    search_range,
)

__all__ = ["Solved", "budget_frontier", "optimize_budget", "solve_budgets"]


def optimize_budget(
    fit,
    total_budget: float | None = None,
    bounds: Mapping[str, tuple[Any, Any]] | None = None,
    objective: str = "mean",
    *,
    target_roi: float | None = None,
    target_mroi: float | None = None,
    fixed: Mapping[str, Any] | None = None,
    risk: float = 1.0,
    cvar_level: float = 0.1,
    horizon: int | None = None,
    tail: int | None = None,
    max_iter: int = 200,
    tol: float = 1e-6,
    by: str = "national",
    periods: int | None = None,
    schedule: Any = "flat",
) -> Plan:
    r"""The split of ``total_budget`` across channels that maximises the modelled response, or
    the largest budget (and its split) that meets an ROI or marginal-ROI target.

    Maximises ``Phi(T(x))`` over ``{sum_c x_c = B, lo_c <= x_c <= hi_c}`` where ``T_s(x)`` is draw
    ``s``'s total response (see the module docstring for ``Phi``, the algorithm and the
    horizon response). The bounds and budget hold exactly at every iterate (projection); the
    start is the global optimum of the tabulated posterior-mean curves on a grid, and the result
    is polished on all posterior draws at once with optax (compiled ``lax.while_loop``s).
    At an interior optimum the objective's marginal returns are equal across channels
    (``Plan.mroi_spread`` near 0).

    Exactly one of ``total_budget``, ``target_roi`` and ``target_mroi`` sets ``B``. With a
    target, ``B`` is the largest budget in the search range whose optimal split meets it
    (:mod:`mmmjax.optimize.target`: a batched scan of 32 log-spaced budgets from the sum of the
    lower bounds, at least 0.1% of current total spend, to the sum of the upper bounds, or 100x
    current total spend where a channel has none; then batched bracketing to 1e-5 relative),
    and the plan is that budget's optimum; ``Plan.budget_from``, ``Plan.target`` and
    ``Plan.target_value`` say so.

    Args:
      fit: a :class:`~mmmjax.Fit` or a :class:`~mmmjax.GeoFit`.
      total_budget: ``B``, money per period (> 0).
      target_roi: ``r``: find the largest ``B`` whose optimal split keeps the expected total
        ROI, ``expected_response / B``, at or above ``r`` (money per money, > 0).
      target_mroi: ``m``: find the largest ``B`` whose next unit of money still returns at
        least ``m`` at the optimum (the marginal return ``dPhi/dB``, the objective's, which
        for ``"mean"`` is the expected response's; > 0).
      bounds: ``{channel: (low, high)}``, money per period; ``None`` for an open side; a string
        such as ``"0.5x"`` is a multiple of the channel's current spend. Unlisted channels:
        ``(0, B)``. With ``by="geo"`` on a geo fit keyed by cell: ``(geo, channel)`` or
        ``"geo/channel"``.
      objective: ``"mean"``, ``"mean_minus_std"`` or ``"cvar"``.
      fixed: ``{channel: spend}`` held fixed (money per period or ``"1x"``); keyed like
        ``bounds``.
      risk: weight of the posterior standard deviation for ``"mean_minus_std"``.
      cvar_level: fraction of worst draws averaged by ``"cvar"``.
      horizon: plan periods ``H``; ``None`` (default) optimises the steady-state response
        (the only choice for a geo fit).
      tail: periods after the plan whose carryover is counted (default: until the largest
        posterior geometric carryover is below 0.1%, or ``l_max`` for finite kernels).
      max_iter: iteration cap (per stage: on the tabulated curves, then over all draws).
      tol: converged when the undamped Newton step from the point reached (derivatives
        finite) would change no share of the budget by more than ``tol`` and the last accepted
        step changed the objective by at most ``tol`` relative.
      by: for a geo fit, ``"national"`` (default) splits the budget over channels, each
        channel's spend shared out over geos as in the data; ``"geo"`` splits it over the
        ``G * C`` geo x channel cells (``Plan.allocation`` indexed by ``(geo, channel)``). See
        :func:`~mmmjax.optimize.problem.budget_variables`. A national fit is one geo: both give the
        same plan.
      periods: ``N``, plan the ``N`` periods after the data period by period
        (:func:`mmmjax.optimize.schedule.optimize_schedule`): ``total_budget`` is then money over
        the ``N`` periods and ``Plan.schedule`` the spend per future date and channel; the response
        counts the plan's carryover after period ``N`` (``tail`` periods) and not the
        carry-in from the data's spend. National fits only; not with ``horizon``.
      schedule: with ``periods``: ``"flat"`` (default: the same spend every period),
        ``"free"`` (free flighting within ``bounds`` per period; ``objective="mean"``), or a
        shape per channel (a DataFrame of ``N`` rows or ``{channel: N weights}``; unlisted
        channels flat). Bounds are on each period's spend (``"free"``) or on the channel's
        average per period (``"flat"`` and shapes).

    Returns:
      A :class:`Plan` (money per period; with ``horizon``, per plan period; with ``periods``,
      over the plan, and ``Plan.schedule``).

    Raises:
      ValueError: one line naming the channel or number: non-positive budget, unknown channel,
        negative or reversed bounds, fixed spend over the budget or outside its bounds, bounds
        that cannot sum to the budget; not exactly one of ``total_budget``, ``target_roi`` and
        ``target_mroi``, a target that is not a positive number, a target no budget in the
        range reaches (with the best value found and its budget) or, with no upper bound on
        some channel, one that still holds at 100x current total spend.

    Example:
      >>> plan = mmmjax.optimize_budget(fit, 40_000, {"tv": ("0.5x", "1.5x")}, fixed={"ooh": 2000})
      >>> plan.to_frame()[["current", "optimal", "marginal_roi"]]
      >>> plan = mmmjax.optimize_budget(fit, target_roi=2.0)  # the largest budget at ROI >= 2
      >>> plan.total_budget, plan.target_value
    """
    kind, target = budget_source(total_budget, target_roi, target_mroi)
    if periods is not None:
        if kind != "total_budget":
            raise ValueError(f"{kind}= plans one period's budget; with periods= give total_budget")
        if horizon is not None:
            raise ValueError("give periods= (a plan of the next N periods) or horizon=, not both")
        return optimize_schedule(fit, total_budget, periods, schedule, bounds, objective,
                                 fixed=fixed, risk=risk, cvar_level=cvar_level, tail=tail,
                                 max_iter=max_iter, tol=tol, by=by)  # fmt: skip
    if not (isinstance(schedule, str) and schedule == "flat"):
        raise ValueError("schedule= needs periods=N (a plan of the next N periods)")
    budgets = [total_budget] if kind == "total_budget" else None
    by_target = None if kind == "total_budget" else (kind, target)
    solved = solve_budgets(fit, budgets, bounds, objective, fixed=fixed, risk=risk,
                           cvar_level=cvar_level, horizon=horizon, tail=tail, max_iter=max_iter,
                           tol=tol, by=by, target=by_target)  # fmt: skip
    return _plan(solved, objective)


def _plan(solved: Solved, objective: str) -> Plan:
    """The :class:`Plan` of a one-budget :func:`solve_budgets`: the solution's split, its
    per-draw responses and those of the current split (their means and 94% intervals), and the
    posterior-mean response curves of ``Plan.plot``."""
    prob, lo, hi, sol, found = solved.problem, solved.lo, solved.hi, solved.solution, solved.found
    budget = float(solved.budgets[0])
    x = sol.x[0]
    grid = np.linspace(0.0, 1.0, 60)[:, None] * (1.5 * np.maximum(x, prob.current))[None, :]
    r, r1 = prob.responses(np.concatenate([x[None], prob.current[None], grid]))  # (S, 62, C)
    curves = r[:, 2:].mean(0)
    opt, cur = r[:, 0].sum(-1), r[:, 1].sum(-1)
    idx = prob.index
    series = lambda a, name: pd.Series(a, index=idx, name=name)  # noqa: E731
    mean, interval = summary(opt)
    cmean, cinterval = summary(cur)
    umean, uinterval = summary(opt - cur)
    hi_used = np.minimum(hi, budget)
    by_target = {}
    if found is not None:  # the target's metric at this plan (the same rule as the search)
        kind, target = solved.target
        at_plan = mean / budget if kind == "target_roi" else float(
            marginal_return(sol.x, sol.grad, lo, hi, np.array([budget]))[0])  # fmt: skip
        by_target = {"budget_from": kind, "target": target, "target_value": float(at_plan),
                     "budget_at_cap": found.at_cap}  # fmt: skip
    return Plan(
        allocation=series(x, "allocation"),
        total_budget=budget,
        expected_response=mean,
        response_interval=interval,
        current_allocation=series(prob.current, "current"),
        current_response=cmean,
        current_interval=cinterval,
        uplift=umean,
        uplift_interval=uinterval,
        channel_response=series(r[:, 0].mean(0), "response"),
        marginal_roi=series(r1[:, 0].mean(0), "marginal_roi"),
        mroi_spread=mroi_spread(np.asarray(sol.grad[0], np.float64), x, lo, hi_used, budget),
        lower=series(lo, "lower"),
        upper=series(hi_used, "upper"),
        objective=objective,
        objective_value=float(sol.value[0]),
        iterations=int(sol.iterations[0]),
        converged=bool(sol.converged[0]),
        horizon=prob.horizon,
        tail=prob.tail,
        curves={c: (grid[:, i], curves[:, i]) for i, c in enumerate(prob.index)},
        **by_target,
    )


class Solved(NamedTuple):
    """What :func:`solve_budgets` solved: the problem, the bounds ``lo``/``hi`` (``(K,)`` money
    per period, ``hi`` may be ``inf``), the budgets ``(N,)``, the solution (``(N, K)`` splits
    and their figures) and, for a target, the budget search's result and ``(kind, target)``."""

    problem: Problem
    lo: np.ndarray
    hi: np.ndarray
    budgets: np.ndarray
    solution: Solution
    found: TargetBudget | None = None
    target: tuple[str, float] | None = None


def solve_budgets(
    fit,
    budgets: Sequence[float] | np.ndarray | None,
    bounds: Mapping[str, tuple[Any, Any]] | None = None,
    objective: str = "mean",
    *,
    fixed: Mapping[str, Any] | None = None,
    risk: float = 1.0,
    cvar_level: float = 0.1,
    horizon: int | None = None,
    tail: int | None = None,
    max_iter: int = 200,
    tol: float = 1e-6,
    by: str = "national",
    target: tuple[str, float] | None = None,
) -> Solved:
    """The one solve path of :func:`optimize_budget` and :func:`budget_frontier`: check the
    objective, bounds and budgets, and solve every budget in one batched call
    (:meth:`~mmmjax.optimize.problem.Problem.solve`). With ``target=(kind, value)``
    (``"target_roi"`` or ``"target_mroi"``) and ``budgets=None`` the budget is first found
    (:func:`mmmjax.optimize.target.find_budget`) and solved alone. Arguments as in
    :func:`optimize_budget`; ``budgets`` money per period.

    Raises:
      ValueError: as :func:`optimize_budget` and :func:`budget_frontier`.
    """
    prob = prepare(fit, objective, risk, cvar_level, horizon, tail, by)
    bounds = bounds_by_name(bounds, prob.index, "bounds")
    fixed = bounds_by_name(fixed, prob.index, "fixed")
    lo, hi = resolve_bounds(prob.channels, prob.current, bounds, fixed)
    found: TargetBudget | None = None
    if target is not None:  # the largest budget meeting the target, then that budget's plan
        found = _budget_for_target(prob, lo, hi, *target, max_iter, tol)
        budgets = [found.budget]
    budgets = np.atleast_1d(np.asarray(budgets, dtype=np.float64))
    if budgets.ndim != 1 or budgets.size == 0:
        raise ValueError(f"budgets must be a non-empty 1-D sequence, got shape {budgets.shape}")
    for b in budgets:
        check_budget(float(b), lo, hi, prob.channels, fixed)
    sol = prob.solve(budgets, lo, hi, max_iter, tol)
    return Solved(prob, lo, hi, budgets, sol, found, target)


def _budget_for_target(prob, lo, hi, kind: str, target: float, max_iter, tol) -> TargetBudget:
    """The largest budget meeting ``target`` (:func:`mmmjax.optimize.target.find_budget`), each
    batch of budgets one :meth:`~mmmjax.optimize.problem.Problem.solve`."""

    def evaluate(budgets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sol = prob.solve(budgets, lo, hi, max_iter, tol)
        response = np.asarray(sol.totals, np.float64).mean(1)
        return response, marginal_return(sol.x, sol.grad, lo, hi, budgets)

    low, high, capped = search_range(lo.sum(), hi.sum(), float(prob.current.sum()))
    return find_budget(evaluate, kind, target, low, high, capped=capped)


def budget_frontier(
    fit,
    budgets: Sequence[float] | np.ndarray,
    bounds: Mapping[str, tuple[Any, Any]] | None = None,
    objective: str = "mean",
    *,
    fixed: Mapping[str, Any] | None = None,
    risk: float = 1.0,
    cvar_level: float = 0.1,
    horizon: int | None = None,
    tail: int | None = None,
    max_iter: int = 200,
    tol: float = 1e-6,
    by: str = "national",
) -> pd.DataFrame:
    """Optimal plans for many total budgets, all solved at once in compiled calls.

    Every budget is solved exactly as :func:`optimize_budget` would (same arguments and
    meaning), all at once: the posterior-mean curves are tabulated once for all budgets, the
    global grid start (dynamic programme) covers every budget in one pass, and the polish over
    all draws evaluates only the budgets still running (in chunks), so a budget costs about one
    evaluation over the draws rather than a solve of its own.

    Args:
      fit: a :class:`~mmmjax.Fit` or a :class:`~mmmjax.GeoFit`.
      budgets: ``(N,)`` total budgets, money per period, each > 0 and feasible for the bounds.
      bounds, objective, fixed, risk, cvar_level, horizon, tail, max_iter, tol, by: as in
        :func:`optimize_budget`.

    Returns:
      DataFrame indexed by ``budget`` with one column per channel (optimal spend per period;
      per ``"geo/channel"`` cell with ``by="geo"`` on a geo fit),
      ``expected_response`` (posterior mean total response), ``response_low``/``response_high``
      (94% interval), ``objective_value``, ``marginal_return`` (the Lagrange multiplier
      ``d objective / d budget``: the common marginal return of channels strictly inside their
      bounds; where none is, the next unit's return, see
      :func:`mmmjax.optimize.target.marginal_return`), ``iterations`` and ``converged``.

    Example:
      >>> frontier = mmmjax.budget_frontier(fit, np.linspace(20_000, 80_000, 61))
      >>> mmmjax.plots.plot_frontier(frontier)
    """
    solved = solve_budgets(fit, budgets, bounds, objective, fixed=fixed, risk=risk,
                           cvar_level=cvar_level, horizon=horizon, tail=tail, max_iter=max_iter,
                           tol=tol, by=by)  # fmt: skip
    prob, lo, hi, sol = solved.problem, solved.lo, solved.hi, solved.solution
    budgets = solved.budgets
    total = np.asarray(sol.totals)  # (N, S) at the solver's last evaluation
    low, high = np.quantile(total, [(1 - INTERVAL) / 2, (1 + INTERVAL) / 2], axis=1)
    marginal = marginal_return(sol.x, sol.grad, lo, hi, budgets)
    frame = pd.DataFrame(sol.x, index=pd.Index(budgets, name="budget"), columns=prob.channels)
    frame["expected_response"] = total.mean(1, dtype=np.float64)
    frame["response_low"] = low.astype(np.float64)
    frame["response_high"] = high.astype(np.float64)
    frame["objective_value"] = np.asarray(sol.value, np.float64)
    frame["marginal_return"] = marginal
    frame["iterations"] = np.asarray(sol.iterations)
    frame["converged"] = np.asarray(sol.converged)
    frame.attrs["channels"] = prob.channels
    frame.attrs["objective"] = objective
    return frame
