"""Design arrays: the scaled inputs the model function reads, built once per dataset.

Everything that does not depend on parameters (scaled spend, trend time, Fourier terms,
standardised controls, event dummies, changepoint positions) is computed here, outside the
sampler, so that no leapfrog step repeats it.

Time is measured in periods from the *training* origin, so a design for later dates (forecasts)
continues the training trend and seasonality: ``t = (period index) / (T_train - 1)`` lies in
``[0, 1]`` over the training window, and the Fourier terms use the period index over
``periods_per_year``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

__all__ = ["Design", "LiftData", "TimeAxis", "build_design", "no_lift_data"]


class TimeAxis(NamedTuple):
    """How dates map to model time; saved with a fit so forecasts continue the training axis."""

    origin: pd.Timestamp  # first training date
    period_days: float  # 7 for weekly, 1 for daily
    n_train: int  # number of training periods
    periods_per_year: float

    def index(self, dates: pd.DatetimeIndex) -> np.ndarray:
        """Period index of each date relative to the origin (0 for the first training period)."""
        days = (dates - self.origin) / pd.Timedelta(days=1)
        return np.asarray(np.round(np.asarray(days, dtype=np.float64) / self.period_days))

    def trend_time(self, dates: pd.DatetimeIndex) -> np.ndarray:
        return self.index(dates) / max(self.n_train - 1, 1)

    def to_dict(self) -> dict:
        return {
            "origin": self.origin.isoformat(),
            "period_days": self.period_days,
            "n_train": self.n_train,
            "periods_per_year": self.periods_per_year,
        }

    @classmethod
    def from_dict(cls, d: dict) -> TimeAxis:
        return cls(
            pd.Timestamp(d["origin"]), float(d["period_days"]), int(d["n_train"]),
            float(d["periods_per_year"]),
        )  # fmt: skip

    @classmethod
    def of(cls, dataset) -> TimeAxis:
        period_days = dataset.period / pd.Timedelta(days=1)
        return cls(
            dataset.dates[0], period_days, int(dataset.n_periods), float(dataset.periods_per_year)
        )


class Design(NamedTuple):
    """Scaled model inputs for ``T`` periods (float32).

    Attributes:
      spend: ``(T, C)`` spend divided by each channel's mean training spend (1 = usual level).
      t: ``(T,)`` trend time, 0..1 over the training window.
      fourier: ``(T, 2 * order)`` yearly Fourier terms ``[sin(2 pi k i / P), cos(...)]``.
      controls: ``(T, K)`` standardised controls.
      events: ``(T, E)`` event dummies.
      changepoints: ``(P,)`` positions of trend changepoints in ``t`` units.
      roi_to_effect: ``(C,)`` mean spend over mean target: turns a window ROI into the
        scaled per-period media effect averaged over the training window.
    """

    spend: np.ndarray
    t: np.ndarray
    fourier: np.ndarray
    controls: np.ndarray
    events: np.ndarray
    changepoints: np.ndarray
    roi_to_effect: np.ndarray


class LiftData(NamedTuple):
    """Lift tests as model inputs, scaled units (``K`` tests over the ``T`` training periods).

    Model *arguments*, not constants of the compiled program: new tests of the same count reuse
    it. ``K = 0`` (zero-size arrays, :func:`no_lift_data`) means no calibration.

    Attributes:
      channel: ``(K,)`` int32 channel index of each test.
      mask: ``(K, T)`` 1.0 in the periods of the test's window, else 0.0.
      delta: ``(K,)`` spend change per period over the channel's mean spend.
      lift: ``(K,)`` measured incremental target over the window over the mean target.
      lift_se: ``(K,)`` its standard error, same unit.
    """

    channel: np.ndarray
    mask: np.ndarray
    delta: np.ndarray
    lift: np.ndarray
    lift_se: np.ndarray


def no_lift_data(n_periods: int) -> LiftData:
    """``LiftData`` with no tests (``K = 0``) for ``n_periods`` training periods."""
    f32 = np.float32
    empty = np.zeros((0,), f32)
    return LiftData(np.zeros((0,), np.int32), np.zeros((0, n_periods), f32), empty, empty, empty)


def fourier_terms(index: np.ndarray, periods_per_year: float, order: int) -> np.ndarray:
    """Yearly Fourier basis ``(T, 2 * order)``: columns ``sin(2 pi k i / P), cos(2 pi k i / P)``."""
    if order <= 0:
        return np.zeros((len(index), 0))
    k = np.arange(1, order + 1)
    angle = 2 * np.pi * np.asarray(index, dtype=np.float64)[:, None] * k[None, :] / periods_per_year
    return np.concatenate([np.sin(angle), np.cos(angle)], axis=1)


def changepoint_positions(n: int) -> np.ndarray:
    """``n`` changepoints spread evenly over the first 80% of the training window (as Prophet)."""
    if n <= 0:
        return np.zeros((0,))
    return np.linspace(0.0, 0.8, n + 1)[1:]


def build_design(dataset, scales, axis: TimeAxis, *, seasonality: int, changepoints: int) -> Design:
    """Scaled design arrays for ``dataset`` using the training ``scales`` and time ``axis``."""
    scaled = dataset.scaled(scales)
    idx = axis.index(dataset.dates)
    f32 = np.float32
    return Design(
        spend=np.asarray(scaled.spend, f32),
        t=np.asarray(idx / max(axis.n_train - 1, 1), f32),
        fourier=np.asarray(fourier_terms(idx, axis.periods_per_year, seasonality), f32),
        controls=np.asarray(scaled.controls, f32).reshape(len(idx), -1),
        events=np.asarray(scaled.events, f32).reshape(len(idx), -1),
        changepoints=np.asarray(changepoint_positions(changepoints), f32),
        roi_to_effect=np.asarray(np.asarray(scales.spend) / scales.target, f32),
    )
