"""Which lift test to run next: rank candidate experiments by how much they would narrow an ROI.

For a candidate test (channel ``c``, optionally geo ``g``, spend change ``d`` money per period,
``n`` periods) the posterior draws already say what it would measure: draw ``s``'s implied
lift ``L_s`` (:func:`mmmjax.insights.lift_draws`, the quantity a :class:`~mmmjax.LiftTest`
states and its likelihood term compares with). A test reports ``y = L_true + e`` with
``e ~ Normal(0, se)``. The *preposterior* analysis here:

1. simulate ``M`` outcomes: pick a draw ``j`` at random, ``y_m = L_j + se * z_m``;
2. reweight the draws by each outcome's likelihood: ``w_ms = exp(-(y_m - L_s)^2 / (2 se^2))``.
   This is the refit's posterior (the fit's posterior times the test's Gaussian likelihood term,
   :func:`mmmjax.model.implied_lift`) represented by the existing draws;
3. take the weighted 94% interval (3% and 97% quantiles) of channel ``c``'s window ROI (the
   national ROI for a geo fit);
4. average its width over the ``M`` outcomes.

``narrowing = 1 - E[width after] / width now`` ranks the candidates; ``narrowing_low`` and
``narrowing_high`` are the 10% and 90% quantiles of ``1 - width after / width now`` over the
simulated outcomes: the spread one real test's result could land in. Each row also gives the
smallest lift the design could detect: ``(1.96 + 0.84) * se`` (a 5% two-sided test with 80%
power), in money and as an ROI over the test's spend change, and ``power``, the share of
simulated outcomes with ``|y| > 1.96 se``. ``ess`` is the mean effective number of draws left
after reweighting (``(sum w)^2 / sum w^2``): below about 50 the predicted width is itself noisy.

Why cuts. A test measures the channel's response to *its* spend change, and the ROI is the
response to all of the channel's spend. Adding spend measures the response curve's slope above
the current level, which pins the ROI only through the saturation curve's shape: where that
shape is uncertain, the lift of extra spend can be nearly uncorrelated with the ROI and such a
test narrows the ROI interval little (and its outcome tests the model's saturation prior more
than its ROI). Cutting spend towards zero measures the contribution itself, so its lift tracks
the ROI closely. The default candidates therefore include the deepest constant cut the window
allows (down to its lowest spend) next to increases.

The test's noise ``se`` is the model's: the target's noise summed over the window,
``sigma * target_scale * sqrt(n)`` in the additive form (posterior mean ``sigma``; per geo for a
geo fit), and ``sigma * sqrt(sum_t yhat_t^2)`` in the multiplicative one (log-scale noise on the
predicted level ``yhat``), unless a candidate gives its own ``lift_se``. A real test with a
control group is often noisier; pass ``lift_se`` when it is known. Candidates run over the last
``n`` periods of the training data unless given a ``start``: the channel's recent spend pattern
stands in for the periods the test will run in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mmmjax import insights, seeds
from mmmjax.errors import DataError
from mmmjax.kinds import is_panel
from mmmjax.model.calibration import LiftTest

__all__ = [
    "DETECT_Z",
    "default_candidates",
    "design_experiment",
    "reweighted_roi",
    "weighted_interval",
]

#: ``z`` of a 5% two-sided test plus ``z`` of 80% power: the minimum detectable effect is
#: ``DETECT_Z * se``.
DETECT_Z = 1.96 + 0.84
_QUANTILES = (0.03, 0.97)  # the 94% interval mmmjax reports everywhere


def weighted_interval(
    x: np.ndarray, w: np.ndarray, q: Sequence[float] = _QUANTILES
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted quantiles ``q`` of draws ``x`` ``(..., S)`` under weights ``w`` ``(..., S)``.

    The quantile ``p`` is the smallest draw whose cumulative normalised weight (draws in
    increasing order) reaches ``p``; with equal weights this is the inverted empirical CDF.
    Returns the low and high quantile, each of shape ``w.shape[:-1]``.
    """
    x, w = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(w, np.float64))
    order = np.argsort(x, axis=-1)
    xs = np.take_along_axis(x, order, axis=-1)
    cw = np.cumsum(np.take_along_axis(w, order, axis=-1), axis=-1)
    cw = cw / cw[..., -1:]
    last = x.shape[-1] - 1
    out = []
    for p in q:
        i = np.minimum((cw < p).sum(axis=-1), last)
        out.append(np.take_along_axis(xs, i[..., None], axis=-1)[..., 0])
    return out[0], out[1]


