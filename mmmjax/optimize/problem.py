"""One planning call's problem, checked: what a budget is split over (:func:`budget_variables`:
channels, or geo x channel cells), the bounds (:func:`resolve_bounds`, money per period, or
multiples of current spend) and the budget (:func:`check_budget`), the objective's settings and
horizon inputs (:func:`prepare`), and :class:`Problem`, which solves batches of budgets with the
stages of :mod:`mmmjax.optimize.solver`."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import numpy as np
import pandas as pd

from mmmjax.insights import response_params
from mmmjax.kinds import is_panel
from mmmjax.optimize.objectives import OBJECTIVES
from mmmjax.optimize.projection import polish
from mmmjax.optimize.response import (
    CHUNK,
    GeoSplit,
    Horizon,
    channel_responses,
    default_tail,
    horizon_inputs,
)
from mmmjax.optimize.solver import Solution, solve_draws, table, warm_start
from mmmjax.optimize.stages import f32
from mmmjax.programs import device_array

__all__ = [
    "BY",
    "BudgetVariables",
    "Problem",
    "bound_value",
    "bounds_by_name",
    "bucket",
    "budget_variables",
    "check_budget",
    "prepare",
    "resolve_bounds",
]

#: What a budget is split over: channels ("national") or geo x channel cells ("geo").
BY = ("national", "geo")


def bound_value(value: Any, channel: str, current: float) -> float:
    """A bound: money per period, or a string ``"1.5x"`` relative to the current spend."""
    if isinstance(value, str):
        text = value.strip().lower()
        try:
            out = float(text[:-1]) * current if text.endswith("x") else float(text)
        except ValueError:
            raise ValueError(
                f"bounds for channel {channel!r}: {value!r} is not a number or a multiple like "
                "'1.5x' of current spend"
            ) from None
    else:
        try:
            out = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"bounds for channel {channel!r}: {value!r} is not a number") from None
    if math.isnan(out) or out < 0:
        raise ValueError(f"bounds for channel {channel!r}: {value!r} must be >= 0")
    return out


def resolve_bounds(
    channels: Sequence[str],
    current: np.ndarray,
    bounds: Mapping[str, Any] | None,
    fixed: Mapping[str, Any] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)`` money per period (``hi`` may be ``inf``); fixed channels get ``lo = hi``."""
    C = len(channels)
    lo, hi = np.zeros(C), np.full(C, np.inf)
    index = {c: i for i, c in enumerate(channels)}
    for what, spec in (("bounds", bounds or {}), ("fixed", fixed or {})):
        for name, value in spec.items():
            if name not in index:
                raise ValueError(
                    f"{what}: unknown channel {name!r}; the fit's channels are "
                    f"{', '.join(channels)}"
                )
            i = index[name]
            if what == "fixed":
                v = bound_value(value, name, current[i])
                if v < lo[i] or v > hi[i]:
                    raise ValueError(
                        f"fixed spend {v:g} for channel {name!r} is outside its bounds "
                        f"[{lo[i]:g}, {hi[i]:g}]"
                    )
                lo[i] = hi[i] = v
                continue
            if isinstance(value, str) or not isinstance(value, Iterable) or len(value) != 2:
                raise ValueError(f"bounds for channel {name!r} must be (low, high), got {value!r}")
            low, high = value
            lo[i] = 0.0 if low is None else bound_value(low, name, current[i])
            hi[i] = np.inf if high is None else bound_value(high, name, current[i])
            if lo[i] > hi[i]:
                raise ValueError(
                    f"bounds for channel {name!r}: low {lo[i]:g} is above high {hi[i]:g}"
                )
    return lo, hi


def check_budget(
    budget: float, lo: np.ndarray, hi: np.ndarray, channels, fixed, periods: int | None = None
) -> None:
    """``budget`` fits the bounds ``lo``/``hi`` (money per period) and the ``fixed`` spend; one
    line naming the channel otherwise. With ``periods=N`` (a schedule,
    :mod:`mmmjax.optimize.schedule`) ``budget`` is over the ``N`` periods and the sums are said per
    period and over them."""
    n = 1 if periods is None else periods

    def summed(v: float) -> str:
        return f"{v:g}," if periods is None else f"{v:g} per period, {n * v:g} over {n} periods:"

    if not np.isfinite(budget) or budget <= 0:
        unit = "number per period" if periods is None else "amount over the plan"
        raise ValueError(f"total_budget must be a positive {unit}, got {budget:g}")
    fixed_sum = n * float(sum(lo[i] for i, c in enumerate(channels) if c in (fixed or {})))
    if fixed_sum > budget * (1 + 1e-9):
        what = "fixed spend" if periods is None else f"fixed spend per period over {n} periods"
        raise ValueError(f"{what} sums to {fixed_sum:g}, over the total_budget {budget:g}")
    if n * lo.sum() > budget * (1 + 1e-9):
        worst = channels[int(np.argmax(lo))]
        raise ValueError(
            f"lower bounds sum to {summed(lo.sum())} over the total_budget {budget:g} "
            f"(largest: channel {worst!r} at {lo.max():g})"
        )
    if n * hi.sum() < budget * (1 - 1e-9):
        worst = channels[int(np.argmin(hi))]
        raise ValueError(
            f"upper bounds sum to {summed(hi.sum())} below the total_budget {budget:g} "
            f"(smallest: channel {worst!r} at {hi.min():g})"
        )


