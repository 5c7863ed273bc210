"""The result of a plan: :class:`Plan` (an optimised split and what the model expects from it,
money per period), its records for the command line (:func:`plan_to_records`) and the figures
shared by every kind of plan (:func:`summary`, :func:`mroi_spread`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mmmjax.insights import INTERVAL, interval
from mmmjax.optimize.projection import inside_bounds

__all__ = ["Plan", "mroi_spread", "plan_to_records", "summary"]


@dataclass(frozen=True)
class Plan:
    """An optimised budget split and what the model expects from it (money per period).

    Attributes:
      allocation: ``pd.Series`` by channel, the optimal spend per period; sums to
        ``total_budget`` and respects ``lower``/``upper``.
      total_budget: money per period.
      expected_response: posterior mean of the total incremental response at ``allocation``.
      response_interval: its 94% equal-tailed interval ``(low, high)``.
      current_allocation: the fit's mean spend per period per channel (``pd.Series``).
      current_response, current_interval: the same at ``current_allocation``.
      uplift, uplift_interval: ``expected - current`` response, computed per draw.
      channel_response: ``pd.Series``, posterior mean response per channel at ``allocation``.
      marginal_roi: ``pd.Series``, posterior mean of ``dR_c/dx_c`` at ``allocation``.
      mroi_spread: ``(max - min) / mean`` of the *objective's* marginal return over channels
        strictly inside their bounds (0 at an exact interior optimum; NaN with fewer than 2).
      lower, upper: the bounds used (``pd.Series``, money per period).
      objective, objective_value: the objective's name and its value at ``allocation``.
      iterations, converged: updates over all draws after the tabulated warm start (0: the
        warm start already met the tolerance there) and whether the result is a KKT point to
        ``tol`` with finite derivatives (never from hitting the damping limit or ``max_iter``;
        for "cvar": the certified gap to a local optimum of the exact CVaR, global where the
        responses are concave, is at most ``max(tol, GAP_TOL)`` relative; where the worst
        draws swap at the optimum this can fail to certify, and ``converged`` is False there
        though the split is usually at or above a grid optimum).
      horizon, tail: planning horizon and carryover tail in periods (``None``/0: steady state).
      budget_from: how ``total_budget`` was set: ``"total_budget"`` (given), ``"target_roi"``
        (the largest budget whose optimal split keeps ``expected_response / total_budget`` at
        or above ``target``) or ``"target_mroi"`` (the largest whose marginal return, the
        objective's ``dPhi/dB`` at the optimum, is at least ``target``); see
        :mod:`mmmjax.optimize.target`.
      target: the ROI or marginal-return target (money per money), ``None`` for a given budget.
      target_value: the ROI (``expected_response / total_budget``) or marginal return at this
        plan, ``None`` for a given budget.
      budget_at_cap: the target still held at the sum of the upper bounds, so the budget is
        that cap (more budget is not allowed), not where the target binds.
      periods, schedule: for a plan of the next ``periods`` periods after the data
        (``optimize_budget(periods=N)``, :mod:`mmmjax.optimize.schedule`): ``schedule`` is a
        DataFrame of the future dates x channels, money per period; ``allocation`` (and ``lower``,
        ``upper``, ``current_allocation``) are then money over the ``N`` periods (the
        schedule's column sums), ``total_budget`` and the responses are over the plan and its
        carryover (``tail`` periods after it), and ``marginal_roi`` is the extra response per
        extra unit of money spread over the channel's schedule in proportion. ``None`` otherwise.
    """

    allocation: pd.Series
    total_budget: float
    expected_response: float
    response_interval: tuple[float, float]
    current_allocation: pd.Series
    current_response: float
    current_interval: tuple[float, float]
    uplift: float
    uplift_interval: tuple[float, float]
    channel_response: pd.Series
    marginal_roi: pd.Series
    mroi_spread: float
    lower: pd.Series
    upper: pd.Series
    objective: str
    objective_value: float
    iterations: int
    converged: bool
    horizon: int | None = None
    tail: int = 0
    budget_from: str = "total_budget"
    target: float | None = None
    target_value: float | None = None
    budget_at_cap: bool = False
    periods: int | None = None
    schedule: pd.DataFrame | None = field(default=None, compare=False)
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def to_frame(self) -> pd.DataFrame:
        """One row per channel: current and optimal spend, change, bounds, response, mROI."""
        return pd.DataFrame(
            {
                "current": self.current_allocation,
                "optimal": self.allocation,
                "change": self.allocation - self.current_allocation,
                "change_pct": 100 * (self.allocation / self.current_allocation - 1),
                "lower": self.lower,
                "upper": self.upper,
                "response": self.channel_response,
                "marginal_roi": self.marginal_roi,
            }
        ).rename_axis(self.allocation.index.names)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary (plain floats, ints, strings, lists and dicts)."""
        fl = lambda s: {_key(k): float(v) for k, v in s.items()}  # noqa: E731
        pair = lambda p: [float(p[0]), float(p[1])]  # noqa: E731
        up = self.upper.items()
        return {
            "total_budget": float(self.total_budget),
            "objective": self.objective,
            "objective_value": float(self.objective_value),
            "allocation": fl(self.allocation),
            "current_allocation": fl(self.current_allocation),
            "lower": fl(self.lower),
            "upper": {_key(k): None if not np.isfinite(v) else float(v) for k, v in up},
            "expected_response": float(self.expected_response),
            "response_interval": pair(self.response_interval),
            "current_response": float(self.current_response),
            "current_interval": pair(self.current_interval),
            "uplift": float(self.uplift),
            "uplift_interval": pair(self.uplift_interval),
            "channel_response": fl(self.channel_response),
            "marginal_roi": fl(self.marginal_roi),
            "mroi_spread": None if np.isnan(self.mroi_spread) else float(self.mroi_spread),
            "iterations": int(self.iterations),
            "converged": bool(self.converged),
            "horizon": self.horizon,
            "tail": int(self.tail),
            "budget_from": self.budget_from,
            "target": None if self.target is None else float(self.target),
            "target_value": None if self.target_value is None else float(self.target_value),
            "budget_at_cap": bool(self.budget_at_cap),
            "periods": self.periods,
            "schedule": _schedule_dict(self.schedule),
            "interval": INTERVAL,
        }

    def plot(self):
        """A matplotlib ``Figure``: current vs optimal spend per channel, and each channel's
        posterior-mean response curve with the current (o) and optimal (*) points marked
        (:func:`mmmjax.plots.plot_plan`)."""
        from mmmjax.plots import plot_plan

        return plot_plan(self)


def _schedule_dict(schedule: pd.DataFrame | None) -> dict[str, dict[str, float]] | None:
    """``{date ISO: {channel: money}}`` of a plan's schedule (``None`` without one)."""
    if schedule is None:
        return None
    return {
        pd.Timestamp(d).date().isoformat(): {str(c): float(v) for c, v in row.items()}
        for d, row in schedule.iterrows()
    }


def _key(label) -> str:
    """A JSON key for an allocation label: the channel, or ``"geo/channel"`` for a cell."""
    return "/".join(map(str, label)) if isinstance(label, tuple) else label


def plan_to_records(plan: Plan) -> list[dict[str, Any]]:
    """``plan.to_frame()`` as a list of JSON-able dicts, one per channel (for the CLI)."""
    frame = plan.to_frame().reset_index()
    return [
        {k: (v if isinstance(v, str) else (None if not np.isfinite(v) else float(v)))
         for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]  # fmt: skip


def summary(draws: np.ndarray) -> tuple[float, tuple[float, float]]:
    """Posterior mean and 94% interval ``(low, high)`` of per-draw values ``draws (S,)``, as
    plain floats (the ``Plan`` fields ``expected_response``/``response_interval`` and alike)."""
    mean, low, high = interval(draws)
    return float(mean), (float(low), float(high))


def mroi_spread(grad: np.ndarray, x: np.ndarray, lo: np.ndarray, hi: np.ndarray, budget) -> float:
    """``Plan.mroi_spread``: ``(max - min) / |mean|`` of the marginal returns ``grad (C,)`` over
    the channels of ``x`` strictly inside their bounds (:func:`inside_bounds`); NaN with fewer
    than 2."""
    interior = inside_bounds(x, lo, hi, budget)
    if interior.sum() < 2:
        return float("nan")
    g = grad[interior]
    return float((g.max() - g.min()) / abs(g.mean()))
