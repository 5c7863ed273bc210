"""One self-contained HTML report of a fit, written for an analyst.

``write_report(fit, "out/report.html")`` computes the insights once (ROI, contributions, response
curves, adstock weights, fit metrics, a ridge baseline, VIFs, sampler diagnostics), draws the
figures with :mod:`mmmjax.plots`, and writes a single HTML file: figures are embedded as base64
PNG, the CSS is inline, there is no JavaScript and no external URL, so it opens offline and can be
mailed as is. All text from the data (channel and column names) is HTML-escaped.

The sections answer, in order: what data went in; how carryover is modelled and what was learned;
which priors were used and why; how well the model fits (in and out of sample, against a ridge
baseline); what each channel contributed and returns (ROI, marginal ROI, which channel is best);
whether the sampler can be trusted; for a calibrated fit (ROI priors or lift tests), how the
prior, the experiments and the posterior compare; and, when given, the optimal budget and the
true values (simulated data).

Example:
    >>> from mmmjax.report import write_report
    >>> write_report(fit, "out/report.html", validation=holdout(spec, data, n_test=13))
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmmjax import plots
from mmmjax import validation as val
from mmmjax.errors import DataError
from mmmjax.files import atomic_write_text
from mmmjax.fit import sampler_messages
from mmmjax.insights import (
    INTERVAL_QUANTILES,
    adstock_weights,
    contributions,
    lift_draws,
    response_curves,
    roi,
    roi_draws,
)
from mmmjax.model import ADSTOCK_PARAMS
from mmmjax.priors import DEFAULT_PRIORS, resolve_priors

__all__ = [
    "data_review_section",
    "health_section",
    "html_page",
    "render_report",
    "summary_section",
    "write_report",
]

DPI = 80
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;
  color:#1d1d1f;background:#fafafa;line-height:1.45}
main{max-width:1100px;margin:0 auto;padding:24px 32px 64px;background:#fff}
h1{font-size:1.7em;margin-bottom:.2em}h2{border-bottom:2px solid #1f77b4;padding-bottom:4px;
  margin-top:2em}h3{margin-bottom:.3em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.9em}
th,td{border:1px solid #d0d0d0;padding:4px 9px;text-align:right;vertical-align:top}
th{background:#eef3f8}td.l,th.l{text-align:left}
img{max-width:100%;height:auto;display:block;margin:.6em 0 1.4em}
.note{color:#555;font-size:.92em}.warn{background:#fff4e5;border-left:4px solid #f0a020;
  padding:6px 12px;margin:.5em 0}.ok{background:#eaf7ea;border-left:4px solid #3a3;
  padding:6px 12px;margin:.5em 0}.key{font-size:1.05em;background:#eef3f8;padding:8px 12px}
nav a{margin-right:1em}
#summary h2{margin-top:.6em}#summary table{font-size:.85em;margin:.4em 0}
#summary p{margin:.4em 0}.verdict{font-size:.95em}
"""


# ----------------------------------------------------------------------------------------------
# small HTML helpers (everything that reaches the page goes through html.escape)
# ----------------------------------------------------------------------------------------------
def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _p(text: str, cls: str | None = None) -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<p{attr}>{_e(text)}</p>"


def _fmt(x: Any, digits: int = 3) -> str:
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    if isinstance(x, (float, np.floating)):
        v = float(x)
        if math.isnan(v):
            return "–"
        if math.isinf(v):
            return "∞"
        if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
            return f"{v:,.0f}" if abs(v) >= 1e5 else f"{v:.2e}"
        return f"{v:,.{digits}g}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(x, pd.Timestamp):
        return str(x.date())
    return str(x)


def _table(rows: Iterable[Sequence[Any]], header: Sequence[str], left: int = 1) -> str:
    """An HTML table; the first ``left`` columns are left-aligned (labels)."""

    def cells(values, tag):
        return "".join(
            f"<{tag}{' class=l' if i < left else ''}>{_e(_fmt(v))}</{tag}>"
            for i, v in enumerate(values)
        )

    body = "".join(f"<tr>{cells(r, 'td')}</tr>" for r in rows)
    return f"<table><thead><tr>{cells(header, 'th')}</tr></thead><tbody>{body}</tbody></table>"


