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

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from mmmjax import transforms
from mmmjax.data import PERIODS_PER_YEAR, Dataset
from mmmjax.model import ADSTOCK_PARAMS, SATURATION_PARAMS

__all__ = ["ADSTOCK_PARAMS", "SATURATION_PARAMS", "Truth", "simulate"]

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
# kernels in money, float64 (local x64 context; the global setting is never touched)
# --------------------------------------------------------------------------------------------


def _adstock(kind: str, x: np.ndarray, p: Mapping[str, Any], l_max: int) -> np.ndarray:
    with jax.enable_x64(True):
        arg = {k: jnp.asarray(p[k], dtype=jnp.float64) for k in ADSTOCK_PARAMS[kind]}
        y = transforms.apply_adstock(kind, jnp.asarray(x, dtype=jnp.float64), arg, l_max=l_max)
        return np.asarray(y, dtype=np.float64)


def _sat_fn(kind: str, p: Mapping[str, Any]):
    arg = {k: jnp.asarray(p[k], dtype=jnp.float64) for k in SATURATION_PARAMS[kind]}
    return lambda x: transforms.apply_saturation(kind, x, arg)


def _saturate(kind: str, x: np.ndarray, p: Mapping[str, Any]) -> np.ndarray:
    with jax.enable_x64(True):
        return np.asarray(_sat_fn(kind, p)(jnp.asarray(x, dtype=jnp.float64)), dtype=np.float64)


def _saturation_slope(kind: str, s: np.ndarray, p: Mapping[str, Any]) -> np.ndarray:
    """``d sat_c(s_c) / d s_c`` for ``s`` ``(C,)`` (exact, by forward-mode autodiff)."""
    with jax.enable_x64(True):
        fn = _sat_fn(kind, p)
        sj = jnp.asarray(s, dtype=jnp.float64)[None, :]
        _, tangent = jax.jvp(fn, (sj,), (jnp.ones_like(sj),))
        return np.asarray(tangent[0], dtype=np.float64)


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
        sat = _saturate(self.params["saturation"], s, self.params)
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
        p = self.params
        beta, kind, l_max = np.asarray(p["beta"]), p["adstock"], int(p["l_max"])
        contrib = [
            beta * _saturate(p["saturation"], _adstock(kind, x, p, l_max), p)
            for x in (spend, changed)
        ]
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
    rng = np.random.default_rng([seed, 8_317])  # its own stream: other draws are unchanged
    return idx, _ar1(rng, n, 0.8)[:, 0]


# --------------------------------------------------------------------------------------------
# simulate
# --------------------------------------------------------------------------------------------


