"""Input data for mmmjax: a validated, immutable :class:`Dataset` and its :class:`Scales`.

A :class:`Dataset` holds one regularly spaced time series (weekly or daily) of

* ``spend``: media spend per channel, money per period, ``(T, C)``;
* ``target``: the outcome (e.g. revenue), money per period, ``(T,)``;
* ``controls``: other numeric drivers (price, promotions, ...), ``(T, K)``;
* ``events``: numeric dummies for one-off events (holidays, outages), ``(T, E)``, never scaled.

Everything is kept in the user's original units. The model works in *scaled* units
(spend divided by its mean per channel, target divided by its mean, controls standardised); the
:class:`Scales` that do this are computed from the data, kept beside it, saved with a fit and
used to bring every output back to money.

With ``geo=`` a long table (one row per geo and date) becomes a *panel*, a :class:`GeoDataset`:

a geo (or brand, or market) panel holds ``G`` regularly spaced time series that share their
dates and channels:

* ``spend``: ``(G, T, C)`` media spend per geo and channel, money per period;
* ``target``: ``(G, T)`` the outcome per geo, money per period;
* ``controls``: ``(G, T, K)`` other numeric drivers per geo, original units;
* ``population``: ``(G,)`` people (or any size measure) per geo, constant over time.

It is read from a *long* table, one row per (geo, date), with
:meth:`GeoDataset.from_frame` / :meth:`GeoDataset.from_csv`. Every geo must have every date:
a geo with missing weeks is refused by name. :meth:`GeoDataset.national` sums the panel into an
ordinary :class:`mmmjax.Dataset`; :meth:`GeoDataset.geo` takes one geo out as a ``Dataset``.

Scaling (:class:`GeoScales`): geos of very different size share one set of priors because
each geo is measured against its own size. The target of geo ``g`` is divided by its mean over
the window (so the baseline, trend, seasonality and noise of every geo are shares of that geo's
usual level), and spend is measured *per head*::

    size[g]       = population[g]            (or the geo's mean target when no population
                                              column is given: revenue stands in for size)
    unit[c]       = sum_{g,t} spend[g,t,c] / (T * sum_g size[g])   (national spend per head)
    x[g, t, c]    = spend[g, t, c] / (size[g] * unit[c])           (1 = the national per-head
                                                                     level of channel c)
    y[g, t]       = target[g, t] / mean_t target[g, t]

so one saturation curve per channel (a half-saturation of 1.5 means 1.5x the national spend per
head) describes every geo: a geo that spends twice as much per head as the nation sits further
up the same curve, whatever its size.

Files are read by :func:`read_table`, the one reader behind every ``from_csv`` and
``read_*`` function: it refuses directories, empty, binary and Excel files by name, detects the
separator (``,`` ``;`` tab ``|``) and, in files not separated by commas, a decimal comma
(``1.234,5``). Every message that names a row numbers it with :class:`Rows`: rows of a file as a
spreadsheet shows them (the header is row 1), rows of a DataFrame as ``df.iloc`` does (from 0).

Example:
    >>> import mmmjax
    >>> ds = mmmjax.Dataset.from_csv(
    ...     "MMM_test_data.csv", date="start_of_week", target="revenue",
    ...     channels=[f"spend_channel_{i}" for i in range(1, 8)])  # doctest: +SKIP
    >>> ds.n_periods, ds.freq, ds.dates[0].date()  # doctest: +SKIP
    (104, 'W', datetime.date(2020, 8, 30))
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import itertools
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from mmmjax.data.events import holiday_events, label_indicators
from mmmjax.errors import DataError

__all__ = [
    "DATE_FORMATS",
    "MIN_TARGET_MEAN_SDS",
    "PERIODS_PER_YEAR",
    "SEPARATORS",
    "Dataset",
    "GeoDataset",
    "GeoScales",
    "Rows",
    "ScaledData",
    "Scales",
    "Table",
    "check_target",
    "is_panel",
    "min_periods",
    "numbers_from_text",
    "read_table",
]

#: Periods per year for each supported frequency (365.2425 / 7 rounded, and 365.25).
PERIODS_PER_YEAR: dict[str, float] = {"W": 52.1775, "D": 365.25}

_STEP_DAYS: dict[str, int] = {"W": 7, "D": 1}
_FREQ_WORDS: dict[str, str] = {"W": "weekly", "D": "daily"}

#: Date formats tried, in order, when ``date_format`` is not given. A format is kept only if it
#: parses every row; if the survivors disagree, only those giving regularly spaced dates are
#: kept; if they still disagree the dates are ambiguous and :class:`DataError` asks for
#: ``date_format``.
DATE_FORMATS: tuple[str, ...] = (
    "ISO8601",  # 2020-08-30, 2020-08-30T00:00:00, 20200830
    "%Y/%m/%d",
    "%d-%m-%y",
    "%m-%d-%y",
    "%d/%m/%y",
    "%m/%d/%y",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d.%m.%y",
    "%Y.%m.%d",
    "%d %b %Y",
    "%b %d %Y",
    "%d %B %Y",
    "%B %d %Y",
)


def min_periods(n_channels: int, n_controls: int = 0, n_events: int = 0) -> int:
    """Fewest periods :meth:`Dataset.from_frame` accepts: ``max(20, 3 * (C + K + E) + 8)``.

    Each channel, control and event adds at least one coefficient (channels several), and the
    baseline needs about eight more (intercept, trend, seasonality, noise); fewer periods than
    this cannot identify the model.

    Example:
        >>> min_periods(7)
        29
    """
    return max(20, 3 * (n_channels + n_controls + n_events) + 8)


# --------------------------------------------------------------------------------------------
# Scales
# --------------------------------------------------------------------------------------------


def _frozen_array(x: Any, ndim: int, name: str) -> np.ndarray:
    arr = np.array(x, dtype=np.float64)  # always a private copy
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    arr.setflags(write=False)
    return arr


class ScaledData(NamedTuple):
    """The data in the model's scaled units (see :meth:`Dataset.scaled`).

    Attributes:
        spend: ``(T, C)`` spend divided by each channel's scale (its mean spend per period).
        target: ``(T,)`` target divided by the target scale (its mean).
        controls: ``(T, K)`` controls standardised: ``(x - mean) / std``.
        events: ``(T, E)`` event dummies, unchanged.
    """

    spend: np.ndarray
    target: np.ndarray
    controls: np.ndarray
    events: np.ndarray


@dataclass(frozen=True, eq=False)
class Scales:
    """Constants that take data to the model's scaled units and back to money.

    ``spend_scaled = spend / spend_scale`` per channel, ``target_scaled = target / target_scale``
    and ``controls_scaled = (controls - controls_mean) / controls_std``.

    Attributes:
        spend: ``(C,)`` mean spend per period of each channel over the data window, money per
            period (1.0 for a channel with no spend in the window, to avoid dividing by zero).
        target: mean of the target over the data window, money per period (1.0 if it is 0).
        controls_mean: ``(K,)`` mean of each control.
        controls_std: ``(K,)`` standard deviation (ddof 0) of each control; 1.0 where a control
            is constant.

    Example:
        >>> s = Scales(spend=[100.0, 50.0], target=1000.0)
        >>> float(s.unscale_target(0.5)), s.unscale_spend([[1.0, 2.0]]).tolist()
        (500.0, [[100.0, 100.0]])
        >>> Scales.from_dict(s.to_dict()) == s
        True
    """

    spend: np.ndarray
    target: float
    controls_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    controls_std: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        object.__setattr__(self, "spend", _frozen_array(self.spend, 1, "Scales.spend"))
        object.__setattr__(self, "target", float(self.target))
        mean = _frozen_array(self.controls_mean, 1, "Scales.controls_mean")
        std = _frozen_array(self.controls_std, 1, "Scales.controls_std")
        if mean.shape != std.shape:
            raise ValueError("Scales.controls_mean and Scales.controls_std differ in length")
        object.__setattr__(self, "controls_mean", mean)
        object.__setattr__(self, "controls_std", std)

    @classmethod
    def from_arrays(
        cls, spend: np.ndarray, target: np.ndarray, controls: np.ndarray | None = None
    ) -> Scales:
        """Scales from money arrays ``spend (T, C)``, ``target (T,)``, ``controls (T, K)``."""
        spend = np.asarray(spend, dtype=np.float64)
        target = np.asarray(target, dtype=np.float64)
        if controls is None:
            controls = np.zeros((spend.shape[0], 0))
        controls = np.asarray(controls, dtype=np.float64)
        spend_scale = spend.mean(axis=0) if spend.shape[0] else np.ones(spend.shape[1])
        spend_scale = np.where(spend_scale > 0, spend_scale, 1.0)
        target_scale = float(target.mean()) if target.size else 1.0
        if target_scale == 0.0 or not math.isfinite(target_scale):
            target_scale = 1.0
        if controls.shape[0]:
            mean = controls.mean(axis=0)
            std = controls.std(axis=0)
        else:
            mean = np.zeros(controls.shape[1])
            std = np.ones(controls.shape[1])
        std = np.where(std > 0, std, 1.0)
        return cls(spend=spend_scale, target=target_scale, controls_mean=mean, controls_std=std)

    @property
    def n_channels(self) -> int:
        return int(self.spend.shape[0])

    def unscale_target(self, y: Any) -> np.ndarray:
        """Scaled target (any shape) to money: ``y * target``."""
        return np.asarray(y, dtype=np.float64) * self.target

    def scale_target(self, y: Any) -> np.ndarray:
        """Money target (any shape) to scaled units: ``y / target``."""
        return np.asarray(y, dtype=np.float64) / self.target

    def unscale_spend(self, x: Any) -> np.ndarray:
        """Scaled spend ``(..., C)`` to money per period: ``x * spend``."""
        return np.asarray(x, dtype=np.float64) * self.spend

    def scale_spend(self, x: Any) -> np.ndarray:
        """Money spend per period ``(..., C)`` to scaled units: ``x / spend``."""
        return np.asarray(x, dtype=np.float64) / self.spend

    def scale_controls(self, z: Any) -> np.ndarray:
        """Controls ``(..., K)`` in original units to standardised units."""
        return (np.asarray(z, dtype=np.float64) - self.controls_mean) / self.controls_std

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict; floats round-trip exactly through :mod:`json`."""
        return {
            "spend": [float(v) for v in self.spend],
            "target": float(self.target),
            "controls_mean": [float(v) for v in self.controls_mean],
            "controls_std": [float(v) for v in self.controls_std],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Scales:
        """Inverse of :meth:`to_dict`."""
        return cls(
            spend=d["spend"],
            target=d["target"],
            controls_mean=d.get("controls_mean", []),
            controls_std=d.get("controls_std", []),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Scales):
            return NotImplemented
        return (
            self.target == other.target
            and np.array_equal(self.spend, other.spend)
            and np.array_equal(self.controls_mean, other.controls_mean)
            and np.array_equal(self.controls_std, other.controls_std)
        )

    __hash__ = None  # type: ignore[assignment]


# --------------------------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------------------------


def _detect_freq(dates: pd.DatetimeIndex, date_name: str) -> str:
    if len(dates) < 2:
        raise DataError(
            f"column {date_name!r}: cannot detect the frequency from {len(dates)} date(s)"
        )
    step = pd.Series(dates[1:] - dates[:-1]).mode().iloc[0]
    for freq, days in _STEP_DAYS.items():
        if step == pd.Timedelta(days=days):
            return freq
    whole = step % pd.Timedelta(days=1) == pd.Timedelta(0)
    apart = f"{step.days} days" if whole else str(step)
    raise DataError(
        f"column {date_name!r}: dates are mostly {apart} apart ({_fmt_date(dates[0])}, "
        f"{_fmt_date(dates[1])}, ...); mmmjax supports weekly (7 days) or daily (1 day) data"
    )


class _Calendar:
    """Sizes and calendar constants of a dataset with ``dates``, ``channels``,
    ``control_names`` and a resolved ``freq`` (shared by :class:`Dataset` and the geo panel)."""

    @property
    def n_periods(self) -> int:
        """``T``, the number of periods."""
        return len(self.dates)  # type: ignore[attr-defined]

    @property
    def n_channels(self) -> int:
        """``C``, the number of media channels."""
        return len(self.channels)  # type: ignore[attr-defined]

    @property
    def n_controls(self) -> int:
        """``K``, the number of controls."""
        return len(self.control_names)  # type: ignore[attr-defined]

    @property
    def periods_per_year(self) -> float:
        """52.1775 for weekly data, 365.25 for daily (the Fourier seasonality period)."""
        return PERIODS_PER_YEAR[self.freq]  # type: ignore[attr-defined]

    @property
    def period(self) -> pd.Timedelta:
        """Length of one period (7 days or 1 day)."""
        return pd.Timedelta(days=_STEP_DAYS[self.freq])  # type: ignore[attr-defined]


def _resolve_freq(freq: str | None, dates: pd.DatetimeIndex, date_name: str, owner: str) -> str:
    """``freq`` checked, or detected from ``dates`` when ``None``."""
    if freq is None:
        return _detect_freq(dates, date_name)
    if freq not in _STEP_DAYS:
        raise ValueError(f"{owner}.freq must be one of {sorted(_STEP_DAYS)}, got {freq!r}")
    return freq


@dataclass(frozen=True, eq=False, repr=False)
class Dataset(_Calendar):
    """A validated, immutable MMM data set in original units.

    Build one with :meth:`from_frame` or :meth:`from_csv` (which validate everything); the
    plain constructor only normalises types and checks shapes (it is what :func:`mmmjax.simulate`
    and :meth:`slice` use). Arrays are float64 and read-only.

    Attributes:
        dates: sorted, regularly spaced ``pandas.DatetimeIndex`` of length ``T``.
        channels: channel (spend column) names, length ``C``.
        spend: ``(T, C)`` spend per channel, money per period.
        target: ``(T,)`` target (e.g. revenue), money per period.
        target_name: name of the target column.
        controls: ``(T, K)`` control variables, original units.
        control_names: length ``K``.
        events: ``(T, E)`` numeric event dummies (not scaled).
        event_names: length ``E``.
        freq: ``"W"`` (weekly, any weekday anchor) or ``"D"`` (daily); detected if not given.
        date_name: name of the date column (used by :meth:`to_frame`).

    Example:
        >>> import numpy as np, pandas as pd
        >>> ds = Dataset(dates=pd.date_range("2021-01-03", periods=3, freq="W-SUN"),
        ...              channels=["tv"], spend=np.ones((3, 1)), target=[5.0, 6.0, 7.0])
        >>> ds.freq, ds.n_periods, ds.n_channels, ds.periods_per_year
        ('W', 3, 1, 52.1775)
    """

    dates: pd.DatetimeIndex
    channels: list[str]
    spend: np.ndarray
    target: np.ndarray
    target_name: str = "target"
    controls: np.ndarray | None = None
    control_names: list[str] = field(default_factory=list)
    events: np.ndarray | None = None
    event_names: list[str] = field(default_factory=list)
    freq: str | None = None
    date_name: str = "date"

    def __post_init__(self) -> None:
        dates = pd.DatetimeIndex(self.dates)
        if dates.tz is not None:
            dates = dates.tz_localize(None)
        dates = pd.DatetimeIndex(dates.as_unit("ns"), freq=None, name=self.date_name)
        t = len(dates)
        if t and not dates.is_monotonic_increasing:
            raise ValueError("Dataset.dates must be sorted (from_frame sorts them for you)")
        set_ = functools.partial(object.__setattr__, self)
        set_("dates", dates)
        set_("channels", [str(c) for c in self.channels])
        set_("control_names", [str(c) for c in self.control_names])
        set_("event_names", [str(c) for c in self.event_names])
        spend = _frozen_array(self.spend, 2, "Dataset.spend")
        target = _frozen_array(self.target, 1, "Dataset.target")
        k, e = len(self.control_names), len(self.event_names)
        controls = np.zeros((t, k)) if self.controls is None else self.controls
        events = np.zeros((t, e)) if self.events is None else self.events
        controls = _frozen_array(controls, 2, "Dataset.controls")
        events = _frozen_array(events, 2, "Dataset.events")
        for name, arr, cols in (
            ("spend", spend, len(self.channels)),
            ("controls", controls, k),
            ("events", events, e),
        ):
            if arr.shape != (t, cols):
                raise ValueError(f"Dataset.{name} has shape {arr.shape}, expected {(t, cols)}")
        if target.shape != (t,):
            raise ValueError(f"Dataset.target has shape {target.shape}, expected {(t,)}")
        set_("spend", spend)
        set_("target", target)
        set_("controls", controls)
        set_("events", events)
        set_("freq", _resolve_freq(self.freq, dates, self.date_name, "Dataset"))

    # ---- sizes and derived constants (n_periods, n_channels, ... from _Calendar) ----

    @property
    def n_events(self) -> int:
        """``E``, the number of event dummies."""
        return len(self.event_names)

    #: National data are one geo: :attr:`geos` has this one entry.
    NATIONAL = "national"

    @property
    def geos(self) -> list[str]:
        """``["national"]``: national data are one geo (a :class:`GeoDataset` names its own)."""
        return [self.NATIONAL]

    @property
    def n_geos(self) -> int:
        """``G = 1``: national data are one geo."""
        return 1

    def future_dates(self, n: int) -> pd.DatetimeIndex:
        """The ``n`` dates that follow the last one, at the same spacing."""
        return pd.DatetimeIndex(
            [self.dates[-1] + self.period * (i + 1) for i in range(n)], name=self.date_name
        ).as_unit("ns")

    @functools.cached_property
    def scales(self) -> Scales:
        """:class:`Scales` computed from this data (means over the data window)."""
        return Scales.from_arrays(self.spend, self.target, self.controls)

    def scaled(self, scales: Scales | None = None) -> ScaledData:
        """The data in scaled units (with :attr:`scales` unless others are given).

        ``spend / scales.spend``, ``target / scales.target``,
        ``(controls - controls_mean) / controls_std``; events unchanged. Pass the training
        data's scales when scaling a holdout or new period so both share units.
        """
        s = self.scales if scales is None else scales
        if s.spend.shape != (self.n_channels,) or s.controls_mean.shape != (self.n_controls,):
            raise ValueError("scales do not match this dataset's channels/controls")
        return ScaledData(
            spend=s.scale_spend(self.spend),
            target=s.scale_target(self.target),
            controls=s.scale_controls(self.controls),
            events=np.array(self.events),
        )

    # ---- conversions ----

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame with the date, target, channel, control and event columns.

        ``Dataset.from_frame(ds.to_frame(), date=ds.date_name, target=ds.target_name,
        channels=ds.channels, controls=ds.control_names, events=ds.event_names)`` gives back an
        equal dataset.
        """
        cols: dict[str, Any] = {self.date_name: self.dates, self.target_name: self.target}
        for j, c in enumerate(self.channels):
            cols[c] = self.spend[:, j]
        for j, c in enumerate(self.control_names):
            cols[c] = self.controls[:, j]
        for j, c in enumerate(self.event_names):
            cols[c] = self.events[:, j]
        return pd.DataFrame(cols).reset_index(drop=True)

    def slice(self, start: int | None = None, stop: int | None = None) -> Dataset:
        """Periods ``[start, stop)`` as a new Dataset (same frequency; no length minimum).

        Useful for holdouts: ``train, test = ds.slice(0, -13), ds.slice(-13, None)``. Note that
        the slice's own :attr:`scales` are computed from its window; pass the training scales to
        :meth:`scaled` when you need shared units.
        """
        sl = slice(start, stop)
        return Dataset(
            dates=self.dates[sl],
            channels=self.channels,
            spend=self.spend[sl],
            target=self.target[sl],
            target_name=self.target_name,
            controls=self.controls[sl],
            control_names=self.control_names,
            events=self.events[sl],
            event_names=self.event_names,
            freq=self.freq,
            date_name=self.date_name,
        )

    def __len__(self) -> int:
        return self.n_periods

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Dataset):
            return NotImplemented
        return (
            self.dates.equals(other.dates)
            and self.channels == other.channels
            and self.control_names == other.control_names
            and self.event_names == other.event_names
            and self.target_name == other.target_name
            and self.freq == other.freq
            and np.array_equal(self.spend, other.spend)
            and np.array_equal(self.target, other.target)
            and np.array_equal(self.controls, other.controls)
            and np.array_equal(self.events, other.events)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        if self.n_periods:
            span = f"{self.dates[0].date()}..{self.dates[-1].date()}"
        else:
            span = "empty"
        return (
            f"Dataset({self.n_periods} {_FREQ_WORDS[self.freq]} periods {span}, "  # type: ignore[index]
            f"target={self.target_name!r}, channels={self.channels}, "
            f"controls={self.control_names}, events={self.event_names})"
        )

    # ---- validated constructors ----

    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        date: str,
        target: str,
        channels: Sequence[str],
        controls: Sequence[str] = (),
        events: Sequence[str] = (),
        date_format: str | None = None,
        holidays: str | Sequence[str] | None = None,
        holiday_window: tuple[int, int] = (0, 0),
        geo: str | None = None,
        population: str | None = None,
    ) -> Dataset | GeoDataset:
        """Validate a DataFrame and build a Dataset from it (a panel with ``geo``).

        Rows are sorted by date if needed. Messages name a row by its position, counting from
        0 as ``df.iloc`` does: "row 16 (df.iloc[16])" (:class:`Rows`; :meth:`from_csv` numbers
        rows as a spreadsheet does instead).

        Args:
            df: one row per period.
            date: name of the date column (strings or datetimes).
            target: name of the target column (money per period).
            channels: spend columns, money per period, ``>= 0``; each must have some spend.
            controls: other numeric columns (standardised by the model).
            events: event columns: numeric dummies (used as they are) or text labels, which
                become one 0/1 indicator per label named ``"{column}={label}"`` (the "no
                event" labels ``"na"``, ``""``, ``"none"``, ``"0"`` and missing values get
                none; :func:`mmmjax.data.events.label_indicators`).
            holidays: a country code (``"US"``) or several: national holidays become event
                indicators named ``"{country}: {holiday}"`` (:func:`mmmjax.data.events.
                holiday_events`; needs ``pip install 'mmmjax[holidays]'``).
            holiday_window: ``(before, after)`` periods around each holiday's period that
                also count as the holiday.
            date_format: a ``strftime`` format such as ``"%d-%m-%y"``, applied strictly. If
                omitted the format is detected (see :data:`DATE_FORMATS`) and ambiguous dates
                (e.g. all days <= 12 in a day/month file) are refused.
            geo: the geo (market, region) column of a long table, one row per geo and date:
                the result is then a panel, a :class:`GeoDataset` with arrays ``(G, T, C)``,
                ``(G, T)`` and ``(G, T, K)`` (:meth:`GeoDataset.from_frame`; events per geo
                and date, holidays in every geo). Without it the data are one geo.
            population: with ``geo``, a column holding each geo's population (constant within
                a geo); optional.

        Raises:
            DataError: naming the column and the row or date, for a missing column, no rows,
                unparseable or ambiguous dates, duplicate dates, gaps or irregular spacing,
                a non-numeric, missing or infinite value, negative spend, a channel with no
                spend, a target that is constant, not positive on average, or has negative
                values and a mean below its standard deviation (:func:`check_target`), or fewer
                than :func:`min_periods` periods.

        Example:
            >>> df = pd.DataFrame({"week": pd.date_range("2021-01-03", periods=30, freq="W"),
            ...                    "sales": np.arange(30.0) + 100, "tv": np.ones(30)})
            >>> Dataset.from_frame(df, date="week", target="sales", channels=["tv"]).n_periods
            30
        """
        if geo is not None or population is not None:
            _panel_options(geo)
            return GeoDataset.from_frame(df, geo=geo, date=date, target=target, channels=channels,
                                         controls=controls, population=population,
                                         date_format=date_format, events=events,
                                         holidays=holidays,
                                         holiday_window=holiday_window)  # fmt: skip
        return _from_frame(
            Table.of_frame(df),
            date=date,
            target=target,
            channels=_as_list(channels),
            controls=_as_list(controls),
            events=_as_list(events),
            date_format=date_format,
            holidays=holidays,
            holiday_window=holiday_window,
        )

    @classmethod
    def from_csv(
        cls,
        path: str | os.PathLike[str],
        date: str,
        target: str,
        channels: Sequence[str],
        controls: Sequence[str] = (),
        events: Sequence[str] = (),
        date_format: str | None = None,
        holidays: str | Sequence[str] | None = None,
        holiday_window: tuple[int, int] = (0, 0),
        geo: str | None = None,
        population: str | None = None,
    ) -> Dataset | GeoDataset:
        """Read a CSV file (:func:`read_table`) and validate it like :meth:`from_frame`.

        Same keywords. The separator (``,`` ``;`` tab ``|``) and, in files not separated by
        commas, a decimal comma (``1.234,5``) are detected. Rows in messages are numbered as a
        spreadsheet shows them: the header is row 1, the first data row is row 2.

        Raises:
            DataError: as :meth:`from_frame`, and naming the file for a missing file, a
                directory, an empty, binary or Excel file, or one that is not valid CSV.
        """
        if geo is not None or population is not None:
            _panel_options(geo)
            return GeoDataset.from_csv(path, geo=geo, date=date, target=target, channels=channels,
                                       controls=controls, population=population,
                                       date_format=date_format, events=events, holidays=holidays,
                                       holiday_window=holiday_window)  # fmt: skip
        table = read_table(path, text_columns=[date])
        return _from_frame(
            table,
            date=date,
            target=target,
            channels=_as_list(channels),
            controls=_as_list(controls),
            events=_as_list(events),
            date_format=date_format,
            holidays=holidays,
            holiday_window=holiday_window,
        )


def _panel_options(geo: str | None) -> None:
    """Refuse a population without a geo column (named, with what to do)."""
    if geo is None:
        raise DataError("population= needs geo=: name the geo column of the long table")


# --------------------------------------------------------------------------------------------
# Reading tables: files, separators, decimal marks, row numbers
# --------------------------------------------------------------------------------------------

#: Field separators :func:`read_table` detects, in order of preference for a tie.
SEPARATORS: tuple[str, ...] = (",", ";", "\t", "|")

_GROUP = "[. \u00a0\u202f]"  # thousands separators beside a decimal comma: . space nbsp nnbsp
#: A number written with a decimal comma, optionally with thousands groups: 12,5  1.234,5  -3
_COMMA_NUMBER = re.compile(rf"[+-]?(?:\d{{1,3}}(?:{_GROUP}\d{{3}})+|\d+)(?:,\d+)?")
_COMMA_DECIMAL = re.compile(rf"[+-]?(?:\d{{1,3}}(?:{_GROUP}\d{{3}})+|\d+),\d+")  # has a comma
_DOT_DECIMAL = re.compile(r"[+-]?\d*\.\d+(?:[eE][+-]?\d+)?")
_DOT_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:\.\d{3})+")  # 12.500: 12.5, or 12500?
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f]")
_LINES = re.compile(r"\r\n?|\n")


@dataclass(frozen=True, eq=False)
class Rows:
    """How error messages name a table's rows: one numbering for every reader in mmmjax.

    Rows of a file are numbered as a spreadsheet shows them: the header is row 1, the first data
    row is row 2, and blank lines count. That is also the line number in a text editor, unless a
    quoted cell spans lines (the row is then numbered by its first line). Rows of a
    ``pandas.DataFrame`` are named by position, counting from 0 as ``df.iloc`` does.

    Attributes:
        file: the file's name (no folder), or ``None`` for a DataFrame.
        numbers: ``(n,)`` the spreadsheet row of each data row (file only).
        geos: ``(n,)`` the geo of each data row, for a geo panel's messages, or ``None``.

    Example:
        >>> rows = Rows("sales.csv", np.array([2, 3, 5]))
        >>> rows.at(2, column="tv", date=pd.Timestamp("2021-01-17"))
        "column 'tv', row 5 of sales.csv (the header is row 1), date 2021-01-17"
        >>> Rows().name(2)
        'row 2 (df.iloc[2])'
    """

    file: str | None = None
    numbers: np.ndarray | None = None
    geos: np.ndarray | None = None

    @property
    def table(self) -> str:
        """What the rows come from: ``"sales.csv"`` or ``"the DataFrame"``."""
        return self.file if self.file is not None else "the DataFrame"

    def number(self, i: int) -> int:
        """The number that names data row ``i`` (0-based position as read)."""
        i = int(i)
        if self.file is None:
            return i
        return int(self.numbers[i]) if self.numbers is not None else i + 2

    def name(self, i: int) -> str:
        """``"row 18 of sales.csv (the header is row 1)"`` or ``"row 16 (df.iloc[16])"``."""
        n = self.number(i)
        if self.file is None:
            return f"row {n} (df.iloc[{n}])"
        return f"row {n} of {self.file} (the header is row 1)"

    def pair(self, i: int, j: int) -> str:
        """Two rows, in file order: ``"rows 9 and 12 of sales.csv (the header is row 1)"``."""
        a, b = sorted((self.number(i), self.number(j)))
        if self.file is None:
            return f"rows {a} and {b} (df.iloc[{a}] and df.iloc[{b}])"
        return f"rows {a} and {b} of {self.file} (the header is row 1)"

    def at(self, i: int, column: str | None = None, date: pd.Timestamp | None = None) -> str:
        """Where data row ``i`` is: ``"[geo 'g': ][column 'c', ]row ...[, date 2021-01-17]"``."""
        parts = [] if column is None else [f"column {column!r}"]
        parts.append(self.name(i))
        if date is not None:
            parts.append(f"date {_fmt_date(date)}")
        where = ", ".join(parts)
        return where if self.geos is None else f"geo {self.geos[int(i)]!r}: {where}"

    def with_geos(self, geos: np.ndarray) -> Rows:
        """The same numbering, with each row's geo named in :meth:`at`."""
        return Rows(self.file, self.numbers, np.asarray(geos, dtype=object))