def _img(fig, alt: str) -> str:
    """``fig`` as an embedded PNG, every text drawn as written (no mathtext: a ``$`` in a
    channel name is a dollar sign, whoever drew the figure)."""
    import matplotlib

    buf = io.BytesIO()
    with matplotlib.rc_context({"text.parse_math": False}):
        plots.literal_text(fig).savefig(buf, format="png", dpi=DPI)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _interval(mean: float, low: float, high: float) -> str:
    return f"{_fmt(mean)} [{_fmt(low)}, {_fmt(high)}]"


def _pct(x: float) -> str:
    return "–" if x is None or math.isnan(x) else f"{100 * x:.1f}%"


def _section(anchor: str, title: str, body: Sequence[str]) -> str:
    return f'<section id="{anchor}"><h2>{_e(title)}</h2>{"".join(body)}</section>'


# ----------------------------------------------------------------------------------------------
# sections
# ----------------------------------------------------------------------------------------------
def _data_section(fit) -> str:
    ds = fit.dataset
    spend = np.asarray(ds.spend, dtype=np.float64)
    total = spend.sum(0)
    words = {"W": "weekly", "D": "daily"}.get(ds.freq, ds.freq)
    body = [
        _p(
            f"{ds.n_periods} {words} periods from {ds.dates[0].date()} to {ds.dates[-1].date()}; "
            f"target {ds.target_name!r} totals {_fmt(float(ds.target.sum()))} "
            f"(mean {_fmt(float(ds.target.mean()))} per period). "
            f"{ds.n_channels} channels: {', '.join(ds.channels)}."
            + (f" Controls: {', '.join(ds.control_names)}." if ds.n_controls else "")
            + (f" Events: {', '.join(ds.event_names)}." if ds.n_events else "")
        ),
        _table(
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
    return _section("data", "Data", body)


def _carryover_section(fit, weights) -> str:
    spec = fit.spec
    post = fit.idata.posterior
    kind = spec.adstock
    how = {
        "geometric": "geometric adstock: each period keeps a share alpha of the previous "
        "period's adstocked spend (infinite horizon, normalised so a unit of spend has total "
        "weight 1); the half-life is log(0.5) / log(alpha) periods",
        "delayed": f"delayed adstock over {spec.l_max} lags: weight alpha^((lag - theta)^2), "
        "peaking theta periods after the spend",
        "weibull_pdf": f"Weibull-PDF adstock over {spec.l_max} lags (the effect can peak later)",
        "weibull_cdf": f"Weibull-CDF adstock over {spec.l_max} lags (decaying survival curve)",
    }[kind]
    rows, header = [], ["channel"]
    names = [n for n in ADSTOCK_PARAMS[kind] if n in post]
    for n in names:
        header.append(f"{n} mean [94%]")
    if kind == "geometric":
        header.append("half-life, periods (median [94%])")
    for c, ch in enumerate(fit.channels):
        row = [ch]
        for n in names:
            d = np.asarray(post[n].values, dtype=np.float64).reshape(-1, len(fit.channels))[:, c]
            row.append(_interval(d.mean(), *np.quantile(d, INTERVAL_QUANTILES)))
        if kind == "geometric":
            a = np.asarray(post["alpha"].values, dtype=np.float64).reshape(-1, len(fit.channels))
            hl = np.log(0.5) / np.log(np.clip(a[:, c], 1e-9, 1 - 1e-9))
            row.append(_interval(float(np.median(hl)), *np.quantile(hl, INTERVAL_QUANTILES)))
        rows.append(row)
    body = [
        _p(f"Carryover is modelled with {how}. Saturation: {spec.saturation}."),
        _img(plots.plot_adstock(fit, weights), "adstock decay per channel"),
        _table(rows, header),
    ]
    return _section("carryover", "Carryover (adstock)", body)


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
        _p(
            "Priors are stated in scaled units: spend over each channel's mean spend, target "
            "over its mean, standardised controls. media_roi is the channel's ROI over the data "
            "window, in money per money."
        ),
        _table(rows, ["parameter", "prior", "why"], left=3),
        _img(plots.plot_prior_posterior(fit), "prior vs posterior of channel parameters"),
    ]
    if prior_pp is not None and "target" in prior_pp:
        body.append(
            _p(
                "Prior predictive check: the grey band is what the priors alone expect of the "
                "target, blue is the posterior. The data should sit well inside the grey band "
                "(priors allow it) and the blue band should be much narrower (data informed it)."
            )
        )
        body.append(_img(plots.plot_prior_predictive(fit), "prior vs posterior predictive"))
    else:
        body.append(_p("This fit holds no prior predictive draws (prior_draws=0).", "note"))
    return _section("priors", "Priors", body)


def _plain(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(f"{float(x):g}" for x in v) + "]"
    return f"{float(v):g}"


def _fit_section(fit, metrics, validation, ridge, mmm_out) -> str:
    m = metrics
    rows = [
        ("R²", m.r2),
        ("MAPE", _pct(m.mape)),
        ("NRMSE", _pct(m.nrmse)),
        ("coverage of the 50% interval", _pct(m.coverage_50)),
        ("coverage of the 94% interval", _pct(m.coverage_94)),
        ("CRPS (money per period)", m.crps),
    ]
    header = ["metric", "in sample"]
    if mmm_out is not None:
        o = mmm_out
        outs = [o.r2, _pct(o.mape), _pct(o.nrmse), _pct(o.coverage_50), _pct(o.coverage_94), o.crps]
        rows = [(*r, x) for r, x in zip(rows, outs, strict=True)]
        header.append(f"out of sample (last {o.n_periods} periods)")
    body = [
        _p(
            "Point metrics use the posterior mean prediction; coverage is the share of periods "
            "whose observed target lies inside the posterior predictive interval (a calibrated "
            "model gives about 50% and 94%)."
        ),
        _table(rows, header),
        _img(plots.plot_fit(fit), "fit vs actual"),
    ]
    body += _validation_parts(validation)
    body.append("<h3>Against a simple baseline</h3>")
    body.append(
        _p(
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
            _pct(m.mape),
            mmm_out.r2 if mmm_out else float("nan"),
            _pct(mmm_out.mape) if mmm_out else "–",
        ),
        ("ridge baseline", ridge.r2_in, _pct(ridge.mape_in), ridge.r2_out, _pct(ridge.mape_out)),
    ]
    tag = f" (last {ridge.n_test})" if ridge.n_test else ""
    body.append(_table(rrows, ["model", "R² in", "MAPE in", f"R² out{tag}", f"MAPE out{tag}"]))
    return _section("fit", "How well the model fits", body)


def _validation_parts(validation) -> list[str]:
    if validation is None:
        return [
            _p("No out-of-sample validation was given (see mmmjax.validation.holdout).", "note")
        ]
    if isinstance(validation, pd.DataFrame):
        rows = [
            (i, *r)
            for i, r in zip(validation.index, validation.itertuples(index=False), strict=True)
        ]
        return [
            "<h3>Rolling-origin cross-validation</h3>",
            _table(rows, [str(validation.index.name or ""), *map(str, validation.columns)]),
            _p(
                f"Mean out-of-sample MAPE {_pct(float(validation['mape'].mean()))}"
                if "mape" in validation
                else ""
            ),
        ]
    if hasattr(validation, "dates") and hasattr(validation, "actual"):
        return [
            "<h3>Holdout forecast</h3>",
            _img(plots.plot_holdout(validation), "holdout forecast"),
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
            _interval(*r.loc[ch, ["roi_mean", "roi_low", "roi_high"]]),
            _interval(*r.loc[ch, ["mroi_mean", "mroi_low", "mroi_high"]]),
        )
        for ch in r.index
    ]
    body = [
        _p(_best_sentence(r, "roi", "Highest ROI over the data window")),
        _p(_best_sentence(r, "mroi", "The next dollar is best spent on"), "key"),
        _table(
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
        _p(
            "ROI is the channel's contribution over the window divided by its spend. Marginal "
            "ROI is the extra target from one more unit of spend per period at the current mean "
            "spend, once carryover has settled; below 1 the last unit does not pay back.",
            "note",
        ),
        _img(plots.plot_roi(fit, r), "ROI and marginal ROI forest plot"),
        _img(plots.plot_contributions(fit, parts), "contributions over time"),
        _img(plots.plot_waterfall(fit, parts), "contribution waterfall"),
        _img(plots.plot_response_curves(fit, spend=spend, curves=curves), "response curves"),
    ]
    return _section("channels", "Channels: contribution, ROI and marginal ROI", body)


def _roi_prior_channels(fit) -> list[str]:
    """Channels whose ``media_roi`` prior the user set (all of them for one shared Prior)."""
    given = (fit.spec.priors or {}).get("media_roi")
    if given is None:
        return []
    if isinstance(given, Mapping) and not ("dist" in given and "params" in given):
        return [ch for ch in fit.channels if ch in given]
    return list(fit.channels)


def lift_test_rows(tests, dates, lifts: np.ndarray, name=lambda t: t.channel):
    """Per lift test: its table cells after the identifying columns (window, periods, spend
    change, measured lift, test ROI, the model's implied lift) and its
    :func:`mmmjax.plots.plot_calibration` entry, panel ``name(t)``; ``lifts`` ``(S, K)`` money."""
    rows, plotted = [], []
    for k, t in enumerate(tests):
        n = int(t.periods(dates).sum())
        value, se = t.roi(n)
        model = lifts[:, k]
        lo, hi = np.quantile(model, INTERVAL_QUANTILES)
        plotted.append((name(t), str(k + 1), value, se, model / (t.spend_change * n)))
        rows.append((
            f"{t.start.date()} to {t.end.date()}", n, t.spend_change,
            f"{_fmt(t.lift)} ± {_fmt(t.lift_se)}",
            _interval(value, value - 1.96 * se, value + 1.96 * se),
            _interval(float(model.mean()), lo, hi),
        ))  # fmt: skip
    return rows, plotted


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
        measured = [f"{_fmt(v)} ± {_fmt(1.96 * e)}" for name, _, v, e, _ in plotted if name == ch]
        post = posterior[:, c]
        row = [ch, "yes" if ch in with_prior else "no (default)"]
        if prior is not None:
            row.append(_interval(prior[:, c].mean(), *np.quantile(prior[:, c], INTERVAL_QUANTILES)))
        row += ["; ".join(measured) or "–",
                _interval(post.mean(), *np.quantile(post, INTERVAL_QUANTILES))]  # fmt: skip
        summary.append(row)
    header = ["channel", "ROI prior set"]
    if prior is not None:
        header.append("prior ROI [94%]")
    header += ["lift tests' ROI (± 1.96 se)", "posterior ROI [94%]"]
    body = [
        _p(
            "What was known before the data (ROI priors) and from experiments (lift tests), and "
            "what the calibrated model concludes. The prior ROI is the window ROI the priors "
            "imply (from the fit's prior draws); the posterior ROI is this fit's, with the lift "
            "tests' likelihood terms included."
        ),
        _table(summary, header),
    ]
    if prior is None:
        body.append(_p("This fit holds no prior draws (prior_draws=0): no prior ROI.", "note"))
    if tests:
        body += [
            "<h3>Lift tests</h3>",
            _table(
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
            _p(
                "A test's ROI is its lift over its extra spend (spend change × periods): the "
                "return on that extra spend in that window, at the spend level of the time and "
                "without the carryover after the window, so it need not equal the channel's "
                "average ROI over the data. The model's implied lift is what the fitted model "
                "says the same test should have measured; when it lies within the test's band, "
                "model and experiment agree.",
                "note",
            ),
        ]
    body.append(_img(plots.plot_calibration(names, posterior, prior, plotted), "calibration"))
    return _section("calibration", "Calibration: prior, lift tests and posterior ROI", body)


def _best_sentence(r: pd.DataFrame, key: str, lead: str) -> str:
    order = r[f"{key}_mean"].sort_values(ascending=False)
    best = order.index[0]
    lo, hi = r.loc[best, f"{key}_low"], r.loc[best, f"{key}_high"]
    text = (
        f"{lead} {best}: {_fmt(r.loc[best, f'{key}_mean'])} per unit of spend "
        f"(94% interval {_fmt(lo)} to {_fmt(hi)})."
    )
    if len(order) > 1:
        second = order.index[1]
        if r.loc[second, f"{key}_high"] > lo:
            text += (
                f" Its interval overlaps that of {second} "
                f"({_fmt(r.loc[second, f'{key}_mean'])}), so the ranking is not certain."
            )
    return text


def _collinearity_section(vifs: pd.Series) -> str:
    msgs = val.vif_warnings(vifs)
    body = [
        _p(
            "Variance inflation factors of the channels' spend (1 = unrelated to the other "
            f"channels; above {val.VIF_THRESHOLD:g} they can hardly be told apart)."
        ),
        _table([(ch, v) for ch, v in vifs.items()], ["channel", "VIF"]),
    ]
    body += [_p(m, "warn") for m in msgs] or [_p("No channel is badly collinear.", "ok")]
    return _section("collinearity", "Can the channels be told apart?", body)


def _sampler_section(fit) -> str:
    diag = fit.diagnostics()
    info = fit.info or {}
    rows = [
        ("max r-hat (want ≤ 1.01)", diag["max_r_hat"], diag.get("worst_r_hat", "")),
        ("min bulk ESS (want ≥ 400)", diag["min_ess_bulk"], diag.get("worst_ess_bulk", "")),
        ("min tail ESS", diag["min_ess_tail"], diag.get("worst_ess_tail", "")),
        ("divergences after warmup (want 0)", diag["divergences"], ""),
        ("draws kept (chains × draws)", diag.get("draws", fit.n_draws), ""),
    ]
    msgs = sampler_messages(diag)
    setup = ", ".join(
        f"{k} {info[k]}"
        for k in ("chains", "draws", "warmup", "seconds", "chain_method")
        if k in info
    )
    body = [
        _table(rows, ["check", "value", "worst parameter"], left=1),
        *([_p(m, "warn") for m in msgs] or [_p("No sampler problems found.", "ok")]),
    ]
    if setup:
        body.append(_p(f"Sampling: {setup}.", "note"))
    body.append(_img(plots.plot_diagnostics(fit), "rank plots"))
    return _section("sampler", "Sampler health", body)


def _plan_section(plan) -> str:
    allocation = getattr(plan, "allocation", None)
    body = []
    if hasattr(plan, "to_frame"):
        frame = plan.to_frame()
    elif allocation is not None:
        frame = pd.Series(allocation).to_frame("allocation")
    else:
        frame = None
    if frame is not None:
        frame = pd.DataFrame(frame)
        rows = [(i, *r) for i, r in zip(frame.index, frame.itertuples(index=False), strict=True)]
        body.append(_table(rows, [str(frame.index.name or "channel"), *map(str, frame.columns)]))
    expected = getattr(plan, "expected_response", None)
    if allocation is not None:
        total = float(np.sum(np.asarray(pd.Series(allocation), dtype=np.float64)))
        text = f"Optimal allocation of a budget of {_fmt(total)} per period"
        if expected is not None:
            text += f"; expected media response {_fmt(float(expected))} per period"
        uplift, band = getattr(plan, "uplift", None), getattr(plan, "uplift_interval", None)
        if uplift is not None:
            text += f", {_fmt(float(uplift))} more than the current split"
            if band is not None:
                text += f" (94% interval {_fmt(float(band[0]))} to {_fmt(float(band[1]))})"
        body.insert(0, _p(text + "."))
    if hasattr(plan, "plot"):
        fig = plan.plot()
        fig = fig if hasattr(fig, "savefig") else getattr(fig, "figure", None)
        if fig is not None:
            body.append(_img(fig, "budget plan"))
    return _section("budget", "Optimal budget", body)


def _num(x: float, digits: int = 2) -> str:
    """A number for people: ``1.29``, ``12,345``, ``1.2M``; "–" for NaN."""
    v = float(x)
    if math.isnan(v):
        return "–"
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:,.1f}M"
    if a >= 100:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def _range(mean: float, low: float, high: float, digits: int = 2) -> str:
    return f"{_num(mean, digits)} ({_num(low, digits)} to {_num(high, digits)})"


def _plan_sentence(plan) -> str | None:
    """The recommended plan in one sentence (biggest moves and the uplift with its interval)."""
    alloc, current = getattr(plan, "allocation", None), getattr(plan, "current_allocation", None)
    if alloc is None:
        return None
    alloc = pd.Series(alloc, dtype=np.float64)
    text = "Recommended plan"
    if current is not None:
        current = pd.Series(current, dtype=np.float64).reindex(alloc.index)
        change = (alloc - current) / current.where(current > 0)
        moves = change.dropna().sort_values(key=np.abs, ascending=False).head(3)
        words = [f"{ch} {100 * c:+.0f}%" for ch, c in moves.items() if abs(c) >= 0.005]
        text += ": " + (", ".join(words) if words else "keep the current split")
    uplift, band = getattr(plan, "uplift", None), getattr(plan, "uplift_interval", None)
    if uplift is not None:
        text += f"; expected gain {_num(uplift)} per period"
        if band is not None:
            text += f" (94% interval {_num(band[0])} to {_num(band[1])})"
        text += " at the same total budget"
    return text + "."


def summary_section(
    fit, health, data_review, roi_frame: pd.DataFrame, parts, plan=None, *, extra=()
) -> str:
    """What an executive reads first: the verdict, ROI by channel, media vs baseline, the plan.

    For national and geo fits alike (a geo fit's numbers are national).

    Args:
      fit: a :class:`~mmmjax.Fit` or :class:`~mmmjax.GeoFit`.
      health: its :class:`~mmmjax.review.FitReview`; data_review: the
        :class:`~mmmjax.review.DataReview` of its data.
      roi_frame: national ROI by channel (columns of :func:`mmmjax.roi`).
      parts: national contributions ``(draw, date, component)`` (:func:`mmmjax.contributions`).
      plan: an optional budget plan (its recommendation is shown).
      extra: more HTML blocks (already escaped), placed before the caveats.
    """
    cls = "ok" if health.verdict == "good" else "warn"
    reasons = health.reasons()
    head = f"Health {health.score:.0f}/100: {health.verdict}."
    if health.failing:
        head += " Fails: " + "; ".join(c.label for c in health.failing) + "."
    if health.warned:
        head += " Warnings: " + "; ".join(c.label for c in health.warned) + "."
    box = f'<div class="{cls} verdict" id="verdict"><b>{_e(head)}</b>'
    box += "".join(f"<br>{_e(r)}" for r in reasons[:3])
    if not reasons:
        box += "<br>Every check passes: converged, fits at least as well as a ridge baseline, "
        box += "a positive baseline and ROIs learned from the data."
    box += "</div>"
    totals = parts.sum("date").values  # (S, K)
    names = [str(c) for c in parts["component"].values]
    media_idx = [names.index(ch) for ch in fit.channels]
    media = totals[:, media_idx]
    media_share = media.sum(-1) / totals.sum(-1)
    contrib_share = media.mean(0) / media.mean(0).sum()
    spend = roi_frame["spend"].to_numpy(dtype=np.float64)
    spend_share = spend / spend.sum()
    rows = [
        (ch, _range(r.roi_mean, r.roi_low, r.roi_high),
         _range(r.mroi_mean, r.mroi_low, r.mroi_high),
         f"{100 * spend_share[i]:.0f}%", f"{100 * contrib_share[i]:.0f}%")
        for i, (ch, r) in enumerate(roi_frame.iterrows())
    ]  # fmt: skip
    header = ["channel", "ROI (94% interval)", "marginal ROI (94% interval)", "share of spend",
              "share of media effect"]  # fmt: skip
    lo, hi = np.quantile(media_share, INTERVAL_QUANTILES)
    body = [
        box,
        _table(rows, header),
        _p(
            f"Media drive {100 * media_share.mean():.0f}% of predicted "
            f"{fit.dataset.target_name} (94% interval {100 * lo:.0f}% to {100 * hi:.0f}%); the "
            "baseline, trend, season and controls the rest. ROI is the return per unit of spend "
            "over the data window; marginal ROI the return of one more unit at today's spend."
        ),
    ]
    sentence = _plan_sentence(plan) if plan is not None else None
    if sentence:
        body.append(f'<p class="key" id="recommendation">{_e(sentence)}</p>')
    body += list(extra)
    caveats = reasons[3:] + [f.message for f in data_review.errors + data_review.warnings]
    caveats += list(health.notes)
    if caveats:
        body.append(_p("Caveats: " + " · ".join(caveats), "note"))
    return _section("summary", "Summary", body)


def data_review_section(data_review) -> str:
    """The findings of :func:`mmmjax.review_data`: severity, check and advice."""
    rows = [(f.severity, f.check.replace("_", " "), f.message) for f in data_review.findings]
    body = [
        _p(
            "Checked before sampling (mmmjax.review_data): errors stop a fit unless overridden, "
            "warnings say where the answer will lean on the priors."
        ),
        _table(rows, ["severity", "check", "finding"], left=3) if rows else _p("No findings."),
    ]
    return _section("data-review", "Data review", body)


def health_section(health) -> str:
    """The health checks of a :class:`~mmmjax.review.FitReview` and how the score is made."""
    rows = [(c.label, c.status, _num(c.value, 3), c.threshold, c.message) for c in health.checks]
    body = [
        _p(
            f"Health score {health.score:.0f}/100: 100 × the weighted share of checks passed "
            "(a warning counts half), capped at 40 when the chains have not converged "
            "(mmmjax.review)."
        ),
        _table(rows, ["check", "status", "value", "rule", "what it means"], left=5),
    ]
    body += [_p(n, "note") for n in health.notes]
    return _section("health", "Health checks", body)


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
            _interval(r.roi_mean, r.roi_low, r.roi_high),
            bool(r.roi_low <= t <= r.roi_high),
        ]
        if true_mroi is not None:
            tm = float(pd.Series(true_mroi).get(ch, float("nan")))
            row += [
                tm,
                _interval(r.mroi_mean, r.mroi_low, r.mroi_high),
                bool(r.mroi_low <= tm <= r.mroi_high),
            ]
        rows.append(row)
    header = ["channel", "true ROI", "estimated ROI [94%]", "inside"]
    if true_mroi is not None:
        header += ["true mROI", "estimated mROI [94%]", "inside"]
    inside = sum(bool(r[3]) for r in rows)
    body = [
        _p(
            f"Simulated data: the true ROI lies inside the 94% interval for {inside} of "
            f"{len(rows)} channels."
        ),
        _table(rows, header),
    ]
    return _section("truth", "True vs estimated (simulated data)", body)


# ----------------------------------------------------------------------------------------------
# the page
# ----------------------------------------------------------------------------------------------
def refresh_section(fit, roi_frame) -> str | None:
    """Refreshed fits (national or geo): national ROI per channel before and after the
    refresh, with intervals; ``None`` for a fit that is not a refresh."""
    from mmmjax.refresh import roi_changes

    moved = roi_changes(fit, roi_frame)
    if moved is None:
        return None
    prov = fit.provenance
    rows = [
        (ch, _range(r.before_mean, r.before_low, r.before_high),
         _range(r.after_mean, r.after_low, r.after_high), _pct(r.change))
        for ch, r in moved.iterrows()
    ]  # fmt: skip
    first, last = (pd.Timestamp(prov[k]).date() for k in ("first_date", "last_date"))
    lead = (
        f"This fit refreshes one on {prov['n_periods']} periods ({first} to {last}): same "
        f"scales, and that fit's posterior (spread widened {prov['widen']:g}x) as the prior for "
        "the media, carryover, saturation, control, seasonality and noise parameters; the "
        "baseline's level and trend were learned afresh. ROI per unit of spend, mean (94% "
        "interval):"
    )
    header = ("channel", "before", "after", "change of the mean")
    return _section("refresh", "What moved", [_p(lead), _table(rows, header)])


def next_test_section(experiments: pd.DataFrame | None) -> str | None:
    """The "What to test next" section: the five best candidate lift tests of
    :func:`mmmjax.design_experiment` (its table, best first), or None when there are none.

    A geo fit's table (a ``geo`` column) gains a geo column and the lead names the geo; the
    ROI widths are then those of the national ROI, which a test in one geo narrows.
    """
    if experiments is None or not len(experiments):
        return None
    top = experiments.head(5)
    geo = "geo" in top.columns
    rows = [
        ((str(r.geo),) if geo else ())
        + (r.channel, _num(r.spend_change), int(r.duration), str(pd.Timestamp(r.start).date()),
           _pct(r.narrowing), _num(r.roi_width), _num(r.roi_width_after),
           _num(r.min_detectable_lift), _num(r.min_detectable_roi), _pct(r.power))
        for r in top.itertuples()
    ]  # fmt: skip
    best = top.iloc[0]
    where = f" in geo {best.geo}" if geo else ""
    whose = "national " if geo else ""
    lead = (
        f"The most informative next experiment: {'raise' if best.spend_change > 0 else 'cut'} "
        f"{best.channel}'s spend{where} by {_num(abs(best.spend_change))} per period for "
        f"{int(best.duration)} periods. Simulated from "
        "the posterior (each draw's implied lift plus the model's noise), it would narrow "
        f"{best.channel}'s {whose}94% ROI interval by {_pct(best.narrowing)} on average, from "
        f"width {_num(best.roi_width)} to {_num(best.roi_width_after)}. The smallest lift such a "
        f"test detects (5% level, 80% power) is {_num(best.min_detectable_lift)}."
    )
    header = (("geo",) if geo else ()) + (
        "channel", "spend change per period", "periods", "from", "interval narrows",
        "ROI width now", "width after", "smallest detectable lift", "as ROI", "power",
    )  # fmt: skip
    note = _p(
        "Windows are the last periods of the data, standing in for the test's period; a test "
        "with a control group is often noisier than the model's noise assumed here.",
        "note",
    )
    table = _table(rows, header, left=2 if geo else 1)
    return _section("next-test", "What to test next", [_p(lead), table, note])


#: Most ``candidates x outcomes x draws`` a report's experiment design weighs at once (about
#: 160 MB per float64 array): a big geo panel's many candidates get fewer simulated outcomes.
REPORT_DESIGN_SIZE = 20_000_000


def report_experiments(fit, n_outcomes: int = 100) -> pd.DataFrame | None:
    """:func:`mmmjax.design_experiment` with its default candidates (per geo and channel for a
    :class:`~mmmjax.GeoFit`) for a report's "What to test next", with ``n_outcomes`` simulated
    outcomes per candidate, fewer (down to 20) where ``candidates x outcomes x draws`` would
    pass :data:`REPORT_DESIGN_SIZE`; None when the fit has no noise scale ``sigma`` or no
    candidate can be built (DataError, ValueError)."""
    from mmmjax.experiment import default_candidates, design_experiment

    post = fit.idata.posterior
    if "sigma" not in post:
        return None
    draws = post.sizes["chain"] * post.sizes["draw"]
    try:
        candidates = default_candidates(fit)
        room = REPORT_DESIGN_SIZE // max(len(candidates) * draws, 1)
        return design_experiment(fit, candidates, n_outcomes=max(min(n_outcomes, room), 20))
    except (DataError, ValueError):
        return None


def html_page(
    title: str, summary: str, model: str, sections: Sequence[tuple[str, str, str]]
) -> str:
    """The whole page: the title, the summary (first screen), a note on the model, links to the
    sections and the sections, each ``(anchor, link text, HTML)``; inline CSS, no script."""
    nav = "".join(f'<a href="#{a}">{_e(n)}</a>' for a, n, _ in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>"
        f"<h1>{_e(title)}</h1>{summary}{_p(model, 'note')}<nav>{nav}</nav>"
        + "".join(s for _, _, s in sections)
        + "</main></body></html>\n"
    )


def render_report(
    fit,
    *,
    plan=None,
    validation=None,
    truth=None,
    title: str | None = None,
    health=None,
    experiments=None,
) -> str:
    """The report as one HTML string (see :func:`write_report`)."""
    from mmmjax.review import review_data

    if health is None:
        health = fit.review(holdout=validation if isinstance(validation, val.Holdout) else None)
    data_review = review_data(fit.dataset, fit.spec)
    roi_frame = roi(fit)
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
        ("sampler", "Sampler", _sampler_section(fit)),
    ]
    # calibration only when calibrated, what moved only for a refresh
    sections = [s for s in sections if s[2] is not None]
    if plan is not None:
        sections.append(("budget", "Budget", _plan_section(plan)))
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


