"""Synthetic geo panels with known ground truth, in money.

:func:`simulate_geo` builds ``G`` geos of different populations that share the channels, the
carryover and the saturation curve (in spend *per head*, see :mod:`mmmjax.geo.data`), while each
geo has its own ROI per channel, baseline level, trend, seasonality and control effects, drawn
around national values. Per geo ``g``, period ``t`` and channel ``c`` (money per period)::

    unit[c]         = national spend per head per period of channel c
    level[g, t, c]  = adstock_c(spend[g, :, c])[t]                   (weights sum to 1)
    shape[g, t, c]  = sat_c(level[g, t, c] / (population[g] * unit[c]))
    roi[g, c]       = exp(log_roi[c] + roi_sd * z[g, c]),  z ~ N(0, 1)
    beta[g, c]      = roi[g, c] * sum_t spend[g, t, c] / sum_t shape[g, t, c]
    contrib[g,t,c]  = beta[g, c] * shape[g, t, c]
    baseline[g, t]  = base[g] * (1 + trend[g] * (t / (T - 1) - 1/2)
                                  + fourier[t] @ season[g] + controls_std[g, t] @ coef[g])
    target[g, t]    = baseline[g, t] + sum_c contrib[g, t, c] + noise[g, t]

with ``trend[g]``, ``season[g]`` and ``coef[g]`` national shares plus small geo deviations, so
the geo model's pooling assumptions hold. By construction each geo's window ROI is exactly
``roi[g, c]`` and the national ROI is ``sum_g contrib / sum_g spend``. Spend and target are
rounded to cents; the rounding is absorbed in ``noise``, so ``contributions + baseline + noise
== target`` holds to float rounding.

Example:
    >>> import mmmjax
    >>> panel, truth = mmmjax.simulate_geo(n_geos=5, n_periods=104, n_channels=3, seed=1)
    >>> truth.roi.shape, truth.national_roi.shape
    ((5, 3), (3,))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mmmjax.data import PERIODS_PER_YEAR
from mmmjax.geo.data import GeoDataset
from mmmjax.model import ADSTOCK_PARAMS, SATURATION_PARAMS
from mmmjax.simulation import (
    _adstock,
    _ar1,
    _default_names,
    _patterns,
    _saturate,
    _saturation_slope,
    _spend,
)

__all__ = ["GeoTruth", "simulate_geo"]


@dataclass(frozen=True, eq=False)
class GeoTruth:
    """The ground truth behind a simulated :class:`~mmmjax.geo.GeoDataset`, in money.

    Attributes:
        params: by name. Shared per channel ``(C,)``: the adstock parameters, the saturation
            parameters in units of ``population[g] * unit[c]`` (``half_saturation`` 1.5 means
            1.5 times the national spend per head), ``unit`` (money per head per period),
            ``log_roi`` (national mean of log ROI) and ``roi_sd``. Per geo: ``roi`` and
            ``beta`` ``(G, C)``, ``base`` ``(G,)`` (mean baseline, money), ``trend`` ``(G,)``
            (change over the window as a share of ``base``), ``season`` ``(G, 2 * order)`` and
            ``control_coef`` ``(G, K)`` (shares of ``base``), ``sigma`` ``(G,)`` (money). Also
            ``adstock``, ``saturation``, ``l_max``, ``seasonality``, ``channels``, ``geos``.
        contributions: ``(G, T, C)`` media contribution per period, money.
        baseline: ``(G, T)`` baseline per period, money.
        noise: ``(G, T)``; ``target = baseline + contributions.sum(-1) + noise``.
        roi: ``(G, C)`` DataFrame (index geo, columns channel): window ROI per geo.
        national_roi: Series by channel: ``sum_g,t contrib / sum_g,t spend``.
        mroi: ``(G, C)`` DataFrame: derivative of the steady-state response of sustained spend
            at each geo's mean spend per period.
        national_mroi: Series by channel: derivative of the national steady-state response
            when national spend is split over geos in proportion to their share of the
            channel's spend, at the national mean spend (a spend-weighted mean of ``mroi``).
    """

    params: dict[str, Any]
    contributions: np.ndarray
    baseline: np.ndarray
    noise: np.ndarray
    roi: pd.DataFrame
    national_roi: pd.Series
    mroi: pd.DataFrame
    national_mroi: pd.Series

    @property
    def geos(self) -> list[str]:
        return list(self.roi.index)

    @property
    def channels(self) -> list[str]:
        return list(self.roi.columns)

    def __repr__(self) -> str:
        roi = ", ".join(f"{c}={v:.2f}" for c, v in self.national_roi.items())
        return (
            f"GeoTruth({len(self.geos)} geos, {self.params['adstock']}+"
            f"{self.params['saturation']}, national roi: {roi})"
        )


def simulate_geo(
    n_geos: int = 20,
    n_periods: int = 156,
    n_channels: int = 5,
    *,
    freq: str = "W",
    start: str = "2021-01-03",
    adstock: str = "geometric",
    saturation: str = "hill",
    roi: Sequence[float] | None = None,
    roi_sd: float = 0.25,
    media_share: float = 0.3,
    seasonality: int = 2,
    n_controls: int = 1,
    noise: float = 0.05,
    spend_pattern: str | Sequence[str] = "mixed",
    correlation: float = 0.5,
    l_max: int = 8,
    seed: int = 0,
    channel_names: Sequence[str] | None = None,
    geo_names: Sequence[str] | None = None,
    target_name: str = "revenue",
    date_name: str = "date",
    geo_name: str = "geo",
) -> tuple[GeoDataset, GeoTruth]:
    """Simulate a geo panel with known per-geo ROI (see the module docstring).

    Populations are log-uniform between 200 thousand and 5 million; national spend per channel
    is log-uniform between 20 and 300 thousand per week (divided over geos by population times
    a per-geo intensity ``exp(N(0, 0.35))``, so geos spend differently per head and sit at
    different points of the shared saturation curve). Deterministic for a given ``seed``.

    Args:
        n_geos, n_periods, n_channels: ``G``, ``T``, ``C``.
        freq: ``"W"`` or ``"D"``.
        start: first date.
        adstock, saturation: kernel names as in :class:`mmmjax.MMM` (normalised adstock).
        roi: ``(C,)`` national median ROI per channel; default a random permutation of
            ``geomspace(0.6, 4.5, C)``.
        roi_sd: standard deviation of log ROI across geos.
        media_share: media's approximate share of the target (varies by geo).
        seasonality: yearly Fourier order (0: none).
        n_controls: ``K`` AR(1) controls per geo, each with a pooled effect.
        noise: noise standard deviation as a share of each geo's mean noise-free target.
        spend_pattern, correlation: as in :func:`mmmjax.simulate`, per geo.
        l_max: lags of the delayed and Weibull adstocks.
        seed: random seed.
        channel_names, geo_names: default ``tv, search, ...`` and ``geo_01, geo_02, ...``.
        target_name, date_name, geo_name: column names.

    Returns:
        ``(panel, truth)``: a :class:`~mmmjax.geo.GeoDataset` (with a ``population`` column)
        and its :class:`GeoTruth`.

    Example:
        >>> panel, truth = simulate_geo(n_geos=3, n_periods=60, n_channels=2, seed=0)
        >>> parts = truth.contributions.sum(-1) + truth.baseline + truth.noise
        >>> bool(np.allclose(parts, panel.target))
        True
    """
    if freq not in PERIODS_PER_YEAR:
        raise ValueError(f"freq must be 'W' or 'D'; got {freq!r}")
    if adstock not in ADSTOCK_PARAMS or saturation not in SATURATION_PARAMS:
        raise ValueError(f"unknown adstock {adstock!r} or saturation {saturation!r}")
    if n_geos < 1 or n_periods < 2 or n_channels < 1:
        raise ValueError("need n_geos >= 1, n_periods >= 2 and n_channels >= 1")
    if not 0.0 < media_share < 1.0:
        raise ValueError("media_share must be in (0, 1)")
    rng = np.random.default_rng([seed, 4_071])
    G, T, C, K = int(n_geos), int(n_periods), int(n_channels), int(n_controls)
    per_year = PERIODS_PER_YEAR[freq]
    step_days = 7 if freq == "W" else 1
    dates = pd.DatetimeIndex(
        pd.date_range(start, periods=T, freq=f"{step_days}D", name=date_name).as_unit("ns"),
        freq=None,
    )
    channels = list(channel_names) if channel_names is not None else _default_names(C)
    geos = list(geo_names) if geo_names is not None else [f"geo_{g + 1:02d}" for g in range(G)]
    if len(channels) != C or len(geos) != G:
        raise ValueError("channel_names / geo_names do not match n_channels / n_geos")

    # ---- sizes and spend (money per period) ----
    population = np.round(np.exp(rng.uniform(math.log(2e5), math.log(5e6), G)))
    national = np.sort(np.exp(rng.uniform(math.log(2e4), math.log(3e5), C)))[::-1]
    national = national * step_days / 7
    unit = national / population.sum()  # money per head per period
    intensity = np.exp(rng.normal(0.0, 0.35, (G, C)))
    patterns, factor = _patterns(spend_pattern, C)
    spend = np.stack([
        _spend(rng, T, population[g] * unit * intensity[g], patterns, correlation * factor,
               7 // step_days)
        for g in range(G)
    ])  # fmt: skip
    for g, c in zip(*np.nonzero(spend.sum(axis=1) == 0), strict=True):  # keep every pair alive
        spend[g, T // 2, c] = round(float(population[g] * unit[c]), 2)

    # ---- shared kernels, per-geo ROI ----
    a_params = {
        "alpha": rng.uniform(0.2, 0.7, C) if adstock == "geometric" else rng.uniform(0.3, 0.7, C),
        "theta": rng.uniform(0.0, min(3.0, l_max - 1), C),
        "weibull_shape": rng.uniform(1.5, 3.0, C) if adstock == "weibull_pdf"
        else rng.uniform(0.7, 1.5, C),
        "weibull_scale": rng.uniform(1.5, 4.0, C) if adstock == "weibull_pdf"
        else rng.uniform(1.0, 3.0, C),
    }  # fmt: skip
    a_params = {k: a_params[k] for k in ADSTOCK_PARAMS[adstock]}
    s_params = {
        "half_saturation": rng.uniform(0.6, 1.8, C) if saturation == "hill"
        else rng.uniform(0.5, 2.0, C),
        "slope": rng.uniform(1.0, 2.5, C),
        "lam": rng.uniform(0.5, 3.0, C),
        "tanh_scale": rng.uniform(0.5, 2.0, C),
    }  # fmt: skip
    s_params = {k: s_params[k] for k in SATURATION_PARAMS[saturation]}
    spend_unit = population[:, None] * unit[None, :]  # (G, C) money that is x = 1
    level = _adstock(adstock, spend, a_params, l_max)  # (G, T, C)
    shape = _saturate(saturation, level / spend_unit[:, None, :], s_params)
    median = rng.permutation(np.geomspace(0.6, 4.5, C)) if roi is None else np.asarray(roi, float)
    if median.shape != (C,) or np.any(median <= 0):
        raise ValueError(f"roi must be {C} positive numbers")
    log_roi = np.log(median)
    roi_g = np.exp(log_roi[None, :] + float(roi_sd) * rng.standard_normal((G, C)))
    beta = roi_g * spend.sum(axis=1) / shape.sum(axis=1)
    contrib = beta[:, None, :] * shape  # (G, T, C)

    # ---- baseline: national shares plus geo deviations ----
    media_mean = contrib.sum(axis=2).mean(axis=1)  # (G,)
    base = media_mean * (1 - media_share) / media_share * np.exp(rng.normal(0.0, 0.15, G))
    t01 = np.arange(T) / (T - 1)
    trend = rng.choice([-1.0, 1.0]) * rng.uniform(0.05, 0.2) + 0.04 * rng.standard_normal(G)
    order = int(seasonality)
    idx = np.arange(T, dtype=np.float64)
    if order > 0:
        k = np.arange(1, order + 1)
        angle = 2 * np.pi * idx[:, None] * k[None, :] / per_year
        fourier = np.concatenate([np.sin(angle), np.cos(angle)], axis=1)
        phase, amp = rng.uniform(0, 2 * np.pi, order), 0.08 / k
        national_season = np.concatenate([amp * np.cos(phase), amp * np.sin(phase)])
        season = national_season + 0.015 * rng.standard_normal((G, 2 * order))
    else:
        fourier, season = np.zeros((T, 0)), np.zeros((G, 0))
    controls = np.stack([_ar1(rng, T, 0.6, K) for _ in range(G)]) if K else np.zeros((G, T, 0))
    controls = np.round(controls, 4)
    z_std = (controls - controls.mean(axis=1, keepdims=True)) / np.where(
        controls.std(axis=1, keepdims=True) > 0, controls.std(axis=1, keepdims=True), 1.0
    )
    coef = rng.choice([-1.0, 1.0], K) * rng.uniform(0.02, 0.05, K)
    coef = coef + 0.01 * rng.standard_normal((G, K))
    shares = (
        trend[:, None] * (t01[None, :] - 0.5)
        + season @ fourier.T
        + np.einsum("gtk,gk->gt", z_std, coef)
    )
    baseline = base[:, None] * (1.0 + shares)

    # ---- noise and target ----
    clean = baseline + contrib.sum(axis=2)
    sigma = float(noise) * clean.mean(axis=1)
    target = np.round(clean + sigma[:, None] * rng.standard_normal((G, T)), 2)
    if np.any(target <= 0):
        raise ValueError("the simulated target is not positive everywhere; lower `noise`")
    eps = target - baseline - contrib.sum(axis=2)

    # ---- truth ----
    mean_spend = spend.mean(axis=1)  # (G, C)
    slope = np.stack([
        _saturation_slope(saturation, mean_spend[g] / spend_unit[g], s_params) for g in range(G)
    ])  # fmt: skip
    mroi = beta * slope / spend_unit
    share = spend.sum(axis=1) / spend.sum(axis=(0, 1))
    params: dict[str, Any] = {
        "adstock": adstock,
        "saturation": saturation,
        "l_max": int(l_max),
        "seasonality": order,
        "periods_per_year": float(per_year),
        "channels": channels,
        "geos": geos,
        "spend_patterns": patterns,
        **a_params,
        **s_params,
        "unit": unit,
        "population": population,
        "log_roi": log_roi,
        "roi_sd": float(roi_sd),
        "roi": roi_g,
        "beta": beta,
        "base": base,
        "trend": trend,
        "season": season,
        "control_coef": coef,
        "sigma": sigma,
    }
    truth = GeoTruth(
        params=params,
        contributions=contrib,
        baseline=baseline,
        noise=eps,
        roi=pd.DataFrame(roi_g, index=pd.Index(geos, name=geo_name), columns=channels),
        national_roi=pd.Series(
            contrib.sum(axis=(0, 1)) / spend.sum(axis=(0, 1)), index=channels, name="roi"
        ),
        mroi=pd.DataFrame(mroi, index=pd.Index(geos, name=geo_name), columns=channels),
        national_mroi=pd.Series((share * mroi).sum(axis=0), index=channels, name="mroi"),
    )
    panel = GeoDataset(
        geos=geos,
        dates=dates,
        channels=channels,
        spend=spend,
        target=target,
        target_name=target_name,
        controls=controls,
        control_names=[f"control_{k + 1}" for k in range(K)],
        population=population,
        population_name="population",
        geo_name=geo_name,
        freq=freq,
        date_name=date_name,
    )
    return panel, truth
