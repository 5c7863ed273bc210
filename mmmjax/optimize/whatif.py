r"""What-if: what a budget split the user wrote returns, with uncertainty, against the current mix.

For an allocation ``x`` (money per period per channel, sustained: the steady state of
:func:`mmmjax.insights.steady_state_response`, a geo fit answering for the nation) and posterior
draws ``s``::

    R_sc        = response of channel c to x_c under draw s                (money per period)
    T_s         = sum_c R_sc                                               (total response)
    ROI_s       = T_s / sum_c x_c,        ROI_sc = R_sc / x_c              (money per money)
    mROI_sc     = dR_sc / dx_c                                             (money per money)

and each quantity is reported as its posterior mean and equal-tailed 94% interval (the 3% and
97% quantiles of the per-draw values). The *current split* is the mix of the last
``CURRENT_PERIODS`` periods of the data (their mean spend per channel) scaled to the same total
``B = sum_c x_c``::

    current_c   = B * m_c / sum_k m_k,    m_c = mean spend of channel c over the last periods

and the uplift ``T_s(x) - T_s(current)`` is taken per draw, so its interval is that of the
difference, not a difference of intervals.

A geo fit with ``by="geo"`` is evaluated the same way over its ``G * C`` cells ``(geo,
channel)`` instead of its channels: ``R_sgc`` is cell ``(g, c)``'s steady-state response to its
own spend ``x_gc`` (:func:`mmmjax.geo.response_curves` ``by="geo"``) and ``m_gc`` the mean spend of
that cell over the last periods, so that the optimizer's ``by="geo"`` plans can be checked.

A schedule (the next ``N`` periods after the data, a DataFrame of dates x channels, money per
period) is evaluated the same way with each response over the plan and its carryover
(:mod:`mmmjax.optimize.schedule`), ``B`` the schedule's total and the current split ``B * m / sum
m`` spread flat over the ``N`` periods.

Example:
    >>> plan = mmmjax.evaluate_budget(fit, {"tv": 20_000, "search": 15_000, "radio": 5_000})
    >>> plan.expected_response, plan.response_interval     # total, money per period
    >>> plan.to_frame()[["plan", "response", "response_low", "response_high", "roi"]]
    >>> plan.uplift, plan.uplift_interval                  # vs the current mix at 40,000
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

import mmmjax.optimize.schedule as sch
from mmmjax.errors import DataError
from mmmjax.insights import INTERVAL_QUANTILES, marginal_roi, response_curves
from mmmjax.optimize.current import CURRENT_PERIODS, current_split, national_spend
from mmmjax.optimize.plan import Plan
from mmmjax.optimize.problem import budget_variables

__all__ = ["CURRENT_PERIODS", "WhatIf", "current_split", "evaluate_budget", "national_spend"]


def _summary(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior mean, 3% and 97% quantiles over axis 0."""
    low, high = np.quantile(draws, INTERVAL_QUANTILES, axis=0)
    return draws.mean(axis=0), low, high


def _label(key: Any) -> Any:
    """A cell given as ``(geo, channel)`` -> ``"geo/channel"``; anything else as given."""
    return "/".join(map(str, key)) if isinstance(key, tuple) else key


def _allocation(
    allocation: Any, names: list[str], cells: bool, unit: str = "money per period"
) -> np.ndarray:
    """``(K,)`` money per period in the order of ``names`` (the channels, or the ``"geo/channel"``
    cells of a geo fit planned by cell), checked: every name given once, finite and >= 0, a
    positive total. Cells may be keyed ``(geo, channel)`` or ``"geo/channel"``, or be
    ``G * C`` numbers geo-major (or a ``(G, C)`` array)."""
    what = "cell" if cells else "channel"
    if isinstance(allocation, pd.Series):
        allocation = allocation.to_dict()
    if not isinstance(allocation, Mapping):
        values = np.asarray(allocation, dtype=np.float64)
        if cells and values.ndim == 2:
            values = values.reshape(-1)  # (G, C) -> geo-major cells
        if values.shape != (len(names),):
            order = (
                "geo-major: every channel of the first geo, then the next geo"
                if cells
                else f"in the order {', '.join(names)}"
            )
            raise DataError(
                f"allocation must map each {what} to {unit} (or be {len(names)} "
                f"numbers {order}), got shape {values.shape}"
            )
        allocation = dict(zip(names, values.tolist(), strict=True))
    allocation = {_label(k): v for k, v in allocation.items()}
    listing = (
        f"cells are 'geo/channel' or (geo, channel), e.g. {names[0]!r}"
        if cells
        else f"the fit's channels are {', '.join(names)}"
    )
    unknown = [str(k) for k in allocation if k not in names]
    if unknown:
        raise DataError(f"allocation: unknown {what} {unknown[0]!r}; {listing}")
    missing = [c for c in names if c not in allocation]
    if missing:
        raise DataError(
            f"allocation: no spend given for {what} {missing[0]!r} (give every {what}, 0 to "
            f"switch it off; {listing})"
        )
    x = np.empty(len(names))
    for i, c in enumerate(names):
        try:
            x[i] = float(allocation[c])
        except (TypeError, ValueError):
            raise DataError(
                f"allocation: spend for {what} {c!r} is {allocation[c]!r}, not a number"
            ) from None
        if not np.isfinite(x[i]) or x[i] < 0:
            raise DataError(
                f"allocation: spend for {what} {c!r} must be finite and >= 0, got {x[i]:g}"
            )
    if x.sum() <= 0:
        raise DataError("allocation: the total spend must be positive")
    return x