@dataclass(frozen=True, eq=False)
class Table:
    """A table as read by :func:`read_table` (or wrapped from a DataFrame by :meth:`of_frame`).

    Attributes:
        frame: the cells, index ``0..n-1``; numbers are parsed unless the file writes decimals
            with a comma, in which case cells are text (see :func:`numbers_from_text`).
        rows: how messages name the rows (:class:`Rows`).
        header: the column names as written (a repeated name stays repeated; pandas would rename
            the second ``tv`` to ``tv.1``).
        decimal: ``"."`` or ``","``, the file's decimal mark.
    """

    frame: pd.DataFrame
    rows: Rows
    header: tuple[str, ...]
    decimal: str = "."

    @classmethod
    def of_frame(cls, df: pd.DataFrame) -> Table:
        """A DataFrame as a table: rows named by position (``df.iloc``), decimal point."""
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
        return cls(df.reset_index(drop=True), Rows(), tuple(str(c) for c in df.columns))


def numbers_from_text(text: pd.Series, decimal: str = ".") -> np.ndarray:
    """``(n,)`` float64 values of text cells written with ``decimal`` as the decimal mark.

    With ``"."`` the cells are read as Python/pandas read numbers (``1234.5``, ``1.2e3``). With
    ``","`` a cell must look like ``1234,5``, ``1.234,5``, ``1 234,5`` or ``-3``: the comma is the
    decimal mark and ``.`` or a (non-breaking) space may group thousands. A missing cell, or one
    that is not a number in that notation (``"1.5"`` in a decimal-comma file), gives NaN.

    Example:
        >>> numbers_from_text(pd.Series(["1.234,5", "-3", "1.5", None]), ",").tolist()
        [1234.5, -3.0, nan, nan]
    """
    s = pd.Series(text, dtype=object).reset_index(drop=True)
    if decimal == ".":
        return pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    if decimal != ",":
        raise ValueError(f"decimal must be '.' or ',', got {decimal!r}")
    s = s.astype("string").str.strip()
    ok = s.str.fullmatch(_COMMA_NUMBER.pattern).fillna(False).astype(bool)
    plain = s.where(ok).str.replace(_GROUP, "", regex=True).str.replace(",", ".", regex=False)
    return pd.to_numeric(plain, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def read_table(
    path: str | os.PathLike[str],
    *,
    what: str = "data",
    text_columns: Sequence[str] = (),
    all_text: bool = False,
) -> Table:
    """Read a CSV file for mmmjax: the one reader behind every ``from_csv`` and ``read_*``.

    * The file must be text: UTF-8 (with or without a byte-order mark), UTF-16 with a byte-order
      mark (Excel's "Unicode text"), or else Windows-1252 (Excel's default "CSV" in Western
      Europe). A directory, an Excel workbook, an empty or a binary file is refused by name.
    * The separator is detected among :data:`SEPARATORS` (``,`` ``;`` tab ``|``): the one that
      splits the header into the most columns and every one of the first 50 rows into as many.
    * In a file not separated by commas, numbers may use a decimal comma (``1.234,5``); the
      decimal mark is then detected from the cells, and a file that mixes ``12,5`` and ``1.5``,
      or whose only dotted numbers are like ``12.500`` (12.5 or 12500?), is refused.
    * Rows are numbered as a spreadsheet shows them (:class:`Rows`).

    Args:
        path: the CSV file.
        what: what the file holds, for messages (``"data"``, ``"lift tests"``).
        text_columns: columns kept as text (dates, geo names), never parsed as numbers.
        all_text: keep every cell as text, empty cells as ``""`` (for the calibration readers).

    Returns:
        A :class:`Table`.

    Raises:
        DataError: naming the file and what is wrong with it.
    """
    p = os.fspath(path)
    label = f"{what} file {p}"
    if os.path.isdir(p):
        raise DataError(f"{label} is a directory, not a CSV file; give the path of the file")
    try:
        with open(p, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise DataError(f"{what} file not found: {p}") from None
    except PermissionError:
        raise DataError(f"{label} cannot be read: permission denied") from None
    except OSError as exc:
        raise DataError(f"{label} cannot be read: {exc.strerror or exc}") from None
    text = _decode(raw, label)
    sep = _sniff_separator(text)
    header = _header(text, sep)
    text_dtype = {c: str for c in text_columns if c in header}
    decimal = "."

    def parse(**kw: Any) -> pd.DataFrame:
        try:
            return pd.read_csv(io.StringIO(text), sep=sep, **kw)
        except pd.errors.EmptyDataError:
            raise DataError(f"{label} is empty (no header, no rows)") from None
        except pd.errors.ParserError as exc:
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else "parse error"
            msg = msg.replace("Error tokenizing data. C error: ", "")
            raise DataError(f"{label} is not a valid CSV ({msg}; the header is line 1)") from None

    if sep != ",":  # without commas as separators, a decimal comma is possible
        kinds = _number_styles(text, sep)
        if ("comma" in kinds) == ("dot" in kinds) and kinds:  # mixed, or only 12.500: look
            cells = parse(dtype=str)  # closer, to name the cells (or clear text columns)
            rows = Rows(os.path.basename(p), _row_numbers(text, sep, len(cells)))
            kinds = _detect_decimal(cells.drop(columns=list(text_dtype)), rows, label)
        decimal = "," if "comma" in kinds else "."
    if all_text:
        df = parse(dtype=str, keep_default_na=False)
    else:
        df = parse(dtype=text_dtype if decimal == "." else str)
    rows = Rows(os.path.basename(p), _row_numbers(text, sep, len(df)))
    return Table(df.reset_index(drop=True), rows, tuple(header), decimal)


def _decode(raw: bytes, label: str) -> str:
    """The file's text (see :func:`read_table` for the encodings accepted)."""
    save = "export the data as CSV (UTF-8)"
    if raw.startswith(b"PK\x03\x04"):
        raise DataError(f"{label} is an Excel workbook or another zip archive, not a CSV; {save}")
    if raw.startswith(b"\xd0\xcf\x11\xe0"):
        raise DataError(f"{label} is an old Excel workbook (.xls), not a CSV; {save}")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError:
            raise DataError(f"{label} is not valid UTF-16 text; {save}") from None
    else:
        nul = raw.find(b"\x00", 0, 1 << 16)
        if nul >= 0:
            raise DataError(
                f"{label} is not a text file (binary data: byte 0x00 at offset {nul}); {save}"
            )
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            bad = f"byte 0x{raw[exc.start]:02x} at offset {exc.start}"
            try:
                text = raw.decode("cp1252")  # Excel's "CSV" in Western Europe
            except UnicodeDecodeError:
                raise DataError(
                    f"{label} is not a text file ({bad} is not UTF-8); {save}"
                ) from None
    control = _CONTROL.search(text, 0, 1 << 16)
    if control is not None:
        raise DataError(
            f"{label} is not a text file (binary data: character "
            f"0x{ord(control.group()):02x} at offset {control.start()}); {save}"
        )
    if not text.strip():
        raise DataError(f"{label} is empty (no header, no rows)")
    return text


def _blank(record: list[str]) -> bool:
    """A line pandas skips: empty, or only white space (one field)."""
    return not record or (len(record) == 1 and not record[0].strip())


def _records(text: str, sep: str) -> Iterable[tuple[int, list[str]]]:
    """``(first line, fields)`` of each non-blank record of ``text``."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    line = 0
    for rec in reader:
        start, line = line + 1, reader.line_num
        if not _blank(rec):
            yield start, rec


def _header(text: str, sep: str) -> list[str]:
    return next((rec for _, rec in _records(text, sep)), [])


def _sniff_separator(text: str) -> str:
    """The separator of :data:`SEPARATORS` that splits the first 50 records most consistently.

    Wins: the most columns in the header, with every sampled record splitting into as many; a
    tie goes to the earlier separator. With none consistent, the one giving the header the most
    columns (pandas then names the ragged line).
    """
    head = text[: 1 << 16]
    cut = len(text) > len(head)
    best, best_width, ragged, ragged_width = ",", 1, ",", 1
    for sep in SEPARATORS:
        widths = [len(rec) for _, rec in itertools.islice(_records(head, sep), 51)]
        if cut and len(widths) > 1:
            widths = widths[:-1]  # the last record may be cut short
        if not widths:
            continue
        w = widths[0]
        if w > best_width and all(v == w for v in widths):
            best, best_width = sep, w
        if w > ragged_width:
            ragged, ragged_width = sep, w
    return best if best_width > 1 else ragged


def _row_numbers(text: str, sep: str, n: int) -> np.ndarray:
    """``(n,)`` spreadsheet row (= first line) of each data row (see :class:`Rows`)."""
    if '"' in text:  # a quoted cell may span lines: let the csv module find the records
        starts = np.fromiter((s for s, _ in _records(text, sep)), dtype=np.int64)[1:]
    else:  # one record per line; blank lines (only white space, no separator) are skipped
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        starts = np.asarray(
            [k for k, line in enumerate(lines, 1) if sep in line or line.strip()][1:], np.int64
        )
    if len(starts) != n:  # pandas split differently (should not happen): count data rows
        return np.arange(n, dtype=np.int64) + 2
    return starts


def _number_styles(text: str, sep: str) -> set[str]:
    """Which number styles appear as whole cells of the data rows of ``text``: ``"comma"``
    (12,5), ``"dot"`` (1.5) and ``"thousands"`` (12.500, either). One regex scan per style."""
    first = _LINES.search(text)
    body = text[first.end() :] if first else ""
    s, q = re.escape(sep), '"?'
    dot = rf"(?!{_DOT_THOUSANDS.pattern}{q}[ \t]*(?:{s}|$)){_DOT_DECIMAL.pattern}"
    styles = {"comma": _COMMA_DECIMAL.pattern, "dot": dot, "thousands": _DOT_THOUSANDS.pattern}
    hints = {"comma": ",", "dot": ".", "thousands": "."}  # str scans, far faster than re

    def has(kind: str) -> bool:
        cell = rf"(?:^|{s})[ \t]*{q}(?:{styles[kind]}){q}[ \t]*(?={s}|$)"
        return hints[kind] in body and bool(re.search(cell, body, flags=re.MULTILINE))

    found = {kind for kind in ("comma", "dot") if has(kind)}
    if not found and has("thousands"):  # 12.500 matters only when nothing else decides
        found.add("thousands")
    return found


def _detect_decimal(df: pd.DataFrame, rows: Rows, label: str) -> set[str]:
    """The number styles of :func:`_number_styles` among the text cells of ``df``; refuses a
    table that mixes decimal commas and points, or whose only dotted numbers are like 12.500."""
    found: dict[str, tuple[int, str, str]] = {}  # kind -> (row, column, cell), first of each
    for col in df.columns:
        s = df[col].astype("string").str.strip()
        for kind, rx in (
            ("comma", _COMMA_DECIMAL),
            ("dot", _DOT_DECIMAL),
            ("thousands", _DOT_THOUSANDS),
        ):
            hit = s.str.fullmatch(rx.pattern).fillna(False).to_numpy(dtype=bool)
            if kind == "dot":
                hit &= ~s.str.fullmatch(_DOT_THOUSANDS.pattern).fillna(False).to_numpy(bool)
            if hit.any() and kind not in found:
                i = int(np.argmax(hit))
                found[kind] = (i, str(col), str(s.iloc[i]))
    comma, dot, amb = found.get("comma"), found.get("dot"), found.get("thousands")
    if comma and dot:
        raise DataError(
            f"{label} mixes decimal commas ({comma[2]!r} in {rows.at(comma[0], comma[1])}) and "
            f"decimal points ({dot[2]!r} in {rows.at(dot[0], dot[1])}); write every number "
            "the same way"
        )
    if amb and not dot and not comma:
        raise DataError(
            f"{label}: {amb[2]!r} in {rows.at(amb[0], amb[1])} could be "
            f"{float(amb[2]):g} or {amb[2].replace('.', '')} (a thousands separator); write "
            "numbers without thousands separators, or decimals with a comma (1,5)"
        )
    return set(found)


# --------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------


def _as_list(x: str | Iterable[str]) -> list[str]:
    return [x] if isinstance(x, str) else [str(v) for v in x]


def _fmt_date(ts: pd.Timestamp) -> str:
    return str(ts.date()) if ts == ts.normalize() else str(ts)


def _check_columns(table: Table, groups: dict[str, list[str]]) -> None:
    df = table.frame
    available = [str(c) for c in df.columns]
    seen: dict[str, str] = {}
    for role, names in groups.items():
        for name in names:
            if name in seen:
                raise DataError(
                    f"column {name!r} is given both as {seen[name]} and as {role}; "
                    "use each column once"
                )
            seen[name] = role
            if name not in df.columns:
                raise DataError(
                    f"column {name!r} ({role}) not found in {table.rows.table}; available "
                    "columns: " + ", ".join(available)
                )
    if not groups["channel"]:
        raise DataError("no channel columns given; name at least one spend column")
    header = list(table.header) if table.header else available
    dup = [c for c in seen if header.count(c) > 1]
    if dup:
        raise DataError(
            f"column {dup[0]!r} appears {header.count(dup[0])} times in the header of "
            f"{table.rows.table}; rename or drop the copies"
        )


def _parse_dates(
    raw: pd.Series, name: str, date_format: str | None, rows: Rows | None = None
) -> pd.DatetimeIndex:
    """Parse the date column; ``raw`` has a 0..n-1 index, ``rows`` names its rows."""
    rows = Rows() if rows is None else rows
    missing = raw.isna().to_numpy()
    if missing.any():
        i = int(np.argmax(missing))
        raise DataError(f"{rows.at(i, name)}: the date is missing")
    if isinstance(raw.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(raw):
        return pd.DatetimeIndex(raw)
    text = raw.astype(str).str.strip()
    hint = "pass date_format (CLI: --date-format)"

    if date_format is not None:
        parsed = pd.to_datetime(text, format=date_format, errors="coerce")
        bad = parsed.isna().to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(
                f"{rows.at(i, name)}: date {text.iloc[i]!r} does not match "
                f"date_format {date_format!r}"
            )
        return pd.DatetimeIndex(parsed)

    results: dict[str, pd.DatetimeIndex] = {}
    best: tuple[int, str, int] | None = None  # (rows parsed, format, first failing row)
    for fmt in DATE_FORMATS:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        ok = parsed.notna().to_numpy()
        if ok.all():
            results[fmt] = pd.DatetimeIndex(parsed)
        elif best is None or ok.sum() > best[0]:
            best = (int(ok.sum()), fmt, int(np.argmax(~ok)))
    if not results:
        i = best[2] if best is not None and best[0] > 0 else 0
        raise DataError(
            f"{rows.at(i, name)}: cannot parse date {text.iloc[i]!r}; {hint}, e.g. '%d-%m-%Y'"
        )

    distinct = _distinct(results)
    if len(distinct) > 1:
        regular = {f: d for f, d in distinct.items() if _is_regular(d)}
        if len(regular) == 1:
            distinct = regular
        else:
            candidates = regular or distinct
            fmts = list(candidates)
            a, b = candidates[fmts[0]], candidates[fmts[1]]
            i = int(np.argmax(a.to_numpy() != b.to_numpy()))
            raise DataError(
                f"{rows.at(i, name)}: date {text.iloc[i]!r} is ambiguous "
                f"({fmts[0]} gives {_fmt_date(a[i])}, {fmts[1]} gives {_fmt_date(b[i])}); "
                f"{hint}, e.g. {fmts[0]!r}"
            )
    return next(iter(distinct.values()))


def _distinct(results: dict[str, pd.DatetimeIndex]) -> dict[str, pd.DatetimeIndex]:
    out: dict[str, pd.DatetimeIndex] = {}
    for fmt, d in results.items():
        if not any(d.equals(o) for o in out.values()):
            out[fmt] = d
    return out


def _is_regular(d: pd.DatetimeIndex) -> bool:
    s = d.sort_values()
    if len(s) < 2:
        return True
    diffs = np.unique(np.diff(s.asi8))
    return len(diffs) == 1 and diffs[0] > 0


def _numeric(
    raw: pd.Series, name: str, dates: pd.DatetimeIndex, rows: Rows, decimal: str = "."
) -> np.ndarray:
    """A numeric float64 column; ``raw`` has a 0..n-1 index, ``rows`` names its rows."""

    def where(i: int) -> str:
        return rows.at(i, name, dates[i])

    if pd.api.types.is_bool_dtype(raw):
        values = raw.astype(float).to_numpy()
    elif pd.api.types.is_numeric_dtype(raw):
        values = raw.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        blank = raw.isna().to_numpy() | (raw.astype(str).str.strip() == "").to_numpy()
        values = numbers_from_text(raw, decimal)
        bad = np.isnan(values) & ~blank
        if bad.any():
            i = int(np.argmax(bad))
            note = " (this file writes decimals with a comma, e.g. 1234,5)"
            note = note if decimal == "," else ""
            raise DataError(f"{where(i)}: {raw.iloc[i]!r} is not a number{note}")
        values = np.where(blank, np.nan, values)
    nan = np.isnan(values)
    if nan.any():
        i = int(np.argmax(nan))
        raise DataError(f"{where(i)}: the value is missing (empty or NaN)")
    inf = np.isinf(values)
    if inf.any():
        i = int(np.argmax(inf))
        raise DataError(f"{where(i)}: the value is infinite")
    return values


def _check_spacing(dates: pd.DatetimeIndex, pos: np.ndarray, name: str, rows: Rows) -> str:
    """Refuse duplicate dates, gaps and irregular spacing; return the frequency.

    ``dates`` are sorted; ``pos[t]`` is the position (as read) of the row holding ``dates[t]``.
    """
    diffs = dates[1:] - dates[:-1]
    zero = np.flatnonzero(diffs == pd.Timedelta(0))
    if zero.size:
        j = int(zero[0])
        raise DataError(
            f"column {name!r}: duplicate date {_fmt_date(dates[j])} in "
            f"{rows.pair(pos[j], pos[j + 1])}"
        )
    freq = _detect_freq(dates, name)
    step = pd.Timedelta(days=_STEP_DAYS[freq])
    off = np.flatnonzero(diffs != step)
    if off.size:
        j = int(off[0])
        prev, nxt = dates[j], dates[j + 1]
        gap = nxt - prev
        expected = _fmt_date(prev + step)
        if gap > step and gap % step == pd.Timedelta(0):
            missing = gap // step - 1
            raise DataError(
                f"column {name!r}: gap in {_FREQ_WORDS[freq]} dates after {_fmt_date(prev)} "
                f"in {rows.name(pos[j])}: expected {expected} next, found {_fmt_date(nxt)} "
                f"({missing} period(s) missing)"
            )
        raise DataError(
            f"column {name!r}: irregular spacing after {_fmt_date(prev)} in "
            f"{rows.name(pos[j])}: expected {expected} next ({_FREQ_WORDS[freq]} data), found "
            f"{_fmt_date(nxt)} in {rows.name(pos[j + 1])}"
        )
    return freq


#: A target with negative values must have a mean of at least this many standard deviations.
MIN_TARGET_MEAN_SDS = 1.0


def check_target(y: np.ndarray, name: str, span: str, rows: Rows, pos: np.ndarray) -> None:
    """Refuse a target the model's scaling cannot measure (README, "Input files").

    The model measures the target in multiples of its mean: ``y / mean(y)``, with the noise,
    trend, seasonality and control priors stated as shares of that mean. So

    * the target must vary (a constant target has nothing to explain);
    * its mean must be positive;
    * a target with negative values (a profit, a net figure) must have
      ``mean >= MIN_TARGET_MEAN_SDS * sd`` (ddof 0). Below that the scaled target swings by
      more than its mean in both directions and the mean-based priors no longer fit: shifting
      a simulated target down (which should change no media effect) moved the posterior ROI
      by up to 0.5 posterior sds at ``sd = mean``, 1.1 at ``2 * mean`` and 1.6 at
      ``4 * mean``, and the chains froze (r-hat inf) at ``10**6 * mean``
      (``benchmarks/bench_target_mean.py``, 3 seeds).

    Args:
        y: ``(T,)`` the target, money per period, in date order.
        name: the target column; ``span`` the dates it covers, for messages.
        rows, pos: how to name the row ``pos[t]`` holding period ``t``.
    """
    n = len(y)
    if np.all(y == y[0]):
        raise DataError(
            f"column {name!r}: the target is constant ({y[0]:g} in all {n} periods, {span}); "
            "nothing to explain"
        )
    mean, sd = float(y.mean()), float(y.std())
    what = "model a positive KPI such as revenue or sales (not profit or a net change)"
    if mean <= 0:
        raise DataError(
            f"column {name!r}: the target's mean over the {n} periods ({span}) is {mean:g}; "
            f"mmmjax measures the target in multiples of its mean, so it needs a positive "
            f"mean: {what}"
        )
    neg = y < 0
    if neg.any() and mean < MIN_TARGET_MEAN_SDS * sd:
        t = int(np.argmax(neg))
        shift = MIN_TARGET_MEAN_SDS * sd - mean
        raise DataError(
            f"column {name!r}: the target has {int(neg.sum())} negative value(s) (first "
            f"{y[t]:g} in {rows.name(pos[t])}) and its mean {mean:.4g} is below its standard "
            f"deviation {sd:.4g} ({span}); mmmjax measures the target in multiples of its "
            f"mean, which breaks down when the mean is near zero. {what.capitalize()}, or add "
            f"a constant of at least {_round_up(shift):g} to every value (that moves only the "
            "baseline, not media effects in money)"
        )


def _round_up(x: float) -> float:
    """``x`` rounded up to two significant digits (a constant a user can type)."""
    if x <= 0:
        return 0.0
    e = 10.0 ** (math.floor(math.log10(x)) - 1)
    return math.ceil(x / e) * e


def _event_columns(
    df: pd.DataFrame, events: list[str], dates: pd.DatetimeIndex, rows: Rows, decimal: str
) -> tuple[np.ndarray, list[str]]:
    """``(T, E)`` event dummies and their names: numeric columns as they are, text labels as one
    indicator per label (:func:`mmmjax.data.events.label_indicators`)."""
    cols, names = [np.zeros((len(df), 0))], []
    for c in events:
        raw = df[c]
        text = not (pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_bool_dtype(raw))
        if text:
            blank = raw.isna().to_numpy() | (raw.astype(str).str.strip() == "").to_numpy()
            text = bool((np.isnan(numbers_from_text(raw, decimal)) & ~blank).any())
        if text:
            values, labels = label_indicators(raw, c)
        else:
            values, labels = _numeric(raw, c, dates, rows, decimal)[:, None], [c]
        cols.append(values)
        names += labels
    return np.concatenate(cols, axis=1), names


def _with_holidays(e, names, dates, holidays, window, taken):
    """Append :func:`mmmjax.data.events.holiday_events` columns to the event dummies ``e``."""
    before, after = _window(window)
    extra = holiday_events(dates, holidays, before=before, after=after)
    clash = [c for c in extra.columns if c in set(names) | set(taken)]
    if clash:
        raise DataError(f"column {clash[0]!r}: a holiday has this name; rename the column")
    return np.concatenate([e, extra.to_numpy()], axis=1), [*names, *extra.columns]


def _window(window) -> tuple[int, int]:
    try:
        before, after = (int(v) for v in window)
    except (TypeError, ValueError):
        raise ValueError(f"holiday_window must be (before, after), not {window!r}") from None
    return before, after


def _from_frame(
    table: Table,
    *,
    date: str,
    target: str,
    channels: list[str],
    controls: list[str],
    events: list[str],
    date_format: str | None,
    holidays: str | Sequence[str] | None = None,
    holiday_window: tuple[int, int] = (0, 0),
) -> Dataset:
    groups = {
        "date": [date],
        "target": [target],
        "channel": channels,
        "control": controls,
        "event": events,
    }
    _check_columns(table, groups)
    df, rows = table.frame, table.rows
    if len(df) == 0:
        raise DataError(f"no data rows in {rows.table} (column {date!r} is empty)")

    dates = _parse_dates(df[date], date, date_format, rows)
    if dates.tz is not None:
        dates = dates.tz_localize(None)
    dates = dates.as_unit("ns")

    def numeric(c: str) -> np.ndarray:
        return _numeric(df[c], c, dates, rows, table.decimal)

    y = numeric(target)
    x = np.column_stack([numeric(c) for c in channels])
    z = np.column_stack([numeric(c) for c in controls] or [np.zeros((len(df), 0))])
    e, event_names = _event_columns(df, events, dates, rows, table.decimal)

    pos = np.argsort(dates.asi8, kind="stable")  # the row (as read) of each sorted period
    dates, y, x, z, e = dates[pos], y[pos], x[pos], z[pos], e[pos]
    if holidays is not None and len(dates) >= 2:
        e, event_names = _with_holidays(e, event_names, dates, holidays, holiday_window,
                                        [date, target, *channels, *controls])  # fmt: skip

    need = min_periods(len(channels), len(controls), len(event_names))
    if len(dates) < need:
        raise DataError(
            f"column {date!r}: only {len(dates)} periods ({_fmt_date(dates[0])} to "
            f"{_fmt_date(dates[-1])}); at least {need} are needed for {len(channels)} "
            f"channel(s), {len(controls)} control(s) and {len(event_names)} event(s)"
        )
    freq = _check_spacing(dates, pos, date, rows)

    neg = x < 0
    if neg.any():
        t, c = (int(v) for v in np.argwhere(neg)[0])  # earliest date with a negative value
        raise DataError(
            f"{rows.at(pos[t], channels[c], dates[t])}: negative spend {x[t, c]:g}; "
            "spend must be >= 0"
        )
    span = f"{_fmt_date(dates[0])} to {_fmt_date(dates[-1])}"
    for c, name in enumerate(channels):
        if not (x[:, c] > 0).any():
            raise DataError(
                f"column {name!r}: no spend in any of the {len(dates)} periods ({span}); "
                "drop this channel"
            )
    check_target(y, target, span, rows, pos)
    return Dataset(
        dates=dates,
        channels=channels,
        spend=x,
        target=y,
        target_name=target,
        controls=z,
        control_names=controls,
        events=e,
        event_names=event_names,
        freq=freq,
        date_name=date,
    )


# ============================================================================================
# geo panels (G geos sharing dates and channels; national data are the one-geo case)
# ============================================================================================


# --------------------------------------------------------------------------------------------
# scales
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class GeoScales:
    """Constants that take a panel to the geo model's scaled units and back to money.

    See the module docstring for the formulas. All arrays are float64 and read-only.

    Attributes:
        target: ``(G,)`` mean target per period of each geo over the window, money (1.0 where
            it is 0).
        spend: ``(G, C)`` mean spend per period of each geo and channel, money.
        size: ``(G,)`` the size each geo's spend is divided by: its population, or its mean
            target when the panel has no population column.
        unit: ``(C,)`` national spend per unit of size per period (money per head per period),
            1.0 for a channel with no spend at all.
        controls_mean: ``(G, K)`` mean of each control in each geo.
        controls_std: ``(G, K)`` its standard deviation (ddof 0); 1.0 where constant.

    Example:
        >>> s = GeoScales(target=[10.0, 20.0], spend=[[1.0], [4.0]], size=[1.0, 3.0],
        ...               unit=[1.25])
        >>> s.spend_unit.tolist()  # money per period that is x = 1 in each geo
        [[1.25], [3.75]]
        >>> GeoScales.from_dict(s.to_dict()) == s
        True
    """

    target: np.ndarray
    spend: np.ndarray
    size: np.ndarray
    unit: np.ndarray
    controls_mean: np.ndarray | None = None
    controls_std: np.ndarray | None = None

    def __post_init__(self) -> None:
        set_ = functools.partial(object.__setattr__, self)
        target = _frozen_array(self.target, 1, "GeoScales.target")
        g = target.shape[0]
        set_("target", target)
        set_("spend", _frozen_array(self.spend, 2, "GeoScales.spend"))
        set_("size", _frozen_array(self.size, 1, "GeoScales.size"))
        set_("unit", _frozen_array(self.unit, 1, "GeoScales.unit"))
        mean = np.zeros((g, 0)) if self.controls_mean is None else self.controls_mean
        std = np.ones((g, 0)) if self.controls_std is None else self.controls_std
        set_("controls_mean", _frozen_array(mean, 2, "GeoScales.controls_mean"))
        set_("controls_std", _frozen_array(std, 2, "GeoScales.controls_std"))
        if self.spend.shape != (g, self.unit.shape[0]) or self.size.shape != (g,):
            raise ValueError("GeoScales: target (G,), spend (G, C), size (G,), unit (C,) differ")
        if self.controls_mean.shape != self.controls_std.shape:
            raise ValueError("GeoScales: controls_mean and controls_std differ in shape")

    @classmethod
    def from_panel(cls, panel: GeoDataset) -> GeoScales:
        """Scales of ``panel`` over its whole window (see the module docstring)."""
        target = panel.target.mean(axis=1)
        target = np.where((target != 0) & np.isfinite(target), target, 1.0)
        size = panel.population if panel.population_name is not None else target
        total = panel.spend.sum(axis=(0, 1))  # (C,)
        unit = total / (panel.n_periods * size.sum())
        unit = np.where(unit > 0, unit, 1.0)
        std = panel.controls.std(axis=1)
        return cls(
            target=target,
            spend=panel.spend.mean(axis=1),
            size=size,
            unit=unit,
            controls_mean=panel.controls.mean(axis=1),
            controls_std=np.where(std > 0, std, 1.0),
        )

    @property
    def spend_unit(self) -> np.ndarray:
        """``(G, C)`` money per period that is scaled spend 1 in each geo: ``size * unit``."""
        return self.size[:, None] * self.unit[None, :]

    @property
    def roi_to_effect(self) -> np.ndarray:
        """``(G, C)`` mean spend over mean target of each geo: turns a window ROI into the
        scaled per-period media effect averaged over the window."""
        return self.spend / self.target[:, None]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict; floats round-trip exactly through :mod:`json`."""
        return {k: np.asarray(getattr(self, k)).tolist() for k in _SCALE_FIELDS}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GeoScales:
        """Inverse of :meth:`to_dict`."""
        g = len(d["target"])
        arrays = {k: np.asarray(d[k], dtype=np.float64) for k in _SCALE_FIELDS}
        for k in ("controls_mean", "controls_std"):
            arrays[k] = arrays[k].reshape(g, -1)
        return cls(**arrays)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GeoScales):
            return NotImplemented
        return all(np.array_equal(getattr(self, k), getattr(other, k)) for k in _SCALE_FIELDS)

    __hash__ = None  # type: ignore[assignment]


_SCALE_FIELDS = ("target", "spend", "size", "unit", "controls_mean", "controls_std")


# --------------------------------------------------------------------------------------------
# the panel
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False, repr=False)
class GeoDataset(_Calendar):
    """A validated, immutable geo panel in original units (see the module docstring).

    Build one with :meth:`from_frame` or :meth:`from_csv` (which validate everything); the
    plain constructor only normalises types and checks shapes (it is what
    :func:`mmmjax.simulate_geo` uses). Arrays are float64 and read-only.

    Attributes:
        geos: geo names, length ``G`` (in order of first appearance in the table).
        dates: sorted, regularly spaced ``pandas.DatetimeIndex`` of length ``T``, shared by
            every geo.
        channels: channel (spend column) names, length ``C``.
        spend: ``(G, T, C)`` spend, money per period.
        target: ``(G, T)`` target, money per period.
        target_name: name of the target column.
        controls: ``(G, T, K)`` controls, original units.
        control_names: length ``K``.
        population: ``(G,)`` population of each geo (all ones when not given).
        population_name: the population column's name, or ``None`` when none was given (the
            geo model then uses each geo's mean target as its size).
        geo_name: name of the geo column.
        freq: ``"W"`` or ``"D"``; detected if not given.
        date_name: name of the date column.
        events: ``(G, T, E)`` numeric event dummies per geo (not scaled; a national holiday is
            the same in every geo).
        event_names: length ``E``.

    Example:
        >>> import numpy as np, pandas as pd
        >>> p = GeoDataset(geos=["a", "b"], dates=pd.date_range("2021-01-03", periods=3,
        ...                freq="W"), channels=["tv"], spend=np.ones((2, 3, 1)),
        ...                target=np.ones((2, 3)))
        >>> p.n_geos, p.n_periods, p.population.tolist()
        (2, 3, [1.0, 1.0])
    """

    geos: list[str]
    dates: pd.DatetimeIndex
    channels: list[str]
    spend: np.ndarray
    target: np.ndarray
    target_name: str = "target"
    controls: np.ndarray | None = None
    control_names: list[str] = field(default_factory=list)
    population: np.ndarray | None = None
    population_name: str | None = None
    geo_name: str = "geo"
    freq: str | None = None
    date_name: str = "date"
    events: np.ndarray | None = None
    event_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        set_ = functools.partial(object.__setattr__, self)
        dates = pd.DatetimeIndex(self.dates)
        if dates.tz is not None:
            dates = dates.tz_localize(None)
        dates = pd.DatetimeIndex(dates.as_unit("ns"), freq=None, name=self.date_name)
        if len(dates) and not dates.is_monotonic_increasing:
            raise ValueError("GeoDataset.dates must be sorted (from_frame sorts them for you)")
        set_("dates", dates)
        set_("geos", [str(g) for g in self.geos])
        set_("channels", [str(c) for c in self.channels])
        set_("control_names", [str(c) for c in self.control_names])
        set_("event_names", [str(c) for c in self.event_names])
        if len(set(self.geos)) != len(self.geos):
            raise ValueError("GeoDataset.geos must be distinct")
        g, t, c, k = len(self.geos), len(dates), len(self.channels), len(self.control_names)
        controls = np.zeros((g, t, k)) if self.controls is None else self.controls
        population = np.ones(g) if self.population is None else self.population
        e = len(self.event_names)
        events = np.zeros((g, t, e)) if self.events is None else self.events
        arrays = {
            "events": (_frozen_array(events, 3, "GeoDataset.events"), (g, t, e)),
            "spend": (_frozen_array(self.spend, 3, "GeoDataset.spend"), (g, t, c)),
            "target": (_frozen_array(self.target, 2, "GeoDataset.target"), (g, t)),
            "controls": (_frozen_array(controls, 3, "GeoDataset.controls"), (g, t, k)),
            "population": (_frozen_array(population, 1, "GeoDataset.population"), (g,)),
        }
        for name, (arr, shape) in arrays.items():
            if arr.shape != shape:
                raise ValueError(f"GeoDataset.{name} has shape {arr.shape}, expected {shape}")
            set_(name, arr)
        set_("freq", _resolve_freq(self.freq, dates, self.date_name, "GeoDataset"))

    # ---- sizes (n_periods, n_channels, n_controls, period ... from mmmjax.data._Calendar) ----
    @property
    def n_geos(self) -> int:
        """``G``, the number of geos."""
        return len(self.geos)

    @functools.cached_property
    def scales(self) -> GeoScales:
        """:class:`GeoScales` of this panel."""
        return GeoScales.from_panel(self)

    # ---- views ----
    def index(self, geo: str) -> int:
        """Position of ``geo`` in :attr:`geos` (``KeyError`` naming the known geos if absent)."""
        try:
            return self.geos.index(str(geo))
        except ValueError:
            raise KeyError(f"unknown geo {geo!r}; geos are {self.geos}") from None

    def geo(self, name: str) -> Dataset:
        """Geo ``name`` alone, as an ordinary :class:`mmmjax.Dataset` (original units)."""
        g = self.index(name)
        return Dataset(
            dates=self.dates,
            channels=self.channels,
            spend=self.spend[g],
            target=self.target[g],
            target_name=self.target_name,
            controls=self.controls[g],
            control_names=self.control_names,
            events=self.events[g],
            event_names=self.event_names,
            freq=self.freq,
            date_name=self.date_name,
        )

    def national(self) -> Dataset:
        """The panel summed over geos, as an ordinary :class:`mmmjax.Dataset`.

        Spend and target are summed over geos (money per period). Controls, which are levels
        rather than amounts (a price index, a temperature), are averaged over geos weighted by
        population: ``sum_g population[g] * controls[g] / sum_g population[g]``; so are events
        (an event in some geos counts by their share of the population).
        """
        w = self.population / self.population.sum()
        return Dataset(
            dates=self.dates,
            channels=self.channels,
            spend=self.spend.sum(axis=0),
            target=self.target.sum(axis=0),
            target_name=self.target_name,
            controls=np.einsum("g,gtk->tk", w, self.controls),
            control_names=self.control_names,
            events=np.einsum("g,gte->te", w, self.events),
            event_names=self.event_names,
            freq=self.freq,
            date_name=self.date_name,
        )

    def to_frame(self) -> pd.DataFrame:
        """The long table: one row per (geo, date), geo-major; reads back with
        :meth:`from_frame` into an equal panel (population column only if one was given)."""
        g, t = self.n_geos, self.n_periods
        cols: dict[str, Any] = {
            self.geo_name: np.repeat(np.asarray(self.geos, dtype=object), t),
            self.date_name: np.tile(self.dates.to_numpy(), g),
            self.target_name: self.target.reshape(-1),
        }
        for j, c in enumerate(self.channels):
            cols[c] = self.spend[:, :, j].reshape(-1)
        for j, c in enumerate(self.control_names):
            cols[c] = self.controls[:, :, j].reshape(-1)
        for j, c in enumerate(self.event_names):
            cols[c] = self.events[:, :, j].reshape(-1)
        if self.population_name is not None:
            cols[self.population_name] = np.repeat(self.population, t)
        return pd.DataFrame(cols)

    def slice(self, start: int | None = None, stop: int | None = None) -> GeoDataset:
        """Periods ``[start, stop)`` of every geo as a new panel (as :meth:`mmmjax.Dataset.slice`;
        its :attr:`scales` are its own window's)."""
        sl = slice(start, stop)
        return dataclasses.replace(
            self,
            dates=self.dates[sl],
            spend=self.spend[:, sl],
            target=self.target[:, sl],
            controls=self.controls[:, sl],
            events=self.events[:, sl],
        )

    def __len__(self) -> int:
        return self.n_periods

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GeoDataset):
            return NotImplemented
        same = (
            self.geos == other.geos
            and self.dates.equals(other.dates)
            and self.channels == other.channels
            and self.control_names == other.control_names
            and self.event_names == other.event_names
            and (self.target_name, self.date_name, self.geo_name, self.freq)
            == (other.target_name, other.date_name, other.geo_name, other.freq)
            and self.population_name == other.population_name
        )
        return same and all(
            np.array_equal(getattr(self, k), getattr(other, k))
            for k in ("spend", "target", "controls", "population", "events")
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        span = f"{self.dates[0].date()}..{self.dates[-1].date()}" if self.n_periods else "empty"
        return (
            f"GeoDataset({self.n_geos} geos x {self.n_periods} periods {span}, "
            f"target={self.target_name!r}, channels={self.channels}, "
            f"controls={self.control_names}, population={self.population_name!r})"
        )

    # ---- validated constructors ----
    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        geo: str,
        date: str,
        target: str,
        channels: Sequence[str],
        controls: Sequence[str] = (),
        population: str | None = None,
        date_format: str | None = None,
        events: Sequence[str] = (),
        holidays: str | Sequence[str] | None = None,
        holiday_window: tuple[int, int] = (0, 0),
    ) -> GeoDataset:
        """Validate a long DataFrame (one row per geo and date) and build the panel.

        Rows may come in any order. Messages name a row by its position, counting from 0 as
        ``df.iloc`` does (:meth:`from_csv` numbers rows as a spreadsheet: the header is row 1).
        Geos keep their order of first appearance.

        Args:
            df: the long table.
            geo: the geo (market, region, brand) column; any values, read as text.
            date: the date column (strings or datetimes); see :class:`mmmjax.Dataset`.
            target: the target column, money per period.
            channels: spend columns, money per period, ``>= 0``.
            controls: other numeric columns (standardised per geo by the model).
            population: a column holding each geo's population (or another positive size
                measure), the same in every row of a geo; optional.
            date_format: a ``strftime`` format for the dates; detected when omitted.
            events, holidays, holiday_window: event columns (per geo and date: numeric dummies
                or text labels) and national holidays (the same in every geo), as for
                :meth:`mmmjax.Dataset.from_frame`.

        Raises:
            DataError: naming the geo, column, row and date, for: a missing column or value,
                unparseable dates, a duplicated (geo, date) pair, a gap in a geo's dates, a geo
                that lacks dates other geos have, a non-numeric or infinite value, negative
                spend, a channel with no spend in any geo, a geo whose target is constant, not
                positive on average, or has negative values and a mean below its standard
                deviation (:func:`mmmjax.data.check_target`), a population that is missing,
                not positive or not constant within a geo, or too few periods.

        Example:
            >>> df = pd.DataFrame({"region": ["n"] * 30 + ["s"] * 30,
            ...                    "week": list(pd.date_range("2021-01-03", periods=30,
            ...                                               freq="W")) * 2,
            ...                    "sales": np.arange(60.0) + 100, "tv": np.ones(60)})
            >>> GeoDataset.from_frame(df, geo="region", date="week", target="sales",
            ...                       channels=["tv"]).spend.shape
            (2, 30, 1)
        """
        return _panel_from_frame(
            Table.of_frame(df),
            geo=geo,
            date=date,
            target=target,
            channels=_as_list(channels),
            controls=_as_list(controls),
            population=population,
            date_format=date_format,
            events=_as_list(events),
            holidays=holidays,
            holiday_window=holiday_window,
        )

    @classmethod
    def from_csv(
        cls,
        path: str | os.PathLike[str],
        geo: str,
        date: str,
        target: str,
        channels: Sequence[str],
        controls: Sequence[str] = (),
        population: str | None = None,
        date_format: str | None = None,
        events: Sequence[str] = (),
        holidays: str | Sequence[str] | None = None,
        holiday_window: tuple[int, int] = (0, 0),
    ) -> GeoDataset:
        """Read a CSV file (:func:`mmmjax.data.read_table`: separator and decimal comma
        detected, rows numbered as in a spreadsheet) and validate it like :meth:`from_frame`."""
        table = read_table(path, text_columns=[geo, date])
        return _panel_from_frame(table, geo=geo, date=date, target=target,
                                 channels=_as_list(channels), controls=_as_list(controls),
                                 population=population, date_format=date_format,
                                 events=_as_list(events), holidays=holidays,
                                 holiday_window=holiday_window)  # fmt: skip


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------
def _geo_labels(raw: pd.Series, name: str, rows: Rows) -> np.ndarray:
    missing = raw.isna().to_numpy()
    if missing.any():
        i = int(np.argmax(missing))
        raise DataError(f"{rows.at(i, name)}: the geo is missing")
    labels = raw.astype(str).str.strip().to_numpy(dtype=object)
    empty = labels == ""
    if empty.any():
        i = int(np.argmax(empty))
        raise DataError(f"{rows.at(i, name)}: the geo is empty")
    return labels


