r"""Budget optimizer: the split of a budget across channels that maximises the modelled response.

Problem. With ``x`` the spend per period of each channel (money), ``R_sc(x_c)`` the response of
channel ``c`` under posterior draw ``s`` (steady state,
:func:`mmmjax.insights.steady_state_response`, or over a planning horizon, see ``horizon``
below) and ``T_s(x) = sum_c R_sc(x_c)``::

    maximise   Phi(T_1(x), ..., T_S(x))
    subject to sum_c x_c = B,   lo_c <= x_c <= hi_c

with ``Phi`` one of

* ``"mean"``: ``mean_s T_s`` (the posterior mean of the total response);
* ``"mean_minus_std"``: ``mean_s T_s - risk * std_s T_s``;
* ``"cvar"``: the mean of the worst ``ceil(cvar_level * S)`` draws of ``T_s``.

Feasibility is exact by construction: every iterate is the projection of a step onto the capped
simplex ``{sum x = B, lo <= x <= hi}``, computed in closed form (the projection is
``clip(y - tau * d, lo, hi)``, piecewise linear in ``tau``; its breakpoints are sorted and the
segment that meets the budget is solved exactly, no penalties and no inner iterations).

Algorithm. Projected, damped diagonal-Newton ascent (a Levenberg-Marquardt-damped scaled
gradient projection), written as a pure ``(init, update)`` pair with its state in NamedTuples in
the style of ``optax``, run entirely inside one ``jax.jit``-compiled ``lax.while_loop``::

    d_c    = 1 / (max(-H_cc, 0) + mu * mean|g|)          (diagonal metric)
    x_new  = argmin_{feasible z} sum_c (z_c - x_c - d_c g_c)^2 / d_c
    accept if Phi(x_new) >= Phi(x): mu <- mu / 3, else keep x and mu <- 4 mu

Channels do not interact in ``R``, so one forward-mode pass with a tangent of ones gives every
draw's per-channel derivatives ``R'_sc`` and ``R''_sc`` at once; ``g = R'^T grad Phi`` is the exact
gradient and ``H_cc = grad Phi . R''_c + R'_c^T (hess Phi) R'_c`` the exact Hessian diagonal (exact
Hessian for ``"mean"``, whose problem is separable). The fixed points are exactly the KKT points
(equal marginal return ``g_c = lambda`` on channels strictly inside their bounds). Why not
projected Adam: with an equality constraint Adam's per-coordinate normalisation makes almost
every interior point a near-fixed point (``m / sqrt(v) -> 1`` for all channels, which the
projection cancels), so it crawls; the Newton metric converges in a few dozen iterations.

Planning horizon (``horizon=H``). The response of a plan is then its incremental target over the
``H`` plan periods *and* the ``tail`` periods after them, divided by ``H`` (money per plan period)::

    spend_plan = [last L periods of actual spend, x repeated H times, 0 repeated tail times]
    spend_base = [last L periods of actual spend, 0 repeated H + tail times]
    R_sc(x)    = sum_{t >= L} (series_c(spend_plan) - series_c(spend_base))[s, t] / H

using :func:`mmmjax.insights.series_response` (adstock, then saturation). Carryover *into* the
plan from recent spend (which saturates the plan's effect) and carryover *after* it are both
counted; with the baseline "no spend in the window", ``R -> `` the steady state as ``H`` grows.

Example:
    >>> plan = mmmjax.optimize_budget(fit, 50_000, bounds={"tv": (5_000, 20_000)})
    >>> plan.allocation.round()            # money per period, sums to 50,000
    >>> plan.uplift, plan.uplift_interval  # vs the current split, per period
    >>> frontier = mmmjax.budget_frontier(fit, np.linspace(30_000, 80_000, 51))
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from mmmjax.insights import (
    INTERVAL,
    ResponseParams,
    _interval,
    response_params,
    series_response,
    steady_state_response,
)

__all__ = [
    "OBJECTIVES",
    "Plan",
    "budget_frontier",
    "optimize_budget",
    "parse_bounds",
    "plan_to_records",
    "plot_frontier",
    "project_capped_simplex",
]

OBJECTIVES = ("mean", "mean_minus_std", "cvar")

#: Number of times the jitted solver has been traced (tests assert no recompilation).
TRACE_COUNT = {"solve": 0}


# ----------------------------------------------------------------------------------------------
# exact projection onto {sum z = total, lo <= z <= hi} in a diagonal metric
# ----------------------------------------------------------------------------------------------
def project_capped_simplex(
    y: jax.Array, lo: jax.Array, hi: jax.Array, total: jax.Array, metric: jax.Array | None = None
) -> jax.Array:
    r"""Exact projection onto the capped simplex ``{z : sum z = total, lo <= z <= hi}``.

    Solves ``argmin_z sum_c (z_c - y_c)^2 / d_c`` over that set (Euclidean for ``d = 1``). By the
    KKT conditions ``z = clip(y - tau * d, lo, hi)`` for the ``tau`` with ``sum z = total``; the sum
    is non-increasing and piecewise linear in ``tau`` with breakpoints ``(y - lo) / d`` and
    ``(y - hi) / d``, so sorting the ``2C`` breakpoints and interpolating on the segment that
    meets ``total`` gives ``tau`` exactly (``O(C^2)`` work, no iterations; fine for channel counts).

    Args:
      y: ``(C,)`` point to project.
      lo, hi: ``(C,)`` bounds, ``lo <= hi``.
      total: scalar, ``sum lo <= total <= sum hi`` (not checked here).
      metric: ``(C,)`` positive diagonal ``d`` (default ones).

    Returns:
      ``(C,)`` the projection. Pure JAX: jit and vmap apply.

    Example:
      >>> project_capped_simplex(jnp.array([2.0, 0.0]), jnp.zeros(2), jnp.ones(2), 1.0)
      Array([1., 0.], dtype=float32)
    """
    d = jnp.ones_like(y) if metric is None else metric
    bps = jnp.sort(jnp.concatenate([(y - lo) / d, (y - hi) / d]))  # (2C,)
    sums = jnp.clip(y[None, :] - bps[:, None] * d[None, :], lo, hi).sum(-1)  # non-increasing
    k = jnp.clip(jnp.searchsorted(-sums, -total), 1, bps.shape[0] - 1)
    t0, t1, s0, s1 = bps[k - 1], bps[k], sums[k - 1], sums[k]
    gap = s0 - s1
    tau = t0 + jnp.where(gap > 0, (s0 - total) / jnp.where(gap > 0, gap, 1.0), 0.0) * (t1 - t0)
    return jnp.clip(y - tau * d, lo, hi)


# ----------------------------------------------------------------------------------------------
# objectives over per-draw totals T (S,)
# ----------------------------------------------------------------------------------------------
def _std(t: jax.Array) -> jax.Array:
    var = jnp.mean((t - t.mean()) ** 2)
    pos = var > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, var, 1.0)), 0.0)  # finite gradient at var = 0


def _objective(name: str, risk: jax.Array, k: int) -> Callable[[jax.Array], jax.Array]:
    if name == "mean":
        return lambda t: t.mean()
    if name == "mean_minus_std":
        return lambda t: t.mean() - risk * _std(t)
    return lambda t: -jax.lax.top_k(-t, k)[0].mean()  # cvar: mean of the k worst draws


# ----------------------------------------------------------------------------------------------
# responses and their per-channel derivatives
# ----------------------------------------------------------------------------------------------
class Horizon(NamedTuple):
    """Planning-horizon inputs: recent actual spend ``(L, C)``, the base response ``(S, C)``."""

    history: jax.Array
    base: jax.Array


def _response_fn(spec, params: ResponseParams, horizon: int | None, tail: int, hz: Horizon | None):
    """``x (C,) -> (S, C)`` response per draw and channel, money per (plan) period."""
    if horizon is None:
        return lambda x: steady_state_response(spec, params, x)

    def f(x):
        L, C = hz.history.shape
        spend = jnp.concatenate([hz.history, jnp.broadcast_to(x, (horizon, C)),
                                 jnp.zeros((tail, C), x.dtype)])  # fmt: skip
        return (series_response(spec, params, spend)[:, L:].sum(1) - hz.base) / horizon

    return f


def _jet(f: Callable, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``R, R', R''`` per draw and channel ``(S, C)``; exact because channels do not interact."""
    ones = jnp.ones_like(x)
    (r, r1), (_, r2) = jax.jvp(lambda z: jax.jvp(f, (z,), (ones,)), (x,), (ones,))
    return r, r1, r2


