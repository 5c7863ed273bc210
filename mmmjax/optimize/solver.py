r"""The solve of every budget at once, in three compiled stages (:func:`table`,
:func:`warm_start`, :func:`solve_draws`, each kept in the program store):

1. *Table*: the ``"mean"`` objective is separable, ``sum_c f_c(x_c)`` with ``f_c`` the posterior
   mean response curve. ``f_c, f_c', f_c''`` are evaluated over all draws at ``NODES + 1`` levels
   per channel in one batched call and interpolated by quintic Hermite polynomials (relative
   slope error about ``1e-5``): from here on a ``"mean"`` evaluation costs ``O(C)``, not
   ``O(S C)``.
2. *Global start*: dynamic programming over channels on a grid of ``GRID`` budget steps
   (``V_k(b) = max_i V_{k-1}(b - i) + f_k(i)``) gives the global optimum of the interpolated
   problem on the grid for every budget at once, so S-shaped curves (where a channel is either
   off or well inside its concave part) do not trap the solver in a local optimum.
3. *Refine* with :func:`~mmmjax.optimize.newton.projected_diagonal_newton` on the interpolated
   curves.
4. *Polish over all draws*: :func:`~mmmjax.optimize.newton.projected_diagonal_newton` on the
   exact objective ``Phi`` (all ``S`` draws) from there, until its stopping rule holds. For
   ``"mean"`` the warm start is usually already within ``tol`` (checked by the undamped Newton
   step over all draws: no update needed) or one update away; ``"mean_minus_std"`` and
   ``"cvar"`` (not separable, possibly several local optima) are solved from the ``"mean"``
   optimum, the current split and the equal split, and the best result is kept. ``"cvar"`` is
   non-smooth (its gradient jumps where two draws swap rank), so it is solved on a softplus
   smoothing (:func:`~mmmjax.optimize.objectives.smooth_cvar`) whose temperature shrinks over
   ``TAU_STAGES``; it counts as converged only when a certificate on the exact CVaR holds (an
   epsilon-supergradient whose Frank-Wolfe gap plus epsilon is below ``GAP_TOL`` relative, see
   :func:`~mmmjax.optimize.newton.projected_diagonal_newton`). Only budgets still running are
   evaluated: they are gathered into chunks of ``CHUNK`` rows and chunks without any are
   skipped, so the slowest budget does not make every budget pay (and ``(S, CHUNK, C)`` blocks
   stay in cache, about 3x faster on CPU than one ``(S, N, C)`` pass).

Derivatives: ``g = R'^T grad Phi`` is the exact gradient and ``grad Phi . R''_c + R'_c^T (hess
Phi) R'_c`` the exact Hessian diagonal (``R'``, ``R''`` from :func:`~mmmjax.optimize.response.jet`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from mmmjax import programs
from mmmjax.optimize.newton import (
    MU_INIT,
    MU_WARM,
    DiagonalNewtonState,
    Eval,
    drive,
    per_row,
    projected_diagonal_newton,
)
from mmmjax.optimize.objectives import cvar, objective_fn
from mmmjax.optimize.projection import project_capped_simplex
from mmmjax.optimize.response import CHUNK, by_chunks, jet, response_fn
from mmmjax.optimize.stages import TRACE_COUNT, cached_stage

__all__ = [
    "GAP_TOL",
    "GRID",
    "NODES",
    "STAGE_TOL",
    "TAU_STAGES",
    "Solution",
    "Table",
    "solve_draws",
    "table",
    "warm_start",
]


def _exact_eval(f, phi, objective: str, k: int, tab_curv: Callable, z, rows) -> Eval:
    """The loss over all posterior draws at shares ``z (N, C)`` of ``budget (N,)`` (``rows =
    (budget, tau)``, ``tau (N,)`` the "cvar" smoothing), all budgets in one ``(S, N, C)``
    evaluation. For "mean" the Hessian diagonal (only the metric of the step) is taken from the
    tabulated curves (``tab_curv``), saving the second-order pass. For "cvar" the loss is the
    smoothed CVaR (:func:`~mmmjax.optimize.objectives.smooth_cvar`) and ``slack`` its weights'
    distance from the exact one."""
    budget, tau = rows
    b = budget[:, None]
    if objective == "mean":
        r, r1 = jet(f, z * b, 1)
        t = r.sum(-1).T  # (N, S)
        return Eval(-t.mean(-1), -r1.mean(0) * b, tab_curv(z, rows), t)
    r, r1, r2 = jet(f, z * b, 2)
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
        slack = jnp.maximum((w * t).sum(-1) / w.sum(-1) - cvar(t, k), 0.0)
        worst = jax.lax.top_k(-t, k)[1]  # (N, k)
        w_exact = jnp.zeros_like(t).at[jnp.arange(t.shape[0])[:, None], worst].set(1.0 / k)
        exact_grad = -jnp.einsum("ns,snc->nc", w_exact, r1) * b
    return Eval(-value, -grad * b, -hess * b**2, t, slack, exact_grad)


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


def _tabulate(f, lo: jax.Array, width: jax.Array) -> Table:
    """One batched evaluation of every channel's posterior-mean response, slope and curvature."""
    u = jnp.arange(NODES + 1, dtype=lo.dtype) / NODES
    levels = lo + width * u[:, None] ** 2  # (NODES + 1, C)
    mean, slope, curv = by_chunks(lambda x: tuple(a.mean(0) for a in jet(f, x, 2)), levels)
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


