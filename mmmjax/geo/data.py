"""Geo panels: a validated, immutable :class:`GeoDataset` and its :class:`GeoScales`.

A geo (or brand, or market) panel holds ``G`` regularly spaced time series that share their
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

Example:
    >>> import mmmjax
    >>> panel, truth = mmmjax.simulate_geo(n_geos=4, n_periods=104, n_channels=3, seed=0)
    >>> panel.spend.shape, panel.national().spend.shape
    ((4, 104, 3), (104, 3))
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mmmjax.data import (
    Dataset,
    Rows,
    Table,
    _as_list,
    _Calendar,
    _check_columns,
    _check_spacing,
    _fmt_date,
    _frozen_array,
    _numeric,
    _parse_dates,
    _resolve_freq,
    check_target,
    min_periods,
    read_table,
)
from mmmjax.errors import DataError

__all__ = ["GeoDataset", "GeoScales"]

_STEP_DAYS = {"W": 7, "D": 1}


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
        if len(set(self.geos)) != len(self.geos):
            raise ValueError("GeoDataset.geos must be distinct")
        g, t, c, k = len(self.geos), len(dates), len(self.channels), len(self.control_names)
        controls = np.zeros((g, t, k)) if self.controls is None else self.controls
        population = np.ones(g) if self.population is None else self.population
        arrays = {
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
            freq=self.freq,
            date_name=self.date_name,
        )

    def national(self) -> Dataset:
        """The panel summed over geos, as an ordinary :class:`mmmjax.Dataset`.

        Spend and target are summed over geos (money per period). Controls, which are levels
        rather than amounts (a price index, a temperature), are averaged over geos weighted by
        population: ``sum_g population[g] * controls[g] / sum_g population[g]``.
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
            and (self.target_name, self.date_name, self.geo_name, self.freq)
            == (other.target_name, other.date_name, other.geo_name, other.freq)
            and self.population_name == other.population_name
        )
        return same and all(
            np.array_equal(getattr(self, k), getattr(other, k))
            for k in ("spend", "target", "controls", "population")
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
        return _from_frame(
            Table.of_frame(df),
            geo=geo,
            date=date,
            target=target,
            channels=_as_list(channels),
            controls=_as_list(controls),
            population=population,
            date_format=date_format,
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
    ) -> GeoDataset:
        """Read a CSV file (:func:`mmmjax.data.read_table`: separator and decimal comma
        detected, rows numbered as in a spreadsheet) and validate it like :meth:`from_frame`."""
        table = read_table(path, text_columns=[geo, date])
        return _from_frame(table, geo=geo, date=date, target=target,
                           channels=_as_list(channels), controls=_as_list(controls),
                           population=population, date_format=date_format)  # fmt: skip


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


def _from_frame(
    table: Table,
    *,
    geo: str,
    date: str,
    target: str,
    channels: list[str],
    controls: list[str],
    population: str | None,
    date_format: str | None,
) -> GeoDataset:
    groups = {
        "geo": [geo],
        "date": [date],
        "target": [target],
        "channel": channels,
        "control": controls,
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
    pop = None if population is None else numeric(population)

    names, codes = _first_seen(labels)
    order = np.lexsort((dates.asi8, codes))  # geo-major, then by date: row (as read) of each
    codes, dates = codes[order], dates[order]
    y, x, z = y[order], x[order], z[order]
    pop = None if pop is None else pop[order]

    # every geo: no duplicate dates, no gaps, regular spacing, enough periods
    need = min_periods(len(channels), len(controls))
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
