"""The NUTS transition on one flat parameter vector, with a cheaper start to warm-up.

Built from NumPyro's tested pieces (``build_tree``, ``velocity_verlet``, ``warmup_adapter`` with
Stan's windows and dual averaging), driven by our own two functions so that two things NumPyro's
``hmc`` kernel fixes can be chosen:

* **One flat vector.** The sampler moves ``x`` of shape ``(dim,)``, the concatenation of every
  unconstrained site; the potential unravels it. Every tree-building operation then works on one
  array instead of one per site: on the 29-parameter T=104 model a leapfrog step went from
  13.6 us to 11.0 us, and tracing and compiling got shorter (``benchmarks/README.md``).
* **A start to warm-up that does not waste most of it.** Until the first mass-matrix estimate
  (the end of Stan's first slow window, iteration 100 of 1000) the metric is only a guess, so
  trajectories run to the depth limit. On the HAMS model the first 100 of 1,000 warm-up
  iterations took 58k of 140k warm-up leapfrog steps. Two changes, each measured:

  - the initial inverse metric is ``clip(1 / |grad U(x0)|, 1e-3, 1e2)`` instead of the identity
    (for a Gaussian coordinate at distance ``d`` from its mean this is ``sigma**2 / d``, which
    orders the coordinates' scales correctly);
  - trees are at most ``init_depth`` (default 6: 63 steps) deep until that first estimate.
    The chains still move towards the typical set, in more, shorter trajectories; every later
    warm-up and sampling iteration uses the full ``max_tree_depth``.

  Together: warm-up steps on HAMS 142k -> 104k (3 seeds), with the same ESS within
  run-to-run noise.

With ``init_depth=None`` and ``metric_init="identity"`` the kernel is NumPyro's ``hmc(algo="NUTS")``
step for step (``tests/test_nuts.py`` checks the draws bit for bit).

Example:
    >>> import jax, jax.numpy as jnp
    >>> init, step = nuts_kernel(lambda x: 0.5 * jnp.sum(x**2), NutsSettings(warmup=100))
    >>> state = init(jnp.zeros(3), jax.random.PRNGKey(0))
    >>> state = step(state, 0)  # iteration index: warm-up while below ``warmup``
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from numpyro.infer.hmc import HMCState, momentum_generator
from numpyro.infer.hmc_util import (
    IntegratorState,
    build_adaptation_schedule,
    build_tree,
    euclidean_kinetic_energy,
    find_reasonable_step_size,
    velocity_verlet,
    warmup_adapter,
)

__all__ = ["METRIC_INITS", "NutsSettings", "first_metric_update", "nuts_kernel"]

METRIC_INITS = ("gradient", "identity")
MAX_DELTA_ENERGY = 1000.0  # NumPyro's divergence threshold


class NutsSettings(NamedTuple):
    """Static settings of one NUTS run (hashable: they key the compiled runner)."""

    warmup: int
    target_accept: float = 0.85
    max_tree_depth: int = 10
    dense_mass: bool = False
    init_depth: int | None = 6  # tree depth limit until the first metric estimate; None: off
    metric_init: str = "gradient"  # "gradient" or "identity"
    find_step_size: bool = False  # NumPyro's step-size search at the start and each window end


def first_metric_update(warmup: int) -> int:
    """Iteration at which the warm-up first replaces the initial metric (Stan's windows).

    The first window is the fast initial buffer, the second the first slow window; the metric is
    re-estimated at the end of the second. With fewer than two windows it never is before the
    end of warm-up. ``first_metric_update(1000) == 100``.
    """
    schedule = build_adaptation_schedule(int(warmup))
    return int(schedule[1].end + 1) if len(schedule) > 2 else int(warmup)


def initial_inverse_metric(grad: jax.Array, dense: bool) -> jax.Array:
    """``clip(1 / |grad|, 1e-3, 1e2)`` per coordinate: the warm-up's first inverse metric.

    ``grad`` is ``(dim,)``; the result is ``(dim,)`` or, with ``dense``, its diagonal matrix.
    A zero or non-finite gradient coordinate gets the largest value, ``1e2``.
    """
    scale = 1.0 / jnp.abs(grad)
    scale = jnp.where(jnp.isfinite(scale), scale, 1e2)
    scale = jnp.clip(scale, 1e-3, 1e2)
    return jnp.diag(scale) if dense else scale


def nuts_kernel(
    potential_fn: Callable[[jax.Array], jax.Array], settings: NutsSettings
) -> tuple[Callable[[jax.Array, jax.Array], HMCState], Callable[[HMCState, jax.Array], HMCState]]:
    """``(init, step)`` for NUTS on ``potential_fn`` (negative log density of a ``(dim,)`` vector).

    ``init(x0, key)`` gives NumPyro's ``HMCState`` at ``x0``; ``step(state, i)`` takes NUTS
    iteration ``i`` (0-based over warm-up then sampling): it adapts step size and metric while
    ``i < settings.warmup`` and keeps them fixed after. Both are pure and traceable (``jit``,
    ``vmap``, ``lax.scan``).
    """
    if settings.metric_init not in METRIC_INITS:
        raise ValueError(f"metric_init must be one of {METRIC_INITS}, got {settings.metric_init!r}")
    kinetic = euclidean_kinetic_energy
    vv_init, vv_update = velocity_verlet(potential_fn, kinetic)
    find_step = None
    if settings.find_step_size:
        find_step = functools.partial(find_reasonable_step_size, potential_fn, kinetic,
                                      momentum_generator)  # fmt: skip
    wa_init, wa_update = warmup_adapter(
        settings.warmup,
        find_reasonable_step_size=find_step,
        dense_mass=settings.dense_mass,
        target_accept_prob=settings.target_accept,
    )
    max_depth = int(settings.max_tree_depth)
    capped = settings.init_depth is not None and settings.init_depth < max_depth
    cap_until = first_metric_update(settings.warmup) if capped else 0

    def init(x0: jax.Array, key: jax.Array) -> HMCState:
        k_hmc, k_wa, k_mom = jax.random.split(key, 3)
        pe, grad = jax.value_and_grad(potential_fn)(x0)
        metric = None
        if settings.metric_init == "gradient":
            metric = initial_inverse_metric(grad, settings.dense_mass)
        z_info = IntegratorState(z=x0, r=None, potential_energy=pe, z_grad=grad)
        wa_state = wa_init(z_info, k_wa, 1.0, inverse_mass_matrix=metric)
        r = momentum_generator(x0, wa_state.mass_matrix_sqrt, k_mom)
        vv = vv_init(x0, r, potential_energy=pe, z_grad=grad)
        energy = vv.potential_energy + kinetic(wa_state.inverse_mass_matrix, vv.r)
        zero = jnp.array(0, dtype=jnp.result_type(int))
        return HMCState(zero, vv.z, vv.z_grad, vv.potential_energy, energy, None, 2 * jnp.pi,
                        zero, jnp.zeros(()), jnp.zeros(()), jnp.array(False), wa_state,
                        k_hmc)  # fmt: skip

    def step(state: HMCState, i: jax.Array) -> HMCState:
        key, k_mom, k_tree = jax.random.split(state.rng_key, 3)
        adapt = state.adapt_state
        r = momentum_generator(state.z, adapt.mass_matrix_sqrt, k_mom)
        vv = IntegratorState(state.z, r, state.potential_energy, state.z_grad)
        depth = jnp.where(i < cap_until, settings.init_depth, max_depth) if capped else max_depth
        tree = build_tree(vv_update, kinetic, vv, adapt.inverse_mass_matrix, adapt.step_size,
                          k_tree, max_delta_energy=MAX_DELTA_ENERGY,
                          max_tree_depth=(depth, max_depth))  # fmt: skip
        accept = tree.sum_accept_probs / tree.num_proposals
        vv = IntegratorState(tree.z_proposal, r, tree.z_proposal_pe, tree.z_proposal_grad)
        warming = i < settings.warmup
        adapt = lax.cond(warming, lambda: wa_update(i, accept, vv, adapt), lambda: adapt)
        n = jnp.where(warming, i + 1, i + 1 - settings.warmup)
        mean_accept = state.mean_accept_prob + (accept - state.mean_accept_prob) / n
        return HMCState(i + 1, vv.z, vv.z_grad, vv.potential_energy, tree.z_proposal_energy,
                        None, state.trajectory_length, tree.num_proposals, accept, mean_accept,
                        tree.diverging, adapt, key)  # fmt: skip

    return init, step