@programs.serializable
class Solution(NamedTuple):
    """The solve of ``N`` budgets (:func:`solve_draws`), one row per budget."""

    x: jax.Array  # (N, C) money per period
    value: jax.Array  # (N,) objective Phi
    grad: jax.Array  # (N, C) d Phi / d x (money per money)
    iterations: jax.Array  # (N,) updates over all draws
    converged: jax.Array  # (N,)
    totals: jax.Array  # (N, S) per-draw total response at x


# The solve is three compiled stages (every budget at once in each), split so that a stage is
# compiled once per what it depends on: the table per response (horizon), the warm start per
# shape only (shared by every objective and horizon), the solve over the draws per objective.
@cached_stage("table", static_argnums=(0, 1, 2))
def table(spec, horizon, tail, params, hz, lo, hi, budget) -> Table:
    """1. Every channel's posterior-mean curve on ``[lo, min(hi, spare budget)]`` (one batched
    evaluation over all draws)."""
    TRACE_COUNT["solve"] += 1  # runs only while tracing
    f = response_fn(spec, params, horizon, tail, hz)
    top = jnp.minimum(hi.max(0), lo + jnp.maximum(budget.max() - lo.sum(), 0.0))
    return _tabulate(f, lo, top - lo)


def _tab_eval(tab: Table, z: jax.Array, budget: jax.Array) -> Eval:
    """The "mean" loss on the interpolated curves at shares ``z (N, C)`` of ``budget (N,)``."""
    b = budget[:, None]
    p, p1, p2 = _hermite(tab, z * b)
    return Eval(-p.sum(-1), -p1 * b, -p2 * b**2)


@cached_stage("warm-start")
def warm_start(tab: Table, lo, hi, budget, max_iter, tol) -> jax.Array:
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
    return drive(tx, z0, max_iter)[0]


#: "cvar" is solved on :func:`~mmmjax.optimize.objectives.smooth_cvar` with ``tau =
#: TAU_STAGES[i] * |CVaR|`` at each start, in turn, and converged once the certified optimality
#: gap on the exact CVaR (``slack`` + Frank-Wolfe gap, see
#: :func:`~mmmjax.optimize.newton.projected_diagonal_newton`) is at most ``max(tol, GAP_TOL)``
#: relative (float32 sums over the draws resolve about 1e-6).
TAU_STAGES, GAP_TOL = (1e-2, 1e-3, 1e-4), 1e-5
#: A stage stops (uncertified) once stationary to ``max(tol, STAGE_TOL * tau / |CVaR|)``.
STAGE_TOL = 1e-2


@cached_stage("solve-draws", static_argnums=(0, 1, 2, 3, 4))
def solve_draws(spec, objective, k, horizon, tail, params, hz, risk, tab, lo, hi, budget, z0,
                current, max_iter, tol) -> Solution:  # fmt: skip
    """4. ``projected_diagonal_newton`` on the objective over all draws from ``z0`` until its
    stopping rule holds (for "mean" from the warm start usually at once or after one update).

    "mean_minus_std" and "cvar" are not separable and can have several local optima (S-shaped
    curves switch channels on and off): they are solved from three starts per budget, the
    "mean" optimum, the current split and the equal split (with short first steps), and the
    best result is kept. "cvar" is solved on :func:`~mmmjax.optimize.objectives.smooth_cvar`
    with temperatures ``TAU_STAGES * |CVaR at the start|``, each stage from where the last
    stopped (one compiled loop, ``lax.scan`` over the stages), until the exact CVaR's
    certificate holds (see :func:`~mmmjax.optimize.newton.projected_diagonal_newton`);
    ``max_iter`` caps the updates of all stages together.
    """
    TRACE_COUNT["solve"] += 1
    f = response_fn(spec, params, horizon, tail, hz)
    phi = objective_fn(objective, risk, k)
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
        return drive(tx, z_start, cap, mask=True)

    if objective != "cvar":
        z, state = solve(z0, jnp.zeros_like(budget), mu, max_iter)
        value, count = -state.ev.value, state.count
    else:  # smoothing on the scale of each start's CVaR, sharper at each stage
        t0 = by_chunks(lambda zb: f(zb[:, :-1] * zb[:, -1:]).sum(-1).T,
                       jnp.concatenate([z0, b], 1))  # fmt: skip
        scale = jnp.abs(cvar(t0, k)) + jnp.finfo(budget.dtype).tiny
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
            z_new = jnp.where(per_row(done, z), z, z_new)
            return (z_new, st.converged, count + st.count, jnp.zeros_like(first), st.ev), None

        N2 = budget.shape[0]
        ev0 = jax.eval_shape(lambda z: _active_rows(eval_rows, (budget, scale))(z), z0)
        ev0 = jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), ev0)
        carry = (z0, jnp.zeros(N2, bool), jnp.zeros(N2, jnp.int32), jnp.ones(N2, bool), ev0)
        (z, converged, count, _, ev), _ = jax.lax.scan(stage, carry, jnp.asarray(TAU_STAGES))
        state = DiagonalNewtonState(ev, mu, count, converged, converged)
        value = cvar(ev.totals, k)  # exact, not smoothed
    ev = state.ev
    sol = Solution(z * b, value, -ev.grad / b, count, state.converged, ev.totals)
    if n_starts > 1:  # the best of the starts
        vals = sol.value.reshape(n_starts, N)
        best = jnp.argmax(vals, 0)  # (N,)
        pick = best * N + jnp.arange(N)
        sol = jax.tree.map(lambda a: a[pick], sol)
    return sol
