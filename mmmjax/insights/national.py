"""What a national fit says about each channel: response curves, ROI, marginal ROI, contributions.

The public entry points (:mod:`mmmjax.insights`) answer for any fit; this module holds the
national answers and the response functions the geo answers and the optimizer build on.

Everything here is computed from posterior draws with one jit-compiled, vmapped function per
question (no Python loops over draws, channels or spend levels), and returned in money.

The steady-state response of channel ``c`` to spend ``s`` (money per period, sustained) is::

    additive:        R_c(s) = target_scale * effect_c * sat_c(s / m_c)
    multiplicative:  R_c(s) = K_c * (exp(effect_c * sat_c(s / m_c)) - 1)
    effect_c = media_roi_c * (m_c / target_scale) / mean_t sat_c(adstock_c(x_c)[t])

where ``m_c`` is the channel's mean training spend per period, the mean in ``effect_c`` is over
the training window (the model's normalisation: ``media_roi`` is the window ROI, see
:mod:`mmmjax.model`) and ``K_c`` is the target level with channel ``c`` removed, averaged over the
training window. Adstock kernels are normalised, so sustained spend ``s`` settles at adstocked
level ``s``: the steady state needs no simulation.

Example:
    >>> curves = mmmjax.response_curves(fit, np.linspace(0, 50_000, 51))   # (draws, 51, C)
    >>> mmmjax.roi(fit)[["roi_mean", "roi_low", "roi_high"]]
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr

from mmmjax import programs, transforms
from mmmjax.model import (
    MMM,
    adstock,
    implied_lift,
    kernel_params,
    media_scale,
    media_shape,
    saturation,
)
from mmmjax.model.calibration import lift_data
from mmmjax.programs import device_array

__all__ = [
    "BY",
    "INTERVAL",
    "INTERVAL_QUANTILES",
    "ResponseParams",
    "adstock_weights",
    "adstocked_levels",
    "check_by",
    "contribution_shares",
    "contributions",
    "interval",
    "level_response",
    "lift_draws",
    "marginal_roi",
    "media_contributions",
    "response_curves",
    "response_params",
    "roi",
    "roi_draws",
    "series_response",
    "steady_state_response",
]

#: Posterior intervals everywhere in mmmjax are equal-tailed 94% intervals, these quantiles.
INTERVAL = 0.94
INTERVAL_QUANTILES = ((1 - INTERVAL) / 2, 1 - (1 - INTERVAL) / 2)


class ResponseParams(NamedTuple):
    """Per-draw media parameters in a form the response functions read (a JAX pytree).

    Attributes:
      channel: ``{name: (S, C)}`` per-channel parameters: ``media_roi``, the adstock and
        saturation parameters, and ``effect`` (scaled media per unit of saturation, the model's
        :func:`~mmmjax.model.media_scale`).
      spend_scale: ``(C,)`` mean training spend per period per channel (money).
      multiplier: ``(S, C)`` money per unit of scaled effect (``target_scale`` for the additive
        form; ``K_c`` for the multiplicative form, see the module docstring).
    """

    channel: dict[str, jax.Array]
    spend_scale: jax.Array
    multiplier: jax.Array


def response_params(fit) -> ResponseParams:
    """Collect the per-draw media parameters of ``fit`` (flattened over chains)."""
    spec: MMM = fit.spec
    draws = fit.draws()
    names = ("media_roi", *kernel_params(spec))
    channel = {k: device_array(draws[k]) for k in names}
    channel["effect"] = _effects(spec, channel, jax.tree.map(device_array, fit.design()))
    S, C = channel["effect"].shape
    if spec.multiplicative:
        comp = fit.components()
        removed = np.exp(comp.mu[:, :, None] - comp.media)  # (S, T, C)
        multiplier = fit.scales.target * removed.mean(axis=1)
    else:
        multiplier = np.full((S, C), fit.scales.target)
    return ResponseParams(
        channel=channel,
        spend_scale=device_array(fit.scales.spend, np.float32),
        multiplier=device_array(multiplier, np.float32),
    )


# through the program store: a planning script's first call in a new process loads it
@functools.partial(programs.cached_jit, "insights-effects", static_argnums=0)
def _effects(spec: MMM, channel: dict[str, jax.Array], design) -> jax.Array:
    """``(S, C)`` the model's media scale per draw, normalised on the training ``design``."""

    def one(p):
        return media_scale(spec, p, media_shape(spec, p, design.spend), design)

    return jax.vmap(one)(channel)


