"""How well does a fit describe the data, and would a simpler model do as well?

Point metrics of the posterior mean prediction (R², MAPE, NRMSE), calibration of the posterior
predictive (interval coverage, CRPS), out-of-sample checks (a holdout and rolling-origin
cross-validation), a ridge regression on adstocked spend as a baseline to beat, and variance
inflation factors that warn when channels move together too closely to be told apart.

Everything is plain NumPy on arrays in money; the only model code called is ``spec.fit`` and
``Fit.predict``.

Example:
    >>> metrics = in_sample(fit)                      # R², MAPE, NRMSE, coverage, CRPS
    >>> ho = holdout(mmmjax.MMM(), data, n_test=13, draws=500, warmup=500)
    >>> ho.mape, ho.crps
    >>> ridge_baseline(data, n_test=13).r2_out
    >>> vif_warnings(vif(data))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mmmjax.insights import INTERVAL_QUANTILES

__all__ = [
    "Holdout",
    "Metrics",
    "Ridge",
    "coverage",
    "crps",
    "holdout",
    "in_sample",
    "mape",
    "nrmse",
    "r2",
    "ridge_baseline",
    "rolling_cv",
    "score",
    "vif",
    "vif_warnings",
]

#: Central posterior predictive intervals whose coverage is reported.
LEVELS = (0.5, 0.94)
#: Variance inflation factor above which a channel is flagged.
VIF_THRESHOLD = 10.0


# ----------------------------------------------------------------------------------------------
# point metrics and calibration (pure functions of arrays)
# ----------------------------------------------------------------------------------------------
def r2(y: np.ndarray, yhat: np.ndarray) -> float:
    """Coefficient of determination ``1 - sum((y - yhat)^2) / sum((y - mean(y))^2)``.

    Args:
      y: ``(T,)`` observed values.
      yhat: ``(T,)`` predictions, same units.

    Returns:
      A float, 1 for a perfect prediction; negative when worse than the mean of ``y``
      (NaN when ``y`` is constant).
    """
    y, yhat = _pair(y, yhat)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if ss_tot == 0.0:
        return float("nan")
    return 1.0 - float(np.sum((y - yhat) ** 2)) / ss_tot


def mape(y: np.ndarray, yhat: np.ndarray) -> float:
    """Mean absolute percentage error ``mean(|y - yhat| / |y|)`` as a fraction (0.05 = 5%).

    Periods with ``y == 0`` are left out (NaN if every period is zero).
    """
    y, yhat = _pair(y, yhat)
    keep = y != 0
    if not keep.any():
        return float("nan")
    return float(np.mean(np.abs(y[keep] - yhat[keep]) / np.abs(y[keep])))


def nrmse(y: np.ndarray, yhat: np.ndarray) -> float:
    """Root mean squared error over the observed range, ``rmse / (max(y) - min(y))``.

    The range normalisation (as in Robyn) makes the number comparable across targets; NaN when
    ``y`` is constant.
    """
    y, yhat = _pair(y, yhat)
    span = float(y.max() - y.min())
    if span == 0.0:
        return float("nan")
    return float(np.sqrt(np.mean((y - yhat) ** 2))) / span


def crps(draws: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Continuous ranked probability score of predictive draws, per period (energy form).

    ``CRPS(F, y) = E|X - y| - 0.5 E|X - X'|`` with ``X, X'`` independent draws from ``F``,
    evaluated exactly for the empirical distribution of the draws. The second term uses the
    sorted draws, ``E|X - X'| = 2 / S^2 * sum_i (2i - S - 1) x_(i)`` (``i = 1..S``), so the cost
    is ``O(S log S)`` per period with no ``S x S`` matrix. Lower is better; for a point mass it
    is the absolute error, and it is in the units of ``y`` (money).

    Args:
      draws: ``(S, T)`` predictive draws (``S`` draws of ``T`` periods; ``(S, G, T)`` for a
        panel).
      y: ``(T,)`` observed values (``(G, T)``).

    Returns:
      ``(T,)`` CRPS per period (``(G, T)``); average it for one score.
    """
    x = np.asarray(draws, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.shape[1:] != y.shape:
        raise ValueError(f"draws {x.shape} and y {y.shape} disagree on the number of periods")
    S = x.shape[0]
    spread_to_obs = np.abs(x - y[None]).mean(axis=0)
    weights = (2.0 * np.arange(1, S + 1) - S - 1).reshape((S,) + (1,) * y.ndim)
    pairwise = 2.0 / S**2 * np.sum(weights * np.sort(x, axis=0), axis=0)
    return spread_to_obs - 0.5 * pairwise


def coverage(draws: np.ndarray, y: np.ndarray, levels: Sequence[float] = LEVELS) -> dict:
    """Share of observed values inside central (equal-tailed) predictive intervals.

    Args:
      draws: ``(S, T)`` predictive draws.
      y: ``(T,)`` observed values.
      levels: interval masses, e.g. ``(0.5, 0.94)``.

    Returns:
      ``{level: share}`` with shares in ``[0, 1]``; a calibrated model gives about ``level``.
    """
    x = np.asarray(draws, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    out = {}
    for level in levels:
        lo, hi = np.quantile(x, [(1 - level) / 2, 1 - (1 - level) / 2], axis=0)
        out[float(level)] = float(np.mean((y >= lo) & (y <= hi)))
    return out


def _pair(y, yhat) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    yhat = np.asarray(yhat, dtype=np.float64).reshape(-1)
    if y.shape != yhat.shape:
        raise ValueError(f"y {y.shape} and yhat {yhat.shape} must have the same length")
    if y.size == 0:
        raise ValueError("need at least one period")
    return y, yhat


# ----------------------------------------------------------------------------------------------
# in-sample fit
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Metrics:
    """Fit quality over some periods.

    Attributes:
      r2, mape, nrmse: of the posterior mean prediction (MAPE and NRMSE as fractions).
      coverage_50, coverage_94: share of periods inside the 50% / 94% predictive intervals.
      crps: mean CRPS of the posterior predictive, money per period.
      n_periods: how many periods were scored.
    """

    r2: float
    mape: float
    nrmse: float
    coverage_50: float
    coverage_94: float
    crps: float
    n_periods: int

    def to_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def score(y: np.ndarray, mean_draws: np.ndarray, predictive_draws: np.ndarray) -> Metrics:
    """:class:`Metrics` of observations ``y`` ``(T,)`` against mean-function draws ``(S, T)``
    (point metrics use their average over draws) and predictive draws ``(S', T)``."""
    y = np.asarray(y, dtype=np.float64)
    point = np.asarray(mean_draws, dtype=np.float64).mean(axis=0)
    cov = coverage(predictive_draws, y, LEVELS)
    return Metrics(
        r2=r2(y, point),
        mape=mape(y, point),
        nrmse=nrmse(y, point),
        coverage_50=cov[0.5],
        coverage_94=cov[0.94],
        crps=float(crps(predictive_draws, y).mean()),
        n_periods=int(y.size),
    )


def in_sample(fit) -> Metrics:
    """:class:`Metrics` of a fit on its own training periods.

    Point metrics use the posterior mean of ``fit.predict(kind="mean")``; coverage and CRPS use
    the stored posterior predictive (``idata.posterior_predictive["target"]``) when present,
    else ``fit.predict()``.
    """
    y = np.asarray(fit.dataset.target, dtype=np.float64)
    return score(y, fit.predict(kind="mean"), _posterior_predictive(fit))


def _posterior_predictive(fit) -> np.ndarray:
    pp = getattr(fit.idata, "posterior_predictive", None)
    if pp is not None and "target" in pp:
        arr = np.asarray(pp["target"].values, dtype=np.float64)
        return arr.reshape(-1, *np.shape(fit.dataset.target))  # (S, T), or (S, G, T) for a panel
    return fit.predict()


# ----------------------------------------------------------------------------------------------
# out of sample
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Holdout:
    """A fit on the first periods scored on the periods that follow.

    Attributes:
      n_train, n_test: periods used to fit and to score.
      metrics: :class:`Metrics` on the test periods (out-of-sample MAPE, CRPS, coverage...).
      dates: ``(n_test,)`` test dates.
      actual: ``(n_test,)`` observed target (money).
      mean, low, high: ``(n_test,)`` forecast mean and 94% predictive interval (money).
      fit: the :class:`~mmmjax.Fit` on the training periods.
    """

    n_train: int
    n_test: int
    metrics: Metrics
    dates: pd.DatetimeIndex
    actual: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    fit: Any = field(default=None, repr=False, compare=False)

    @property
    def mape(self) -> float:
        """Out-of-sample MAPE (fraction)."""
        return self.metrics.mape

    @property
    def crps(self) -> float:
        """Out-of-sample mean CRPS (money per period)."""
        return self.metrics.crps


def holdout(spec, dataset, n_test: int, **fit_kwargs: Any) -> Holdout:
    """Fit ``spec`` on all but the last ``n_test`` periods and forecast those.

    The test periods directly follow the training ones, so ``Fit.predict`` carries the training
    spend's adstock into them; trend and seasonality are extrapolated.

    Args:
      spec: an :class:`~mmmjax.MMM` (anything with ``fit(dataset, **kwargs) -> Fit``).
      dataset: the full :class:`~mmmjax.Dataset`.
      n_test: number of final periods held out (at least 1, fewer than the data).
      **fit_kwargs: passed to ``spec.fit`` (e.g. ``chains``, ``draws``, ``warmup``, ``seed``);
        ``progress`` defaults to False.

    Returns:
      :class:`Holdout` with out-of-sample metrics and the forecast.
    """
    T = dataset.n_periods
    n_test = int(n_test)
    if not 1 <= n_test < T:
        raise ValueError(f"n_test must be between 1 and {T - 1} for {T} periods, got {n_test}")
    fit_kwargs.setdefault("progress", False)
    train, test = dataset.slice(0, T - n_test), dataset.slice(T - n_test, T)
    fitted = spec.fit(train, **fit_kwargs)
    mean_draws = fitted.predict(test, kind="mean")
    pred = fitted.predict(test, kind="predictive", seed=int(fit_kwargs.get("seed", 0)) + 7)
    lo, hi = np.quantile(pred, INTERVAL_QUANTILES, axis=0)
    return Holdout(
        n_train=T - n_test,
        n_test=n_test,
        metrics=score(test.target, mean_draws, pred),
        dates=test.dates,
        actual=np.asarray(test.target, dtype=np.float64),
        mean=mean_draws.mean(axis=0),
        low=lo,
        high=hi,
        fit=fitted,
    )


def rolling_cv(spec, dataset, n_folds: int, horizon: int, **fit_kwargs: Any) -> pd.DataFrame:
    """Rolling-origin cross-validation: refit on growing windows, forecast ``horizon`` ahead.

    Fold ``k`` (``k = 0..n_folds-1``) trains on periods ``[0, o_k)`` with
    ``o_k = T - (n_folds - k) * horizon`` and scores periods ``[o_k, o_k + horizon)``, so the
    last fold's test window ends at the last period and the folds do not overlap.

    Args:
      spec: an :class:`~mmmjax.MMM`.
      dataset: the full :class:`~mmmjax.Dataset`.
      n_folds: number of origins (refits).
      horizon: periods forecast per fold.
      **fit_kwargs: passed to ``spec.fit``.

    Returns:
      DataFrame indexed by ``fold`` with ``train_end`` (last training date), ``n_train``,
      ``mape``, ``crps`` (money per period), ``r2`` and ``coverage_94``.
    """
    n_folds, horizon = int(n_folds), int(horizon)
    if n_folds < 1 or horizon < 1:
        raise ValueError(f"n_folds and horizon must be positive, got {n_folds} and {horizon}")
    T = dataset.n_periods
    first_origin = T - n_folds * horizon
    if first_origin < 1:
        raise ValueError(
            f"{n_folds} folds of {horizon} periods need more than {n_folds * horizon} periods; "
            f"the data has {T}"
        )
    rows = []
    for k in range(n_folds):
        origin = first_origin + k * horizon
        ho = holdout(spec, dataset.slice(0, origin + horizon), horizon, **fit_kwargs)
        m = ho.metrics
        rows.append({
            "fold": k,
            "train_end": dataset.dates[origin - 1],
            "n_train": origin,
            "mape": m.mape,
            "crps": m.crps,
            "r2": m.r2,
            "coverage_94": m.coverage_94,
        })  # fmt: skip
    return pd.DataFrame(rows).set_index("fold")


# ----------------------------------------------------------------------------------------------
# a ridge regression on adstocked spend, as a baseline to beat
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ridge:
    """A ridge regression of the target on geometrically adstocked spend (and controls).

    Attributes:
      coef: ``pandas.Series`` by channel: extra target per unit of (normalised) adstocked spend,
        money per money (a linear model's ROI).
      intercept: money per period.
      decay: the geometric adstock rate chosen (shared by all channels).
      alpha: the ridge penalty chosen (on standardised columns).
      r2_in, mape_in: on the training periods.
      r2_out, mape_out: on the last ``n_test`` periods (NaN when ``n_test == 0``).
      n_test: held-out periods.
    """

    coef: pd.Series
    intercept: float
    decay: float
    alpha: float
    r2_in: float
    mape_in: float
    r2_out: float
    mape_out: float
    n_test: int


def geometric_adstock_np(x: np.ndarray, decay: float) -> np.ndarray:
    """Normalised geometric adstock of ``x`` ``(T, C)``: ``y[t] = (1-d) x[t] + d y[t-1]``.

    Sustained spend ``s`` settles at ``s``, so a coefficient on ``y`` is a steady-state ROI.
    (A NumPy twin of the JAX kernel, for the closed-form baseline.)
    """
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    carry = np.zeros(x.shape[1:])
    for t in range(x.shape[0]):  # T is small; this runs once per grid point
        carry = (1.0 - decay) * x[t] + decay * carry
        out[t] = carry
    return out


def _design(dataset, decay: float, seasonality: int, trend: bool) -> np.ndarray:
    T = dataset.n_periods
    cols = [geometric_adstock_np(dataset.spend, decay)]
    if dataset.n_controls:
        cols.append(np.asarray(dataset.controls, dtype=np.float64))
    t = np.arange(T, dtype=np.float64)
    if trend:
        cols.append(t[:, None] / max(T - 1, 1))
    if seasonality:
        k = np.arange(1, seasonality + 1)
        angle = 2 * np.pi * t[:, None] * k[None] / dataset.periods_per_year
        cols += [np.sin(angle), np.cos(angle)]
    return np.concatenate(cols, axis=1)


def _ridge_solve(X: np.ndarray, y: np.ndarray, alpha: float):
    """Ridge on standardised columns, intercept unpenalised.

    Returns ``(beta, intercept, loo_mse)`` with ``beta`` in the units of ``X``'s columns and the
    exact leave-one-out mean squared error from the hat matrix (``e_i / (1 - h_ii)``).
    """
    mu, sd = X.mean(0), X.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    Z = (X - mu) / sd
    ybar = y.mean()
    A = Z.T @ Z + alpha * np.eye(Z.shape[1])
    b = np.linalg.lstsq(A, Z.T @ (y - ybar), rcond=None)[0]
    beta = b / sd
    intercept = ybar - mu @ beta
    resid = y - (X @ beta + intercept)
    hat = np.einsum("ij,ji->i", Z, np.linalg.pinv(A) @ Z.T) + 1.0 / y.size
    loo = resid / np.clip(1.0 - hat, 1e-9, None)
    return beta, float(intercept), float(np.mean(loo**2))


def ridge_baseline(
    dataset,
    *,
    n_test: int = 0,
    alpha_grid: Sequence[float] = (0.0, 0.01, 0.1, 1.0, 10.0),
    decay_grid: Sequence[float] = (0.0, 0.2, 0.4, 0.6, 0.8),
    seasonality: int = 2,
    trend: bool = True,
) -> Ridge:
    """Ridge regression on adstocked spend: the simple model a Bayesian MMM should beat.

    The target is regressed on normalised geometric adstock of each channel's spend, the controls,
    a linear trend and ``seasonality`` yearly Fourier pairs. One decay (shared by all channels)
    and the ridge penalty (on standardised columns; the intercept is not penalised) are chosen
    from the grids by exact leave-one-out error on the training periods; each fit is closed
    form (NumPy, no sampling). Adstock runs over the whole series, so test periods receive the
    carryover of training spend, as in :func:`holdout`.

    Args:
      dataset: a :class:`~mmmjax.Dataset`.
      n_test: final periods held out for out-of-sample R² and MAPE (0 for none).
      alpha_grid: ridge penalties to try (0 is ordinary least squares).
      decay_grid: geometric adstock rates to try, each in ``[0, 1)``.
      seasonality: Fourier order of yearly seasonality (0 for none).
      trend: include a linear trend.

    Returns:
      :class:`Ridge` with per-channel coefficients (money per money) and in/out-of-sample R², MAPE.
    """
    T = dataset.n_periods
    n_test = int(n_test)
    if not 0 <= n_test < T - 2:
        raise ValueError(f"n_test must be between 0 and {T - 3} for {T} periods, got {n_test}")
    y = np.asarray(dataset.target, dtype=np.float64)
    n_train = T - n_test
    best = None
    for decay in decay_grid:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decays must be in [0, 1), got {decay}")
        X = _design(dataset, float(decay), int(seasonality), bool(trend))
        for alpha in alpha_grid:
            beta, b0, loo = _ridge_solve(X[:n_train], y[:n_train], float(alpha))
            if best is None or loo < best[0] - 1e-12 * abs(best[0]):
                best = (loo, float(decay), float(alpha), beta, b0, X)
    _, decay, alpha, beta, b0, X = best
    yhat = X @ beta + b0
    C = dataset.n_channels
    test = slice(n_train, None)
    r2_out = r2(y[test], yhat[test]) if n_test else float("nan")
    mape_out = mape(y[test], yhat[test]) if n_test else float("nan")
    return Ridge(
        coef=pd.Series(beta[:C], index=pd.Index(dataset.channels, name="channel"), name="coef"),
        intercept=b0,
        decay=decay,
        alpha=alpha,
        r2_in=r2(y[:n_train], yhat[:n_train]),
        mape_in=mape(y[:n_train], yhat[:n_train]),
        r2_out=r2_out,
        mape_out=mape_out,
        n_test=n_test,
    )


# ----------------------------------------------------------------------------------------------
# collinearity of the media inputs
# ----------------------------------------------------------------------------------------------
def vif(dataset) -> pd.Series:
    """Variance inflation factor of each channel's spend given the other channels' spend.

    ``VIF_c = 1 / (1 - R²_c)`` where ``R²_c`` is from regressing channel ``c``'s spend on the
    others (with an intercept). 1 means unrelated to the others; above about 10 the data can
    hardly tell the channels apart. Infinite for an exact linear combination; NaN for a channel
    with constant spend.

    Args:
      dataset: a :class:`~mmmjax.Dataset` (or anything with ``spend`` ``(T, C)`` and
        ``channels``).

    Returns:
      ``pandas.Series`` indexed by channel.
    """
    X = np.asarray(dataset.spend, dtype=np.float64)
    T, C = X.shape
    out = np.full(C, np.nan)
    Xc = X - X.mean(0)
    for c in range(C):  # C is a handful of channels
        yc = Xc[:, c]
        ss = float(yc @ yc)
        if ss <= 1e-12 * max(float(np.abs(X[:, c]).max()) ** 2, 1.0) * T:
            continue
        others = np.delete(Xc, c, axis=1)
        if others.shape[1] == 0:
            out[c] = 1.0
            continue
        coef = np.linalg.lstsq(others, yc, rcond=None)[0]
        resid = yc - others @ coef
        unexplained = float(resid @ resid) / ss
        out[c] = np.inf if unexplained < 1e-12 else 1.0 / unexplained
    return pd.Series(out, index=pd.Index(list(dataset.channels), name="channel"), name="vif")


def vif_warnings(vifs: pd.Series, threshold: float = VIF_THRESHOLD) -> list[str]:
    """Plain-language warnings for channels whose VIF exceeds ``threshold`` or is undefined."""
    msgs = []
    for ch, v in vifs.items():
        if np.isnan(v):
            msgs.append(
                f"{ch}: spend never changes, so its effect cannot be told apart from the "
                "baseline; its ROI comes from the prior alone."
            )
        elif v > threshold:
            level = "moves in lockstep with" if np.isinf(v) else "moves closely with"
            msgs.append(
                f"{ch}: spend {level} other channels (VIF {v:.1f} > {threshold:g}); the data "
                "can hardly separate its effect from theirs, so its ROI leans on the prior. "
                "Vary its spend independently (a test or flighting) to learn more."
            )
    return msgs
