"""Adstock (carry-over) kernels: geometric, delayed and Weibull lag structures.

Layout everywhere: media ``x`` is ``(..., T, C)`` (time on axis -2, channels on axis -1) and a
parameter is ``(C,)`` or ``(..., C)`` where ``...`` broadcasts against ``x``'s leading axes, e.g.
``alpha`` of shape ``(draws, C)`` with ``x`` of shape ``(T, C)`` or ``(draws, T, C)`` gives
``(draws, T, C)``. Lag weights are ``(..., L, C)`` (lag on axis -2).

Every kernel is pure JAX (works under ``jit``, ``vmap`` and ``grad``), keeps ``x``'s floating
dtype (float32 stays float32, float64 stays float64; parameters are cast to it) and has no Python
loop over time, draws or channels. Values and gradients stay finite at the edges of the parameter
space (zero spend, ``alpha`` exactly 0 or 1, very large spend).

The public functions are ``jax.jit``-compiled (so eager calls run as one XLA program); the
integer/string/bool options (``l_max``, ``kind``, ``normalize``, ``method``) are static, so a new
value compiles once. Inside an outer ``jit``/``vmap``/``grad`` they simply inline.

The finite-lag kernels (``delayed_adstock``, ``weibull_adstock``) are ``convolve_adstock`` applied
to their ``*_weights``, so there is one convolution implementation.
"""

from __future__ import annotations

import functools
import operator
from typing import Literal

import jax
import jax.numpy as jnp
from jax import lax

Array = jax.Array

__all__ = [
    "convolve_adstock",
    "delayed_adstock",
    "delayed_weights",
    "geometric_adstock",
    "geometric_weights",
    "weibull_adstock",
    "weibull_weights",
]


# --------------------------------------------------------------------------------------------
# shared helpers (also used by ``saturation``)
# --------------------------------------------------------------------------------------------


def _float_dtype(x: Array) -> jnp.dtype:
    """The floating dtype a kernel computes in: ``x``'s own if inexact, else JAX's default float."""
    dtype = jnp.result_type(x)
    if jnp.issubdtype(dtype, jnp.inexact):
        return dtype
    return jax.dtypes.canonicalize_dtype(jnp.float64)


def as_float(x) -> Array:
    """``x`` as a JAX array of a floating dtype (integers become the default float)."""
    x = jnp.asarray(x)
    return x.astype(_float_dtype(x))


def cast_param(p, dtype, *, time_axis: bool) -> Array:
    """Cast a parameter to ``dtype``; with ``time_axis`` insert a length-1 axis at -2 so a batched
    ``(..., C)`` parameter broadcasts against ``(..., T, C)`` (``(C,)`` and scalars need none)."""
    p = jnp.asarray(p).astype(dtype)
    if time_axis and p.ndim >= 2:
        p = jnp.expand_dims(p, -2)
    return p


def _check_media(x: Array, name: str = "x") -> None:
    if x.ndim < 2:
        raise ValueError(f"{name} must have shape (..., T, C) with time on axis -2; got {x.shape}")


def _check_l_max(l_max) -> int:
    try:
        n = operator.index(l_max)
    except TypeError:
        n = 0
    if isinstance(l_max, bool) or n < 1:
        raise ValueError(f"l_max must be a positive integer (a static lag count); got {l_max!r}")
    return n


def _lags(l_max: int, dtype) -> Array:
    """Lag index ``l = 0..l_max-1`` as a ``(l_max, 1)`` column (lag axis -2, channel axis -1)."""
    return jnp.arange(l_max, dtype=dtype)[:, None]


# --------------------------------------------------------------------------------------------
# geometric adstock (exact infinite recursion)
# --------------------------------------------------------------------------------------------


