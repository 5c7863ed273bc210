"""Objectives over per-draw totals (mmmjax.optimize.objectives): the smoothed CVaR."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmmjax.optimize.objectives import smooth_cvar


def test_smooth_cvar_bounds_the_exact_cvar():
    """``CVaR - (S/k) tau log 2 <= CVaR_tau <= CVaR``, and its gradient is weights in
    ``[0, 1/k]`` summing to 1 that tend to the exact ones as ``tau -> 0``."""
    rng = np.random.default_rng(0)
    t = jnp.asarray(rng.normal(100.0, 10.0, 200), jnp.float32)
    k = 20
    exact = float(np.sort(np.asarray(t))[:k].mean())
    for tau in (1.0, 0.1, 0.01):
        v, w = jax.value_and_grad(smooth_cvar)(t, k, jnp.float32(tau))
        assert exact - 200 / k * tau * np.log(2) - 1e-3 <= float(v) <= exact + 1e-3
        w = np.asarray(w)
        assert w.sum() == pytest.approx(1.0, abs=1e-4)
        assert np.all(w >= 0) and np.all(w <= 1 / k + 1e-6)
    w = np.asarray(jax.grad(smooth_cvar)(t, k, jnp.float32(1e-4)))  # draws ~0.3 apart
    exact_w = np.zeros(200)
    exact_w[np.argsort(np.asarray(t))[:k]] = 1 / k
    np.testing.assert_allclose(w, exact_w, atol=1e-4)
