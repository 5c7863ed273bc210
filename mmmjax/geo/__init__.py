"""The old ``mmmjax.geo`` names, kept as thin aliases: geo panels are fitted by the one engine.

A panel is an :class:`mmmjax.GeoDataset` (``mmmjax.Dataset.from_frame(..., geo="region")``),
fitted by ``mmmjax.MMM().fit(panel)`` (partial pooling over geos) and read by the insights and
the optimizer with ``by="geo"`` or ``by="national"``: see :mod:`mmmjax.data`,
:mod:`mmmjax.model.geo` (the pooled model, with formulas), :mod:`mmmjax.inference.geo_fit` and
:mod:`mmmjax.insights.geo`. Names here load on first use, so importing a submodule of
``mmmjax.geo`` does not import the rest.

Example:
    >>> import mmmjax
    >>> panel, truth = mmmjax.simulate(n_geos=20, n_periods=156, n_channels=5, seed=0)
    >>> fit = mmmjax.MMM().fit(panel, chains=4, draws=500, warmup=500)  # doctest: +SKIP
    >>> mmmjax.roi(fit, by="geo")        # (geo, channel) rows     # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "GeoDataset": "mmmjax.data",
    "GeoScales": "mmmjax.data",
    "GeoFit": "mmmjax.inference.geo_fit",
    "fit_geo": "mmmjax.inference.geo_fit",
    "is_geo_fit_dir": "mmmjax.inference.geo_fit",
    "load_geo_fit": "mmmjax.inference.geo_fit",
    "GeoMMM": "mmmjax.model.geo",
    "GeoTruth": "mmmjax.simulation",
    "simulate_geo": "mmmjax.geo.simulation",
    "adstock_weights": "mmmjax.insights.geo",
    "contributions": "mmmjax.insights.geo",
    "marginal_roi": "mmmjax.insights.geo",
    "response_curves": "mmmjax.insights.geo",
    "roi": "mmmjax.insights.geo",
    "roi_draws": "mmmjax.insights.geo",
}
__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    if name in ("data", "insights", "simulation"):  # the alias submodules
        return importlib.import_module(f"mmmjax.geo.{name}")
    raise AttributeError(f"module 'mmmjax.geo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
