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

Example:
    >>> import mmmjax
    >>> ds = mmmjax.Dataset.from_csv(
    ...     "MMM_test_data.csv", date="start_of_week", target="revenue",
    ...     channels=[f"spend_channel_{i}" for i in range(1, 8)])  # doctest: +SKIP
    >>> ds.n_periods, ds.freq, ds.dates[0].date()  # doctest: +SKIP
    (104, 'W', datetime.date(2020, 8, 30))
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from mmmjax.errors import DataError

__all__ = [
    "DATE_FORMATS",
    "PERIODS_PER_YEAR",
    "Dataset",
    "ScaledData",
    "Scales",
    "min_periods",
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
    raise DataError(
        f"column {date_name!r}: dates are mostly {step} apart (e.g. after "
        f"{dates[0].date()}); mmmjax supports weekly (7 days) or daily (1 day) data"
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
    ) -> Dataset:
        """Validate a DataFrame and build a Dataset from it.

        Rows are sorted by date if needed. Rows are numbered in messages as in the file: "row 17"
        is the 17th data row (the line after the header counts as row 1).

        Args:
            df: one row per period.
            date: name of the date column (strings or datetimes).
            target: name of the target column (money per period).
            channels: spend columns, money per period, ``>= 0``; each must have some spend.
            controls: other numeric columns (standardised by the model).
            events: numeric dummy columns (used as they are).
            date_format: a ``strftime`` format such as ``"%d-%m-%y"``, applied strictly. If
                omitted the format is detected (see :data:`DATE_FORMATS`) and ambiguous dates
                (e.g. all days <= 12 in a day/month file) are refused.

        Raises:
            DataError: naming the column and the row or date, for a missing column, no rows,
                unparseable or ambiguous dates, duplicate dates, gaps or irregular spacing,
                a non-numeric, missing or infinite value, negative spend, a channel with no
                spend, a constant target, or fewer than :func:`min_periods` periods.

        Example:
            >>> df = pd.DataFrame({"week": pd.date_range("2021-01-03", periods=30, freq="W"),
            ...                    "sales": np.arange(30.0) + 100, "tv": np.ones(30)})
            >>> Dataset.from_frame(df, date="week", target="sales", channels=["tv"]).n_periods
            30
        """
        return _from_frame(
            df,
            date=date,
            target=target,
            channels=_as_list(channels),
            controls=_as_list(controls),
            events=_as_list(events),
            date_format=date_format,
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
    ) -> Dataset:
        """Read a CSV file and validate it like :meth:`from_frame` (same keywords)."""
        try:
            df = pd.read_csv(path)
        except FileNotFoundError:
            raise DataError(f"file not found: {os.fspath(path)}") from None
        except pd.errors.EmptyDataError:
            raise DataError(f"file {os.fspath(path)} is empty (no header, no rows)") from None
        except pd.errors.ParserError as exc:
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else "parse error"
            raise DataError(f"file {os.fspath(path)} is not a valid CSV: {msg}") from None
        return cls.from_frame(
            df,
            date=date,
            target=target,
            channels=channels,
            controls=controls,
            events=events,
            date_format=date_format,
        )


# --------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------


def _as_list(x: str | Iterable[str]) -> list[str]:
    return [x] if isinstance(x, str) else [str(v) for v in x]


def _fmt_date(ts: pd.Timestamp) -> str:
    return str(ts.date()) if ts == ts.normalize() else str(ts)


def _check_columns(df: pd.DataFrame, groups: dict[str, list[str]]) -> None:
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
                    f"column {name!r} ({role}) not found; available columns: "
                    + ", ".join(available)
                )
    if not groups["channel"]:
        raise DataError("no channel columns given; name at least one spend column")
    dup = [c for c in seen if list(df.columns).count(c) > 1]
    if dup:
        raise DataError(f"column {dup[0]!r} appears more than once in the data")


def _parse_dates(raw: pd.Series, name: str, date_format: str | None) -> pd.DatetimeIndex:
    """Parse the date column; ``raw`` has a 0..n-1 index (row i is data row i + 1)."""
    missing = raw.isna().to_numpy()
    if missing.any():
        i = int(np.argmax(missing))
        raise DataError(f"column {name!r}, row {i + 1}: the date is missing")
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
                f"column {name!r}, row {i + 1}: date {text.iloc[i]!r} does not match "
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
            f"column {name!r}, row {i + 1}: cannot parse date {text.iloc[i]!r}; {hint}, "
            "e.g. '%d-%m-%Y'"
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
                f"column {name!r}, row {i + 1}: date {text.iloc[i]!r} is ambiguous "
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


