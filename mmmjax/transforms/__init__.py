"""Adstock and saturation kernels, and the registry ``mmmjax.MMM`` picks them from by name.

Kernels (see each docstring for the exact formula, shapes and units):

* adstock: ``geometric_adstock``, ``delayed_adstock``, ``weibull_adstock``, the shared finite-lag
  ``convolve_adstock`` and the lag-weight helpers ``geometric_weights``, ``delayed_weights``,
  ``weibull_weights`` (``(..., L, C)``, lag axis -2; handy for plotting decay shapes);
* saturation: ``hill``, ``logistic``, ``michaelis_menten``, ``tanh_saturation``.

Registry: ``ADSTOCKS[name]`` is an ``Adstock`` and ``SATURATIONS[name]`` a ``Saturation``; each
names its parameters (in call order) and gives uniform callables, so the model never branches on
the kernel name::

    spec = ADSTOCKS["delayed"]            # spec.params == ("alpha", "theta")
    y = spec.apply(x, alpha, theta, l_max=8, normalize=True)
    w = spec.weights(alpha, theta, l_max=8, normalize=True)
    sat = SATURATIONS["hill"]             # sat.params == ("half_saturation", "slope")
    z = sat.apply(y, half_saturation, slope)

``get_adstock(name)`` / ``get_saturation(name)`` look a name up and raise a ``ValueError`` listing
the valid names otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

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


class Adstock(NamedTuple):
    """An adstock kernel as the model sees it.

    Attributes:
      params: parameter names, in the order ``apply`` and ``weights`` take them.
      apply: ``apply(x, *params, l_max, normalize) -> (..., T, C)``. For ``"geometric"`` the
        recursion is exact (untruncated) and ``l_max`` is ignored.
      weights: ``weights(*params, l_max, normalize) -> (..., l_max, C)`` lag weights.
      normalize: the kernel's default for ``normalize``.
    """

    params: tuple[str, ...]
    apply: Callable
    weights: Callable
    normalize: bool


class Saturation(NamedTuple):
    """A saturation kernel as the model sees it.

    Attributes:
      params: parameter names, in the order ``apply`` takes them after ``x``.
      apply: ``apply(x, *params) -> x``-shaped values in ``[0, 1]``.
    """

    params: tuple[str, ...]
    apply: Callable


def _geometric_apply(x, alpha, *, l_max, normalize):
    del l_max  # exact recursion: no truncation
    return geometric_adstock(x, alpha, normalize)


def _geometric_weights(alpha, *, l_max, normalize):
    return geometric_weights(alpha, l_max, normalize)


def _delayed_apply(x, alpha, theta, *, l_max, normalize):
    return delayed_adstock(x, alpha, theta, l_max, normalize)


def _delayed_weights(alpha, theta, *, l_max, normalize):
    return delayed_weights(alpha, theta, l_max, normalize)


def _weibull(kind: str) -> tuple[Callable, Callable]:
    def apply(x, shape, scale, *, l_max, normalize):
        return weibull_adstock(x, shape, scale, l_max, kind, normalize)

    def weights(shape, scale, *, l_max, normalize):
        return weibull_weights(shape, scale, l_max, kind, normalize)

    return apply, weights


ADSTOCKS: dict[str, Adstock] = {
    "geometric": Adstock(("alpha",), _geometric_apply, _geometric_weights, False),
    "delayed": Adstock(("alpha", "theta"), _delayed_apply, _delayed_weights, True),
    "weibull_pdf": Adstock(("shape", "scale"), *_weibull("pdf"), True),
    "weibull_cdf": Adstock(("shape", "scale"), *_weibull("cdf"), True),
}

SATURATIONS: dict[str, Saturation] = {
    "hill": Saturation(("half_saturation", "slope"), hill),
    "logistic": Saturation(("lam",), logistic),
    "michaelis_menten": Saturation(("half_saturation",), michaelis_menten),
    "tanh": Saturation(("scale",), tanh_saturation),
}


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
