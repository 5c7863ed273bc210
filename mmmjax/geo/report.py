"""A self-contained HTML report of a geo fit. It opens, like the national report, with a summary
an executive reads in a minute: the health verdict of :meth:`GeoFit.review` and its reasons,
national ROI and marginal ROI per channel with 94% intervals, spend share against share of the
media effect, media against baseline, per-geo highlights (the least certain geo ROIs, the
highest and lowest ROI geo per channel, the worst-fitting geo) and the caveats. Then the health
checks, the data review (:func:`mmmjax.review_data`), the data, the fit of every geo (actual vs
predicted figures and in-sample metrics per geo), ROI and marginal ROI nationally and per geo,
calibration and sampler health.

It reuses the page and its pieces from :mod:`mmmjax.report` (summary, health and data-review
sections, CSS, escaped tables, embedded PNG figures), so it opens offline like the national
report: no JavaScript, no external URL, all text from the data HTML-escaped.

Example:
    >>> from mmmjax.geo.report import write_geo_report
    >>> write_geo_report(fit, "out/report.html")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
import pandas as pd

from mmmjax import plots
from mmmjax import validation as val
from mmmjax.files import atomic_write_text
from mmmjax.fit import sampler_messages
from mmmjax.geo import insights
from mmmjax.geo.fit import GeoFit
from mmmjax.insights import INTERVAL_QUANTILES
from mmmjax.report import (
    _fmt,
    _img,
    _interval,
    _num,
    _p,
    _range,
    _section,
    _table,
    data_review_section,
    health_section,
    html_page,
    lift_test_rows,
    next_test_section,
    refresh_section,
    report_experiments,
    summary_section,
)
from mmmjax.review import FitReview, review_data

__all__ = ["render_geo_report", "write_geo_report"]

MAX_PANELS = 60  # geos drawn in the actual-vs-predicted grid (the table lists every geo)
N_WIDEST = 3  # (geo, channel) ROI intervals named in the summary as the least certain


def _data_section(fit: GeoFit) -> str:
    ds = fit.dataset
    words = {"W": "weekly", "D": "daily"}.get(ds.freq, ds.freq)
    size = "population" if ds.population_name else "mean target (no population column)"
    text = (
        f"{ds.n_geos} geos × {ds.n_periods} {words} periods from {ds.dates[0].date()} to "
        f"{ds.dates[-1].date()}; {ds.n_channels} channels: {', '.join(ds.channels)}."
        + (f" Controls: {', '.join(ds.control_names)}." if ds.n_controls else "")
        + f" Spend is compared across geos per head, with each geo's {size} as its size."
    )
    spend = ds.spend.sum(axis=1)  # (G, C)
    rows = [
        (g, ds.population[i], ds.target[i].sum(), spend[i].sum(),
         *(100 * spend[i] / spend.sum(axis=0)))
        for i, g in enumerate(ds.geos)
    ]  # fmt: skip
    header = ["geo", "population" if ds.population_name else "population (not given)",
              f"total {ds.target_name}", "total spend",
              *(f"{c}: share of national spend (%)" for c in ds.channels)]  # fmt: skip
    return _section("data", "Data", [_p(text), _table(rows, header)])


def _geo_fit_rows(fit: GeoFit, predictive: np.ndarray) -> list[tuple]:
    """Per geo ``(name, R², MAPE %, % of periods inside the 94% predictive interval)`` from the
    ``(S, G, T)`` posterior predictive draws."""
    ds = fit.dataset
    mean = predictive.mean(axis=0)
    lo, hi = np.quantile(predictive, INTERVAL_QUANTILES, axis=0)
    inside = ((ds.target >= lo) & (ds.target <= hi)).mean(axis=1)  # (G,)
    return [
        (name, val.r2(ds.target[g], mean[g]), 100 * val.mape(ds.target[g], mean[g]),
         100 * float(inside[g]))
        for g, name in enumerate(ds.geos)
    ]  # fmt: skip


def _fit_section(fit: GeoFit, predictive: np.ndarray, rows: list[tuple]) -> str:
    ds = fit.dataset
    rows = list(rows)
    nat_draws = predictive.sum(axis=1)
    nat = ds.target.sum(axis=0)
    nat_lo, nat_hi = np.quantile(nat_draws, INTERVAL_QUANTILES, axis=0)
    rows.insert(0, ("national (sum of geos)", val.r2(nat, nat_draws.mean(0)),
                    100 * val.mape(nat, nat_draws.mean(0)),
                    100 * float(np.mean((nat >= nat_lo) & (nat <= nat_hi)))))  # fmt: skip
    shown = ds.geos[:MAX_PANELS]
    fig, axes = plots._grid(len(shown), ncols=4, size=(3.4, 2.2))
    for g, ax in enumerate(axes):
        plots._band(ax, ds.dates, predictive[:, g], plots._POST, "predicted")
        ax.plot(ds.dates, ds.target[g], color=plots._DATA, lw=0.8, marker=".", ms=2)
        ax.set_title(str(shown[g]), fontsize=9)
        ax.tick_params(labelsize=7)
        locator = mdates.AutoDateLocator(minticks=2)  # maxticks below 5 warns for some spans
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        plots._money_axis(ax)
    fig.suptitle(f"{ds.target_name} per geo: actual (dots) vs posterior predictive (94% band)")
    body = [
        _p("In-sample fit of every geo: R², MAPE and the share of periods whose actual value "
           "lies inside the 94% posterior predictive interval (near 94% is well calibrated)."),
        _table(rows, ["geo", "R²", "MAPE (%)", "inside 94% interval (%)"]),
        _img(fig, "actual vs predicted per geo"),
    ]  # fmt: skip
    if len(ds.geos) > MAX_PANELS:
        body.append(_p(f"The figure shows the first {MAX_PANELS} of {len(ds.geos)} geos.", "note"))
    return _section("fit", "Fit per geo", body)


def _roi_section(fit: GeoFit, national: pd.DataFrame, per_geo: pd.DataFrame) -> str:
    rows = [
        (ch, _interval(r.roi_mean, r.roi_low, r.roi_high),
         _interval(r.mroi_mean, r.mroi_low, r.mroi_high), r.spend, r.contribution_mean)
        for ch, r in national.iterrows()
    ]  # fmt: skip
    nat = _table(rows, ["channel", "ROI [94%]", "marginal ROI [94%]", "spend", "contribution"])
    grid = [
        (g, *(_interval(*per_geo.loc[(g, ch), ["roi_mean", "roi_low", "roi_high"]])
              for ch in fit.channels))
        for g in fit.geos
    ]  # fmt: skip
    body = [
        _p("National ROI is the sum of every geo's contribution over the sum of its spend; the "
           "national marginal ROI is the return of one more unit of national spend split over "
           "geos like the current spend."),
        nat,
        _p("ROI per geo and channel (posterior mean [94% interval]). Each geo's ROI is pooled "
           "toward the national one: a geo with little spend or noisy data stays close to it."),
        _table(grid, ["geo", *fit.channels]),
    ]  # fmt: skip
    return _section("roi", "ROI", body)


def _sampler_section(fit: GeoFit) -> str:
    diag = fit.diagnostics()
    rows = [
        ("max r-hat (want ≤ 1.01)", diag["max_r_hat"], diag.get("worst_r_hat", "")),
        ("min bulk ESS (want ≥ 400)", diag["min_ess_bulk"], diag.get("worst_ess_bulk", "")),
        ("min tail ESS", diag["min_ess_tail"], diag.get("worst_ess_tail", "")),
        ("divergences after warmup (want 0)", diag["divergences"], ""),
        ("draws kept (chains × draws)", diag["draws"], ""),
    ]
    msgs = sampler_messages(diag)
    info = fit.info or {}
    keys = ("chains", "draws", "warmup", "seconds", "chain_method")
    setup = ", ".join(f"{k} {_fmt(info[k])}" for k in keys if k in info)
    body = [
        _table(rows, ["check", "value", "worst parameter"]),
        *([_p(m, "warn") for m in msgs] or [_p("No sampler problems found.", "ok")]),
    ]
    if setup:
        body.append(_p(f"Sampling: {setup}.", "note"))
    return _section("sampler", "Sampler health", body)


def _truth_section(fit: GeoFit, national: pd.DataFrame, per_geo: pd.DataFrame, truth) -> str:
    t_geo = truth.roi.stack().to_numpy()
    inside = (t_geo >= per_geo.roi_low.to_numpy()) & (t_geo <= per_geo.roi_high.to_numpy())
    rows = []
    for ch in fit.channels:
        t = float(truth.national_roi[ch])
        r = national.loc[ch]
        rows.append((ch, t, _interval(r.roi_mean, r.roi_low, r.roi_high),
                     bool(r.roi_low <= t <= r.roi_high)))  # fmt: skip
    body = [
        _p(f"Simulated data: the true ROI lies inside the 94% interval for {int(inside.sum())} "
           f"of {inside.size} geo-channel pairs."),
        _table(rows, ["channel", "true national ROI", "estimated [94%]", "inside"]),
    ]  # fmt: skip
    return _section("truth", "True vs estimated (simulated data)", body)


def _calibration_section(fit: GeoFit) -> str | None:
    """Prior vs lift tests vs posterior ROI of each (geo, channel) a lift test ran on."""
    tests = fit.lift_tests
    if not tests:
        return None
    pairs = list(dict.fromkeys((t.geo, t.channel) for t in tests))
    gi = [fit.geos.index(g) for g, _ in pairs]
    ci = [fit.channels.index(c) for _, c in pairs]
    labels = [f"{g} / {c}" for g, c in pairs]
    posterior = fit.draws()["media_roi"][:, gi, ci]
    prior = insights.prior_roi_draws(fit)[:, gi, ci]
    cells, plotted = lift_test_rows(tests, fit.dataset.dates, insights.lift_draws(fit),
                                    name=lambda t: f"{t.geo} / {t.channel}")  # fmt: skip
    rows = [
        (k + 1, t.geo, t.channel, *c) for k, (t, c) in enumerate(zip(tests, cells, strict=True))
    ]
    summary = [
        (g, c, _interval(prior[:, j].mean(), *np.quantile(prior[:, j], INTERVAL_QUANTILES)),
         _interval(posterior[:, j].mean(), *np.quantile(posterior[:, j], INTERVAL_QUANTILES)))
        for j, (g, c) in enumerate(pairs)
    ]  # fmt: skip
    body = [
        _p(
            "Each lift test ran in one geo and calibrates that geo's response. Prior ROI: the "
            "geo model's priors (pooled log ROI); posterior ROI: this fit, the tests' "
            "likelihood terms included. A test's ROI is its lift over its extra spend in its "
            "window (no carryover after it), so it need not equal the geo's average ROI."
        ),
        _table(summary, ["geo", "channel", "prior ROI [94%]", "posterior ROI [94%]"], left=2),
        "<h3>Lift tests</h3>",
        _table(
            rows,
            [
                "test",
                "geo",
                "channel",
                "window",
                "periods",
                "spend change per period",
                "measured lift ± se",
                "test ROI [± 1.96 se]",
                "model's implied lift [94%]",
            ],
            left=3,
        ),
        _img(plots.plot_calibration(labels, posterior, prior, plotted), "calibration"),
    ]
    return _section("calibration", "Calibration: prior, lift tests and posterior ROI", body)


def geo_highlights(fit: GeoFit, per_geo: pd.DataFrame, fit_rows: list[tuple]) -> list[str]:
    """The per-geo lines of the summary, as sentences: the ``N_WIDEST`` (geo, channel) pairs with
    the widest 94% ROI interval (``roi_high - roi_low``, the least certain), the geos with the
    highest and lowest mean ROI per channel (geos without spend on it left out), and the geo
    with the lowest in-sample R² (``fit_rows`` of :func:`_geo_fit_rows`)."""
    frame = per_geo.dropna(subset=["roi_mean"])
    width = (frame["roi_high"] - frame["roi_low"]).sort_values(ascending=False)
    widest = [
        f"{g} / {ch} {_range(*frame.loc[(g, ch), ['roi_mean', 'roi_low', 'roi_high']])}"
        for g, ch in width.index[:N_WIDEST]
    ]
    out = ["Least certain geo ROIs (widest 94% intervals): " + "; ".join(widest) + "."]
    out = out if widest else []  # no geo spends on any channel: nothing to rank
    mean = frame["roi_mean"].unstack("channel")  # (geo, channel), NaN where no spend
    spread = [
        f"{ch} highest in {mean[ch].idxmax()} ({_num(mean[ch].max())}), lowest in "
        f"{mean[ch].idxmin()} ({_num(mean[ch].min())})"
        for ch in fit.channels
        if ch in mean and mean[ch].notna().sum() > 1
    ]
    if spread:
        out.append("ROI by geo: " + "; ".join(spread) + ".")
    worst = min(fit_rows, key=lambda r: r[1])
    out.append(
        f"Weakest fit: {worst[0]} (in-sample R² {worst[1]:.2f}, {worst[3]:.0f}% of periods "
        "inside the 94% interval); every geo's fit is under Fit per geo."
    )
    return out


def render_geo_report(
    fit: GeoFit,
    *,
    truth=None,
    roi_national=None,
    roi_geo=None,
    title: str | None = None,
    health: FitReview | None = None,
    experiments: pd.DataFrame | None = None,
) -> str:
    """The report as one HTML string (see :func:`write_geo_report`)."""
    national = insights.roi(fit, by="national") if roi_national is None else roi_national
    per_geo = insights.roi(fit, by="geo") if roi_geo is None else roi_geo
    health = fit.review() if health is None else health
    data_review = review_data(fit.dataset, fit.spec)
    predictive = fit.idata.posterior_predictive["target"].values
    predictive = predictive.reshape(-1, *predictive.shape[2:])
    fit_rows = _geo_fit_rows(fit, predictive)
    highlights = [_p(t) for t in geo_highlights(fit, per_geo, fit_rows)]
    parts = insights.contributions(fit, by="national")
    summary = summary_section(fit, health, data_review, national, parts, extra=highlights)
    sections = [
        ("health", "Health", health_section(health)),
        ("data-review", "Data review", data_review_section(data_review)),
        ("data", "Data", _data_section(fit)),
        ("fit", "Fit", _fit_section(fit, predictive, fit_rows)),
        ("refresh", "What moved", refresh_section(fit, national)),
        ("roi", "ROI", _roi_section(fit, national, per_geo)),
        (
            "next-test",
            "What to test next",
            next_test_section(report_experiments(fit) if experiments is None else experiments),
        ),
        ("calibration", "Calibration", _calibration_section(fit)),
        ("sampler", "Sampler", _sampler_section(fit)),
    ]
    # calibration only when calibrated, what moved only for a refresh, what to test next only
    # when a candidate could be built
    sections = [s for s in sections if s[2] is not None]
    if truth is not None:
        sections.append(("truth", "Truth", _truth_section(fit, national, per_geo, truth)))
    m = fit.spec.model
    title = title or f"Geo marketing-mix model report: {fit.dataset.target_name}"
    model = (
        f"hierarchical geo model over {fit.dataset.n_geos} geos: {m.adstock} adstock and "
        f"{m.saturation} saturation shared by every geo (spend per head); ROI, trend, "
        f"seasonality (Fourier order {m.seasonality}) and control effects per geo, partially "
        f"pooled toward national values; {m.likelihood} likelihood."
    )
    return html_page(title, summary, model, sections)


def write_geo_report(fit: GeoFit, path: str | os.PathLike, **kwargs) -> Path:
    """Write the report of ``fit`` to ``path`` (one HTML file); keywords as
    :func:`render_geo_report`: ``truth`` adds a true-vs-estimated section for simulated data,
    ``health`` is the fit's :class:`~mmmjax.review.FitReview` (default ``fit.review()``) whose
    verdict opens the page, ``roi_national`` / ``roi_geo`` reuse ROI tables already computed,
    ``experiments`` a :func:`mmmjax.design_experiment` table for "What to test next" (default:
    its candidates per geo and channel)."""
    return atomic_write_text(path, render_geo_report(fit, **kwargs))
