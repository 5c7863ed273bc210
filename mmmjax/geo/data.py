"""Geo panels: :class:`GeoDataset` and :class:`GeoScales` now live in :mod:`mmmjax.data`
(national data are the one-geo case); this module keeps the old import path."""

from mmmjax.data import GeoDataset, GeoScales

__all__ = ["GeoDataset", "GeoScales"]
