"""The hierarchical geo MMM: its specification (:class:`GeoMMM`), mean function and NumPyro model.

In each geo's scaled units (target over the geo's mean target, spend per head over the
national spend per head; see :mod:`mmmjax.data`), for geo ``g``, period ``t``, channel
``c``::

    shape[g, t, c] = sat_c(adstock_c(x[g, :, c])[t])              shared kernels (C,)
    media[g, t, c] = media_roi[g, c] * (mean_spend[g, c] / mean_target[g])
                     * shape[g, t, c] / mean_s shape[g, s, c]
    mu[g, t]       = intercept[g] + trend_slope[g] * (t01 - 1/2) + hinge(t01) @ trend_delta
                     + fourier[t] @ season[g] + controls[g, t] @ control_coef[g]
                     + sum_c (media[g, t, c] - mean_s media[g, s, c])
    y[g, t]        ~ Normal(mu[g, t], sigma[g])                   (or Student-t)

Geo-level parameters are partially pooled toward national ones::

    log media_roi[g, c] = roi_mu[c] + roi_tau[c] * roi_z[g, c]
    trend_slope[g]      = trend_mu + trend_tau * trend_z[g]
    season[g, f]        = season_mu[f] + season_tau * season_z[g, f]
    control_coef[g, k]  = control_mu[k] + control_tau[k] * control_z[g, k]
    z ~ Normal(0, 1)

Each pooled parameter (each channel's ROI, the trend, each Fourier coefficient, each control) is
sampled in one of two equivalent forms, chosen per parameter by :func:`choose_centring` (a
:class:`Centring` mask ``w``, a model *argument*: any choice reuses the compiled program):

* non-centred (``w = 0``): the sampler sees ``z ~ Normal(0, 1)`` itself. Best when the data say
  little about each geo's value: the geo values then follow the pooled scale ``tau``, and sampling
  ``z`` avoids the funnel between a small ``tau`` and the geo deviations.
* centred (``w = 1``): the sampler sees the geo value ``v = mu + tau * z ~ Normal(mu, tau)``
  (for ROI ``v`` is the log ROI). Best when each geo's data pin its value down more tightly than
  ``tau`` spreads it: non-centred, the national mean ``mu`` would then be tied to the mean of the
  ``z`` (``v`` fixed means ``mu + tau * z`` fixed), a narrow ridge NUTS walks slowly.

One site ``{roi,trend,season,control}_z`` per group holds ``z`` or ``v`` per parameter
(``Normal(w * mu, tau ** w)``); the saved posterior always holds the standard deviates
``z = (v - mu) / tau`` (:func:`decentre`), so ``media_roi = exp(roi_mu + roi_tau * roi_z)``
holds for every fit whatever form sampled it.

The intercept and the noise ``sigma`` are per geo and not pooled (each geo's level and noise are
pinned down by its own data); the adstock and saturation parameters, and the piecewise trend's
changepoint deltas, are national. As in :mod:`mmmjax.model` the media shape is divided by its
mean over the training window, so ``media_roi[g, c]`` *is* geo ``g``'s window ROI of channel
``c``: its contribution over the window divided by its spend there (money per money). A geo with
no spend on a channel gets no contribution from it (its ROI there is undefined).

Every array carries the geos on the leading axis: adstock and saturation run once on the whole
``(G, T, C)`` panel, never in a Python loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from mmmjax.model import (
    CENTRING,
    MMM,
    adstock,
    kernel_params,
    saturation,
)
from mmmjax.model import (
    components_and_scale as national_components,
)
from mmmjax.model.design import Design, TimeAxis, changepoint_positions, fourier_terms
from mmmjax.model.priors import Prior

__all__ = [
    "CENTRING",
    "GEO_PRIORS",
    "POOLING_SHAPE",
    "SITE_PRIORS",
    "Centring",
    "GeoComponents",
    "GeoDesign",
    "GeoLiftData",
    "GeoMMM",
    "build_geo_design",
    "choose_centring",
    "data_sd",
    "decentre",
    "derived",
    "geo_components",
    "geo_numpyro_model",
    "implied_geo_lift",
    "least_squares",
    "no_geo_lift_data",
    "site_shapes",
    "tau_posterior_median",
]

_STD = Prior("Normal", loc=0.0, scale=1.0)

#: Sampled sites (besides the kernel parameters and the ``*_z`` deviates) whose prior
#: ``GeoMMM(priors=...)`` may set directly, by their geo name.
SITE_PRIORS = ("intercept", "trend_mu", "trend_delta", "season_mu", "control_mu", "event_coef",
               "roi_mu", "sigma", "nu")  # fmt: skip


#: Shape ``a`` of the pooling scales' ``Gamma(a, a / mean)`` priors (:data:`GEO_PRIORS`).
POOLING_SHAPE = 6.0

#: Defaults of the pooling scales (scaled units), and why. Each is ``Gamma(a, a / mean)``, ``a =``
#: :data:`POOLING_SHAPE`: its density vanishes at zero (as ``tau ** (a - 1)``), so with few geos,
#: whose spread the data barely tell, the posterior does not pile up at ``tau -> 0``, where every
#: geo is forced onto the national value (too narrow per-geo intervals). Chung et al. (2013)
#: advise such a boundary-avoiding prior for group scales; with many geos the data decide.
#:
#: Why ``a = 6`` (coefficient of variation ``1 / sqrt(a)`` = 0.41) and not 2: with few geos the
#: posterior of ``tau`` is nearly its prior, and the sampler must cross all of it, while the
#: geometry changes with ``tau`` in either form (centred, the national mean given the geo
#: values has width ``tau / sqrt(G)``; non-centred, each ``z`` given its geo value has width
#: ``se / tau``): the step size that suits one end of the prior's range diverges at the other.
#: ``Gamma(2)`` spans a factor 20 between its 3% and 97% quantiles (``0.13`` to ``2.7`` times the
#: mean), ``Gamma(4)`` 7.4, ``Gamma(6)`` 4.9; on 2-geo panels (131 weeks, 6 channels, 2 controls,
#: 4 x 500 draws) ``a = 2`` gave 33-164 divergences a fit, ``a = 4`` 2, ``a = 6`` none (seeds
#: 0-2). The spreads the defaults allow stay wide (``roi_tau`` 94% between 0.12 and 0.57).
GEO_PRIORS: dict[str, tuple[Prior, str]] = {
    "roi_tau": (
        Prior("Gamma", concentration=POOLING_SHAPE, rate=POOLING_SHAPE / 0.3),
        "spread of log ROI across geos, per channel: mean 0.3 (a geo's ROI typically within "
        "about +-30% of the national median), 94% between 0.12 and 0.57; the data widen or "
        "narrow it when geos truly differ",
    ),
    "trend_tau": (
        Prior("Gamma", concentration=POOLING_SHAPE, rate=POOLING_SHAPE / 0.1),
        "spread across geos of the trend over the window, as a share of each geo's mean: mean 0.1",
    ),
    "season_tau": (
        Prior("Gamma", concentration=POOLING_SHAPE, rate=POOLING_SHAPE / 0.05),
        "spread across geos of each Fourier coefficient, as a share of each geo's mean: mean 0.05",
    ),
    "control_tau": (
        Prior("Gamma", concentration=POOLING_SHAPE, rate=POOLING_SHAPE / 0.1),
        "spread across geos of a control's effect per standard deviation, share of mean: mean 0.1",
    ),
}


@dataclass(frozen=True)
class GeoMMM:
    """A hierarchical geo MMM: an :class:`mmmjax.MMM` specification, pooled over geos.

    Every option of ``model`` carries over (adstock, saturation, l_max, seasonality, trend,
    changepoints, likelihood, priors), with the national prior of a parameter becoming the
    prior of its national mean: ``media_roi ~ LogNormal(m, s)`` gives ``roi_mu ~ Normal(m,
    s)``, ``trend_slope``'s prior is ``trend_mu``'s, ``season``'s is ``season_mu``'s and
    ``control_coef``'s is ``control_mu``'s; ``intercept`` and ``sigma`` priors apply to each
    geo. Only the additive form is supported (the window ROI is then exact).

    Args:
      model: the base specification.
      priors: overrides of :data:`GEO_PRIORS` (``roi_tau``, ``trend_tau``, ``season_tau``,
        ``control_tau``), e.g. ``{"roi_tau": Prior("HalfNormal", scale=0.1)}`` to pool ROI
        harder; also of a sampled site's prior by its geo name (:data:`SITE_PRIORS` and the
        kernel parameters, per-element parameters as lists), which wins over the one derived
        from ``model``: :meth:`~mmmjax.geo.GeoFit.refresh` carries a posterior over this way.
        The per-geo deviates ``*_z`` are always ``Normal(0, 1)``.
      centring: how each pooled parameter is sampled (see the module docstring): "auto"
        (default) centres those the data pin down per geo (:func:`choose_centring`),
        "centred" or "non-centred" samples them all one way. The posterior is the same; only
        the sampler's speed differs.

    Example:
      >>> import mmmjax
      >>> panel, _ = mmmjax.simulate_geo(n_geos=5, n_periods=104, n_channels=3)
      >>> fit = mmmjax.GeoMMM(mmmjax.MMM(seasonality=1)).fit(panel, draws=200, warmup=200)
      ... # doctest: +SKIP
    """

    model: MMM = field(default_factory=MMM)
    priors: Mapping[str, Prior] | None = field(default=None, compare=False)
    centring: str = "auto"

    def __post_init__(self) -> None:
        if not isinstance(self.model, MMM):
            raise TypeError(f"GeoMMM: model must be an mmmjax.MMM, got {type(self.model)}")
        if self.model.multiplicative:
            raise ValueError("GeoMMM supports the additive form only (form='additive')")
        known = [*GEO_PRIORS, *SITE_PRIORS, *self.kernel_params]
        unknown = set(self.priors or {}) - set(known)
        if unknown:
            raise ValueError(f"GeoMMM: unknown prior(s) {sorted(unknown)}; known: "
                             f"{', '.join(known)}")  # fmt: skip
        if self.centring not in CENTRING:
            raise ValueError(f"GeoMMM: centring must be one of {', '.join(CENTRING)}; "
                             f"got {self.centring!r}")  # fmt: skip

    @classmethod
    def of(cls, spec: MMM) -> GeoMMM:
        """The geo model of an :class:`mmmjax.MMM` (what ``MMM.fit(panel)`` fits): its
        national options, its pooling priors (:data:`mmmjax.model.POOLING_PRIORS`) and its
        ``centring``."""
        return cls(model=spec.national(), priors=spec.pooling_priors() or None,
                   centring=spec.centring)  # fmt: skip

    def resolved_priors(self, channels) -> dict[str, Prior]:
        """``{site: Prior}`` for every sampled site of the geo model."""
        base = self.model.resolved_priors(list(channels))
        roi = base["media_roi"]
        if roi.dist != "LogNormal":
            raise ValueError(
                f"GeoMMM needs a LogNormal media_roi prior (its log is pooled), got {roi.dist}"
            )
        pool = {k: p for k, (p, _) in GEO_PRIORS.items()}
        pool.update(self.priors or {})
        priors = {
            "intercept": base["intercept"],
            "trend_mu": base["trend_slope"],
            "trend_tau": pool["trend_tau"],
            "trend_z": _STD,
            "trend_delta": base["trend_delta"],
            "season_mu": base["season"],
            "season_tau": pool["season_tau"],
            "season_z": _STD,
            "control_mu": base["control_coef"],
            "control_tau": pool["control_tau"],
            "control_z": _STD,
            "event_coef": base["event_coef"],
            "roi_mu": Prior("Normal", loc=roi.params["loc"], scale=roi.params["scale"]),
            "roi_tau": pool["roi_tau"],
            "roi_z": _STD,
            "sigma": base["sigma"],
            "nu": base["nu"],
        }
        for name in self.kernel_params:
            priors[name] = base[name]
        priors.update({k: p for k, p in (self.priors or {}).items() if k not in GEO_PRIORS})
        return priors

    @property
    def kernel_params(self) -> tuple[str, ...]:
        """Adstock and saturation parameters, one per channel, shared by every geo."""
        return kernel_params(self.model)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.to_dict(),
            "priors": {k: p.to_dict() for k, p in (self.priors or {}).items()},
            "centring": self.centring,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GeoMMM:
        priors = {k: Prior.from_dict(p) for k, p in (d.get("priors") or {}).items()}
        return cls(model=MMM.from_dict(d["model"]), priors=priors or None,
                   centring=d.get("centring", "auto"))  # fmt: skip

    def fit(self, panel, chains: int = 4, draws: int = 1000, warmup: int = 1000, seed: int = 0,
            **kwargs: Any):  # fmt: skip
        """Sample with NUTS (through :func:`mmmjax.engine.fit`, which reviews the panel first);
        see :func:`mmmjax.inference.geo_fit.fit_geo` for every option."""
        from mmmjax.engine import fit

        return fit(self, panel, chains=chains, draws=draws, warmup=warmup, seed=seed, **kwargs)


# ----------------------------------------------------------------------------------------------
# design
# ----------------------------------------------------------------------------------------------
class GeoDesign(NamedTuple):
    """Scaled model inputs of a panel (float32), geos on the leading axis.

    Attributes:
      spend: ``(G, T, C)`` spend per head over the national spend per head (1 = the national
        per-head level of the channel).
      t: ``(T,)`` trend time, 0..1 over the training window.
      fourier: ``(T, 2 * order)`` yearly Fourier terms, shared by the geos.
      controls: ``(G, T, K)`` controls standardised within each geo.
      changepoints: ``(P,)`` piecewise-trend changepoints in ``t`` units.
      roi_to_effect: ``(G, C)`` mean spend over mean target of each geo.
      events: ``(G, T, E)`` event dummies per geo (``None``: no events); one national effect
        per event (``event_coef``, scaled units), as for national data.
    """

    spend: Any
    t: Any
    fourier: Any
    controls: Any
    changepoints: Any
    roi_to_effect: Any
    events: Any = None


def build_geo_design(panel, scales, axis: TimeAxis, *, seasonality: int,
                     changepoints: int) -> GeoDesign:  # fmt: skip
    """The :class:`GeoDesign` of ``panel`` in the given (training) scales and time axis."""
    idx = axis.index(panel.dates)
    f32 = np.float32
    controls = (panel.controls - scales.controls_mean[:, None, :]) / scales.controls_std[:, None]
    return GeoDesign(
        spend=np.asarray(panel.spend / scales.spend_unit[:, None, :], f32),
        t=np.asarray(idx / max(axis.n_train - 1, 1), f32),
        fourier=np.asarray(fourier_terms(idx, axis.periods_per_year, seasonality), f32),
        controls=np.asarray(controls, f32),
        changepoints=np.asarray(changepoint_positions(changepoints), f32),
        roi_to_effect=np.asarray(scales.roi_to_effect, f32),
        events=np.asarray(panel.events, f32),
    )


def n_events(design: GeoDesign) -> int:
    """``E``, the number of event dummies of ``design``."""
    return 0 if design.events is None else int(design.events.shape[2])


# ----------------------------------------------------------------------------------------------
# mean function
# ----------------------------------------------------------------------------------------------
class GeoComponents(NamedTuple):
    """Parts of the mean function in each geo's scaled units: ``(G, T)``, media ``(G, T, C)``
    (the national :class:`~mmmjax.model.Components` with a leading geo axis)."""

    intercept: jax.Array
    trend: jax.Array
    seasonality: jax.Array
    controls: jax.Array
    events: jax.Array
    media: jax.Array
    mu: jax.Array


def site_shapes(spec: MMM, design: GeoDesign) -> dict[str, tuple[int, ...]]:
    """Shape of one draw of each sampled site, in sampling order."""
    G, _, C = design.spend.shape
    F, K, P = design.fourier.shape[1], design.controls.shape[2], design.changepoints.shape[0]
    shapes: dict[str, tuple[int, ...]] = {"intercept": (G,)}
    if spec.trend != "none":
        shapes.update(trend_mu=(), trend_tau=(), trend_z=(G,))
        if P:
            shapes["trend_delta"] = (P,)
    if F:
        shapes.update(season_mu=(F,), season_tau=(), season_z=(G, F))
    if K:
        shapes.update(control_mu=(K,), control_tau=(K,), control_z=(G, K))
    if n_events(design):
        shapes["event_coef"] = (n_events(design),)
    shapes.update(roi_mu=(C,), roi_tau=(C,), roi_z=(G, C))
    for name in kernel_params(spec):
        shapes[name] = (C,)
    shapes["sigma"] = (G,)
    if spec.likelihood == "student_t":
        shapes["nu"] = ()
    return shapes


#: Per-geo parameters derived from the pooled ones: name -> (national mean, scale, z). The log
#: of ``media_roi`` is pooled; the others are pooled as they are.
POOLED = {
    "media_roi": ("roi_mu", "roi_tau", "roi_z"),
    "trend_slope": ("trend_mu", "trend_tau", "trend_z"),
    "season": ("season_mu", "season_tau", "season_z"),
    "control_coef": ("control_mu", "control_tau", "control_z"),
}


class Centring(NamedTuple):
    """Which pooled parameters are sampled centred (1.0) or non-centred (0.0), float32.

    Attributes:
      roi_z: ``(C,)`` per channel. trend_z: ``()``. season_z: ``(F,)`` per Fourier term.
      control_z: ``(K,)`` per control.
    """

    roi_z: Any
    trend_z: Any
    season_z: Any
    control_z: Any


def _loc_scale(name: str, draw: Mapping[str, Any], xp) -> tuple[Any, Any]:
    """The national mean and scale of pooled parameter ``name``, broadcastable against its
    ``(..., G)`` or ``(..., G, J)`` site (a draw, or stacked draws with leading axes)."""
    mu, tau, _ = POOLED[name]
    m, s = draw[mu], draw[tau]
    if name == "trend_slope":  # scalars per draw
        return xp.expand_dims(m, -1), xp.expand_dims(s, -1)
    if name == "season":  # one scale for every coefficient
        return xp.expand_dims(m, -2), s[..., None, None]
    return xp.expand_dims(m, -2), xp.expand_dims(s, -2)  # a scale per channel / control


def _xp(draw: Mapping[str, Any]):
    return jnp if any(isinstance(v, jax.Array) for v in draw.values()) else np


def derived(draw: Mapping[str, Any], centring: Centring | None = None) -> dict[str, Any]:
    """``draw`` plus the per-geo parameters its pooled sites imply (see the module docstring):
    ``media_roi`` ``(..., G, C)``, ``trend_slope`` ``(..., G)``, ``season`` ``(..., G, F)`` and
    ``control_coef`` ``(..., G, K)``, for whichever of them the draw has sites for.

    ``centring`` says which ``z`` sites hold geo values ``v`` instead of standard deviates
    (as the sampler sees them); ``None`` (the saved posterior, see :func:`decentre`): all
    standard deviates. Works on one draw (JAX or NumPy) or on stacked draws with leading axes.
    """
    xp = _xp(draw)
    out = dict(draw)
    for name, (_, _, z) in POOLED.items():
        if z not in draw:
            continue
        loc, scale = _loc_scale(name, draw, xp)
        value = loc + scale * draw[z]
        if centring is not None:
            value = xp.where(xp.asarray(getattr(centring, z)) > 0.5, draw[z], value)
        out[name] = xp.exp(value) if name == "media_roi" else value
    return out


def decentre(draw: Mapping[str, Any], centring: Centring) -> dict[str, Any]:
    """``draw`` as the sampler saw it (``centring``), with every ``z`` site turned into standard
    deviates: ``z = (v - mu) / tau`` where centred, unchanged elsewhere (any leading axes)."""
    xp = _xp(draw)
    out = dict(draw)
    for name, (_, _, z) in POOLED.items():
        if z in draw:
            loc, scale = _loc_scale(name, draw, xp)
            centred = xp.asarray(getattr(centring, z)) > 0.5
            out[z] = xp.where(centred, (draw[z] - loc) / scale, draw[z])
    return out


def fixed_centring(design: GeoDesign, centred: bool) -> Centring:
    """Every pooled parameter of ``design``'s model sampled centred, or every one non-centred."""
    _, _, C = design.spend.shape
    F, K = design.fourier.shape[1], design.controls.shape[2]
    w = np.float32(1.0 if centred else 0.0)
    return Centring(*(np.full(n, w, np.float32) for n in ((C,), (), (F,), (K,))))


