"""Figures of a fit, each a function that returns a ``matplotlib.figure.Figure``.

The functions draw; they do not model. Everything they show comes from the ``Fit`` (its data and
``idata``) or from :mod:`mmmjax.insights` results, which each function accepts precomputed (so a
report computes ROI, contributions, curves and adstock weights once) and otherwise computes with
one call. Figures are built as ``Figure()`` objects, not through ``pyplot``: no global state, no
GUI backend, nothing shown; save them with ``fig.savefig(path)``.

Example:
    >>> from mmmjax import plots
    >>> plots.plot_fit(fit).savefig("fit.png")
    >>> plots.plot_roi(fit, roi=mmmjax.roi(fit)).savefig("roi.png")
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.text import Text

from mmmjax.insights import INTERVAL, INTERVAL_QUANTILES

__all__ = [
    "literal_text",
    "plot_adstock",
    "plot_calibration",
    "plot_contributions",
    "plot_diagnostics",
    "plot_fit",
    "plot_frontier",
    "plot_geo_fit",
    "plot_holdout",
    "plot_plan",
    "plot_prior_posterior",
    "plot_prior_predictive",
    "plot_response_curves",
    "plot_roi",
    "plot_waterfall",
    "rank_counts",
]

_Q = INTERVAL_QUANTILES
_DATA = "#222222"
_POST = "#1f77b4"
_PRIOR = "#aaaaaa"
_TEST = "#ff7f0e"


def literal_text(fig: Figure) -> Figure:
    """Show every text of ``fig`` as written: matplotlib's mathtext off for all of them.

    With mathtext on, a label holding two ``$`` (channels ``"tv$ spend"`` and ``"$x^$"``, or a
    title naming both) is parsed as a formula: drawn wrong, or raising ``ValueError`` at
    ``savefig``. Every ``plot_*`` here already returns its figure this way; use this on figures
    drawn elsewhere (the report does). Ticks matplotlib adds later, at draw time, take
    ``rcParams["text.parse_math"]`` then: save under ``matplotlib.rc_context({"text.parse_math":
    False})`` to cover those as well. Returns ``fig``.
    """
    for text in fig.findobj(Text):
        text.set_parse_math(False)
    return fig


def _literal(plot: Callable[..., Figure]) -> Callable[..., Figure]:
    """Decorator: run ``plot`` with mathtext off and return its figure through
    :func:`literal_text`, so names from the data are drawn exactly as written."""

    @functools.wraps(plot)
    def wrapper(*args, **kwargs) -> Figure:
        with matplotlib.rc_context({"text.parse_math": False}):
            return literal_text(plot(*args, **kwargs))

    return wrapper


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _grid(n: int, ncols: int = 3, size: tuple[float, float] = (3.6, 2.6), **kw):
    """A figure with ``n`` panels in rows of ``ncols``; unused panels are removed."""
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig = _figure(size[0] * ncols, size[1] * nrows)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False, **kw)).reshape(-1)
    for ax in axes[n:]:
        ax.remove()
    return fig, list(axes[:n])


def _flat(da) -> np.ndarray:
    """``(chain, draw, ...)`` DataArray to ``(S, ...)`` float64."""
    a = np.asarray(da.values, dtype=np.float64)
    return a.reshape(-1, *a.shape[2:])


def _band(ax, x, draws: np.ndarray, color: str, label: str) -> None:
    lo, hi = np.quantile(draws, _Q, axis=0)
    ax.fill_between(x, lo, hi, color=color, alpha=0.3, linewidth=0,
                    label=f"{label} {INTERVAL:.0%} interval")  # fmt: skip
    ax.plot(x, draws.mean(0), color=color, lw=1.5, label=f"{label} mean")


def _money_axis(ax, axis: str = "y") -> None:
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(_money_formatter())


def _money_formatter():
    from matplotlib.ticker import FuncFormatter

    def fmt(v, _pos):
        a = abs(v)
        for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
            if a >= div:
                return f"{v / div:g}{suffix}"
        return f"{v:g}"

    return FuncFormatter(fmt)


# ----------------------------------------------------------------------------------------------
# fit and predictive checks
# ----------------------------------------------------------------------------------------------
@_literal
def plot_fit(fit, *, predictive: np.ndarray | None = None) -> Figure:
    """Observed target vs posterior predictive mean and 94% interval over time.

    Args:
      fit: a :class:`~mmmjax.Fit`.
      predictive: ``(S, T)`` predictive draws in money (default: the stored posterior
        predictive, else ``fit.predict()``).
    """
    draws = _posterior_predictive(fit) if predictive is None else np.asarray(predictive)
    dates = fit.dataset.dates
    fig = _figure(10, 3.6)
    ax = fig.subplots()
    _band(ax, dates, draws, _POST, "posterior predictive")
    ax.plot(dates, fit.dataset.target, color=_DATA, lw=1, marker=".", ms=3, label="observed")
    ax.set_title(f"{fit.dataset.target_name}: fit vs actual")
    ax.set_ylabel(f"{fit.dataset.target_name} per period")
    _money_axis(ax)
    ax.legend(loc="upper left", fontsize=8)
    return fig


@_literal
def plot_geo_fit(dataset, predictive: np.ndarray, max_panels: int = 60) -> Figure:
    """Actual (dots) vs posterior predictive (mean and 94% band) of each geo of a panel, one
    small panel per geo, the first ``max_panels`` geos.

    Args:
      dataset: the :class:`~mmmjax.GeoDataset` (``geos``, ``dates``, ``target`` ``(G, T)``).
      predictive: ``(S, G, T)`` posterior predictive draws of the target.
      max_panels: most geos drawn.
    """
    import matplotlib.dates as mdates

    shown = dataset.geos[:max_panels]
    fig, axes = _grid(len(shown), ncols=4, size=(3.4, 2.2))
    for g, ax in enumerate(axes):
        _band(ax, dataset.dates, predictive[:, g], _POST, "predicted")
        ax.plot(dataset.dates, dataset.target[g], color=_DATA, lw=0.8, marker=".", ms=2)
        ax.set_title(str(shown[g]), fontsize=9)
        ax.tick_params(labelsize=7)
        locator = mdates.AutoDateLocator(minticks=2)  # maxticks below 5 warns for some spans
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        _money_axis(ax)
    fig.suptitle(f"{dataset.target_name} per geo: actual (dots) vs posterior predictive (94% band)")
    return fig


@_literal
def plot_prior_predictive(fit) -> Figure:
    """Prior predictive vs data vs posterior predictive (94% intervals) over time.

    Shows whether the priors allowed the data (the data should sit inside the wide prior band)
    and how much the data narrowed them. Needs ``fit.idata.prior_predictive`` (sampled by
    ``MMM.fit`` unless ``prior_draws=0``).
    """
    prior = getattr(fit.idata, "prior_predictive", None)
    if prior is None or "target" not in prior:
        raise ValueError("this fit has no prior predictive draws (fit with prior_draws > 0)")
    dates = fit.dataset.dates
    fig = _figure(10, 3.6)
    ax = fig.subplots()
    _band(ax, dates, _flat(prior["target"]), _PRIOR, "prior predictive")
    _band(ax, dates, _posterior_predictive(fit), _POST, "posterior predictive")
    ax.plot(dates, fit.dataset.target, color=_DATA, lw=1, label="observed")
    ax.set_title("prior predictive vs data vs posterior predictive")
    ax.set_ylabel(f"{fit.dataset.target_name} per period")
    _money_axis(ax)
    ax.legend(loc="upper left", fontsize=8, ncol=2)
    return fig


@_literal
def plot_holdout(holdout) -> Figure:
    """Out-of-sample forecast (mean and 94% interval) against the held-out actuals.

    Args:
      holdout: a :class:`mmmjax.inference.validation.Holdout`, as returned by
        ``mmmjax.inference.validation.holdout(spec, dataset, n_test)``; its training fit is drawn
        too when held.

    Raises:
      TypeError: for anything else, a :class:`~mmmjax.Fit` included (a fit holds no held-out
        periods: it was trained on all of them).
    """
    needed = ("dates", "actual", "mean", "low", "high", "n_train", "n_test")
    if not all(hasattr(holdout, a) for a in needed):
        what = type(holdout).__name__
        hint = " (a fit holds no held-out periods)" if hasattr(holdout, "idata") else ""
        raise TypeError(
            "plot_holdout takes a Holdout, from mmmjax.inference.validation.holdout(spec, "
            f"dataset, "
            f"n_test), not a {what}{hint}"
        )
    fig = _figure(10, 3.4)
    ax = fig.subplots()
    train = getattr(holdout, "fit", None)
    if train is not None:
        ax.plot(train.dataset.dates, train.dataset.target, color=_DATA, lw=1,
                label="observed (training)")  # fmt: skip
    ax.fill_between(holdout.dates, holdout.low, holdout.high, color="#ff7f0e", alpha=0.3,
                    linewidth=0, label=f"forecast {INTERVAL:.0%} interval")  # fmt: skip
    ax.plot(holdout.dates, holdout.mean, color="#ff7f0e", lw=1.5, label="forecast mean")
    ax.plot(holdout.dates, holdout.actual, color=_DATA, lw=1, marker=".", ms=4,
            label="observed (held out)")  # fmt: skip
    ax.set_title(f"holdout: last {holdout.n_test} periods forecast from the first "
                 f"{holdout.n_train}")  # fmt: skip
    _money_axis(ax)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def _posterior_predictive(fit) -> np.ndarray:
    pp = getattr(fit.idata, "posterior_predictive", None)
    if pp is not None and "target" in pp:
        return _flat(pp["target"])
    return fit.predict()


# ----------------------------------------------------------------------------------------------
# decomposition
# ----------------------------------------------------------------------------------------------
def _mean_parts(fit, contributions) -> pd.DataFrame:
    """Posterior mean contribution per period and component, dropping all-zero components."""
    if contributions is None:
        from mmmjax.insights import contributions as compute

        contributions = compute(fit)
    mean = contributions.mean("draw")
    frame = pd.DataFrame(
        mean.values, index=pd.DatetimeIndex(mean["date"].values),
        columns=[str(c) for c in mean["component"].values],
    )  # fmt: skip
    channels = set(fit.channels)
    keep = [c for c in frame.columns if c in channels or np.any(frame[c].values != 0)]
    return frame[keep]


@_literal
def plot_contributions(fit, contributions=None) -> Figure:
    """Stacked contributions over time (posterior means), with the observed target on top.

    Positive parts stack up from zero and negative parts (e.g. a below-average season) stack
    down, so every component's area is its contribution.

    Args:
      fit: a :class:`~mmmjax.Fit`.
      contributions: ``mmmjax.contributions(fit)`` (computed if not given), dims
        ``(draw, date, component)``, money per period.
    """
    parts = _mean_parts(fit, contributions)
    x = parts.index
    colors = _component_colors(list(parts.columns))
    fig = _figure(10, 4.2)
    ax = fig.subplots()
    vals = parts.to_numpy().T
    ax.stackplot(x, np.clip(vals, 0, None), colors=colors, labels=list(parts.columns),
                 alpha=0.85, linewidth=0)  # fmt: skip
    if np.any(vals < 0):
        ax.stackplot(x, np.clip(vals, None, 0), colors=colors, alpha=0.85, linewidth=0)
    ax.plot(x, fit.dataset.target, color=_DATA, lw=1, label="observed")
    ax.axhline(0, color="black", lw=0.5)
    ax.set_title("contributions over time (posterior mean)")
    ax.set_ylabel(f"{fit.dataset.target_name} per period")
    _money_axis(ax)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    return fig


@_literal
def plot_waterfall(fit, contributions=None) -> Figure:
    """Waterfall of each component's total contribution over the window, with 94% intervals.

    Bars start where the previous one ended and the last bar is the total prediction, so the
    figure reads "baseline + trend + ... + each channel = predicted total".
    """
    if contributions is None:
        from mmmjax.insights import contributions as compute

        contributions = compute(fit)
    totals = np.asarray(contributions.sum("date").values, dtype=np.float64)  # (S, K)
    names = [str(c) for c in contributions["component"].values]
    keep = [i for i, n in enumerate(names) if n in fit.channels or np.any(totals[:, i] != 0)]
    totals, names = totals[:, keep], [names[i] for i in keep]
    mean = totals.mean(0)
    lo, hi = np.quantile(totals, _Q, axis=0)
    starts = np.concatenate([[0.0], np.cumsum(mean)[:-1]])
    colors = _component_colors(names)
    fig = _figure(max(6.0, 0.9 * len(names) + 2), 4.0)
    ax = fig.subplots()
    pos = np.arange(len(names))
    ax.bar(pos, mean, bottom=starts, color=colors, edgecolor="black", linewidth=0.5)
    ends = starts + mean
    ax.errorbar(pos, ends, yerr=[ends - (starts + lo), (starts + hi) - ends], fmt="none",
                ecolor="black", capsize=3, lw=0.8)  # fmt: skip
    total = totals.sum(1)
    ax.bar(len(names), total.mean(), color="#555555", edgecolor="black", linewidth=0.5)
    ax.set_xticks(np.arange(len(names) + 1), [*names, "total"], rotation=45, ha="right")
    ax.set_title("total contribution by component over the window")
    ax.set_ylabel(fit.dataset.target_name)
    _money_axis(ax)
    return fig


def _component_colors(names: Sequence[str]) -> list:
    from matplotlib import colormaps

    fixed = {"baseline": "#c7c7c7", "trend": "#8c8c8c", "seasonality": "#dbdb8d",
             "controls": "#9edae5", "events": "#f7b6d2"}  # fmt: skip
    cmap = colormaps["tab10"]
    out, k = [], 0
    for n in names:
        if n in fixed:
            out.append(fixed[n])
        else:
            out.append(cmap(k % 10))
            k += 1
    return out


# ----------------------------------------------------------------------------------------------
# channels
# ----------------------------------------------------------------------------------------------
@_literal
def plot_response_curves(
    fit, *, spend: np.ndarray | None = None, curves: np.ndarray | None = None,
    max_multiple: float = 2.5, n_points: int = 41,
) -> Figure:  # fmt: skip
    """Steady-state response curve per channel with 94% band; mean spend marked.

    Args:
      fit: a :class:`~mmmjax.Fit`.
      spend: ``(G, C)`` spend levels, money per period (default: ``n_points`` levels from 0 to
        ``max_multiple`` times each channel's mean spend).
      curves: ``mmmjax.response_curves(fit, spend)`` ``(S, G, C)`` money per period (computed if
        not given; when given, ``spend`` must be too).
    """
    mean_spend = np.asarray(fit.dataset.spend, dtype=np.float64).mean(0)
    if spend is None:
        if curves is not None:
            raise ValueError("pass the spend levels the curves were computed at")
        spend = np.linspace(0.0, max_multiple, n_points)[:, None] * mean_spend[None]
    spend = np.asarray(spend, dtype=np.float64)
    if curves is None:
        from mmmjax.insights import response_curves

        curves = response_curves(fit, spend)
    fig, axes = _grid(len(fit.channels), ncols=3)
    for c, (ax, ch) in enumerate(zip(axes, fit.channels, strict=True)):
        _band(ax, spend[:, c], curves[:, :, c], _POST, "response")
        at_mean = np.array([np.interp(mean_spend[c], spend[:, c], d) for d in curves[:, :, c]])
        ax.axvline(mean_spend[c], color="#d62728", lw=1, ls="--", label="current mean spend")
        ax.plot([mean_spend[c]], [at_mean.mean()], "o", color="#d62728", ms=5)
        ax.set_title(ch)
        ax.set_xlabel("spend per period")
        ax.set_ylabel("incremental target per period")
        _money_axis(ax, "x")
        _money_axis(ax)
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle("steady-state response curves (spend sustained every period)")
    return fig


@_literal
def plot_roi(fit, roi: pd.DataFrame | None = None) -> Figure:
    """Forest plot of ROI and marginal ROI per channel: mean and 94% interval.

    Args:
      fit: a :class:`~mmmjax.Fit`.
      roi: ``mmmjax.roi(fit)`` (computed if not given).
    """
    if roi is None:
        from mmmjax.insights import roi as compute

        roi = compute(fit)
    fig = _figure(10, 0.5 * len(roi) + 1.8)
    axes = fig.subplots(1, 2, sharey=True)
    pos = np.arange(len(roi))[::-1]
    for ax, key, title in ((axes[0], "roi", "ROI (contribution / spend)"),
                           (axes[1], "mroi", "marginal ROI at mean spend")):  # fmt: skip
        m, lo, hi = (roi[f"{key}_{s}"].to_numpy() for s in ("mean", "low", "high"))
        ax.hlines(pos, lo, hi, color=_POST, lw=2)
        ax.plot(m, pos, "o", color=_POST)
        ax.axvline(1.0, color="#d62728", ls="--", lw=1, label="break-even (1)")
        ax.set_title(title)
        ax.set_xlabel("target per unit of spend")
    axes[0].set_yticks(pos, [str(c) for c in roi.index])
    axes[0].legend(fontsize=8, loc="lower right")
    return fig


@_literal
def plot_calibration(
    channels: Sequence[str],
    posterior: np.ndarray,
    prior: np.ndarray | None = None,
    tests: Sequence[tuple[str, str, float, float, np.ndarray]] = (),
) -> Figure:
    """Calibration per channel: prior ROI, each lift test's ROI, posterior ROI (one panel each).

    Rows of a panel, top to bottom: the prior's window ROI (mean and 94% interval, grey); for
    each lift test on the channel, its measured ROI ``lift / (spend_change * periods)`` with a
    ``±1.96 se`` band (orange diamond) and just below it the fitted model's implied ROI of that
    same test (hollow blue); the posterior window ROI (blue).

    Args:
      channels: the channels to draw, one panel each.
      posterior: ``(S, len(channels))`` posterior window-ROI draws.
      prior: ``(S0, len(channels))`` prior window-ROI draws, or None.
      tests: ``(channel, label, roi, roi_se, model_roi_draws (S,))`` per lift test.
    """
    most = max((sum(t[0] == ch for t in tests) for ch in channels), default=0)
    fig, axes = _grid(len(channels), ncols=2, size=(5.2, 0.5 * (2 + most) + 1.3))
    for c, (ax, ch) in enumerate(zip(axes, channels, strict=True)):
        rows = []
        if prior is not None:
            _interval_row(ax, prior[:, c], len(rows), _PRIOR)
            rows.append("prior")
        for _, label, value, se, model in (t for t in tests if t[0] == ch):
            y = len(rows)
            ax.hlines(y - 0.14, value - 1.96 * se, value + 1.96 * se, color=_TEST, lw=2)
            ax.plot(value, y - 0.14, "D", color=_TEST)
            _interval_row(ax, model, y + 0.14, _POST, hollow=True)
            rows.append(f"lift test {label}")
        _interval_row(ax, posterior[:, c], len(rows), _POST)
        rows.append("posterior")
        ax.set_yticks(np.arange(len(rows)), rows)
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.axvline(1.0, color="#d62728", ls="--", lw=1)
        ax.set_title(str(ch))
        ax.set_xlabel("target per unit of spend")
    fig.suptitle(
        f"ROI: prior ({INTERVAL:.0%}), lift tests (±1.96 se; hollow: the model's implied ROI of "
        "the test) and posterior"
    )
    return fig


def _interval_row(ax, draws: np.ndarray, y: float, color: str, hollow: bool = False) -> None:
    lo, hi = np.quantile(draws, _Q)
    ax.hlines(y, lo, hi, color=color, lw=2)
    ax.plot(np.mean(draws), y, "o", color=color, mfc="white" if hollow else color)


@_literal
def plot_adstock(fit, weights=None) -> Figure:
    """Carryover: share of a unit of spend felt at each lag, per channel (mean, 94% band).

    Args:
      fit: a :class:`~mmmjax.Fit`.
      weights: ``mmmjax.adstock_weights(fit)`` ``(draw, lag, channel)`` (computed if not given).
    """
    if weights is None:
        from mmmjax.insights import adstock_weights

        weights = adstock_weights(fit)
    lags = np.asarray(weights["lag"].values)
    w = np.asarray(weights.transpose("draw", "lag", "channel").values, dtype=np.float64)
    fig, axes = _grid(len(fit.channels), ncols=5, size=(2.6, 2.4), sharey=True)
    for c, (ax, ch) in enumerate(zip(axes, fit.channels, strict=True)):
        lo, hi = np.quantile(w[:, :, c], _Q, axis=0)
        ax.fill_between(lags, lo, hi, color=_POST, alpha=0.3, linewidth=0, step="mid")
        ax.step(lags, w[:, :, c].mean(0), where="mid", color=_POST)
        ax.set_title(ch)
        ax.set_xlabel("lag (periods)")
    axes[0].set_ylabel("weight")
    fig.suptitle(f"carryover ({fit.spec.adstock} adstock): weight of spend at each lag")
    return fig


# ----------------------------------------------------------------------------------------------
# priors and the sampler
# ----------------------------------------------------------------------------------------------
def main_params(fit) -> list[str]:
    """The per-channel parameters worth looking at: ROI, adstock and saturation parameters."""
    return [p for p in fit.spec.channel_params if p in fit.idata.posterior]


@_literal
def plot_prior_posterior(fit, var_names: Sequence[str] | None = None, bins: int = 30) -> Figure:
    """Prior vs posterior histograms of the main per-channel parameters.

    One row per parameter (default: ``media_roi`` and the adstock and saturation parameters),
    one column per channel. The prior comes from ``fit.idata.prior`` when it was sampled; the
    x range covers the posterior and the prior's central 98%.
    """
    names = list(var_names) if var_names is not None else main_params(fit)
    prior = getattr(fit.idata, "prior", None)
    post = fit.idata.posterior
    C = len(fit.channels)
    fig = _figure(2.4 * C, 1.9 * len(names) + 0.6)
    axes = np.asarray(fig.subplots(len(names), C, squeeze=False))
    for r, name in enumerate(names):
        q = _flat(post[name]).reshape(-1, C)
        p = _flat(prior[name]).reshape(-1, C) if prior is not None and name in prior else None
        for c in range(C):
            ax = axes[r, c]
            lo, hi = np.quantile(q[:, c], [0.0, 1.0])
            if p is not None:
                plo, phi = np.quantile(p[:, c], [0.01, 0.99])
                lo, hi = min(lo, plo), max(hi, phi)
            if not hi > lo:
                lo, hi = lo - 0.5, hi + 0.5
            edges = np.linspace(lo, hi, bins + 1)
            if p is not None:
                ax.hist(p[:, c], bins=edges, density=True, color=_PRIOR, alpha=0.6,
                        label="prior")  # fmt: skip
            ax.hist(q[:, c], bins=edges, density=True, color=_POST, alpha=0.7, label="posterior")
            ax.set_yticks([])
            if r == 0:
                ax.set_title(fit.channels[c])
            if c == 0:
                ax.set_ylabel(name)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("prior vs posterior" if prior is not None else "posterior (no prior draws)")
    return fig


def rank_counts(draws: np.ndarray, bins: int = 20) -> np.ndarray:
    """Per-chain histogram of the pooled ranks of one scalar's draws (a rank plot's bars).

    Every draw gets its rank ``r`` (0 to ``N - 1``, ties broken by order) among all ``N =
    chains x draws`` draws; chain ``c``'s bar ``b`` counts its draws with ``floor(r * bins / N) =
    b``. When the chains sample the same distribution each bar is ``Binomial(draws, 1 / bins)``,
    about ``draws / bins``; a chain stuck apart piles its ranks at one end.

    Args:
      draws: ``(chains, draws)`` draws of one scalar.
      bins: number of rank bins.
    Returns:
      ``(chains, bins)`` integer counts; each row sums to ``draws``.
    """
    x = np.asarray(draws, dtype=np.float64)
    ranks = np.argsort(np.argsort(x.reshape(-1), kind="stable"), kind="stable").reshape(x.shape)
    which = ranks * bins // x.size  # (chains, draws) bin of each draw
    return (which[..., None] == np.arange(bins)).sum(axis=1)


@_literal
def plot_diagnostics(fit, var_names: Sequence[str] | None = None, bins: int = 20) -> Figure:
    """Rank plots of the main parameters and the noise scale, one panel per scalar.

    Each panel shows, one row per chain, the histogram of that chain's draws' ranks among all
    draws (:func:`rank_counts`), with a dashed line at the uniform expectation ``draws / bins``:
    well-mixed chains give flat bars on the line; a chain stuck apart shows as a slope or a hump.
    Drawn with matplotlib from the draws, so it looks the same under either ArviZ line.
    """
    post = fit.idata.posterior
    names = list(var_names) if var_names is not None else [*main_params(fit), "sigma"]
    names = [n for n in names if n in post]
    n = sum(int(np.prod(post[v].shape[2:])) for v in names)
    fig, axes = _grid(n, ncols=5, size=(2.6, 2.0))
    panels = iter(axes)
    for name in names:
        da = post[name]
        values = np.asarray(da.values, dtype=np.float64)
        chains, draws = values.shape[:2]
        flat = values.reshape(chains, draws, -1)
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        labels = [", ".join(str(v) for v in t) for t in _index_labels(da, extra)]
        for j, label in enumerate(labels):
            ax = next(panels)
            counts = rank_counts(flat[..., j], bins)
            height = 0.9 / max(int(counts.max()), 1)  # the tallest bar fills 90% of a row
            for c in range(chains):
                ax.bar(np.arange(bins), counts[c] * height, width=1.0, bottom=c,
                       color=f"C{c % 10}", edgecolor="white", linewidth=0.3)  # fmt: skip
                ax.axhline(c + draws / bins * height, color="k", ls="--", lw=0.7)
            ax.set_yticks(np.arange(chains) + 0.45, [str(c) for c in range(chains)])
            ax.set_xticks([])
            ax.set_title(f"{name}\n{label}" if label else name, fontsize=8)
            ax.tick_params(labelsize=7)
    fig.suptitle("rank plots per chain (flat and overlapping = chains agree)")
    return fig


def _index_labels(da, dims: list[str]) -> list[tuple]:
    """Coordinate labels of every element over ``dims`` (C order), ``[()]`` for a scalar."""
    if not dims:
        return [()]
    values = [da.coords[d].values if d in da.coords else np.arange(da.sizes[d]) for d in dims]
    return list(pd.MultiIndex.from_product(values))


# ----------------------------------------------------------------------------------------------
# budget plans (mmmjax.optimize)
# ----------------------------------------------------------------------------------------------
def plot_plan(plan):
    """A matplotlib ``Figure``: current vs optimal spend per channel, and each channel's
    posterior-mean response curve with the current (o) and optimal (*) points marked.

    ``plan``: a :class:`~mmmjax.optimize.Plan` (``Plan.plot`` calls this); money per period, or
    over the plan's ``periods``."""
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    ax_bar, ax_curve = fig.subplots(1, 2)
    unit = "per period" if plan.periods is None else f"over {plan.periods} periods"
    pos = np.arange(len(plan.allocation))
    ax_bar.bar(pos - 0.2, plan.current_allocation.values, 0.4, label="current")
    ax_bar.bar(pos + 0.2, plan.allocation.values, 0.4, label="optimal")
    ax_bar.set_xticks(pos, plan.allocation.index, rotation=30, ha="right")
    ax_bar.set_ylabel(f"spend {unit}")
    ax_bar.set_title(
        f"budget {plan.total_budget:,.0f}: response {plan.current_response:,.0f} -> "
        f"{plan.expected_response:,.0f} ({plan.uplift:+,.0f})"
    )
    ax_bar.legend()
    for i, (name, (grid, mean)) in enumerate(plan.curves.items()):
        color = f"C{i % 10}"
        ax_curve.plot(grid, mean, color=color, label=name)
        for x, marker in ((plan.current_allocation[name], "o"), (plan.allocation[name], "*")):
            ax_curve.plot([x], [np.interp(x, grid, mean)], marker, color=color, ms=9)
    ax_curve.set_xlabel(f"spend {unit}")
    ax_curve.set_ylabel(f"response {unit} (posterior mean)")
    ax_curve.set_title("response curves: o current, * optimal")
    ax_curve.legend(fontsize="small")
    return fig


