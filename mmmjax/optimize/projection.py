"""The feasible set of a budget split, ``{sum_c z_c = total, lo_c <= z_c <= hi_c}`` (the capped
simplex): the exact projection onto it in a diagonal metric (:func:`project_capped_simplex`, pure
JAX), and on the host the removal of float32 rounding from a solution (:func:`polish`) and the
channels strictly inside their bounds (:func:`inside_bounds`)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["inside_bounds", "polish", "project_capped_simplex"]


def project_capped_simplex(
    y: jax.Array, lo: jax.Array, hi: jax.Array, total: jax.Array, metric: jax.Array | None = None
) -> jax.Array:
    r"""Exact projection onto the capped simplex ``{z : sum z = total, lo <= z <= hi}``.

    Solves ``argmin_z sum_c (z_c - y_c)^2 / d_c`` over that set (Euclidean for ``d = 1``). By the
    KKT conditions ``z = clip(y - tau * d, lo, hi)`` for the ``tau`` with ``sum z = total``; the sum
    is non-increasing and piecewise linear in ``tau`` with breakpoints ``(y - lo) / d`` and
    ``(y - hi) / d``, so sorting the ``2C`` breakpoints and interpolating on the segment that
    meets ``total`` gives ``tau`` exactly (``O(C^2)`` work, no iterations; fine for channel counts).

    Args:
      y: ``(C,)`` point to project.
      lo, hi: ``(C,)`` bounds, ``lo <= hi``.
      total: scalar, ``sum lo <= total <= sum hi`` (not checked here).
      metric: ``(C,)`` positive diagonal ``d`` (default ones).

    Returns:
      ``(C,)`` the projection. Pure JAX: jit and vmap apply.

    Example:
      >>> project_capped_simplex(jnp.array([2.0, 0.0]), jnp.zeros(2), jnp.ones(2), 1.0)
      Array([1., 0.], dtype=float32)
    """
    d = jnp.ones_like(y) if metric is None else metric
    bps = jnp.sort(jnp.concatenate([(y - lo) / d, (y - hi) / d]))  # (2C,)
    sums = jnp.clip(y[None, :] - bps[:, None] * d[None, :], lo, hi).sum(-1)  # non-increasing
    k = jnp.clip(jnp.searchsorted(-sums, -total, method="compare_all"), 1, bps.shape[0] - 1)
    t0, t1, s0, s1 = bps[k - 1], bps[k], sums[k - 1], sums[k]
    gap = s0 - s1
    tau = t0 + jnp.where(gap > 0, (s0 - total) / jnp.where(gap > 0, gap, 1.0), 0.0) * (t1 - t0)
    return jnp.clip(y - tau * d, lo, hi)


def polish(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, budget: np.ndarray) -> np.ndarray:
    """Remove float32 rounding from ``x (N, C)``: clip to the bounds and put each row's residual
    on its free channels."""
    x = np.clip(x, lo, hi)
    budget = np.asarray(budget, dtype=np.float64)[:, None]
    for _ in range(3):
        r = budget - x.sum(-1, keepdims=True)
        room = np.where(r > 0, hi - x, x - lo)
        inside = inside_bounds(x, lo, hi, budget)
        room = np.where(inside.any(-1, keepdims=True) & ~inside, 0.0, room)
        total = room.sum(-1, keepdims=True)
        move = (r != 0) & (total > 0)
        x = np.where(move, np.clip(x + r * room / np.where(move, total, 1.0), lo, hi), x)
    return x


def inside_bounds(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, budget) -> np.ndarray:
    """Channels strictly inside their bounds (by more than 1e-6 of the budget)."""
    margin = 1e-6 * np.asarray(budget)
    return (x - lo > margin) & (hi - x > margin)