#: What an insight is given by: ``"national"`` (summed over geos) or ``"geo"`` (per geo too).
BY = ("national", "geo")


def check_by(by: str) -> None:
    """Raise ``ValueError`` unless ``by`` is one of :data:`BY`."""
    if by not in BY:
        raise ValueError(f"by must be 'national' or 'geo', got {by!r}")


def _to_money(spec: MMM, effect: jax.Array, multiplier: jax.Array) -> jax.Array:
    return multiplier * (jnp.expm1(effect) if spec.multiplicative else effect)


def steady_state_response(spec: MMM, params: ResponseParams, spend: jax.Array) -> jax.Array:
    """Per-period incremental target (money) when ``spend`` is sustained every period.

    Args:
      spec: the model specification.
      params: from :func:`response_params`; leading draw axis ``S``.
      spend: ``(..., C)`` money per period.

    Returns:
      ``(S, ..., C)`` money per period. A pure JAX function: jit, vmap and grad apply.
    """
    spend = jnp.asarray(spend, dtype=params.spend_scale.dtype)
    # spend levels play the role of the time axis of the kernels: (1, N, C)
    x = (spend / params.spend_scale).reshape(1, -1, spend.shape[-1])
    effect = params.channel["effect"][:, None, :] * saturation(spec, params.channel, x)
    money = _to_money(spec, effect, params.multiplier[:, None, :])  # (S, N, C)
    return money.reshape(money.shape[:1] + spend.shape)


def series_response(
    spec: MMM, params: ResponseParams, spend: jax.Array, *, floor: float = 0.0
) -> jax.Array:
    """Per-period media contribution (money) of a spend *series*, carryover included.

    ``level_response(adstocked_levels(spend))``: adstock, then saturation and money.

    Args:
      spec: the model specification.
      params: from :func:`response_params`.
      spend: ``(..., T, C)`` money per period, starting from no earlier spend.
      floor: adstocked levels (scaled spend, ``spend / spend_scale`` after adstock) below
        ``floor`` count as no media. Carryover decays geometrically, so long windows reach
        levels like ``1e-30``, where a Hill curve's value is negligible but float32 forward-mode
        second derivatives are ``0 * inf = NaN`` (``x**-2`` overflows): a floor of ``1e-15``
        keeps them finite and changes a period's saturation by at most ``(floor / K)**slope``.

    Returns:
      ``(S, ..., T, C)`` money per period (additive form exact; multiplicative form uses the
      window-average level ``K_c``).
    """
    return level_response(spec, params, adstocked_levels(spec, params, spend), floor=floor)


def adstocked_levels(spec: MMM, params: ResponseParams, spend: jax.Array) -> jax.Array:
    """``(S, ..., T, C)`` adstocked level (scaled spend) of a spend series ``(..., T, C)``
    (money per period, no earlier spend) under every draw. Linear in ``spend``: the levels of
    a sum of series are the sum of their levels."""
    spend = jnp.asarray(spend, dtype=params.spend_scale.dtype)
    T, C = spend.shape[-2:]
    S = params.multiplier.shape[0]
    x = (spend / params.spend_scale).reshape(1, -1, T, C)  # (1, N, T, C)
    ch = {k: v[:, None, :] for k, v in params.channel.items()}  # (S, 1, C)
    levels = adstock(spec, ch, jnp.broadcast_to(x, (S, *x.shape[1:])))
    return levels.reshape((S, *spend.shape))


def level_response(
    spec: MMM, params: ResponseParams, levels: jax.Array, *, floor: float = 0.0
) -> jax.Array:
    """``(S, ..., T, C)`` money: the media contribution of each period at adstocked ``levels``
    ``(S, ..., T, C)`` (:func:`adstocked_levels`; ``floor`` as in :func:`series_response`)."""
    S = levels.shape[0]
    T, C = levels.shape[-2:]
    a = levels.reshape(S, -1, T, C)
    if floor > 0:
        a = jnp.where(a >= floor, a, 0.0)
    ch = {k: v[:, None, :] for k, v in params.channel.items()}  # (S, 1, C)
    effect = ch["effect"][..., None, :] * saturation(spec, ch, a)
    money = _to_money(spec, effect, params.multiplier[:, None, None, :])  # (S, N, T, C)
    return money.reshape(levels.shape)


@functools.partial(jax.jit, static_argnums=0)
def _curves(spec: MMM, params: ResponseParams, spend: jax.Array) -> jax.Array:
    return steady_state_response(spec, params, spend)


