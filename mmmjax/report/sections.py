"""Sections that national and geo reports share: the summary an executive reads first, the
health checks, the data review, the sampler's health, the optimal budget, what moved in a
refresh and what to test next (with the experiment design behind it).

Each takes a fit (a :class:`~mmmjax.Fit` or a :class:`~mmmjax.GeoFit`, whose numbers are
national) or what was computed from it, and returns one ``<section>`` of HTML built with
:mod:`mmmjax.report.html` (or None when it does not apply). :mod:`mmmjax.report.national` and
:mod:`mmmjax.report.geo` assemble them into pages.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmmjax import plots
from mmmjax.errors import DataError
from mmmjax.inference.fit import sampler_messages
from mmmjax.insights import INTERVAL_QUANTILES
from mmmjax.report.html import (
    escape,
    fmt,
    image,
    interval,
    num,
    num_range,
    para,
    pct,
    section,
    table,
)

__all__ = [
    "REPORT_DESIGN_SIZE",
    "data_review_section",
    "health_section",
    "lift_test_rows",
    "next_test_section",
    "plan_section",
    "refresh_section",
    "report_experiments",
    "sampler_section",
    "summary_section",
]


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
            f"{fmt(t.lift)} ± {fmt(t.lift_se)}",
            interval(value, value - 1.96 * se, value + 1.96 * se),
            interval(float(model.mean()), lo, hi),
        ))  # fmt: skip
    return rows, plotted


def sampler_section(fit, *, ranks: bool = True) -> str:
    """Sampler health: r-hat, ESS, divergences and draws with the worst parameters, the
    sampler's warnings in words, how it was run, and (``ranks``) the rank plots of the main
    parameters."""
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
    keys = ("chains", "draws", "warmup", "seconds", "chain_method")
    setup = ", ".join(f"{k} {fmt(info[k])}" for k in keys if k in info)
    body = [
        table(rows, ["check", "value", "worst parameter"], left=1),
        *([para(m, "warn") for m in msgs] or [para("No sampler problems found.", "ok")]),
    ]
    if setup:
        body.append(para(f"Sampling: {setup}.", "note"))
    if ranks:
        body.append(image(plots.plot_diagnostics(fit), "rank plots"))
    return section("sampler", "Sampler health", body)


def plan_section(plan) -> str:
    """The optimal budget: the plan's table, its total, expected response and uplift over the
    current split, and its figure (any object with ``allocation``, optionally
    ``expected_response``, ``uplift``, ``uplift_interval``, ``to_frame()``, ``plot()``)."""
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
        body.append(table(rows, [str(frame.index.name or "channel"), *map(str, frame.columns)]))
    expected = getattr(plan, "expected_response", None)
    if allocation is not None:
        total = float(np.sum(np.asarray(pd.Series(allocation), dtype=np.float64)))
        text = f"Optimal allocation of a budget of {fmt(total)} per period"
        if expected is not None:
            text += f"; expected media response {fmt(float(expected))} per period"
        uplift, band = getattr(plan, "uplift", None), getattr(plan, "uplift_interval", None)
        if uplift is not None:
            text += f", {fmt(float(uplift))} more than the current split"
            if band is not None:
                text += f" (94% interval {fmt(float(band[0]))} to {fmt(float(band[1]))})"
        body.insert(0, para(text + "."))
    if hasattr(plan, "plot"):
        fig = plan.plot()
        fig = fig if hasattr(fig, "savefig") else getattr(fig, "figure", None)
        if fig is not None:
            body.append(image(fig, "budget plan"))
    return section("budget", "Optimal budget", body)


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
        text += f"; expected gain {num(uplift)} per period"
        if band is not None:
            text += f" (94% interval {num(band[0])} to {num(band[1])})"
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
    box = f'<div class="{cls} verdict" id="verdict"><b>{escape(head)}</b>'
    box += "".join(f"<br>{escape(r)}" for r in reasons[:3])
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
        (ch, num_range(r.roi_mean, r.roi_low, r.roi_high),
         num_range(r.mroi_mean, r.mroi_low, r.mroi_high),
         f"{100 * spend_share[i]:.0f}%", f"{100 * contrib_share[i]:.0f}%")
        for i, (ch, r) in enumerate(roi_frame.iterrows())
    ]  # fmt: skip
    header = ["channel", "ROI (94% interval)", "marginal ROI (94% interval)", "share of spend",
              "share of media effect"]  # fmt: skip
    lo, hi = np.quantile(media_share, INTERVAL_QUANTILES)
    body = [
        box,
        table(rows, header),
        para(
            f"Media drive {100 * media_share.mean():.0f}% of predicted "
            f"{fit.dataset.target_name} (94% interval {100 * lo:.0f}% to {100 * hi:.0f}%); the "
            "baseline, trend, season and controls the rest. ROI is the return per unit of spend "
            "over the data window; marginal ROI the return of one more unit at today's spend."
        ),
    ]
    sentence = _plan_sentence(plan) if plan is not None else None
    if sentence:
        body.append(f'<p class="key" id="recommendation">{escape(sentence)}</p>')
    body += list(extra)
    caveats = reasons[3:] + [f.message for f in data_review.errors + data_review.warnings]
    caveats += list(health.notes)
    if caveats:
        body.append(para("Caveats: " + " · ".join(caveats), "note"))
    return section("summary", "Summary", body)


def data_review_section(data_review) -> str:
    """The findings of :func:`mmmjax.review_data`: severity, check and advice."""
    rows = [(f.severity, f.check.replace("_", " "), f.message) for f in data_review.findings]
    body = [
        para(
            "Checked before sampling (mmmjax.review_data): errors stop a fit unless overridden, "
            "warnings say where the answer will lean on the priors."
        ),
        table(rows, ["severity", "check", "finding"], left=3) if rows else para("No findings."),
    ]
    return section("data-review", "Data review", body)


def health_section(health) -> str:
    """The health checks of a :class:`~mmmjax.review.FitReview` and how the score is made."""
    rows = [(c.label, c.status, num(c.value, 3), c.threshold, c.message) for c in health.checks]
    body = [
        para(
            f"Health score {health.score:.0f}/100: 100 × the weighted share of checks passed "
            "(a warning counts half), capped at 40 when the chains have not converged "
            "(mmmjax.review)."
        ),
        table(rows, ["check", "status", "value", "rule", "what it means"], left=5),
    ]
    body += [para(n, "note") for n in health.notes]
    return section("health", "Health checks", body)


def refresh_section(fit, roi_frame) -> str | None:
    """Refreshed fits (national or geo): national ROI per channel before and after the
    refresh, with intervals; ``None`` for a fit that is not a refresh."""
    from mmmjax.inference.refresh import roi_changes

    moved = roi_changes(fit, roi_frame)
    if moved is None:
        return None
    prov = fit.provenance
    rows = [
        (ch, num_range(r.before_mean, r.before_low, r.before_high),
         num_range(r.after_mean, r.after_low, r.after_high), pct(r.change))
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
    return section("refresh", "What moved", [para(lead), table(rows, header)])


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
        + (r.channel, num(r.spend_change), int(r.duration), str(pd.Timestamp(r.start).date()),
           pct(r.narrowing), num(r.roi_width), num(r.roi_width_after),
           num(r.min_detectable_lift), num(r.min_detectable_roi), pct(r.power))
        for r in top.itertuples()
    ]  # fmt: skip
    best = top.iloc[0]
    where = f" in geo {best.geo}" if geo else ""
    whose = "national " if geo else ""
    lead = (
        f"The most informative next experiment: {'raise' if best.spend_change > 0 else 'cut'} "
        f"{best.channel}'s spend{where} by {num(abs(best.spend_change))} per period for "
        f"{int(best.duration)} periods. Simulated from "
        "the posterior (each draw's implied lift plus the model's noise), it would narrow "
        f"{best.channel}'s {whose}94% ROI interval by {pct(best.narrowing)} on average, from "
        f"width {num(best.roi_width)} to {num(best.roi_width_after)}. The smallest lift such a "
        f"test detects (5% level, 80% power) is {num(best.min_detectable_lift)}."
    )
    header = (("geo",) if geo else ()) + (
        "channel", "spend change per period", "periods", "from", "interval narrows",
        "ROI width now", "width after", "smallest detectable lift", "as ROI", "power",
    )  # fmt: skip
    note = para(
        "Windows are the last periods of the data, standing in for the test's period; a test "
        "with a control group is often noisier than the model's noise assumed here.",
        "note",
    )
    grid = table(rows, header, left=2 if geo else 1)
    return section("next-test", "What to test next", [para(lead), grid, note])


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