def _geometric_scan(x: Array, alpha: Array) -> Array:
    batch = jnp.broadcast_shapes(x.shape[:-2], alpha.shape[:-1])
    channels = jnp.broadcast_shapes(x.shape[-1:], alpha.shape[-1:])
    x = jnp.broadcast_to(x, (*batch, x.shape[-2], *channels))
    alpha = jnp.broadcast_to(alpha, (*batch, *channels))

    def step(carry, x_t):
        y_t = x_t + alpha * carry
        return y_t, y_t

    init = jnp.zeros((*batch, *channels), x.dtype)
    _, ys = lax.scan(step, init, jnp.moveaxis(x, -2, 0))
    return jnp.moveaxis(ys, 0, -2)


def _affine_compose(earlier, later):
    """Compose ``y -> a1 * y + b1`` then ``y -> a2 * y + b2`` into ``y -> a * y + b``."""
    a1, b1 = earlier
    a2, b2 = later
    return a1 * a2, a2 * b1 + b2


def _geometric_associative(x: Array, alpha: Array) -> Array:
    a = jnp.expand_dims(alpha, -2) if alpha.ndim >= 1 else alpha
    a, b = jnp.broadcast_arrays(a, x)
    _, y = lax.associative_scan(_affine_compose, (a, b), axis=b.ndim - 2)
    return y


@functools.partial(jax.jit, static_argnames=("normalize", "method"))
def geometric_adstock(
    x: Array,
    alpha: Array,
    normalize: bool = False,
    *,
    method: Literal["scan", "associative"] = "scan",
) -> Array:
    r"""Geometric (exponentially decaying) carry-over, computed exactly by recursion.

    .. math::

        y_t = x_t + \alpha\, y_{t-1}, \qquad y_{-1} = 0,

    so ``y[t] = sum_{l=0}^{t} alpha**l * x[t-l]`` (no truncation). With ``normalize=True`` the
    result is multiplied by ``(1 - alpha)``, so a unit pulse sums to 1 over an infinite horizon.

    ``method="scan"`` runs ``lax.scan`` over time (``T`` sequential steps; best on CPU).
    ``method="associative"`` solves the same linear recurrence with ``lax.associative_scan`` on
    affine maps ``(a, b): y -> a*y + b`` composed as ``(a1*a2, a2*b1 + b2)`` (``log2 T`` parallel
    levels; meant for long series on accelerators). Both agree to float rounding.

    Args:
      x: media, ``(..., T, C)``, in any non-negative unit (spend, impressions, scaled spend).
      alpha: per-period retention rate in ``[0, 1]``, ``(C,)`` or ``(..., C)`` broadcasting
        against ``x``'s leading axes. ``alpha = 0`` means no carry-over.
      normalize: multiply by ``(1 - alpha)`` so the long-run gain of the filter is 1.
      method: ``"scan"`` or ``"associative"``.

    Returns:
      Adstocked media, ``(..., T, C)`` (leading axes broadcast), in ``x``'s unit and dtype.

    Example:
      >>> import jax.numpy as jnp
      >>> from mmmjax.transforms import geometric_adstock
      >>> x = jnp.array([[1.0], [0.0], [0.0], [0.0]])
      >>> print(geometric_adstock(x, jnp.array([0.5]))[:, 0])
      [1.    0.5   0.25  0.125]
    """
    x = as_float(x)
    _check_media(x)
    alpha = jnp.asarray(alpha).astype(x.dtype)
    if method == "scan":
        y = _geometric_scan(x, alpha)
    elif method == "associative":
        y = _geometric_associative(x, alpha)
    else:
        raise ValueError(f"method must be 'scan' or 'associative'; got {method!r}")
    if normalize:
        y = y * (1 - cast_param(alpha, x.dtype, time_axis=True))
    return y


# --------------------------------------------------------------------------------------------
# lag weights
# --------------------------------------------------------------------------------------------


def _normalize_log_weights(log_w: Array, normalize: bool) -> Array:
    """``exp(log_w)``, or with ``normalize`` its softmax over the lag axis (-2).

    Working in log space keeps normalised weights finite when every raw weight underflows.
    """
    if normalize:
        return jax.nn.softmax(log_w, axis=-2)
    return jnp.exp(log_w)


