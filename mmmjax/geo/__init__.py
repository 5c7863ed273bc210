"""Geo (market, region, brand) panels: data, a hierarchical model, fits and insights.

One model for ``G`` geos that share channels and dates: carryover and saturation are national,
each geo has its own ROI per channel, level, trend, seasonality and control effects, partially
pooled toward national values (non-centred), and every kernel runs on the whole ``(G, T, C)``
panel at once. See :mod:`mmmjax.geo.data` (the panel and its per-head scaling),
:mod:`mmmjax.geo.model` (the model, with formulas), :mod:`mmmjax.geo.fit` (fitting, saving) and
:mod:`mmmjax.geo.insights` (ROI, marginal ROI, response curves, contributions per geo and
national).

Example:
    >>> import mmmjax
    >>> panel, truth = mmmjax.simulate_geo(n_geos=20, n_periods=156, n_channels=5, seed=0)
    >>> fit = mmmjax.GeoMMM().fit(panel, chains=4, draws=500, warmup=500)  # doctest: +SKIP
    >>> mmmjax.geo.roi(fit, by="geo")        # (geo, channel) rows     # doctest: +SKIP
    >>> mmmjax.geo.roi(fit, by="national")   # channel rows            # doctest: +SKIP
"""

from __future__ import annotations

from mmmjax.data import GeoDataset, GeoScales
from mmmjax.geo.fit import GeoFit, fit_geo, is_geo_fit_dir, load_geo_fit
from mmmjax.geo.insights import (
    adstock_weights,
    contributions,
    marginal_roi,
    response_curves,
    roi,
    roi_draws,
)
from mmmjax.geo.model import GeoMMM
from mmmjax.geo.simulation import GeoTruth, simulate_geo

__all__ = [
    "GeoDataset",
    "GeoFit",
    "GeoMMM",
    "GeoScales",
    "GeoTruth",
    "adstock_weights",
    "contributions",
    "fit_geo",
    "is_geo_fit_dir",
    "load_geo_fit",
    "marginal_roi",
    "response_curves",
    "roi",
    "roi_draws",
    "simulate_geo",
]
