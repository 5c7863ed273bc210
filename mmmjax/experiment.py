"""Which lift test to run next: rank candidate experiments by how much they would narrow an ROI.

For a candidate test (channel ``c``, spend change ``d`` money per period, ``n`` periods) the
posterior draws already say what it would measure: draw ``s``'s implied lift ``L_s``
(:func:`mmmjax.insights.lift_draws`, the quantity a :class:`~mmmjax.LiftTest` states). A test
reports ``y = L_true + e`` with ``e ~ Normal(0, se)``. The *preposterior* analysis here:

1. simulate ``M`` outcomes: pick a draw ``j`` at random, ``y_m = L_j + se * z_m``;
2. reweight the draws by each outcome's likelihood (importance reweighting, exact for a
   Gaussian lift term given the draws): ``w_ms = exp(-(y_m - L_s)^2 / (2 se^2))``;
3. take the weighted 94% interval (3% and 97% quantiles) of channel ``c``'s window ROI;
4. average its width over the ``M`` outcomes.

``narrowing = 1 - E[width after] / width now`` ranks the candidates. Each row also gives the
smallest lift the design could detect: ``(1.96 + 0.84) * se`` (a 5% two-sided test with 80%
power), in money and as an ROI over the test's spend, and ``power``, the share of simulated
outcomes with ``|y| > 1.96 se``. ``ess`` is the mean effective number of draws left after
reweighting (``(sum w)^2 / sum w^2``): below about 50 the predicted width is itself noisy.

The test's noise ``se`` is the model's: the target's noise summed over the window,
``sigma * target_scale * sqrt(n)`` in the additive form (posterior mean ``sigma``), and
``sigma * sqrt(sum_t yhat_t^2)`` in the multiplicative one (log-scale noise on the predicted
level ``yhat``), unless a candidate gives its own ``lift_se``. A real test with a control group
is often noisier; pass ``lift_se`` when it is known. Candidates run over the last ``n`` periods
of the training data unless given a ``start``: the channel's recent spend pattern stands in for
the periods the test will run in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mmmjax.calibration import LiftTest
from mmmjax.data import Dataset
from mmmjax.errors import DataError
from mmmjax.insights import lift_draws, roi_draws

__all__ = ["DETECT_Z", "default_candidates", "design_experiment", "weighted_interval"]

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


def default_candidates(
    fit, *, spend_changes: Sequence[float] = (0.5, 1.0), durations: Sequence[int] = (4, 8)
) -> pd.DataFrame:
    """One candidate per channel, spend change and duration, over the last periods of the data.

    ``spend_changes`` are fractions of the channel's mean spend per period (0.5: spend 50% more
    each period of the test); ``durations`` are periods. Channels with no spend are skipped.
    """
    mean = np.asarray(fit.dataset.spend, dtype=np.float64).mean(axis=0)
    rows = [
        {"channel": ch, "spend_change": float(f * mean[c]), "duration": int(n)}
        for c, ch in enumerate(fit.channels)
        if mean[c] > 0
        for f in spend_changes
        for n in durations
    ]
    return pd.DataFrame(rows, columns=["channel", "spend_change", "duration"])


def _rows(candidates: Any) -> list[dict[str, Any]]:
    if isinstance(candidates, pd.DataFrame):
        return candidates.to_dict("records")
    if isinstance(candidates, Mapping):
        return [dict(candidates)]
    if isinstance(candidates, Iterable):
        return [dict(c) for c in candidates]
    raise TypeError("candidates must be a DataFrame, a mapping or a list of mappings")


def _tests(fit, rows: list[dict[str, Any]]) -> list[LiftTest]:
    """Candidate rows as :class:`LiftTest` s (lift 0, se 1: placeholders) over the data."""
    dataset: Dataset = fit.dataset
    dates, T = dataset.dates, dataset.n_periods
    spend = np.asarray(dataset.spend, dtype=np.float64)
    tests = []
    for k, row in enumerate(rows):
        where = f"design_experiment: candidate {k + 1}"
        ch = row.get("channel")
        if ch not in fit.channels:
            raise DataError(f"{where}, column 'channel': {ch!r} is not one of {fit.channels}")
        n = row.get("duration")
        if not isinstance(n, (int, np.integer)) or not 1 <= int(n) <= T:
            raise DataError(f"{where}, column 'duration': {n!r} must be 1 to {T} periods")
        start = row.get("start")
        if start is None or (isinstance(start, float) and np.isnan(start)):
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
        window = spend[i0 : i0 + int(n), c]
        if not np.isfinite(d) or d == 0 or np.any(window + d < 0):
            raise DataError(
                f"{where}, column 'spend_change': {d!r} must be a non-zero number that keeps "
                f"{ch!r}'s spend non-negative over the window (lowest spend there: "
                f"{window.min():g})"
            )
        tests.append(LiftTest(ch, dates[i0], dates[i0 + int(n) - 1], d, 0.0, 1.0))
    return tests


def _model_se(fit, tests: list[LiftTest]) -> np.ndarray:
    """``(K,)`` the model's noise of each test's measured lift, money (module docstring)."""
    sigma = float(np.mean(fit.draws()["sigma"]))
    masks = np.stack([t.periods(fit.dataset.dates) for t in tests]).astype(np.float64)
    if fit.spec.multiplicative:
        level = np.asarray(fit.predict(kind="mean"), dtype=np.float64).mean(axis=0)
        return sigma * np.sqrt(masks @ level**2)
    return sigma * fit.scales.target * np.sqrt(masks.sum(axis=1))


def design_experiment(
    fit,
    candidates: Any = None,
    *,
    n_outcomes: int = 200,
    seed: int = 0,
    spend_changes: Sequence[float] = (0.5, 1.0),
    durations: Sequence[int] = (4, 8),
) -> pd.DataFrame:
    """Rank candidate lift tests by the expected narrowing of their channel's ROI interval.

    Args:
      fit: a national :class:`~mmmjax.Fit`.
      candidates: a DataFrame (or list of mappings) with columns ``channel``, ``spend_change``
        (money per period, negative to cut), ``duration`` (periods), optionally ``start`` (first
        date; default: the last ``duration`` periods) and ``lift_se`` (money; default the
        model's noise over the window). Default :func:`default_candidates` with
        ``spend_changes`` (fractions of mean spend) and ``durations``.
      n_outcomes: simulated outcomes per candidate (``M``).
      seed: seed of the simulated outcomes.

    Returns:
      DataFrame, best first (index ``rank`` from 1), with ``channel, spend_change, duration,
      start, end, expected_lift`` (posterior mean of the implied lift, money),
      ``lift_se, min_detectable_lift`` (money), ``min_detectable_roi`` (that lift over the
      test's extra spend), ``power, roi_width`` (the 94% interval's width now),
      ``roi_width_after`` (expected, after the test), ``narrowing`` (``1 - after / now``) and
      ``ess``. See the module docstring for the method.

    Raises:
      DataError: a candidate names an unknown channel, a window outside the data, or a spend
        change that would make spend negative (naming the candidate and column).
    """
    if not isinstance(fit.dataset, Dataset):
        raise DataError("design_experiment: geo fits are not supported yet; use a national fit")
    rows = _rows(default_candidates(fit, spend_changes=spend_changes, durations=durations)
                 if candidates is None else candidates)  # fmt: skip
    if not rows:
        raise DataError("design_experiment: no candidate tests (every channel lacks spend)")
    if int(n_outcomes) < 1:
        raise ValueError(f"n_outcomes must be a positive integer, got {n_outcomes}")
    tests = _tests(fit, rows)
    probe = dataclasses.replace(fit, lift_tests=tuple(tests))
    lifts = lift_draws(probe).T  # (K, S) money
    se = _model_se(fit, tests)
    given = np.asarray([float(r.get("lift_se", np.nan) or np.nan) for r in rows])
    se = np.where(np.isfinite(given) & (given > 0), given, se)
    channel = np.asarray([fit.channels.index(t.channel) for t in tests])
    r = roi_draws(fit).T[channel]  # (K, S)
    K, S = lifts.shape
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, S, size=(K, int(n_outcomes)))
    y = np.take_along_axis(lifts, pick, axis=1) + se[:, None] * rng.standard_normal(pick.shape)
    logw = -0.5 * ((y[:, :, None] - lifts[:, None, :]) / se[:, None, None]) ** 2  # (K, M, S)
    w = np.exp(logw - logw.max(axis=-1, keepdims=True))
    lo, hi = weighted_interval(r[:, None, :], w)
    now_lo, now_hi = weighted_interval(r, np.ones_like(r))
    width_now = now_hi - now_lo
    width_after = (hi - lo).mean(axis=1)
    ess = (w.sum(-1) ** 2 / (w**2).sum(-1)).mean(axis=1)
    extra = np.asarray([abs(t.spend_change) * t.periods(fit.dataset.dates).sum() for t in tests])
    out = pd.DataFrame(
        {
            "channel": [t.channel for t in tests],
            "spend_change": [t.spend_change for t in tests],
            "duration": [int(t.periods(fit.dataset.dates).sum()) for t in tests],
            "start": [t.start for t in tests],
            "end": [t.end for t in tests],
            "expected_lift": lifts.mean(axis=1),
            "lift_se": se,
            "min_detectable_lift": DETECT_Z * se,
            "min_detectable_roi": DETECT_Z * se / extra,
            "power": (np.abs(y) > 1.96 * se[:, None]).mean(axis=1),
            "roi_width": width_now,
            "roi_width_after": width_after,
            "narrowing": 1.0 - width_after / np.where(width_now > 0, width_now, np.nan),
            "ess": ess,
        }
    )
    out = out.sort_values("narrowing", ascending=False, kind="stable").reset_index(drop=True)
    out.index = pd.RangeIndex(1, len(out) + 1, name="rank")
    return out