@functools.partial(jax.jit, static_argnames=("l_max", "normalize"))
def geometric_weights(alpha: Array, l_max: int, normalize: bool = False) -> Array:
    r"""Truncated geometric lag weights ``w[l] = alpha ** l`` for ``l = 0..l_max-1``.

    .. math::

        w_l = \alpha^l, \qquad l = 0, \dots, L-1,

    With ``normalize=True`` they are multiplied by ``(1 - alpha)``, exactly as in
    ``geometric_adstock(normalize=True)``: the weights are the first ``L`` taps of a filter whose
    infinite-horizon sum is 1 (their own sum is ``1 - alpha**L``). So for either ``normalize``,
    ``convolve_adstock(x, geometric_weights(alpha, L, normalize))`` equals
    ``geometric_adstock(x, alpha, normalize)`` when ``T <= L`` and is its ``L``-tap truncation
    otherwise.

    Args:
      alpha: retention rate in ``[0, 1]``, ``(C,)`` or ``(..., C)``.
      l_max: number of lags ``L`` (a static Python int).
      normalize: multiply by ``(1 - alpha)`` (unit sum over an infinite horizon).

    Returns:
      Weights ``(..., L, C)`` (lag axis -2), dimensionless, in ``alpha``'s float dtype.

    Example:
      >>> import jax.numpy as jnp
      >>> from mmmjax.transforms import geometric_weights
      >>> print(geometric_weights(jnp.array([0.5]), 3)[:, 0])
      [1.   0.5  0.25]
    """
    l_max = _check_l_max(l_max)
    alpha = jnp.atleast_1d(as_float(alpha))
    # An integer exponent keeps d/dalpha finite at alpha = 0 (JAX special-cases 0 ** 0).
    lags = jnp.arange(l_max, dtype=jnp.int32)[:, None]
    alpha = jnp.expand_dims(alpha, -2)
    w = jnp.power(alpha, lags)
    if normalize:
        w = w * (1 - alpha)
    return w


@functools.partial(jax.jit, static_argnames=("l_max", "normalize"))
def delayed_weights(alpha: Array, theta: Array, l_max: int, normalize: bool = True) -> Array:
    r"""Delayed-peak lag weights ``w[l] = alpha ** ((l - theta) ** 2)`` for ``l = 0..l_max-1``.

    .. math::

        w_l = \alpha^{(l - \theta)^2}, \qquad l = 0, \dots, L-1,

    peaking at lag ``theta``. With ``normalize=True`` they are divided by their sum (computed as
    a softmax of ``(l - theta)**2 * log(alpha)``, so it stays finite even when every raw weight
    underflows). At ``alpha = 0`` the raw weights follow ``0 ** 0 = 1``, ``0 ** e = 0`` and the
    normalised ones are the ``alpha -> 0+`` limit (all mass on the lag(s) nearest ``theta``); the
    gradient there is taken as 0 (the one-sided derivative can be infinite).

    Args:
      alpha: retention rate in ``[0, 1]``, ``(C,)`` or ``(..., C)``.
      theta: peak delay in periods (lags), ``>= 0``, ``(C,)`` or ``(..., C)``.
      l_max: number of lags ``L`` (a static Python int).
      normalize: divide by the sum over the ``L`` lags.

    Returns:
      Weights ``(..., L, C)`` (lag axis -2), dimensionless.

    Example:
      >>> import jax.numpy as jnp
      >>> from mmmjax.transforms import delayed_weights
      >>> w = delayed_weights(jnp.array([0.5]), jnp.array([1.0]), 4, normalize=False)
      >>> print(w[:, 0])
      [0.5    1.     0.5    0.0625]
    """
    l_max = _check_l_max(l_max)
    alpha = as_float(alpha)
    theta = jnp.asarray(theta).astype(alpha.dtype)
    alpha, theta = jnp.broadcast_arrays(jnp.atleast_1d(alpha), jnp.atleast_1d(theta))
    alpha, theta = jnp.expand_dims(alpha, -2), jnp.expand_dims(theta, -2)
    expo = (_lags(l_max, alpha.dtype) - theta) ** 2  # (..., L, C)
    positive = alpha > 0
    # double-where: log is only ever evaluated at a positive number, so no inf/NaN gradient.
    log_alpha = jnp.log(jnp.where(positive, alpha, 1))
    log_w = expo * log_alpha
    if normalize:
        nearest = expo <= jnp.min(expo, axis=-2, keepdims=True)
        at_zero = jnp.where(nearest, 0.0, -jnp.inf).astype(alpha.dtype)
    else:
        at_zero = jnp.where(expo == 0, 0.0, -jnp.inf).astype(alpha.dtype)
    return _normalize_log_weights(jnp.where(positive, log_w, at_zero), normalize)