def data_sd(spec: MMM, priors: Mapping[str, Prior], design: GeoDesign, y) -> dict[str, Any]:
    """How tightly each geo's own data pin down each pooled parameter, before any fit: ``{z site:
    (G,) or (G, J)}`` standard errors, ``inf`` where a geo has no information (no spend). The
    standard errors of :func:`least_squares`."""
    return {z: se for z, (_, se) in least_squares(spec, priors, design, y).items()}


def least_squares(spec: MMM, priors: Mapping[str, Prior], design: GeoDesign, y) -> dict[str, Any]:
    """Each geo's own estimate of each pooled parameter, before any fit: ``{z site: (estimate,
    standard error)}``, each ``(G,)`` or ``(G, J)``; the error is ``inf`` (the estimate NaN)
    where a geo has no information (no spend). For the ROI both are relative to the channel's
    ROI (so on the log scale).

    Per geo, ordinary least squares of the scaled target ``y[g]`` ``(T,)`` on the columns
    ``1``, ``t - 1/2`` (with a trend), the Fourier terms, the controls and, per channel, the
    media term per unit ROI (``roi_to_effect[g, c] * shape / mean_t shape``, the kernels at
    their prior medians): ``se_j = sigma_g * sqrt((X'X)^+_jj)``, ``sigma_g`` the residual
    standard deviation (``T - p`` degrees of freedom). For the log ROI the ROI's standard error
    is divided by the channel's ROI estimate, the median over geos of the least-squares ROI
    (floored at 0.01). Linear and Gaussian, so a guide for :func:`choose_centring`, not an
    inference.
    """
    x = np.asarray(design.spend, np.float64)
    G, T, C = x.shape
    rng = np.random.default_rng(0)
    med = {name: np.median(priors[name].sample_numpy(rng, (401, C)), axis=0).astype(np.float32)
           for name in kernel_params(spec)}  # fmt: skip
    shape = np.asarray(saturation(spec, med, adstock(spec, med, jnp.asarray(x, jnp.float32))),
                       np.float64)  # fmt: skip
    mean = shape.mean(axis=1)  # (G, C)
    media = np.asarray(design.roi_to_effect, np.float64)[:, None, :] * (
        shape / np.where(mean > 0, mean, 1.0)[:, None, :]
    )
    blocks = {"intercept": np.ones((G, T, 1))}
    if spec.trend != "none":
        blocks["trend_z"] = np.broadcast_to((np.asarray(design.t, float) - 0.5)[None, :, None],
                                            (G, T, 1))  # fmt: skip
    F = design.fourier.shape[1]
    blocks["season_z"] = np.broadcast_to(np.asarray(design.fourier, float)[None], (G, T, F))
    blocks["control_z"] = np.asarray(design.controls, np.float64)
    if n_events(design):
        blocks["events"] = np.asarray(design.events, np.float64)
    blocks["roi_z"] = media
    X = np.concatenate(list(blocks.values()), axis=2)  # (G, T, p)
    y = np.asarray(y, np.float64)
    inv = np.linalg.pinv(np.einsum("gtp,gtq->gpq", X, X), hermitian=True)
    beta = np.einsum("gpq,gtq,gt->gp", inv, X, y)
    rss = ((y - np.einsum("gtp,gp->gt", X, beta)) ** 2).sum(axis=1)
    sigma = np.sqrt(rss / max(T - X.shape[2], 1))
    se = sigma[:, None] * np.sqrt(np.clip(np.diagonal(inv, axis1=1, axis2=2), 0.0, None))
    se = np.where(X.std(axis=1) > 1e-9, se, np.inf)  # a flat column (no spend): no information
    beta = np.where(np.isfinite(se), beta, np.nan)
    out, start = {}, 0
    for name, block in blocks.items():
        width = block.shape[2]
        out[name] = [beta[:, start : start + width], se[:, start : start + width]]
        start += width
    out.pop("intercept")
    out.pop("events", None)  # national effects: not pooled
    roi = np.maximum(np.nanmedian(beta[:, start - C :], axis=0), 0.01)  # (C,) ROI per channel
    out["roi_z"] = [out["roi_z"][0] / roi, out["roi_z"][1] / roi]
    if "trend_z" in out:
        out["trend_z"] = [a[:, 0] for a in out["trend_z"]]
    return {k: tuple(v) for k, v in out.items()}


