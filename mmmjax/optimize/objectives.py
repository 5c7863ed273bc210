"""Objectives ``Phi`` over the per-draw total responses ``T (S,)`` of a split (money):

* ``"mean"``: ``mean_s T_s`` (the posterior mean of the total response);
* ``"mean_minus_std"``: ``mean_s T_s - risk * std_s T_s``;
* ``"cvar"``: the mean of the worst ``ceil(cvar_level * S)`` draws of ``T_s`` (:func:`cvar`),
  solved on its softplus smoothing :func:`smooth_cvar`.

:func:`objective_fn` gives ``phi(t, tau) -> Phi`` by name."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

__all__ = ["ETA_STEPS", "OBJECTIVES", "cvar", "objective_fn", "smooth_cvar"]

OBJECTIVES = ("mean", "mean_minus_std", "cvar")


def _std(t: jax.Array) -> jax.Array:
    var = jnp.mean((t - t.mean()) ** 2)
    pos = var > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, var, 1.0)), 0.0)  # finite gradient at var = 0


def cvar(t: jax.Array, k: int) -> jax.Array:
    """Mean of the ``k`` smallest entries of ``t (..., S)``."""
    return -jax.lax.top_k(-t, k)[0].mean(-1)


#: Bisection steps for the smoothed CVaR's ``eta`` (bracket ``80 tau`` wide: resolution
#: ``80 tau / 2**30``, below float32 rounding).
ETA_STEPS = 30


def smooth_cvar(t: jax.Array, k: int, tau: jax.Array) -> jax.Array:
    r"""Smoothed mean of the ``k`` worst draws (Rockafellar-Uryasev form, softplus for ``max``)::

        CVaR(t)     = max_eta  eta - (1/k) sum_s max(eta - t_s, 0)
        CVaR_tau(t) = max_eta  eta - (tau/k) sum_s softplus((eta - t_s) / tau)

    ``CVaR - (S/k) tau log 2 <= CVaR_tau <= CVaR``; its gradient is the weights
    ``w_s = sigmoid((eta* - t_s) / tau) / k`` (``sum w = 1``, ``0 <= w <= 1/k``; envelope
    theorem, so ``eta*`` is held fixed under differentiation), smooth where the exact form has a
    kink whenever two draws swap rank. ``eta*`` solves ``sum_s sigmoid((eta - t_s)/tau) = k``
    by bisection on ``[t_(k) - 40 tau, t_(k) + 40 tau]`` (``t_(k)`` the k-th smallest).

    Args:
      t: ``(S,)`` per-draw totals (money). k: number of worst draws. tau: ``> 0``, money.
    """
    t_k = -jax.lax.top_k(-t, k)[0][-1]

    def bisect(_, ab):
        a, b = ab
        m = 0.5 * (a + b)
        over = jax.nn.sigmoid((m - t) / tau).sum() > k
        return jnp.where(over, a, m), jnp.where(over, m, b)

    a, b = jax.lax.fori_loop(0, ETA_STEPS, bisect, (t_k - 40 * tau, t_k + 40 * tau))
    eta = jax.lax.stop_gradient(0.5 * (a + b))
    return eta - tau / k * jax.nn.softplus((eta - t) / tau).sum()


def objective_fn(name: str, risk: jax.Array, k: int) -> Callable[..., jax.Array]:
    """``phi(t (S,), tau) -> Phi``; ``tau`` (money) only smooths "cvar" (:func:`smooth_cvar`)."""
    if name == "mean":
        return lambda t, tau: t.mean()
    if name == "mean_minus_std":
        return lambda t, tau: t.mean() - risk * _std(t)
    return lambda t, tau: smooth_cvar(t, k, tau)
