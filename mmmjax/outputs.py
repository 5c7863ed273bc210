"""What ``mmmjax fit`` writes into an output directory, for the CLI and :mod:`mmmjax.mlflow`
alike: ``roi.csv``'s table (:func:`roi_table`).

A low module: it imports neither the CLI nor MLflow, so both can use it without importing each
other. National and panel fits differ here only through :func:`mmmjax.kinds.is_panel`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from mmmjax.kinds import is_panel

__all__ = ["RoiTable", "roi_table"]


class RoiTable(NamedTuple):
    """``roi.csv`` of a fit, and the tables the report and MLflow take from it.

    Attributes:
      table: the rows of ``roi.csv``: for a national fit :func:`mmmjax.roi` (one row per
        channel, indexed by channel); for a panel a ``level`` column ("national" or "geo"), the
        geo (empty on national rows), the channel and the columns of :func:`mmmjax.geo.roi`.
      index: whether ``roi.csv`` keeps ``table``'s index (the channel; a panel's is a count).
      national: national ROI by channel (columns of :func:`mmmjax.roi`).
      per_geo: for a panel, ROI by (geo, channel); None for a national fit.
    """

    table: Any
    index: bool
    national: Any
    per_geo: Any


def roi_table(fit) -> RoiTable:
    """The ROI of ``fit`` as ``roi.csv`` holds it (see :class:`RoiTable`): national rows, then
    one row per geo and channel for a fit with several geos."""
    import pandas as pd

    if not is_panel(fit):
        from mmmjax.insights import roi

        national = roi(fit)
        return RoiTable(national, True, national, None)
    from mmmjax.geo import insights

    geo_col = fit.dataset.geo_name
    national = insights.roi(fit, by="national")
    per_geo = insights.roi(fit, by="geo")
    nat_rows = national.reset_index()
    nat_rows.insert(0, geo_col, "")
    nat_rows.insert(0, "level", "national")
    geo_rows = per_geo.reset_index()
    geo_rows.insert(0, "level", "geo")
    table = pd.concat([nat_rows, geo_rows], ignore_index=True)
    return RoiTable(table, False, national, per_geo)