def choose_centring(spec: GeoMMM, priors: Mapping[str, Prior], design: GeoDesign, y) -> Centring:
    """The :class:`Centring` of ``spec`` for a panel: with ``spec.centring == "auto"``, a pooled
    parameter ``j`` is centred where its geos' data pin it down more tightly than the geos
    spread, ``median_g se[g, j] < tau_med[j]``, else non-centred. ``se`` and the estimates
    ``b`` are :func:`least_squares`'; ``tau_med`` is the posterior median of the pooling scale
    ``tau`` (:func:`tau_posterior_median`) in the normal model those estimates imply,
    ``b[g, j] ~ Normal(mu_j, tau^2 + se[g, j]^2)``, under ``tau``'s own prior.

    That is the textbook rule (Papaspiliopoulos, Roberts and Skold 2007): centred sampling mixes
    fast when the likelihood of each geo value is sharper than its prior ``Normal(mu, tau)``,
    non-centred when it is flatter. The ``tau`` it is judged at is where the sampler will be:
    centred, ``tau`` well below ``se`` is a funnel; non-centred, ``tau`` well above it pins
    each ``z`` to a thin curved ridge (``z = (v - mu) / tau``, width ``se / tau``); both
    diverge. With many geos the posterior of ``tau`` is narrow around the spread the data show
    (the moment estimate ``var_g b - mean_g se^2``); with few it stays near its prior, which
    a moment estimate from 2 geos (one degree of freedom) does not know: there a parameter
    with ``se`` far below the prior's ``tau`` (a control, the seasonality) is centred however
    alike the two geos look, and one with ``se`` above it (a weak channel) non-centred however
    different. One geo (or one with information): non-centred. On the 50-geo benchmark it
    centres the best-measured channel (tv) and the trend, seasonality and control.
    """
    if spec.centring != "auto":
        return fixed_centring(design, spec.centring == "centred")
    w = fixed_centring(design, False)._asdict()
    rng = np.random.default_rng(1)
    for z, (b, se) in least_squares(spec.model, priors, design, y).items():
        name = z.replace("_z", "_tau")
        if name not in priors or not se.size or b.shape[0] < 2:
            continue
        shared = z == "season_z"  # one scale for every Fourier coefficient
        tau = tau_posterior_median(priors[name], b, se, rng, shared=shared)
        n = np.isfinite(se).sum(axis=0)
        w[z] = ((np.median(se, axis=0) < tau) & (n >= 2)).astype(np.float32)
    return Centring(**w)