def _geo_fit(fit) -> bool:
    return is_panel(fit)


def _spend(fit) -> np.ndarray:
    """``(G, T, C)`` spend, money per period (``G = 1`` for a national fit)."""
    spend = np.asarray(fit.dataset.spend, dtype=np.float64)
    return spend if _geo_fit(fit) else spend[None]


def default_candidates(
    fit,
    *,
    spend_changes: Sequence[float] = (1.0, -1.0),
    durations: Sequence[int] = (4, 8),
) -> pd.DataFrame:
    """One candidate per channel (and geo), spend change and duration, over the last periods.

    ``spend_changes`` are fractions of the channel's mean spend per period (in the geo for a
    geo fit): ``f > 0`` adds ``f * mean`` each period of the test; ``f < 0`` cuts ``|f| * mean``
    but never below the window's lowest spend (a constant cut must keep every period
    non-negative), so ``-1.0`` is the deepest cut the window allows: going dark where spend is
    steady. A cut is skipped where the window has a period without spend; channels (geos) with
    no spend are skipped. ``durations`` are periods. Columns ``channel, spend_change,
    duration`` (and ``geo`` for a geo fit).
    """
    spend = _spend(fit)
    geo = _geo_fit(fit)
    geos = fit.geos if geo else [None]
    rows = []
    for g, name in enumerate(geos):
        mean = spend[g].mean(axis=0)
        for c, ch in enumerate(fit.channels):
            if mean[c] <= 0:
                continue
            for f in spend_changes:
                for n in durations:
                    d = float(f) * mean[c]
                    if d < 0:
                        d = max(d, -float(spend[g, -int(n) :, c].min()))
                    if d == 0:
                        continue
                    row = {"channel": ch, "spend_change": d, "duration": int(n)}
                    rows.append({**row, "geo": name} if geo else row)
    columns = ["channel", "spend_change", "duration"] + (["geo"] if geo else [])
    return pd.DataFrame(rows, columns=columns)


def _rows(candidates: Any) -> list[dict[str, Any]]:
    if isinstance(candidates, pd.DataFrame):
        return candidates.to_dict("records")
    if isinstance(candidates, Mapping):
        return [dict(candidates)]
    if isinstance(candidates, Iterable):
        return [dict(c) for c in candidates]
    raise TypeError("candidates must be a DataFrame, a mapping or a list of mappings")


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))


def _tests(fit, rows: list[dict[str, Any]]) -> list[LiftTest]:
    """Candidate rows as :class:`LiftTest` s (lift 0, se 1: placeholders) over the data."""
    dates, T = fit.dataset.dates, fit.dataset.n_periods
    spend = _spend(fit)
    geo = _geo_fit(fit)
    tests = []
    for k, row in enumerate(rows):
        where = f"design_experiment: candidate {k + 1}"
        ch = row.get("channel")
        if ch not in fit.channels:
            raise DataError(f"{where}, column 'channel': {ch!r} is not one of {fit.channels}")
        g, name = 0, None
        if geo:
            name = row.get("geo")
            if name not in fit.geos:
                raise DataError(f"{where}, column 'geo': {name!r} is not one of {fit.geos}")
            g = fit.geos.index(name)
        elif not _missing(row.get("geo")):
            raise DataError(f"{where}, column 'geo': {row['geo']!r} given for a national fit")
        n = row.get("duration")
        if not isinstance(n, (int, np.integer)) or not 1 <= int(n) <= T:
            raise DataError(f"{where}, column 'duration': {n!r} must be 1 to {T} periods")
        start = row.get("start")
        if _missing(start):
            i0 = T - int(n)
        else:
            i0 = int(dates.searchsorted(pd.Timestamp(start)))
            if i0 + int(n) > T:
                raise DataError(
                    f"{where}, column 'start': {pd.Timestamp(start).date()} leaves fewer than "
                    f"{n} periods of the data ({dates[0].date()} to {dates[-1].date()})"
                )
        d = float(row.get("spend_change", np.nan))
        c = fit.channels.index(ch)
        window = spend[g, i0 : i0 + int(n), c]
        if not np.isfinite(d) or d == 0 or np.any(window + d < 0):
            raise DataError(
                f"{where}, column 'spend_change': {d!r} must be a non-zero number that keeps "
                f"{ch!r}'s spend non-negative over the window (lowest spend there: "
                f"{window.min():g})"
            )
        tests.append(LiftTest(ch, dates[i0], dates[i0 + int(n) - 1], d, 0.0, 1.0, geo=name))
    return tests