class Eval(NamedTuple):
    value: jax.Array  # objective, scalar
    grad: jax.Array  # (C,) d objective / d x
    curv: jax.Array  # (C,) -d2 objective / d x_c^2 (Hessian diagonal, sign for ascent)


def _evaluate(f, phi, with_hvp: bool, x: jax.Array) -> Eval:
    r, r1, r2 = _jet(f, x)
    t = r.sum(-1)
    value, w = jax.value_and_grad(phi)(t)
    grad = w @ r1
    hess = w @ r2
    if with_hvp:  # the objective's own curvature across draws (mean_minus_std)
        hvp = lambda v: v @ jax.jvp(jax.grad(phi), (t,), (v,))[1]  # noqa: E731
        hess = hess + jax.vmap(hvp, in_axes=1)(r1)
    return Eval(value, grad, -hess)


# ----------------------------------------------------------------------------------------------
# the solver: a pure (init, update) pair, state in NamedTuples, driven by lax.while_loop
# ----------------------------------------------------------------------------------------------
class SolverState(NamedTuple):
    """Iterate ``x`` (shares of the budget), its evaluation, damping ``mu`` and bookkeeping."""

    x: jax.Array
    ev: Eval
    mu: jax.Array
    count: jax.Array
    done: jax.Array
    converged: jax.Array


