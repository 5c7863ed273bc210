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

Optimiser: optax. The update rule is an ``optax.GradientTransformationExtraArgs``,
:func:`projected_diagonal_newton` (pure ``init``/``update``, state in the NamedTuple
:class:`DiagonalNewtonState`, hyper-parameters closed over by the factory), applied with
``optax.apply_updates`` inside a compiled ``lax.while_loop``. It minimises the loss ``-Phi`` in
shares ``z = x / B`` of the budget by projected, damped diagonal-Newton steps (a
Levenberg-Marquardt-damped scaled gradient projection; accept/reject and damping live in the
transform, as optax's line searches keep their value and gradient in their state)::

    d_c    = 1 / (max(h_c, 0) + mu * mean|g|)          (g, h: loss gradient, Hessian diagonal)
    z_new  = argmin_{feasible y} sum_c (y_c - z_c + d_c g_c)^2 / d_c
    accept if loss(z_new) <= loss(z): mu <- mu / 3, else keep z and mu <- 4 mu

Its fixed points are exactly the KKT points (equal marginal return ``g_c = lambda`` on channels
strictly inside their bounds). Why not a stock optax optimizer: with the equality constraint,
projected Adam's per-coordinate normalisation makes almost every interior point a near-fixed
point (``m / sqrt(v) -> 1`` for all channels, which the projection cancels), so it crawls;
projected SGD needs a step size per problem scale, and ``optax.lbfgs`` has no notion of the
constraint (its curvature pairs and zoom line search break under projection). The Newton metric
on the exact Hessian diagonal converges in a few steps.

Derivatives. Channels do not interact in ``R``, so one forward-mode pass with a tangent of ones
gives every draw's per-channel ``R'_sc`` (and ``R''_sc``) at once; ``g = R'^T grad Phi`` is the
exact gradient and ``grad Phi . R''_c + R'_c^T (hess Phi) R'_c`` the exact Hessian diagonal.

Solve (:func:`optimize_budget` and :func:`budget_frontier` alike, every budget at once):

1. *Table*: the ``"mean"`` objective is separable, ``sum_c f_c(x_c)`` with ``f_c`` the posterior
   mean response curve. ``f_c, f_c', f_c''`` are evaluated over all draws at ``NODES + 1`` levels
   per channel in one batched call and interpolated by quintic Hermite polynomials (relative
   slope error about ``1e-5``): from here on a ``"mean"`` evaluation costs ``O(C)``, not
   ``O(S C)``.
2. *Global start*: dynamic programming over channels on a grid of ``GRID`` budget steps
   (``V_k(b) = max_i V_{k-1}(b - i) + f_k(i)``) gives the global optimum of the interpolated
   problem on the grid for every budget at once, so S-shaped curves (where a channel is either
   off or well inside its concave part) do not trap the solver in a local optimum.
3. *Refine* with :func:`projected_diagonal_newton` on the interpolated curves.
4. *Polish over all draws*: :func:`projected_diagonal_newton` on the exact objective ``Phi``
   (all ``S`` draws) from there, until its stopping rule holds. For ``"mean"`` the warm start is
   usually already within ``tol`` (checked by the undamped Newton step over all draws: no update
   needed) or one update away; ``"mean_minus_std"`` and ``"cvar"`` (not separable, possibly
   several local optima) are solved from the ``"mean"`` optimum, the current split and the equal
   split, and the best result is kept. ``"cvar"`` is non-smooth (its gradient jumps where two
   draws swap rank), so it is solved on a softplus smoothing (:func:`smooth_cvar`) whose
   temperature shrinks over ``TAU_STAGES``; it counts as converged only when a certificate on
   the exact CVaR holds (an epsilon-supergradient whose Frank-Wolfe gap plus epsilon is below
   ``GAP_TOL`` relative, see :func:`projected_diagonal_newton`). Only budgets still running
   are evaluated: they are gathered into chunks of ``CHUNK`` rows and chunks without any are
   skipped, so the slowest budget does not make every budget pay (and ``(S, CHUNK, C)`` blocks
   stay in cache, about 3x faster on CPU than one ``(S, N, C)`` pass).

Planning horizon (``horizon=H``). The response of a plan is then its incremental target over the
``H`` plan periods *and* the ``tail`` periods after them, divided by ``H`` (money per plan period)::

    spend_plan = [last L periods of actual spend, x repeated H times, 0 repeated tail times]
    spend_base = [last L periods of actual spend, 0 repeated H + tail times]
    R_sc(x)    = sum_{t >= L} (series_c(spend_plan) - series_c(spend_base))[s, t] / H

using :func:`mmmjax.insights.series_response` (adstock, then saturation). Carryover *into* the
plan from recent spend (which saturates the plan's effect) and carryover *after* it are both
counted; with the baseline "no spend in the window", ``R -> `` the steady state as ``H`` grows.
Carryover decays to levels where float32 second derivatives of a Hill curve overflow, so
adstocked levels below :data:`LEVEL_FLOOR` count as no media. Adstock is linear, so the
adstocked levels of ``spend_plan`` after the data are ``carry + x * unit`` (:class:`Horizon`:
the carry-in's levels and those of one unit of ``x``, computed once per call): an evaluation is
only the saturation of ``H + tail`` periods, with no scan over time.

Schedules (``periods=N``): the ``N`` periods after the data, spend per period and channel,
``total_budget`` over all of them; see :mod:`mmmjax.schedule`.

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
import optax
import pandas as pd

from mmmjax import programs
from mmmjax.insights import (
    INTERVAL,
    ResponseParams,
    interval,
    adstocked_levels,
    level_response,
    response_params,
    steady_state_response,
)
from mmmjax.programs import device_array
from mmmjax.target import TargetBudget, budget_source, find_budget, marginal_return, search_range

__all__ = [
    "BY",
    "OBJECTIVES",
    "BudgetVariables",
    "GeoSplit",
    "Plan",
    "budget_frontier",
    "budget_variables",
    "optimize_budget",
    "parse_bounds",
    "plan_to_records",
    "plot_frontier",
    "project_capped_simplex",
]

OBJECTIVES = ("mean", "mean_minus_std", "cvar")
#: What a budget is split over: channels ("national") or geo x channel cells ("geo").
BY = ("national", "geo")

#: Number of times a program of the solver's stages was built in this process: traced, or
#: loaded from the program store instead (:func:`mmmjax.programs.cached_jit`); tests assert that
#: calls of the same shapes build nothing.
TRACE_COUNT = {"solve": 0}


def _f32(a: Any) -> jax.Array:
    """``a`` as a float32 device array, converted in NumPy (no eager JAX op to compile)."""
    return device_array(a, np.float32)


def _count_load() -> None:
    TRACE_COUNT["solve"] += 1


def _stage(name: str, static_argnums: tuple[int, ...] = ()) -> Callable[[Callable], Callable]:
    """Decorator: a solver stage compiled once per machine, not once per process:
    ``jax.jit`` through the program store (:func:`mmmjax.programs.cached_jit`, keyed by the
    static arguments: the model specification's ``to_dict()``, horizon, tail, objective), so a
    planning script's first call in a new process loads the stage instead of tracing it."""
    return lambda fun: programs.cached_jit(f"optimize-{name}", fun, static_argnums,
                                           on_load=_count_load)  # fmt: skip


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
    k = jnp.clip(jnp.searchsorted(-sums, -total, method="compare_all"), 1, bps.shape[0] - 1)
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


def _cvar(t: jax.Array, k: int) -> jax.Array:
    """Mean of the ``k`` smallest entries of ``t (..., S)``."""
    return -jax.lax.top_k(-t, k)[0].mean(-1)


#: Bisection steps for the smoothed CVaR's ``eta`` (bracket ``80 tau`` wide: resolution
#: ``80 tau / 2**30``, below float32 rounding).
ETA_STEPS = 30


def smooth_cvar(t: jax.Array, k: int, tau: jax.Array) -> jax.Array:
    r"""Smoothed mean of the ``k`` worst draws (Rockafellar-Uryasev form, softplus for ``max``)::

        CVaR(t)     = max_eta  eta - (1/k) sum_s max(eta - t_s, 0)
        CVaR_tau(t) = max_eta  eta - (tau/k) sum_s softplus((eta - t_s) / tau)

    ``CVaR - (S/k) tau log 2 <= CVaR_tau <= CVaR``; its gradient is the weights
    ``w_s = sigmoid((eta* - t_s) / tau) / k`` (``sum w = 1``, ``0 <= w <= 1/k``; envelope
    theorem, so ``eta*`` is held fixed under differentiation), smooth where the exact form has a
    kink whenever two draws swap rank. ``eta*`` solves ``sum_s sigmoid((eta - t_s)/tau) = k``
    by bisection on ``[t_(k) - 40 tau, t_(k) + 40 tau]`` (``t_(k)`` the k-th smallest).

    Args:
      t: ``(S,)`` per-draw totals (money). k: number of worst draws. tau: ``> 0``, money.
    """
    t_k = -jax.lax.top_k(-t, k)[0][-1]

    def bisect(_, ab):
        a, b = ab
        m = 0.5 * (a + b)
        over = jax.nn.sigmoid((m - t) / tau).sum() > k
        return jnp.where(over, a, m), jnp.where(over, m, b)

    a, b = jax.lax.fori_loop(0, ETA_STEPS, bisect, (t_k - 40 * tau, t_k + 40 * tau))
    eta = jax.lax.stop_gradient(0.5 * (a + b))
    return eta - tau / k * jax.nn.softplus((eta - t) / tau).sum()


def _objective(name: str, risk: jax.Array, k: int) -> Callable[..., jax.Array]:
    """``phi(t (S,), tau) -> Phi``; ``tau`` (money) only smooths "cvar" (:func:`smooth_cvar`)."""
    if name == "mean":
        return lambda t, tau: t.mean()
    if name == "mean_minus_std":
        return lambda t, tau: t.mean() - risk * _std(t)
    return lambda t, tau: smooth_cvar(t, k, tau)


# ----------------------------------------------------------------------------------------------
# responses and their per-channel derivatives
# ----------------------------------------------------------------------------------------------
#: Adstocked levels (scaled spend) below this count as no media in the horizon response. The
#: carryover after a plan decays like ``alpha**t``; past ``1e-19`` float32 forward-mode second
#: derivatives of a Hill curve are ``0 * inf = NaN`` (``x**-2`` overflows), which poisoned the
#: tabulated curvature. At ``1e-15`` they stay finite, and a floored period's saturation
#: changes by at most ``(1e-15 / K)**slope`` (``3e-7`` at ``K = 0.1``, slope 0.5).
LEVEL_FLOOR = 1e-15


@programs.serializable
class Horizon(NamedTuple):
    """Planning-horizon inputs over the ``H + tail`` periods after the data (a JAX pytree;
    :func:`horizon_inputs` builds one). Adstock is linear, so the levels of a plan are
    ``carry + x * unit`` (or ``carry + adstock(X)``) and each evaluation is only saturation.

    Attributes:
      carry: ``(S, H + tail, C)`` adstocked levels (scaled) of the data's last ``L`` periods of
        actual spend carried into those periods (no spend after the data).
      unit: ``(S, H + tail, C)`` adstocked levels per unit of money ``x`` spent as ``pattern``
        (ones: ``x`` sustained every plan period; a schedule's shape, :mod:`mmmjax.schedule`).
      base: ``(S, C)`` the window response of the carry-in alone (money), subtracted.
      weight: ``(S, H + tail)`` factor on each period's response (ones; a multiplicative
        model's forecast baseline relative to its window mean, :mod:`mmmjax.schedule`).
    """

    carry: jax.Array
    unit: jax.Array
    base: jax.Array
    weight: jax.Array


def _window(spec, params: ResponseParams, hz: Horizon, levels: jax.Array) -> jax.Array:
    """``(S, C)`` money: ``sum_t weight[s, t] * response(levels)[s, t] - base``."""
    money = level_response(spec, params, levels, floor=LEVEL_FLOOR)  # (S, H + tail, C)
    return (money * hz.weight[:, :, None]).sum(1) - hz.base


def plan_response(spec, params: ResponseParams, hz: Horizon, plan: jax.Array, tail: int):
    """``(S, C)`` money: response over the plan's ``H`` periods and ``tail`` after them to spend
    ``plan (H, C)`` (money per period) right after the data, the carry-in's own response
    ``hz.base`` removed: ``sum_t weight[s, t] * resp_c(carry + adstock([plan, 0 x tail]))[s, t]
    - base`` (the carry-in still saturates the plan's effect)."""
    C = plan.shape[-1]
    spend = jnp.concatenate([plan, jnp.zeros((tail, C), plan.dtype)])
    return _window(spec, params, hz, hz.carry + adstocked_levels(spec, params, spend))


class GeoSplit(NamedTuple):
    r"""Response provider of a geo fit planned by channel (``by="national"``): channel ``c``'s
    national spend ``x_c`` is shared out over geos as in the data, so that::

        R_sc(x_c) = sum_g R_sgc(shares[g, c] * x_c)

    with ``R_sgc`` the steady-state response of cell ``(g, c)`` (``cells``, in the national form
    over ``K = G * C`` geo-major cells, :func:`mmmjax.geo.insights.cell_response_params`).
    Still separable over channels, so the solver's derivatives stay exact."""

    cells: ResponseParams
    shares: jax.Array  # (G, C), columns sum to 1


def _split_response(spec, split: GeoSplit, x: jax.Array) -> jax.Array:
    """``x (N, C) -> (S, N, C)``: national spend shared out over geos, summed back."""
    G, C = split.shares.shape
    cells = (x[..., None, :] * split.shares).reshape(*x.shape[:-1], G * C)
    r = steady_state_response(spec, split.cells, cells)  # (S, N, G * C)
    return r.reshape(*r.shape[:-1], G, C).sum(-2)


def _response_fn(spec, params, horizon: int | None, tail: int, hz: Horizon | None):
    """``x (N, K) -> (S, N, K)`` response per draw, allocation and variable (a channel, or a geo x
    channel cell), money per period. ``params``: a :class:`~mmmjax.insights.ResponseParams` (one
    column per variable) or a :class:`GeoSplit` (steady state only)."""
    if isinstance(params, GeoSplit):
        return lambda x: _split_response(spec, params, x)
    if horizon is None:
        return lambda x: steady_state_response(spec, params, x)

    def f(x):
        return _window(spec, params, hz, hz.carry + x * hz.unit) / horizon

    return jax.vmap(f, out_axes=1)


def _jet(f: Callable, x: jax.Array, order: int) -> tuple[jax.Array, ...]:
    """``R, R'(, R'')`` per draw, allocation and channel; exact because channels do not interact
    (one forward-mode pass with a tangent of ones gives every channel's own derivative)."""
    ones = jnp.ones_like(x)
    if order == 1:
        return jax.jvp(f, (x,), (ones,))
    (r, r1), (_, r2) = jax.jvp(lambda z: jax.jvp(f, (z,), (ones,)), (x,), (ones,))
    return r, r1, r2


class Eval(NamedTuple):
    """The loss ``-Phi`` at shares ``z (N, C)`` of the budgets and its derivatives in ``z``."""

    value: jax.Array  # (N,) loss -Phi
    grad: jax.Array  # (N, C) d loss / d z
    curv: jax.Array  # (N, C) d2 loss / d z_c^2 (Hessian diagonal; >= 0 where Phi is concave)
    totals: Any = ()  # (N, S) per-draw total response (evaluations over the draws only)
    #: (N,) for a smoothed objective ("cvar"): ``w . T - Phi_exact >= 0`` for the weights ``w``
    #: whose ``sum_s w_s grad T_s`` is ``-grad`` (see :func:`projected_diagonal_newton`'s
    #: ``gap_tol``)
    slack: Any = ()
    #: (N, C) for "cvar": the loss gradient with the exact weights (``1/k`` on the ``k`` worst
    #: draws), a second certificate candidate with slack 0
    exact_grad: Any = ()


def _exact_eval(f, phi, objective: str, k: int, tab_curv: Callable, z, rows) -> Eval:
    """The loss over all posterior draws at shares ``z (N, C)`` of ``budget (N,)`` (``rows =
    (budget, tau)``, ``tau (N,)`` the "cvar" smoothing), all budgets in one ``(S, N, C)``
    evaluation. For "mean" the Hessian diagonal (only the metric of the step) is taken from the
    tabulated curves (``tab_curv``), saving the second-order pass. For "cvar" the loss is the
    smoothed CVaR (:func:`smooth_cvar`) and ``slack`` its weights' distance from the exact one."""
    budget, tau = rows
    b = budget[:, None]
    if objective == "mean":
        r, r1 = _jet(f, z * b, 1)
        t = r.sum(-1).T  # (N, S)
        return Eval(-t.mean(-1), -r1.mean(0) * b, tab_curv(z, rows), t)
    r, r1, r2 = _jet(f, z * b, 2)
    t = r.sum(-1).T
    value, w = jax.vmap(jax.value_and_grad(phi))(t, tau)  # (N,), (N, S)
    grad = jnp.einsum("ns,snc->nc", w, r1)
    hess = jnp.einsum("ns,snc->nc", w, r2)
    slack = exact_grad = ()
    if objective == "mean_minus_std":  # the objective's own curvature across draws
        hvp = lambda tn, v: v @ jax.jvp(lambda u: jax.grad(phi)(u, 0.0), (tn,), (v,))[1]  # noqa: E731
        per_channel = jax.vmap(hvp, in_axes=(None, 1))  # over channels
        hess = hess + jax.vmap(per_channel, in_axes=(0, 1))(t, r1)  # over budgets
    if objective == "cvar":
        # across draws, eta held: d w_s / d t_s = -k w_s (1/k - w_s) / tau (at least the true
        # curvature of the smoothed form, whose eta moves too: a conservative metric)
        h_t = -k * w * (1.0 / k - w) / tau[:, None]  # (N, S)
        hess = hess + jnp.einsum("ns,snc->nc", h_t, r1**2)
        # >= 0 but for float32 rounding
        slack = jnp.maximum((w * t).sum(-1) / w.sum(-1) - _cvar(t, k), 0.0)
        worst = jax.lax.top_k(-t, k)[1]  # (N, k)
        w_exact = jnp.zeros_like(t).at[jnp.arange(t.shape[0])[:, None], worst].set(1.0 / k)
        exact_grad = -jnp.einsum("ns,snc->nc", w_exact, r1) * b
    return Eval(-value, -grad * b, -hess * b**2, t, slack, exact_grad)


#: Rows (budgets) per chunk when only the budgets still running are evaluated.
CHUNK = 8


def _active_rows(eval_rows: Callable, rows: Any) -> Callable:
    """``value_fn(z, active=None)`` from ``eval_rows(z, rows)`` (``rows``: arrays ``(N, ...)``,
    e.g. the budgets): with ``active``, the running rows are gathered to the front and evaluated
    in chunks of ``CHUNK``, chunks with none of them skipped (``lax.cond``), so the cost follows
    the budgets still running, not all of them."""
    N = jax.tree.leaves(rows)[0].shape[0]
    chunk = min(CHUNK, N)
    n_chunks = -(-N // chunk)

    def value_fn(z, active=None):
        if active is None or n_chunks == 1:
            return eval_rows(z, rows)
        order = jnp.argsort(~active, stable=True)  # running rows first
        idx = jnp.concatenate([order, jnp.full(n_chunks * chunk - N, order[-1])])
        idx = idx.reshape(n_chunks, chunk)
        take = lambda i: jax.tree.map(lambda a: a[i], rows)  # noqa: E731
        shape = jax.eval_shape(eval_rows, z[idx[0]], take(idx[0]))
        skip = lambda zc, bc: jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shape)  # noqa: E731

        def one(args):
            k, i = args
            run = k * chunk < active.sum()
            return jax.lax.cond(run, eval_rows, skip, z[i], take(i))

        out = jax.lax.map(one, (jnp.arange(n_chunks), idx))
        back = jnp.argsort(order)  # row n of the result is at position back[n]
        return jax.tree.map(lambda a: a.reshape((-1, *a.shape[2:]))[back], out)

    return value_fn


# ----------------------------------------------------------------------------------------------
# the optimiser: an optax GradientTransformation (pure init/update, NamedTuple state)
# ----------------------------------------------------------------------------------------------
class DiagonalNewtonState(NamedTuple):
    """State of :func:`projected_diagonal_newton`, one entry per problem (row): the evaluation at
    the current iterate (reused by the next update, as optax's line searches keep ``value`` and
    ``grad``), the damping ``mu``, the update count, whether the stopping rule holds
    (``converged``) and whether the row has stopped (converged, or the damping reached
    ``MU_MAX``, or the evaluation at the start was not finite)."""

    ev: Eval
    mu: jax.Array  # (N,)
    count: jax.Array  # (N,)
    converged: jax.Array  # (N,)
    stopped: jax.Array  # (N,)


MU_INIT, MU_WARM, MU_MIN, MU_MAX = 100.0, 1e-2, 1e-6, 1e8
#: First-order KKT check: a projected gradient step of KKT_PROBE (in shares, per unit of
#: relative marginal return) must move no share by more than KKT_PROBE * KKT_TOL, i.e. the
#: marginal returns of channels inside their bounds agree to KKT_TOL relative.
KKT_PROBE, KKT_TOL = 1e-3, 1e-3


def _rows(a: jax.Array, like: jax.Array) -> jax.Array:
    """``(N,)`` per-row values broadcast against ``like (N, ...)``."""
    return a.reshape(a.shape + (1,) * (like.ndim - a.ndim))


def projected_diagonal_newton(
    value_fn: Callable[[jax.Array], Eval],
    lo: jax.Array,
    hi: jax.Array,
    total: jax.Array | float = 1.0,
    *,
    tol: jax.Array | float = 1e-6,
    mu_init: jax.Array | float = MU_INIT,
    gap_tol: jax.Array | float | None = None,
    step: Callable | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Projected, damped diagonal-Newton descent on ``{sum_c z_c = total, lo <= z <= hi}``.

    An ``optax.GradientTransformation`` over a batch of independent problems (``params``
    ``(N, C)``: one row per problem): ``update(grads, state, params)`` maps the loss gradient at
    ``params`` to the update ``z_new - params``, to apply with ``optax.apply_updates``::

        d      = 1 / (max(curv, 0) + mu * mean|g|)                       (diagonal metric)
        z_new  = argmin_{feasible y} sum_c (y_c - z_c + d_c g_c)^2 / d_c  (exact projection)
        accept if loss(z_new) <= loss(z): mu <- mu / 3;  else update 0 and mu <- 4 mu

    i.e. a Levenberg-Marquardt-damped scaled gradient projection: ``mu`` interpolates between
    Newton's step on the Hessian diagonal (``mu -> 0``) and a short gradient step. ``value_fn(z)
    -> Eval`` gives the loss, gradient and Hessian diagonal of every row. The state keeps the
    evaluation at the current iterate, so each update costs one evaluation (of the candidate);
    as in optax's line searches, ``init`` leaves it empty (value ``+inf``) and the first update
    only evaluates ``params`` (update 0, not counted in ``state.count``), which keeps a single copy
    of ``value_fn`` in a compiled loop. ``state.converged`` holds only at a point whose loss,
    gradient and Hessian diagonal are all finite and whose undamped Newton step (``mu = MU_MIN``,
    a KKT residual in the Newton metric) moves no coordinate by more than ``tol``: at the start,
    or after an accepted update that lowered the loss by at most ``tol`` relative. A row stops
    when it converges, when ``mu`` reaches ``MU_MAX`` (no measurable descent: converged only if
    that point is stationary) or when its first evaluation is not finite (not converged); the
    caller's iteration cap ends the rest, not converged. A candidate whose evaluation is not
    finite is rejected like one that raises the loss.

    With ``gap_tol`` the loss is a smoothing of a non-smooth objective ``L`` (``Eval.slack``
    set): ``-grad = sum_s w_s grad T_s`` for weights ``w`` with ``slack = w . T - Phi >= 0``
    (``Phi = -L``, concave in ``T``), an ``slack``-supergradient of ``Phi`` (and, if given,
    ``-exact_grad`` a 0-supergradient: the smaller certificate counts). Then for every
    feasible ``y`` (``T`` concave; locally otherwise) ``Phi(y) <= Phi(z) + slack + FW`` with
    ``FW = max_{feasible y} -grad . (y - z)`` (the Frank-Wolfe gap, exact by filling channels
    in order of marginal return), and a row converges, and stops, once
    ``slack + FW <= gap_tol * |loss|``: a certificate on the exact objective, however the point
    was reached; a row that is stationary on the smoothed loss stops without that claim.

    Args:
      value_fn: ``z (N, C) -> Eval`` with ``value (N,)``, ``grad`` and ``curv`` ``(N, C)``.
      lo, hi: ``(N, C)`` bounds; total: ``(N,)`` or scalar, ``sum lo <= total <= sum hi``.
      tol: stopping tolerance (absolute on ``z``, relative on the loss).
      mu_init: initial damping relative to ``mean|g|`` (large: short first steps; small:
        Newton), scalar or ``(N,)``.
      gap_tol: relative optimality-gap tolerance for a smoothed loss (see above), or ``None``.
      step: ``(grad, curv, params, mu) -> update`` (feasible: ``params + update`` in the set)
        in place of the diagonal-Newton step, for a ``value_fn`` whose ``Eval.curv`` is another
        metric (a block-diagonal Hessian, :mod:`mmmjax.schedule`); accept/reject, damping and
        the stopping rule stay as above, with ``step`` at ``mu = MU_MIN`` as the Newton step.

      ``update`` also takes ``active`` (``(N,)`` bool, optional), passed on to ``value_fn(z,
      active)``, which may skip rows that are not active (their results are then unused).

    Returns:
      ``optax.GradientTransformationExtraArgs`` whose state is a :class:`DiagonalNewtonState`.

    Example:
      >>> tx = projected_diagonal_newton(value_fn, lo, hi, 1.0, tol=1e-6)
      >>> state = tx.init(z)
      >>> updates, state = tx.update(state.ev.grad, state, z)
      >>> z = optax.apply_updates(z, updates)
    """
    total = jnp.broadcast_to(jnp.asarray(total, lo.dtype), lo.shape[:-1])
    project = jax.vmap(project_capped_simplex)

    def newton_step(g, curv, params, mu):
        tiny = jnp.finfo(g.dtype).tiny
        scale = jnp.mean(jnp.abs(g), -1, keepdims=True) + tiny
        d = 1.0 / (jnp.maximum(curv, 0.0) + _rows(mu, g) * scale)
        return project(params - d * g, lo, hi, total, d) - params

    newton_step = newton_step if step is None else step

    def finite(ev: Eval):
        curv = ev.curv.reshape((*ev.value.shape, -1))
        ok = jnp.isfinite(ev.value) & jnp.all(jnp.isfinite(curv), -1)
        return ok & jnp.all(jnp.isfinite(ev.grad), -1)

    def stationary(ev: Eval, params):  # finite, and the undamped Newton step would move nothing
        step = newton_step(ev.grad, ev.curv, params, jnp.full(params.shape[:-1], MU_MIN))
        return finite(ev) & (jnp.max(jnp.abs(step), -1) <= tol)

    def first_order_kkt(ev: Eval, params):  # marginal returns equal to KKT_TOL (relative)
        scale = jnp.mean(jnp.abs(ev.grad), -1, keepdims=True) + jnp.finfo(ev.grad.dtype).tiny
        probe = project(params - KKT_PROBE * ev.grad / scale, lo, hi, total, None) - params
        return finite(ev) & (jnp.max(jnp.abs(probe), -1) <= KKT_PROBE * KKT_TOL)

    def fw_gap(grad, params):  # max over the feasible set of -grad . (y - params)
        ascent = -grad
        order = jnp.argsort(-ascent, -1)  # fill the best marginal returns first
        take = lambda a: jnp.take_along_axis(a, order, -1)  # noqa: E731
        lo_o, cap = take(lo), take(hi - lo)
        spare = (total - lo.sum(-1))[..., None]
        fill = jnp.clip(spare - (jnp.cumsum(cap, -1) - cap), 0.0, cap)
        return jnp.sum(take(ascent) * (lo_o + fill - take(params)), -1)

    def certified(ev: Eval, params):  # slack-supergradient with a small Frank-Wolfe gap
        gap = ev.slack + jnp.maximum(fw_gap(ev.grad, params), 0.0)
        if not isinstance(ev.exact_grad, tuple):  # the exact weights, slack 0
            gap = jnp.minimum(gap, jnp.maximum(fw_gap(ev.exact_grad, params), 0.0))
        return finite(ev) & jnp.isfinite(gap) & (gap <= gap_tol * jnp.abs(ev.value))

    def init_fn(params):
        # nothing evaluated yet (value +inf): the first update evaluates params itself
        shape = jax.eval_shape(value_fn, params)
        ev = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shape)
        ev = ev._replace(value=jnp.full_like(ev.value, jnp.inf))
        n = params.shape[:-1]
        mu = jnp.broadcast_to(jnp.asarray(mu_init, params.dtype), n)
        no = jnp.zeros(n, bool)
        return DiagonalNewtonState(ev, mu, jnp.zeros(n, jnp.int32), no, no)

    def update_fn(updates, state, params=None, *, active=None, **extra_args):
        del extra_args
        if params is None:
            raise ValueError("projected_diagonal_newton needs params")
        fresh = jnp.isinf(state.ev.value)  # not evaluated yet: evaluate params, do not move
        step = newton_step(updates, state.ev.curv, params, state.mu)
        step = jnp.where(_rows(fresh, step), 0.0, step)
        z_new = params + step
        ev_new = value_fn(z_new) if active is None else value_fn(z_new, active)
        old = state.ev.value
        eps, tiny = jnp.finfo(old.dtype).eps, jnp.finfo(old.dtype).tiny
        ok_new = finite(ev_new)
        lower = ev_new.value <= old + 8 * eps * jnp.abs(old)  # float32 noise
        accept = fresh | (ok_new & lower)
        gain = jnp.where(fresh, 0.0, (old - ev_new.value) / (jnp.abs(old) + tiny))
        mu = jnp.where(accept, jnp.maximum(state.mu / 3.0, MU_MIN), state.mu * 4.0)
        ev = jax.tree.map(lambda a, b: jnp.where(_rows(accept, a), a, b), ev_new, state.ev)
        z_kept = jnp.where(_rows(accept, z_new), z_new, params)
        # a KKT point: the undamped Newton step is below tol (where the curvature is zero, as
        # at an S-curve's inflection, float32 cannot measure that: then, once steps no longer
        # move or the damping is at its limit, the marginal returns must agree to KKT_TOL)
        newton = stationary(ev, z_kept) & (fresh | (accept & (gain <= tol)) | (mu >= MU_MAX))
        still = (accept & (jnp.max(jnp.abs(step), -1) <= tol) & (gain <= tol)) | (mu >= MU_MAX)
        converged = newton | (still & first_order_kkt(ev, z_kept))
        stalled = (mu >= MU_MAX) | (fresh & ~ok_new)
        if gap_tol is not None:  # stationary on the smoothing: stop; converged if certified
            stalled, converged = stalled | converged, certified(ev, z_kept)
        new_state = DiagonalNewtonState(
            ev=ev,
            mu=jnp.where(fresh, state.mu, mu),
            count=state.count + (~fresh),
            converged=converged,
            stopped=converged | stalled,
        )
        return jnp.where(_rows(accept, step), step, 0.0), new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def _run(tx: optax.GradientTransformationExtraArgs, z0: jax.Array, max_iter, mask=False) -> tuple:
    """Drive ``tx`` from ``z0 (N, C)`` in one ``lax.while_loop``; a row stops (its iterate and
    state frozen by a mask) once converged or after ``max_iter`` updates, the loop when all have.
    With ``mask`` the mask of rows still running is passed on to the evaluation (``active``)."""

    def active(state):
        fresh = jnp.isinf(state.ev.value) & (state.count == 0)  # params not evaluated yet
        return (~state.stopped) & ((state.count < max_iter) | fresh)

    def body(carry):
        z, state = carry
        on = active(state)
        updates, new = tx.update(state.ev.grad, state, z, active=on if mask else None)
        keep = lambda a, b: jnp.where(_rows(on, a), a, b)  # noqa: E731
        return keep(optax.apply_updates(z, updates), z), jax.tree.map(keep, new, state)

    return jax.lax.while_loop(lambda c: jnp.any(active(c[1])), body, (z0, tx.init(z0)))


# ----------------------------------------------------------------------------------------------
# the "mean" objective is separable: tabulated posterior-mean curves give a global warm start
# ----------------------------------------------------------------------------------------------
#: Levels per channel evaluated over all draws (one batched call), and budget steps of the grid
#: for the dynamic programme on their interpolant.
NODES, GRID = 64, 256


@programs.serializable
class Table(NamedTuple):
    """Posterior-mean response of every channel and its first two derivatives at ``NODES + 1``
    levels ``lo + width * (i / NODES)**2`` (denser near ``lo``, where curves bend most)."""

    lo: jax.Array  # (C,)
    width: jax.Array  # (C,)
    f: jax.Array  # (NODES + 1, C)
    df: jax.Array  # (NODES + 1, C)
    d2f: jax.Array  # (NODES + 1, C)


def _by_chunks(fn: Callable, x: jax.Array) -> Any:
    """``fn`` over the rows of ``x (N, ...)`` in chunks of ``CHUNK`` rows (``lax.map``): the
    ``(S, CHUNK, C)`` intermediates of a response stay in cache, about 3x faster on CPU than one
    ``(S, N, C)`` pass, and memory stays flat for long horizons."""
    N = x.shape[0]
    n = -(-N // CHUNK)
    pad = jnp.broadcast_to(x[-1:], (n * CHUNK - N, *x.shape[1:]))
    out = jax.lax.map(fn, jnp.concatenate([x, pad]).reshape(n, CHUNK, *x.shape[1:]))
    return jax.tree.map(lambda a: a.reshape(n * CHUNK, *a.shape[2:])[:N], out)


def _tabulate(f, lo: jax.Array, width: jax.Array) -> Table:
    """One batched evaluation of every channel's posterior-mean response, slope and curvature."""
    u = jnp.arange(NODES + 1, dtype=lo.dtype) / NODES
    levels = lo + width * u[:, None] ** 2  # (NODES + 1, C)
    mean, slope, curv = _by_chunks(lambda x: tuple(a.mean(0) for a in _jet(f, x, 2)), levels)
    return Table(lo, width, mean, slope, curv)


def _hermite(tab: Table, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Quintic Hermite interpolant of the table at ``x (..., C)`` (matching value, slope and
    curvature at the levels): value, first and second derivative in ``x``."""
    w = jnp.where(tab.width > 0, tab.width, 1.0)
    u = jnp.sqrt(jnp.clip((x - tab.lo) / w, 0.0, 1.0))
    i = jnp.clip(jnp.floor(u * NODES).astype(jnp.int32), 0, NODES - 1)
    x0 = tab.lo + w * (i / NODES) ** 2
    h = w * (2 * i + 1) / NODES**2
    c = jnp.arange(x.shape[-1])
    f0, f1 = tab.f[i, c], tab.f[i + 1, c]
    m0, m1 = tab.df[i, c] * h, tab.df[i + 1, c] * h
    c0, c1 = tab.d2f[i, c] * h**2, tab.d2f[i + 1, c] * h**2

    def p(t):
        t2, t3 = t * t, t * t * t
        return (f0 + (f1 - f0) * t3 * (10 - 15 * t + 6 * t2)
                + m0 * t * (1 - t) ** 3 * (1 + 3 * t) - m1 * t3 * (1 - t) * (4 - 3 * t)
                + c0 * t2 * (1 - t) ** 3 / 2 + c1 * t3 * (1 - t) ** 2 / 2)  # fmt: skip

    t = (x - x0) / h
    ones = jnp.ones_like(t)
    (v, v1), (_, v2) = jax.jvp(lambda s: jax.jvp(p, (s,), (ones,)), (t,), (ones,))
    fixed = tab.width <= 0
    return v, jnp.where(fixed, tab.df[0], v1 / h), jnp.where(fixed, 0.0, v2 / h**2)


def _grid_start(tab: Table, lo: jax.Array, cap: jax.Array, budgets: jax.Array) -> jax.Array:
    """Global optimum of the interpolated "mean" problem on a grid of ``GRID`` budget steps, for
    every budget at once, by dynamic programming over channels: ``V_k(b) = max_i V_{k-1}(b - i)
    + f_k(i)`` is exact on the grid, S-shaped curves included. Returns ``(N, C)`` money."""
    spare = budgets - lo.sum()  # (N,) money above the lower bounds
    step = jnp.where(spare.max() > 0, spare.max() / GRID, 1.0)
    y = jnp.arange(GRID + 1, dtype=lo.dtype)[:, None] * step
    v = _hermite(tab, lo + y)[0]  # (GRID + 1, C)
    v = jnp.where(y <= cap - lo + 1e-6 * step, v, -jnp.inf)
    b, i = jnp.arange(GRID + 1)[:, None], jnp.arange(GRID + 1)[None, :]

    def add_channel(V, vk):
        m = jnp.where(i <= b, V[jnp.maximum(b - i, 0)] + vk[None, :], -jnp.inf)
        return m.max(1), m.argmax(1)

    V, choice = jax.lax.scan(add_channel, v[:, 0], v[:, 1:].T)  # choice (C - 1, GRID + 1)
    top = jnp.max(jnp.where(jnp.isfinite(V), jnp.arange(GRID + 1), 0))
    start = jnp.clip(jnp.round(spare / step).astype(jnp.int32), 0, top)

    def take_back(rest, a):
        k = a[rest]
        return rest - k, k

    rest, picked = jax.lax.scan(take_back, start, choice[::-1])  # picked (C - 1, N), reversed
    return lo + jnp.concatenate([rest[None], picked[::-1]]).T * step


# ----------------------------------------------------------------------------------------------
# the whole solve, all budgets at once
# ----------------------------------------------------------------------------------------------
@programs.serializable
class Solution(NamedTuple):
    x: jax.Array  # (N, C) money per period
    value: jax.Array  # (N,) objective Phi
    grad: jax.Array  # (N, C) d Phi / d x (money per money)
    iterations: jax.Array  # (N,) updates over all draws
    converged: jax.Array  # (N,)
    totals: jax.Array  # (N, S) per-draw total response at x


# The solve is three compiled stages (every budget at once in each), split so that a stage is
# compiled once per what it depends on: the table per response (horizon), the warm start per
# shape only (shared by every objective and horizon), the solve over the draws per objective.
@_stage("table", static_argnums=(0, 1, 2))
def _table(spec, horizon, tail, params, hz, lo, hi, budget) -> Table:
    """1. Every channel's posterior-mean curve on ``[lo, min(hi, spare budget)]`` (one batched
    evaluation over all draws)."""
    TRACE_COUNT["solve"] += 1  # runs only while tracing
    f = _response_fn(spec, params, horizon, tail, hz)
    top = jnp.minimum(hi.max(0), lo + jnp.maximum(budget.max() - lo.sum(), 0.0))
    return _tabulate(f, lo, top - lo)


def _tab_eval(tab: Table, z: jax.Array, budget: jax.Array) -> Eval:
    """The "mean" loss on the interpolated curves at shares ``z (N, C)`` of ``budget (N,)``."""
    b = budget[:, None]
    p, p1, p2 = _hermite(tab, z * b)
    return Eval(-p.sum(-1), -p1 * b, -p2 * b**2)


@_stage("warm-start")
def _warm_start(tab: Table, lo, hi, budget, max_iter, tol) -> jax.Array:
    """2. The global optimum of the tabulated "mean" problem on a grid (dynamic programme), then
    3. refined on the interpolated curves (``projected_diagonal_newton``, ``O(C)`` per update).
    Returns shares ``(N, C)`` of the budgets."""
    TRACE_COUNT["solve"] += 1
    b = budget[:, None]
    lo_z, hi_z = jnp.broadcast_to(lo, hi.shape) / b, hi / b
    z0 = jax.vmap(project_capped_simplex, (0, 0, 0, None))(
        _grid_start(tab, lo, hi.max(0), budget) / b, lo_z, hi_z, 1.0
    )
    tx = projected_diagonal_newton(lambda z: _tab_eval(tab, z, budget), lo_z, hi_z, tol=tol,
                                   mu_init=MU_WARM)  # fmt: skip
    return _run(tx, z0, max_iter)[0]


#: "cvar" is solved on :func:`smooth_cvar` with ``tau = TAU_STAGES[i] * |CVaR|`` at each start,
#: in turn, and converged once the certified optimality gap on the exact CVaR (``slack`` +
#: Frank-Wolfe gap, see :func:`projected_diagonal_newton`) is at most ``max(tol, GAP_TOL)``
#: relative (float32 sums over the draws resolve about 1e-6).
TAU_STAGES, GAP_TOL = (1e-2, 1e-3, 1e-4), 1e-5
#: A stage stops (uncertified) once stationary to ``max(tol, STAGE_TOL * tau / |CVaR|)``.
STAGE_TOL = 1e-2


@_stage("solve-draws", static_argnums=(0, 1, 2, 3, 4))
def _solve_draws(spec, objective, k, horizon, tail, params, hz, risk, tab, lo, hi, budget, z0,
                 current, max_iter, tol) -> Solution:  # fmt: skip
    """4. ``projected_diagonal_newton`` on the objective over all draws from ``z0`` until its
    stopping rule holds (for "mean" from the warm start usually at once or after one update).

    "mean_minus_std" and "cvar" are not separable and can have several local optima (S-shaped
    curves switch channels on and off): they are solved from three starts per budget, the
    "mean" optimum, the current split and the equal split (with short first steps), and the
    best result is kept. "cvar" is solved on :func:`smooth_cvar` with temperatures
    ``TAU_STAGES * |CVaR at the start|``, each stage from where the last stopped (one compiled
    loop, ``lax.scan`` over the stages), until the exact CVaR's certificate holds (see
    :func:`projected_diagonal_newton`); ``max_iter`` caps the updates of all stages together.
    """
    TRACE_COUNT["solve"] += 1
    f = _response_fn(spec, params, horizon, tail, hz)
    phi = _objective(objective, risk, k)
    N = budget.shape[0]
    hi = jnp.broadcast_to(hi, (N, lo.shape[-1]))
    lo = jnp.broadcast_to(lo, hi.shape)
    mu = jnp.full(N, MU_WARM)
    n_starts = 1
    if objective != "mean":
        to_z = jax.vmap(project_capped_simplex, (0, 0, 0, None))
        b1, lo_z, hi_z = budget[:, None], lo / budget[:, None], hi / budget[:, None]
        z_cur = to_z(current / b1, lo_z, hi_z, 1.0)
        z_eq = to_z(jnp.full_like(lo_z, 1.0 / lo.shape[-1]), lo_z, hi_z, 1.0)
        n_starts = 3
        budget, lo, hi = (jnp.concatenate([a] * n_starts) for a in (budget, lo, hi))
        z0 = jnp.concatenate([z0, z_cur, z_eq])
        mu = jnp.concatenate([mu, jnp.full(2 * N, MU_INIT)])
    b = budget[:, None]
    tab_curv = lambda z, rows: _tab_eval(tab, z, rows[0]).curv  # noqa: E731
    eval_rows = functools.partial(_exact_eval, f, phi, objective, k, tab_curv)

    def solve(z_start, tau, mu_start, cap, gap_tol=None, tol=tol):
        exact = _active_rows(eval_rows, (budget, tau))
        tx = projected_diagonal_newton(exact, lo / b, hi / b, tol=tol, mu_init=mu_start,
                                       gap_tol=gap_tol)  # fmt: skip
        return _run(tx, z_start, cap, mask=True)

    if objective != "cvar":
        z, state = solve(z0, jnp.zeros_like(budget), mu, max_iter)
        value, count = -state.ev.value, state.count
    else:  # smoothing on the scale of each start's CVaR, sharper at each stage
        t0 = _by_chunks(lambda zb: f(zb[:, :-1] * zb[:, -1:]).sum(-1).T,
                        jnp.concatenate([z0, b], 1))  # fmt: skip
        scale = jnp.abs(_cvar(t0, k)) + jnp.finfo(budget.dtype).tiny
        gap_tol = jnp.maximum(tol, GAP_TOL)

        def stage(carry, tau_rel):
            z, done, count, first, _ = carry
            mu_start = jnp.where(first, mu, MU_WARM)
            # certified rows are only evaluated again; max_iter caps all stages together
            cap = jnp.where(done, 0, jnp.maximum(max_iter - count, 0))
            # a smooth stage only prepares the next: stationary to STAGE_TOL * tau_rel
            stage_tol = jnp.maximum(tol, STAGE_TOL * tau_rel)
            z_new, st = solve(z, tau_rel * scale, mu_start, cap, gap_tol, stage_tol)
            st = st._replace(converged=st.converged | done)
            z_new = jnp.where(_rows(done, z), z, z_new)
            return (z_new, st.converged, count + st.count, jnp.zeros_like(first), st.ev), None

        N2 = budget.shape[0]
        ev0 = jax.eval_shape(lambda z: _active_rows(eval_rows, (budget, scale))(z), z0)
        ev0 = jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), ev0)
        carry = (z0, jnp.zeros(N2, bool), jnp.zeros(N2, jnp.int32), jnp.ones(N2, bool), ev0)
        (z, converged, count, _, ev), _ = jax.lax.scan(stage, carry, jnp.asarray(TAU_STAGES))
        state = DiagonalNewtonState(ev, mu, count, converged, converged)
        value = _cvar(ev.totals, k)  # exact, not smoothed
    ev = state.ev
    sol = Solution(z * b, value, -ev.grad / b, count, state.converged, ev.totals)
    if n_starts > 1:  # the best of the starts
        vals = sol.value.reshape(n_starts, N)
        best = jnp.argmax(vals, 0)  # (N,)
        pick = best * N + jnp.arange(N)
        sol = jax.tree.map(lambda a: a[pick], sol)
    return sol


@_stage("horizon-arrays", static_argnums=(0, 1))
def _horizon_arrays(spec, tail: int, params: ResponseParams, history, pattern, weight) -> Horizon:
    """:class:`Horizon` from the carry-in ``history (L, C)`` and a plan ``pattern (H, C)``."""
    (L, C), H = history.shape, pattern.shape[0]
    after = jnp.zeros((H + tail, C), history.dtype)
    carry = adstocked_levels(spec, params, jnp.concatenate([history, after]))[:, L:]
    unit = adstocked_levels(spec, params, jnp.concatenate([pattern, after[:tail]]))
    money = level_response(spec, params, carry, floor=LEVEL_FLOOR)
    base = (money * weight[:, :, None]).sum(1)
    return Horizon(carry, unit, base, weight)


@_stage("responses", static_argnums=(0, 1, 2))
def _responses(spec, horizon, tail, params, hz, x):
    """Per-draw per-channel response and marginal response at allocations ``x (N, C)``."""
    f = _response_fn(spec, params, horizon, tail, hz)
    r, r1 = _by_chunks(lambda xc: tuple(jnp.moveaxis(a, 1, 0) for a in _jet(f, xc, 1)), x)
    return jnp.moveaxis(r, 0, 1), jnp.moveaxis(r1, 0, 1)  # (S, N, C) each


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


def _check_budget(
    budget: float, lo: np.ndarray, hi: np.ndarray, channels, fixed, periods: int | None = None
) -> None:
    """``budget`` fits the bounds ``lo``/``hi`` (money per period) and the ``fixed`` spend; one
    line naming the channel otherwise. With ``periods=N`` (a schedule, :mod:`mmmjax.schedule`)
    ``budget`` is over the ``N`` periods and the sums are said per period and over them."""
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
        column per variable, or a :class:`GeoSplit` (a geo fit planned by channel).
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
      :class:`GeoSplit`); ``current_c = sum_g mean spend_gc``;
    * a geo fit, ``by="geo"``: the ``G * C`` cells ``(geo, channel)``, each with its own
      steady-state response ``R_gc`` and current spend ``mean spend_gc`` (money per period).

    Raises:
      ValueError: ``by`` not one of :data:`BY`.
    """
    if by not in BY:
        raise ValueError(f"by must be 'national' or 'geo', got {by!r}")
    from mmmjax.geo.fit import GeoFit

    if not isinstance(fit, GeoFit):
        index = pd.Index(list(fit.channels), name="channel")
        current = np.asarray(fit.scales.spend, dtype=np.float64)
        return BudgetVariables(fit.spec, response_params(fit), list(fit.channels), index, current,
                               horizon=True)  # fmt: skip
    from mmmjax.geo.insights import cell_response_params

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


def _bounds_by_name(spec: Mapping | None, index: pd.Index, what: str) -> dict | None:
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
class _Problem:
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
        budgets = np.asarray(budgets, dtype=np.float64)
        n = len(budgets)
        lo = np.broadcast_to(lo, (n, len(self.channels)))
        hi = np.minimum(np.broadcast_to(hi, lo.shape), budgets[:, None])
        pad = lambda a: np.concatenate([a, np.repeat(a[-1:], bucket(n) - n, 0)])  # noqa: E731
        lo_, hi_, budget = _f32(lo[0]), _f32(pad(hi)), _f32(pad(budgets))
        max_iter, tol = device_array(max_iter, np.int32), _f32(tol)
        response = (self.spec, self.horizon, self.tail, self.params, self.hz)
        tab = _table(*response, lo_, hi_, budget)
        z0 = _warm_start(tab, lo_, hi_, budget, max_iter, tol)
        sol = _solve_draws(self.spec, self.objective, self.k, self.horizon, self.tail,
                           self.params, self.hz, _f32(self.risk), tab, lo_, hi_, budget, z0,
                           _f32(self.current), max_iter, tol)  # fmt: skip
        # on the host: the padding rows (repeating the last budget) cut off in NumPy
        sol = jax.tree.map(lambda a: np.asarray(a)[:n], sol)
        return sol._replace(x=_polish(np.asarray(sol.x, dtype=np.float64), lo, hi, budgets))

    def responses(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r, r1 = _responses(self.spec, self.horizon, self.tail, self.params, self.hz,
                           device_array(x, np.float32))  # fmt: skip
        return np.asarray(r, np.float64), np.asarray(r1, np.float64)  # (S, N, C)


def _polish(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, budget: np.ndarray) -> np.ndarray:
    """Remove float32 rounding from ``x (N, C)``: clip to the bounds and put each row's residual
    on its free channels."""
    x = np.clip(x, lo, hi)
    budget = np.asarray(budget, dtype=np.float64)[:, None]
    for _ in range(3):
        r = budget - x.sum(-1, keepdims=True)
        room = np.where(r > 0, hi - x, x - lo)
        inside = _inside(x, lo, hi, budget)
        room = np.where(inside.any(-1, keepdims=True) & ~inside, 0.0, room)
        total = room.sum(-1, keepdims=True)
        move = (r != 0) & (total > 0)
        x = np.where(move, np.clip(x + r * room / np.where(move, total, 1.0), lo, hi), x)
    return x


def _prepare(fit, objective, risk, cvar_level, horizon, tail, by="national") -> _Problem:
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
        tail = _default_tail(fit) if tail is None else int(tail)
        if tail < 0:
            raise ValueError(f"tail must be >= 0 periods, got {tail}")
        hz = horizon_inputs(fit, params, horizon, tail)
    return _Problem(var.spec, var.names, params, var.current, objective, k, horizon, tail,
                    hz, float(risk), var.index)  # fmt: skip


def horizon_inputs(fit, params: ResponseParams, horizon: int, tail: int, pattern=None,
                   weight=None) -> Horizon:  # fmt: skip
    """The :class:`Horizon` of a national fit: the carry-in of its last ``max(tail, 1)``
    periods of spend into the ``horizon + tail`` periods after the data and its response there
    (the base); ``pattern`` ``(horizon, C)`` and ``weight`` ``(S, horizon + tail)`` default to
    ones."""
    spend = np.asarray(fit.dataset.spend, dtype=np.float64)
    history = _f32(spend[-min(len(spend), max(tail, 1)) :])
    C = history.shape[1]
    S = params.multiplier.shape[0]
    pattern = _f32(np.ones((horizon, C)) if pattern is None else pattern)
    weight = _f32(np.ones((S, horizon + tail)) if weight is None else weight)
    return _horizon_arrays(fit.spec, tail, params, history, pattern, weight)


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
        :mod:`mmmjax.target`.
      target: the ROI or marginal-return target (money per money), ``None`` for a given budget.
      target_value: the ROI (``expected_response / total_budget``) or marginal return at this
        plan, ``None`` for a given budget.
      budget_at_cap: the target still held at the sum of the upper bounds, so the budget is
        that cap (more budget is not allowed), not where the target binds.
      periods, schedule: for a plan of the next ``periods`` periods after the data
        (``optimize_budget(periods=N)``, :mod:`mmmjax.schedule`): ``schedule`` is a DataFrame
        of the future dates x channels, money per period; ``allocation`` (and ``lower``,
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
        posterior-mean response curve with the current (o) and optimal (*) points marked."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(12, 4.5), layout="constrained")
        ax_bar, ax_curve = fig.subplots(1, 2)
        unit = "per period" if self.periods is None else f"over {self.periods} periods"
        pos = np.arange(len(self.allocation))
        ax_bar.bar(pos - 0.2, self.current_allocation.values, 0.4, label="current")
        ax_bar.bar(pos + 0.2, self.allocation.values, 0.4, label="optimal")
        ax_bar.set_xticks(pos, self.allocation.index, rotation=30, ha="right")
        ax_bar.set_ylabel(f"spend {unit}")
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
        ax_curve.set_xlabel(f"spend {unit}")
        ax_curve.set_ylabel(f"response {unit} (posterior mean)")
        ax_curve.set_title("response curves: o current, * optimal")
        ax_curve.legend(fontsize="small")
        return fig


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


def _summary(draws: np.ndarray) -> tuple[float, tuple[float, float]]:
    mean, low, high = interval(draws)
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
    (:mod:`mmmjax.target`: a batched scan of 32 log-spaced budgets from the sum of the lower
    bounds, at least 0.1% of current total spend, to the sum of the upper bounds, or 100x
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
        :func:`budget_variables`. A national fit is one geo: both give the same plan.
      periods: ``N``, plan the ``N`` periods after the data period by period
        (:func:`mmmjax.schedule.optimize_schedule`): ``total_budget`` is then money over the
        ``N`` periods and ``Plan.schedule`` the spend per future date and channel; the response
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
        from mmmjax.schedule import optimize_schedule

        return optimize_schedule(fit, total_budget, periods, schedule, bounds, objective,
                                 fixed=fixed, risk=risk, cvar_level=cvar_level, tail=tail,
                                 max_iter=max_iter, tol=tol, by=by)  # fmt: skip
    if not (isinstance(schedule, str) and schedule == "flat"):
        raise ValueError("schedule= needs periods=N (a plan of the next N periods)")
    prob = _prepare(fit, objective, risk, cvar_level, horizon, tail, by)
    bounds = _bounds_by_name(bounds, prob.index, "bounds")
    fixed = _bounds_by_name(fixed, prob.index, "fixed")
    lo, hi = _resolve_bounds(prob.channels, prob.current, bounds, fixed)
    found: TargetBudget | None = None
    if kind == "total_budget":
        budget = float(total_budget)
    else:  # the largest budget meeting the target, then that budget's plan as usual
        found = _budget_for_target(prob, lo, hi, kind, target, max_iter, tol)
        budget = found.budget
    _check_budget(budget, lo, hi, prob.channels, fixed)
    sol = prob.solve([budget], lo, hi, max_iter, tol)
    x = sol.x[0]
    grid = np.linspace(0.0, 1.0, 60)[:, None] * (1.5 * np.maximum(x, prob.current))[None, :]
    r, r1 = prob.responses(np.concatenate([x[None], prob.current[None], grid]))  # (S, 62, C)
    curves = r[:, 2:].mean(0)
    opt, cur = r[:, 0].sum(-1), r[:, 1].sum(-1)
    idx = prob.index
    series = lambda a, name: pd.Series(a, index=idx, name=name)  # noqa: E731
    mean, interval = _summary(opt)
    cmean, cinterval = _summary(cur)
    umean, uinterval = _summary(opt - cur)
    hi_used = np.minimum(hi, budget)
    by_target = {}
    if found is not None:  # the target's metric at this plan (the same rule as the search)
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
        mroi_spread=_spread(np.asarray(sol.grad[0], np.float64), x, lo, hi_used, budget),
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


def _budget_for_target(prob, lo, hi, kind: str, target: float, max_iter, tol) -> TargetBudget:
    """The largest budget meeting ``target`` (:func:`mmmjax.target.find_budget`), each batch of
    budgets one :meth:`_Problem.solve`."""

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
      :func:`mmmjax.target.marginal_return`), ``iterations`` and ``converged``.

    Example:
      >>> frontier = mmmjax.budget_frontier(fit, np.linspace(20_000, 80_000, 61))
      >>> plot_frontier(frontier)
    """
    prob = _prepare(fit, objective, risk, cvar_level, horizon, tail, by)
    bounds = _bounds_by_name(bounds, prob.index, "bounds")
    fixed = _bounds_by_name(fixed, prob.index, "fixed")
    lo, hi = _resolve_bounds(prob.channels, prob.current, bounds, fixed)
    budgets = np.atleast_1d(np.asarray(budgets, dtype=np.float64))
    if budgets.ndim != 1 or budgets.size == 0:
        raise ValueError(f"budgets must be a non-empty 1-D sequence, got shape {budgets.shape}")
    for b in budgets:
        _check_budget(float(b), lo, hi, prob.channels, fixed)
    sol = prob.solve(budgets, lo, hi, max_iter, tol)
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
