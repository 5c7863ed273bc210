"""Refreshing a fit when new periods arrive: the previous posterior becomes the new prior.

:func:`refresh_fit` (``Fit.refresh``) refits on a dataset that extends the previous fit's data
(same channels, controls and events; the previous dates a prefix of the new ones, or the new
window starting inside the old one and ending later). Two things carry over:

* **Scales.** The data are scaled by the previous fit's :class:`~mmmjax.Scales` (its mean spend
  per channel, mean target and control standardisation), not by the new window's means, so every
  parameter measured in those units (half-saturation in units of the old mean spend, control
  effects per old standard deviation, noise and seasonality as shares of the old mean target)
  means the same in both fits.
* **Priors.** Each parameter's prior is moment-matched to the previous posterior draws, in the
  family its support calls for, with the spread multiplied by ``widen`` (default 2)::

      real support (coefficients, seasonality):    Normal(mean(x), widen * sd(x))
      positive (ROI, saturation, scales, noise):   LogNormal(mean(log x), widen * sd(log x))
      unit interval (carryover rate alpha):        Beta with mean(x) and variance widen^2 var(x)
                                                   (concentration at least 1)

  per element (per channel, per control, per Fourier term), but never wider than the
  specification's own prior for that parameter (unless the posterior is): a parameter the
  data did not inform keeps about its original prior instead of a vaguer one. ``widen > 1``
  lets parameters drift and limits double counting: the new likelihood covers every period of
  the new dataset, including the ones the previous fit saw, so those periods count about
  ``1 + 1 / widen**2`` times (1.25 at the default) instead of twice. ``widen = 1`` is the
  plain posterior-as-prior.

  Two adjustments keep the meaning exact. ``media_roi`` is normalised by the scale's mean spend
  (see :mod:`mmmjax.model`): with the old scale and a new window whose mean spend is ``m_new``,
  the sampled value is ``ROI * m_new / m_old``, so the prior's draws are the old ROI draws times
  that ratio. When the new window starts ``k`` periods later, the seasonality's Fourier
  coefficients are rotated by ``2 pi j k / P`` (order ``j``, ``P`` periods a year) so they
  describe the same yearly curve from the new origin.

  The baseline's level and trend (``intercept``, ``trend_slope``, ``trend_delta``) keep the
  specification's priors: they describe the data window (its mean level, its change from start
  to end, changepoints over its first 80%), which a refresh changes.

Lift tests of the previous fit are already in its posterior, so they are not applied again;
pass new ones with ``lift_tests=``. Overlapping periods may hold revised values (restated
sales): the new dataset's values are used.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
from numpyro.distributions import constraints

from mmmjax import seeds
from mmmjax.data import Dataset
from mmmjax.errors import DataError
from mmmjax.insights import roi
from mmmjax.model.priors import Prior

__all__ = [
    "RESET_SITES",
    "check_extends",
    "check_widen",
    "matched_prior",
    "posterior_priors",
    "refresh_fit",
    "refresh_provenance",
    "roi_changes",
    "rotate_season",
]

#: Sites whose prior is not carried over: they describe the data window (see module docstring).
RESET_SITES = ("intercept", "trend_slope", "trend_delta")

_SD_FLOOR = 1e-4  # a parameter with (nearly) constant draws still gets a proper prior


def check_extends(old, new) -> int:
    """Check that ``new`` extends ``old``; returns ``k``, the index of ``new``'s first date in
    ``old`` (0 when ``old``'s dates are a prefix of ``new``'s).

    ``old`` and ``new`` are both :class:`~mmmjax.Dataset` s or both
    :class:`~mmmjax.geo.GeoDataset` s (panels must also hold the same geos, in the same order).

    Raises:
      DataError: naming what differs: geos, channels, controls or events, frequency, or dates
        (a new window that starts before the old one, does not overlap it, is off its grid, or
        holds no period after its last date).
    """
    if type(new) is not type(old):
        raise TypeError(
            f"refresh of a fit on an {type(old).__name__} needs an {type(old).__name__}, got "
            f"{type(new).__name__}"
        )
    names = [("geos", getattr(old, "geos", []), getattr(new, "geos", []))]
    names += [
        ("channels", old.channels, new.channels),
        ("controls", old.control_names, new.control_names),
        ("events", getattr(old, "event_names", []), getattr(new, "event_names", [])),
    ]
    for what, a, b in names:
        if list(a) != list(b):
            gone = [x for x in a if x not in b]
            added = [x for x in b if x not in a]
            detail = f"missing {gone}" if gone else ""
            detail += ("; " if gone and added else "") + (f"new {added}" if added else "")
            raise DataError(
                f"refresh: the new data's {what} {list(b)} differ from the previous fit's "
                f"{list(a)} ({detail or 'same names in another order'}); a refresh needs the same"
            )
    if old.period != new.period:
        raise DataError(
            f"refresh: column {new.date_name!r}: the new data are {new.freq or new.period} "
            f"periods, the previous fit's {old.freq or old.period}"
        )
    first, last = new.dates[0], old.dates[-1]
    if first < old.dates[0]:
        raise DataError(
            f"refresh: column {new.date_name!r}: the new data start {first.date()}, before the "
            f"previous fit's first date {old.dates[0].date()}"
        )
    if first > last:
        raise DataError(
            f"refresh: column {new.date_name!r}: the new data start {first.date()}, after the "
            f"previous fit's last date {last.date()}; include the previous periods (or overlap "
            "them) so the carryover and the window ROI are measured over one series"
        )
    k = int(old.dates.get_indexer([first])[0])
    shared = old.dates[k:]
    if k < 0 or len(new.dates) < len(shared) or not new.dates[: len(shared)].equals(shared):
        raise DataError(
            f"refresh: column {new.date_name!r}: the new dates do not continue the previous "
            f"fit's dates from {first.date()} on (a date off the previous fit's grid, or a gap)"
        )
    if new.dates[-1] <= last:
        raise DataError(
            f"refresh: column {new.date_name!r}: the new data hold no period after the "
            f"previous fit's last date {last.date()}"
        )
    return k


def rotate_season(x: np.ndarray, shift: int, periods_per_year: float) -> np.ndarray:
    """Fourier coefficients ``(S, 2J)`` ``[sin_1..sin_J, cos_1..cos_J]`` for an origin moved
    ``shift`` periods later: ``s' = s cos(a) - c sin(a)``, ``c' = s sin(a) + c cos(a)`` with
    ``a = 2 pi j shift / P``, so that ``s' sin(w i) + c' cos(w i) = s sin(w (i + shift)) +
    c cos(w (i + shift))``."""
    J = x.shape[1] // 2
    a = 2 * np.pi * np.arange(1, J + 1) * shift / periods_per_year
    s, c = x[:, :J], x[:, J:]
    return np.concatenate([s * np.cos(a) - c * np.sin(a), s * np.sin(a) + c * np.cos(a)], axis=1)


def _plain(v: np.ndarray) -> float | list[float]:
    return float(v) if v.ndim == 0 else [float(x) for x in v]


def _spread(post: np.ndarray, prior: np.ndarray, widen: float) -> np.ndarray:
    """``widen`` times the posterior spread, but no wider than the original prior's (unless the
    posterior itself is): widening must not make a prior-dominated parameter vaguer than the
    prior the user (or the defaults) chose."""
    post = np.maximum(post, _SD_FLOOR)
    return np.minimum(widen * post, np.maximum(post, prior))


def matched_prior(base: Prior, x: np.ndarray, widen: float, seed: int = 0) -> Prior | None:
    """The moment-matched prior of draws ``x`` ``(S, ...)`` for a site whose prior is ``base``
    (the family its support calls for, spread ``widen`` times the posterior's, capped at the
    prior's; see the module docstring), per element; ``None`` for another support."""
    support = base.support
    x = np.asarray(x, dtype=np.float64)
    ref = base.sample_numpy(seeds.numpy_rng(seed, "prior_reference"), (4000, *x.shape[1:]))
    if support is constraints.real:
        sd = _spread(x.std(0), ref.std(0), widen)
        return Prior("Normal", loc=_plain(x.mean(0)), scale=_plain(sd))
    if support is constraints.positive:
        logx = np.log(np.maximum(x, 1e-30))
        sd = _spread(logx.std(0), np.log(np.maximum(ref, 1e-30)).std(0), widen)
        return Prior("LogNormal", loc=_plain(logx.mean(0)), scale=_plain(sd))
    if support is constraints.unit_interval:
        m = np.clip(x.mean(0), 1e-3, 1 - 1e-3)
        var = _spread(x.std(0), ref.std(0), widen) ** 2
        k = np.maximum(m * (1 - m) / var - 1.0, 1.0)
        return Prior("Beta", concentration1=_plain(m * k), concentration0=_plain((1 - m) * k))
    return None


def check_widen(widen: float) -> float:
    """``widen`` as a float; ``ValueError`` unless it is a number ``>= 1``."""
    if not (np.isfinite(widen) and widen >= 1.0):
        raise ValueError(f"widen must be a number >= 1, got {widen}")
    return float(widen)


def posterior_priors(fit, dataset: Dataset, *, widen: float = 2.0) -> dict[str, Prior]:
    """Priors for refitting ``fit``'s model on ``dataset`` in ``fit``'s scales, matched to its
    posterior (see the module docstring for the scheme).

    Args:
      fit: the previous :class:`~mmmjax.Fit`.
      dataset: the new data; must extend ``fit.dataset`` (:func:`check_extends`).
      widen: factor ``>= 1`` on each prior's spread (log-scale spread for positive parameters).

    Returns:
      ``{site: Prior}`` for every sampled site except :data:`RESET_SITES` (and any whose prior
      family has another support, e.g. ``Uniform``, which keep theirs), with per-element
      parameters as lists; usable as ``MMM(priors=...)``.
    """
    check_widen(widen)
    shift = check_extends(fit.dataset, dataset)
    base = fit.spec.resolved_priors(fit.channels)
    draws = fit.draws()
    out: dict[str, Prior] = {}
    for name, x in draws.items():
        if name in RESET_SITES or name not in base:
            continue
        x = np.asarray(x, dtype=np.float64)
        if name == "media_roi":
            m_new = np.asarray(dataset.spend, dtype=np.float64).mean(axis=0)
            m_old = np.asarray(fit.scales.spend, dtype=np.float64)
            x = x * np.where(m_new > 0, m_new / m_old, 1.0)
        if name == "season" and shift:
            x = rotate_season(x, shift, fit.axis.periods_per_year)
        prior = matched_prior(base[name], x, float(widen))
        if prior is not None:
            out[name] = prior
    return out


def refresh_fit(fit, dataset: Dataset, *, widen: float = 2.0, **fit_kwargs: Any):
    """Refit ``fit``'s model on ``dataset`` with ``fit``'s scales and its posterior as the prior.

    Args:
      fit: the previous :class:`~mmmjax.Fit` (national; :meth:`mmmjax.geo.GeoFit.refresh` for
        geo fits).
      dataset: its data plus new periods (see :func:`check_extends`).
      widen: spread factor of the carried-over priors (module docstring; 1 = plain
        posterior-as-prior, larger lets parameters drift more).
      **fit_kwargs: options of :func:`mmmjax.inference.fit.fit_model` (``chains``, ``draws``,
      ``seed``,
        new ``lift_tests``...).

    Returns:
      The new :class:`~mmmjax.Fit`, whose :attr:`~mmmjax.Fit.provenance` records the previous
      data window, ``widen`` and the previous ROI per channel (:func:`roi_changes` compares).

    Raises:
      DataError: ``dataset`` does not extend the previous fit's data (naming what differs).
    """
    if "scales" in fit_kwargs:
        raise TypeError("refresh keeps the previous fit's scales; do not pass scales=")
    if not isinstance(fit.dataset, Dataset):
        raise TypeError("refresh_fit refreshes national fits; GeoFit.refresh refreshes geo fits")
    priors = dict(fit.spec.priors or {})
    priors.update(posterior_priors(fit, dataset, widen=widen))
    spec = dataclasses.replace(fit.spec, priors=priors)
    new = spec.fit(dataset, scales=fit.scales, **fit_kwargs)
    return dataclasses.replace(new, provenance=refresh_provenance(fit, widen))


def refresh_provenance(fit, widen: float) -> dict[str, Any]:
    """What a refresh of ``fit`` records (``provenance``, the ``refresh`` key of ``fit.json``):
    the previous data window (``first_date``, ``last_date``, ``n_periods``), ``widen`` and the
    previous (national) ROI per channel, ``roi = {channel, mean, low, high}``."""
    old_roi = roi(fit)
    return {
        "first_date": fit.dataset.dates[0].isoformat(),
        "last_date": fit.dataset.dates[-1].isoformat(),
        "n_periods": int(fit.dataset.n_periods),
        "widen": float(widen),
        "roi": {
            "channel": list(fit.channels),
            **{k: [float(v) for v in old_roi[f"roi_{k}"]] for k in ("mean", "low", "high")},
        },
    }


def roi_changes(fit, roi_frame: pd.DataFrame | None = None) -> pd.DataFrame | None:
    """What a refresh moved: ROI per channel before and after, with intervals.

    Returns ``None`` for a fit that is not a refresh; else a DataFrame indexed by channel with
    ``before_mean, before_low, before_high`` (the previous fit's, from
    :attr:`~mmmjax.Fit.provenance`), ``after_mean, after_low, after_high`` (``fit``'s, or
    ``roi_frame``'s when given) and ``change`` (``after_mean / before_mean - 1``).
    """
    prov = getattr(fit, "provenance", None)
    if not prov:
        return None
    now = roi(fit) if roi_frame is None else roi_frame
    before = prov["roi"]
    out = pd.DataFrame(
        {f"before_{k}": np.asarray(before[k], dtype=np.float64) for k in ("mean", "low", "high")},
        index=pd.Index(before["channel"], name="channel"),
    )
    for k in ("mean", "low", "high"):
        out[f"after_{k}"] = now[f"roi_{k}"].reindex(out.index).to_numpy(dtype=np.float64)
    out["change"] = out["after_mean"] / out["before_mean"] - 1.0
    return out