class Solver(NamedTuple):
    init: Callable[[jax.Array], SolverState]
    update: Callable[[SolverState], SolverState]


MU_INIT, MU_MIN, MU_MAX = 100.0, 1e-6, 1e8


def damped_newton_projection(
    evaluate: Callable[[jax.Array], Eval], lo: jax.Array, hi: jax.Array, *, tol: jax.Array
) -> Solver:
    """Projected, damped diagonal-Newton ascent on ``{sum x = 1, lo <= x <= hi}`` (shares).

    ``update`` takes one step, accepts it only if the objective does not decrease, and adapts the
    damping; it stops (``done``) when an accepted step moves no share by more than ``tol`` and
    improves the objective by at most ``tol`` relative, or when the damping saturates (no
    feasible ascent step measurable in float32: converged at working precision).
    """

    def init(x0):
        return SolverState(x0, evaluate(x0), jnp.asarray(MU_INIT, x0.dtype),
                           jnp.asarray(0), jnp.asarray(False), jnp.asarray(False))  # fmt: skip

    def update(s: SolverState) -> SolverState:
        g, curv = s.ev.grad, s.ev.curv
        scale = jnp.mean(jnp.abs(g)) + jnp.finfo(g.dtype).tiny
        d = 1.0 / (jnp.maximum(curv, 0.0) + s.mu * scale)
        x_new = project_capped_simplex(s.x + d * g, lo, hi, 1.0, d)
        ev_new = evaluate(x_new)
        eps = jnp.finfo(g.dtype).eps
        accept = ev_new.value >= s.ev.value - 8 * eps * jnp.abs(s.ev.value)  # float32 noise
        gain = (ev_new.value - s.ev.value) / (jnp.abs(s.ev.value) + jnp.finfo(g.dtype).tiny)
        small = (jnp.max(jnp.abs(x_new - s.x)) <= tol) & (gain <= tol)
        mu = jnp.where(accept, jnp.maximum(s.mu / 3.0, MU_MIN), s.mu * 4.0)
        converged = (accept & small) | (mu >= MU_MAX)
        pick = lambda a, b: jnp.where(accept, a, b)  # noqa: E731
        return SolverState(
            x=pick(x_new, s.x),
            ev=jax.tree.map(pick, ev_new, s.ev),
            mu=mu,
            count=s.count + 1,
            done=converged,
            converged=converged,
        )

    return Solver(init, update)


class Solution(NamedTuple):
    x: jax.Array  # (C,) money per period
    value: jax.Array
    grad: jax.Array  # (C,) d objective / d x (money per money)
    iterations: jax.Array
    converged: jax.Array