def response_curves(fit, spend) -> np.ndarray:
    """Steady-state response of every channel at spend levels, for every posterior draw.

    Args:
      fit: a national :class:`~mmmjax.Fit`.
      spend: ``(N,)`` (the same level for every channel) or ``(N, C)``, money per period.

    Returns:
      ``(S, N, C)`` numpy array: the per-period incremental target (money) when that spend is
      sustained every period, after carryover has settled.
    """
    spend = np.asarray(spend, dtype=np.float64)
    C = len(fit.channels)
    if spend.ndim == 1:
        spend = np.repeat(spend[:, None], C, axis=1)
    if spend.ndim != 2 or spend.shape[1] != C:
        raise ValueError(f"spend must be (G,) or (G, {C}), got shape {spend.shape}")
    if np.any(spend < 0) or not np.all(np.isfinite(spend)):
        raise ValueError("spend levels must be finite and non-negative")
    return np.asarray(_curves(fit.spec, response_params(fit), jnp.asarray(spend)))


@functools.partial(jax.jit, static_argnums=0)
def _marginal(spec: MMM, params: ResponseParams, spend: jax.Array) -> jax.Array:
    """``(S, C)`` derivative of each channel's steady-state response at ``spend`` ``(C,)``.

    Channels do not interact in the steady-state response, so the gradient of the sum over
    channels is the vector of per-channel derivatives.
    """

    def one_draw(channel, multiplier, s):
        p = ResponseParams({k: v[None] for k, v in channel.items()}, params.spend_scale,
                           multiplier[None])  # fmt: skip
        return steady_state_response(spec, p, s).sum()

    grad = jax.grad(one_draw, argnums=2)
    return jax.vmap(grad, in_axes=(0, 0, None))(params.channel, params.multiplier, spend)


def marginal_roi(fit, spend=None) -> np.ndarray:
    """``(S, C)``: extra target per extra unit of spend at ``spend`` (default: mean spend)."""
    level = fit.scales.spend if spend is None else np.asarray(spend, dtype=np.float64)
    return np.asarray(_marginal(fit.spec, response_params(fit), jnp.asarray(level, jnp.float32)))


def media_contributions(fit) -> np.ndarray:
    """``(S, T, C)`` money: each channel's contribution per period over the training window.

    Additive form: ``target_scale * media``. Multiplicative form: the removal effect
    ``target_scale * (exp(mu) - exp(mu - media_c))``.
    """
    comp = fit.components()
    return _media_money(fit, comp)


def _media_money(fit, comp) -> np.ndarray:
    scale = fit.scales.target
    if fit.spec.multiplicative:
        mu = comp.mu[:, :, None]
        return scale * (np.exp(mu) - np.exp(mu - comp.media))
    return scale * np.asarray(comp.media, dtype=np.float64)


