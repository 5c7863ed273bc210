"""Saturation (diminishing-returns) kernels: Hill, logistic, Michaelis-Menten and tanh.

All are elementwise maps of non-negative media ``x`` (typically adstocked, ``(..., T, C)``)
into ``[0, 1)``, monotone non-decreasing in ``x``. A parameter is a scalar, ``(C,)``, or
``(..., C)`` whose leading axes broadcast against ``x``'s leading axes (a time axis is inserted
for you, so ``(draws, C)`` parameters with ``(T, C)`` media give ``(draws, T, C)``).

Outputs keep ``x``'s floating dtype, and values and gradients stay finite at zero spend and at
very large spend (e.g. ``1e12`` in float32).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from mmmjax.transforms.adstock import as_float, cast_param

Array = jax.Array

__all__ = ["hill", "logistic", "michaelis_menten", "tanh_saturation"]


@jax.jit
def hill(x: Array, half_saturation: Array, slope: Array) -> Array:
    r"""Hill saturation curve.

    .. math::

        f(x) = \frac{x^s}{x^s + K^s} = \sigma\big(s\,(\log x - \log K)\big), \qquad x \ge 0,

    with ``K = half_saturation`` (``f(K) = 1/2``) and ``s = slope``. It is evaluated as the
    logistic sigmoid of ``s * (log x - log K)``, so large ``x`` never overflows (``f -> 1``) and
    ``f(0) = 0`` is set by a double-``where`` guard, keeping every gradient finite at ``x = 0``
    even for ``s < 1``. There the derivative in ``x`` is the exact one-sided limit for ``s >= 1``
    (``1/K`` for ``s = 1``, ``0`` for ``s > 1``); for ``s < 1``, where the true derivative is
    infinite, the finite stand-in ``1/K`` is returned. Gradients in ``K`` and ``s`` at ``x = 0``
    are exactly 0. Negative ``x`` is outside the domain.

    Args:
      x: media, ``(..., T, C)`` (or any shape broadcasting with the parameters), ``>= 0``,
        in the same unit as ``half_saturation``.
      half_saturation: ``K > 0``, the media level giving half the maximum effect.
      slope: ``s > 0``, steepness (``s > 1`` gives an S-shape, ``s <= 1`` a concave curve).

    Returns:
      Saturated media in ``[0, 1]``, ``x``'s shape broadcast with the parameters, ``x``'s dtype.

    Example:
      >>> import jax.numpy as jnp
      >>> from mmmjax.transforms import hill
      >>> print(hill(jnp.array([[0.0], [1.0], [3.0]]), jnp.array([1.0]), jnp.array([2.0]))[:, 0])
      [0.  0.5 0.9]
    """
    x = as_float(x)
    k = cast_param(half_saturation, x.dtype, time_axis=True)
    s = cast_param(slope, x.dtype, time_axis=True)
    positive = x > 0
    x_safe = jnp.where(positive, x, 1)
    curve = jax.nn.sigmoid(s * (jnp.log(x_safe) - jnp.log(k)))
    # at x <= 0: value 0 with d/dx = 1/K for s <= 1 (exact at s = 1), 0 for s > 1 (exact)
    at_zero = x * jnp.where(s > 1, 0, 1 / k)
    return jnp.where(positive, curve, at_zero)


@jax.jit
def logistic(x: Array, lam: Array) -> Array:
    r"""Logistic saturation curve.

    .. math::

        f(x) = \frac{1 - e^{-\lambda x}}{1 + e^{-\lambda x}} = \tanh(\lambda x / 2),

    evaluated as the ``tanh`` form, which is exact and gives ``1`` (not ``inf/inf``) at huge
    ``lambda * x``.

    Args:
      x: media, ``(..., T, C)``, ``>= 0``.
      lam: ``lambda > 0``, steepness per unit of ``x``, ``(C,)`` or ``(..., C)``.

    Returns:
      Saturated media in ``[0, 1]``, broadcast shape, ``x``'s dtype.

    Example:
      >>> import jax.numpy as jnp
      >>> from mmmjax.transforms import logistic
      >>> print(logistic(jnp.array([[0.0], [1e12]]), jnp.array([2.0]))[:, 0])
      [0. 1.]
    """
    x = as_float(x)
    lam = cast_param(lam, x.dtype, time_axis=True)
    return jnp.tanh(lam * x / 2)


@jax.jit
def michaelis_menten(x: Array, half_saturation: Array) -> Array:
    r"""Michaelis-Menten saturation curve.

    .. math::

        f(x) = \frac{x}{x + K},

    the Hill curve with slope 1; ``f(K) = 1/2``.

    Args:
      x: media, ``(..., T, C)``, ``>= 0``, in the unit of ``half_saturation``.
      half_saturation: ``K > 0``, ``(C,)`` or ``(..., C)``.

    Returns:
      Saturated media in ``[0, 1)``, broadcast shape, ``x``'s dtype.

    Example:
      >>> import jax.numpy as jnp
      >>> from mmmjax.transforms import michaelis_menten
      >>> print(michaelis_menten(jnp.array([[0.0], [1.0], [3.0]]), jnp.array([1.0]))[:, 0])
      [0.   0.5  0.75]
    """
    x = as_float(x)
    k = cast_param(half_saturation, x.dtype, time_axis=True)
    return x / (x + k)


@jax.jit
def tanh_saturation(x: Array, scale: Array) -> Array:
    r"""Hyperbolic-tangent saturation curve.

    .. math::

        f(x) = \tanh(x / c),

    with ``c = scale`` (the slope at zero is ``1/c``).

    Args:
      x: media, ``(..., T, C)``, ``>= 0``, in the unit of ``scale``.
      scale: ``c > 0``, ``(C,)`` or ``(..., C)``.

    Returns:
      Saturated media in ``[0, 1]``, broadcast shape, ``x``'s dtype.

    Example:
      >>> import jax.numpy as jnp
      >>> from mmmjax.transforms import tanh_saturation
      >>> import numpy as np
      >>> y = tanh_saturation(jnp.array([[0.0], [1.0]]), jnp.array([2.0]))
      >>> print(np.asarray(y[:, 0]).round(4))
      [0.     0.4621]
    """
    x = as_float(x)
    c = cast_param(scale, x.dtype, time_axis=True)
    return jnp.tanh(x / c)