def _numeric(raw: pd.Series, name: str, dates: pd.DatetimeIndex) -> np.ndarray:
    """A numeric float64 column; ``raw`` has a 0..n-1 index."""

    def where(i: int) -> str:
        return f"column {name!r}, row {i + 1} ({_fmt_date(dates[i])})"

    if pd.api.types.is_bool_dtype(raw):
        values = raw.astype(float).to_numpy()
    elif pd.api.types.is_numeric_dtype(raw):
        values = raw.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        coerced = pd.to_numeric(raw, errors="coerce")
        bad = (coerced.isna() & raw.notna()).to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"{where(i)}: {raw.iloc[i]!r} is not a number")
        values = coerced.to_numpy(dtype=np.float64, na_value=np.nan)
    nan = np.isnan(values)
    if nan.any():
        i = int(np.argmax(nan))
        raise DataError(f"{where(i)}: the value is missing (empty or NaN)")
    inf = np.isinf(values)
    if inf.any():
        i = int(np.argmax(inf))
        raise DataError(f"{where(i)}: the value is infinite")
    return values


def _check_spacing(dates: pd.DatetimeIndex, rows: np.ndarray, name: str) -> str:
    """Refuse duplicate dates, gaps and irregular spacing; return the frequency."""
    diffs = dates[1:] - dates[:-1]
    zero = np.flatnonzero(diffs == pd.Timedelta(0))
    if zero.size:
        j = int(zero[0])
        r1, r2 = sorted((int(rows[j]), int(rows[j + 1])))
        raise DataError(
            f"column {name!r}: duplicate date {_fmt_date(dates[j])} in rows {r1} and {r2}"
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
                f"(row {rows[j]}): expected {expected} next, found {_fmt_date(nxt)} "
                f"(row {rows[j + 1]}; {missing} period(s) missing)"
            )
        raise DataError(
            f"column {name!r}: irregular spacing after {_fmt_date(prev)} (row {rows[j]}): "
            f"expected {expected} next ({_FREQ_WORDS[freq]} data), found {_fmt_date(nxt)} "
            f"(row {rows[j + 1]})"
        )
    return freq


def _from_frame(
    df: pd.DataFrame,
    *,
    date: str,
    target: str,
    channels: list[str],
    controls: list[str],
    events: list[str],
    date_format: str | None,
) -> Dataset:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
    groups = {
        "date": [date],
        "target": [target],
        "channel": channels,
        "control": controls,
        "event": events,
    }
    _check_columns(df, groups)
    if len(df) == 0:
        raise DataError(f"no data rows (column {date!r} is empty)")
    df = df.reset_index(drop=True)

    dates = _parse_dates(df[date], date, date_format)
    if dates.tz is not None:
        dates = dates.tz_localize(None)
    dates = dates.as_unit("ns")
    y = _numeric(df[target], target, dates)
    x = np.column_stack([_numeric(df[c], c, dates) for c in channels])
    z = np.column_stack([_numeric(df[c], c, dates) for c in controls] or [np.zeros((len(df), 0))])
    e = np.column_stack([_numeric(df[c], c, dates) for c in events] or [np.zeros((len(df), 0))])

    order = np.argsort(dates.asi8, kind="stable")
    rows = order + 1  # 1-based data row of each sorted period
    dates, y, x, z, e = dates[order], y[order], x[order], z[order], e[order]

    need = min_periods(len(channels), len(controls), len(events))
    if len(dates) < need:
        raise DataError(
            f"column {date!r}: only {len(dates)} periods ({_fmt_date(dates[0])} to "
            f"{_fmt_date(dates[-1])}); at least {need} are needed for {len(channels)} "
            f"channel(s), {len(controls)} control(s) and {len(events)} event(s)"
        )
    freq = _check_spacing(dates, rows, date)

    neg = x < 0
    if neg.any():
        t, c = (int(v) for v in np.argwhere(neg)[0])  # earliest date with a negative value
        raise DataError(
            f"column {channels[c]!r}, row {rows[t]} ({_fmt_date(dates[t])}): negative spend "
            f"{x[t, c]:g}; spend must be >= 0"
        )
    for c, name in enumerate(channels):
        if not (x[:, c] > 0).any():
            raise DataError(
                f"column {name!r}: no spend in any period (rows 1 to {len(dates)}, "
                f"{_fmt_date(dates[0])} to {_fmt_date(dates[-1])}); drop this channel"
            )
    if np.all(y == y[0]):
        raise DataError(
            f"column {target!r}: the target is constant ({y[0]:g} in rows 1 to {len(dates)}, "
            f"{_fmt_date(dates[0])} to {_fmt_date(dates[-1])}); nothing to explain"
        )
    if y.mean() <= 0:
        raise DataError(
            f"column {target!r}: the target's mean over rows 1 to {len(dates)} is "
            f"{y.mean():g}; mmmjax needs a positive target (e.g. revenue or sales)"
        )
    return Dataset(
        dates=dates,
        channels=channels,
        spend=x,
        target=y,
        target_name=target,
        controls=z,
        control_names=controls,
        events=e,
        event_names=events,
        freq=freq,
        date_name=date,
    )
