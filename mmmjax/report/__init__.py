"""One self-contained HTML report of a fit, written for an analyst: national or geo panel.

``write_report(fit, "out/report.html")`` computes the insights once (ROI, contributions, response
curves, adstock weights, fit metrics, a ridge baseline, VIFs, sampler diagnostics), draws the
figures with :mod:`mmmjax.plots`, and writes a single HTML file: figures are embedded as base64
PNG, the CSS is inline, there is no JavaScript and no external URL, so it opens offline and can be
mailed as is. All text from the data (channel, geo and column names) is HTML-escaped.

A fit with several geos (:func:`mmmjax.kinds.is_panel`) gets the per-geo page: the fit of every
geo, ROI per geo and channel, per-geo highlights in the summary, lift tests per geo.

Layout: :mod:`mmmjax.report.html` (escaped text, numbers, tables, figures, the page),
:mod:`mmmjax.report.sections` (the sections both pages share: summary, health, data review,
sampler, budget, what moved, what to test next), :mod:`mmmjax.report.national` (the national
sections and page) and :mod:`mmmjax.report.geo` (the per-geo sections and page).

Example:
    >>> from mmmjax.report import write_report
    >>> write_report(fit, "out/report.html", validation=holdout(spec, data, n_test=13))
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from mmmjax.files import atomic_write_text
from mmmjax.kinds import is_panel
from mmmjax.report.html import html_page
from mmmjax.report.sections import (
    REPORT_DESIGN_SIZE,
    data_review_section,
    health_section,
    next_test_section,
    refresh_section,
    report_experiments,
    summary_section,
)

__all__ = [
    "REPORT_DESIGN_SIZE",
    "data_review_section",
    "health_section",
    "html_page",
    "next_test_section",
    "refresh_section",
    "render_report",
    "report_experiments",
    "summary_section",
    "write_report",
]


def render_report(
    fit,
    *,
    plan=None,
    validation=None,
    truth=None,
    title: str | None = None,
    health=None,
    experiments: pd.DataFrame | None = None,
    roi: pd.DataFrame | None = None,
    roi_geo: pd.DataFrame | None = None,
) -> str:
    """The report as one HTML string (see :func:`write_report`)."""
    if is_panel(fit):
        from mmmjax.report.geo import panel_page

        if validation is not None:
            raise ValueError("write_report: validation is not available for a geo panel")
        return panel_page(
            fit, plan=plan, truth=truth, roi_national=roi, roi_geo=roi_geo, title=title,
            health=health, experiments=experiments,
        )  # fmt: skip
    if roi_geo is not None:
        raise ValueError("write_report: roi_geo is for a fit with several geos")
    from mmmjax.report.national import national_page

    return national_page(
        fit, plan=plan, validation=validation, truth=truth, title=title, health=health,
        experiments=experiments, roi_frame=roi,
    )  # fmt: skip


def write_report(
    fit,
    path: str | os.PathLike,
    *,
    plan=None,
    validation=None,
    truth=None,
    title: str | None = None,
    health=None,
    experiments: pd.DataFrame | None = None,
    roi: pd.DataFrame | None = None,
    roi_geo: pd.DataFrame | None = None,
) -> Path:
    """Write one self-contained HTML report of ``fit`` and return its path.

    Args:
      fit: a :class:`~mmmjax.Fit`, or a :class:`~mmmjax.GeoFit`: a fit with several geos gets
        the per-geo sections (:func:`mmmjax.kinds.is_panel`).
      path: the HTML file to write, or an existing directory (``report.html`` is written in it).
        The write is atomic: a temporary file in the same directory renamed into place.
      plan: an optional budget plan (``mmmjax.optimize_budget(...)``; national for a geo fit):
        anything with ``allocation`` (Series by channel, money per period) and optionally
        ``expected_response``, ``to_frame()`` and ``plot()``.
      validation: optional out-of-sample results of a national fit: a
        :class:`mmmjax.inference.validation.Holdout`, the DataFrame of
        :func:`mmmjax.inference.validation.rolling_cv`,
        or :class:`~mmmjax.inference.validation.Metrics`, computed on the same data as ``fit`` (the
        ridge baseline holds out the same last ``n_test`` periods, so both models are scored out of
        sample on the same periods). A geo panel takes none (``ValueError``).
      truth: for simulated data, the ``Truth`` (or, national, a Series of true ROI by channel;
        for a panel the ``GeoTruth``); adds a true-vs-estimated table.
      title: page title (default names the target).
      health: the fit's :class:`~mmmjax.review.FitReview` (default: ``fit.review()``, out of
        sample when ``validation`` is a holdout); the page opens with its verdict.
      experiments: the ranked candidate lift tests for the "What to test next" section
        (default: :func:`mmmjax.design_experiment` of the fit; per geo and channel for a panel).
      roi: the national ROI table by channel (:func:`mmmjax.roi`; for a panel
        :func:`mmmjax.geo.roi` ``by="national"``) if already computed.
      roi_geo: for a panel, :func:`mmmjax.geo.roi` ``by="geo"`` if already computed.

    Returns:
      The path of the written file.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "report.html"
    text = render_report(
        fit, plan=plan, validation=validation, truth=truth, title=title, health=health,
        experiments=experiments, roi=roi, roi_geo=roi_geo,
    )  # fmt: skip
    return atomic_write_text(path, text)
