"""Calibration: ROI priors from a stated belief, and lift tests (experiments) as extra data.

Two ways to tell the model what is already known about a channel:

* **ROI priors.** :func:`roi_prior` turns "this channel's ROI is between 2 and 4" into a
  ``LogNormal`` prior on ``media_roi`` whose central ``mass`` interval is exactly ``[low, high]``.
  ``media_roi`` is the channel's window ROI (contribution over the data window divided by its
  spend there, see :mod:`mmmjax.model`), so in the additive form the prior on ROI *is* the stated
  belief; in the multiplicative form it is close but not exact. Use it per channel::

      mmmjax.MMM(priors={"media_roi": {"tv": mmmjax.roi_prior(2, 4)}})

  :func:`read_roi_priors` reads the same from a CSV with columns ``channel,low,high[,mass]``.

* **Lift tests.** A :class:`LiftTest` is one experiment: ``spend_change`` money per period
  added to (or, negative, removed from) one channel in every period of the window
  ``[start, end]`` (dates, inclusive) measured ``lift`` extra target over that window, with
  standard error ``lift_se``. Passed as ``MMM.fit(dataset, lift_tests=[...])``, each adds the
  likelihood term ``lift ~ Normal(implied_lift, lift_se)``, where ``implied_lift`` is the model's
  incremental target of that spend change over the window's periods (carryover within the window
  counted, after it not; :func:`mmmjax.model.implied_lift`). :func:`read_lift_tests` reads a CSV
  with columns ``channel,start,end,spend_change,lift,lift_se[,geo]``.

Both files are read by :func:`mmmjax.data.read_table` (separator and decimal comma detected).
Every check raises :class:`~mmmjax.DataError` naming the row and the column; rows of a file are
numbered as a spreadsheet shows them (the header is row 1), rows of a DataFrame as ``df.iloc``
(from 0): :class:`mmmjax.data.Rows`.

Example:
    >>> import mmmjax
    >>> p = mmmjax.roi_prior(2.0, 4.0)      # LogNormal with 94% of its mass in [2, 4]
    >>> round(p.params["loc"], 4), round(p.params["scale"], 4)
    (1.0397, 0.1843)
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from mmmjax.data import Table, is_panel, numbers_from_text, read_table
from mmmjax.errors import DataError
from mmmjax.model.design import LiftData, no_lift_data
from mmmjax.model.priors import Prior

__all__ = [
    "LIFT_COLUMNS",
    "LiftTest",
    "check_lift_tests",
    "lift_data",
    "read_lift_tests",
    "read_roi_priors",
    "roi_prior",
]

#: Required columns of a lift-test file (``geo`` is optional).
LIFT_COLUMNS = ("channel", "start", "end", "spend_change", "lift", "lift_se")
ROI_COLUMNS = ("channel", "low", "high")
DEFAULT_MASS = 0.94


# ----------------------------------------------------------------------------------------------
# ROI priors
# ----------------------------------------------------------------------------------------------
def roi_prior(
    low: float | None = None,
    high: float | None = None,
    mass: float = DEFAULT_MASS,
    *,
    mean: float | None = None,
    sd: float | None = None,
) -> Prior:
    """A ``LogNormal`` prior on a channel's ROI from a stated belief.

    Either an interval: ``mass`` of the prior lies in ``[low, high]``, split evenly in the tails::

        loc = (log low + log high) / 2,   scale = (log high - log low) / (2 z),
        z = Phi^-1((1 + mass) / 2)

    or a mean and standard deviation (of the ROI itself, not its log)::

        scale**2 = log(1 + sd**2 / mean**2),   loc = log(mean) - scale**2 / 2

    Args:
      low, high: the interval, money per money, ``0 < low < high``.
      mass: the share of the prior inside ``[low, high]``, in ``(0, 1)``; default 0.94, the
        interval mmmjax reports everywhere.
      mean, sd: instead of ``low``/``high``: the prior mean and standard deviation, ``> 0``.

    Returns:
      ``Prior("LogNormal", loc=..., scale=...)`` for ``MMM(priors={"media_roi": {ch: ...}})``.

    Raises:
      ValueError: for an empty, negative or reversed interval, a mass outside ``(0, 1)``, or
        both or neither of the two ways.

    Example:
      >>> p = roi_prior(mean=3.0, sd=1.0)
      >>> round(float(p.build().mean), 4)
      3.0
    """
    by_interval = low is not None or high is not None
    by_moments = mean is not None or sd is not None
    if by_interval == by_moments:
        raise ValueError("roi_prior: give either low and high, or mean and sd")
    if by_moments:
        if mean is None or sd is None:
            raise ValueError("roi_prior: give both mean and sd")
        mean, sd = _finite(mean, "mean"), _finite(sd, "sd")
        if mean <= 0 or sd <= 0:
            raise ValueError(f"roi_prior: mean and sd must be > 0, got mean={mean}, sd={sd}")
        var = math.log1p((sd / mean) ** 2)
        return Prior("LogNormal", loc=math.log(mean) - var / 2, scale=math.sqrt(var))
    if low is None or high is None:
        raise ValueError("roi_prior: give both low and high")
    low, high, mass = _finite(low, "low"), _finite(high, "high"), _finite(mass, "mass")
    if low <= 0:
        raise ValueError(f"roi_prior: low must be > 0 (ROI is positive), got {low}")
    if high <= low:
        raise ValueError(f"roi_prior: high must be greater than low, got low={low}, high={high}")
    if not 0 < mass < 1:
        raise ValueError(f"roi_prior: mass must be between 0 and 1 (exclusive), got {mass}")
    z = NormalDist().inv_cdf((1 + mass) / 2)
    log_lo, log_hi = math.log(low), math.log(high)
    return Prior("LogNormal", loc=(log_lo + log_hi) / 2, scale=(log_hi - log_lo) / (2 * z))


def _finite(v: Any, name: str) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"roi_prior: {name} must be a number, got {v!r}") from None
    if not math.isfinite(f):
        raise ValueError(f"roi_prior: {name} must be finite, got {v!r}")
    return f


def read_roi_priors(
    source: str | os.PathLike | pd.DataFrame, channels: Sequence[str]
) -> dict[str, Prior]:
    """ROI priors per channel from a CSV (or frame) with columns ``channel,low,high[,mass]``.

    Each row is passed to :func:`roi_prior` (an empty ``mass`` means 0.94). Channels not listed
    keep the default prior.

    Args:
      source: a CSV path or a ``pandas.DataFrame``.
      channels: the dataset's channel names.

    Returns:
      ``{channel: Prior}``, for ``MMM(priors={"media_roi": ...})``.

    Raises:
      DataError: naming the row and column: a missing column, an unknown or repeated channel, a
        bad number, ``low <= 0``, ``high <= low``, ``mass`` outside ``(0, 1)``.
    """
    table, where = _read_table(source, "ROI priors")
    _require(table.frame, ROI_COLUMNS, where)
    known = list(channels)
    out: dict[str, Prior] = {}
    number = functools.partial(_number, decimal=table.decimal)
    for i, row in enumerate(table.frame.to_dict("records")):
        at = f"ROI priors, {table.rows.name(i)}"
        ch = _text(row.get("channel"))
        if not ch:
            raise DataError(f"{at}, column 'channel': the channel is missing")
        if ch not in known:
            raise DataError(
                f"{at}, column 'channel': unknown channel {ch!r}; channels are {', '.join(known)}"
            )
        if ch in out:
            raise DataError(f"{at}, column 'channel': channel {ch!r} is listed twice")
        low, high = number(row, "low", at), number(row, "high", at)
        mass = number(row, "mass", at, default=DEFAULT_MASS)
        if low <= 0:
            raise DataError(f"{at}, column 'low': must be > 0 (ROI is positive), got {low:g}")
        if high <= low:
            raise DataError(
                f"{at}, column 'high': must be greater than low ({low:g}), got {high:g}"
            )
        if not 0 < mass < 1:
            raise DataError(f"{at}, column 'mass': must be between 0 and 1, got {mass:g}")
        out[ch] = roi_prior(low, high, mass)
    return out


# ----------------------------------------------------------------------------------------------
# lift tests
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LiftTest:
    """One lift test (experiment) on one channel. Immutable; money in the data's units.

    Attributes:
      channel: the channel's name.
      start, end: first and last day of the window (inclusive); the window holds the data's
        periods whose date lies in ``[start, end]``.
      spend_change: money per period added to the channel in every period of the window
        (negative: removed).
      lift: the measured incremental target over the whole window, money.
      lift_se: its standard error, money, ``> 0``.
      geo: the geography the test ran in: one of a :class:`~mmmjax.GeoDataset`'s geos, or
        ``None`` for a national test (national data, or a panel whose every geo saw the spend
        change, shared out as the channel's spend over the data window is:
        :func:`mmmjax.inference.geo_fit.lift_weights`).

    Example:
      >>> t = LiftTest("tv", "2023-03-05", "2023-04-01", spend_change=2000, lift=9000, lift_se=1500)
      >>> t.start.date(), LiftTest.from_dict(t.to_dict()) == t
      (datetime.date(2023, 3, 5), True)
    """

    channel: str
    start: pd.Timestamp
    end: pd.Timestamp
    spend_change: float
    lift: float
    lift_se: float
    geo: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "channel", str(self.channel))
        for name in ("start", "end"):
            set_(self, name, _timestamp(getattr(self, name), name, "LiftTest"))
        for name in ("spend_change", "lift", "lift_se"):
            set_(self, name, _float(getattr(self, name), name, "LiftTest"))
        set_(self, "geo", _text(self.geo) or None)
        problem = _record_problem(self)
        if problem:
            raise DataError(f"LiftTest, column {problem[0]!r}: {problem[1]}")

    def periods(self, dates: pd.DatetimeIndex) -> np.ndarray:
        """``(T,)`` bool: which of ``dates`` lie in the window."""
        return np.asarray((dates >= self.start) & (dates <= self.end))

    def roi(self, n_periods: int) -> tuple[float, float]:
        """The ROI the test measures and its standard error: ``lift / (spend_change * n)``.

        This is the *incremental* ROI of the spend change over the window (carryover after the
        window not counted), not the channel's average ROI over the whole data.
        """
        spend = self.spend_change * n_periods
        return self.lift / spend, self.lift_se / abs(spend)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; :meth:`from_dict` gives back an equal test (floats exact)."""
        return {
            "channel": self.channel,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "spend_change": self.spend_change,
            "lift": self.lift,
            "lift_se": self.lift_se,
            "geo": self.geo,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LiftTest:
        return cls(**{k: d.get(k) for k in (*LIFT_COLUMNS, "geo")})


def _record_problem(t: LiftTest) -> tuple[str, str] | None:
    """(column, message) for a test that is wrong whatever the data, else None."""
    if t.end < t.start:
        return "end", f"end {t.end.date()} is before start {t.start.date()}"
    if t.spend_change == 0:
        return "spend_change", "is 0: a test needs a spend change"
    if t.lift_se <= 0:
        return "lift_se", f"must be > 0, got {t.lift_se:g}"
    return None


def _data_problem(t: LiftTest, dataset) -> tuple[str, str] | None:
    """(column, message) for a test that does not fit ``dataset``, else None."""
    if t.channel not in dataset.channels:
        return "channel", (
            f"unknown channel {t.channel!r}; channels are {', '.join(dataset.channels)}"
        )
    geos = dataset.geos if is_panel(dataset) else None  # a panel's geo names
    if geos is None and t.geo is not None:
        return "geo", (
            f"geo {t.geo!r} given, but this dataset is national (no geo column): leave the "
            "column empty or drop it, or fit the geo panel"
        )
    if geos is not None and t.geo is not None and t.geo not in geos:
        return "geo", f"unknown geo {t.geo!r}; geos are {', '.join(geos)}"
    dates = dataset.dates
    first, last = dates[0], dates[-1] + dataset.period - pd.Timedelta(days=1)
    for name in ("start", "end"):
        d = getattr(t, name)
        if not first <= d <= last:
            return name, (f"{d.date()} is outside the data ({first.date()} to {last.date()})")
    inside = t.periods(dates)
    if not inside.any():
        return "start", (
            f"the window {t.start.date()} to {t.end.date()} holds no period of the data "
            "(periods are dated by their first day)"
        )
    c = list(dataset.channels).index(t.channel)
    spend = np.asarray(dataset.spend, dtype=np.float64)
    if geos is None:
        spend = spend[:, c]
    elif t.geo is None:  # a national test on a panel: the national spend
        spend = spend[:, :, c].sum(axis=0)
    else:
        spend = spend[list(geos).index(t.geo), :, c]
    new = spend + t.spend_change
    below = inside & (new < -1e-9 * max(1.0, abs(t.spend_change)))
    if below.any():
        i = int(np.argmax(below))
        return "spend_change", (
            f"{t.spend_change:g} takes {t.channel}'s spend below zero on {dates[i].date()} "
            f"(spend there is {spend[i]:g})"
        )
    return None


def check_lift_tests(tests: Iterable[LiftTest], dataset) -> tuple[LiftTest, ...]:
    """Check ``tests`` against ``dataset``; returns them as a tuple.

    Raises:
      DataError: "lift test k (channel c), column X: ..." for the first test that does not fit:
        unknown channel, a geo on a national dataset, dates outside the data, a window with no
        period, a spend change taking spend below zero.
      TypeError: for something that is not a :class:`LiftTest`.
    """
    tests = tuple(tests or ())
    for k, t in enumerate(tests):
        if not isinstance(t, LiftTest):
            raise TypeError(f"lift_tests[{k}] is a {type(t).__name__}, not an mmmjax.LiftTest")
        problem = _data_problem(t, dataset)
        if problem:
            raise DataError(f"lift test {k + 1} ({t.channel}), column {problem[0]!r}: {problem[1]}")
    return tests


def read_lift_tests(
    source: str | os.PathLike | pd.DataFrame, dataset, *, date_format: str | None = None
) -> tuple[LiftTest, ...]:
    """Lift tests from a CSV (or frame) with columns ``channel,start,end,spend_change,lift,lift_se``
    and optionally ``geo``; checked against ``dataset``.

    Args:
      source: a CSV path or a ``pandas.DataFrame``.
      dataset: the :class:`~mmmjax.Dataset` or :class:`~mmmjax.GeoDataset` the tests will
        calibrate.
      date_format: strftime format of ``start``/``end`` (default: inferred, ISO recommended).

    Returns:
      A tuple of :class:`LiftTest`, in file order (empty for a file with a header and no rows).

    Raises:
      DataError: naming the row and column: a missing column, a bad date or number, an unknown
        channel, dates outside the data, ``end`` before ``start``, ``lift_se <= 0``, a zero
        spend change, a ``geo`` on national data, or a missing or unknown geo on a panel.
    """
    table, where = _read_table(source, "lift tests")
    _require(table.frame, LIFT_COLUMNS, where)
    tests = []
    number = functools.partial(_number, decimal=table.decimal)
    for i, row in enumerate(table.frame.to_dict("records")):
        at = f"lift tests, {table.rows.name(i)}"
        channel = _text(row.get("channel"))
        if not channel:
            raise DataError(f"{at}, column 'channel': the channel is missing")
        start = _timestamp(row.get("start"), "start", at, date_format)
        end = _timestamp(row.get("end"), "end", at, date_format)
        numbers = {k: number(row, k, at) for k in ("spend_change", "lift", "lift_se")}
        geo = _text(row.get("geo")) or None
        try:
            test = LiftTest(channel, start, end, **numbers, geo=geo)
        except DataError as exc:  # a record-level problem: re-say it with the row
            raise DataError(f"{at}{str(exc).removeprefix('LiftTest')}") from None
        problem = _data_problem(test, dataset)
        if problem:
            raise DataError(f"{at}, column {problem[0]!r}: {problem[1]}")
        tests.append(test)
    return tuple(tests)


def lift_data(tests: Sequence[LiftTest], dataset, scales=None) -> LiftData:
    """The tests as model inputs (:class:`~mmmjax.model.design.LiftData`, scaled units, float32).

    Args:
      tests: checked tests (:func:`check_lift_tests`).
      dataset: the training data; the masks cover its ``T`` periods.
      scales: the training scales (default ``dataset.scales``).
    """
    scales = dataset.scales if scales is None else scales
    T = int(dataset.n_periods)
    if not tests:
        return no_lift_data(T)
    channels = list(dataset.channels)
    idx = np.asarray([channels.index(t.channel) for t in tests], dtype=np.int32)
    spend_scale = np.asarray(scales.spend, dtype=np.float64)[idx]
    f32 = np.float32
    return LiftData(
        channel=idx,
        mask=np.stack([t.periods(dataset.dates) for t in tests]).astype(f32),
        delta=(np.asarray([t.spend_change for t in tests]) / spend_scale).astype(f32),
        lift=(np.asarray([t.lift for t in tests]) / scales.target).astype(f32),
        lift_se=(np.asarray([t.lift_se for t in tests]) / scales.target).astype(f32),
    )


# ----------------------------------------------------------------------------------------------
# reading tables
# ----------------------------------------------------------------------------------------------
def _read_table(source, what: str) -> tuple[Table, str]:
    """The table (cells as text) and how messages name it: ``"lift tests file x.csv"``."""
    if isinstance(source, pd.DataFrame):
        return Table.of_frame(source), what
    table = read_table(source, what=what, text_columns=_TEXT_COLUMNS, all_text=True)
    table.frame.columns = [str(c).strip() for c in table.frame.columns]
    return table, f"{what} file {os.fspath(source)}"


_TEXT_COLUMNS = ("channel", "geo", "start", "end")


def _require(df: pd.DataFrame, columns: Sequence[str], where: str) -> None:
    for col in columns:
        if col not in df.columns:
            raise DataError(
                f"{where}: column {col!r} is missing (needed: {', '.join(columns)}; "
                f"found: {', '.join(map(str, df.columns)) or 'none'})"
            )


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or str(v).strip() == ""


def _text(v: Any) -> str:
    return "" if _missing(v) else str(v).strip()


def _number(
    row: Mapping[str, Any],
    col: str,
    at: str,
    default: float | None = None,
    decimal: str = ".",
) -> float:
    """The number in ``row[col]``; text is read with ``decimal`` as the decimal mark (with
    ``"."`` a comma may group thousands: ``1,234.5``; see :func:`mmmjax.data.numbers_from_text`)."""
    v = row.get(col)
    if _missing(v):
        if default is not None:
            return default
        raise DataError(f"{at}, column {col!r}: the value is missing")
    try:
        if not isinstance(v, str):
            f = float(v)
        elif decimal == ",":
            f = float(numbers_from_text(pd.Series([v]), ",")[0])
            if math.isnan(f):
                raise ValueError(v)
        else:
            f = float(v.strip().replace(",", ""))
    except ValueError:
        note = " (this file writes decimals with a comma, e.g. 1234,5)" if decimal == "," else ""
        raise DataError(f"{at}, column {col!r}: {v!r} is not a number{note}") from None
    if not math.isfinite(f):
        raise DataError(f"{at}, column {col!r}: {v!r} is not a finite number")
    return f


def _float(v: Any, col: str, at: str) -> float:
    return _number({col: v}, col, at)


def _timestamp(v: Any, col: str, at: str, date_format: str | None = None) -> pd.Timestamp:
    if isinstance(v, pd.Timestamp) and not pd.isna(v):
        return v.tz_localize(None) if v.tzinfo else v
    if _missing(v):
        raise DataError(f"{at}, column {col!r}: the date is missing")
    try:
        ts = pd.to_datetime(str(v).strip(), format=date_format)
    except (ValueError, TypeError):
        hint = f" (expected format {date_format!r})" if date_format else " (use YYYY-MM-DD)"
        raise DataError(f"{at}, column {col!r}: cannot parse date {v!r}{hint}") from None
    return pd.Timestamp(ts)