def _panel_from_frame(
    table: Table,
    *,
    geo: str,
    date: str,
    target: str,
    channels: list[str],
    controls: list[str],
    population: str | None,
    date_format: str | None,
    events: list[str] = (),
    holidays: str | Sequence[str] | None = None,
    holiday_window: tuple[int, int] = (0, 0),
) -> GeoDataset:
    events = list(events)
    groups = {
        "geo": [geo],
        "date": [date],
        "target": [target],
        "channel": channels,
        "control": controls,
        "event": events,
        "population": [] if population is None else [population],
    }
    _check_columns(table, groups)
    df = table.frame
    if len(df) == 0:
        raise DataError(f"no data rows in {table.rows.table} (column {date!r} is empty)")

    labels = _geo_labels(df[geo], geo, table.rows)
    rows = table.rows.with_geos(labels)
    dates = _parse_dates(df[date], date, date_format, rows)
    if dates.tz is not None:
        dates = dates.tz_localize(None)
    dates = dates.as_unit("ns")

    def numeric(c: str) -> np.ndarray:
        return _numeric(df[c], c, dates, rows, table.decimal)

    y = numeric(target)
    x = np.column_stack([numeric(c) for c in channels])
    z = np.column_stack([numeric(c) for c in controls] or [np.zeros((len(df), 0))])
    e, event_names = _event_columns(df, events, dates, rows, table.decimal)
    pop = None if population is None else numeric(population)

    names, codes = _first_seen(labels)
    order = np.lexsort((dates.asi8, codes))  # geo-major, then by date: row (as read) of each
    codes, dates = codes[order], dates[order]
    y, x, z, e = y[order], x[order], z[order], e[order]
    pop = None if pop is None else pop[order]

    # every geo: no duplicate dates, no gaps, regular spacing, enough periods
    need = min_periods(len(channels), len(controls), e.shape[1])
    starts = np.searchsorted(codes, np.arange(len(names) + 1))
    per_geo: list[pd.DatetimeIndex] = []
    freqs = set()
    for g, name in enumerate(names):
        sl = slice(starts[g], starts[g + 1])
        d = dates[sl]
        if len(d) < need:
            raise DataError(
                f"geo {name!r}: column {date!r}: only {len(d)} periods ({_fmt_date(d[0])} to "
                f"{_fmt_date(d[-1])}); at least {need} are needed for {len(channels)} "
                f"channel(s) and {len(controls)} control(s)"
            )
        try:
            freqs.add(_check_spacing(d, order[sl], date, table.rows))
        except DataError as exc:
            raise DataError(f"geo {name!r}: {exc}") from None
        per_geo.append(d)
    if len(freqs) > 1:
        raise DataError(f"column {date!r}: some geos are weekly and others daily")
    _check_same_dates(names, per_geo, order, starts, date, table.rows)

    G, T, C, K = len(names), len(per_geo[0]), len(channels), len(controls)
    e = e.reshape(G, T, -1)
    if holidays:  # national holidays: the same indicator in every geo
        shared, event_names = _with_holidays(np.zeros((T, 0)), event_names, per_geo[0],
                                             holidays, holiday_window,
                                             [*channels, *controls])  # fmt: skip
        e = np.concatenate([e, np.broadcast_to(shared, (G, *shared.shape))], axis=2)
    spend = x.reshape(G, T, C)
    pos = order.reshape(G, T)  # the row (as read) of each geo and period

    def where(g: int, t: int, column: str) -> str:
        return rows.at(pos[g, t], column, per_geo[0][t])

    neg = spend < 0
    if neg.any():
        g, t, c = (int(v) for v in np.argwhere(neg)[0])
        raise DataError(
            f"{where(g, t, channels[c])}: negative spend {spend[g, t, c]:g}; spend must be >= 0"
        )
    for c, name in enumerate(channels):
        if not (spend[:, :, c] > 0).any():
            raise DataError(f"column {name!r}: no spend in any geo or period; drop this channel")
    yy = y.reshape(G, T)
    span = f"{_fmt_date(per_geo[0][0])} to {_fmt_date(per_geo[0][-1])}"
    for g, name in enumerate(names):
        try:  # every geo's target is scaled by its own mean
            check_target(yy[g], target, span, table.rows, pos[g])
        except DataError as exc:
            raise DataError(f"geo {name!r}: {exc}") from None
    pops = None
    if pop is not None:
        pp = pop.reshape(G, T)
        bad = pp <= 0
        if bad.any():
            g, t = (int(v) for v in np.argwhere(bad)[0])
            raise DataError(
                f"{where(g, t, population)}: population {pp[g, t]:g}; it must be positive"
            )
        differs = pp != pp[:, :1]
        if differs.any():
            g, t = (int(v) for v in np.argwhere(differs)[0])
            raise DataError(
                f"{where(g, t, population)}: population {pp[g, t]:g} differs from "
                f"{pp[g, 0]:g} in {table.rows.name(pos[g, 0])}; the population must be the "
                "same in every row of a geo"
            )
        pops = pp[:, 0]
    return GeoDataset(
        geos=names,
        dates=per_geo[0],
        channels=channels,
        spend=spend,
        target=yy,
        target_name=target,
        controls=z.reshape(G, T, K),
        control_names=controls,
        population=pops,
        population_name=population,
        geo_name=geo,
        freq=freqs.pop(),
        date_name=date,
        events=e,
        event_names=event_names,
    )


