"""What a geo fit says, per geo and for the nation: ROI, marginal ROI, response curves and
contributions, in money.

Per geo ``g`` and channel ``c`` the steady-state response to spend ``s`` sustained every
period (money per period; normalised adstock settles at ``s``) is::

    R_gc(s) = target_scale[g] * effect[g, c] * sat_c(s / spend_unit[g, c])
    effect[g, c] = media_roi[g, c] * (mean_spend[g, c] / target_scale[g])
                   / mean_t sat_c(adstock_c(x[g, :, c])[t])

(``spend_unit = size * unit``, see :mod:`mmmjax.data`). The nation is the sum of its geos.
A national spend ``S`` on channel ``c`` is split over geos in proportion to each geo's share
of the channel's spend over the window, ``share[g, c]``, so::

    R_c(S)        = sum_g R_gc(share[g, c] * S)
    national ROI  = sum_{g,t} contribution / sum_{g,t} spend
    national mROI = dR_c/dS at S = national mean spend = sum_g share[g, c] * R'_gc(mean spend_g)

All of it is computed over posterior draws with ``vmap`` (draws in chunks, see
:func:`mmmjax.inference.geo_fit.over_draws`) and one kernel call on the ``(G, ..., C)`` arrays: no
Python
loop over geos, channels or spend levels.

Example:
    >>> mmmjax.geo.roi(fit, by="national")      # indexed by channel
    >>> mmmjax.geo.roi(fit, by="geo")           # indexed by (geo, channel)
    >>> mmmjax.geo.response_curves(fit, np.linspace(0, 1e5, 51))  # (draws, 51, C), national
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr

from mmmjax import seeds
from mmmjax.inference.geo_fit import GeoFit, over_draws
from mmmjax.insights.national import ResponseParams, check_by, interval
from mmmjax.model import adstock, kernel_params, saturation

__all__ = [
    "adstock_weights",
    "cell_response_params",
    "contributions",
    "lift_draws",
    "marginal_roi",
    "prior_roi_draws",
    "response_curves",
    "roi",
    "roi_draws",
    "spend_shares",
]


def _media_stats(spec, params, design):
    """One draw: ``(G, C)`` media summed over the window and ``(G, C)`` effect per unit of
    saturation (both in each geo's scaled units)."""
    shape = saturation(spec, params, adstock(spec, params, design.spend))
    mean = shape.mean(axis=-2)
    effect = params["media_roi"] * design.roi_to_effect / jnp.where(mean > 0, mean, 1.0)
    return (effect[:, None, :] * shape).sum(axis=-2), effect


def _stats(fit: GeoFit) -> tuple[np.ndarray, np.ndarray]:
    """``(S, G, C)`` media contribution over the window (money) and the effect per unit of
    saturation (scaled) of every draw."""
    m = fit.spec.model
    draws = fit.draws()
    names = ("media_roi", *kernel_params(m))
    total, effect = over_draws(_media_stats, m, {k: draws[k] for k in names}, fit.design())
    return total * fit.scales.target[None, :, None], effect


def roi_draws(fit: GeoFit, by: str = "geo") -> np.ndarray:
    """Window ROI per draw: contribution over the window over spend over the window.

    Args:
      fit: a :class:`~mmmjax.geo.GeoFit`.
      by: "geo" for ``(S, G, C)`` (NaN where a geo has no spend on a channel) or "national"
        for ``(S, C)`` (sums over geos before dividing).
    """
    check_by(by)
    contrib, _ = _stats(fit)
    spend = fit.dataset.spend.sum(axis=1)  # (G, C)
    if by == "national":
        return contrib.sum(axis=1) / spend.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(spend > 0, contrib / np.where(spend > 0, spend, 1.0), np.nan)


# ----------------------------------------------------------------------------------------------
# steady-state response
# ----------------------------------------------------------------------------------------------
def _kernel_draws(fit: GeoFit) -> dict[str, jax.Array]:
    m = fit.spec.model
    d = fit.draws()
    return {k: jnp.asarray(d[k]) for k in kernel_params(m)}


@functools.partial(jax.jit, static_argnums=0)
def _response(spec, kernel, effect, target_scale, spend_unit, spend):
    """``(S, G, N, C)`` money: geo responses to spend ``(G, N, C)``.

    ``kernel`` ``{name: (S, C)}``, ``effect`` ``(S, G, C)``, ``target_scale`` ``(G,)``,
    ``spend_unit`` ``(G, C)``.
    """
    p = {k: v[:, None, :] for k, v in kernel.items()}  # (S, 1, C): broadcast over geos
    sat = saturation(spec, p, (spend / spend_unit[:, None, :])[None])  # (S, G, N, C)
    return target_scale[None, :, None, None] * effect[:, :, None, :] * sat


def cell_response_params(fit: GeoFit) -> ResponseParams:
    """The geo responses as ``K = G * C`` independent cells (geo-major: cell ``g * C + c``) in the
    national form, so that :func:`mmmjax.insights.steady_state_response` gives ``R_gc``::

        channel[k][:, g * C + c] = kernel_k[:, c]          (S, K)   adstock/saturation params
        channel["effect"]        = effect[:, g, c]         (S, K)   scaled media per saturation
        spend_scale[g * C + c]   = spend_unit[g, c]        (K,)     money per unit of x
        multiplier[:, g * C + c] = target_scale[g]         (S, K)   money per scaled unit
    """
    G, C = fit.dataset.n_geos, fit.dataset.n_channels
    _, effect = _stats(fit)
    S = effect.shape[0]
    channel = {k: jnp.tile(v, (1, G)) for k, v in _kernel_draws(fit).items()}
    channel["effect"] = jnp.asarray(np.reshape(effect, (S, G * C)), jnp.float32)
    target = np.repeat(np.asarray(fit.scales.target, np.float64), C)  # (K,) geo-major
    return ResponseParams(
        channel=channel,
        spend_scale=jnp.asarray(np.reshape(fit.scales.spend_unit, -1), jnp.float32),
        multiplier=jnp.asarray(np.broadcast_to(target, (S, G * C)), jnp.float32),
    )


def _levels(spend, C: int, what: str) -> np.ndarray:
    s = np.asarray(spend, dtype=np.float64)
    if s.ndim == 1:
        s = np.repeat(s[:, None], C, axis=1)
    if s.shape[-1] != C or s.ndim not in (2, 3):
        raise ValueError(f"{what} must be (N,), (N, {C}) or (G, N, {C}); got {s.shape}")
    if np.any(s < 0) or not np.all(np.isfinite(s)):
        raise ValueError("spend levels must be finite and non-negative")
    return s


def spend_shares(fit: GeoFit) -> np.ndarray:
    """``(G, C)`` each geo's share of each channel's spend over the window (columns sum to 1)."""
    total = fit.dataset.spend.sum(axis=1)
    return total / total.sum(axis=0, keepdims=True)


def response_curves(fit: GeoFit, spend, by: str = "national") -> np.ndarray:
    """Steady-state response (money per period) of sustained spend, for every posterior draw.

    Args:
      fit: a :class:`~mmmjax.geo.GeoFit`.
      spend: money per period. ``by="national"``: ``(N,)`` or ``(N, C)`` national levels,
        split over geos by :func:`spend_shares`. ``by="geo"``: ``(N,)`` or ``(N, C)`` applied in
        every geo, or ``(G, N, C)`` per geo.
      by: "national" or "geo".

    Returns:
      ``(S, N, C)`` for "national" (the sum over geos), ``(S, G, N, C)`` for "geo".
    """
    check_by(by)
    G, C = fit.dataset.n_geos, fit.dataset.n_channels
    s = _levels(spend, C, "spend")
    if by == "national":
        if s.ndim != 2:
            raise ValueError(f"national spend must be (N,) or (N, {C}); got {s.shape}")
        s = spend_shares(fit)[:, None, :] * s[None]
    elif s.ndim == 2:
        s = np.broadcast_to(s, (G, *s.shape))
    elif s.shape[0] != G:
        raise ValueError(f"per-geo spend must have {G} geos on axis 0; got {s.shape}")
    _, effect = _stats(fit)
    out = np.asarray(_response(fit.spec.model, _kernel_draws(fit), jnp.asarray(effect),
                               jnp.asarray(fit.scales.target, jnp.float32),
                               jnp.asarray(fit.scales.spend_unit, jnp.float32),
                               jnp.asarray(s, jnp.float32)))  # fmt: skip
    return out.sum(axis=1) if by == "national" else out


def marginal_roi(fit: GeoFit, by: str = "geo", spend=None) -> np.ndarray:
    """Marginal ROI: extra target per extra unit of sustained spend.

    Args:
      fit: a :class:`~mmmjax.geo.GeoFit`.
      by: "geo": ``(S, G, C)``, the derivative of each ``R_gc`` at the geo's spend; "national":
        ``(S, C)``, the derivative of the national curve, ``sum_g share[g, c] * R'_gc``.
      spend: money per period where the derivative is taken: ``(G, C)`` per geo for "geo",
        ``(C,)`` national (split by :func:`spend_shares`) for "national"; default the current
        mean spend per period.
    """
    check_by(by)
    C = fit.dataset.n_channels
    level = fit.scales.spend  # (G, C)
    if spend is not None:
        s = np.asarray(spend, dtype=np.float64)
        want = (C,) if by == "national" else level.shape
        if s.shape != want or np.any(s < 0) or not np.all(np.isfinite(s)):
            raise ValueError(f"spend must be finite, >= 0 and of shape {want}; got {s.shape}")
        level = spend_shares(fit) * s if by == "national" else s
    _, effect = _stats(fit)
    args = (fit.spec.model, _kernel_draws(fit), jnp.asarray(effect),
            jnp.asarray(fit.scales.target, jnp.float32),
            jnp.asarray(fit.scales.spend_unit, jnp.float32))  # fmt: skip
    level = jnp.asarray(level[:, None, :], jnp.float32)  # (G, 1, C)
    # each response depends on its own geo's and channel's spend only, so a forward-mode
    # derivative along all-ones gives every partial derivative at once
    _, slope = jax.jvp(lambda s: _response(*args, s), (level,), (jnp.ones_like(level),))
    per_geo = np.asarray(slope)[:, :, 0, :]  # (S, G, C)
    if by == "national":
        return (spend_shares(fit)[None] * per_geo).sum(axis=1)
    return per_geo


# ----------------------------------------------------------------------------------------------
# tables
# ----------------------------------------------------------------------------------------------
def roi(fit: GeoFit, by: str = "national") -> pd.DataFrame:
    """ROI and marginal ROI, posterior mean and 94% interval, per geo or national.

    Columns as :func:`mmmjax.roi`: ``roi_mean, roi_low, roi_high, mroi_mean, mroi_low,
    mroi_high, spend`` (total over the window, money) and ``contribution_mean`` (money).

    Args:
      fit: a :class:`~mmmjax.geo.GeoFit`.
      by: "national" (indexed by channel) or "geo" (indexed by ``(geo, channel)``).
    """
    check_by(by)
    r = roi_draws(fit, by)
    m = marginal_roi(fit, by)
    spend = fit.dataset.spend.sum(axis=1)  # (G, C)
    if by == "national":
        spend = spend.sum(axis=0)
        index = pd.Index(fit.channels, name="channel")
    else:
        index = pd.MultiIndex.from_product([fit.geos, fit.channels],
                                           names=[fit.dataset.geo_name, "channel"])  # fmt: skip
    contrib = np.nan_to_num(r) * spend
    with np.errstate(invalid="ignore"):
        rm, rl, rh = interval(r)
        mm, ml, mh = interval(m)
    cols = {"roi_mean": rm, "roi_low": rl, "roi_high": rh, "mroi_mean": mm, "mroi_low": ml,
            "mroi_high": mh, "spend": spend, "contribution_mean": contrib.mean(0)}  # fmt: skip
    return pd.DataFrame({k: np.asarray(v).reshape(-1) for k, v in cols.items()}, index=index)


class _Kernels(NamedTuple):
    """The parts of a fit :func:`mmmjax.insights.adstock_weights` reads (kernels are shared)."""

    spec: Any
    channels: list[str]
    posterior: dict[str, np.ndarray]

    def draws(self) -> dict[str, np.ndarray]:
        return self.posterior


def adstock_weights(fit: GeoFit, l_max: int | None = None) -> xr.DataArray:
    """Carryover weights ``(draw, lag, channel)``; shared by every geo, so one set (see
    :func:`mmmjax.adstock_weights`)."""
    from mmmjax.insights.national import adstock_weights as national

    return national(_Kernels(fit.spec.model, fit.channels, fit.draws()), l_max)


def contributions(fit: GeoFit, by: str = "geo") -> xr.DataArray:
    """Per-draw, per-period decomposition of the mean prediction, money.

    Components: ``baseline``, ``trend``, ``seasonality``, ``controls``, ``events`` and one per
    channel; they sum to ``fit.predict(kind="mean")``.

    Returns:
      ``xarray.DataArray`` with dims ``(draw, geo, date, component)`` for ``by="geo"``, or
      ``(draw, date, component)`` summed over geos for ``by="national"``.
    """
    check_by(by)
    comp = fit.components()
    scale = fit.scales.target[None, :, None].astype(np.float64)  # (1, G, 1)
    names = ["trend", "seasonality", "controls", "events"]
    other = [scale * np.asarray(getattr(comp, n), np.float64) for n in names]
    base = scale * np.asarray(comp.intercept, np.float64)
    media = scale[..., None] * np.asarray(comp.media, np.float64)
    parts = np.concatenate([np.stack([base, *other], axis=-1), media], axis=-1)
    coords = {"date": np.asarray(fit.dataset.dates),
              "component": ["baseline", *names, *fit.channels]}  # fmt: skip
    if by == "national":
        return xr.DataArray(parts.sum(axis=1), dims=("draw", "date", "component"),
                            coords=coords, name="contribution")  # fmt: skip
    return xr.DataArray(parts, dims=("draw", "geo", "date", "component"),
                        coords={"geo": fit.geos, **coords}, name="contribution")  # fmt: skip


def lift_draws(fit: GeoFit) -> np.ndarray:
    """``(S, K)`` the model's implied lift of each of ``fit.lift_tests``, money (posterior)."""
    from mmmjax.inference.geo_fit import geo_lift_data, lift_units

    tests = fit.lift_tests
    if not tests:
        return np.zeros((fit.n_draws, 0))
    lift = jax.tree.map(jnp.asarray, geo_lift_data(tests, fit.dataset, fit.scales))
    draws = {k: jnp.asarray(v) for k, v in fit.draws().items()}
    scaled = _lifts(fit.spec.model, draws, fit.design(), lift)
    return np.asarray(scaled, np.float64) * lift_units(tests, fit.dataset, fit.scales)


@functools.partial(jax.jit, static_argnums=0)
def _lifts(spec, draws, design, lift):
    from mmmjax.model.geo import implied_geo_lift

    return jax.vmap(lambda p: implied_geo_lift(spec, p, design, lift))(draws)


def prior_roi_draws(fit: GeoFit, draws: int = 4000, seed: int = 0) -> np.ndarray:
    """``(draws, G, C)`` window ROI per geo and channel under the geo model's priors
    (``exp(roi_mu + roi_tau * z)``, drawn with NumPy)."""
    priors = fit.spec.resolved_priors(fit.channels)
    rng = seeds.numpy_rng(seed, "prior_roi")
    G, C = fit.dataset.n_geos, fit.dataset.n_channels
    mu = priors["roi_mu"].sample_numpy(rng, (draws, C))
    tau = priors["roi_tau"].sample_numpy(rng, (draws, C))
    z = rng.standard_normal((draws, G, C))
    return np.exp(mu[:, None, :] + tau[:, None, :] * z)
