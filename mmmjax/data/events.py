"""Event indicators as analysts have them: text labels, and national holidays by country code.

Two ways to turn a calendar into the model's ``(T, E)`` event dummies:

- :func:`label_indicators`: a column of text labels (as in Robyn's tutorial data: ``"na"``,
  ``"event2"``, ...) becomes one 0/1 column per label, ``"{column}={label}"``. The "no event"
  labels (:data:`NO_EVENT_LABELS`, compared case-insensitively, and missing values) get none.
- :func:`holiday_events`: national holidays of a country (the optional ``holidays`` package,
  ``pip install 'mmmjax[holidays]'``), one column per holiday, ``"{country}: {name}"``, that is 1
  in the period holding the holiday and in ``before`` / ``after`` periods around it.

Dates are period *starts*: the period of date ``d`` covers ``[d, d + period)``, so a holiday on
day ``h`` falls in period ``floor((h - dates[0]) / period)``.

Example:
    >>> dates = pd.date_range("2020-11-01", periods=8, freq="7D")
    >>> ev = holiday_events(dates, "US", before=1)        # doctest: +SKIP
    >>> ev["US: Thanksgiving Day"].tolist()               # doctest: +SKIP
    [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from mmmjax.errors import DataError

__all__ = ["NO_EVENT_LABELS", "holiday_events", "label_indicators"]

#: Text labels that mean "no event" in a label column (stripped, case-insensitive); missing
#: values (NaN, empty cells) mean the same.
NO_EVENT_LABELS: tuple[str, ...] = ("", "na", "n/a", "nan", "none", "0")


def label_indicators(labels: pd.Series | Sequence, name: str) -> tuple[np.ndarray, list[str]]:
    """One 0/1 indicator per distinct label of a text column.

    Args:
      labels: ``(T,)`` labels per period (strings; NaN or a :data:`NO_EVENT_LABELS` value for
        "no event").
      name: the column's name, used in the indicator names and in errors.

    Returns:
      ``(values, names)``: ``values`` ``(T, L)`` float64, 1.0 where the period has label ``l``;
      ``names`` ``["{name}={label}", ...]`` with labels sorted.

    Raises:
      DataError: the column holds no event at all (every value means "no event").
    """
    raw = pd.Series(labels).reset_index(drop=True)
    text = raw.astype(str).str.strip()
    none = raw.isna().to_numpy() | text.str.lower().isin(NO_EVENT_LABELS).to_numpy()
    found = sorted(set(text[~none]))
    if not found:
        raise DataError(
            f"column {name!r}: no event in any of the {len(raw)} periods (every value is one "
            f"of {', '.join(repr(v) for v in NO_EVENT_LABELS)} or missing); drop this column"
        )
    values = (text.to_numpy()[:, None] == np.asarray(found, dtype=object)[None, :]) & ~none[:, None]
    return values.astype(np.float64), [f"{name}={label}" for label in found]


def _holidays_module():
    try:
        return importlib.import_module("holidays")
    except ImportError:
        raise ImportError(
            "holidays by country code need the 'holidays' package: pip install 'mmmjax[holidays]'"
        ) from None


def holiday_events(
    dates: pd.DatetimeIndex,
    country: str | Sequence[str],
    *,
    before: int = 0,
    after: int = 0,
) -> pd.DataFrame:
    """National holidays of ``country`` as event indicators over the periods starting at ``dates``.

    Each holiday (by name; ``" (observed)"`` days count as the holiday itself) is one column that
    is 1.0 in every period holding one of its days, and in the ``before`` periods before and the
    ``after`` periods after that one (a window, e.g. the shopping weeks before Christmas). Holidays
    whose window misses the data are left out. Several countries give the union of columns.

    Args:
      dates: ``(T,)`` regularly spaced period starts (weekly or daily), at least two.
      country: an ISO 3166 country code the ``holidays`` package knows (``"US"``, ``"GB"``,
        ``"DE"``...), or several.
      before, after: window in periods (``>= 0``).

    Returns:
      DataFrame ``(T, H)`` of 0.0/1.0 indexed by ``dates``, columns ``"{country}: {holiday}"``
      in calendar order of first occurrence.

    Raises:
      ImportError: the ``holidays`` package is not installed.
      DataError: an unknown country code.
      ValueError: a negative window, or fewer than two dates.
    """
    dates = pd.DatetimeIndex(dates)
    before, after = int(before), int(after)
    if before < 0 or after < 0:
        raise ValueError(f"holiday window must be >= 0 periods, got before={before}, after={after}")
    if len(dates) < 2:
        raise ValueError("holiday_events needs at least two dates (to know the period)")
    countries = [country] if isinstance(country, str) else list(country)
    period = dates[1] - dates[0]
    T = len(dates)
    lib = _holidays_module()
    margin = (max(before, after) + 1) * period
    years = range((dates[0] - margin).year, (dates[-1] + margin).year + 1)
    days, names = [], []
    for code in countries:
        try:
            calendar = lib.country_holidays(str(code), years=list(years))
        except NotImplementedError:
            raise DataError(
                f"holidays={code!r}: not a country code the holidays package knows "
                "(use an ISO 3166 code such as 'US', 'GB', 'DE')"
            ) from None
        for day, label in sorted(calendar.items()):
            for one in str(label).split("; "):  # several holidays on one day
                days.append(pd.Timestamp(day))
                names.append(f"{code}: {one.replace(' (observed)', '').strip()}")
    columns = list(dict.fromkeys(names))  # calendar order of first occurrence
    out = np.zeros((T, len(columns)))
    if days:
        idx = np.floor((pd.DatetimeIndex(days) - dates[0]) / period).astype(int)
        col = np.asarray([columns.index(n) for n in names])
        for offset in range(-before, after + 1):  # a handful of offsets
            t = np.asarray(idx) + offset
            keep = (t >= 0) & (t < T)
            out[t[keep], col[keep]] = 1.0
    used = out.any(axis=0)
    names = [c for c, u in zip(columns, used, strict=True) if u]
    return pd.DataFrame(out[:, used], index=dates, columns=names)
