r"""Responses of a plan and their per-channel derivatives (money per period).

Steady state: ``R_sc(x_c)`` of :func:`mmmjax.insights.steady_state_response`, or for a geo fit
planned by channel each channel's spend shared out over geos (:class:`GeoSplit`).

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

Derivatives. Channels do not interact in ``R``, so one forward-mode pass with a tangent of ones
gives every draw's per-channel ``R'_sc`` (and ``R''_sc``) at once (:func:`jet`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from mmmjax import programs
from mmmjax.insights import (
    ResponseParams,
    adstocked_levels,
    level_response,
    steady_state_response,
)
from mmmjax.optimize.stages import cached_stage, f32

__all__ = [
    "CHUNK",
    "LEVEL_FLOOR",
    "GeoSplit",
    "Horizon",
    "by_chunks",
    "channel_responses",
    "default_tail",
    "horizon_inputs",
    "jet",
    "plan_response",
    "response_fn",
    "window_response",
]

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
        (ones: ``x`` sustained every plan period; a schedule's shape,
        :mod:`mmmjax.optimize.schedule`).
      base: ``(S, C)`` the window response of the carry-in alone (money), subtracted.
      weight: ``(S, H + tail)`` factor on each period's response (ones; a multiplicative
        model's forecast baseline relative to its window mean, :mod:`mmmjax.optimize.schedule`).
    """

    carry: jax.Array
    unit: jax.Array
    base: jax.Array
    weight: jax.Array


def window_response(spec, params: ResponseParams, hz: Horizon, levels: jax.Array) -> jax.Array:
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
    return window_response(spec, params, hz, hz.carry + adstocked_levels(spec, params, spend))


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


def response_fn(spec, params, horizon: int | None, tail: int, hz: Horizon | None):
    """``x (N, K) -> (S, N, K)`` response per draw, allocation and variable (a channel, or a geo x
    channel cell), money per period. ``params``: a :class:`~mmmjax.insights.ResponseParams` (one
    column per variable) or a :class:`GeoSplit` (steady state only)."""
    if isinstance(params, GeoSplit):
        return lambda x: _split_response(spec, params, x)
    if horizon is None:
        return lambda x: steady_state_response(spec, params, x)

    def f(x):
        return window_response(spec, params, hz, hz.carry + x * hz.unit) / horizon

    return jax.vmap(f, out_axes=1)


def jet(f: Callable, x: jax.Array, order: int) -> tuple[jax.Array, ...]:
    """``R, R'(, R'')`` per draw, allocation and channel; exact because channels do not interact
    (one forward-mode pass with a tangent of ones gives every channel's own derivative)."""
    ones = jnp.ones_like(x)
    if order == 1:
        return jax.jvp(f, (x,), (ones,))
    (r, r1), (_, r2) = jax.jvp(lambda z: jax.jvp(f, (z,), (ones,)), (x,), (ones,))
    return r, r1, r2


#: Rows (budgets) per chunk when only the budgets still running are evaluated.
CHUNK = 8


def by_chunks(fn: Callable, x: jax.Array) -> Any:
    """``fn`` over the rows of ``x (N, ...)`` in chunks of ``CHUNK`` rows (``lax.map``): the
    ``(S, CHUNK, C)`` intermediates of a response stay in cache, about 3x faster on CPU than one
    ``(S, N, C)`` pass, and memory stays flat for long horizons."""
    N = x.shape[0]
    n = -(-N // CHUNK)
    pad = jnp.broadcast_to(x[-1:], (n * CHUNK - N, *x.shape[1:]))
    out = jax.lax.map(fn, jnp.concatenate([x, pad]).reshape(n, CHUNK, *x.shape[1:]))
    return jax.tree.map(lambda a: a.reshape(n * CHUNK, *a.shape[2:])[:N], out)


@cached_stage("horizon-arrays", static_argnums=(0, 1))
def _horizon_arrays(spec, tail: int, params: ResponseParams, history, pattern, weight) -> Horizon:
    """:class:`Horizon` from the carry-in ``history (L, C)`` and a plan ``pattern (H, C)``."""
    (L, C), H = history.shape, pattern.shape[0]
    after = jnp.zeros((H + tail, C), history.dtype)
    carry = adstocked_levels(spec, params, jnp.concatenate([history, after]))[:, L:]
    unit = adstocked_levels(spec, params, jnp.concatenate([pattern, after[:tail]]))
    money = level_response(spec, params, carry, floor=LEVEL_FLOOR)
    base = (money * weight[:, :, None]).sum(1)
    return Horizon(carry, unit, base, weight)


@cached_stage("responses", static_argnums=(0, 1, 2))
def channel_responses(spec, horizon, tail, params, hz, x):
    """Per-draw per-channel response and marginal response at allocations ``x (N, C)``."""
    f = response_fn(spec, params, horizon, tail, hz)
    r, r1 = by_chunks(lambda xc: tuple(jnp.moveaxis(a, 1, 0) for a in jet(f, xc, 1)), x)
    return jnp.moveaxis(r, 0, 1), jnp.moveaxis(r1, 0, 1)  # (S, N, C) each


def horizon_inputs(fit, params: ResponseParams, horizon: int, tail: int, pattern=None,
                   weight=None) -> Horizon:  # fmt: skip
    """The :class:`Horizon` of a national fit: the carry-in of its last ``max(tail, 1)``
    periods of spend into the ``horizon + tail`` periods after the data and its response there
    (the base); ``pattern`` ``(horizon, C)`` and ``weight`` ``(S, horizon + tail)`` default to
    ones."""
    spend = np.asarray(fit.dataset.spend, dtype=np.float64)
    history = f32(spend[-min(len(spend), max(tail, 1)) :])
    C = history.shape[1]
    S = params.multiplier.shape[0]
    pattern = f32(np.ones((horizon, C)) if pattern is None else pattern)
    weight = f32(np.ones((S, horizon + tail)) if weight is None else weight)
    return _horizon_arrays(fit.spec, tail, params, history, pattern, weight)


def default_tail(fit) -> int:
    """Periods after the plan that still carry its effect: ``l_max`` for finite kernels; for
    geometric adstock until ``alpha**tail < 1e-3`` for the largest posterior ``alpha`` (<= 520)."""
    spec = fit.spec
    if spec.adstock != "geometric":
        return int(spec.l_max)
    alpha = float(np.max(fit.draws()["alpha"]))
    if alpha <= 0:
        return 1
    return int(min(520, max(spec.l_max, math.ceil(math.log(1e-3) / math.log(min(alpha, 0.9999))))))