def tau_posterior_median(prior: Prior, b, se, rng: np.random.Generator, *, shared: bool = False,
                         n: int = 20001):  # fmt: skip
    """The posterior median of a pooling scale ``tau`` given each geo's estimate ``b`` ``(G,)``
    or ``(G, J)`` and its standard error ``se`` (``inf``: no information), as used by
    :func:`choose_centring`: one ``tau`` per column (``(J,)`` or ``()``), or with ``shared``
    one for every column (the seasonality's), ``()``.

    ``n`` draws of ``tau`` from ``prior`` weighted by the marginal likelihood of the estimates,
    ``b[g] ~ Normal(mu, v_g)``, ``v_g = tau^2 + se_g^2``, ``mu`` integrated out under a flat
    prior (a normal-normal model, Gelman et al., Bayesian Data Analysis, section 5.4)::

        log L(tau) = -1/2 [sum_g log v_g + log sum_g 1/v_g + sum_g (b_g - b_bar)^2 / v_g]

    with ``b_bar`` the ``1/v``-weighted mean of the ``b_g``; a shared ``tau`` multiplies the
    columns' likelihoods.
    """
    b = np.moveaxis(np.asarray(b, np.float64), 0, -1)  # ([J,] G)
    se = np.moveaxis(np.asarray(se, np.float64), 0, -1)
    ok = np.isfinite(se)
    shape = () if shared else b.shape[:-1]
    draws = prior.sample_numpy(rng, (n, *(shape or (1,)))).reshape(n, *shape)
    tau2 = (draws[:, None, None] if shared else draws[..., None]) ** 2  # broadcasts on (n, [J,] G)
    inv = np.where(ok, 1.0, 0.0) / (tau2 + np.where(ok, se, 1.0) ** 2)  # 1 / v_g; 0 without data
    total = inv.sum(-1)
    b = np.where(ok, b, 0.0)
    mean = (inv * b).sum(-1) / total
    loglik = 0.5 * (np.log(np.where(ok, inv, 1.0)).sum(-1) - np.log(total)
                    - (inv * (b - mean[..., None]) ** 2).sum(-1))  # fmt: skip
    if shared and loglik.ndim > 1:
        loglik = loglik.sum(-1)  # (n,): one tau for every column
    weight = np.exp(loglik - loglik.max(axis=0))
    order = np.argsort(draws, axis=0)
    cum = np.cumsum(np.take_along_axis(weight, order, axis=0), axis=0)
    at = (cum < 0.5 * cum[-1]).sum(axis=0, keepdims=True)
    return np.take_along_axis(np.take_along_axis(draws, order, axis=0), at, axis=0)[0]


