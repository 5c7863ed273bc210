"""The sections of a national fit's report (one geo) and the page they make.

The page answers, in order: what data went in; how carryover is modelled and what was learned;
which priors were used and why; how well the model fits (in and out of sample, against a ridge
baseline); what each channel contributed and returns (ROI, marginal ROI, which channel is best);
whether the sampler can be trusted; for a calibrated fit (ROI priors or lift tests), how the
prior, the experiments and the posterior compare; and, when given, the optimal budget and the
true values (simulated data). It opens with the summary and health sections of
:mod:`mmmjax.report.sections`. :func:`mmmjax.report.write_report` writes it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from mmmjax import plots
from mmmjax.inference import validation as val
from mmmjax.insights import (
    INTERVAL_QUANTILES,
    adstock_weights,
    contributions,
    lift_draws,
    response_curves,
    roi,
    roi_draws,
)
from mmmjax.model.priors import DEFAULT_PRIORS, resolve_priors
from mmmjax.report.html import fmt, html_page, image, interval, para, pct, section, table
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
from mmmjax.transforms import ADSTOCKS

__all__ = ["ADSTOCK_WORDS", "CARRYOVER_COLUMNS", "half_life", "national_page"]


def _data_section(fit) -> str:
    ds = fit.dataset
    spend = np.asarray(ds.spend, dtype=np.float64)
    total = spend.sum(0)
    words = {"W": "weekly", "D": "daily"}.get(ds.freq, ds.freq)
    body = [
        para(
            f"{ds.n_periods} {words} periods from {ds.dates[0].date()} to {ds.dates[-1].date()}; "
            f"target {ds.target_name!r} totals {fmt(float(ds.target.sum()))} "
            f"(mean {fmt(float(ds.target.mean()))} per period). "
            f"{ds.n_channels} channels: {', '.join(ds.channels)}."
            + (f" Controls: {', '.join(ds.control_names)}." if ds.n_controls else "")
            + (f" Events: {', '.join(ds.event_names)}." if ds.n_events else "")
        ),
        table(
            [
                (
                    ch,
                    total[c],
                    total[c] / total.sum() * 100,
                    spend[:, c].mean(),
                    int((spend[:, c] > 0).sum()),
                )
                for c, ch in enumerate(ds.channels)
            ],
            [
                "channel",
                "total spend",
                "share of spend (%)",
                "mean spend per period",
                "periods with spend",
            ],
        ),
    ]
    return section("data", "Data", body)


#: Carryover in words, per adstock kernel of :data:`mmmjax.transforms.ADSTOCKS` (``{l_max}`` is
#: the spec's longest lag); a kernel missing here is named by its registry name.
ADSTOCK_WORDS: dict[str, str] = {
    "geometric": "geometric adstock: each period keeps a share alpha of the previous period's "
    "adstocked spend (infinite horizon, normalised so a unit of spend has total weight 1); the "
    "half-life is log(0.5) / log(alpha) periods",
    "delayed": "delayed adstock over {l_max} lags: weight alpha^((lag - theta)^2), peaking "
    "theta periods after the spend",
    "weibull_pdf": "Weibull-PDF adstock over {l_max} lags (the effect can peak later)",
    "weibull_cdf": "Weibull-CDF adstock over {l_max} lags (decaying survival curve)",
}


def half_life(draws: dict[str, np.ndarray]) -> np.ndarray:
    """Half-life in periods of geometric adstock, ``log(0.5) / log(alpha)``, from the
    ``(S, C)`` draws of ``alpha`` (clipped inside ``(0, 1)``)."""
    return np.log(0.5) / np.log(np.clip(draws["alpha"], 1e-9, 1 - 1e-9))


#: Columns the carryover table adds for a kernel: ``(header, f)`` with ``f`` mapping the
#: kernel's ``{parameter: (S, C) draws}`` to ``(S, C)`` draws, shown as median [94%].
CARRYOVER_COLUMNS: dict[str, tuple[tuple[str, Callable], ...]] = {
    "geometric": (("half-life, periods (median [94%])", half_life),),
}


def _carryover_section(fit, weights) -> str:
    spec = fit.spec
    post = fit.idata.posterior
    kind = spec.adstock
    how = ADSTOCK_WORDS.get(kind, f"{kind} adstock").format(l_max=spec.l_max)
    C = len(fit.channels)
    draws = {
        n: np.asarray(post[n].values, dtype=np.float64).reshape(-1, C)
        for n in ADSTOCKS[kind].params
        if n in post
    }
    derived = [(head, f(draws)) for head, f in CARRYOVER_COLUMNS.get(kind, ())]
    header = ["channel", *(f"{n} mean [94%]" for n in draws), *(head for head, _ in derived)]
    rows = []
    for c, ch in enumerate(fit.channels):
        row = [ch]
        for d in draws.values():
            row.append(interval(d[:, c].mean(), *np.quantile(d[:, c], INTERVAL_QUANTILES)))
        for _, d in derived:
            row.append(
                interval(float(np.median(d[:, c])), *np.quantile(d[:, c], INTERVAL_QUANTILES))
            )
        rows.append(row)
    body = [
        para(f"Carryover is modelled with {how}. Saturation: {spec.saturation}."),
        image(plots.plot_adstock(fit, weights), "adstock decay per channel"),
        table(rows, header),
    ]
    return section("carryover", "Carryover (adstock)", body)


def _prior_section(fit) -> str:
    spec = fit.spec
    channels = fit.channels
    resolved = spec.resolved_priors(channels)
    defaults = resolve_priors(None, channels, multiplicative=spec.multiplicative)
    rows = []
    for name in fit.sites:
        if name not in resolved:
            continue
        p = resolved[name]
        params = ", ".join(f"{k}={_plain(v)}" for k, v in p.params.items())
        why = DEFAULT_PRIORS.get(name, (None, ""))[1]
        if p != defaults.get(name):
            why = "user override. Default reason: " + why
        rows.append((name, f"{p.dist}({params})", why))
    prior_pp = getattr(fit.idata, "prior_predictive", None)
    body = [
        para(
            "Priors are stated in scaled units: spend over each channel's mean spend, target "
            "over its mean, standardised controls. media_roi is the channel's ROI over the data "
            "window, in money per money."
        ),
        table(rows, ["parameter", "prior", "why"], left=3),
        image(plots.plot_prior_posterior(fit), "prior vs posterior of channel parameters"),
    ]
    if prior_pp is not None and "target" in prior_pp:
        body.append(
            para(
                "Prior predictive check: the grey band is what the priors alone expect of the "
                "target, blue is the posterior. The data should sit well inside the grey band "
                "(priors allow it) and the blue band should be much narrower (data informed it)."
            )
        )
        body.append(image(plots.plot_prior_predictive(fit), "prior vs posterior predictive"))
    else:
        body.append(para("This fit holds no prior predictive draws (prior_draws=0).", "note"))
    return section("priors", "Priors", body)


def _plain(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(f"{float(x):g}" for x in v) + "]"
    return f"{float(v):g}"


def _fit_section(fit, metrics, validation, ridge, mmm_out) -> str:
    m = metrics
    rows = [
        ("R²", m.r2),
        ("MAPE", pct(m.mape)),
        ("NRMSE", pct(m.nrmse)),
        ("coverage of the 50% interval", pct(m.coverage_50)),
        ("coverage of the 94% interval", pct(m.coverage_94)),
        ("CRPS (money per period)", m.crps),
    ]
    header = ["metric", "in sample"]
    if mmm_out is not None:
        o = mmm_out
        outs = [o.r2, pct(o.mape), pct(o.nrmse), pct(o.coverage_50), pct(o.coverage_94), o.crps]
        rows = [(*r, x) for r, x in zip(rows, outs, strict=True)]
        header.append(f"out of sample (last {o.n_periods} periods)")
    body = [
        para(
            "Point metrics use the posterior mean prediction; coverage is the share of periods "
            "whose observed target lies inside the posterior predictive interval (a calibrated "
            "model gives about 50% and 94%)."
        ),
        table(rows, header),
        image(plots.plot_fit(fit), "fit vs actual"),
    ]
    body += _validation_parts(validation)
    body.append("<h3>Against a simple baseline</h3>")
    body.append(
        para(
            f"A ridge regression on geometrically adstocked spend (one decay {ridge.decay:g} and "
            f"penalty {ridge.alpha:g}, chosen by leave-one-out error), with the same controls, a "
            "linear trend and yearly seasonality. If the Bayesian model does not beat it out of "
            "sample, its extra structure is not paying for itself."
        )
    )
    rrows = [
        (
            "Bayesian MMM",
            m.r2,
            pct(m.mape),
            mmm_out.r2 if mmm_out else float("nan"),
            pct(mmm_out.mape) if mmm_out else "–",
        ),
        ("ridge baseline", ridge.r2_in, pct(ridge.mape_in), ridge.r2_out, pct(ridge.mape_out)),
    ]
    tag = f" (last {ridge.n_test})" if ridge.n_test else ""
    body.append(table(rrows, ["model", "R² in", "MAPE in", f"R² out{tag}", f"MAPE out{tag}"]))
    return section("fit", "How well the model fits", body)


def _validation_parts(validation) -> list[str]:
    if validation is None:
        return [
            para(
                "No out-of-sample validation was given (see mmmjax.inference.validation.holdout).",
                "note",
            )
        ]
    if isinstance(validation, pd.DataFrame):
        rows = [
            (i, *r)
            for i, r in zip(validation.index, validation.itertuples(index=False), strict=True)
        ]
        return [
            "<h3>Rolling-origin cross-validation</h3>",
            table(rows, [str(validation.index.name or ""), *map(str, validation.columns)]),
            para(
                f"Mean out-of-sample MAPE {pct(float(validation['mape'].mean()))}"
                if "mape" in validation
                else ""
            ),
        ]
    if hasattr(validation, "dates") and hasattr(validation, "actual"):
        return [
            "<h3>Holdout forecast</h3>",
            image(plots.plot_holdout(validation), "holdout forecast"),
        ]
    return []


def _out_metrics(validation):
    if validation is None:
        return None
    if isinstance(validation, val.Metrics):
        return validation
    return getattr(validation, "metrics", None)


def _channel_section(fit, roi_frame, parts, spend, curves, shares) -> str:
    r = roi_frame
    rows = [
        (
            ch,
            r.loc[ch, "spend"],
            r.loc[ch, "contribution_mean"],
            shares.get(ch, float("nan")) * 100,
            interval(*r.loc[ch, ["roi_mean", "roi_low", "roi_high"]]),
            interval(*r.loc[ch, ["mroi_mean", "mroi_low", "mroi_high"]]),
        )
        for ch in r.index
    ]
    body = [
        para(_best_sentence(r, "roi", "Highest ROI over the data window")),
        para(_best_sentence(r, "mroi", "The next dollar is best spent on"), "key"),
        table(
            rows,
            [
                "channel",
                "spend",
                "contribution (mean)",
                "share of prediction (%)",
                "ROI mean [94%]",
                "marginal ROI mean [94%]",
            ],
        ),
        para(
            "ROI is the channel's contribution over the window divided by its spend. Marginal "
            "ROI is the extra target from one more unit of spend per period at the current mean "
            "spend, once carryover has settled; below 1 the last unit does not pay back.",
            "note",
        ),
        image(plots.plot_roi(fit, r), "ROI and marginal ROI forest plot"),
        image(plots.plot_contributions(fit, parts), "contributions over time"),
        image(plots.plot_waterfall(fit, parts), "contribution waterfall"),
        image(plots.plot_response_curves(fit, spend=spend, curves=curves), "response curves"),
    ]
    return section("channels", "Channels: contribution, ROI and marginal ROI", body)


def _roi_prior_channels(fit) -> list[str]:
    """Channels whose ``media_roi`` prior the user set (all of them for one shared Prior)."""
    given = (fit.spec.priors or {}).get("media_roi")
    if given is None:
        return []
    if isinstance(given, Mapping) and not ("dist" in given and "params" in given):
        return [ch for ch in fit.channels if ch in given]
    return list(fit.channels)


def _calibration_section(fit) -> str | None:
    """Prior vs lift tests vs posterior ROI, for channels with an ROI prior or a lift test."""
    with_prior = _roi_prior_channels(fit)
    tests = fit.lift_tests
    if not with_prior and not tests:
        return None
    names = [ch for ch in fit.channels if ch in with_prior or any(t.channel == ch for t in tests)]
    idx = [fit.channels.index(ch) for ch in names]
    posterior = roi_draws(fit)[:, idx]
    prior = roi_draws(fit, "prior")[:, idx] if hasattr(fit.idata, "prior") else None
    cells, plotted = lift_test_rows(tests, fit.dataset.dates, lift_draws(fit))
    rows = [(str(k + 1), t.channel, *c) for k, (t, c) in enumerate(zip(tests, cells, strict=True))]
    summary = []
    for c, ch in enumerate(names):
        measured = [f"{fmt(v)} ± {fmt(1.96 * e)}" for name, _, v, e, _ in plotted if name == ch]
        post = posterior[:, c]
        row = [ch, "yes" if ch in with_prior else "no (default)"]
        if prior is not None:
            row.append(interval(prior[:, c].mean(), *np.quantile(prior[:, c], INTERVAL_QUANTILES)))
        row += ["; ".join(measured) or "–",
                interval(post.mean(), *np.quantile(post, INTERVAL_QUANTILES))]  # fmt: skip
        summary.append(row)
    header = ["channel", "ROI prior set"]
    if prior is not None:
        header.append("prior ROI [94%]")
    header += ["lift tests' ROI (± 1.96 se)", "posterior ROI [94%]"]
    body = [
        para(
            "What was known before the data (ROI priors) and from experiments (lift tests), and "
            "what the calibrated model concludes. The prior ROI is the window ROI the priors "
            "imply (from the fit's prior draws); the posterior ROI is this fit's, with the lift "
            "tests' likelihood terms included."
        ),
        table(summary, header),
    ]
    if prior is None:
        body.append(para("This fit holds no prior draws (prior_draws=0): no prior ROI.", "note"))
    if tests:
        body += [
            "<h3>Lift tests</h3>",
            table(
                rows,
                [
                    "test",
                    "channel",
                    "window",
                    "periods",
                    "spend change per period",
                    "measured lift ± se",
                    "test ROI [± 1.96 se]",
                    "model's implied lift [94%]",
                ],
            ),
            para(
                "A test's ROI is its lift over its extra spend (spend change × periods): the "
                "return on that extra spend in that window, at the spend level of the time and "
                "without the carryover after the window, so it need not equal the channel's "
                "average ROI over the data. The model's implied lift is what the fitted model "
                "says the same test should have measured; when it lies within the test's band, "
                "model and experiment agree.",
                "note",
            ),
        ]
    body.append(image(plots.plot_calibration(names, posterior, prior, plotted), "calibration"))
    return section("calibration", "Calibration: prior, lift tests and posterior ROI", body)


def _best_sentence(r: pd.DataFrame, key: str, lead: str) -> str:
    order = r[f"{key}_mean"].sort_values(ascending=False)
    best = order.index[0]
    lo, hi = r.loc[best, f"{key}_low"], r.loc[best, f"{key}_high"]
    text = (
        f"{lead} {best}: {fmt(r.loc[best, f'{key}_mean'])} per unit of spend "
        f"(94% interval {fmt(lo)} to {fmt(hi)})."
    )
    if len(order) > 1:
        second = order.index[1]
        if r.loc[second, f"{key}_high"] > lo:
            text += (
                f" Its interval overlaps that of {second} "
                f"({fmt(r.loc[second, f'{key}_mean'])}), so the ranking is not certain."
            )
    return text


def _collinearity_section(vifs: pd.Series) -> str:
    msgs = val.vif_warnings(vifs)
    body = [
        para(
            "Variance inflation factors of the channels' spend (1 = unrelated to the other "
            f"channels; above {val.VIF_THRESHOLD:g} they can hardly be told apart)."
        ),
        table([(ch, v) for ch, v in vifs.items()], ["channel", "VIF"]),
    ]
    body += [para(m, "warn") for m in msgs] or [para("No channel is badly collinear.", "ok")]
    return section("collinearity", "Can the channels be told apart?", body)


def _truth_section(fit, roi_frame, truth) -> str:
    true_roi = pd.Series(getattr(truth, "roi", truth))
    true_mroi = getattr(truth, "mroi", None)
    rows = []
    for ch in fit.channels:
        t = float(true_roi.get(ch, float("nan")))
        r = roi_frame.loc[ch]
        row = [
            ch,
            t,
            interval(r.roi_mean, r.roi_low, r.roi_high),
            bool(r.roi_low <= t <= r.roi_high),
        ]
        if true_mroi is not None:
            tm = float(pd.Series(true_mroi).get(ch, float("nan")))
            row += [
                tm,
                interval(r.mroi_mean, r.mroi_low, r.mroi_high),
                bool(r.mroi_low <= tm <= r.mroi_high),
            ]
        rows.append(row)
    header = ["channel", "true ROI", "estimated ROI [94%]", "inside"]
    if true_mroi is not None:
        header += ["true mROI", "estimated mROI [94%]", "inside"]
    inside = sum(bool(r[3]) for r in rows)
    body = [
        para(
            f"Simulated data: the true ROI lies inside the 94% interval for {inside} of "
            f"{len(rows)} channels."
        ),
        table(rows, header),
    ]
    return section("truth", "True vs estimated (simulated data)", body)


def national_page(
    fit,
    *,
    plan=None,
    validation=None,
    truth=None,
    title: str | None = None,
    health=None,
    experiments=None,
    roi_frame: pd.DataFrame | None = None,
) -> str:
    """The report of a national fit (one geo) as one HTML string; the arguments are those of
    :func:`mmmjax.report.write_report` (``roi_frame``: its ``roi``)."""
    from mmmjax.review import review_data

    if health is None:
        health = fit.review(holdout=validation if isinstance(validation, val.Holdout) else None)
    data_review = review_data(fit.dataset, fit.spec)
    roi_frame = roi(fit) if roi_frame is None else roi_frame
    parts = contributions(fit)
    weights = adstock_weights(fit)
    mean_spend = np.asarray(fit.dataset.spend, dtype=np.float64).mean(0)
    spend = np.linspace(0.0, 2.5, 41)[:, None] * mean_spend[None]
    curves = response_curves(fit, spend)
    totals = parts.sum("date").values
    share = totals / totals.sum(-1, keepdims=True)
    shares = dict(zip(map(str, parts["component"].values), share.mean(0), strict=True))
    metrics = val.in_sample(fit)
    out = _out_metrics(validation)
    T = fit.dataset.n_periods
    n_test = getattr(validation, "n_test", None) or min(13, T // 5)
    ridge = val.ridge_baseline(
        fit.dataset, n_test=n_test, seasonality=fit.spec.seasonality, trend=fit.spec.trend != "none"
    )
    sections = [
        ("health", "Health", health_section(health)),
        ("data-review", "Data review", data_review_section(data_review)),
        ("data", "Data", _data_section(fit)),
        ("carryover", "Carryover", _carryover_section(fit, weights)),
        ("priors", "Priors", _prior_section(fit)),
        ("fit", "Fit", _fit_section(fit, metrics, validation, ridge, out)),
        ("channels", "Channels", _channel_section(fit, roi_frame, parts, spend, curves, shares)),
        ("refresh", "What moved", refresh_section(fit, roi_frame)),
        (
            "next-test",
            "What to test next",
            next_test_section(report_experiments(fit) if experiments is None else experiments),
        ),
        ("calibration", "Calibration", _calibration_section(fit)),
        ("collinearity", "Collinearity", _collinearity_section(val.vif(fit.dataset))),
        ("sampler", "Sampler", sampler_section(fit)),
    ]
    # calibration only when calibrated, what moved only for a refresh
    sections = [s for s in sections if s[2] is not None]
    if plan is not None:
        sections.append(("budget", "Budget", plan_section(plan)))
    if truth is not None:
        sections.append(("truth", "Truth", _truth_section(fit, roi_frame, truth)))
    spec = fit.spec
    title = title or f"Marketing-mix model report: {fit.dataset.target_name}"
    model = (
        f"{spec.form} model, {spec.adstock} adstock, {spec.saturation} saturation, "
        f"{spec.trend} trend, Fourier order {spec.seasonality}, {spec.likelihood} "
        "likelihood."
    )
    summary = summary_section(fit, health, data_review, roi_frame, parts, plan)
    return html_page(title, summary, model, sections)