@functools.partial(jax.jit, static_argnames=("l_max", "kind", "normalize"))
def weibull_weights(
    shape: Array,
    scale: Array,
    l_max: int,
    kind: Literal["pdf", "cdf"] = "pdf",
    normalize: bool = True,
) -> Array:
    r"""Weibull lag weights: the Weibull probability of each lag bucket, or its survival curve.

    Let ``S(u) = exp(-(u / scale) ** shape)`` be the Weibull survival function, with ``u`` and
    ``scale`` in periods. For ``l = 0..l_max-1``:

    .. math::

        \text{pdf:}\quad w_l = S(l) - S(l+1) = P(l \le U < l + 1), \qquad
        \text{cdf:}\quad w_l = S(l) = 1 - F(l),

    where ``U ~ Weibull(shape, scale)`` is the delay of a response. ``"pdf"`` is the discretised
    Weibull density: for ``shape > 1`` it peaks after a delay (near the mode
    ``scale * (1 - 1/shape) ** (1/shape)``), for ``shape <= 1`` it decays from lag 0.
    ``"cdf"`` starts at ``w[0] = 1`` and decays; with ``shape = 1`` it is exactly geometric with
    ``alpha = exp(-1 / scale)`` (and ``"pdf"`` is that geometric curve times ``1 - alpha``).

    Both are evaluated in log space (``log w = -(l/scale)**shape + log(1 - exp(-dz))`` with
    ``dz = ((l+1)**shape - l**shape) / scale**shape`` computed without cancellation), so values
    and gradients are finite for every ``shape > 0`` and ``scale > 0``. With ``normalize=True``
    the weights are divided by their sum over the ``l_max`` lags (a softmax in log space), so a
    unit pulse sums to 1.

    Args:
      shape: Weibull shape ``k > 0`` (dimensionless), ``(C,)`` or ``(..., C)``.
      scale: Weibull scale ``lambda > 0`` in periods, ``(C,)`` or ``(..., C)``.
      l_max: number of lags ``L`` (a static Python int).
      kind: ``"pdf"`` (bucket probabilities, delayed peak) or ``"cdf"`` (survival, decaying).
      normalize: divide by the sum over the ``L`` lags.

    Returns:
      Weights ``(..., L, C)`` (lag axis -2), dimensionless.

    Example:
      >>> import jax.numpy as jnp
      >>> import numpy as np
      >>> from mmmjax.transforms import weibull_weights
      >>> w = weibull_weights(jnp.array([1.0]), jnp.array([2.0]), 3, kind="cdf", normalize=False)
      >>> print(np.asarray(w[:, 0]).round(4))  # exp(-l / 2)
      [1.     0.6065 0.3679]
    """
    l_max = _check_l_max(l_max)
    if kind not in ("pdf", "cdf"):
        raise ValueError(f"kind must be 'pdf' or 'cdf'; got {kind!r}")
    k = as_float(shape)
    lam = jnp.asarray(scale).astype(k.dtype)
    k, lam = jnp.broadcast_arrays(jnp.atleast_1d(k), jnp.atleast_1d(lam))
    k, log_lam = jnp.expand_dims(k, -2), jnp.expand_dims(jnp.log(lam), -2)
    lags = _lags(l_max, k.dtype)
    first = lags == 0
    log_l = jnp.log(jnp.where(first, 1, lags))  # log l, with a harmless 1 at l = 0
    # z_l = (l / scale) ** shape = S(l)'s exponent; capped so exp never overflows (S is 0 there).
    cap = 80.0 if k.dtype == jnp.float32 else 700.0
    log_z = k * (log_l - log_lam)
    z = jnp.where(first, 0, jnp.exp(jnp.minimum(log_z, cap)))
    log_w = -z
    if kind == "pdf":
        # dz_l = z_{l+1} - z_l = scale**-k * l**k * expm1(k * log1p(1/l)); for l = 0: scale**-k
        log1p_inv = jnp.log1p(1 / jnp.where(first, 1, lags))
        log_dz = jnp.where(
            first,
            -k * log_lam,
            log_z + jnp.log(jnp.expm1(jnp.where(first, 1, k * log1p_inv))),
        )
        dz = jnp.exp(jnp.minimum(log_dz, cap))
        # log(1 - exp(-dz)) = log(dz) - dz/2 + dz**2/24 - O(dz**4) for small dz (so it never
        # underflows to log 0), exact otherwise; double-where so neither branch sees an argument
        # it cannot take.
        small = dz < 1e-3
        dz_small = jnp.where(small, dz, 0)
        series = log_dz - dz_small / 2 + dz_small**2 / 24
        log1mexp = jnp.log(-jnp.expm1(-jnp.where(small, 1, dz)))
        log_w = log_w + jnp.where(small, series, log1mexp)
    return _normalize_log_weights(log_w, normalize)