def _solve_one(spec, objective, k, horizon, tail, params, hz, risk, lo, hi, budget, x0,
               max_iter, tol) -> Solution:  # fmt: skip
    """One budget: money in, money out (the solver works in shares of the budget)."""
    f = _response_fn(spec, params, horizon, tail, hz)
    phi = _objective(objective, risk, k)

    def evaluate(z):  # in shares of the budget: d/dz = budget * d/dx
        ev = _evaluate(f, phi, objective == "mean_minus_std", z * budget)
        return Eval(ev.value, ev.grad * budget, ev.curv * budget**2)

    solver = damped_newton_projection(evaluate, lo / budget, hi / budget, tol=tol)
    z0 = project_capped_simplex(x0 / budget, lo / budget, hi / budget, 1.0)
    state = jax.lax.while_loop(
        lambda s: (~s.done) & (s.count < max_iter), solver.update, solver.init(z0)
    )
    return Solution(state.x * budget, state.ev.value, state.ev.grad / budget, state.count,
                    state.converged)  # fmt: skip


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4))
def _solve(spec, objective, k, horizon, tail, params, hz, risk, lo, hi, budget, x0, max_iter, tol):
    """Every budget in ``budget (N,)`` (bounds ``(N, C)``) in one vmapped, compiled call."""
    TRACE_COUNT["solve"] += 1  # runs only while tracing
    one = functools.partial(_solve_one, spec, objective, k, horizon, tail, params, hz, risk)
    return jax.vmap(one, in_axes=(0, 0, 0, None, None, None))(lo, hi, budget, x0, max_iter, tol)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _window_total(spec, skip: int, params: ResponseParams, spend: jax.Array) -> jax.Array:
    """``(S, C)`` total response of a spend series ``(T, C)`` after its first ``skip`` periods."""
    return series_response(spec, params, spend)[:, skip:].sum(1)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _responses(spec, horizon, tail, params, hz, x):
    """Per-draw per-channel response and marginal response at allocations ``x (N, C)``."""
    f = _response_fn(spec, params, horizon, tail, hz)
    ones = jnp.ones_like(x[0])
    return jax.vmap(lambda z: jax.jvp(f, (z,), (ones,)), out_axes=1)(x)  # (S, N, C) each


# ----------------------------------------------------------------------------------------------
# input checking
# ----------------------------------------------------------------------------------------------
def _number(value: Any, channel: str, current: float) -> float:
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


