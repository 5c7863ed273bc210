"""Synthetic geo panels with known ground truth: :func:`simulate_geo`, ``mmmjax.simulate`` with
a number of geos.

The simulator is :func:`mmmjax.simulate` (:mod:`mmmjax.simulation`); with ``n_geos=G`` it builds
``G`` geos of different populations that share the channels, the carryover and the saturation
curve (in spend *per head*, see :mod:`mmmjax.geo.data`), while each geo has its own ROI per
channel, baseline level, trend, seasonality and control effects, drawn around national values,
and makes the target with the geo model's own mean function
(:func:`mmmjax.model.geo.geo_components`, float64). Per geo ``g``, period ``t`` and channel
``c`` (money per period)::

    unit[c]         = national spend per head per period of channel c
    level[g, t, c]  = adstock_c(spend[g, :, c])[t]                   (weights sum to 1)
    shape[g, t, c]  = sat_c(level[g, t, c] / (population[g] * unit[c]))
    roi[g, c]       = exp(log_roi[c] + roi_sd * z[g, c]),  z ~ N(0, 1)
    contrib[g,t,c]  = roi[g, c] * mean_t spend[g, t, c] * shape[g, t, c] / mean_t shape[g, t, c]
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

from collections.abc import Sequence

from mmmjax.simulation import GeoTruth, simulate

__all__ = ["GeoTruth", "simulate_geo"]


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
):
    """A geo panel with known per-geo ROI: ``mmmjax.simulate(n_periods, n_channels,
    n_geos=n_geos, ...)`` with these defaults (20 geos, one control per geo); see
    :func:`mmmjax.simulate` for every option.

    Returns:
        ``(panel, truth)``: a :class:`~mmmjax.geo.GeoDataset` (with a ``population`` column)
        and its :class:`GeoTruth`.

    Example:
        >>> import numpy as np
        >>> panel, truth = simulate_geo(n_geos=3, n_periods=60, n_channels=2, seed=0)
        >>> parts = truth.contributions.sum(-1) + truth.baseline + truth.noise
        >>> bool(np.allclose(parts, panel.target))
        True
    """
    return simulate(
        n_periods, n_channels, n_geos=n_geos, freq=freq, start=start, adstock=adstock,
        saturation=saturation, roi=roi, roi_sd=roi_sd, media_share=media_share,
        seasonality=seasonality, n_controls=n_controls, noise=noise, spend_pattern=spend_pattern,
        correlation=correlation, l_max=l_max, seed=seed, channel_names=channel_names,
        geo_names=geo_names, target_name=target_name, date_name=date_name, geo_name=geo_name,
    )  # fmt: skip
