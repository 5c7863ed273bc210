"""The optimiser, an optax GradientTransformation (mmmjax.optimize.newton): closed-form
optimum, honest convergence, the certificate of a smoothed loss."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mmmjax.optimize.newton import MU_MAX, Eval, drive, projected_diagonal_newton
from mmmjax.optimize.projection import project_capped_simplex


def test_optax_transformation_reaches_closed_form():
    """loss = sum_c a_c (z_c - t_c)^2 on {sum z = 1, lo <= z <= hi}: the KKT point is the
    projection of t in the metric 1 / a; the exact-Newton metric gets there in one update."""
    a = jnp.array([[1.0, 2.0, 4.0, 0.5], [3.0, 1.0, 1.0, 2.0]])
    t = jnp.array([[0.9, 0.4, -0.2, 0.3], [0.1, 0.1, 0.1, 0.1]])
    lo, hi = jnp.zeros((2, 4)), jnp.full((2, 4), 0.6)

    def value_fn(z):
        return Eval(jnp.sum(a * (z - t) ** 2, -1), 2 * a * (z - t), 2 * a)

    tx = projected_diagonal_newton(value_fn, lo, hi, 1.0, tol=1e-6, mu_init=1e-6)
    assert isinstance(tx, optax.GradientTransformationExtraArgs)
    z = jnp.full((2, 4), 0.25)
    state = tx.init(z)
    step = jax.jit(tx.update)
    for _ in range(10):  # the first call evaluates z (no update), then Newton, then a check
        updates, state = step(state.ev.grad, state, z)
        z = optax.apply_updates(z, updates)
        if state.converged.all():
            break
    expected = jax.vmap(project_capped_simplex)(t, lo, hi, jnp.ones(2), 1 / a)
    np.testing.assert_allclose(z, expected, atol=1e-6)
    assert bool(state.converged.all()) and state.count.tolist() == [2, 2]
    assert float(state.ev.value[0]) == pytest.approx(float(value_fn(expected).value[0]), rel=1e-6)


def _quadratic(curv_scale=1.0, grad_sign=1.0):
    a = jnp.array([[1.0, 2.0, 4.0]])
    t = jnp.array([[0.6, 0.3, 0.1]])

    def value_fn(z):
        return Eval(jnp.sum(a * (z - t) ** 2, -1), grad_sign * 2 * a * (z - t),
                        curv_scale * 2 * a)  # fmt: skip

    return value_fn


def test_converged_is_never_claimed_on_nan_curvature_or_a_damping_limit():
    z0 = jnp.full((1, 3), 1 / 3)
    lo, hi = jnp.zeros((1, 3)), jnp.ones((1, 3))
    # the honest case converges
    tx = projected_diagonal_newton(_quadratic(), lo, hi, tol=1e-6)
    _, state = drive(tx, z0, jnp.int32(50))
    assert bool(state.converged[0]) and int(state.count[0]) < 50
    # NaN curvature: the solver must not say converged
    tx = projected_diagonal_newton(_quadratic(curv_scale=jnp.nan), lo, hi, tol=1e-6)
    _, state = drive(tx, z0, jnp.int32(50))
    assert not bool(state.converged[0])
    # a gradient of the wrong sign: every step is rejected until mu reaches MU_MAX
    tx = projected_diagonal_newton(_quadratic(grad_sign=-1.0), lo, hi, tol=1e-6)
    _, state = drive(tx, z0, jnp.int32(500))
    assert float(state.mu[0]) >= MU_MAX and not bool(state.converged[0])
    assert int(state.count[0]) < 500  # stopped at the damping limit, not at max_iter
    # the iteration cap is not convergence either
    tx = projected_diagonal_newton(_quadratic(), lo, hi, tol=1e-6, mu_init=1e3)
    _, state = drive(tx, z0, jnp.int32(1))
    assert not bool(state.converged[0])


def test_certificate_rejects_a_non_optimal_point():
    """A smoothed loss whose certificate fails (a feasible direction still gains) must not be
    called converged even where its own Newton step is zero (stationary on the smoothing)."""
    lo, hi = jnp.zeros((1, 2)), jnp.ones((1, 2))

    def value_fn(z):  # flat loss, but the slack says the weights are far from exact
        n = z.shape[0]
        return Eval(jnp.zeros(n), jnp.zeros((n, 2)), jnp.ones((n, 2)), (),
                        jnp.full(n, 0.5), jnp.zeros((n, 2)) + jnp.array([1.0, -1.0]))  # fmt: skip

    tx = projected_diagonal_newton(value_fn, lo, hi, tol=1e-6, gap_tol=1e-5)
    _, state = drive(tx, jnp.array([[0.5, 0.5]]), jnp.int32(20))
    assert bool(state.stopped[0]) and not bool(state.converged[0])
