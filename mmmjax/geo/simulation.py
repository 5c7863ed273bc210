"""The old name of a simulated panel: :func:`simulate_geo` is :func:`mmmjax.simulate` with
``n_geos`` (the formulas are in :mod:`mmmjax.simulation`)."""

from __future__ import annotations

from typing import Any

from mmmjax.simulation import GeoTruth, simulate

__all__ = ["GeoTruth", "simulate_geo"]


def simulate_geo(n_geos: int = 20, n_periods: int = 156, n_channels: int = 5, **options: Any):
    """``mmmjax.simulate(n_periods, n_channels, n_geos=n_geos, n_controls=1, **options)``: a
    panel (:class:`~mmmjax.GeoDataset`, with a population) and its :class:`GeoTruth`.

    Example:
        >>> panel, truth = simulate_geo(n_geos=3, n_periods=60, n_channels=2, seed=0)
        >>> truth.roi.shape
        (3, 2)
    """
    options.setdefault("n_controls", 1)
    return simulate(n_periods, n_channels, n_geos=n_geos, **options)
