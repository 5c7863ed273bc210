"""The Bayesian MMM: a specification (:class:`MMM`), its pure mean function and its NumPyro model.

In scaled units (target / mean target, spend / mean spend per channel) the additive model is::

    mu[t] = level + trend(t) + seasonality(t) + controls[t] @ control_coef
            + events[t] @ event_coef + sum_c (media[t, c] - mean_s media[s, c])
    media[t, c] = media_roi[c] * (mean_spend[c] / mean_target) * shape[t, c] / mean_s shape[s, c]
    shape[t, c] = sat_c(adstock_c(spend[:, c])[t])      (mean over s: the training window)
    y[t] ~ Normal(mu[t], sigma)            (or StudentT(nu, mu[t], sigma))

and the multiplicative form models ``log(y[t])`` with the same ``mu``. The media shape is divided
by its mean over the training window, so ``media[:, c]`` averages ``media_roi[c] * mean_spend[c] /
mean_target`` there: channel ``c``'s contribution over the window is exactly ``media_roi[c]``
times its spend over the window. The sampled ``media_roi`` *is* the window ROI that
:func:`mmmjax.roi` reports (additive form; for the multiplicative form it is the same
normalisation on the log scale, and the window ROI is close to but not exactly ``media_roi``).
Sampling this ROI directly, instead of the saturation's amplitude, removes the ridge between
amplitude and half-saturation that makes MMMs sample badly, and puts the prior on the scale
analysts reason in: a belief such as "ROI between 2 and 4" becomes a prior on ``media_roi``
exactly (:func:`mmmjax.roi_prior`). Media and trend are centred on their training-window means,
so the sampled ``intercept`` is the mean level and nearly independent of them.

Lift tests (:class:`mmmjax.LiftTest`) add one likelihood term each: the measured incremental
target of a spend change over a window, against the model's implied lift
(:func:`implied_lift`).

Example:
    >>> import mmmjax
    >>> data = mmmjax.datasets.load("demo")
    >>> fit = mmmjax.MMM(adstock="geometric", saturation="hill").fit(data, draws=500, warmup=500)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from mmmjax import transforms
from mmmjax.model.design import Design, LiftData
from mmmjax.model.priors import Prior, resolve_priors

__all__ = [
    "ADSTOCK_PARAMS",
    "CENTRING",
    "MMM",
    "POOLING_PRIORS",
    "SATURATION_PARAMS",
    "Components",
    "components",
    "components_and_scale",
    "implied_lift",
    "kernel_params",
    "media_scale",
    "media_shape",
]

#: Parameters each adstock kind samples (one per channel), from the kernel registry.
ADSTOCK_PARAMS: dict[str, tuple[str, ...]] = {k: a.params for k, a in transforms.ADSTOCKS.items()}
#: Parameters each saturation kind samples (one per channel), from the kernel registry.
SATURATION_PARAMS: dict[str, tuple[str, ...]] = {
    k: s.params for k, s in transforms.SATURATIONS.items()
}
TRENDS = ("none", "linear", "piecewise")
LIKELIHOODS = ("normal", "student_t")
FORMS = ("additive", "multiplicative")
ADSTOCK_METHODS = ("auto", "scan", "associative")
#: How a panel's pooled parameters are sampled (see :mod:`mmmjax.model.geo`).
CENTRING = ("auto", "centred", "non-centred")
#: Priors that only a panel (several geos) has: the spread of each pooled parameter across
#: geos (defaults and reasons in :data:`mmmjax.model.geo.GEO_PRIORS`) and the national means
#: by their site names. A national fit (one geo) has no pooling and ignores them.
POOLING_PRIORS = ("roi_tau", "trend_tau", "season_tau", "control_tau",
                  "roi_mu", "trend_mu", "season_mu", "control_mu")  # fmt: skip


@dataclass(frozen=True)
class MMM:
    """A marketing-mix model specification. Immutable; ``fit`` returns a :class:`~mmmjax.Fit`.

    Args:
      adstock: carryover kernel: "geometric", "delayed", "weibull_pdf" or "weibull_cdf".
      saturation: diminishing returns: "hill", "logistic", "michaelis_menten" or "tanh".
      l_max: longest lag in periods for the delayed and Weibull kernels (geometric is exact,
        infinite-horizon).
      seasonality: yearly Fourier order (0 for none); the period comes from the data's frequency.
      trend: "none", "linear" or "piecewise" (continuous, with ``changepoints`` kinks).
      changepoints: number of piecewise-trend changepoints over the first 80% of the window.
      likelihood: "normal" or "student_t".
      form: "additive" (target = sum of parts) or "multiplicative" (log target = sum of parts).
      priors: overrides of :data:`mmmjax.model.priors.DEFAULT_PRIORS`: ``{name: Prior}`` or, for
        channel parameters, ``{name: {channel: Prior}}``.
      adstock_method: geometric adstock evaluation: "scan", "associative" or "auto".
      centring: for panels with several geos, how each pooled parameter is sampled: "auto"
        (chosen from the data per parameter), "centred" or "non-centred"
        (:func:`mmmjax.model.geo.choose_centring`); national data (one geo) have no pooling.

    The same specification fits national data and panels (``MMM().fit(panel)``: partial
    pooling over geos when there are several, none for one). ``priors`` may also hold the
    pooling priors of :data:`POOLING_PRIORS` (e.g. ``{"roi_tau": Prior("HalfNormal",
    scale=0.1)}`` to pool ROI harder); a national fit ignores them.
    """

    adstock: str = "geometric"
    saturation: str = "hill"
    l_max: int = 8
    seasonality: int = 2
    trend: str = "linear"
    changepoints: int = 6
    likelihood: str = "normal"
    form: str = "additive"
    priors: Mapping[str, Any] | None = field(default=None, compare=False)
    adstock_method: str = "auto"
    centring: str = "auto"

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("adstock", self.adstock, tuple(ADSTOCK_PARAMS)),
            ("saturation", self.saturation, tuple(SATURATION_PARAMS)),
            ("trend", self.trend, TRENDS),
            ("likelihood", self.likelihood, LIKELIHOODS),
            ("form", self.form, FORMS),
            ("adstock_method", self.adstock_method, ADSTOCK_METHODS),
            ("centring", self.centring, CENTRING),
        ):
            if value not in allowed:
                raise ValueError(f"MMM: {name}={value!r} is not one of {', '.join(allowed)}")
        if int(self.l_max) < 1:
            raise ValueError(f"MMM: l_max must be at least 1, got {self.l_max}")
        if int(self.seasonality) < 0:
            raise ValueError(
                f"MMM: seasonality (Fourier order) must be >= 0, got {self.seasonality}"
            )

    # -- parameters ---------------------------------------------------------------------------
    @property
    def channel_params(self) -> tuple[str, ...]:
        """Per-channel parameters sampled by this specification."""
        return ("media_roi", *kernel_params(self))

    @property
    def multiplicative(self) -> bool:
        return self.form == "multiplicative"

    @property
    def n_changepoints(self) -> int:
        return int(self.changepoints) if self.trend == "piecewise" else 0

    def resolved_priors(self, channels) -> dict[str, Prior]:
        """``{site: Prior}`` of the national (one-geo) model: defaults with ``priors`` over them
        (the pooling priors of a panel left out)."""
        national = {k: v for k, v in (self.priors or {}).items() if k not in POOLING_PRIORS}
        return resolve_priors(national, list(channels), multiplicative=self.multiplicative)

    def national(self) -> MMM:
        """This specification without the pooling priors and options of a panel."""
        national = {k: v for k, v in (self.priors or {}).items() if k not in POOLING_PRIORS}
        return dataclasses.replace(self, priors=national or None, centring="auto")

    def pooling_priors(self) -> dict[str, Prior]:
        """The priors of :data:`POOLING_PRIORS` given in ``priors`` (a panel's)."""
        return {k: v for k, v in (self.priors or {}).items() if k in POOLING_PRIORS}

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        priors = {}
        for name, value in (self.priors or {}).items():
            if isinstance(value, Prior):
                priors[name] = value.to_dict()
            else:
                priors[name] = {ch: p.to_dict() for ch, p in value.items()}
        return {
            "adstock": self.adstock,
            "saturation": self.saturation,
            "l_max": int(self.l_max),
            "seasonality": int(self.seasonality),
            "trend": self.trend,
            "changepoints": int(self.changepoints),
            "likelihood": self.likelihood,
            "form": self.form,
            "priors": priors,
            "adstock_method": self.adstock_method,
            "centring": self.centring,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MMM:
        d = dict(d)
        priors = {}
        for name, value in (d.pop("priors", None) or {}).items():
            if "dist" in value:
                priors[name] = Prior.from_dict(value)
            else:
                priors[name] = {ch: Prior.from_dict(p) for ch, p in value.items()}
        return cls(**d, priors=priors or None)

    # -- entry points (implemented in mmmjax.inference.fit to keep this module the pure core)
    # ------------
    def fit(self, dataset, chains: int = 4, draws: int = 1000, warmup: int = 1000, seed: int = 0,
            **kwargs: Any):  # fmt: skip
        """Sample the posterior with NUTS; see :func:`mmmjax.inference.fit.fit_model` for every
        option.

        ``dataset`` is national data (a :class:`~mmmjax.Dataset`) or a panel (a
        :class:`~mmmjax.GeoDataset`, fitted with partial pooling over its geos by
        :func:`mmmjax.engine.fit`; a one-geo panel is fitted as national data).
        """
        from mmmjax.engine import fit

        return fit(self, dataset, chains=chains, draws=draws, warmup=warmup, seed=seed, **kwargs)

    def sample_prior_predictive(self, dataset, draws: int = 500, seed: int = 0):
        """Prior draws and prior predictive target (money) as ArviZ's data object.

        An ``arviz.InferenceData`` on ArviZ 0.x, an ``xarray.DataTree`` on 1.x
        (:data:`mmmjax.inference.idata.IData`); groups ``prior``, ``prior_predictive``,
        ``observed_data``.
        """
        from mmmjax.inference.fit import prior_predictive_idata

        return prior_predictive_idata(self, dataset, draws=draws, seed=seed)


class Components(NamedTuple):
    """Parts of the mean function in scaled units (log scale for the multiplicative form).

    Shapes: ``(T,)`` for every part except ``media`` ``(T, C)``; ``mu`` is their sum.
    """

    intercept: jax.Array
    trend: jax.Array
    seasonality: jax.Array
    controls: jax.Array
    events: jax.Array
    media: jax.Array
    mu: jax.Array


def adstock(spec: MMM, params: Mapping[str, jax.Array], x: jax.Array) -> jax.Array:
    """Normalised adstock of scaled spend ``x`` ``(..., T, C)`` with per-channel ``params``."""
    method = "scan" if spec.adstock_method == "auto" else spec.adstock_method
    return transforms.apply_adstock(spec.adstock, x, params, l_max=spec.l_max, method=method)


def saturation(spec: MMM, params: Mapping[str, jax.Array], x: jax.Array) -> jax.Array:
    """Saturation of the (adstocked, scaled) level ``x`` with per-channel ``params``."""
    return transforms.apply_saturation(spec.saturation, x, params)


def kernel_params(spec: MMM) -> tuple[str, ...]:
    """The adstock then saturation parameter names of ``spec`` (one value per channel each)."""
    return ADSTOCK_PARAMS[spec.adstock] + SATURATION_PARAMS[spec.saturation]


def media_shape(spec: MMM, params: Mapping[str, jax.Array], x: jax.Array) -> jax.Array:
    """``sat(adstock(x))`` of scaled spend ``x`` ``(..., T, C)``: the media's shape over time."""
    return saturation(spec, params, adstock(spec, params, x))


def media_scale(
    spec: MMM, params: Mapping[str, jax.Array], train_shape: jax.Array, design: Design
) -> jax.Array:
    """``(C,)`` scaled effect per unit of media shape: ``media = media_scale * shape``.

    ``media_roi * roi_to_effect / mean_t shape_train[t]``, so that the media term averages
    ``media_roi * mean_spend / mean_target`` over the training window (``train_shape``, the
    training :func:`media_shape` ``(T_train, C)``): the window ROI is ``media_roi`` exactly in
    the additive form. A channel with no training spend (shape 0) gets scale
    ``media_roi * roi_to_effect`` and contributes nothing.
    """
    mean = train_shape.mean(axis=-2)
    return params["media_roi"] * design.roi_to_effect / jnp.where(mean > 0, mean, 1.0)


def components(
    spec: MMM,
    params: Mapping[str, jax.Array],
    design: Design,
    reference: Design | None = None,
) -> Components:
    """The mean function's parts for one parameter draw (vmap for many).

    The sampled ``intercept`` is the *mean level* of the mean function over the training
    window: the trend is centred on the middle of the window and each channel's media term on
    its training-window mean, so that level barely correlates with the trend and media
    parameters (measured on HAMS: NUTS needs 26 leapfrog steps per draw instead of 61). The
    ``intercept`` component returned here is the uncentred baseline (that level minus the
    media's training mean), so the parts still add up to ``mu``. Each channel's media is
    normalised by its training-window mean shape, so the sampled ``media_roi`` is the window
    ROI (see the module docstring).

    Args:
      spec: the model specification.
      params: a posterior (or prior) draw: scalars, and ``(C,)``/``(K,)``/``(E,)`` vectors.
      design: scaled inputs for ``T`` periods.
      reference: the training design, whose media mean the level and the media normalisation
        are measured against; default ``design`` itself (pass the training design when
        ``design`` holds other periods).

    Returns:
      :class:`Components` in scaled units.
    """
    return components_and_scale(spec, params, design, reference)[0]


def components_and_scale(
    spec: MMM, params: Mapping[str, jax.Array], design: Design, reference: Design | None = None
) -> tuple[Components, jax.Array]:
    """:func:`components` and the ``(C,)`` :func:`media_scale` it used (one draw, one geo;
    the geo model ``vmap``-s it over geos, :func:`mmmjax.model.geo.geo_components`)."""
    T = design.spend.shape[0]
    zeros = jnp.zeros((T,), dtype=design.spend.dtype)
    trend = zeros
    if spec.trend != "none":
        trend = params["trend_slope"] * (design.t - 0.5)  # t is 0..1 over the training window
        if spec.n_changepoints:
            hinge = jnp.maximum(design.t[:, None] - design.changepoints[None, :], 0.0)
            trend = trend + hinge @ params["trend_delta"]
    seasonality = design.fourier @ params["season"] if design.fourier.shape[1] else zeros
    controls = design.controls @ params["control_coef"] if design.controls.shape[1] else zeros
    events = design.events @ params["event_coef"] if design.events.shape[1] else zeros
    shape = media_shape(spec, params, design.spend)
    train_shape = shape if reference is None else media_shape(spec, params, reference.spend)
    scale = media_scale(spec, params, train_shape, design)
    media = scale * shape
    intercept = zeros + params["intercept"] - (scale * train_shape.mean(axis=-2)).sum(-1)
    mu = intercept + trend + seasonality + controls + events + media.sum(-1)
    return Components(intercept, trend, seasonality, controls, events, media, mu), scale


def implied_lift(
    spec: MMM, params: Mapping[str, jax.Array], design: Design, lift: LiftData
) -> jax.Array:
    """``(K,)`` the model's incremental target of each lift test, scaled units (vmap for draws).

    For test ``k`` on channel ``c = lift.channel[k]``, the scaled spend of ``c`` is raised by
    ``lift.delta[k]`` in every period of its window (``lift.mask[k]``), and the implied lift is
    the change of that channel's media term summed over the window's periods: carryover *within*
    the window is counted, carryover after the window's last period is not (a test measures the
    window). Additive form: ``sum_t mask * (media_new - media)``; multiplicative form, on the
    model's level ``exp(mu)``: ``sum_t mask * exp(mu) * (exp(media_new - media) - 1)``. Times
    the mean target it is money. ``design`` must be the training design (the tests' windows
    index its periods).

    All tests run at once: channel ``c_k``'s spend column and parameters are gathered into a
    ``(K, T, 1)`` input and ``(K, 1)`` parameters, one adstock and one saturation call.
    """
    comp, scale = components_and_scale(spec, params, design)
    return _lift_from(spec, params, design, lift, comp, scale)


def _lift_from(spec, params, design: Design, lift: LiftData, comp: Components, scale):
    c = lift.channel
    kernel = {k: params[k][c][:, None] for k in kernel_params(spec)}
    x_new = design.spend.T[c] + lift.delta[:, None] * lift.mask  # (K, T)
    media_new = scale[c][:, None] * media_shape(spec, kernel, x_new[..., None])[..., 0]
    change = media_new - comp.media.T[c]  # (K, T), channel c_k's media term
    if spec.multiplicative:
        change = jnp.exp(comp.mu)[None, :] * jnp.expm1(change)
    return (change * lift.mask).sum(-1)


def site_shapes(spec: MMM, design: Design) -> dict[str, tuple[int, ...]]:
    """Shape of one draw of each sampled site of the NumPyro model, in sampling order."""
    shapes: dict[str, tuple[int, ...]] = {"intercept": ()}
    if spec.trend != "none":
        shapes["trend_slope"] = ()
        if spec.n_changepoints:
            shapes["trend_delta"] = (design.changepoints.shape[0],)
    for name, n in (
        ("season", design.fourier.shape[1]),
        ("control_coef", design.controls.shape[1]),
        ("event_coef", design.events.shape[1]),
    ):
        if n:
            shapes[name] = (n,)
    for name in spec.channel_params:
        shapes[name] = (design.spend.shape[1],)
    shapes["sigma"] = ()
    if spec.likelihood == "student_t":
        shapes["nu"] = ()
    return shapes


def sampled_sites(spec: MMM, design: Design) -> list[str]:
    """Names of the sampled (not deterministic) sites of the NumPyro model, in order."""
    return list(site_shapes(spec, design))


def numpyro_model(
    spec: MMM, priors: Mapping[str, Prior], design: Design, y=None, lift: LiftData | None = None
) -> None:
    """The NumPyro model: priors on every parameter, then the likelihood of scaled ``y`` ``(T,)``.

    ``y`` is the target over its mean (its log for the multiplicative form); ``None`` samples it.
    ``lift`` holds the lift tests (see :func:`mmmjax.model.calibration.lift_data`): each adds
    ``lift ~ Normal(implied_lift, lift_se)`` (scaled units). With no tests (``K = 0``, a static
    shape) there is no such site and the model is exactly the one without calibration.
    """

    def vector(name: str, n: int) -> jax.Array:
        return numpyro.sample(name, priors[name].build().expand([n]).to_event(1))

    params: dict[str, jax.Array] = {
        "intercept": numpyro.sample("intercept", priors["intercept"].build())
    }
    if spec.trend != "none":
        params["trend_slope"] = numpyro.sample("trend_slope", priors["trend_slope"].build())
        if spec.n_changepoints:
            params["trend_delta"] = vector("trend_delta", design.changepoints.shape[0])
    if design.fourier.shape[1]:
        params["season"] = vector("season", design.fourier.shape[1])
    if design.controls.shape[1]:
        params["control_coef"] = vector("control_coef", design.controls.shape[1])
    if design.events.shape[1]:
        params["event_coef"] = vector("event_coef", design.events.shape[1])
    with numpyro.plate("channel", design.spend.shape[1]):
        for name in spec.channel_params:
            params[name] = numpyro.sample(name, priors[name].build())
    sigma = numpyro.sample("sigma", priors["sigma"].build())
    comp, scale = components_and_scale(spec, params, design)
    mu = comp.mu
    if spec.likelihood == "student_t":
        nu = numpyro.sample("nu", priors["nu"].build())
        noise = dist.StudentT(nu, mu, sigma)
    else:
        noise = dist.Normal(mu, sigma)
    numpyro.sample("y", noise.to_event(1), obs=y)
    if lift is not None and lift.channel.shape[0]:
        implied = _lift_from(spec, params, design, lift, comp, scale)
        numpyro.sample("lift", dist.Normal(implied, lift.lift_se).to_event(1), obs=lift.lift)