def interval(x: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior mean and equal-tailed 94% interval of draws ``x`` over ``axis``: ``(mean, low,
    high)``, the ``INTERVAL_QUANTILES`` (3% and 97%) quantiles, in ``x``'s units."""
    lo, hi = INTERVAL_QUANTILES
    return x.mean(axis), np.quantile(x, lo, axis=axis), np.quantile(x, hi, axis=axis)


def roi_draws(fit, group: str = "posterior") -> np.ndarray:
    """``(S, C)`` window ROI per draw: each channel's contribution over the data window (money,
    as in :func:`media_contributions`) divided by its spend over the window.

    ``group="prior"`` gives the prior's ROI (from ``fit.idata.prior``). In the additive form this
    equals the ``media_roi`` draws (the model's normalisation); in the multiplicative form it is
    the removal effect and differs somewhat.
    """
    comp = fit.components(group=group)
    spend = np.asarray(fit.dataset.spend, dtype=np.float64).sum(axis=0)
    return _media_money(fit, comp).sum(axis=1) / spend


@functools.partial(jax.jit, static_argnums=0)
def _lifts(spec: MMM, params: dict[str, jax.Array], design, lift) -> jax.Array:
    return jax.vmap(lambda p: implied_lift(spec, p, design, lift))(params)


def lift_draws(fit, group: str = "posterior") -> np.ndarray:
    """``(S, K)`` money: the model's implied lift of each of ``fit.lift_tests``, per draw.

    The quantity each test's likelihood term compares with the measured lift (see
    :func:`mmmjax.model.implied_lift`): the incremental target over the test's window of its
    spend change. ``K = 0`` for a fit without lift tests.
    """
    draws = fit.draws(group)
    if not fit.lift_tests:
        return np.zeros((len(draws["intercept"]), 0))
    lift = jax.tree.map(jnp.asarray, lift_data(fit.lift_tests, fit.dataset, fit.scales))
    design = jax.tree.map(jnp.asarray, fit.design())
    scaled = _lifts(fit.spec, {k: jnp.asarray(v) for k, v in draws.items()}, design, lift)
    return np.asarray(scaled, dtype=np.float64) * fit.scales.target


def roi(fit) -> pd.DataFrame:
    """ROI and marginal ROI per channel, posterior mean and 94% interval.

    ``roi`` is the channel's contribution over the data window divided by its spend over the
    window; ``mroi`` is the derivative of the steady-state response at the channel's mean spend
    per period (``jax.grad``). Intervals are equal-tailed (3% and 97% quantiles).

    Returns:
      DataFrame indexed by channel with ``roi_mean, roi_low, roi_high, mroi_mean, mroi_low,
      mroi_high`` and ``spend`` (total over the window) and ``contribution_mean``.
    """
    spend = np.asarray(fit.dataset.spend, dtype=np.float64).sum(axis=0)
    r = roi_draws(fit)
    contrib = r * spend  # (S, C)
    m = marginal_roi(fit)
    rm, rl, rh = interval(r)
    mm, ml, mh = interval(m)
    return pd.DataFrame(
        {
            "roi_mean": rm,
            "roi_low": rl,
            "roi_high": rh,
            "mroi_mean": mm,
            "mroi_low": ml,
            "mroi_high": mh,
            "spend": spend,
            "contribution_mean": contrib.mean(0),
        },
        index=pd.Index(fit.channels, name="channel"),
    )


def contributions(fit) -> xr.DataArray:
    """Per-draw, per-period decomposition of the mean prediction (money).

    Components: ``baseline`` (intercept), ``trend``, ``seasonality``, ``controls``, ``events``
    and one per channel. They sum to ``fit.predict(kind="mean")``. For the multiplicative form
    each part is its removal effect and ``baseline`` takes the remainder (the interaction).

    Returns:
      ``xarray.DataArray`` with dims ``(draw, date, component)``.
    """
    comp = fit.components()
    scale = fit.scales.target
    media = _media_money(fit, comp)
    names = ["trend", "seasonality", "controls", "events"]
    if fit.spec.multiplicative:
        mu = comp.mu
        pred = scale * np.exp(mu)
        other = [scale * (np.exp(mu) - np.exp(mu - getattr(comp, n))) for n in names]
        base = pred - sum(other) - media.sum(-1)
    else:
        other = [scale * np.asarray(getattr(comp, n), np.float64) for n in names]
        base = scale * np.asarray(comp.intercept, np.float64)
    parts = np.concatenate([np.stack([base, *other], axis=-1), media], axis=-1)
    return xr.DataArray(
        parts,
        dims=("draw", "date", "component"),
        coords={
            "date": np.asarray(fit.dataset.dates),
            "component": ["baseline", *names, *fit.channels],
        },
        name="contribution",
    )


def contribution_shares(fit, parts: xr.DataArray | None = None) -> pd.DataFrame:
    """Each component's share of the total prediction over the window: mean and 94% interval.

    ``parts``: the ``(draw, date, component)`` contributions (default :func:`contributions` of
    ``fit``)."""
    parts = contributions(fit) if parts is None else parts
    totals = parts.sum("date").values  # (S, K)
    shares = totals / totals.sum(-1, keepdims=True)
    mean, low, high = interval(shares)
    return pd.DataFrame(
        {"share_mean": mean, "share_low": low, "share_high": high, "total_mean": totals.mean(0)},
        index=pd.Index(parts.component.values, name="component"),
    )


def adstock_weights(fit, l_max: int | None = None) -> xr.DataArray:
    """Carryover weights over lags per draw and channel, ``(draw, lag, channel)``.

    Weights are normalised as the model uses them (a unit of spend spreads weights that sum to 1
    over an infinite horizon for geometric, over ``l_max`` lags otherwise).
    """
    spec: MMM = fit.spec
    L = int(l_max or max(spec.l_max, 8))
    d = {k: jnp.asarray(v) for k, v in fit.draws().items()}
    w = transforms.adstock_lag_weights(spec.adstock, d, l_max=L)
    return xr.DataArray(
        np.asarray(w),
        dims=("draw", "lag", "channel"),
        coords={"lag": np.arange(L), "channel": fit.channels},
        name="adstock_weight",
    )