def _resolve_bounds(
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
                v = _number(value, name, current[i])
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
            lo[i] = 0.0 if low is None else _number(low, name, current[i])
            hi[i] = np.inf if high is None else _number(high, name, current[i])
            if lo[i] > hi[i]:
                raise ValueError(
                    f"bounds for channel {name!r}: low {lo[i]:g} is above high {hi[i]:g}"
                )
    return lo, hi


def _check_budget(budget: float, lo: np.ndarray, hi: np.ndarray, channels, fixed) -> None:
    if not np.isfinite(budget) or budget <= 0:
        raise ValueError(f"total_budget must be a positive number per period, got {budget:g}")
    fixed_sum = float(sum(lo[i] for i, c in enumerate(channels) if c in (fixed or {})))
    if fixed_sum > budget * (1 + 1e-9):
        raise ValueError(f"fixed spend sums to {fixed_sum:g}, over the total_budget {budget:g}")
    if lo.sum() > budget * (1 + 1e-9):
        worst = channels[int(np.argmax(lo))]
        raise ValueError(
            f"lower bounds sum to {lo.sum():g}, over the total_budget {budget:g} "
            f"(largest: channel {worst!r} at {lo.max():g})"
        )
    if hi.sum() < budget * (1 - 1e-9):
        worst = channels[int(np.argmin(hi))]
        raise ValueError(
            f"upper bounds sum to {hi.sum():g}, below the total_budget {budget:g} "
            f"(smallest: channel {worst!r} at {hi.min():g})"
        )


def parse_bounds(
    items: Iterable[str], channels: Sequence[str], current: Sequence[float] | Mapping[str, float]
) -> dict[str, tuple[float, float | None]]:
    """Parse command-line bounds ``["tv=100:5000", "search=0.5x:1.5x", "radio=:2000"]``.

    Each item is ``CHANNEL=LOW:HIGH``; ``LOW`` or ``HIGH`` may be empty (0 and no cap), money per
    period or a multiple of the channel's current spend (``"1.5x"``).

    Args:
      items: the strings.
      channels: the fit's channels.
      current: current spend per period, ``(C,)`` in channel order or a mapping by channel.

    Returns:
      ``{channel: (low, high)}`` in money per period (``high`` ``None`` for no cap), ready for
      :func:`optimize_budget`'s ``bounds``.

    Raises:
      ValueError: one line naming the item or channel.

    Example:
      >>> parse_bounds(["tv=0.5x:2x"], ["tv", "radio"], [1000.0, 200.0])
      {'tv': (500.0, 2000.0)}
    """
    if isinstance(current, Mapping):
        cur = dict(current)
    else:
        cur = dict(zip(channels, np.asarray(current, dtype=float).tolist(), strict=True))
    out: dict[str, tuple[float, float | None]] = {}
    for item in items:
        name, sep, rng = str(item).partition("=")
        name = name.strip()
        if not sep or ":" not in rng:
            raise ValueError(f"bounds {item!r}: expected CHANNEL=LOW:HIGH, e.g. tv=100:5000")
        if name not in cur:
            raise ValueError(
                f"bounds {item!r}: unknown channel {name!r}; channels are {', '.join(channels)}"
            )
        low, high = (p.strip() for p in rng.split(":", 1))
        lo = _number(low, name, cur[name]) if low else 0.0
        hi = _number(high, name, cur[name]) if high else None
        if hi is not None and lo > hi:
            raise ValueError(f"bounds for channel {name!r}: low {lo:g} is above high {hi:g}")
        out[name] = (lo, hi)
    return out


# ----------------------------------------------------------------------------------------------
# shared preparation of one call
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Problem:
    spec: Any
    channels: list[str]
    params: ResponseParams
    current: np.ndarray
    objective: str
    k: int
    horizon: int | None
    tail: int
    hz: Horizon | None
    risk: float

    def solve(self, budgets, lo, hi, max_iter, tol) -> Solution:
        budgets = np.asarray(budgets, dtype=np.float64)
        lo = np.broadcast_to(lo, (len(budgets), len(self.channels)))
        hi = np.minimum(np.broadcast_to(hi, lo.shape), budgets[:, None])
        f32 = lambda a: jnp.asarray(a, dtype=jnp.float32)  # noqa: E731
        sol = _solve(
            self.spec, self.objective, self.k, self.horizon, self.tail, self.params, self.hz,
            f32(self.risk), f32(lo), f32(hi), f32(budgets), f32(self.current),
            jnp.asarray(max_iter, jnp.int32), f32(tol),
        )  # fmt: skip
        x = np.asarray(sol.x, dtype=np.float64)
        x = np.stack([_polish(xi, l, h, b) for xi, l, h, b in zip(x, lo, hi, budgets, strict=True)])
        return sol._replace(x=x)

    def responses(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r, r1 = _responses(self.spec, self.horizon, self.tail, self.params, self.hz,
                           jnp.asarray(x, jnp.float32))  # fmt: skip
        return np.asarray(r, np.float64), np.asarray(r1, np.float64)  # (S, N, C)


def _polish(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, budget: float) -> np.ndarray:
    """Remove float32 rounding: clip to the bounds and put the residual on free channels."""
    x = np.clip(x, lo, hi)
    for _ in range(3):
        r = budget - x.sum()
        room = (hi - x) if r > 0 else (x - lo)
        inside = _inside(x, lo, hi, budget)
        if inside.any():
            room = np.where(inside, room, 0.0)
        if r == 0 or room.sum() <= 0:
            break
        x = np.clip(x + r * room / room.sum(), lo, hi)
    return x


def _prepare(fit, objective, risk, cvar_level, horizon, tail) -> _Problem:
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    if not 0 < cvar_level <= 1:
        raise ValueError(f"cvar_level must be in (0, 1], got {cvar_level}")
    if not np.isfinite(risk) or risk < 0:
        raise ValueError(f"risk must be a non-negative number, got {risk}")
    params = response_params(fit)
    S = int(params.multiplier.shape[0])
    k = max(1, math.ceil(cvar_level * S - 1e-9)) if objective == "cvar" else 0
    hz = None
    if horizon is None:
        tail = 0
    else:
        horizon = int(horizon)
        if horizon < 1:
            raise ValueError(f"horizon must be at least 1 period, got {horizon}")
        tail = _default_tail(fit) if tail is None else int(tail)
        if tail < 0:
            raise ValueError(f"tail must be >= 0 periods, got {tail}")
        spend = np.asarray(fit.dataset.spend, dtype=np.float64)
        history = jnp.asarray(spend[-min(len(spend), max(tail, 1)) :], jnp.float32)
        L, C = history.shape
        base = jnp.concatenate([history, jnp.zeros((horizon + tail, C), jnp.float32)])
        hz = Horizon(history, _window_total(fit.spec, L, params, base))
    current = np.asarray(fit.scales.spend, dtype=np.float64)
    return _Problem(fit.spec, list(fit.channels), params, current, objective, k, horizon, tail,
                    hz, float(risk))  # fmt: skip


def _default_tail(fit) -> int:
    """Periods after the plan that still carry its effect: ``l_max`` for finite kernels; for
    geometric adstock until ``alpha**tail < 1e-3`` for the largest posterior ``alpha`` (<= 520)."""
    spec = fit.spec
    if spec.adstock != "geometric":
        return int(spec.l_max)
    alpha = float(np.max(fit.draws()["alpha"]))
    if alpha <= 0:
        return 1
    return int(min(520, max(spec.l_max, math.ceil(math.log(1e-3) / math.log(min(alpha, 0.9999))))))


# ----------------------------------------------------------------------------------------------
# the plan
# ----------------------------------------------------------------------------------------------
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
      iterations, converged: solver iterations and whether its tolerance was met.
      horizon, tail: planning horizon and carryover tail in periods (``None``/0: steady state).
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
        ).rename_axis("channel")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary (plain floats, ints, strings, lists and dicts)."""
        fl = lambda s: {k: float(v) for k, v in s.items()}  # noqa: E731
        pair = lambda p: [float(p[0]), float(p[1])]  # noqa: E731
        return {
            "total_budget": float(self.total_budget),
            "objective": self.objective,
            "objective_value": float(self.objective_value),
            "allocation": fl(self.allocation),
            "current_allocation": fl(self.current_allocation),
            "lower": fl(self.lower),
            "upper": {k: (None if not np.isfinite(v) else float(v)) for k, v in self.upper.items()},
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
            "interval": INTERVAL,
        }

    def plot(self):
        """A matplotlib ``Figure``: current vs optimal spend per channel, and each channel's
        posterior-mean response curve with the current (o) and optimal (*) points marked."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(12, 4.5), layout="constrained")
        ax_bar, ax_curve = fig.subplots(1, 2)
        pos = np.arange(len(self.allocation))
        ax_bar.bar(pos - 0.2, self.current_allocation.values, 0.4, label="current")
        ax_bar.bar(pos + 0.2, self.allocation.values, 0.4, label="optimal")
        ax_bar.set_xticks(pos, self.allocation.index, rotation=30, ha="right")
        ax_bar.set_ylabel("spend per period")
        ax_bar.set_title(
            f"budget {self.total_budget:,.0f}: response {self.current_response:,.0f} -> "
            f"{self.expected_response:,.0f} ({self.uplift:+,.0f})"
        )
        ax_bar.legend()
        for i, (name, (grid, mean)) in enumerate(self.curves.items()):
            color = f"C{i % 10}"
            ax_curve.plot(grid, mean, color=color, label=name)
            for x, marker in ((self.current_allocation[name], "o"), (self.allocation[name], "*")):
                ax_curve.plot([x], [np.interp(x, grid, mean)], marker, color=color, ms=9)
        ax_curve.set_xlabel("spend per period")
        ax_curve.set_ylabel("response per period (posterior mean)")
        ax_curve.set_title("response curves: o current, * optimal")
        ax_curve.legend(fontsize="small")
        return fig


def plan_to_records(plan: Plan) -> list[dict[str, Any]]:
    """``plan.to_frame()`` as a list of JSON-able dicts, one per channel (for the CLI)."""
    frame = plan.to_frame().reset_index()
    return [
        {k: (v if isinstance(v, str) else (None if not np.isfinite(v) else float(v)))
         for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]  # fmt: skip


def _summary(draws: np.ndarray) -> tuple[float, tuple[float, float]]:
    mean, low, high = _interval(draws)
    return float(mean), (float(low), float(high))


def _inside(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, budget) -> np.ndarray:
    """Channels strictly inside their bounds (by more than 1e-6 of the budget)."""
    margin = 1e-6 * np.asarray(budget)
    return (x - lo > margin) & (hi - x > margin)


def _spread(grad: np.ndarray, x: np.ndarray, lo: np.ndarray, hi: np.ndarray, budget) -> float:
    interior = _inside(x, lo, hi, budget)
    if interior.sum() < 2:
        return float("nan")
    g = grad[interior]
    return float((g.max() - g.min()) / abs(g.mean()))


# ----------------------------------------------------------------------------------------------
# public entry points
# ----------------------------------------------------------------------------------------------
def optimize_budget(
    fit,
    total_budget: float,
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
) -> Plan:
    r"""The split of ``total_budget`` across channels that maximises the modelled response.

    Maximises ``Phi(T(x))`` over ``{sum_c x_c = B, lo_c <= x_c <= hi_c}`` where ``T_s(x)`` is draw
    ``s``'s total response (see the module docstring for ``Phi``, the algorithm and the
    horizon response). The bounds and budget hold exactly at every iterate (projection), all
    posterior draws are used at once, and the whole loop is one compiled ``lax.while_loop``.
    At an interior optimum the objective's marginal returns are equal across channels
    (``Plan.mroi_spread`` near 0).

    Args:
      fit: a :class:`~mmmjax.Fit`.
      total_budget: ``B``, money per period (> 0).
      bounds: ``{channel: (low, high)}``, money per period; ``None`` for an open side; a string
        such as ``"0.5x"`` is a multiple of the channel's current spend. Unlisted channels:
        ``(0, B)``.
      objective: ``"mean"``, ``"mean_minus_std"`` or ``"cvar"``.
      fixed: ``{channel: spend}`` held fixed (money per period or ``"1x"``).
      risk: weight of the posterior standard deviation for ``"mean_minus_std"``.
      cvar_level: fraction of worst draws averaged by ``"cvar"``.
      horizon: plan periods ``H``; ``None`` (default) optimises the steady-state response.
      tail: periods after the plan whose carryover is counted (default: until the largest
        posterior geometric carryover is below 0.1%, or ``l_max`` for finite kernels).
      max_iter: iteration cap.
      tol: stop when an accepted step changes no share of the budget by more than ``tol`` and
        the objective by at most ``tol`` relative.

    Returns:
      A :class:`Plan` (money per period; with ``horizon``, per plan period).

    Raises:
      ValueError: one line naming the channel or number: non-positive budget, unknown channel,
        negative or reversed bounds, fixed spend over the budget or outside its bounds, bounds
        that cannot sum to the budget.

    Example:
      >>> plan = mmmjax.optimize_budget(fit, 40_000, {"tv": ("0.5x", "1.5x")}, fixed={"ooh": 2000})
      >>> plan.to_frame()[["current", "optimal", "marginal_roi"]]
    """
    prob = _prepare(fit, objective, risk, cvar_level, horizon, tail)
    lo, hi = _resolve_bounds(prob.channels, prob.current, bounds, fixed)
    budget = float(total_budget)
    _check_budget(budget, lo, hi, prob.channels, fixed)
    sol = prob.solve([budget], lo, hi, max_iter, tol)
    x = sol.x[0]
    grid = np.linspace(0.0, 1.0, 60)[:, None] * (1.5 * np.maximum(x, prob.current))[None, :]
    r, r1 = prob.responses(np.concatenate([x[None], prob.current[None], grid]))  # (S, 62, C)
    curves = r[:, 2:].mean(0)
    opt, cur = r[:, 0].sum(-1), r[:, 1].sum(-1)
    idx = pd.Index(prob.channels, name="channel")
    series = lambda a, name: pd.Series(a, index=idx, name=name)  # noqa: E731
    mean, interval = _summary(opt)
    cmean, cinterval = _summary(cur)
    umean, uinterval = _summary(opt - cur)
    hi_used = np.minimum(hi, budget)
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
        mroi_spread=_spread(np.asarray(sol.grad[0], np.float64), x, lo, hi_used, budget),
        lower=series(lo, "lower"),
        upper=series(hi_used, "upper"),
        objective=objective,
        objective_value=float(sol.value[0]),
        iterations=int(sol.iterations[0]),
        converged=bool(sol.converged[0]),
        horizon=prob.horizon,
        tail=prob.tail,
        curves={c: (grid[:, i], curves[:, i]) for i, c in enumerate(prob.channels)},
    )


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
) -> pd.DataFrame:
    """Optimal plans for many total budgets in one ``vmap``-ed, compiled call.

    Every budget is solved exactly as :func:`optimize_budget` would (same arguments and
    meaning), all at once: the solver loop is vmapped over budgets, so this costs about as much as
    the slowest single solve on a batch, not one solve per budget.

    Args:
      fit: a :class:`~mmmjax.Fit`.
      budgets: ``(N,)`` total budgets, money per period, each > 0 and feasible for the bounds.
      bounds, objective, fixed, risk, cvar_level, horizon, tail, max_iter, tol: as in
        :func:`optimize_budget`.

    Returns:
      DataFrame indexed by ``budget`` with one column per channel (optimal spend per period),
      ``expected_response`` (posterior mean total response), ``response_low``/``response_high``
      (94% interval), ``objective_value``, ``marginal_return`` (the Lagrange multiplier
      ``d objective / d budget``: the common marginal return of channels strictly inside their
      bounds; NaN if none is), ``iterations`` and ``converged``.

    Example:
      >>> frontier = mmmjax.budget_frontier(fit, np.linspace(20_000, 80_000, 61))
      >>> plot_frontier(frontier)
    """
    prob = _prepare(fit, objective, risk, cvar_level, horizon, tail)
    lo, hi = _resolve_bounds(prob.channels, prob.current, bounds, fixed)
    budgets = np.atleast_1d(np.asarray(budgets, dtype=np.float64))
    if budgets.ndim != 1 or budgets.size == 0:
        raise ValueError(f"budgets must be a non-empty 1-D sequence, got shape {budgets.shape}")
    for b in budgets:
        _check_budget(float(b), lo, hi, prob.channels, fixed)
    sol = prob.solve(budgets, lo, hi, max_iter, tol)
    r, _ = prob.responses(sol.x)
    total = r.sum(-1)  # (S, N)
    mean, low, high = _interval(total)
    grad = np.asarray(sol.grad, np.float64)
    inside = _inside(sol.x, lo, np.minimum(hi, budgets[:, None]), budgets[:, None])
    with np.errstate(invalid="ignore"):
        marginal = np.where(inside, grad, 0.0).sum(-1) / inside.sum(-1)  # NaN if none inside
    frame = pd.DataFrame(sol.x, index=pd.Index(budgets, name="budget"), columns=prob.channels)
    frame["expected_response"] = mean
    frame["response_low"] = low
    frame["response_high"] = high
    frame["objective_value"] = np.asarray(sol.value, np.float64)
    frame["marginal_return"] = marginal
    frame["iterations"] = np.asarray(sol.iterations)
    frame["converged"] = np.asarray(sol.converged)
    frame.attrs["channels"] = prob.channels
    frame.attrs["objective"] = objective
    return frame