def geo_components(
    spec: MMM,
    params: Mapping[str, jax.Array],
    design: GeoDesign,
    reference: GeoDesign | None = None,
) -> GeoComponents:
    """The mean function's parts for one parameter draw, every geo at once (vmap for draws).

    Args:
      spec: the base :class:`mmmjax.MMM` (kernels, trend, likelihood).
      params: one draw with the per-geo parameters of :func:`derived` (``media_roi`` ``(G,
        C)``, ``intercept`` ``(G,)``, ``trend_slope`` ``(G,)``, ``season`` ``(G, F)``,
        ``control_coef`` ``(G, K)``) and the shared ``(C,)`` kernel parameters.
      design: the :class:`GeoDesign` of the periods to evaluate (default the training ones).
      reference: the training design, whose media mean the level and the media normalisation
        are measured against; default ``design`` itself (pass it when ``design`` holds other
        periods, e.g. a forecast).

    Returns:
      :class:`GeoComponents` in each geo's scaled units. ``intercept`` is the uncentred
      baseline (the sampled mean level minus the media's window mean), so the parts add up to
      ``mu``.
    """
    return _geo_components(spec, params, design, reference)[0]


#: Parameters each geo has its own value of (leading geo axis); every other one is shared.
PER_GEO = ("intercept", "trend_slope", "season", "control_coef", "media_roi", "sigma")


