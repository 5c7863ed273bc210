"""Priors of the MMM: serialisable specs, documented defaults, per-channel overrides.

A prior is a :class:`Prior` — a NumPyro distribution *name* and its keyword parameters — rather
than a live distribution object, so that a model specification saves to JSON and loads back
exactly (no pickle). Parameters are floats or per-channel lists.

All defaults live in scaled units: spend is divided by each channel's mean spend per period (so
``x = 1`` is "spend at its usual level"), the target by its mean (so the target is about 1), and
controls are standardised. See :data:`DEFAULT_PRIORS` for each default and why it was chosen.

Example:
    >>> from mmmjax.model.priors import Prior
    >>> Prior("Beta", concentration1=3.0, concentration0=3.0).build().mean
    Array(0.5, dtype=float32)
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax.numpy as jnp
import numpy as np
import numpyro  # noqa: F401  # first, whole: see mmmjax.inference.idata
import numpyro.distributions as dist

__all__ = ["DEFAULT_PRIORS", "Prior", "PriorSet", "resolve_priors"]


@dataclass(frozen=True)
class Prior:
    """A prior distribution by NumPyro name and parameters, e.g. ``Prior("HalfNormal", scale=0.2)``.

    Parameters may be scalars or per-channel sequences (length ``C``) for channel parameters.
    """

    dist: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __init__(self, dist: str, /, **params: Any) -> None:
        cls = distribution_class(dist)
        names = _parameter_names(cls)
        for key, value in params.items():
            if names is not None and key not in names:
                raise ValueError(
                    f"prior {dist!r}: no parameter {key!r} (its parameters: {', '.join(names)})"
                )
            _check_parameter(dist, key, value)
        object.__setattr__(self, "dist", dist)
        object.__setattr__(self, "params", dict(params))

    def build(self) -> dist.Distribution:
        """The NumPyro distribution (parameters as float32 arrays)."""
        kwargs = {k: jnp.asarray(v, dtype=jnp.float32) for k, v in self.params.items()}
        return getattr(dist_module(), self.dist)(**kwargs)

    @property
    def support(self) -> Any:
        """The distribution's support (a NumPyro constraint), without building it if possible."""
        support = getattr(getattr(dist_module(), self.dist), "support", None)
        constraints = dist.constraints
        if isinstance(support, constraints.Constraint) and not constraints.is_dependent(support):
            return support
        return self.build().support  # a support that depends on the parameters

    def sample_numpy(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """Draws of ``shape`` (the last axis broadcasting with per-channel parameters).

        Common families are drawn with NumPy, which needs no XLA compilation (JAX's PRNG and
        NumPyro's Gamma/Beta samplers take seconds to compile on CPU); others fall back to
        NumPyro.
        """
        p = {k: np.asarray(v, dtype=np.float64) for k, v in self.params.items()}
        draw = _NUMPY_SAMPLERS.get(self.dist)
        if draw is not None:
            return np.asarray(draw(rng, p, shape), dtype=np.float64)
        import jax

        key = jax.random.PRNGKey(int(rng.integers(2**31)))
        return np.asarray(self.build().expand(shape[len(shape) - 1 :]).sample(key, shape[:-1]))

    def to_dict(self) -> dict[str, Any]:
        return {"dist": self.dist, "params": {k: _plain(v) for k, v in self.params.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Prior:
        """Inverse of :meth:`to_dict`: ``{"dist": name, "params": {name: number or list}}``.

        Raises:
          ValueError: ``d`` is not of that form, or names no continuous NumPyro distribution.
        """
        if not isinstance(d, Mapping) or not isinstance(d.get("dist"), str):
            raise ValueError(f"a prior must be {{'dist': name, 'params': {{...}}}}, got {d!r}")
        params = d.get("params", {})
        if not isinstance(params, Mapping):
            raise ValueError(f"prior {d['dist']!r}: params must be a mapping, got {params!r}")
        return cls(d["dist"], **params)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"Prior({self.dist!r}, {args})"


_NUMPY_SAMPLERS = {
    "Normal": lambda r, p, n: r.normal(p["loc"], p["scale"], n),
    "HalfNormal": lambda r, p, n: np.abs(r.normal(0.0, p["scale"], n)),
    "LogNormal": lambda r, p, n: r.lognormal(p["loc"], p["scale"], n),
    "Beta": lambda r, p, n: r.beta(p["concentration1"], p["concentration0"], n),
    "Gamma": lambda r, p, n: r.gamma(p["concentration"], 1.0 / p["rate"], n),
    "Laplace": lambda r, p, n: r.laplace(p["loc"], p["scale"], n),
    "Exponential": lambda r, p, n: r.exponential(1.0 / p["rate"], n),
    "Uniform": lambda r, p, n: r.uniform(p["low"], p["high"], n),
    "HalfCauchy": lambda r, p, n: np.abs(p["scale"] * r.standard_cauchy(n)),
    "StudentT": lambda r, p, n: p.get("loc", 0.0) + p.get("scale", 1.0) * r.standard_t(p["df"], n),
}


def dist_module():
    return dist


def distribution_class(name: str) -> type[dist.Distribution]:
    """The NumPyro distribution class called ``name``, if a prior can be one.

    Allowed: public subclasses of ``numpyro.distributions.Distribution`` whose support is not
    discrete (NUTS samples continuous parameters). Anything else the module holds (``constraints``,
    ``kl_divergence``, the ``Distribution`` base class, ``Poisson``) is refused.

    Raises:
      ValueError: naming the distribution and why.
    """
    public = isinstance(name, str) and not name.startswith("_")
    obj = getattr(dist_module(), name, None) if public else None
    if not (isinstance(obj, type) and issubclass(obj, dist.Distribution)) or obj is (
        dist.Distribution
    ):
        raise ValueError(
            f"unknown prior distribution {name!r} (use the name of a continuous "
            "numpyro.distributions distribution, e.g. 'Normal', 'LogNormal', 'HalfNormal')"
        )
    support = getattr(obj, "support", None)
    try:
        discrete = isinstance(support, dist.constraints.Constraint) and support.is_discrete
    except NotImplementedError:  # a support that depends on the parameters
        discrete = False
    if discrete:
        raise ValueError(f"prior distribution {name!r} is discrete; NUTS needs a continuous one")
    return obj


def _parameter_names(cls: type) -> list[str] | None:
    """The keyword parameters of ``cls``'s constructor (None if it takes ``**kwargs``)."""
    try:
        sig = inspect.signature(cls.__init__)
    except (TypeError, ValueError):
        return None
    names = []
    for p in list(sig.parameters.values())[1:]:
        if p.kind is p.VAR_KEYWORD:
            return None
        if p.kind is not p.VAR_POSITIONAL and p.name != "validate_args":
            names.append(p.name)
    return names


def _check_parameter(dist_name: str, key: str, value: Any) -> None:
    """A parameter is a finite number or a flat list of them (one per channel)."""
    bad = isinstance(value, (str, bytes, bool)) or value is None
    if not bad:
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            bad = True
        else:
            items = value if isinstance(value, (list, tuple)) else []
            bad = arr.ndim > 1 or any(isinstance(v, (str, bytes, bool)) or v is None
                                      for v in items)  # fmt: skip
            if not bad and not np.all(np.isfinite(arr)):
                raise ValueError(f"prior {dist_name!r}: parameter {key!r} must be finite, got "
                                 f"{value!r}")  # fmt: skip
    if bad:
        raise ValueError(
            f"prior {dist_name!r}: parameter {key!r} must be a number or a list of numbers, "
            f"got {value!r}"
        )


def _plain(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [float(x) for x in v]
    if hasattr(v, "tolist"):
        return v.tolist()
    return float(v)


# name -> (prior, why). Scaled units throughout (see module docstring).
DEFAULT_PRIORS: dict[str, tuple[Prior, str]] = {
    "intercept": (
        Prior("Normal", loc=1.0, scale=0.5),
        "mean level of the target over the data window (scaled: the target's mean is 1); media "
        "and trend are centred on that window, so this is the average and the baseline is "
        "derived from it. Centring halves NUTS trajectories on real data",
    ),
    "media_roi": (
        Prior("LogNormal", loc=0.0, scale=1.0),
        "window ROI: the channel's contribution over the data window divided by its spend "
        "there (money per money), exactly the ROI mmmjax.roi reports in the additive form "
        "(approximately in the multiplicative form). A prior on ROI scales with each channel's "
        "spend, so a tiny channel is not granted the same absolute effect as a large one (a "
        "prior on raw coefficients does exactly that), and a user's belief from a past test "
        "(say ROI between 2 and 4: mmmjax.roi_prior(2, 4)) is stated directly. Median 1, 90% "
        "between 0.2 and 5.2; positive, as media should not destroy sales. Sampling it, instead "
        "of the saturation's amplitude, also removes the ridge between amplitude and "
        "half-saturation: the effect over the window is what the data pin down",
    ),
    "alpha": (
        Prior("Beta", concentration1=2.0, concentration0=2.0),
        "geometric/delayed carryover rate; mean 0.5, weak, keeps away from the 0 and 1 edges",
    ),
    "theta": (
        Prior("HalfNormal", scale=2.0),
        "delayed adstock: lag of the peak effect in periods, mostly within 0-4",
    ),
    "weibull_shape": (
        Prior("Gamma", concentration=2.0, rate=1.0),
        "Weibull lag shape; below 1 decays from the start, above 1 peaks later",
    ),
    "weibull_scale": (
        Prior("Gamma", concentration=2.0, rate=1.0),
        "Weibull lag scale in periods; mean 2 periods",
    ),
    "half_saturation": (
        Prior("LogNormal", loc=0.0, scale=0.6),
        "Hill / Michaelis-Menten spend giving half the maximum effect, in units of mean spend; "
        "centred on the usual spend level, 90% between about 0.4x and 2.7x",
    ),
    "slope": (
        Prior("LogNormal", loc=0.2, scale=0.3),
        "Hill slope; median 1.22, 90% between 0.75 and 2.0: from concave to mildly S-shaped. "
        "Slopes well below 1 put a near-vertical tangent at zero spend (infinite at slope < 1), "
        "which is implausible and made chains stick and diverge in our recovery runs",
    ),
    "lam": (
        Prior("Gamma", concentration=2.0, rate=1.0),
        "logistic steepness per unit of mean spend; mean 2 means usual spend sits in the bend",
    ),
    "tanh_scale": (
        Prior("LogNormal", loc=0.0, scale=0.6),
        "tanh saturation scale in units of mean spend",
    ),
    "trend_slope": (
        Prior("Normal", loc=0.0, scale=0.25),
        "change of the baseline over the whole data window, as a share of mean target",
    ),
    "trend_delta": (
        Prior("Laplace", loc=0.0, scale=0.1),
        "piecewise trend: change of slope at each changepoint; sparse (Laplace) as in Prophet",
    ),
    "season": (
        Prior("Normal", loc=0.0, scale=0.15),
        "Fourier coefficients of yearly seasonality, as a share of mean target",
    ),
    "control_coef": (
        Prior("Normal", loc=0.0, scale=0.2),
        "effect of one standard deviation of a control, as a share of mean target",
    ),
    "event_coef": (
        Prior("Normal", loc=0.0, scale=0.3),
        "effect of an event/holiday dummy, as a share of mean target",
    ),
    "sigma": (
        Prior("HalfNormal", scale=0.2),
        "observation noise as a share of mean target (log scale for the multiplicative form)",
    ),
    "nu": (
        Prior("Gamma", concentration=2.0, rate=0.1),
        "Student-t degrees of freedom; mean 20, admits heavy tails",
    ),
}

#: Parameters that have one value per channel and may be overridden per channel.
CHANNEL_PARAMS = (
    "media_roi",
    "alpha",
    "theta",
    "weibull_shape",
    "weibull_scale",
    "half_saturation",
    "slope",
    "lam",
    "tanh_scale",
)

# The multiplicative (log-target) form has the baseline on the log scale around 0.
_MULTIPLICATIVE_OVERRIDES = {"intercept": Prior("Normal", loc=0.0, scale=0.5)}

PriorSet = dict[str, Prior]


def resolve_priors(
    overrides: Mapping[str, Any] | None,
    channels: Sequence[str],
    *,
    multiplicative: bool = False,
) -> PriorSet:
    """Merge user overrides into the defaults, expanding per-channel overrides to per-channel lists.

    Args:
      overrides: ``{name: Prior}`` to replace a default for every channel, or
        ``{name: {channel: Prior}}`` to replace it for some channels (same distribution family as
        the other channels, since channel parameters are sampled as one vector).
      channels: channel names, in model order.
      multiplicative: use the log-scale intercept default.

    Returns:
      ``{name: Prior}`` with per-channel parameters as lists of length ``C`` where needed.
    """
    priors: PriorSet = {k: p for k, (p, _) in DEFAULT_PRIORS.items()}
    if multiplicative:
        priors.update(_MULTIPLICATIVE_OVERRIDES)
    for name, value in (overrides or {}).items():
        if name not in priors:
            raise ValueError(f"unknown prior {name!r}; known: {', '.join(sorted(priors))}")
        if isinstance(value, Prior):
            priors[name] = value
            continue
        if isinstance(value, Mapping) and "dist" in value and "params" in value:
            priors[name] = Prior.from_dict(value)
            continue
        if not isinstance(value, Mapping) or name not in CHANNEL_PARAMS:
            raise ValueError(f"prior {name!r} must be a Prior or a mapping of channel to Prior")
        unknown = set(value) - set(channels)
        if unknown:
            raise ValueError(f"prior {name!r} names unknown channels: {sorted(unknown)}")
        base = priors[name]
        per_channel = [value.get(ch, base) for ch in channels]
        families = {p.dist for p in per_channel}
        if len(families) != 1:
            raise ValueError(
                f"prior {name!r}: per-channel overrides must keep one distribution family, "
                f"got {sorted(families)}"
            )
        keys = set(base.params) | {k for p in per_channel for k in p.params}
        params = {}
        for key in sorted(keys):
            vals = []
            for i, p in enumerate(per_channel):
                if key not in p.params:
                    raise ValueError(f"prior {name!r}: parameter {key!r} missing for a channel")
                v = p.params[key]
                vals.append(float(v[i]) if isinstance(v, (list, tuple)) else float(v))
            params[key] = vals
        priors[name] = Prior(per_channel[0].dist, **params)
    return priors