def bucket(n: int) -> int:
    """Rows a batch of ``n`` budgets is padded to (the next power of two up to ``CHUNK``, then
    the next multiple of ``CHUNK``), so that new batch sizes reuse compiled programs: a
    13-budget frontier after a 12-budget one compiles nothing."""
    return 1 << (n - 1).bit_length() if n <= CHUNK else -(-n // CHUNK) * CHUNK


class BudgetVariables(NamedTuple):
    """What a budget is split over for one fit and ``by``: the response provider of the solver.

    Attributes:
      spec: the model specification the response functions read (static under ``jit``).
      params: per-draw response parameters: a :class:`~mmmjax.insights.ResponseParams` with one
        column per variable, or a :class:`~mmmjax.optimize.response.GeoSplit` (a geo fit planned
        by channel).
      names: ``K`` labels: the channel, or ``"geo/channel"`` for a cell (``by="geo"``).
      index: ``Plan.allocation``'s index: ``channel``, or ``(geo, channel)`` (geo-major).
      current: ``(K,)`` current mean spend per period, money.
      horizon: whether a planning horizon (``horizon=``, a response over time) is available.
    """

    spec: Any
    params: Any
    names: list[str]
    index: pd.Index
    current: np.ndarray
    horizon: bool = False


def budget_variables(fit, by: str = "national") -> BudgetVariables:
    r"""The variables a budget is split over and their response, chosen once per fit kind.

    * a national fit: the channels (``by="geo"`` is the same: national data are one geo);
    * a geo fit, ``by="national"``: the channels, each channel's spend shared out over geos as
      in the data (``shares[g, c]`` = geo ``g``'s share of channel ``c``'s spend over the window,
      :class:`~mmmjax.optimize.response.GeoSplit`); ``current_c = sum_g mean spend_gc``;
    * a geo fit, ``by="geo"``: the ``G * C`` cells ``(geo, channel)``, each with its own
      steady-state response ``R_gc`` and current spend ``mean spend_gc`` (money per period).

    Raises:
      ValueError: ``by`` not one of :data:`BY`.
    """
    if by not in BY:
        raise ValueError(f"by must be 'national' or 'geo', got {by!r}")
    if not is_panel(fit):
        index = pd.Index(list(fit.channels), name="channel")
        current = np.asarray(fit.scales.spend, dtype=np.float64)
        return BudgetVariables(fit.spec, response_params(fit), list(fit.channels), index, current,
                               horizon=True)  # fmt: skip
    from mmmjax.insights.geo import cell_response_params

    cells = cell_response_params(fit)
    spend = np.asarray(fit.scales.spend, dtype=np.float64)  # (G, C) mean per period
    if by == "geo":
        index = pd.MultiIndex.from_product([list(fit.geos), list(fit.channels)],
                                           names=[fit.dataset.geo_name, "channel"])  # fmt: skip
        names = [f"{g}/{c}" for g, c in index]
        return BudgetVariables(fit.spec.model, cells, names, index, spend.reshape(-1))
    total = spend.sum(axis=0)  # (C,)
    G = spend.shape[0]
    shares = np.where(total > 0, spend / np.where(total > 0, total, 1.0), 1.0 / G)
    split = GeoSplit(cells, device_array(shares, np.float32))
    index = pd.Index(list(fit.channels), name="channel")
    return BudgetVariables(fit.spec.model, split, list(fit.channels), index, total)


def bounds_by_name(spec: Mapping | None, index: pd.Index, what: str) -> dict | None:
    """``bounds``/``fixed`` keyed by ``(geo, channel)`` or ``"geo/channel"`` -> by name."""
    if not spec or not isinstance(index, pd.MultiIndex):
        return spec
    out = {}
    for key, value in spec.items():
        if isinstance(key, tuple):
            if len(key) != 2:
                raise ValueError(f"{what}: {key!r} is not a (geo, channel) pair")
            key = f"{key[0]}/{key[1]}"
        if key in out:
            raise ValueError(f"{what}: cell {key!r} is given twice")
        out[key] = value
    return out


@dataclass(frozen=True)
class Problem:
    """One call's planning problem (:func:`prepare`): the response provider (``spec``,
    ``params``, horizon inputs ``hz``), the variables (``channels`` names, ``index`` of the
    plan, ``current`` spend per period), the objective (``k`` worst draws for "cvar", ``risk``
    for "mean_minus_std") and the horizon and tail in periods (``None``/0: steady state)."""

    spec: Any
    channels: list[str]
    params: Any
    current: np.ndarray
    objective: str
    k: int
    horizon: int | None
    tail: int
    hz: Horizon | None
    risk: float
    index: pd.Index

    def solve(self, budgets, lo, hi, max_iter, tol) -> Solution:
        """Every budget of ``budgets (N,)`` (money per period) at once within ``lo``/``hi``
        (``(K,)``): the three stages of :mod:`mmmjax.optimize.solver` on a batch padded to
        :func:`bucket` rows, then :func:`~mmmjax.optimize.projection.polish` on the host."""
        budgets = np.asarray(budgets, dtype=np.float64)
        n = len(budgets)
        lo = np.broadcast_to(lo, (n, len(self.channels)))
        hi = np.minimum(np.broadcast_to(hi, lo.shape), budgets[:, None])
        pad = lambda a: np.concatenate([a, np.repeat(a[-1:], bucket(n) - n, 0)])  # noqa: E731
        lo_, hi_, budget = f32(lo[0]), f32(pad(hi)), f32(pad(budgets))
        max_iter, tol = device_array(max_iter, np.int32), f32(tol)
        response = (self.spec, self.horizon, self.tail, self.params, self.hz)
        tab = table(*response, lo_, hi_, budget)
        z0 = warm_start(tab, lo_, hi_, budget, max_iter, tol)
        sol = solve_draws(self.spec, self.objective, self.k, self.horizon, self.tail,
                          self.params, self.hz, f32(self.risk), tab, lo_, hi_, budget, z0,
                          f32(self.current), max_iter, tol)  # fmt: skip
        # on the host: the padding rows (repeating the last budget) cut off in NumPy
        sol = jax.tree.map(lambda a: np.asarray(a)[:n], sol)
        return sol._replace(x=polish(np.asarray(sol.x, dtype=np.float64), lo, hi, budgets))

    def responses(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(S, N, K)`` per-draw response and marginal response at allocations ``x (N, K)``."""
        r, r1 = channel_responses(self.spec, self.horizon, self.tail, self.params, self.hz,
                                  device_array(x, np.float32))  # fmt: skip
        return np.asarray(r, np.float64), np.asarray(r1, np.float64)  # (S, N, C)


def prepare(fit, objective, risk, cvar_level, horizon, tail, by="national") -> Problem:
    """The :class:`Problem` of ``fit`` for these settings (as in
    :func:`mmmjax.optimize_budget`), checked: one line naming a bad objective, ``cvar_level``,
    ``risk``, ``horizon`` or ``tail``."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    if not 0 < cvar_level <= 1:
        raise ValueError(f"cvar_level must be in (0, 1], got {cvar_level}")
    if not np.isfinite(risk) or risk < 0:
        raise ValueError(f"risk must be a non-negative number, got {risk}")
    var = budget_variables(fit, by)
    params = var.params
    S = int(jax.tree.leaves(params)[0].shape[0])
    k = max(1, math.ceil(cvar_level * S - 1e-9)) if objective == "cvar" else 0
    hz = None
    if horizon is None:
        tail = 0
    else:
        if not var.horizon:
            raise ValueError(
                "horizon= is not supported for a geo fit yet: plan the steady state (horizon=None)"
            )
        horizon = int(horizon)
        if horizon < 1:
            raise ValueError(f"horizon must be at least 1 period, got {horizon}")
        tail = default_tail(fit) if tail is None else int(tail)
        if tail < 0:
            raise ValueError(f"tail must be >= 0 periods, got {tail}")
        hz = horizon_inputs(fit, params, horizon, tail)
    return Problem(var.spec, var.names, params, var.current, objective, k, horizon, tail,
                    hz, float(risk), var.index)  # fmt: skip