def _as_national(design: GeoDesign) -> Design:
    """``design`` as a national :class:`~mmmjax.model.design.Design` with a leading geo axis on
    ``spend``, ``controls``, ``events`` and ``roi_to_effect``."""
    events = design.events
    if events is None:
        events = jnp.zeros((*design.spend.shape[:2], 0), design.spend.dtype)
    return Design(design.spend, design.t, design.fourier, design.controls, events,
                  design.changepoints, design.roi_to_effect)  # fmt: skip


#: ``vmap`` axes of :func:`_as_national`'s design: per-geo inputs on axis 0, the rest shared.
_GEO_AXES = Design(spend=0, t=None, fourier=None, controls=0, events=0, changepoints=None,
                   roi_to_effect=0)  # fmt: skip


def _geo_components(
    spec: MMM,
    params: Mapping[str, jax.Array],
    design: GeoDesign,
    reference: GeoDesign | None = None,
):
    """:func:`geo_components`, plus the ``(G, C)`` media scale it used.

    The national mean function (:func:`mmmjax.model.components`) ``vmap``-ed over the geo
    axis: each geo's scaled spend, controls and ``roi_to_effect`` with its own intercept, trend
    slope, Fourier and control coefficients and ROI, the kernels and changepoint deltas shared.
    There is one mean function and one media-scale formula for national data and panels.
    """
    per_geo = {k: v for k, v in params.items() if k in PER_GEO and k != "sigma"}
    shared = {k: v for k, v in params.items() if k not in PER_GEO}
    one = lambda p, d, r: national_components(spec, {**shared, **p}, d, r)  # noqa: E731
    ref = None if reference is None else _as_national(reference)
    axes = (0, _GEO_AXES, None if reference is None else _GEO_AXES)
    comp, scale = jax.vmap(one, in_axes=axes)(per_geo, _as_national(design), ref)
    parts = GeoComponents(comp.intercept, comp.trend, comp.seasonality, comp.controls,
                          comp.events, comp.media, comp.mu)  # fmt: skip
    return parts, scale