def _cell_responses(fit, x: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, ...]:
    """A geo fit by cell: ``(S, 2, K)`` responses at ``x`` and ``cur`` and ``(S, K)`` marginal
    ROI at each (``K = G * C`` geo-major cells, money per period / money per money)."""
    from mmmjax.insights import geo as geo_insights

    G, C = fit.dataset.n_geos, fit.dataset.n_channels
    spend = np.stack([x.reshape(G, C), cur.reshape(G, C)], axis=1)  # (G, 2, C)
    r = np.asarray(geo_insights.response_curves(fit, spend, by="geo"), np.float64)  # (S,G,2,C)
    r = np.moveaxis(r, 2, 1).reshape(r.shape[0], 2, G * C)
    m, m_cur = (
        np.asarray(geo_insights.marginal_roi(fit, by="geo", spend=v.reshape(G, C)), np.float64)
        for v in (x, cur)
    )
    return r, m.reshape(-1, G * C), m_cur.reshape(-1, G * C)


@dataclass(frozen=True)
class WhatIf(Plan):
    """A :class:`~mmmjax.optimize.Plan` for an allocation the user wrote (not optimised).

    The :class:`~mmmjax.optimize.Plan` fields mean what they mean there, with ``allocation`` the
    user's split, ``current_allocation`` the current mix scaled to the same total (see the
    module docstring), ``lower = 0`` and ``upper = total_budget`` (no bounds),
    ``objective = "mean"`` with ``objective_value = expected_response``, ``iterations = 0`` and
    ``converged = True`` (nothing is solved: every number is an exact evaluation), and
    ``mroi_spread`` the ``(max - min) / mean`` of the marginal ROI over channels with spend
    (0 when the split equalises marginal returns, as an interior optimum does). Extra fields:

    Attributes:
      channel_interval: ``(C, 2)`` DataFrame ``low``/``high``, 94% interval of each channel's
        response (money per period).
      roi, roi_interval: total ROI ``T / B``, posterior mean and 94% interval.
      channel_roi: ``DataFrame`` by channel with ``mean``, ``low``, ``high`` of ``R_c / x_c``
        (NaN for a channel without spend).
      marginal_roi_interval: ``(C, 2)`` DataFrame ``low``/``high`` of ``dR_c / dx_c``.
      current_channel_response, current_marginal_roi: posterior means at the current split.
      current_roi, current_roi_interval: total ROI of the current split.
    """

    channel_interval: pd.DataFrame | None = None
    roi: float = float("nan")
    roi_interval: tuple[float, float] = (float("nan"), float("nan"))
    channel_roi: pd.DataFrame | None = None
    marginal_roi_interval: pd.DataFrame | None = None
    current_channel_response: pd.Series | None = None
    current_marginal_roi: pd.Series | None = None
    current_roi: float = float("nan")
    current_roi_interval: tuple[float, float] = (float("nan"), float("nan"))

    def to_frame(self) -> pd.DataFrame:
        """One row per channel: the plan's and the current split's spend, the plan's response
        with its 94% interval, ROI and marginal ROI, and the current split's response."""
        return pd.DataFrame(
            {
                "current": self.current_allocation,
                "plan": self.allocation,
                "change": self.allocation - self.current_allocation,
                "response": self.channel_response,
                "response_low": self.channel_interval["low"],
                "response_high": self.channel_interval["high"],
                "roi": self.channel_roi["mean"],
                "roi_low": self.channel_roi["low"],
                "roi_high": self.channel_roi["high"],
                "marginal_roi": self.marginal_roi,
                "current_response": self.current_channel_response,
                "current_marginal_roi": self.current_marginal_roi,
            }
        ).rename_axis(self.allocation.index.names)

    def to_dict(self) -> dict[str, Any]:
        """:meth:`Plan.to_dict` plus the what-if's intervals and ROI (JSON-able)."""
        out = super().to_dict()
        keys = list(out["allocation"])  # the labels' JSON keys ("geo/channel" for a cell)
        fl = lambda s: {  # noqa: E731
            k: (None if not np.isfinite(v) else float(v)) for k, v in zip(keys, s, strict=True)
        }
        band = self.channel_interval
        out.update(
            kind="what-if",
            channel_response_interval={
                k: [float(lo), float(hi)]
                for k, lo, hi in zip(keys, band["low"], band["high"], strict=True)
            },
            roi=float(self.roi),
            roi_interval=[float(v) for v in self.roi_interval],
            channel_roi=fl(self.channel_roi["mean"]),
            current_channel_response=fl(self.current_channel_response),
            current_roi=float(self.current_roi),
            current_roi_interval=[float(v) for v in self.current_roi_interval],
        )
        return out