def simulate(
    n_periods: int = 156,
    n_channels: int = 5,
    *,
    freq: str = "W",
    start: str = "2021-01-03",
    adstock: str = "geometric",
    saturation: str = "hill",
    adstock_params: Mapping[str, Any] | None = None,
    saturation_params: Mapping[str, Any] | None = None,
    betas: Sequence[float] | None = None,
    roi: Sequence[float] | None = None,
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
    target_name: str = "revenue",
    date_name: str = "date",
) -> tuple[Dataset, Truth]:
    """Simulate a marketing-mix data set with known ground truth (see the module docstring).

    Defaults give three years of weekly data, five channels spending a few thousand to tens of
    thousands per week, ROIs spread between about 0.6 and 4.5 and media explaining about 30%
    of the target. Deterministic for a given ``seed`` (one ``numpy.random.Generator``).

    Args:
        n_periods: ``T``, number of periods.
        n_channels: ``C``, number of media channels.
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
        roi: ``(C,)`` target ROIs when ``betas`` is not given; default a random permutation
            of ``geomspace(0.6, 4.5, C)``.
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
        target_name, date_name: column names.

    Returns:
        ``(dataset, truth)``: a :class:`~mmmjax.data.Dataset` (spend and target in money,
        rounded to cents) and its :class:`Truth`.

    Example:
        >>> ds, truth = simulate(seed=3)
        >>> bool(np.allclose(truth.contributions.sum(axis=1) + truth.baseline + truth.noise,
        ...                  ds.target))
        True
    """
    if freq not in PERIODS_PER_YEAR:
        raise ValueError(f"freq must be 'W' or 'D'; got {freq!r}")
    if adstock not in ADSTOCK_PARAMS:
        raise ValueError(f"adstock must be one of {tuple(ADSTOCK_PARAMS)}; got {adstock!r}")
    if saturation not in SATURATION_PARAMS:
        raise ValueError(
            f"saturation must be one of {tuple(SATURATION_PARAMS)}; got {saturation!r}"
        )
    if trend not in ("linear", "none"):
        raise ValueError(f"trend must be 'linear' or 'none'; got {trend!r}")
    if n_periods < 2 or n_channels < 1:
        raise ValueError("need n_periods >= 2 and n_channels >= 1")
    if not 0.0 < media_share < 1.0:
        raise ValueError("media_share must be in (0, 1)")

    rng = np.random.default_rng(seed)
    T, C, K, E = int(n_periods), int(n_channels), int(n_controls), int(n_events)
    per_year = PERIODS_PER_YEAR[freq]
    step_days = 7 if freq == "W" else 1
    dates = pd.date_range(start, periods=T, freq=f"{step_days}D", name=date_name).as_unit("ns")
    dates = pd.DatetimeIndex(dates, freq=None)  # as read from a file

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

    # ---- media ----
    a_defaults = {
        "alpha": rng.uniform(0.2, 0.7, C) if adstock == "geometric" else rng.uniform(0.3, 0.7, C),
        "theta": rng.uniform(0.0, min(3.0, l_max - 1), C),
        "weibull_shape": rng.uniform(1.5, 3.0, C)
        if adstock == "weibull_pdf"
        else rng.uniform(0.7, 1.5, C),
        "weibull_scale": rng.uniform(1.5, 4.0, C)
        if adstock == "weibull_pdf"
        else rng.uniform(1.0, 3.0, C),
    }
    a_params = _fill_params(adstock_params, ADSTOCK_PARAMS[adstock], a_defaults, C, "adstock")
    s_defaults = {
        "half_saturation": (
            rng.uniform(0.6, 1.8, C) if saturation == "hill" else rng.uniform(0.5, 2.0, C)
        )
        * spend_mean,
        "slope": rng.uniform(1.0, 2.5, C),
        "lam": rng.uniform(0.5, 3.0, C) / spend_mean,
        "tanh_scale": rng.uniform(0.5, 2.0, C) * spend_mean,
    }
    s_params = _fill_params(
        saturation_params, SATURATION_PARAMS[saturation], s_defaults, C, "saturation"
    )
    level = _adstock(adstock, spend, a_params, l_max)
    shape = _saturate(saturation, level, s_params)  # (T, C), dimensionless in [0, 1)
    if betas is None:
        target_roi = (
            rng.permutation(np.geomspace(0.6, 4.5, C))
            if roi is None
            else _per_channel(roi, C, "roi")
        )
        beta = target_roi * spend.sum(axis=0) / shape.sum(axis=0)
    else:
        beta = _per_channel(betas, C, "betas")
    contrib = beta * shape
    media_total = contrib.sum(axis=1)

    # ---- baseline ----
    base_mean = float(media_total.mean()) * (1.0 - media_share) / media_share
    idx = np.arange(T, dtype=np.float64)
    t01 = idx / (T - 1)
    trend_slope = (
        float(rng.choice([-1.0, 1.0]) * rng.uniform(0.05, 0.2) * base_mean)
        if trend == "linear"
        else 0.0
    )
    intercept = base_mean - trend_slope / 2
    order = int(seasonality)
    if order > 0:
        k = np.arange(1, order + 1)
        angle = 2 * np.pi * idx[:, None] * k[None, :] / per_year
        fourier = np.concatenate([np.sin(angle), np.cos(angle)], axis=1)
        amp = base_mean * 0.08 / k
        phase = rng.uniform(0, 2 * np.pi, order)
        season = np.concatenate([amp * np.cos(phase), amp * np.sin(phase)])
    else:
        fourier, season = np.zeros((T, 0)), np.zeros(0)
    z, signs = _controls(rng, T, ctrl_names)
    z_mean, z_std = z.mean(axis=0), z.std(axis=0)
    z_std = np.where(z_std > 0, z_std, 1.0)
    control_coef = signs * rng.uniform(0.02, 0.05, K) * base_mean
    events = _events(rng, T, E, per_year)
    event_coef = rng.uniform(0.05, 0.15, E) * base_mean
    parts = pd.DataFrame(
        {
            "intercept": np.full(T, intercept),
            "trend": trend_slope * t01,
            "seasonality": fourier @ season,
            "controls": ((z - z_mean) / z_std) @ control_coef,
            "events": events @ event_coef,
        },
        index=dates,
    )
    if confounded is not None:  # unobserved: not in the dataset, only in the truth
        parts["demand"] = 0.05 * float(confound_strength) * base_mean * demand
    baseline = parts.sum(axis=1).to_numpy()

    # ---- noise and target ----
    clean = baseline + media_total
    sigma = float(noise) * float(clean.mean())
    target = np.round(clean + rng.normal(0.0, sigma, T), 2)
    if np.any(target <= 0):
        raise ValueError("the simulated target is not positive everywhere; lower `noise`")
    eps = target - baseline - media_total

    # ---- truth ----
    sat_at_mean = _saturate(saturation, spend_mean[None, :], s_params)[0]
    mroi = beta * _saturation_slope(saturation, spend_mean, s_params)
    params: dict[str, Any] = {
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


def _default_names(n: int) -> list[str]:
    return [_CHANNEL_NAMES[c] if c < len(_CHANNEL_NAMES) else f"channel_{c + 1}" for c in range(n)]
