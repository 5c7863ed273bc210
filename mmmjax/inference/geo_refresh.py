"""Refreshing a geo fit when new periods arrive: the previous posterior becomes the new prior.

:func:`refresh_geo_fit` (``GeoFit.refresh``) applies the scheme of :mod:`mmmjax.inference.refresh`
to the hierarchical geo model (:mod:`mmmjax.model.geo`). The new panel must extend the previous one
(same geos, channels and controls; :func:`mmmjax.inference.refresh.check_extends`). The data are
scaled by the previous fit's :class:`~mmmjax.geo.GeoScales`, and each pooled (national) parameter's
prior
is moment-matched to its posterior draws with :func:`mmmjax.inference.refresh.matched_prior` (spread
widened ``widen`` times, capped at the original prior's):

* ``roi_mu`` (national mean log ROI), ``roi_tau`` (its spread across geos);
* ``season_mu`` (rotated to the new window's origin), ``season_tau``;
* ``control_mu``, ``control_tau``;
* the shared adstock and saturation parameters, each geo's ``sigma`` (per geo) and ``nu``.

The per-geo deviates ``roi_z``, ``season_z``, ``control_z`` keep their ``Normal(0, 1)`` prior
(the model fixes it): each geo's value is drawn afresh around the carried-over national mean
and spread, so what carries over is the national picture, not each geo's own estimate (a
geo's data still pin its value down). As in the national refresh, the baseline's level and
trend (``intercept``, ``trend_mu``, ``trend_tau``, ``trend_z``, ``trend_delta``) keep the
specification's priors: they describe the data window.

``media_roi[g, c]`` is normalised by the scale's mean spend of geo ``g`` and channel ``c``: with
the old scales and a new window whose mean spend is ``m_new[g, c]``, the sampled log ROI is the
window's log ROI plus ``log(m_new / m_old)[g, c]``; ``roi_mu``'s draws are shifted by that log
ratio's mean over the geos that spend on the channel (exact when the ratio is the same in every
geo, as when spend grows alike everywhere).

The carried priors are stored in the new specification (``GeoMMM(priors=...)`` by site name),
so a saved refresh reloads as it was fitted.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from mmmjax.data import GeoDataset
from mmmjax.inference.geo_fit import GeoFit
from mmmjax.inference.refresh import (
    check_extends,
    check_widen,
    matched_prior,
    refresh_provenance,
    rotate_season,
)
from mmmjax.model.priors import Prior

__all__ = ["CARRIED_SITES", "geo_posterior_priors", "refresh_geo_fit"]

#: Sampled sites of the geo model whose prior a refresh carries over (with the kernel
#: parameters); the others keep the specification's (see the module docstring).
CARRIED_SITES = ("roi_mu", "roi_tau", "season_mu", "season_tau", "control_mu", "control_tau",
                 "sigma", "nu")  # fmt: skip


def geo_posterior_priors(fit: GeoFit, panel: GeoDataset, *, widen: float = 2.0) -> dict[str, Prior]:
    """Priors for refitting ``fit``'s model on ``panel`` in ``fit``'s scales, matched to its
    posterior (module docstring).

    Args:
      fit: the previous :class:`~mmmjax.geo.GeoFit`.
      panel: the new panel; must extend ``fit.dataset``.
      widen: factor ``>= 1`` on each prior's spread (log-scale spread for positive parameters).

    Returns:
      ``{site: Prior}`` for the :data:`CARRIED_SITES` and kernel parameters the model samples,
      per-element parameters as lists; usable as ``GeoMMM(priors=...)``.
    """
    widen = check_widen(widen)
    shift = check_extends(fit.dataset, panel)
    base = fit.spec.resolved_priors(fit.channels)
    draws = fit.draws()
    carried = (*CARRIED_SITES, *fit.spec.kernel_params)
    out: dict[str, Prior] = {}
    for name in carried:
        if name not in draws:
            continue
        x = np.asarray(draws[name], dtype=np.float64)
        if name == "roi_mu":
            m_new = np.asarray(panel.spend, np.float64).mean(axis=1)  # (G, C)
            m_old = np.asarray(fit.scales.spend, np.float64)
            ok = (m_new > 0) & (m_old > 0)
            log_r = np.log(np.where(ok, m_new, 1.0) / np.where(ok, m_old, 1.0))
            n = ok.sum(axis=0)
            x = x + np.where(n > 0, log_r.sum(axis=0) / np.maximum(n, 1), 0.0)
        if name == "season_mu" and shift:
            x = rotate_season(x, shift, fit.axis.periods_per_year)
        prior = matched_prior(base[name], x, widen)
        if prior is not None:
            out[name] = prior
    return out


def refresh_geo_fit(fit: GeoFit, panel: GeoDataset, *, widen: float = 2.0,
                    **fit_kwargs: Any) -> GeoFit:  # fmt: skip
    """Refit ``fit``'s model on ``panel`` with ``fit``'s scales and its posterior as the prior.

    Args:
      fit: the previous :class:`~mmmjax.geo.GeoFit`.
      panel: its panel plus new periods (:func:`mmmjax.inference.refresh.check_extends`).
      widen: spread factor of the carried-over priors (1 = plain posterior-as-prior).
      **fit_kwargs: options of :func:`mmmjax.inference.geo_fit.fit_geo` (``chains``, ``draws``,
        ``seed``, new ``lift_tests``...); the previous lift tests are already in the
        posterior and are not applied again.

    Returns:
      The new :class:`~mmmjax.geo.GeoFit`, whose ``provenance`` records the previous window,
      ``widen`` and national ROI per channel (:func:`mmmjax.inference.refresh.roi_changes`
      compares).

    Raises:
      DataError: ``panel`` does not extend the previous panel (naming what differs).
    """
    if "scales" in fit_kwargs:
        raise TypeError("refresh keeps the previous fit's scales; do not pass scales=")
    if not isinstance(fit, GeoFit):
        raise TypeError(f"refresh_geo_fit needs a GeoFit, got {type(fit).__name__}")
    priors = dict(fit.spec.priors or {})
    priors.update(geo_posterior_priors(fit, panel, widen=widen))
    spec = dataclasses.replace(fit.spec, priors=priors)
    new = spec.fit(panel, scales=fit.scales, **fit_kwargs)
    return dataclasses.replace(new, provenance=refresh_provenance(fit, widen))