def evaluate_budget(
    fit, allocation: Any, periods: int | None = None, by: str = "national", *, tail=None
) -> WhatIf:
    r"""Expected response, 94% intervals, ROI and marginal ROI of a budget split the user wrote.

    Evaluates the steady-state response ``R_sc(x_c)`` of every posterior draw ``s`` at the
    allocation ``x`` and at the current mix scaled to the same total (module docstring), all
    draws at once (:func:`mmmjax.response_curves`, :func:`mmmjax.marginal_roi`).
    ``evaluate_budget(fit, optimize_budget(fit, B).allocation)`` reproduces that plan's
    expected response, interval and marginal ROI.

    A schedule of the next ``N`` periods (a DataFrame, or ``periods=N`` with money per channel
    over them, spread flat) is evaluated period by period (:mod:`mmmjax.optimize.schedule`): every
    response is then over the plan and its carryover (money), ``R_sc`` channel ``c``'s, the
    marginal ROI that of one more unit of money spread over the channel's schedule in
    proportion, and the current split the last periods' mix scaled to the same total and spread
    flat. ``evaluate_budget(fit, optimize_budget(fit, B, periods=N).schedule)`` reproduces
    that plan.

    Args:
      fit: a :class:`~mmmjax.Fit`, or a :class:`~mmmjax.GeoFit`.
      allocation: money per period. By channel: a dict or ``pd.Series`` ``{channel: spend}``
        naming every channel once, or ``C`` numbers in ``fit.channels`` order. By cell (a geo
        fit with ``by="geo"``): keyed by ``(geo, channel)`` (a ``Series`` with that
        ``MultiIndex``, as ``optimize_budget(fit, B, by="geo").allocation``) or
        ``"geo/channel"``, naming every cell once, or ``G * C`` numbers geo-major (cell
        ``g * C + c``) or a ``(G, C)`` array.
      allocation (a schedule): a DataFrame with one row per period after the data, in order,
        and one column per channel, money per period (a ``DatetimeIndex`` must be those
        dates, as ``Plan.schedule``); or, with ``periods``, money per channel over the plan.
      periods: ``None`` (default: the steady state, ``allocation`` sustained every period,
        unless ``allocation`` is a DataFrame), or ``N``: the next ``N`` periods after the data.
      by: ``"national"``: by channel (a geo fit answers for the nation: each channel's spend
        is split over geos by the data's spend shares); ``"geo"``: a geo fit by
        ``(geo, channel)`` cell, each cell's response ``R_gc`` at its own spend, the current
        split the last periods' mean per cell scaled to the same total, and the results
        indexed by ``(geo, channel)``. A national fit is one geo: ``"geo"`` is ``"national"``.

      tail: with a schedule, periods after it whose carryover counts (default as in
        :func:`mmmjax.optimize_budget`).

    Returns:
      A :class:`WhatIf` (a :class:`~mmmjax.optimize.Plan`), money per period; for a schedule,
      money over the plan (with ``periods``, ``tail`` and ``schedule`` set).

    Raises:
      DataError: one line naming the channel (cell): unknown or missing, spend that is not a
        finite number >= 0, a total of 0; for a schedule also the date: wrong dates or number
        of rows (:func:`mmmjax.optimize.schedule.read_schedule`).
      ValueError: ``by`` is not ``"national"`` or ``"geo"``; ``periods`` below 1; a schedule
        for a geo fit (not supported yet).

    Example:
      >>> plan = mmmjax.evaluate_budget(fit, {"tv": 20_000, "search": 15_000, "radio": 5_000})
      >>> plan.to_frame().round(2)
    """
    var = budget_variables(fit, by)  # the channels, or a geo fit's (geo, channel) cells
    cells = isinstance(var.index, pd.MultiIndex)
    extra: dict[str, Any] = {}
    scheduled = periods is not None or isinstance(allocation, pd.DataFrame)
    if scheduled:  # the next N periods, period by period (mmmjax.optimize.schedule)
        sch.check_national(fit, "a schedule (periods= or a DataFrame)")
        if isinstance(allocation, pd.DataFrame):
            X = sch.read_schedule(fit, allocation, periods)
        else:
            N = sch.check_periods(periods)
            x = _allocation(allocation, var.names, cells, f"money over the {N} periods")
            X = np.broadcast_to(x / N, (N, len(x)))
        x = X.sum(0)
    else:
        x = _allocation(allocation, var.names, cells)
    budget = float(x.sum())
    mix = current_split(fit, by=by)
    cur = budget * mix / mix.sum()
    if scheduled:
        model = sch.schedule_model(fit, X.shape[0], tail, params=var.params)
        r, dr = sch.schedule_draws(model, np.stack([X, np.broadcast_to(cur / len(X), X.shape)]))
        m, m_cur = dr[:, 0], dr[:, 1]
        frame = pd.DataFrame(np.array(X), index=model.dates, columns=var.index)
        extra = {"periods": len(X), "tail": model.tail, "schedule": frame}
    elif cells:
        r, m, m_cur = _cell_responses(fit, x, cur)
    else:
        r = np.asarray(response_curves(fit, np.stack([x, cur])), dtype=np.float64)  # (S, 2, C)
        m = np.asarray(marginal_roi(fit, spend=x), dtype=np.float64)  # (S, C)
        m_cur = np.asarray(marginal_roi(fit, spend=cur), dtype=np.float64)
    t, t_cur = r[:, 0].sum(-1), r[:, 1].sum(-1)  # (S,) per-draw totals
    with np.errstate(divide="ignore", invalid="ignore"):
        per_roi = np.where(x > 0, r[:, 0] / x, np.nan)  # (S, C)
    idx = var.index
    ser = lambda a, name: pd.Series(np.asarray(a, np.float64), index=idx, name=name)  # noqa: E731
    band = lambda lo, hi: pd.DataFrame({"low": lo, "high": hi}, index=idx)  # noqa: E731
    pair = lambda lo, hi: (float(lo), float(hi))  # noqa: E731
    mean, low, high = _summary(t)
    cmean, clow, chigh = _summary(t_cur)
    umean, ulow, uhigh = _summary(t - t_cur)
    rmean, rlow, rhigh = _summary(t / budget)
    crmean, crlow, crhigh = _summary(t_cur / budget)
    ch_mean, ch_low, ch_high = _summary(r[:, 0])
    roi_mean, roi_low, roi_high = _summary(per_roi)
    m_mean, m_low, m_high = _summary(m)
    spent = m_mean[x > 0]
    spread = (
        float((spent.max() - spent.min()) / abs(spent.mean()))
        if spent.size >= 2 and spent.mean() != 0
        else float("nan")
    )
    return WhatIf(
        allocation=ser(x, "allocation"),
        total_budget=budget,
        expected_response=float(mean),
        response_interval=pair(low, high),
        current_allocation=ser(cur, "current"),
        current_response=float(cmean),
        current_interval=pair(clow, chigh),
        uplift=float(umean),
        uplift_interval=pair(ulow, uhigh),
        channel_response=ser(ch_mean, "response"),
        marginal_roi=ser(m_mean, "marginal_roi"),
        mroi_spread=spread,
        lower=ser(np.zeros_like(x), "lower"),
        upper=ser(np.full_like(x, budget), "upper"),
        objective="mean",
        objective_value=float(mean),
        iterations=0,
        converged=True,
        channel_interval=band(ch_low, ch_high),
        roi=float(rmean),
        roi_interval=pair(rlow, rhigh),
        channel_roi=pd.DataFrame({"mean": roi_mean, "low": roi_low, "high": roi_high}, index=idx),
        marginal_roi_interval=band(m_low, m_high),
        current_channel_response=ser(r[:, 1].mean(0), "current_response"),
        current_marginal_roi=ser(m_cur.mean(0), "current_marginal_roi"),
        current_roi=float(crmean),
        current_roi_interval=pair(crlow, crhigh),
        **extra,
    )