class GeoLiftData(NamedTuple):
    """Lift tests on a panel as model inputs (``K`` tests over the ``T`` training periods of
    ``G`` geos), float32. A test ran in one geo, or nationally: its spend change then fell on
    every geo, shared out as the channel's spend is in the data. Model arguments: new tests of
    the same count reuse the compiled program; ``K = 0`` (:func:`no_geo_lift_data`) means no
    calibration.

    Attributes:
      channel: ``(K,)`` int32 index of each test's channel.
      mask: ``(K, T)`` 1.0 in the periods of the test's window.
      delta: ``(K, G)`` spend change per period in each geo, in that geo's spend units (``x``
        of :class:`GeoDesign`: money over ``GeoScales.spend_unit[g, c]``); zero outside the
        test's geo for a test in one geo.
      to_unit: ``(K, G)`` each geo's mean target over the test's unit ``u_k`` (its geo's mean
        target, or the national sum of them for a national test): turns each geo's scaled
        lift into the test's unit.
      lift, lift_se: ``(K,)`` measured incremental target over the window and its standard
        error, over ``u_k``.
    """

    channel: Any
    mask: Any
    delta: Any
    to_unit: Any
    lift: Any
    lift_se: Any


def no_geo_lift_data(n_periods: int, n_geos: int = 1) -> GeoLiftData:
    """``GeoLiftData`` with no tests."""
    empty, index = np.zeros((0,), np.float32), np.zeros((0,), np.int32)
    per_geo = np.zeros((0, n_geos), np.float32)
    return GeoLiftData(index, np.zeros((0, n_periods), np.float32), per_geo, per_geo, empty,
                       empty)  # fmt: skip


