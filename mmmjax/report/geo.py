"""The sections of a geo panel's report (several geos) and the page they make.

Like the national page it opens with the summary an executive reads in a minute
(:func:`mmmjax.report.sections.summary_section`): the health verdict of :meth:`GeoFit.review`
and its reasons, national ROI and marginal ROI per channel with 94% intervals, spend share
against share of the media effect, media against baseline, per-geo highlights
(:func:`geo_highlights`: the least certain geo ROIs, the highest and lowest ROI geo per channel,
the worst-fitting geo) and the caveats. Then the health checks, the data review, the data, the
fit of every geo (actual vs predicted figures and in-sample metrics per geo), ROI and marginal
ROI nationally and per geo, what to test next, calibration, sampler health and, when given, the
optimal budget and the true values. :func:`mmmjax.report.write_report` writes it for any fit
with several geos (:func:`mmmjax.kinds.is_panel`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmmjax import plots
from mmmjax.geo import insights
from mmmjax.inference import validation as val
from mmmjax.insights import INTERVAL_QUANTILES
from mmmjax.report.html import html_page, image, interval, num, num_range, para, section, table
from mmmjax.report.sections import (
    data_review_section,
    health_section,
    lift_test_rows,
    next_test_section,
    plan_section,
    refresh_section,
    report_experiments,
    sampler_section,
    summary_section,
)
from mmmjax.review import review_data

__all__ = ["MAX_PANELS", "N_WIDEST", "geo_fit_rows", "geo_highlights", "panel_page"]

#: Geos drawn in the actual-vs-predicted grid (the table lists every geo).
MAX_PANELS = 60
#: (geo, channel) ROI intervals named in the summary as the least certain.
N_WIDEST = 3


def _data_section(fit) -> str:
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
    return section("data", "Data", [para(text), table(rows, header)])


def geo_fit_rows(fit, predictive: np.ndarray) -> list[tuple]:
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


def _fit_section(fit, predictive: np.ndarray, rows: list[tuple]) -> str:
    ds = fit.dataset
    rows = list(rows)
    nat_draws = predictive.sum(axis=1)
    nat = ds.target.sum(axis=0)
    nat_lo, nat_hi = np.quantile(nat_draws, INTERVAL_QUANTILES, axis=0)
    rows.insert(0, ("national (sum of geos)", val.r2(nat, nat_draws.mean(0)),
                    100 * val.mape(nat, nat_draws.mean(0)),
                    100 * float(np.mean((nat >= nat_lo) & (nat <= nat_hi)))))  # fmt: skip
    fig = plots.plot_geo_fit(ds, predictive, MAX_PANELS)
    body = [
        para("In-sample fit of every geo: R², MAPE and the share of periods whose actual value "
             "lies inside the 94% posterior predictive interval (near 94% is well calibrated)."),
        table(rows, ["geo", "R²", "MAPE (%)", "inside 94% interval (%)"]),
        image(fig, "actual vs predicted per geo"),
    ]  # fmt: skip
    if len(ds.geos) > MAX_PANELS:
        body.append(
            para(f"The figure shows the first {MAX_PANELS} of {len(ds.geos)} geos.", "note")
        )
    return section("fit", "Fit per geo", body)


def _roi_section(fit, national: pd.DataFrame, per_geo: pd.DataFrame) -> str:
    rows = [
        (ch, interval(r.roi_mean, r.roi_low, r.roi_high),
         interval(r.mroi_mean, r.mroi_low, r.mroi_high), r.spend, r.contribution_mean)
        for ch, r in national.iterrows()
    ]  # fmt: skip
    nat = table(rows, ["channel", "ROI [94%]", "marginal ROI [94%]", "spend", "contribution"])
    grid = [
        (g, *(interval(*per_geo.loc[(g, ch), ["roi_mean", "roi_low", "roi_high"]])
              for ch in fit.channels))
        for g in fit.geos
    ]  # fmt: skip
    body = [
        para("National ROI is the sum of every geo's contribution over the sum of its spend; the "
             "national marginal ROI is the return of one more unit of national spend split over "
             "geos like the current spend."),
        nat,
        para("ROI per geo and channel (posterior mean [94% interval]). Each geo's ROI is pooled "
             "toward the national one: a geo with little spend or noisy data stays close to it."),
        table(grid, ["geo", *fit.channels]),
    ]  # fmt: skip
    return section("roi", "ROI", body)


def _truth_section(fit, national: pd.DataFrame, per_geo: pd.DataFrame, truth) -> str:
    t_geo = truth.roi.stack().to_numpy()
    inside = (t_geo >= per_geo.roi_low.to_numpy()) & (t_geo <= per_geo.roi_high.to_numpy())
    rows = []
    for ch in fit.channels:
        t = float(truth.national_roi[ch])
        r = national.loc[ch]
        rows.append((ch, t, interval(r.roi_mean, r.roi_low, r.roi_high),
                     bool(r.roi_low <= t <= r.roi_high)))  # fmt: skip
    body = [
        para(f"Simulated data: the true ROI lies inside the 94% interval for {int(inside.sum())} "
             f"of {inside.size} geo-channel pairs."),
        table(rows, ["channel", "true national ROI", "estimated [94%]", "inside"]),
    ]  # fmt: skip
    return section("truth", "True vs estimated (simulated data)", body)


def _calibration_section(fit) -> str | None:
    """Prior vs lift tests vs posterior ROI of each (geo, channel) a lift test ran on."""
    tests = fit.lift_tests
    if not tests:
        return None
    where = lambda t: "national" if t.geo is None else t.geo  # noqa: E731
    pairs = list(dict.fromkeys((where(t), t.channel) for t in tests))
    labels = [f"{g} / {c}" for g, c in pairs]
    # per geo, and national (a national test): the window ROI is the spend-weighted mean
    post_geo, prior_geo = fit.draws()["media_roi"], insights.prior_roi_draws(fit)
    shares = insights.spend_shares(fit)  # (G, C)
    post_nat = np.einsum("sgc,gc->sc", post_geo, shares)
    prior_nat = np.einsum("sgc,gc->sc", prior_geo, shares)

    def column(geo_draws, nat_draws, g, c):
        c = fit.channels.index(c)
        return nat_draws[:, c] if g == "national" else geo_draws[:, fit.geos.index(g), c]

    posterior = np.stack([column(post_geo, post_nat, g, c) for g, c in pairs], axis=1)
    prior = np.stack([column(prior_geo, prior_nat, g, c) for g, c in pairs], axis=1)
    cells, plotted = lift_test_rows(tests, fit.dataset.dates, insights.lift_draws(fit),
                                    name=lambda t: f"{where(t)} / {t.channel}")  # fmt: skip
    rows = [
        (k + 1, where(t), t.channel, *c) for k, (t, c) in enumerate(zip(tests, cells, strict=True))
    ]
    summary = [
        (g, c, interval(prior[:, j].mean(), *np.quantile(prior[:, j], INTERVAL_QUANTILES)),
         interval(posterior[:, j].mean(), *np.quantile(posterior[:, j], INTERVAL_QUANTILES)))
        for j, (g, c) in enumerate(pairs)
    ]  # fmt: skip
    body = [
        para(
            "Each lift test ran in one geo and calibrates that geo's response (a national test: "
            "every geo's, its spend change shared out as the channel's spend is). Prior ROI: the "
            "geo model's priors (pooled log ROI); posterior ROI: this fit, the tests' "
            "likelihood terms included. A test's ROI is its lift over its extra spend in its "
            "window (no carryover after it), so it need not equal the geo's average ROI."
        ),
        table(summary, ["geo", "channel", "prior ROI [94%]", "posterior ROI [94%]"], left=2),
        "<h3>Lift tests</h3>",
        table(
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
        image(plots.plot_calibration(labels, posterior, prior, plotted), "calibration"),
    ]
    return section("calibration", "Calibration: prior, lift tests and posterior ROI", body)


def geo_highlights(fit, per_geo: pd.DataFrame, fit_rows: list[tuple]) -> list[str]:
    """The per-geo lines of the summary, as sentences: the ``N_WIDEST`` (geo, channel) pairs with
    the widest 94% ROI interval (``roi_high - roi_low``, the least certain), the geos with the
    highest and lowest mean ROI per channel (geos without spend on it left out), and the geo
    with the lowest in-sample R² (``fit_rows`` of :func:`geo_fit_rows`)."""
    frame = per_geo.dropna(subset=["roi_mean"])
    width = (frame["roi_high"] - frame["roi_low"]).sort_values(ascending=False)
    widest = [
        f"{g} / {ch} {num_range(*frame.loc[(g, ch), ['roi_mean', 'roi_low', 'roi_high']])}"
        for g, ch in width.index[:N_WIDEST]
    ]
    out = ["Least certain geo ROIs (widest 94% intervals): " + "; ".join(widest) + "."]
    out = out if widest else []  # no geo spends on any channel: nothing to rank
    mean = frame["roi_mean"].unstack("channel")  # (geo, channel), NaN where no spend
    spread = [
        f"{ch} highest in {mean[ch].idxmax()} ({num(mean[ch].max())}), lowest in "
        f"{mean[ch].idxmin()} ({num(mean[ch].min())})"
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


def panel_page(
    fit,
    *,
    plan=None,
    truth=None,
    roi_national: pd.DataFrame | None = None,
    roi_geo: pd.DataFrame | None = None,
    title: str | None = None,
    health=None,
    experiments: pd.DataFrame | None = None,
) -> str:
    """The report of a fit with several geos as one HTML string; the arguments are those of
    :func:`mmmjax.report.write_report` (``roi_national``: its ``roi``, national ROI by channel;
    ``roi_geo``: ROI by geo and channel, :func:`mmmjax.geo.roi` ``by="geo"``)."""
    national = insights.roi(fit, by="national") if roi_national is None else roi_national
    per_geo = insights.roi(fit, by="geo") if roi_geo is None else roi_geo
    health = fit.review() if health is None else health
    data_review = review_data(fit.dataset, fit.spec)
    predictive = fit.idata.posterior_predictive["target"].values
    predictive = predictive.reshape(-1, *predictive.shape[2:])
    fit_rows = geo_fit_rows(fit, predictive)
    highlights = [para(t) for t in geo_highlights(fit, per_geo, fit_rows)]
    parts = insights.contributions(fit, by="national")
    summary = summary_section(fit, health, data_review, national, parts, plan, extra=highlights)
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
        ("sampler", "Sampler", sampler_section(fit, ranks=False)),
    ]
    # calibration only when calibrated, what moved only for a refresh, what to test next only
    # when a candidate could be built
    sections = [s for s in sections if s[2] is not None]
    if plan is not None:
        sections.append(("budget", "Budget", plan_section(plan)))
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