# --------------------------------------------------------------------------------------------
# finite-lag convolution and the kernels built on it
# --------------------------------------------------------------------------------------------


@jax.jit
def convolve_adstock(x: Array, weights: Array) -> Array:
    r"""Causal finite-lag convolution of media with per-channel lag weights.

    .. math::

        y_t = \sum_{l=0}^{L-1} w_l\, x_{t-l}, \qquad x_{t} = 0 \text{ for } t < 0.

    Implemented as a sum of ``L`` shifted copies of the zero-padded series, each scaled by its
    weight. ``L`` is small (typically 8-13), so this is ``L`` fused multiply-adds per output
    element: XLA fuses the whole sum into one loop without materialising a ``(..., T, L, C)``
    Toeplitz tensor, which keeps memory flat under ``vmap`` over thousands of draws (a
    Toeplitz gather + ``einsum`` would need ``draws * T * L * C`` elements when ``x`` is batched).
    The loop over lags is a static unroll; there is no loop over time, draws or channels.

    Args:
      x: media, ``(..., T, C)``.
      weights: lag weights, ``(L, C)`` or ``(..., L, C)`` (lag axis -2), e.g. from
        ``geometric_weights``, ``delayed_weights`` or ``weibull_weights``.

    Returns:
      Adstocked media, ``(..., T, C)`` (leading axes broadcast), in ``x``'s unit and dtype.

    Example:
      >>> import jax.numpy as jnp
      >>> from mmmjax.transforms import convolve_adstock
      >>> x = jnp.array([[1.0], [2.0], [0.0]])
      >>> print(convolve_adstock(x, jnp.array([[1.0], [0.5]]))[:, 0])
      [1.  2.5 1. ]
    """
    x = as_float(x)
    _check_media(x)
    w = jnp.asarray(weights).astype(x.dtype)
    _check_media(w, "weights")
    n_lags, n_time = w.shape[-2], x.shape[-2]
    pad = [(0, 0)] * (x.ndim - 2) + [(n_lags - 1, 0), (0, 0)]
    x_pad = jnp.pad(x, pad)
    y = None
    for lag in range(n_lags):  # static unroll over the (few) lags
        start = n_lags - 1 - lag
        term = w[..., lag : lag + 1, :] * lax.slice_in_dim(x_pad, start, start + n_time, axis=-2)
        y = term if y is None else y + term
    return y