def write_report(
    fit,
    path: str | os.PathLike,
    *,
    plan=None,
    validation=None,
    truth=None,
    title: str | None = None,
    health=None,
    experiments=None,
) -> Path:
    """Write one self-contained HTML report of ``fit`` and return its path.

    Args:
      fit: a :class:`~mmmjax.Fit`.
      path: the HTML file to write, or an existing directory (``report.html`` is written in it).
        The write is atomic: a temporary file in the same directory renamed into place.
      plan: an optional budget plan (``mmmjax.optimize_budget(...)``): anything with
        ``allocation`` (Series by channel, money per period) and optionally
        ``expected_response``, ``to_frame()`` and ``plot()``.
      validation: optional out-of-sample results: a :class:`mmmjax.validation.Holdout`, the
        DataFrame of :func:`mmmjax.validation.rolling_cv`, or :class:`~mmmjax.validation.Metrics`,
        computed on the same data as ``fit`` (the ridge baseline holds out the same last
        ``n_test`` periods, so both models are scored out of sample on the same periods).
      truth: for simulated data, the ``Truth`` (or a Series of true ROI by channel); adds a
        true-vs-estimated table.
      title: page title (default names the target).
      health: the fit's :class:`~mmmjax.review.FitReview` (default: ``fit.review()``, out of
        sample when ``validation`` is a holdout); the page opens with its verdict.
      experiments: the ranked candidate lift tests for the "What to test next" section
        (default: :func:`mmmjax.design_experiment` of a national fit).

    Returns:
      The path of the written file.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "report.html"
    text = render_report(
        fit, plan=plan, validation=validation, truth=truth, title=title, health=health,
        experiments=experiments,
    )  # fmt: skip
    return atomic_write_text(path, text)