def _model_se(fit, tests: Sequence[LiftTest]) -> np.ndarray:
    """``(K,)`` the model's noise of each test's measured lift, money (module docstring)."""
    sigma = np.atleast_1d(np.mean(fit.draws()["sigma"], axis=0))  # (G,) or (1,)
    masks = np.stack([t.periods(fit.dataset.dates) for t in tests]).astype(np.float64)
    if _geo_fit(fit):  # a national test's noise: every geo's, summed
        per_geo = (sigma * fit.scales.target) ** 2  # (G,)
        var = [per_geo.sum() if t.geo is None else per_geo[fit.geos.index(t.geo)] for t in tests]
        return np.sqrt(np.asarray(var) * masks.sum(axis=1))
    if fit.spec.multiplicative:
        level = np.asarray(fit.predict(kind="mean"), dtype=np.float64).mean(axis=0)
        return sigma[0] * np.sqrt(masks @ level**2)
    return sigma[0] * fit.scales.target * np.sqrt(masks.sum(axis=1))


def _lifts_and_roi(fit, tests: Sequence[LiftTest]) -> tuple[np.ndarray, np.ndarray]:
    """``(K, S)`` each test's implied lift per draw (money) and ``(K, S)`` its channel's window
    ROI per draw (national for a geo fit)."""
    probe = dataclasses.replace(fit, lift_tests=tuple(tests))
    if _geo_fit(fit):
        from mmmjax.insights import geo as geo_insights

        lifts, roi = geo_insights.lift_draws(probe), geo_insights.roi_draws(fit, by="national")
    else:
        lifts, roi = insights.lift_draws(probe), insights.roi_draws(fit)
    channel = np.asarray([fit.channels.index(t.channel) for t in tests])
    return np.asarray(lifts, np.float64).T, np.asarray(roi, np.float64).T[channel]


def _weights(y: np.ndarray, lifts: np.ndarray, se: np.ndarray) -> np.ndarray:
    """``(K, M, S)`` likelihood weights of outcomes ``y`` ``(K, M)`` for draws' lifts ``(K, S)``,
    each ``(k, m)`` row scaled to a maximum of 1."""
    logw = -0.5 * ((y[:, :, None] - lifts[:, None, :]) / se[:, None, None]) ** 2
    return np.exp(logw - logw.max(axis=-1, keepdims=True))


def reweighted_roi(fit, tests: Sequence[LiftTest]) -> pd.DataFrame:
    """The ROI interval a refit with each measured test would give, from the existing draws.

    Each test's likelihood ``Normal(lift | L_s, lift_se)`` reweights the posterior draws (step 2
    of the module docstring with the measured ``lift`` as the outcome); every test on its own.
    A quick look at what a test result does before refitting with ``lift_tests=``; where
    ``ess`` is small (the result is far out in the posterior's tail) only a refit can tell.

    Args:
      fit: a :class:`~mmmjax.Fit` or :class:`~mmmjax.GeoFit`.
      tests: measured :class:`~mmmjax.LiftTest` s over the fit's data window.

    Returns:
      DataFrame, one row per test: ``channel, lift, lift_se, roi_low, roi_high`` (the
      reweighted 94% interval of the channel's window ROI, national for a geo fit), ``roi_width,
      roi_width_now`` and ``ess``.
    """
    tests = list(tests)
    lifts, roi = _lifts_and_roi(fit, tests)
    y = np.asarray([[t.lift] for t in tests], np.float64)
    se = np.asarray([t.lift_se for t in tests], np.float64)
    w = _weights(y, lifts, se)[:, 0]  # (K, S)
    lo, hi = weighted_interval(roi, w)
    now_lo, now_hi = weighted_interval(roi, np.ones_like(roi))
    return pd.DataFrame(
        {
            "channel": [t.channel for t in tests],
            "lift": y[:, 0],
            "lift_se": se,
            "roi_low": lo,
            "roi_high": hi,
            "roi_width": hi - lo,
            "roi_width_now": now_hi - now_lo,
            "ess": w.sum(-1) ** 2 / (w**2).sum(-1),
        }
    )