def plot_frontier(frontier: pd.DataFrame):
    """A matplotlib ``Figure`` of a :func:`~mmmjax.optimize.budget_frontier`: the expected
    response (with its 94% interval) against the budget, and the optimal split as stacked
    areas."""
    channels = frontier.attrs.get("channels") or [
        c for c in frontier.columns if c not in _FRONTIER_COLUMNS
    ]
    b = frontier.index.to_numpy(dtype=float)
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    ax_r, ax_a = fig.subplots(1, 2)
    ax_r.plot(b, frontier["expected_response"], color="C0", label="expected response")
    if {"response_low", "response_high"} <= set(frontier.columns):
        ax_r.fill_between(b, frontier["response_low"], frontier["response_high"], alpha=0.25,
                          color="C0", label=f"{INTERVAL:.0%} interval")  # fmt: skip
    ax_r.set_xlabel("total budget per period")
    ax_r.set_ylabel("response per period")
    ax_r.set_title("efficient frontier")
    ax_r.legend()
    ax_a.stackplot(b, frontier[channels].to_numpy().T, labels=channels)
    ax_a.set_xlabel("total budget per period")
    ax_a.set_ylabel("optimal spend per period")
    ax_a.set_title("optimal split")
    ax_a.legend(fontsize="small", loc="upper left")
    return fig


_FRONTIER_COLUMNS = {
    "expected_response", "response_low", "response_high", "objective_value",
    "marginal_return", "iterations", "converged",
}  # fmt: skip
