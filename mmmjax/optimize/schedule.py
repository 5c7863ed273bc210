r"""Period-by-period plans for the next ``N`` periods after the data: spend per date and channel.

Response of a schedule. With ``X`` the spend of the ``N`` periods after the data (``(N, C)``,
money per period), ``h`` the last ``L`` periods of actual spend (the carry-in) and ``tail``
periods after the plan whose carryover still counts (:func:`mmmjax.optimize` ``tail``)::

    plan_s  = series_c([h, X, 0 x tail])[s, t]       for t = L .. L + N + tail - 1
    base_s  = series_c([h, 0 x (N + tail)])[s, t]    (the carry-in alone)
    R_sc(X) = sum_t w_st * (plan_s - base_s)          money over the plan and its carryover

with ``series_c`` :func:`mmmjax.insights.series_response` (adstock, then saturation, per draw
``s``). The carry-in from spend already in the data is part of the baseline, not credited to
the plan (it still saturates the plan's effect); the plan's own carryover after period ``N``
counts for the plan. ``w_st`` is 1 for an additive model. In a multiplicative model a channel's
money per unit of effect is proportional to the level of everything else, so it depends on
the period: with ``K_sc`` the model's window multiplier (:mod:`mmmjax.insights`) the
multiplier of future period ``t`` is ``K_sc * w_st``::

    w_st = exp(b_s(t)) / mean_{t' in the data window} exp(b_s(t'))

where ``b_s`` is the model's own forecast of the log baseline (intercept, trend and
seasonality continued to the future dates; controls held at their mean over the last
:data:`~mmmjax.optimize.whatif.CURRENT_PERIODS` periods; no events), :func:`baseline_weight`. Over a
window like the data's it averages 1, so a flat plan over a flat baseline is the horizon plan.

Plans (:func:`optimize_schedule`, i.e. ``mmmjax.optimize_budget(fit, B, periods=N)``), ``B``
money over the ``N`` periods:

* ``schedule="flat"`` or a shape ``W`` (``(N, C)``, mean 1 per channel; flat is ``W = 1``):
  ``X = x * W`` with ``x (C,)`` the channel's average per period, ``sum_c x_c = B / N``. Still
  separable over channels, so the optimizer of :mod:`mmmjax.optimize` (tabulated global start,
  exact polish over all draws, every objective) applies unchanged; bounds are on ``x``.
* ``schedule="free"``: free flighting, every cell a variable,
  ``{sum_tc X_tc = B, lo_c <= X_tc <= hi_c}`` (per-period bounds), ``objective="mean"``. The
  periods of a channel interact through carryover, so the per-channel trick of the separable
  solver does not apply: the gradient of the posterior-mean total is taken by reverse mode, and
  the Hessian's per-channel ``N x N`` blocks (only the metric of the step) exactly by ``N``
  forward-over-reverse products with tangents ``e_t x 1_C`` (channels do not interact, so the
  product's entry ``(t', c)`` is ``H_c[t', t]``), on :data:`SUBSET` evenly spaced draws.
  :func:`~mmmjax.optimize.newton.projected_diagonal_newton` drives it from the flat optimum with
  :func:`block_newton_step` as its step (first on those draws, then on all): each update
  minimises the damped quadratic model on the capped simplex by accelerated projected gradient
  with exact projections, so the budget and bounds hold at every iterate, and only updates that
  do not lower the objective are accepted, so the result is never below the flat plan. (The
  diagonal metric alone ignores the coupling of a channel's periods through carryover: measured
  on 4000 draws x 7 channels x 13 weeks it had not converged after 200 updates, mROI spread 1%;
  the block step converges in about 5 updates over all draws.)

Edge effects, by construction of the objective: nothing is spent after the plan in this
accounting, so the last period's carryover falls on unsaturated periods and free flighting
tends to spend more in the last period (and, after heavy recent spend, less in the first ones,
whose carry-in is already high). When the plan will be followed by more spend, plan a longer
window and keep its first periods.

Figures of a schedule (shared with :func:`mmmjax.evaluate_budget`, :func:`schedule_draws`):
``R_sc`` per draw and channel, and the marginal ROI ``dR_sc / da`` of one more unit of money
``a`` spread over channel ``c``'s schedule in proportion (flat where the channel has none): one
forward-mode pass with that direction as tangent.

Example:
    >>> plan = mmmjax.optimize_budget(fit, 13 * 40_000, periods=13)        # flat
    >>> plan.schedule.round()             # 13 future dates x channels, money per period
    >>> free = mmmjax.optimize_budget(fit, 13 * 40_000, periods=13, schedule="free",
    ...                               bounds={"tv": (0, 20_000)})
    >>> mmmjax.evaluate_budget(fit, free.schedule).expected_response      # = free's
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from mmmjax.data import Dataset
from mmmjax.errors import DataError
from mmmjax.insights import ResponseParams, adstocked_levels
from mmmjax.kinds import is_panel
from mmmjax.optimize.current import CURRENT_PERIODS
from mmmjax.optimize.newton import MU_WARM, Eval, drive, projected_diagonal_newton
from mmmjax.optimize.plan import Plan, mroi_spread, summary
from mmmjax.optimize.problem import bounds_by_name, check_budget, prepare, resolve_bounds
from mmmjax.optimize.projection import polish, project_capped_simplex
from mmmjax.optimize.response import (
    Horizon,
    by_chunks,
    default_tail,
    horizon_inputs,
    plan_response,
    window_response,
)
from mmmjax.optimize.stages import TRACE_COUNT, f32
from mmmjax.programs import device_array

__all__ = [
    "SCHEDULES",
    "SUBSET",
    "ScheduleModel",
    "baseline_weight",
    "block_newton_step",
    "check_national",
    "check_periods",
    "optimize_schedule",
    "read_schedule",
    "schedule_draws",
    "schedule_model",
    "schedule_shape",
]

#: The named schedules; a shape per channel (DataFrame or mapping) is the third kind.
SCHEDULES = ("flat", "free")
#: Draws (evenly spaced) for the free-flighting solve's first stage and its curvature metric.
SUBSET = 256
#: Spend levels per channel of ``Plan.curves`` (response of the channel's schedule scaled).
CURVE_LEVELS = 40


# ----------------------------------------------------------------------------------------------
# the response model of the next N periods
# ----------------------------------------------------------------------------------------------
def check_periods(periods: Any) -> int:
    """``periods`` as a whole number of periods ``>= 1``; a one-line ``ValueError`` otherwise."""
    try:
        n = int(periods)
    except (TypeError, ValueError):
        raise ValueError(f"periods must be a whole number of periods, got {periods!r}") from None
    if n != periods or n < 1:
        raise ValueError(f"periods must be a whole number of periods >= 1, got {periods!r}")
    return n


def check_national(fit, what: str) -> None:
    """Refuse a geo fit for ``what`` (schedules are national only): one-line ``ValueError``."""
    if is_panel(fit):
        raise ValueError(
            f"{what} is not supported for a geo fit yet: plan the steady state (periods=None)"
        )


def baseline_weight(fit, periods: int) -> np.ndarray:
    r"""``(S, periods)`` factor on the response of each of the ``periods`` periods after the data.

    Additive model: ones. Multiplicative model: ``exp(b_s(t)) / mean_window exp(b_s(t'))`` with
    ``b_s`` the log baseline (everything but media) of draw ``s``: at the future dates from
    :meth:`mmmjax.Fit.components` on those dates (trend and seasonality continued, controls at
    their mean over the last ``CURRENT_PERIODS`` periods, no events), over the window from the
    training components. Unit-free.

    Example:
      >>> baseline_weight(fit, 20).mean(0)   # the forecast level relative to the window's
    """
    S = fit.n_draws
    if not fit.spec.multiplicative:
        return np.ones((S, periods))
    ds = fit.dataset
    recent = np.asarray(ds.controls, np.float64)[-CURRENT_PERIODS:].mean(axis=0)
    ahead = Dataset(
        dates=ds.future_dates(periods), channels=ds.channels,
        spend=np.zeros((periods, ds.n_channels)), target=np.zeros(periods),
        target_name=ds.target_name, controls=np.repeat(recent[None], periods, 0),
        control_names=ds.control_names, events=np.zeros((periods, ds.n_events)),
        event_names=ds.event_names, freq=ds.freq, date_name=ds.date_name,
    )  # fmt: skip
    train, future = fit.components(), fit.components(ahead)
    b_train = np.asarray(train.mu, np.float64) - np.asarray(train.media, np.float64).sum(-1)
    b_future = np.asarray(future.mu, np.float64) - np.asarray(future.media, np.float64).sum(-1)
    top = b_train.max(axis=1, keepdims=True)  # log-mean-exp over the window, stably
    log_mean = top + np.log(np.exp(b_train - top).mean(axis=1, keepdims=True))
    return np.exp(b_future - log_mean)


class ScheduleModel(NamedTuple):
    """What the response of a schedule of the next ``N`` periods reads, built once per fit,
    ``N`` and ``tail`` by :func:`schedule_model` (``hz`` a pytree, the rest static)."""

    spec: Any
    params: ResponseParams
    hz: Horizon
    tail: int
    dates: pd.DatetimeIndex
    channels: list[str]


def schedule_model(
    fit, periods: int, tail: int | None = None, pattern=None, params: ResponseParams | None = None
) -> ScheduleModel:
    """The :class:`ScheduleModel` of ``fit`` for ``periods`` future periods (``tail`` default as
    in :func:`mmmjax.optimize_budget`; ``pattern`` ``(N, C)`` the flat or shaped spend per unit
    of ``x``, ones by default; ``params`` the fit's :func:`~mmmjax.insights.response_params`
    if already at hand)."""
    from mmmjax.insights import response_params

    check_national(fit, "periods=")
    N = check_periods(periods)
    tail = default_tail(fit) if tail is None else int(tail)
    if tail < 0:
        raise ValueError(f"tail must be >= 0 periods, got {tail}")
    params = response_params(fit) if params is None else params
    hz = horizon_inputs(fit, params, N, tail, pattern, baseline_weight(fit, N + tail))
    return ScheduleModel(fit.spec, params, hz, tail, fit.dataset.future_dates(N), fit.channels)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _draws(spec, tail, params, hz, X, V):
    """``X, V (M, N, C) -> R, dR (S, M, C)``: response of each schedule and its derivative
    along ``V`` (channels do not interact, so one forward pass gives every channel's)."""
    TRACE_COUNT["solve"] += 1  # runs only while tracing
    f = lambda Y: plan_response(spec, params, hz, Y, tail)  # noqa: E731
    return jax.vmap(lambda x, v: jax.jvp(f, (x,), (v,)), out_axes=1)(X, V)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _curves(spec, tail, params, hz, V, money):
    """``(M, C)`` posterior-mean response when channel ``c``'s schedule is ``money[m, c] *
    V[:, c]`` (``V (N, C)`` one unit of money spread over the periods): by linearity of adstock
    its levels are ``carry + money * adstock(V)``, one adstock for every level."""
    TRACE_COUNT["solve"] += 1
    C = V.shape[-1]
    unit = adstocked_levels(spec, params, jnp.concatenate([V, jnp.zeros((tail, C), V.dtype)]))
    at = lambda m: window_response(spec, params, hz, hz.carry + m * unit).mean(0)  # noqa: E731
    return by_chunks(jax.vmap(at), money)


def _per_money(X: np.ndarray) -> np.ndarray:
    """``(..., N, C)``: one unit of money spread over each channel's schedule in proportion
    (flat for a channel without spend); columns sum to 1."""
    total = X.sum(-2, keepdims=True)
    flat = np.full_like(X, 1.0 / X.shape[-2])
    return np.where(total > 0, X / np.where(total > 0, total, 1.0), flat)


def schedule_draws(model: ScheduleModel, X) -> tuple[np.ndarray, np.ndarray]:
    """Per-draw response and marginal ROI of schedules.

    Args:
      model: from :func:`schedule_model`.
      X: ``(N, C)`` or ``(M, N, C)`` schedules, money per period.

    Returns:
      ``(S, C)`` (or ``(S, M, C)``) money: each channel's response over the plan and its
      carryover (module docstring), and money per money: its marginal ROI, the extra response
      of one more unit of money spread over the channel's schedule in proportion.

    Example:
      >>> r, m = schedule_draws(schedule_model(fit, 13), np.full((13, 4), 1_000.0))
    """
    X = np.asarray(X, np.float64)
    one = X.ndim == 2
    X = X[None] if one else X
    r, dr = _draws(model.spec, model.tail, model.params, model.hz, f32(X), f32(_per_money(X)))
    r, dr = np.asarray(r, np.float64), np.asarray(dr, np.float64)
    return (r[:, 0], dr[:, 0]) if one else (r, dr)


# ----------------------------------------------------------------------------------------------
# input checking
# ----------------------------------------------------------------------------------------------
def schedule_shape(schedule: Any, channels: list[str], periods: int) -> np.ndarray:
    """``(N, C)`` the weekly pattern ``W`` of a schedule, mean 1 per channel.

    ``"flat"``: ones. A DataFrame of ``N`` rows with a column per channel (any subset; the
    others flat), or ``{channel: N weights}``: relative spend per period (``[2, 1, 1, 0]``
    spends twice the average in the first period and nothing in the last), each column
    rescaled to mean 1.

    Raises:
      ValueError: one line naming the channel: unknown channel, wrong length, a weight that is
        negative or not finite, weights that are all 0.
    """
    W = np.ones((periods, len(channels)))
    if isinstance(schedule, str):
        if schedule != "flat":
            raise ValueError(
                f"schedule must be 'flat', 'free' or a shape per channel, got {schedule!r}"
            )
        return W
    if isinstance(schedule, pd.DataFrame):
        columns = {str(c): schedule[c].to_numpy() for c in schedule.columns}
    elif isinstance(schedule, Mapping):
        columns = {str(c): v for c, v in schedule.items()}
    else:
        raise ValueError(
            "schedule must be 'flat', 'free', a DataFrame of periods x channels or "
            f"{{channel: weights}}, got {type(schedule).__name__}"
        )
    for name, values in columns.items():
        if name not in channels:
            raise ValueError(
                f"schedule: unknown channel {name!r}; the fit's channels are {', '.join(channels)}"
            )
        try:
            w = np.asarray(values, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise ValueError(f"schedule for channel {name!r}: weights must be numbers") from None
        if w.shape != (periods,):
            raise ValueError(
                f"schedule for channel {name!r}: {w.size} weights for periods={periods}"
            )
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"schedule for channel {name!r}: weights must be finite and >= 0")
        if w.sum() <= 0:
            raise ValueError(
                f"schedule for channel {name!r}: the weights are all 0 (to switch the channel "
                f"off use fixed={{{name!r}: 0}})"
            )
        W[:, channels.index(name)] = w / w.mean()
    return W


def read_schedule(fit, frame: pd.DataFrame, periods: int | None = None) -> np.ndarray:
    """``(N, C)`` money per period from a schedule a user wrote, checked.

    ``frame``: one row per period after the data, in order, and one column per channel of the
    fit (each once; 0 to switch a channel off). A ``DatetimeIndex`` must be those dates
    (``fit.dataset.future_dates(N)``); any other index counts rows as periods 1, 2, ...

    Raises:
      DataError: one line naming the channel and date: unknown, missing or repeated channel,
        no rows or not ``periods`` of them, a date that is not the period's, spend that is not
        a finite number >= 0, a total of 0.
    """
    channels = list(fit.channels)
    names = [str(c) for c in frame.columns]
    listing = f"the fit's channels are {', '.join(channels)}"
    for name in names:
        if name not in channels:
            raise DataError(f"schedule: unknown channel {name!r}; {listing}")
        if names.count(name) > 1:
            raise DataError(f"schedule: channel {name!r} is given twice")
    missing = [c for c in channels if c not in names]
    if missing:
        raise DataError(
            f"schedule: no column for channel {missing[0]!r} (give every channel, 0 to switch "
            f"it off; {listing})"
        )
    N = len(frame)
    if N < 1:
        raise DataError("schedule: no periods (the frame has no rows)")
    if periods is not None and check_periods(periods) != N:
        raise DataError(f"schedule: {N} rows (periods) but periods={periods}")
    dates = fit.dataset.future_dates(N)
    if isinstance(frame.index, pd.DatetimeIndex):
        given = frame.index.tz_localize(None) if frame.index.tz is not None else frame.index
        wrong = np.flatnonzero(given.normalize() != dates.normalize())
        if wrong.size:
            i = int(wrong[0])
            raise DataError(
                f"schedule: row {i + 1} is dated {given[i].date()}, but period {i + 1} after the "
                f"data (which ends {fit.dataset.dates[-1].date()}) is {dates[i].date()}"
            )
    X = np.empty((N, len(channels)))
    for j, name in enumerate(channels):
        col = frame.iloc[:, names.index(name)]
        values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
        if bad.size:
            i = int(bad[0])
            raise DataError(
                f"schedule: spend for channel {name!r} on {dates[i].date()} (period {i + 1}) is "
                f"{col.iloc[i]!r}; it must be a finite number >= 0"
            )
        X[:, j] = values
    if X.sum() <= 0:
        raise DataError("schedule: the total spend must be positive")
    return X


# ----------------------------------------------------------------------------------------------
# free flighting: every (period, channel) cell a variable
# ----------------------------------------------------------------------------------------------
def _take(params: ResponseParams, hz: Horizon, idx: np.ndarray) -> tuple[ResponseParams, Horizon]:
    """The draws ``idx`` of the response parameters and horizon inputs."""
    channel = {k: v[idx] for k, v in params.channel.items()}
    return (
        ResponseParams(channel, params.spend_scale, params.multiplier[idx]),
        Horizon(hz.carry[idx], hz.unit[idx], hz.base[idx], hz.weight[idx]),
    )


def _blocks(f: Callable, z: jax.Array, N: int, C: int) -> jax.Array:
    """``(C, N, N)`` the per-channel blocks of the Hessian of ``f`` at ``z (N * C,)`` (cell
    ``(t, c)`` at ``t * C + c``): one forward-over-reverse product per period ``t`` with tangent
    ``e_t x 1_C``, whose entry ``(t', c)`` is ``H_c[t', t]`` because channels do not interact."""
    grad = jax.grad(f)

    def column(t):
        v = jnp.zeros((N, C), z.dtype).at[t].set(1.0).reshape(-1)
        return jax.jvp(grad, (z,), (v,))[1].reshape(N, C)

    return jnp.transpose(jax.vmap(column)(jnp.arange(N)), (2, 1, 0))


#: Accelerated projected-gradient iterations per step on the quadratic model (no draws).
INNER = 150


def block_newton_step(lo, hi, total, n_periods: int, inner: int = INNER) -> Callable:
    r"""A ``step`` for :func:`~mmmjax.optimize.newton.projected_diagonal_newton` whose ``Eval.curv``
    is the loss Hessian's per-channel blocks ``H (R, C, N, N)`` (rows ``R``; cell ``(t, c)`` of
    ``z (R, N * C)`` at ``t * C + c``): the update minimises the damped quadratic model::

        g . d + d^T (H_+ + mu * s * I) d / 2   over   {z + d feasible}

    with ``H_+`` each block's positive part (eigenvalues clipped at 0) and ``s`` its mean
    eigenvalue (``mean|g|`` where all are 0), by ``inner`` accelerated projected-gradient steps
    (FISTA with gradient restarts, step ``1 / (max eigenvalue + mu * s)``, each projection
    exact: :func:`~mmmjax.optimize.projection.project_capped_simplex`). Unlike the diagonal step it
    sees the carryover coupling between a channel's periods, so it converges in a few updates.
    """
    project = jax.vmap(project_capped_simplex)

    def step(g, blocks, z, mu):
        R, C, N = blocks.shape[0], blocks.shape[1], n_periods
        w, v = jnp.linalg.eigh(blocks)
        w = jnp.maximum(w, 0.0)
        h = jnp.einsum("rcij,rcj,rckj->rcik", v, w, v)
        mean = w.mean((-2, -1))
        scale = jnp.where(mean > 0, mean, jnp.mean(jnp.abs(g), -1)) + jnp.finfo(g.dtype).tiny
        damp = mu * scale
        lip = w.max((-2, -1)) + damp

        def model_grad(d):
            hd = jnp.einsum("rcij,rjc->ric", h, d.reshape(R, N, C)).reshape(R, -1)
            return g + hd + damp[:, None] * d

        def body(_, carry):
            y, u, t = carry
            q = model_grad(u - z)
            y_new = project(u - q / lip[:, None], lo, hi, total)
            t_new = 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * t * t))
            restart = jnp.sum(q * (y_new - y), -1) > 0
            momentum = jnp.where(restart, 0.0, (t - 1.0) / t_new)
            u_new = y_new + momentum[:, None] * (y_new - y)
            return y_new, u_new, jnp.where(restart, 1.0, t_new)

        y, _, _ = jax.lax.fori_loop(0, inner, body, (z, z, jnp.ones(R, z.dtype)))
        return y - z

    return step


@functools.partial(jax.jit, static_argnums=(0, 1))
def _solve_free(spec, tail, params, hz, sub, lo, hi, budget, z0, max_iter, tol):
    """Free flighting from shares ``z0 (1, N * C)`` of ``budget``: on the draws of ``sub``
    (``(params, hz)`` of :data:`SUBSET` draws), then on all; the Hessian blocks always from
    ``sub`` (only the step's metric). Returns the shares and the final
    :class:`~mmmjax.optimize.newton.DiagonalNewtonState`."""
    TRACE_COUNT["solve"] += 1
    C = hz.carry.shape[-1]
    N = hz.carry.shape[1] - tail
    total = jnp.ones(z0.shape[0], z0.dtype)

    def mean_total(p, h):
        return lambda z: plan_response(spec, p, h, (z * budget).reshape(N, C), tail).sum(-1).mean()

    curvature = jax.vmap(lambda z: _blocks(mean_total(*sub), z, N, C))

    def loss(p, h):
        def value_fn(z):  # z (1, N * C)
            value, grad = jax.vmap(jax.value_and_grad(mean_total(p, h)))(z)
            return Eval(-value, -grad, -curvature(z))

        return value_fn

    step = block_newton_step(lo, hi, total, N)
    newton = lambda f: projected_diagonal_newton(f, lo, hi, tol=tol, mu_init=MU_WARM, step=step)  # noqa: E731
    z1, _ = drive(newton(loss(*sub)), z0, max_iter)
    return drive(newton(loss(params, hz)), z1, max_iter)


# ----------------------------------------------------------------------------------------------
# the plan
# ----------------------------------------------------------------------------------------------
def optimize_schedule(
    fit,
    total_budget: float,
    periods: int,
    schedule: Any = "flat",
    bounds: Mapping[str, tuple[Any, Any]] | None = None,
    objective: str = "mean",
    *,
    fixed: Mapping[str, Any] | None = None,
    risk: float = 1.0,
    cvar_level: float = 0.1,
    tail: int | None = None,
    max_iter: int = 200,
    tol: float = 1e-6,
    by: str = "national",
) -> Plan:
    r"""The best spend per period and channel for the ``periods`` periods after the data.

    ``mmmjax.optimize_budget(fit, total_budget, periods=N, schedule=...)`` calls this; see
    the module docstring for the response and the two solvers.

    Args:
      fit: a national :class:`~mmmjax.Fit`.
      total_budget: ``B``, money over the ``N`` periods (> 0).
      periods: ``N >= 1``.
      schedule: ``"flat"``, ``"free"`` or a shape per channel (:func:`schedule_shape`).
      bounds, fixed: ``{channel: (low, high)}`` / ``{channel: spend}``, money per period (or
        ``"1.5x"`` of current spend): on every period's spend with ``"free"``, on the
        channel's average per period with ``"flat"`` or a shape.
      objective, risk, cvar_level, tail, max_iter, tol, by: as in
        :func:`mmmjax.optimize_budget` (``"free"``: ``objective="mean"`` only).

    Returns:
      A :class:`~mmmjax.optimize.Plan` with ``periods`` and ``schedule`` (future dates x
      channels, money per period); ``allocation``, ``lower``, ``upper`` and
      ``current_allocation`` (the data's mean spend per period, every period) over the plan,
      responses over the plan and its carryover, ``iterations`` over all draws (for "free":
      its polish after the flat optimum).

    Raises:
      ValueError: one line: ``periods < 1``, a geo fit, "free" with another objective, a bad
        shape, bounds or budget (as :func:`mmmjax.optimize_budget`, counted over ``N``).

    Example:
      >>> plan = optimize_schedule(fit, 13 * 40_000, 13, "free", {"tv": (0, 20_000)})
      >>> plan.schedule.sum().round() == plan.allocation.round()
    """
    check_national(fit, "periods=")
    N = check_periods(periods)
    free = isinstance(schedule, str) and schedule == "free"
    if free and objective != "mean":
        raise ValueError(
            f"schedule='free' optimises objective='mean' only, got {objective!r}; a flat or "
            "shaped schedule takes every objective"
        )
    prob = prepare(fit, objective, risk, cvar_level, N, tail, by)
    shape = "flat" if free else schedule  # free flighting starts from the flat optimum
    pattern = schedule_shape(shape, prob.channels, N)
    model = schedule_model(fit, N, prob.tail, pattern, prob.params)
    prob = dataclasses.replace(prob, hz=model.hz)
    bounds = bounds_by_name(bounds, prob.index, "bounds")
    fixed = bounds_by_name(fixed, prob.index, "fixed")
    lo, hi = resolve_bounds(prob.channels, prob.current, bounds, fixed)
    budget = float(total_budget)
    check_budget(budget, lo, hi, prob.channels, fixed, periods=N)
    sol = prob.solve([budget / N], lo, hi, max_iter, tol)  # the flat (or shaped) optimum
    x = sol.x[0]
    hi_used = np.minimum(hi, budget / N)
    if free:
        X, value, iterations, converged, spread = _free(prob, model, x, lo, hi, budget,
                                                        max_iter, tol)  # fmt: skip
    else:
        X = x * pattern
        value, iterations, converged = N * float(sol.value[0]), sol.iterations[0], sol.converged[0]
        spread = mroi_spread(np.asarray(sol.grad[0], np.float64), x, lo, hi_used, budget / N)
    return _plan(model, X, prob.current, lo, hi_used, budget, objective, value, iterations,
                 converged, spread)  # fmt: skip


def _free(prob, model: ScheduleModel, x, lo, hi, budget, max_iter, tol):
    """Free flighting from the flat optimum ``x`` (money per period): ``X (N, C)``, the
    objective, updates over all draws, converged, and the spread of the cells' marginal
    returns."""
    N, C = len(model.dates), len(model.channels)
    S = prob.params.multiplier.shape[0]
    idx = np.unique(np.linspace(0, S - 1, min(S, SUBSET)).round().astype(int))
    sub = _take(prob.params, model.hz, idx)
    lo_c = np.broadcast_to(lo, (N, C)).reshape(1, -1)
    hi_c = np.minimum(np.broadcast_to(hi, (N, C)).reshape(1, -1), budget)
    z0 = np.broadcast_to(x, (N, C)).reshape(1, -1) / budget
    z, state = _solve_free(prob.spec, model.tail, prob.params, model.hz, sub, f32(lo_c / budget),
                              f32(hi_c / budget), f32(budget), f32(z0),
                              device_array(max_iter, np.int32), f32(tol))  # fmt: skip
    cells = polish(np.asarray(z, np.float64) * budget, lo_c, hi_c, np.array([budget]))
    grad = -np.asarray(state.ev.grad, np.float64)[0] / budget  # d mean total / d X, per cell
    spread = mroi_spread(grad, cells[0], lo_c[0], hi_c[0], budget)
    return (cells.reshape(N, C), -float(state.ev.value[0]), int(state.count[0]),
            bool(state.converged[0]), spread)  # fmt: skip


def _plan(model: ScheduleModel, X, current, lo, hi, budget, objective, value, iterations,
          converged, spread) -> Plan:  # fmt: skip
    """The :class:`~mmmjax.optimize.Plan` of schedule ``X (N, C)``: every figure from
    :func:`schedule_draws`, as :func:`mmmjax.evaluate_budget` computes them."""
    N, C = X.shape
    alloc = X.sum(0)
    cur_X = np.broadcast_to(current, (N, C))
    top = 1.5 * np.maximum(alloc, N * current)
    levels = np.linspace(0.0, 1.0, CURVE_LEVELS)[:, None] * top  # (M, C) money over the plan
    curves = np.asarray(_curves(model.spec, model.tail, model.params, model.hz,
                                f32(_per_money(X)), f32(levels)), np.float64)  # fmt: skip
    r, m = schedule_draws(model, np.stack([X, cur_X]))
    opt, cur = r[:, 0].sum(-1), r[:, 1].sum(-1)
    idx = pd.Index(model.channels, name="channel")
    series = lambda a, name: pd.Series(np.asarray(a, np.float64), index=idx, name=name)  # noqa: E731
    mean, interval = summary(opt)
    cmean, cinterval = summary(cur)
    umean, uinterval = summary(opt - cur)
    frame = pd.DataFrame(X, index=model.dates, columns=idx)
    return Plan(
        allocation=series(alloc, "allocation"),
        total_budget=budget,
        expected_response=mean,
        response_interval=interval,
        current_allocation=series(N * current, "current"),
        current_response=cmean,
        current_interval=cinterval,
        uplift=umean,
        uplift_interval=uinterval,
        channel_response=series(r[:, 0].mean(0), "response"),
        marginal_roi=series(m[:, 0].mean(0), "marginal_roi"),
        mroi_spread=spread,
        lower=series(N * lo, "lower"),
        upper=series(N * hi, "upper"),
        objective=objective,
        objective_value=float(value),
        iterations=int(iterations),
        converged=bool(converged),
        tail=model.tail,
        periods=N,
        schedule=frame,
        curves={c: (levels[:, i], curves[:, i]) for i, c in enumerate(model.channels)},
    )
