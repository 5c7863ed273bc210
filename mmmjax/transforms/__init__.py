"""Adstock and saturation kernels, and the registry ``mmmjax.MMM`` picks them from by name.

Kernels (see each docstring for the exact formula, shapes and units):

* adstock: ``geometric_adstock``, ``delayed_adstock``, ``weibull_adstock``, the shared finite-lag
  ``convolve_adstock`` and the lag-weight helpers ``geometric_weights``, ``delayed_weights``,
  ``weibull_weights`` (``(..., L, C)``, lag axis -2; handy for plotting decay shapes);
* saturation: ``hill``, ``logistic``, ``michaelis_menten``, ``tanh_saturation``.

Registry: ``ADSTOCKS[name]`` is an ``Adstock`` and ``SATURATIONS[name]`` a ``Saturation``; each
names its parameters (in call order, as the model's sample sites are called) and gives uniform
callables. The model, the simulator and the insights dispatch through it and never branch on the
kernel name::

    spec = ADSTOCKS["delayed"]            # spec.params == ("alpha", "theta")
    y = spec.apply(x, alpha, theta, l_max=8, normalize=True)
    w = spec.weights(alpha, theta, l_max=8, normalize=True)
    sat = SATURATIONS["hill"]             # sat.params == ("half_saturation", "slope")
    z = sat.apply(y, half_saturation, slope)
    # or with parameters by name, as the model holds them:
    y = apply_adstock("delayed", x, {"alpha": alpha, "theta": theta}, l_max=8)
    z = apply_saturation("hill", y, {"half_saturation": k, "slope": s})

``get_adstock(name)`` / ``get_saturation(name)`` look a name up and raise a ``ValueError`` listing
the valid names otherwise.

Each entry also carries ``truth``: for every parameter a :class:`TruthRange`, the uniform range
:func:`mmmjax.simulate` draws its true value from (in the model's scaled units: spend over each
channel's spend unit, time in periods) and how the parameter scales with spend, so the simulator
reads the kernel's parameters from here instead of branching on its name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from mmmjax.transforms.adstock import (
    convolve_adstock,
    delayed_adstock,
    delayed_weights,
    geometric_adstock,
    geometric_weights,
    weibull_adstock,
    weibull_weights,
)
from mmmjax.transforms.saturation import hill, logistic, michaelis_menten, tanh_saturation

__all__ = [
    "ADSTOCKS",
    "SATURATIONS",
    "Adstock",
    "Saturation",
    "TruthRange",
    "adstock_lag_weights",
    "apply_adstock",
    "apply_saturation",
    "convolve_adstock",
    "delayed_adstock",
    "delayed_weights",
    "geometric_adstock",
    "geometric_weights",
    "get_adstock",
    "get_saturation",
    "hill",
    "logistic",
    "michaelis_menten",
    "tanh_saturation",
    "weibull_adstock",
    "weibull_weights",
]


class TruthRange(NamedTuple):
    """How :func:`mmmjax.simulate` draws one kernel parameter's true value, per channel.

    Attributes:
      low, high: the uniform range, in the model's scaled units (spend over the channel's spend
        unit; lags and Weibull scales in periods).
      spend_power: the parameter's unit is (spend unit) ** ``spend_power``: 1 for a spend level
        (``half_saturation``, ``tanh_scale``), -1 for a rate per unit of spend (``lam``), 0 for a
        dimensionless or time parameter. ``value_in_money = scaled * unit ** spend_power``.
      below_l_max: ``high`` is capped at ``l_max - 1`` (a lag that must fit the kernel's window).
    """

    low: float
    high: float
    spend_power: int = 0
    below_l_max: bool = False

    def bounds(self, l_max: int) -> tuple[float, float]:
        """``(low, high)`` for a kernel of ``l_max`` lags."""
        high = min(self.high, float(l_max) - 1.0) if self.below_l_max else self.high
        return float(self.low), float(high)


class Adstock(NamedTuple):
    """An adstock kernel as the model sees it.

    Attributes:
      params: parameter names (the model's sample sites), in the order ``apply`` and
        ``weights`` take them.
      apply: ``apply(x, *params, l_max, normalize, method="scan") -> (..., T, C)``. For
        ``"geometric"`` the recursion is exact (untruncated), ``l_max`` is ignored and
        ``method`` picks ``"scan"`` or ``"associative"``; the other kernels ignore ``method``.
      weights: ``weights(*params, l_max, normalize) -> (..., l_max, C)`` lag weights.
      normalize: the kernel's default for ``normalize``.
      truth: ``{param: TruthRange}`` for the simulator (every name of ``params``).
    """

    params: tuple[str, ...]
    apply: Callable
    weights: Callable
    normalize: bool
    truth: Mapping[str, TruthRange] | None = None


class Saturation(NamedTuple):
    """A saturation kernel as the model sees it.

    Attributes:
      params: parameter names (the model's sample sites), in the order ``apply`` takes them
        after ``x``.
      apply: ``apply(x, *params) -> x``-shaped values in ``[0, 1]``.
      truth: ``{param: TruthRange}`` for the simulator (every name of ``params``).
    """

    params: tuple[str, ...]
    apply: Callable
    truth: Mapping[str, TruthRange] | None = None


def _geometric_apply(x, alpha, *, l_max, normalize, method="scan"):
    del l_max  # exact recursion: no truncation
    return geometric_adstock(x, alpha, normalize, method=method)


def _geometric_weights(alpha, *, l_max, normalize):
    return geometric_weights(alpha, l_max, normalize)


def _delayed_apply(x, alpha, theta, *, l_max, normalize, method="scan"):
    del method  # finite-lag convolution
    return delayed_adstock(x, alpha, theta, l_max, normalize)


def _delayed_weights(alpha, theta, *, l_max, normalize):
    return delayed_weights(alpha, theta, l_max, normalize)


def _weibull(kind: str) -> tuple[Callable, Callable]:
    def apply(x, shape, scale, *, l_max, normalize, method="scan"):
        del method  # finite-lag convolution
        return weibull_adstock(x, shape, scale, l_max, kind, normalize)

    def weights(shape, scale, *, l_max, normalize):
        return weibull_weights(shape, scale, l_max, kind, normalize)

    return apply, weights


_R = TruthRange

ADSTOCKS: dict[str, Adstock] = {
    "geometric": Adstock(("alpha",), _geometric_apply, _geometric_weights, False,
                         {"alpha": _R(0.2, 0.7)}),
    "delayed": Adstock(("alpha", "theta"), _delayed_apply, _delayed_weights, True,
                       {"alpha": _R(0.3, 0.7), "theta": _R(0.0, 3.0, below_l_max=True)}),
    "weibull_pdf": Adstock(("weibull_shape", "weibull_scale"), *_weibull("pdf"), True,
                           {"weibull_shape": _R(1.5, 3.0), "weibull_scale": _R(1.5, 4.0)}),
    "weibull_cdf": Adstock(("weibull_shape", "weibull_scale"), *_weibull("cdf"), True,
                           {"weibull_shape": _R(0.7, 1.5), "weibull_scale": _R(1.0, 3.0)}),
}  # fmt: skip

SATURATIONS: dict[str, Saturation] = {
    "hill": Saturation(("half_saturation", "slope"), hill,
                       {"half_saturation": _R(0.6, 1.8, 1), "slope": _R(1.0, 2.5)}),
    "logistic": Saturation(("lam",), logistic, {"lam": _R(0.5, 3.0, -1)}),
    "michaelis_menten": Saturation(("half_saturation",), michaelis_menten,
                                   {"half_saturation": _R(0.5, 2.0, 1)}),
    "tanh": Saturation(("tanh_scale",), tanh_saturation, {"tanh_scale": _R(0.5, 2.0, 1)}),
}  # fmt: skip


def get_adstock(name: str) -> Adstock:
    """The registered adstock kernel called ``name`` (one of ``ADSTOCKS``)."""
    try:
        return ADSTOCKS[name]
    except KeyError:
        raise ValueError(f"unknown adstock {name!r}; choose one of {sorted(ADSTOCKS)}") from None


def get_saturation(name: str) -> Saturation:
    """The registered saturation kernel called ``name`` (one of ``SATURATIONS``)."""
    try:
        return SATURATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown saturation {name!r}; choose one of {sorted(SATURATIONS)}"
        ) from None


def apply_adstock(
    name: str,
    x,
    params: Mapping[str, Any],
    *,
    l_max: int,
    normalize: bool = True,
    method: str = "scan",
):
    """Adstock ``name`` of ``x`` ``(..., T, C)`` with its parameters taken by name from ``params``.

    ``params[p]`` for each ``p`` in ``ADSTOCKS[name].params`` (``(C,)`` or broadcasting against
    ``x``'s leading axes plus ``(C,)``); other entries are ignored, so a whole parameter draw
    can be passed. Normalised by default, as the model uses every kernel (lag weights sum to 1).

    Example:
      >>> import jax.numpy as jnp
      >>> y = apply_adstock("geometric", jnp.ones((4, 2)), {"alpha": jnp.array([0.5, 0.2])},
      ...                   l_max=8)
    """
    k = get_adstock(name)
    args = [params[p] for p in k.params]
    return k.apply(x, *args, l_max=int(l_max), normalize=normalize, method=method)


def adstock_lag_weights(name: str, params: Mapping[str, Any], *, l_max: int, normalize=True):
    """Lag weights ``(..., l_max, C)`` of adstock ``name``, parameters by name (see
    :func:`apply_adstock`)."""
    k = get_adstock(name)
    return k.weights(*[params[p] for p in k.params], l_max=int(l_max), normalize=normalize)


def apply_saturation(name: str, x, params: Mapping[str, Any]):
    """Saturation ``name`` of ``x`` with its parameters taken by name from ``params``.

    Example:
      >>> import jax.numpy as jnp
      >>> z = apply_saturation("hill", jnp.ones((4, 2)), {"half_saturation": 1.0, "slope": 2.0})
    """
    k = get_saturation(name)
    return k.apply(x, *[params[p] for p in k.params])
