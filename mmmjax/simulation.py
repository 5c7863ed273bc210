"""Synthetic MMM data with known ground truth, in money.

:func:`simulate` draws spend for each channel, pushes it through a (normalised) adstock and a
saturation curve, adds a baseline (intercept, trend, yearly seasonality, controls, events) and
noise, and returns the :class:`~mmmjax.data.Dataset` together with the :class:`Truth` that made it.

The generative model, per period ``t`` and channel ``c`` (all money per period)::

    level[t, c]   = adstock_c(spend_c)[t]               # weights sum to 1: sustained s -> s
    contrib[t, c] = beta_c * sat_c(level[t, c])         # sat's scale parameter in money
    baseline[t]   = intercept + trend_slope * t / (T - 1)
                    + sum_k season[k] * fourier[t, k]   # [sin(2 pi k t / P)..., cos(...)...]
                    + sum_j control_coef[j] * (z[t, j] - mean_j) / std_j
                    + sum_e event_coef[e] * events[t, e]
    target[t]     = baseline[t] + sum_c contrib[t, c] + noise[t],  noise ~ Normal(0, sigma)

With ``confound=c`` an unobserved demand driver ``d[t]`` (a smooth AR(1) series, unit variance,
not in the dataset) raises both channel ``c``'s spend (``spend_c *= exp(a d - a^2 / 2)``) and the
target (a ``demand`` term in the baseline), as when a brand spends more in the weeks it expects
to sell more: a model that cannot see ``d`` credits channel ``c`` with part of the demand, so its
ROI comes out too high. :meth:`Truth.lift` gives the true incremental target of a spend change
over a window, from which honest lift tests are made.

with ``P = periods_per_year``, the same time index, Fourier basis and control standardisation
that ``mmmjax.MMM`` uses (so the truth is comparable term by term, after dividing by the mean
target). Spend and target are rounded to cents; the rounding of the target is absorbed in
``noise`` so ``contributions + baseline + noise == target`` holds exactly (to float rounding).

Example:
    >>> import mmmjax
    >>> ds, truth = mmmjax.simulate(n_periods=104, n_channels=3, seed=1)
    >>> ds.spend.shape, list(truth.roi.index) == ds.channels
    ((104, 3), True)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from mmmjax import seeds, transforms
from mmmjax.data import PERIODS_PER_YEAR, Dataset, Scales
from mmmjax.model import (
    ADSTOCK_PARAMS,
    MMM,
    SATURATION_PARAMS,
    components,
    kernel_params,
    media_scale,
    media_shape,
)
from mmmjax.model import saturation as model_saturation
from mmmjax.model.design import Design, fourier_terms

__all__ = ["ADSTOCK_PARAMS", "SATURATION_PARAMS", "GeoTruth", "Truth", "simulate"]

# Parameter names per kind are the model's (``mmmjax.model``); here saturation parameters are
# in MONEY units: ``half_saturation`` and ``tanh_scale`` in money per period, ``lam`` in
# 1 / money. Time parameters (theta, Weibull scale) are in periods.

_CHANNEL_NAMES = (
    "tv",
    "search",
    "social",
    "display",
    "radio",
    "video",
    "print",
    "ooh",
    "email",
    "affiliate",
)
_PATTERNS = ("always_on", "flighted", "correlated", "mixed")
_BASELINE_PARTS = ("intercept", "trend", "seasonality", "controls", "events")


# --------------------------------------------------------------------------------------------
# the model's own functions, evaluated in float64 (local x64 context; the global setting is
# never touched)
# --------------------------------------------------------------------------------------------


def _x64(fn, *args: Any) -> Any:
    """``fn(*args)`` with every array argument (any pytree) as a float64 JAX array, results as
    float64 NumPy arrays."""
    with jax.enable_x64(True):
        args = jax.tree.map(lambda a: jnp.asarray(a, dtype=jnp.float64), args)
        out = fn(*args)
        return jax.tree.map(lambda a: np.asarray(a, dtype=np.float64), out)


def _spec(adstock: str, saturation: str, l_max: int, order: int = 0, trend: str = "none") -> MMM:
    """The :class:`~mmmjax.MMM` whose mean function generates the data."""
    return MMM(adstock=adstock, saturation=saturation, l_max=int(l_max), seasonality=int(order),
               trend=trend, adstock_method="scan")  # fmt: skip


def _truth_spec(p: Mapping[str, Any]) -> MMM:
    return _spec(p["adstock"], p["saturation"], p["l_max"])


def _kernel_args(spec: MMM, p: Mapping[str, Any]) -> dict[str, Any]:
    return {k: np.asarray(p[k], dtype=np.float64) for k in kernel_params(spec)}


def _shape(spec: MMM, p: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    """``sat(adstock(x))`` by :func:`mmmjax.model.media_shape`, float64 (any consistent units:
    the kernels are the same in money with money parameters and in scaled units)."""
    return _x64(functools.partial(media_shape, spec), _kernel_args(spec, p), x)


def _saturation_slope(spec: MMM, p: Mapping[str, Any], s: np.ndarray) -> np.ndarray:
    """``d sat_c(s_c) / d s_c`` for ``s`` ``(..., C)`` (exact, by forward-mode autodiff)."""

    def slope(args, level):
        fn = functools.partial(model_saturation, spec, args)
        return jax.jvp(fn, (level[..., None, :],), (jnp.ones_like(level[..., None, :]),))[1]

    return _x64(slope, _kernel_args(spec, p), s)[..., 0, :]


def _draw_kernels(
    rng: np.random.Generator, adstock: str, saturation: str, n: int, l_max: int
) -> dict[str, np.ndarray]:
    """True kernel parameters ``{name: (n,)}`` in the model's scaled units, drawn uniformly in
    the ranges of the kernels' registry entries (:class:`mmmjax.transforms.TruthRange`).

    Every parameter name of the registry is drawn, in registry order, whichever kernels are
    used (the unused ones are discarded), so the kernels chosen do not move any other draw.
    """
    out: dict[str, np.ndarray] = {}
    for registry, kind in ((transforms.ADSTOCKS, adstock), (transforms.SATURATIONS, saturation)):
        chosen = registry[kind]
        for name in dict.fromkeys(p for entry in registry.values() for p in entry.params):
            if name in chosen.params:
                if not chosen.truth or name not in chosen.truth:
                    raise ValueError(f"the registry entry {kind!r} has no truth range for {name}")
                low, high = chosen.truth[name].bounds(l_max)
                out[name] = rng.uniform(low, high, n)
            else:
                rng.uniform(size=n)  # consumed, not used
    return out


def _spend_power(saturation: str, name: str) -> int:
    entry = transforms.SATURATIONS[saturation]
    return entry.truth[name].spend_power if entry.truth and name in entry.truth else 0


def _to_money(value: np.ndarray, unit: np.ndarray, power: int) -> np.ndarray:
    """A scaled parameter in money: ``value * unit ** power``."""
    return value * unit**power if power >= 0 else value / unit ** (-power)


def _to_scaled(value: np.ndarray, unit: np.ndarray, power: int) -> np.ndarray:
    return value / unit**power if power >= 0 else value * unit ** (-power)


# --------------------------------------------------------------------------------------------
# Truth
# --------------------------------------------------------------------------------------------


def _plain(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, list | tuple):
        return [_plain(u) for u in v]
    return v


def _unplain(v: Any) -> Any:
    if isinstance(v, list) and all(isinstance(u, int | float) for u in v):
        return np.asarray(v, dtype=np.float64)
    return v


def _frame_to_dict(df: pd.DataFrame) -> dict[str, Any]:
    return {str(c): [float(v) for v in df[c]] for c in df.columns}


@dataclass(frozen=True, eq=False)
class Truth:
    """The ground truth behind a simulated :class:`~mmmjax.data.Dataset`, in money.

    Attributes:
        params: parameters by name. Per channel ``(C,)`` float arrays: the adstock's
            (``alpha``; ``theta``; ``weibull_shape``, ``weibull_scale``), the saturation's in
            money (``half_saturation`` money per period, ``slope``, ``lam`` 1/money,
            ``tanh_scale`` money per period), ``beta`` (target money per period at full
            saturation) and ``effect_at_mean`` (``beta * sat(spend_mean)``, the steady-state
            contribution at mean spend). Baseline: ``intercept`` and ``trend_slope`` (change over
            the window) in money, ``season`` ``(2 * order,)`` ``[sin..., cos...]`` coefficients,
            ``control_coef`` ``(K,)`` money per standard deviation, ``event_coef`` ``(E,)``,
            ``sigma`` (noise sd, money). Also ``adstock``, ``saturation``, ``trend`` (kinds),
            ``l_max``, ``seasonality`` (order), ``periods_per_year``, ``channels``.
        contributions: ``(T, C)`` DataFrame of media contributions, money per period, indexed
            by date.
        baseline: ``(T,)`` Series, the sum of ``baseline_components``.
        baseline_components: ``(T, 5)`` DataFrame with columns ``intercept``, ``trend``,
            ``seasonality``, ``controls``, ``events``.
        noise: ``(T,)`` Series; ``target = baseline + contributions.sum(axis=1) + noise``.
        roi: Series by channel, ``contributions.sum() / spend.sum()`` over the window.
        mroi: Series by channel, ``d/ds [beta_c * sat_c(s)]`` at ``s = spend_mean`` (marginal
            return of sustained spend, after carryover has settled).
        spend_mean: Series by channel, mean spend per period (money).
    """

    params: dict[str, Any]
    contributions: pd.DataFrame
    baseline_components: pd.DataFrame
    noise: pd.Series
    roi: pd.Series
    mroi: pd.Series
    spend_mean: pd.Series

    @property
    def baseline(self) -> pd.Series:
        """``(T,)`` baseline in money: intercept + trend + seasonality + controls + events."""
        return self.baseline_components.sum(axis=1).rename("baseline")

    @property
    def channels(self) -> list[str]:
        return [str(c) for c in self.contributions.columns]

    def response(self, spend: Any) -> np.ndarray:
        """Steady-state contribution ``beta_c * sat_c(s)`` of sustained spend, money per period.

        Args:
            spend: ``(G,)`` (same level for every channel) or ``(G, C)``, money per period.

        Returns:
            ``(G, C)`` contribution per period, money.
        """
        s = np.asarray(spend, dtype=np.float64)
        if s.ndim == 1:
            s = np.repeat(s[:, None], len(self.channels), axis=1)
        spec = _truth_spec(self.params)
        sat = _x64(functools.partial(model_saturation, spec), _kernel_args(spec, self.params), s)
        return np.asarray(self.params["beta"]) * sat

    def lift(
        self, dataset: Dataset, channel: int | str, start: Any, end: Any, spend_change: float
    ) -> float:
        """The true incremental target (money) of a spend change over a window.

        ``spend_change`` money per period is added to ``channel``'s spend in every period whose
        date lies in ``[start, end]``; the result is the change of that channel's contribution
        summed over those periods (carryover within the window counted, after it not): the
        quantity a lift test measures and :class:`mmmjax.LiftTest` states.

        Args:
            dataset: the simulated dataset this truth made (its spend is the baseline).
            channel: name or index.
            start, end: first and last date of the window (inclusive).
            spend_change: money per period (negative: removed).

        Returns:
            Incremental target over the window, money.
        """
        names = self.channels
        c = names.index(channel) if isinstance(channel, str) else int(channel)
        inside = np.asarray(
            (dataset.dates >= pd.Timestamp(start)) & (dataset.dates <= pd.Timestamp(end))
        )
        spend = np.asarray(dataset.spend, dtype=np.float64)
        changed = spend.copy()
        changed[inside, c] += float(spend_change)
        spec, beta = _truth_spec(self.params), np.asarray(self.params["beta"])
        contrib = [beta * _shape(spec, self.params, x) for x in (spend, changed)]
        return float((contrib[1][inside, c] - contrib[0][inside, c]).sum())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (exact float round trip through :mod:`json`)."""
        return {
            "params": {k: _plain(v) for k, v in self.params.items()},
            "dates": [d.isoformat() for d in self.contributions.index],
            "date_name": self.contributions.index.name,
            "contributions": _frame_to_dict(self.contributions),
            "baseline_components": _frame_to_dict(self.baseline_components),
            "noise": [float(v) for v in self.noise],
            "roi": {str(k): float(v) for k, v in self.roi.items()},
            "mroi": {str(k): float(v) for k, v in self.mroi.items()},
            "spend_mean": {str(k): float(v) for k, v in self.spend_mean.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Truth:
        """Inverse of :meth:`to_dict`."""
        index = pd.DatetimeIndex(pd.to_datetime(d["dates"]), name=d.get("date_name")).as_unit("ns")

        def frame(cols: Mapping[str, list[float]]) -> pd.DataFrame:
            return pd.DataFrame(
                {k: np.asarray(v, dtype=np.float64) for k, v in cols.items()}, index
            )

        def series(m: Mapping[str, float], name: str) -> pd.Series:
            return pd.Series(
                np.asarray(list(m.values()), dtype=np.float64), index=list(m), name=name
            )

        return cls(
            params={k: _unplain(v) for k, v in d["params"].items()},
            contributions=frame(d["contributions"]),
            baseline_components=frame(d["baseline_components"]),
            noise=pd.Series(np.asarray(d["noise"], dtype=np.float64), index, name="noise"),
            roi=series(d["roi"], "roi"),
            mroi=series(d["mroi"], "mroi"),
            spend_mean=series(d["spend_mean"], "spend_mean"),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Truth):
            return NotImplemented
        if self.params.keys() != other.params.keys():
            return False
        for k, v in self.params.items():
            w = other.params[k]
            if isinstance(v, np.ndarray) or isinstance(w, np.ndarray):
                if not np.array_equal(np.asarray(v), np.asarray(w)):
                    return False
            elif v != w:
                return False
        return (
            self.contributions.equals(other.contributions)
            and self.baseline_components.equals(other.baseline_components)
            and self.noise.equals(other.noise)
            and self.roi.equals(other.roi)
            and self.mroi.equals(other.mroi)
            and self.spend_mean.equals(other.spend_mean)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        roi = ", ".join(f"{c}={v:.2f}" for c, v in self.roi.items())
        return (
            f"Truth({self.params['adstock']}+{self.params['saturation']}, "
            f"{len(self.noise)} periods, roi: {roi})"
        )


# --------------------------------------------------------------------------------------------
# spend, controls and events
# --------------------------------------------------------------------------------------------


def _ar1(rng: np.random.Generator, n: int, phi: float, size: int = 1) -> np.ndarray:
    """``(n, size)`` stationary AR(1) series with unit variance."""
    e = rng.normal(size=(n, size))
    out = np.empty((n, size))
    out[0] = e[0]
    scale = math.sqrt(1 - phi**2)
    for t in range(1, n):
        out[t] = phi * out[t - 1] + scale * e[t]
    return out


def _flight_schedule(rng: np.random.Generator, n: int, step: int) -> np.ndarray:
    """A 0/1 on-off schedule of bursts (2+ periods on, 1+ off), in units of ``step`` periods."""
    on = np.zeros(n, dtype=bool)
    t = int(rng.integers(0, 3 * step))
    while t < n:
        length = (2 + int(rng.poisson(3))) * step
        on[t : t + length] = True
        t += length + (1 + int(rng.poisson(2))) * step
    if on.sum() < 2:
        on[: max(2, n // 2)] = True
    if on.all():
        on[-1] = False
    return on


def _patterns(spend_pattern: str | Sequence[str], n_channels: int) -> tuple[list[str], float]:
    if isinstance(spend_pattern, str):
        if spend_pattern not in _PATTERNS:
            raise ValueError(
                f"spend_pattern must be one of {_PATTERNS} or a list; got {spend_pattern!r}"
            )
        if spend_pattern == "mixed":
            return ["flighted" if c % 3 == 0 else "always_on" for c in range(n_channels)], 1.0
        if spend_pattern == "correlated":
            return ["always_on"] * n_channels, 1.0
        if spend_pattern == "always_on":
            return ["always_on"] * n_channels, 0.0
        return ["flighted"] * n_channels, 1.0
    pats = list(spend_pattern)
    if len(pats) != n_channels or any(p not in ("always_on", "flighted") for p in pats):
        raise ValueError("a spend_pattern list needs one 'always_on' or 'flighted' per channel")
    return pats, 1.0


def _spend(
    rng: np.random.Generator,
    n: int,
    levels: np.ndarray,
    patterns: list[str],
    correlation: float,
    step: int,
) -> np.ndarray:
    c = len(levels)
    common = _ar1(rng, n, 0.7)[:, 0]
    idio = _ar1(rng, n, 0.5, c)
    rho = float(np.clip(correlation, 0.0, 1.0))
    z = math.sqrt(rho) * common[:, None] + math.sqrt(1 - rho) * idio
    out = np.empty((n, c))
    for j, pat in enumerate(patterns):
        if pat == "always_on":
            sd = 0.35
            out[:, j] = levels[j] * np.exp(sd * z[:, j] - sd**2 / 2)
        else:
            on = _flight_schedule(rng, n, step)
            sd = 0.25
            burst = levels[j] / on.mean() * np.exp(sd * z[:, j] - sd**2 / 2)
            out[:, j] = np.where(on, burst, 0.0)
    return np.round(out, 2)


def _controls(rng: np.random.Generator, n: int, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Control series ``(n, K)`` (original units) and the sign of their effect ``(K,)``."""
    cols, signs = [], []
    for name in names:
        if name == "price_index":
            cols.append(np.round(1.0 + 0.04 * _ar1(rng, n, 0.8)[:, 0], 4))
            signs.append(-1.0)
        elif name == "competitor_promo":
            cols.append((rng.random(n) < 0.25).astype(np.float64))
            signs.append(-1.0)
        else:
            cols.append(np.round(_ar1(rng, n, 0.6)[:, 0], 4))
            signs.append(float(rng.choice([-1.0, 1.0])))
    if not cols:
        return np.zeros((n, 0)), np.zeros(0)
    return np.column_stack(cols), np.asarray(signs)


def _events(rng: np.random.Generator, n: int, n_events: int, per_year: float) -> np.ndarray:
    out = np.zeros((n, n_events))
    hits = max(2, round(2 * n / per_year))
    for e in range(n_events):
        out[rng.choice(n, size=min(hits, n), replace=False), e] = 1.0
    return out


def _per_channel(value: Any, n: int, name: str) -> np.ndarray:
    arr = np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).copy()
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def _fill_params(
    given: Mapping[str, Any] | None,
    names: tuple[str, ...],
    defaults: dict[str, np.ndarray],
    n: int,
    what: str,
) -> dict[str, np.ndarray]:
    given = dict(given or {})
    unknown = set(given) - set(names)
    if unknown:
        raise ValueError(f"unknown {what} parameter(s) {sorted(unknown)}; expected {names}")
    return {k: _per_channel(given.get(k, defaults[k]), n, k) for k in names}


def _confound(
    which: int | str | None, strength: float, channels: list[str], n: int, seed: int
) -> tuple[int | None, np.ndarray]:
    """The confounded channel's index (or None) and the demand driver ``(n,)``, unit variance."""
    if which is None:
        return None, np.zeros(n)
    if isinstance(which, str):
        if which not in channels:
            raise ValueError(f"confound: unknown channel {which!r}; channels are {channels}")
        idx = channels.index(which)
    else:
        idx = int(which)
        if not 0 <= idx < len(channels):
            raise ValueError(f"confound: channel index {which} is not in 0..{len(channels) - 1}")
    if not (math.isfinite(strength) and strength >= 0):
        raise ValueError(f"confound_strength must be finite and >= 0, got {strength}")
    rng = seeds.numpy_rng(seed, "confounder")  # its own stream: other draws are unchanged
    return idx, _ar1(rng, n, 0.8)[:, 0]


# --------------------------------------------------------------------------------------------
# GeoTruth
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class GeoTruth:
    """The ground truth behind a simulated :class:`~mmmjax.geo.GeoDataset`, in money.

    Attributes:
        params: by name. Shared per channel ``(C,)``: the adstock parameters, the saturation
            parameters in units of ``population[g] * unit[c]`` (``half_saturation`` 1.5 means
            1.5 times the national spend per head), ``unit`` (money per head per period),
            ``log_roi`` (national mean of log ROI) and ``roi_sd``. Per geo: ``roi`` and
            ``beta`` ``(G, C)``, ``base`` ``(G,)`` (mean baseline, money), ``trend`` ``(G,)``
            (change over the window as a share of ``base``), ``season`` ``(G, 2 * order)`` and
            ``control_coef`` ``(G, K)`` (shares of ``base``), ``sigma`` ``(G,)`` (money). Also
            ``adstock``, ``saturation``, ``l_max``, ``seasonality``, ``channels``, ``geos``.
        contributions: ``(G, T, C)`` media contribution per period, money.
        baseline: ``(G, T)`` baseline per period, money.
        noise: ``(G, T)``; ``target = baseline + contributions.sum(-1) + noise``.
        roi: ``(G, C)`` DataFrame (index geo, columns channel): window ROI per geo.
        national_roi: Series by channel: ``sum_g,t contrib / sum_g,t spend``.
        mroi: ``(G, C)`` DataFrame: derivative of the steady-state response of sustained spend
            at each geo's mean spend per period.
        national_mroi: Series by channel: derivative of the national steady-state response
            when national spend is split over geos in proportion to their share of the
            channel's spend, at the national mean spend (a spend-weighted mean of ``mroi``).
    """

    params: dict[str, Any]
    contributions: np.ndarray
    baseline: np.ndarray
    noise: np.ndarray
    roi: pd.DataFrame
    national_roi: pd.Series
    mroi: pd.DataFrame
    national_mroi: pd.Series

    @property
    def geos(self) -> list[str]:
        return list(self.roi.index)

    @property
    def channels(self) -> list[str]:
        return list(self.roi.columns)

    def __repr__(self) -> str:
        roi = ", ".join(f"{c}={v:.2f}" for c, v in self.national_roi.items())
        return (
            f"GeoTruth({len(self.geos)} geos, {self.params['adstock']}+"
            f"{self.params['saturation']}, national roi: {roi})"
        )


# --------------------------------------------------------------------------------------------
# simulate
# --------------------------------------------------------------------------------------------

#: Options of :func:`simulate` for national data only, with their defaults.
_NATIONAL_ONLY = {"adstock_params": None, "saturation_params": None, "betas": None,
                  "spend_levels": None, "trend": "linear", "n_events": 0, "confound": None,
                  "control_names": None}  # fmt: skip


def _is_default(value: Any, default: Any) -> bool:
    return value is None if default is None else (value is not None and value == default)


def simulate(
    n_periods: int = 156,
    n_channels: int = 5,
    *,
    n_geos: int | None = None,
    freq: str = "W",
    start: str = "2021-01-03",
    adstock: str = "geometric",
    saturation: str = "hill",
    adstock_params: Mapping[str, Any] | None = None,
    saturation_params: Mapping[str, Any] | None = None,
    betas: Sequence[float] | None = None,
    roi: Sequence[float] | None = None,
    roi_sd: float = 0.25,
    media_share: float = 0.3,
    spend_levels: Sequence[float] | None = None,
    trend: str = "linear",
    seasonality: int = 2,
    n_controls: int = 2,
    n_events: int = 0,
    noise: float = 0.05,
    spend_pattern: str | Sequence[str] = "mixed",
    correlation: float = 0.5,
    l_max: int = 8,
    seed: int = 0,
    confound: int | str | None = None,
    confound_strength: float = 1.0,
    channel_names: Sequence[str] | None = None,
    control_names: Sequence[str] | None = None,
    geo_names: Sequence[str] | None = None,
    target_name: str = "revenue",
    date_name: str = "date",
    geo_name: str = "geo",
) -> tuple[Dataset, Truth] | tuple[Any, GeoTruth]:
    """Simulate a marketing-mix data set, or with ``n_geos`` a geo panel, with known ground truth.

    See the module docstring for the generative model. The target is made by the model's own
    mean function (:func:`mmmjax.model.components`, for a panel
    :func:`mmmjax.model.geo.geo_components`) evaluated in float64, and the true kernel
    parameters are drawn in the ranges of the kernels' registry entries
    (:class:`mmmjax.transforms.TruthRange`).

    Defaults give three years of weekly data, five channels spending a few thousand to tens of
    thousands per week, ROIs spread between about 0.6 and 4.5 and media explaining about 30%
    of the target. Deterministic for a given ``seed`` (one ``numpy.random.Generator``, the
    ``"simulation"`` stream of :mod:`mmmjax.seeds`; ``"geo_simulation"`` for a panel).

    With ``n_geos=G`` it returns a panel and per-geo truth (what :func:`mmmjax.simulate_geo`
    returns): populations log-uniform between 200 thousand and 5 million; national spend per
    channel log-uniform between 20 and 300 thousand per week, divided over geos by population
    times a per-geo intensity ``exp(N(0, 0.35))``; shared kernels in spend per head; per-geo ROI
    ``exp(log roi + roi_sd * N(0, 1))``; ``n_controls`` AR(1) controls per geo. The options
    ``adstock_params``, ``saturation_params``, ``betas``, ``spend_levels``, ``trend``,
    ``n_events``, ``confound`` and ``control_names`` are for national data only (a
    ``ValueError`` if set with ``n_geos``).

    Args:
        n_periods: ``T``, number of periods.
        n_channels: ``C``, number of media channels.
        n_geos: ``None`` (default): national data; ``G``: a geo panel of ``G`` geos.
        freq: ``"W"`` (weekly) or ``"D"`` (daily).
        start: first date.
        adstock: ``"geometric"``, ``"delayed"``, ``"weibull_pdf"`` or ``"weibull_cdf"``;
            always normalised (lag weights sum to 1, so sustained spend ``s`` settles at ``s``).
        saturation: ``"hill"``, ``"logistic"``, ``"michaelis_menten"`` or ``"tanh"``.
        adstock_params: overrides by name (:data:`ADSTOCK_PARAMS`), scalars or ``(C,)``.
            Defaults: ``alpha ~ U(0.2, 0.7)`` (geometric), ``alpha ~ U(0.3, 0.7)``,
            ``theta ~ U(0, 3)`` (delayed), Weibull ``shape``/``scale`` with a peak at 1-3
            periods (pdf) or a decay over 1-3 periods (cdf).
        saturation_params: overrides by name (:data:`SATURATION_PARAMS`), in MONEY units.
            Defaults relative to each channel's mean spend ``m``: ``half_saturation ~
            U(0.6, 1.8) m``, ``slope ~ U(1, 2.5)``, ``lam ~ U(0.5, 3) / m``, ``tanh_scale ~
            U(0.5, 2) m``.
        betas: ``(C,)`` maximum contribution of each channel, target money per period. If not
            given they are set so that each channel's ROI equals ``roi``.
        roi: ``(C,)`` target ROIs when ``betas`` is not given (panels: the national median
            ROI); default a random permutation of ``geomspace(0.6, 4.5, C)``.
        roi_sd: panels only: standard deviation of log ROI across geos.
        media_share: media's share of the mean (noise-free) target; sets the baseline level.
        spend_levels: ``(C,)`` nominal mean spend per period, money; default log-uniform
            between 2,000 and 30,000 per week (divided by 7 for daily), largest first.
        trend: ``"linear"`` (a change of 5-20% of the baseline over the window, either sign) or
            ``"none"``.
        seasonality: Fourier order of the yearly seasonality (0 for none).
        n_controls: ``K``; the first two are ``price_index`` (around 1, negative effect) and
            ``competitor_promo`` (0/1, negative effect), others standard AR(1) series.
        n_events: ``E`` event dummies (a couple of periods per year each, positive effect).
        noise: noise sd as a share of the mean noise-free target.
        spend_pattern: ``"always_on"`` (independent noisy spend), ``"flighted"`` (bursts with
            zero periods between), ``"correlated"`` (always-on, sharing a common factor),
            ``"mixed"`` (every third channel flighted, starting with the first) or a list of
            ``"always_on"``/``"flighted"`` per channel.
        correlation: weight ``rho`` of the common factor in the log spend of every channel
            (except for ``"always_on"``): pairwise correlation of log spend is about ``rho``.
        l_max: number of lags for the delayed and Weibull adstocks.
        seed: random seed.
        confound: a channel (index or name) whose spend rises and falls with an unobserved
            demand driver that also moves the target (see the module docstring); ``None`` for
            none. The driver comes from its own random stream, so everything else is the same
            as without it for the same ``seed``.
        confound_strength: ``k >= 0``: the channel's log spend moves by ``0.5 k`` standard
            deviations of the driver, and the target by ``0.05 k`` of its baseline level per
            standard deviation (listed as ``demand`` in ``baseline_components``).
        channel_names, control_names: default ``tv, search, social, display, radio, ...`` and
            ``price_index, competitor_promo, control_3, ...``.
        geo_names: panels only: default ``geo_01, geo_02, ...``.
        target_name, date_name, geo_name: column names (``geo_name`` for panels).

    Returns:
        ``(dataset, truth)``: a :class:`~mmmjax.data.Dataset` (spend and target in money,
        rounded to cents) and its :class:`Truth`; with ``n_geos``, a
        :class:`~mmmjax.geo.GeoDataset` (with a ``population`` column) and its
        :class:`GeoTruth`.

    Example:
        >>> ds, truth = simulate(seed=3)
        >>> bool(np.allclose(truth.contributions.sum(axis=1) + truth.baseline + truth.noise,
        ...                  ds.target))
        True
        >>> panel, geo_truth = simulate(n_periods=60, n_channels=2, n_geos=3, n_controls=1)
        >>> geo_truth.roi.shape, panel.spend.shape
        ((3, 2), (3, 60, 2))
    """
    if freq not in PERIODS_PER_YEAR:
        raise ValueError(f"freq must be 'W' or 'D'; got {freq!r}")
    if adstock not in ADSTOCK_PARAMS:
        raise ValueError(f"adstock must be one of {tuple(ADSTOCK_PARAMS)}; got {adstock!r}")
    if saturation not in SATURATION_PARAMS:
        raise ValueError(
            f"saturation must be one of {tuple(SATURATION_PARAMS)}; got {saturation!r}"
        )
    if n_periods < 2 or n_channels < 1:
        raise ValueError("need n_periods >= 2 and n_channels >= 1")
    if not 0.0 < media_share < 1.0:
        raise ValueError("media_share must be in (0, 1)")
    if n_geos is not None:
        given = {
            "adstock_params": adstock_params,
            "saturation_params": saturation_params,
            "betas": betas,
            "spend_levels": spend_levels,
            "trend": trend,
            "n_events": n_events,
            "confound": confound,
            "control_names": control_names,
        }
        national = [k for k, v in given.items() if not _is_default(v, _NATIONAL_ONLY[k])]
        if national:
            raise ValueError(f"simulate(n_geos=...): {', '.join(national)} apply to national "
                             "data only")  # fmt: skip
        if n_geos < 1:
            raise ValueError("need n_geos >= 1, n_periods >= 2 and n_channels >= 1")
        return _panel(
            int(n_geos), int(n_periods), int(n_channels), freq=freq, start=start,
            adstock=adstock, saturation=saturation, roi=roi, roi_sd=roi_sd,
            media_share=media_share, seasonality=seasonality, n_controls=n_controls,
            noise=noise, spend_pattern=spend_pattern, correlation=correlation, l_max=l_max,
            seed=seed, channel_names=channel_names, geo_names=geo_names,
            target_name=target_name, date_name=date_name, geo_name=geo_name,
        )  # fmt: skip
    if geo_names is not None:
        raise ValueError("geo_names needs n_geos")
    if trend not in ("linear", "none"):
        raise ValueError(f"trend must be 'linear' or 'none'; got {trend!r}")

    rng = seeds.numpy_rng(seed, "simulation")
    T, C, K, E = int(n_periods), int(n_channels), int(n_controls), int(n_events)
    per_year = PERIODS_PER_YEAR[freq]
    step_days = 7 if freq == "W" else 1
    dates = _dates(start, T, step_days, date_name)

    channels = list(channel_names) if channel_names is not None else _default_names(C)
    if len(channels) != C:
        raise ValueError(f"channel_names has {len(channels)} names for {C} channels")
    if control_names is None:
        defaults = ["price_index", "competitor_promo", *(f"control_{k + 1}" for k in range(2, K))]
        ctrl_names = defaults[:K]
    else:
        ctrl_names = list(control_names)
    if len(ctrl_names) != K:
        raise ValueError(f"control_names has {len(ctrl_names)} names for {K} controls")

    # ---- spend (money per period) ----
    patterns, factor = _patterns(spend_pattern, C)
    if spend_levels is None:
        per_week = np.sort(np.exp(rng.uniform(math.log(2_000), math.log(30_000), C)))[::-1]
        levels = per_week * step_days / 7
    else:
        levels = _per_channel(spend_levels, C, "spend_levels")
    # flights last weeks: for daily data a "period" of the schedule is a week
    spend = _spend(rng, T, levels, patterns, correlation * factor, 7 // step_days)
    confounded, demand = _confound(confound, confound_strength, channels, T, seed)
    if confounded is not None:
        a = 0.5 * float(confound_strength)
        spend[:, confounded] = np.round(spend[:, confounded] * np.exp(a * demand - a**2 / 2), 2)
    spend_mean = spend.mean(axis=0)

    # ---- media: kernels in the model's scaled units (spend over its mean), truth in money ----
    drawn = _draw_kernels(rng, adstock, saturation, C, l_max)
    a_params = _fill_params(adstock_params, ADSTOCK_PARAMS[adstock], drawn, C, "adstock")
    # money that is x = 1: the mean spend (1.0 for a channel never spent), as the model's Scales
    unit = Scales.from_arrays(spend, np.ones(T)).spend
    powers = {k: _spend_power(saturation, k) for k in SATURATION_PARAMS[saturation]}
    money = {k: _to_money(drawn[k], unit, powers[k]) for k in powers}
    s_params = _fill_params(saturation_params, SATURATION_PARAMS[saturation], money, C,
                            "saturation")  # fmt: skip
    kernels = {**a_params, **{k: _to_scaled(v, unit, powers[k]) for k, v in s_params.items()}}
    order = int(seasonality)
    spec = _spec(adstock, saturation, l_max, order, "none" if trend == "none" else "linear")
    x = spend / unit
    shape = _shape(spec, kernels, x)  # (T, C), dimensionless in [0, 1)
    if betas is None:
        media_roi = (
            rng.permutation(np.geomspace(0.6, 4.5, C))
            if roi is None
            else _per_channel(roi, C, "roi")
        )
    else:  # the window ROI of a channel whose contribution is beta * shape
        spent = spend.sum(axis=0)
        beta_given = _per_channel(betas, C, "betas")
        media_roi = beta_given * shape.sum(axis=0) / np.where(spent > 0, spent, 1.0)
    # money per period: the design's target unit is 1 (money)
    design = Design(spend=x, t=np.arange(T, dtype=np.float64) / (T - 1),
                    fourier=fourier_terms(np.arange(T), per_year, order),
                    controls=np.zeros((T, K)), events=np.zeros((T, E)), changepoints=np.zeros(0),
                    roi_to_effect=unit)  # fmt: skip
    scale = _x64(functools.partial(media_scale, spec), {"media_roi": media_roi}, shape, design)
    media_mean = float((scale * shape).sum(axis=1).mean())

    # ---- baseline ----
    base_mean = media_mean * (1.0 - media_share) / media_share
    trend_slope = (
        float(rng.choice([-1.0, 1.0]) * rng.uniform(0.05, 0.2) * base_mean)
        if trend == "linear"
        else 0.0
    )
    intercept = base_mean - trend_slope / 2
    if order > 0:
        k = np.arange(1, order + 1)
        amp = base_mean * 0.08 / k
        phase = rng.uniform(0, 2 * np.pi, order)
        season = np.concatenate([amp * np.cos(phase), amp * np.sin(phase)])
    else:
        season = np.zeros(0)
    z, signs = _controls(rng, T, ctrl_names)
    control_coef = signs * rng.uniform(0.02, 0.05, K) * base_mean
    events = _events(rng, T, E, per_year)
    event_coef = rng.uniform(0.05, 0.15, E) * base_mean

    # ---- the model's mean function, in money ----
    design = design._replace(controls=Scales.from_arrays(spend, np.ones(T), z).scale_controls(z),
                             events=events)  # fmt: skip
    params = {
        **kernels,
        "media_roi": media_roi,
        "intercept": base_mean + media_mean,
        "season": season,
        "control_coef": control_coef,
        "event_coef": event_coef,
    }
    if trend == "linear":
        params["trend_slope"] = trend_slope
    comp = _x64(functools.partial(components, spec), params, design)
    contrib = comp.media
    parts = pd.DataFrame(
        {
            # the model centres the trend on the window; here it starts at 0
            "intercept": comp.intercept - trend_slope / 2,
            "trend": comp.trend + trend_slope / 2,
            "seasonality": comp.seasonality,
            "controls": comp.controls,
            "events": comp.events,
        },
        index=dates,
    )
    if confounded is not None:  # unobserved: not in the dataset, only in the truth
        parts["demand"] = 0.05 * float(confound_strength) * base_mean * demand
    baseline = parts.sum(axis=1).to_numpy()
    media_total = contrib.sum(axis=1)

    # ---- noise and target ----
    clean = baseline + media_total
    sigma = float(noise) * float(clean.mean())
    target = np.round(clean + rng.normal(0.0, sigma, T), 2)
    if np.any(target <= 0):
        raise ValueError("the simulated target is not positive everywhere; lower `noise`")
    eps = target - baseline - media_total

    # ---- truth ----
    total = shape.sum(axis=0)
    beta = np.where(total > 0, contrib.sum(axis=0) / np.where(total > 0, total, 1.0), 0.0)
    if betas is not None:
        beta = _per_channel(betas, C, "betas")
    sat_at_mean = _x64(functools.partial(model_saturation, spec), kernels,
                       (spend_mean / unit)[None, :])[0]  # fmt: skip
    mroi = beta * _saturation_slope(spec, kernels, spend_mean / unit) / unit
    params = {
        "adstock": adstock,
        "saturation": saturation,
        "trend": trend,
        "l_max": int(l_max),
        "seasonality": order,
        "periods_per_year": float(per_year),
        "channels": channels,
        "control_names": ctrl_names,
        "spend_patterns": patterns,
        **a_params,
        **s_params,
        "beta": beta,
        "effect_at_mean": beta * sat_at_mean,
        "intercept": float(intercept),
        "trend_slope": float(trend_slope),
        "season": season,
        "control_coef": control_coef,
        "event_coef": event_coef,
        "sigma": sigma,
    }
    if confounded is not None:
        params["confound"] = channels[confounded]
        params["confound_strength"] = float(confound_strength)
    contributions = pd.DataFrame(contrib, index=dates, columns=channels)
    truth = Truth(
        params=params,
        contributions=contributions,
        baseline_components=parts,
        noise=pd.Series(eps, index=dates, name="noise"),
        roi=pd.Series(contrib.sum(axis=0) / spend.sum(axis=0), index=channels, name="roi"),
        mroi=pd.Series(mroi, index=channels, name="mroi"),
        spend_mean=pd.Series(spend_mean, index=channels, name="spend_mean"),
    )
    dataset = Dataset(
        dates=dates,
        channels=channels,
        spend=spend,
        target=target,
        target_name=target_name,
        controls=z,
        control_names=ctrl_names,
        events=events,
        event_names=[f"event_{e + 1}" for e in range(E)],
        freq=freq,
        date_name=date_name,
    )
    return dataset, truth


def _panel(
    G: int,
    T: int,
    C: int,
    *,
    freq: str,
    start: str,
    adstock: str,
    saturation: str,
    roi: Sequence[float] | None,
    roi_sd: float,
    media_share: float,
    seasonality: int,
    n_controls: int,
    noise: float,
    spend_pattern: str | Sequence[str],
    correlation: float,
    l_max: int,
    seed: int,
    channel_names: Sequence[str] | None,
    geo_names: Sequence[str] | None,
    target_name: str,
    date_name: str,
    geo_name: str,
) -> tuple[Any, GeoTruth]:
    """A geo panel (``simulate(n_geos=G)``). Per geo ``g``, period ``t`` and channel
    ``c`` (money per period)::

        unit[c]         = national spend per head per period of channel c
        level[g, t, c]  = adstock_c(spend[g, :, c])[t]                   (weights sum to 1)
        shape[g, t, c]  = sat_c(level[g, t, c] / (population[g] * unit[c]))
        roi[g, c]       = exp(log_roi[c] + roi_sd * z[g, c]),  z ~ N(0, 1)
        contrib[g,t,c]  = roi[g, c] * mean_t spend[g, t, c] * shape[g, t, c] / mean_t shape[g, t, c]
        baseline[g, t]  = base[g] * (1 + trend[g] * (t / (T - 1) - 1/2)
                                      + fourier[t] @ season[g] + controls_std[g, t] @ coef[g])
        target[g, t]    = baseline[g, t] + sum_c contrib[g, t, c] + noise[g, t]

    with ``trend[g]``, ``season[g]`` and ``coef[g]`` national shares plus small geo deviations, so
    the geo model's pooling assumptions hold. By construction each geo's window ROI is exactly
    ``roi[g, c]`` and the national ROI is ``sum_g contrib / sum_g spend``. Spend and target are
    rounded to cents; the rounding is absorbed in ``noise``, so ``contributions + baseline + noise
    == target`` holds to float rounding.

    :func:`simulate` with ``n_geos=G``: a panel through the geo model's mean function."""
    from mmmjax.data import GeoDataset
    from mmmjax.model.geo import GeoDesign, geo_components

    rng = seeds.numpy_rng(seed, "geo_simulation")
    K = int(n_controls)
    per_year = PERIODS_PER_YEAR[freq]
    step_days = 7 if freq == "W" else 1
    dates = _dates(start, T, step_days, date_name)
    channels = list(channel_names) if channel_names is not None else _default_names(C)
    geos = list(geo_names) if geo_names is not None else [f"geo_{g + 1:02d}" for g in range(G)]
    if len(channels) != C or len(geos) != G:
        raise ValueError("channel_names / geo_names do not match n_channels / n_geos")

    # ---- sizes and spend (money per period) ----
    population = np.round(np.exp(rng.uniform(math.log(2e5), math.log(5e6), G)))
    national = np.sort(np.exp(rng.uniform(math.log(2e4), math.log(3e5), C)))[::-1]
    national = national * step_days / 7
    unit = national / population.sum()  # money per head per period
    intensity = np.exp(rng.normal(0.0, 0.35, (G, C)))
    patterns, factor = _patterns(spend_pattern, C)
    spend = np.stack([
        _spend(rng, T, population[g] * unit * intensity[g], patterns, correlation * factor,
               7 // step_days)
        for g in range(G)
    ])  # fmt: skip
    for g, c in zip(*np.nonzero(spend.sum(axis=1) == 0), strict=True):  # keep every pair alive
        spend[g, T // 2, c] = round(float(population[g] * unit[c]), 2)

    # ---- shared kernels (in units of population[g] * unit[c]), per-geo ROI ----
    drawn = _draw_kernels(rng, adstock, saturation, C, l_max)
    a_params = {k: drawn[k] for k in ADSTOCK_PARAMS[adstock]}
    s_params = {k: drawn[k] for k in SATURATION_PARAMS[saturation]}
    kernels = {**a_params, **s_params}
    order = int(seasonality)
    spec = _spec(adstock, saturation, l_max, order, "linear")
    spend_unit = population[:, None] * unit[None, :]  # (G, C) money that is x = 1
    x = spend / spend_unit[:, None, :]
    shape = _shape(spec, kernels, x)  # (G, T, C)
    median = rng.permutation(np.geomspace(0.6, 4.5, C)) if roi is None else np.asarray(roi, float)
    if median.shape != (C,) or np.any(median <= 0):
        raise ValueError(f"roi must be {C} positive numbers")
    log_roi = np.log(median)
    roi_g = np.exp(log_roi[None, :] + float(roi_sd) * rng.standard_normal((G, C)))
    mean_spend = spend.mean(axis=1)  # (G, C)
    idx = np.arange(T, dtype=np.float64)
    # the design's target unit is 1 (money): media and baseline come out in money
    design = GeoDesign(spend=x, t=idx / (T - 1), fourier=fourier_terms(idx, per_year, order),
                       controls=np.zeros((G, T, K)), changepoints=np.zeros(0),
                       roi_to_effect=mean_spend)  # fmt: skip
    zero = {"intercept": np.zeros(G), "trend_slope": np.zeros(G),
            "season": np.zeros((G, 2 * order)), "control_coef": np.zeros((G, K))}  # fmt: skip
    params = {**kernels, "media_roi": roi_g, **zero}
    media_mean = _x64(functools.partial(geo_components, spec), params, design).media
    media_mean = media_mean.sum(axis=2).mean(axis=1)  # (G,)

    # ---- baseline: national shares plus geo deviations ----
    base = media_mean * (1 - media_share) / media_share * np.exp(rng.normal(0.0, 0.15, G))
    trend = rng.choice([-1.0, 1.0]) * rng.uniform(0.05, 0.2) + 0.04 * rng.standard_normal(G)
    if order > 0:
        k = np.arange(1, order + 1)
        phase, amp = rng.uniform(0, 2 * np.pi, order), 0.08 / k
        national_season = np.concatenate([amp * np.cos(phase), amp * np.sin(phase)])
        season = national_season + 0.015 * rng.standard_normal((G, 2 * order))
    else:
        season = np.zeros((G, 0))
    controls = np.stack([_ar1(rng, T, 0.6, K) for _ in range(G)]) if K else np.zeros((G, T, 0))
    controls = np.round(controls, 4)
    std = controls.std(axis=1, keepdims=True)
    z_std = (controls - controls.mean(axis=1, keepdims=True)) / np.where(std > 0, std, 1.0)
    coef = rng.choice([-1.0, 1.0], K) * rng.uniform(0.02, 0.05, K)
    coef = coef + 0.01 * rng.standard_normal((G, K))

    # ---- the geo model's mean function, in money (shares of base re-expressed in money) ----
    params.update(intercept=base + media_mean, trend_slope=base * trend,
                  season=base[:, None] * season, control_coef=base[:, None] * coef)  # fmt: skip
    comp = _x64(functools.partial(geo_components, spec), params, design._replace(controls=z_std))
    contrib = comp.media  # (G, T, C)
    baseline = comp.intercept + comp.trend + comp.seasonality + comp.controls

    # ---- noise and target ----
    clean = baseline + contrib.sum(axis=2)
    sigma = float(noise) * clean.mean(axis=1)
    target = np.round(clean + sigma[:, None] * rng.standard_normal((G, T)), 2)
    if np.any(target <= 0):
        raise ValueError("the simulated target is not positive everywhere; lower `noise`")
    eps = target - baseline - contrib.sum(axis=2)

    # ---- truth ----
    total = shape.sum(axis=1)  # (G, C), > 0: every pair has spend
    beta = contrib.sum(axis=1) / total
    slope = _saturation_slope(spec, kernels, mean_spend / spend_unit)  # (G, C)
    mroi = beta * slope / spend_unit
    share = spend.sum(axis=1) / spend.sum(axis=(0, 1))
    truth_params: dict[str, Any] = {
        "adstock": adstock,
        "saturation": saturation,
        "l_max": int(l_max),
        "seasonality": order,
        "periods_per_year": float(per_year),
        "channels": channels,
        "geos": geos,
        "spend_patterns": patterns,
        **a_params,
        **s_params,
        "unit": unit,
        "population": population,
        "log_roi": log_roi,
        "roi_sd": float(roi_sd),
        "roi": roi_g,
        "beta": beta,
        "base": base,
        "trend": trend,
        "season": season,
        "control_coef": coef,
        "sigma": sigma,
    }
    geo_index = pd.Index(geos, name=geo_name)
    truth = GeoTruth(
        params=truth_params,
        contributions=contrib,
        baseline=baseline,
        noise=eps,
        roi=pd.DataFrame(roi_g, index=geo_index, columns=channels),
        national_roi=pd.Series(
            contrib.sum(axis=(0, 1)) / spend.sum(axis=(0, 1)), index=channels, name="roi"
        ),
        mroi=pd.DataFrame(mroi, index=geo_index, columns=channels),
        national_mroi=pd.Series((share * mroi).sum(axis=0), index=channels, name="mroi"),
    )
    panel = GeoDataset(
        geos=geos,
        dates=dates,
        channels=channels,
        spend=spend,
        target=target,
        target_name=target_name,
        controls=controls,
        control_names=[f"control_{k + 1}" for k in range(K)],
        population=population,
        population_name="population",
        geo_name=geo_name,
        freq=freq,
        date_name=date_name,
    )
    return panel, truth


def _dates(start: str, n: int, step_days: int, name: str) -> pd.DatetimeIndex:
    dates = pd.date_range(start, periods=n, freq=f"{step_days}D", name=name).as_unit("ns")
    return pd.DatetimeIndex(dates, freq=None)  # as read from a file


def _default_names(n: int) -> list[str]:
    return [_CHANNEL_NAMES[c] if c < len(_CHANNEL_NAMES) else f"channel_{c + 1}" for c in range(n)]