def plot_frontier(frontier: pd.DataFrame):
    """A matplotlib ``Figure`` of a :func:`budget_frontier`: the expected response (with its 94%
    interval) against the budget, and the optimal split as stacked areas."""
    from matplotlib.figure import Figure

    channels = frontier.attrs.get("channels") or [
        c for c in frontier.columns if c not in _FRONTIER_COLUMNS
    ]
    b = frontier.index.to_numpy(dtype=float)
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    ax_r, ax_a = fig.subplots(1, 2)
    ax_r.plot(b, frontier["expected_response"], color="C0", label="expected response")
    if {"response_low", "response_high"} <= set(frontier.columns):
        ax_r.fill_between(b, frontier["response_low"], frontier["response_high"], alpha=0.25,
                          color="C0", label=f"{INTERVAL:.0%} interval")  # fmt: skip
    ax_r.set_xlabel("total budget per period")
    ax_r.set_ylabel("response per period")
    ax_r.set_title("efficient frontier")
    ax_r.legend()
    ax_a.stackplot(b, frontier[channels].to_numpy().T, labels=channels)
    ax_a.set_xlabel("total budget per period")
    ax_a.set_ylabel("optimal spend per period")
    ax_a.set_title("optimal split")
    ax_a.legend(fontsize="small", loc="upper left")
    return fig


_FRONTIER_COLUMNS = {
    "expected_response", "response_low", "response_high", "objective_value",
    "marginal_return", "iterations", "converged",
}  # fmt: skip
