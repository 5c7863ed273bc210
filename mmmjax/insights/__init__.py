"""What a fit says: ROI, marginal ROI, response curves, contributions and carryover, in money.

The functions here answer for any fit, national data or a geo panel, ``by="national"`` (the
default: a panel summed over its geos) or ``by="geo"`` (indexed or shaped by geo as well);
national data are one geo, so both give the same there. The answers come from
:mod:`mmmjax.insights.national` (one geo) and :mod:`mmmjax.insights.geo` (a panel, built on the
national response functions); this module only chooses between them (by the fit's data:
:func:`mmmjax.data.is_panel`) and re-exports the national building blocks the optimizer,
the report and the review use.

Example:
    >>> curves = mmmjax.response_curves(fit, np.linspace(0, 50_000, 51))   # (draws, 51, C)
    >>> mmmjax.roi(fit)[["roi_mean", "roi_low", "roi_high"]]
    >>> mmmjax.roi(geo_fit, by="geo")                                   # (geo, channel) rows
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from mmmjax.data import is_panel
from mmmjax.insights import geo, national
from mmmjax.insights.national import (
    BY,
    INTERVAL,
    INTERVAL_QUANTILES,
    ResponseParams,
    adstocked_levels,
    check_by,
    interval,
    level_response,
    media_contributions,
    response_params,
    series_response,
    steady_state_response,
)

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


def _panel(fit, by: str) -> bool:
    """Check ``by`` and say whether ``fit`` is a panel's (the geo answers then apply)."""
    check_by(by)
    return is_panel(fit.dataset)


def response_curves(fit, spend, by: str = "national") -> np.ndarray:
    """Steady-state response of every channel at spend levels, for every posterior draw.

    Args:
      fit: a fit of national data or of a panel.
      spend: ``(N,)`` (the same level for every channel) or ``(N, C)``, money per period
        (for a panel: national spend, shared out over geos as in the data).
      by: "national" (default) or "geo": for a panel, each geo's response ``(S, N, G, C)``
        (:func:`mmmjax.insights.geo.response_curves`).

    Returns:
      ``(S, N, C)`` numpy array: the per-period incremental target (money) when that spend is
      sustained every period, after carryover has settled
      (:func:`mmmjax.insights.national.steady_state_response`).
    """
    if _panel(fit, by):
        return geo.response_curves(fit, spend, by=by)
    return national.response_curves(fit, spend)


def marginal_roi(fit, spend=None, by: str = "national") -> np.ndarray:
    """``(S, C)``: extra target per extra unit of spend at ``spend`` (default: mean spend),
    money per money. For a panel ``by="geo"`` gives ``(S, G, C)``, each geo's marginal ROI at
    its own mean spend (:func:`mmmjax.insights.geo.marginal_roi`)."""
    if _panel(fit, by):
        return geo.marginal_roi(fit, by=by, spend=spend)
    return national.marginal_roi(fit, spend)


def roi_draws(fit, group: str = "posterior", by: str = "national") -> np.ndarray:
    """``(S, C)`` window ROI per draw (contribution over the window / spend over it) of the
    ``group`` ("posterior", or "prior" for a national fit that stored prior draws); for a panel
    ``by="geo"`` gives ``(S, G, C)``."""
    if _panel(fit, by):
        if group != "posterior":
            raise ValueError("a panel's fit stores no prior draws: use group='posterior'")
        return geo.roi_draws(fit, by=by)
    return national.roi_draws(fit, group)


def lift_draws(fit, group: str = "posterior") -> np.ndarray:
    """``(S, K)`` money: the model's implied lift of each of ``fit.lift_tests`` per draw (the
    quantity each test's likelihood term compares with its measured lift)."""
    if is_panel(fit.dataset):
        if group != "posterior":
            raise ValueError("a panel's fit stores no prior draws: use group='posterior'")
        return geo.lift_draws(fit)
    return national.lift_draws(fit, group)


def roi(fit, by: str = "national") -> pd.DataFrame:
    """ROI and marginal ROI per channel, posterior mean and 94% interval.

    ``roi`` is the channel's contribution over the data window divided by its spend over the
    window; ``mroi`` the derivative of the steady-state response at the channel's mean spend
    per period. For a panel ``by="national"`` (default) is the sum of the geos' contributions
    over the sum of their spend, ``by="geo"`` a table indexed by ``(geo, channel)``.

    Returns:
      DataFrame indexed by channel with ``roi_mean, roi_low, roi_high, mroi_mean, mroi_low,
      mroi_high``, ``spend`` (total over the window, money) and ``contribution_mean``.
    """
    if _panel(fit, by):
        return geo.roi(fit, by=by)
    return national.roi(fit)


def contributions(fit, by: str = "national") -> xr.DataArray:
    """Per-draw, per-period decomposition of the mean prediction (money) into baseline, trend,
    seasonality, controls, events and one part per channel; the parts sum to the prediction.

    Returns:
      ``xarray.DataArray`` with dims ``(draw, date, component)``; for a panel ``by="geo"``
      ``(draw, geo, date, component)``.
    """
    if _panel(fit, by):
        return geo.contributions(fit, by=by)
    return national.contributions(fit)


def contribution_shares(fit) -> pd.DataFrame:
    """Each component's share of the total prediction over the window (summed over geos for a
    panel): mean and 94% interval (:func:`mmmjax.insights.national.contribution_shares`)."""
    return national.contribution_shares(fit, parts=contributions(fit))


def adstock_weights(fit, l_max: int | None = None, by: str = "national") -> xr.DataArray:
    """Carryover weights over lags per draw and channel, ``(draw, lag, channel)``, normalised
    as the model uses them. Carryover is shared by every geo of a panel, so ``by="geo"`` and
    ``by="national"`` give the same."""
    if _panel(fit, by):
        return geo.adstock_weights(fit, l_max)
    return national.adstock_weights(fit, l_max)