@functools.partial(jax.jit, static_argnames=("l_max", "normalize"))
def delayed_adstock(
    x: Array, alpha: Array, theta: Array, l_max: int, normalize: bool = True
) -> Array:
    r"""Delayed-peak carry-over: ``convolve_adstock(x, delayed_weights(alpha, theta, l_max))``.

    .. math::

        y_t = \sum_{l=0}^{L-1} w_l\, x_{t-l}, \qquad w_l = \alpha^{(l - \theta)^2}
        \ (\text{divided by } \textstyle\sum_l w_l \text{ if normalize}).

    Args:
      x: media, ``(..., T, C)``.
      alpha: retention rate in ``[0, 1]``, ``(C,)`` or ``(..., C)``.
      theta: peak delay in periods, ``>= 0``, ``(C,)`` or ``(..., C)``.
      l_max: number of lags ``L`` (a static Python int).
      normalize: weights sum to 1 over the ``L`` lags (a pulse keeps its total).

    Returns:
      Adstocked media, ``(..., T, C)``, in ``x``'s unit and dtype.

    Example:
      >>> import jax.numpy as jnp
      >>> import numpy as np
      >>> from mmmjax.transforms import delayed_adstock
      >>> x = jnp.array([[1.0], [0.0], [0.0], [0.0]])
      >>> y = delayed_adstock(x, jnp.array([0.5]), jnp.array([1.0]), 4)
      >>> print(np.asarray(y[:, 0]).round(4))
      [0.2424 0.4848 0.2424 0.0303]
    """
    x = as_float(x)
    return convolve_adstock(x, delayed_weights(_as_float_like(alpha, x), theta, l_max, normalize))


@functools.partial(jax.jit, static_argnames=("l_max", "kind", "normalize"))
def weibull_adstock(
    x: Array,
    shape: Array,
    scale: Array,
    l_max: int,
    kind: Literal["pdf", "cdf"] = "pdf",
    normalize: bool = True,
) -> Array:
    r"""Weibull carry-over: ``convolve_adstock(x, weibull_weights(shape, scale, l_max, kind))``.

    With ``S(u) = exp(-(u / scale) ** shape)`` (``u``, ``scale`` in periods) the lag weights are

    .. math::

        \text{pdf:}\ w_l = S(l) - S(l+1), \qquad \text{cdf:}\ w_l = S(l), \qquad l = 0..L-1,

    divided by their sum if ``normalize``; see ``weibull_weights``.

    Args:
      x: media, ``(..., T, C)``.
      shape: Weibull shape ``k > 0``, ``(C,)`` or ``(..., C)``.
      scale: Weibull scale ``lambda > 0`` in periods, ``(C,)`` or ``(..., C)``.
      l_max: number of lags ``L`` (a static Python int).
      kind: ``"pdf"`` (delayed peak) or ``"cdf"`` (decaying survival).
      normalize: weights sum to 1 over the ``L`` lags (a pulse keeps its total).

    Returns:
      Adstocked media, ``(..., T, C)``, in ``x``'s unit and dtype.

    Example:
      >>> import jax.numpy as jnp
      >>> from mmmjax.transforms import weibull_adstock
      >>> x = jnp.array([[1.0], [0.0], [0.0]])
      >>> y = weibull_adstock(x, jnp.array([2.0]), jnp.array([2.0]), 3)
      >>> print(float(y.sum()))
      1.0
    """
    x = as_float(x)
    w = weibull_weights(_as_float_like(shape, x), scale, l_max, kind, normalize)
    return convolve_adstock(x, w)


def _as_float_like(p, x: Array) -> Array:
    """Cast a parameter to ``x``'s dtype (weights are then computed in that dtype)."""
    return jnp.asarray(p).astype(x.dtype)