def design_experiment(
    fit,
    candidates: Any = None,
    *,
    n_outcomes: int = 200,
    seed: int = 0,
    spend_changes: Sequence[float] = (1.0, -1.0),
    durations: Sequence[int] = (4, 8),
) -> pd.DataFrame:
    """Rank candidate lift tests by the expected narrowing of their channel's ROI interval.

    Args:
      fit: a :class:`~mmmjax.Fit` or a :class:`~mmmjax.GeoFit` (tests run in one geo; the
        interval that narrows is the channel's national ROI).
      candidates: a DataFrame (or list of mappings) with columns ``channel``, ``spend_change``
        (money per period, negative to cut), ``duration`` (periods), ``geo`` (geo fits only),
        optionally ``start`` (first date; default: the last ``duration`` periods) and
        ``lift_se`` (money; default the model's noise over the window). Default
        :func:`default_candidates` with ``spend_changes`` (fractions of mean spend; negative:
        cuts, at most down to the window's lowest spend) and ``durations``.
      n_outcomes: simulated outcomes per candidate (``M``).
      seed: seed of the simulated outcomes.

    Returns:
      DataFrame, best first (index ``rank`` from 1), with ``channel, spend_change, duration,
      start, end`` (and ``geo`` for a geo fit), ``expected_lift`` (posterior mean of the
      implied lift, money), ``lift_se, min_detectable_lift`` (money), ``min_detectable_roi``
      (that lift over the test's spend change), ``power, roi_width`` (the 94% interval's width
      now), ``roi_width_after`` (expected, after the test), ``narrowing`` (``1 - after /
      now``), ``narrowing_low, narrowing_high`` (10% and 90% over the simulated outcomes) and
      ``ess``. See the module docstring for the method.

    Raises:
      DataError: a candidate names an unknown channel or geo, a window outside the data, or a
        spend change that would make spend negative (naming the candidate and column).
    """
    if candidates is None:
        candidates = default_candidates(fit, spend_changes=spend_changes, durations=durations)
    rows = _rows(candidates)
    if not rows:
        raise DataError("design_experiment: no candidate tests (every channel lacks spend)")
    if int(n_outcomes) < 1:
        raise ValueError(f"n_outcomes must be a positive integer, got {n_outcomes}")
    tests = _tests(fit, rows)
    lifts, r = _lifts_and_roi(fit, tests)  # (K, S) money, (K, S)
    se = _model_se(fit, tests)
    given = np.asarray([np.nan if _missing(v := row.get("lift_se")) else float(v) for row in rows])
    se = np.where(np.isfinite(given) & (given > 0), given, se)
    K, S = lifts.shape
    rng = seeds.numpy_rng(seed, "experiment_outcomes")
    pick = rng.integers(0, S, size=(K, int(n_outcomes)))
    y = np.take_along_axis(lifts, pick, axis=1) + se[:, None] * rng.standard_normal(pick.shape)
    w = _weights(y, lifts, se)  # (K, M, S)
    lo, hi = weighted_interval(r[:, None, :], w)
    now_lo, now_hi = weighted_interval(r, np.ones_like(r))
    width_now = now_hi - now_lo
    per_outcome = 1.0 - (hi - lo) / np.where(width_now > 0, width_now, np.nan)[:, None]
    width_after = (hi - lo).mean(axis=1)
    ess = (w.sum(-1) ** 2 / (w**2).sum(-1)).mean(axis=1)
    dates = fit.dataset.dates
    extra = np.asarray([abs(t.spend_change) * t.periods(dates).sum() for t in tests])
    cols: dict[str, Any] = {
        "channel": [t.channel for t in tests],
        "spend_change": [t.spend_change for t in tests],
        "duration": [int(t.periods(dates).sum()) for t in tests],
        "start": [t.start for t in tests],
        "end": [t.end for t in tests],
    }
    if _geo_fit(fit):
        cols["geo"] = [t.geo for t in tests]
    out = pd.DataFrame(
        {
            **cols,
            "expected_lift": lifts.mean(axis=1),
            "lift_se": se,
            "min_detectable_lift": DETECT_Z * se,
            "min_detectable_roi": DETECT_Z * se / extra,
            "power": (np.abs(y) > 1.96 * se[:, None]).mean(axis=1),
            "roi_width": width_now,
            "roi_width_after": width_after,
            "narrowing": 1.0 - width_after / np.where(width_now > 0, width_now, np.nan),
            "narrowing_low": np.quantile(per_outcome, 0.1, axis=1),
            "narrowing_high": np.quantile(per_outcome, 0.9, axis=1),
            "ess": ess,
        }
    )
    out = out.sort_values("narrowing", ascending=False, kind="stable").reset_index(drop=True)
    out.index = pd.RangeIndex(1, len(out) + 1, name="rank")
    return out