def _first_seen(labels: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Distinct labels in order of first appearance, and each row's code into them."""
    codes, uniques = pd.factorize(pd.Series(labels, dtype=object), sort=False)
    return [str(u) for u in uniques], np.asarray(codes, dtype=np.int64)


def _check_same_dates(
    names: list[str],
    per_geo: list[pd.DatetimeIndex],
    order: np.ndarray,
    starts: np.ndarray,
    date: str,
    rows: Rows,
) -> None:
    """Every geo must have exactly the dates of every other geo; name the first that does not."""
    union = per_geo[0]
    for d in per_geo[1:]:
        union = union.union(d)
    for g, d in enumerate(per_geo):
        if len(d) == len(union):
            continue
        missing = union.difference(d)
        first = missing[0]
        other = next(h for h, e in enumerate(per_geo) if first in e)
        row = order[starts[other] + per_geo[other].get_loc(first)]
        raise DataError(
            f"geo {names[g]!r}: column {date!r}: {len(missing)} date(s) missing, first "
            f"{_fmt_date(first)} (geo {names[other]!r} has it, {rows.name(row)}); every geo "
            f"needs the same dates ({_fmt_date(union[0])} to {_fmt_date(union[-1])})"
        )


def is_panel(data: Any) -> bool:
    """Whether ``data`` is a geo panel (a :class:`GeoDataset`, arrays with a leading geo axis)
    rather than national data (a :class:`Dataset`, one geo). The one test of a data set's kind:
    call this instead of checking attributes."""
    return isinstance(data, GeoDataset)
