r"""The optimiser: projected, damped diagonal Newton as an optax ``GradientTransformation``.

The update rule :func:`projected_diagonal_newton` (pure ``init``/``update``, state in the
NamedTuple :class:`DiagonalNewtonState`, hyper-parameters closed over by the factory) is applied
with ``optax.apply_updates`` inside a compiled ``lax.while_loop`` (:func:`drive`). It minimises a
loss in shares ``z = x / B`` of the budget by projected, damped diagonal-Newton steps (a
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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from mmmjax.optimize.projection import project_capped_simplex

__all__ = [
    "KKT_PROBE",
    "KKT_TOL",
    "MU_INIT",
    "MU_MAX",
    "MU_MIN",
    "MU_WARM",
    "DiagonalNewtonState",
    "Eval",
    "drive",
    "per_row",
    "projected_diagonal_newton",
]


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


def per_row(a: jax.Array, like: jax.Array) -> jax.Array:
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
        metric (a block-diagonal Hessian, :mod:`mmmjax.optimize.schedule`); accept/reject, damping
        and the stopping rule stay as above, with ``step`` at ``mu = MU_MIN`` as the Newton step.

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
        d = 1.0 / (jnp.maximum(curv, 0.0) + per_row(mu, g) * scale)
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
        step = jnp.where(per_row(fresh, step), 0.0, step)
        z_new = params + step
        ev_new = value_fn(z_new) if active is None else value_fn(z_new, active)
        old = state.ev.value
        eps, tiny = jnp.finfo(old.dtype).eps, jnp.finfo(old.dtype).tiny
        ok_new = finite(ev_new)
        lower = ev_new.value <= old + 8 * eps * jnp.abs(old)  # float32 noise
        accept = fresh | (ok_new & lower)
        gain = jnp.where(fresh, 0.0, (old - ev_new.value) / (jnp.abs(old) + tiny))
        mu = jnp.where(accept, jnp.maximum(state.mu / 3.0, MU_MIN), state.mu * 4.0)
        ev = jax.tree.map(lambda a, b: jnp.where(per_row(accept, a), a, b), ev_new, state.ev)
        z_kept = jnp.where(per_row(accept, z_new), z_new, params)
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
        return jnp.where(per_row(accept, step), step, 0.0), new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def drive(tx: optax.GradientTransformationExtraArgs, z0: jax.Array, max_iter, mask=False) -> tuple:
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
        keep = lambda a, b: jnp.where(per_row(on, a), a, b)  # noqa: E731
        return keep(optax.apply_updates(z, updates), z), jax.tree.map(keep, new, state)

    return jax.lax.while_loop(lambda c: jnp.any(active(c[1])), body, (z0, tx.init(z0)))