def implied_geo_lift(
    spec: MMM, params: Mapping[str, jax.Array], design: GeoDesign, lift: GeoLiftData
) -> jax.Array:
    """``(K,)`` the model's incremental target of each lift test, in the test's unit ``u_k``.

    Test ``k`` raises the spend of channel ``c = lift.channel[k]`` in each geo ``g`` by
    ``lift.delta[k, g]`` in every period of its window; the implied lift is the change of the
    geos' media terms of ``c`` summed over the window (carryover within the window counted,
    after it not), as :func:`mmmjax.model.implied_lift` does for national data, each geo's
    change (in its scaled units) weighted by ``lift.to_unit[k, g]``. Times ``u_k`` it is
    money. All tests at once: the ``(K, G, T, 1)`` changed spend series run through the
    kernels with each test's ``(K, 1, 1)`` channel parameters.
    """
    comp, scale = _geo_components(spec, params, design)
    return _geo_lift_from(spec, params, design, lift, comp, scale)


def _geo_lift_from(spec, params, design: GeoDesign, lift: GeoLiftData, comp, scale):
    c = lift.channel
    kernel = {k: params[k][c][:, None, None] for k in kernel_params(spec)}  # (K, 1, 1)
    x = jnp.moveaxis(design.spend[:, :, c], -1, 0)  # (K, G, T): channel c_k in every geo
    x_new = x + lift.delta[..., None] * lift.mask[:, None, :]
    shape_new = saturation(spec, kernel, adstock(spec, kernel, x_new[..., None]))[..., 0]
    media = jnp.moveaxis(comp.media[:, :, c], -1, 0)  # (K, G, T)
    change = scale[:, c].T[..., None] * shape_new - media
    return ((change * lift.mask[:, None, :]).sum(-1) * lift.to_unit).sum(-1)


def _site(prior: Prior, shape: tuple[int, ...]) -> dist.Distribution:
    d = prior.build()
    return d.expand(shape).to_event(len(shape)) if shape else d


#: The pooled parameter of each ``z`` site.
_OF_SITE = {z: name for name, (_, _, z) in POOLED.items()}


def geo_numpyro_model(
    spec: MMM,
    priors: Mapping[str, Prior],
    design: GeoDesign,
    y=None,
    lift=None,
    centring: Centring | None = None,
) -> None:
    """The NumPyro model: priors on every site, then the likelihood of scaled ``y`` ``(G, T)``.

    ``y`` is each geo's target over its mean; ``None`` samples it. ``lift``
    (:class:`GeoLiftData` with ``K > 0``) adds ``lift ~ Normal(implied_geo_lift, lift_se)``.
    ``centring`` (:class:`Centring`; ``None``: all non-centred) says which pooled parameters
    the ``z`` sites hold as geo values: site ``~ Normal(w * mu, tau ** w)`` (module docstring).
    """
    if centring is None:
        centring = fixed_centring(design, False)
    draw: dict[str, Any] = {}
    for name, shape in site_shapes(spec, design).items():
        if name in _OF_SITE:
            w = jnp.asarray(getattr(centring, name))
            loc, scale = _loc_scale(_OF_SITE[name], draw, jnp)
            prior = dist.Normal(jnp.broadcast_to(w * loc, shape),
                                jnp.broadcast_to(scale**w, shape)).to_event(len(shape))  # fmt: skip
        else:
            prior = _site(priors[name], shape)
        draw[name] = numpyro.sample(name, prior)
    params = derived(draw, centring)
    comp, scale = _geo_components(spec, params, design)
    if lift is not None and lift.channel.shape[0]:
        implied = _geo_lift_from(spec, params, design, lift, comp, scale)
        numpyro.sample("lift", dist.Normal(implied, lift.lift_se).to_event(1), obs=lift.lift)
    sigma = draw["sigma"][:, None]
    if spec.likelihood == "student_t":
        noise = dist.StudentT(draw["nu"], comp.mu, sigma)
    else:
        noise = dist.Normal(comp.mu, sigma)
    numpyro.sample("y", noise.to_event(2), obs=y)
