"""The NUTS kernel (mmmjax.inference.nuts) and the runner's step records (inference.sampling)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from numpyro.infer.hmc import hmc

from mmmjax.inference.nuts import (
    NutsSettings,
    first_metric_update,
    initial_inverse_metric,
    nuts_kernel,
)
from mmmjax.model.priors import Prior

SCALES = np.array([0.05, 1.0, 20.0])  # badly scaled on purpose: identity metric is poor


def potential(x):
    """A non-Gaussian, badly scaled target: quadratic plus a quartic term."""
    return 0.5 * jnp.sum((x / SCALES) ** 2) + 0.05 * jnp.sum((x / SCALES) ** 4)


def _trace(init, step, x0, key, n):
    def body(state, i):
        state = step(state, i)
        return state, (state.z, state.num_steps, state.adapt_state.step_size)

    return lax.scan(body, init(x0, key), jnp.arange(n))[1]


def test_numpyro_settings_reproduce_numpyro_bit_for_bit():
    warmup, draws = 150, 100
    x0 = jnp.array([0.3, -1.0, 5.0])
    ik, sk = hmc(potential_fn=potential, algo="NUTS")

    def reference(key):
        state = ik(x0, warmup, target_accept_prob=0.85, rng_key=key, max_tree_depth=10)

        def body(s, _):
            s = sk(s)
            return s, (s.z, s.num_steps, s.adapt_state.step_size)

        return lax.scan(body, state, jnp.arange(warmup + draws))[1]

    settings = NutsSettings(warmup=warmup, init_depth=None, metric_init="identity")
    init, step = nuts_kernel(potential, settings)
    key = jax.random.PRNGKey(3)
    ours = jax.jit(lambda k: _trace(init, step, x0, k, warmup + draws))(key)
    ref = jax.jit(reference)(key)
    for a, b in zip(ours, ref, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_initial_depth_limit_holds_until_the_first_metric_estimate():
    warmup = 200
    settings = NutsSettings(warmup=warmup, init_depth=2)
    init, step = nuts_kernel(potential, settings)
    x0 = jnp.array([1.0, 1.0, 1.0])
    _, n_steps, _ = jax.jit(lambda k: _trace(init, step, x0, k, warmup + 50))(jax.random.PRNGKey(0))
    n_steps = np.asarray(n_steps)
    until = first_metric_update(warmup)
    assert n_steps[:until].max() <= 2**2
    assert n_steps[until:].max() > 2**2  # the limit is lifted afterwards


@pytest.mark.parametrize(
    ("warmup", "expected"), [(1000, 100), (500, 100), (100, 90), (19, 19), (10, 10)]
)
def test_first_metric_update_follows_stan_windows(warmup, expected):
    assert first_metric_update(warmup) == expected


def test_initial_inverse_metric():
    grad = jnp.array([2.0, 0.0, -1e6, 1e-6, jnp.nan])
    got = np.asarray(initial_inverse_metric(grad, dense=False))
    np.testing.assert_allclose(got, [0.5, 1e2, 1e-3, 1e2, 1e2])
    dense = np.asarray(initial_inverse_metric(grad, dense=True))
    np.testing.assert_allclose(dense, np.diag(got))


def test_bad_metric_init_is_refused():
    with pytest.raises(ValueError, match="metric_init"):
        nuts_kernel(potential, NutsSettings(warmup=10, metric_init="eye"))


@pytest.mark.parametrize("dense", [False, True])
def test_default_kernel_samples_a_known_gaussian(dense):
    """Mean and variance of a correlated Gaussian, against float64 truth, within MC error."""
    rng = np.random.default_rng(0)
    dim = 4
    a = rng.normal(size=(dim, dim))
    cov = a @ a.T / dim + np.diag(np.array([0.01, 0.1, 1.0, 10.0]))
    mean = rng.normal(size=dim) * 3
    prec = jnp.asarray(np.linalg.inv(cov), jnp.float32)
    mu = jnp.asarray(mean, jnp.float32)

    def u(x):
        d = x - mu
        return 0.5 * d @ prec @ d

    warmup, draws, chains = 500, 1000, 4
    init, step = nuts_kernel(u, NutsSettings(warmup=warmup, dense_mass=dense))
    keys = jax.random.split(jax.random.PRNGKey(1), chains)
    x0 = jnp.zeros((chains, dim))
    z, _, _ = jax.jit(jax.vmap(lambda k, x: _trace(init, step, x, k, warmup + draws)))(keys, x0)
    z = np.asarray(z)[:, warmup:].reshape(-1, dim).astype(np.float64)
    sd = np.sqrt(np.diag(cov))
    # effective sample size is at least a few hundred per coordinate here
    np.testing.assert_array_less(np.abs(z.mean(0) - mean) / sd, 0.15)
    np.testing.assert_allclose(z.std(0), sd, rtol=0.15)


def test_runner_records_warmup_steps():
    from mmmjax.inference.fit import prepare
    from mmmjax.inference.sampling import run_nuts
    from mmmjax.model import MMM
    from mmmjax.simulation import simulate

    dataset, _ = simulate(52, 2, seed=0)
    p = prepare(MMM(seasonality=1), dataset)
    res = run_nuts(p.model, p.model_key, p.model_args, priors=p.priors, shapes=p.shapes,
                   chains=2, draws=30, warmup=40, seed=0, progress=False,
                   chain_method="vectorized")  # fmt: skip
    assert res.warmup_steps.shape == (2, 40)
    assert res.warmup_steps.min() >= 1
    # the depth limit (6) holds until the first metric estimate
    assert res.warmup_steps[:, : first_metric_update(40)].max() <= 2**6


@pytest.mark.parametrize(
    "prior",
    [
        Prior("Normal", loc=0.0, scale=1.0),
        Prior("LogNormal", loc=0.0, scale=1.0),
        Prior("HalfNormal", scale=0.2),
        Prior("Gamma", concentration=2.0, rate=1.0),
        Prior("Beta", concentration1=2.0, concentration0=2.0),
        Prior("Uniform", low=-1.0, high=3.0),  # a support that depends on parameters
    ],
    ids=lambda p: p.dist,
)
def test_numpy_bijections_match_numpyro(prior):
    from numpyro.distributions import biject_to

    from mmmjax.inference.sampling import bijection

    to_u, to_c = bijection(prior)
    transform = biject_to(prior.build().support)
    u = np.random.default_rng(0).normal(size=(3, 50)).astype(np.float32) * 3
    c = to_c(u)
    assert c.dtype == np.float32
    np.testing.assert_allclose(c, np.asarray(transform(jnp.asarray(u))), rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(to_u(c), np.asarray(transform.inv(jnp.asarray(c))), rtol=1e-4,
                               atol=1e-4)  # fmt: skip
    np.testing.assert_allclose(to_u(c), u, rtol=1e-3, atol=1e-3)


# ----------------------------------------------------------------------------------------------
# the chunked runner (mmmjax.inference.sampling)
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_problem():
    from mmmjax.inference.fit import prepare
    from mmmjax.model import MMM
    from mmmjax.simulation import simulate

    dataset, _ = simulate(52, 2, seed=0)
    return prepare(MMM(seasonality=1), dataset)


def _run(p, **kw):
    from mmmjax.inference.sampling import run_nuts

    options = dict(chains=2, draws=60, warmup=90, seed=0, progress=False) | kw
    return run_nuts(p.model, p.model_key, p.model_args, priors=p.priors, shapes=p.shapes,
                    **options)  # fmt: skip


def _same_draws(a, b) -> bool:
    same = all(np.array_equal(a.posterior[k], b.posterior[k]) for k in a.posterior)
    return same and np.array_equal(a.warmup_steps, b.warmup_steps)


@pytest.mark.parametrize("method", ["parallel", "vectorized", "sequential"])
def test_progress_bar_does_not_change_the_draws(small_problem, method, capsys):
    from mmmjax.inference import sampling

    # 150 iterations: two chunks of CHUNK=100, the second past the end (padding skipped)
    assert (90 + 60) % sampling.CHUNK and 90 + 60 > sampling.CHUNK
    quiet = _run(small_problem, chain_method=method)
    shown = _run(small_problem, chain_method=method, progress=True)
    assert "NUTS" in capsys.readouterr().err  # the bar was drawn
    assert not shown.compiled  # the same programs, with the bar or without
    assert _same_draws(quiet, shown)
    assert quiet.posterior["sigma"].shape == (2, 60) and quiet.warmup_steps.shape == (2, 90)


def test_a_run_is_the_same_whatever_its_number_of_chunks(small_problem, monkeypatch):
    from mmmjax.inference import sampling

    kw = dict(chain_method="vectorized", warmup=12, draws=9)
    whole = _run(small_problem, **kw)  # one chunk
    monkeypatch.setattr(sampling, "CHUNK", 4)  # another program: 6 chunks, the last padded
    pieces = _run(small_problem, **kw)
    assert pieces.compiled
    assert _same_draws(whole, pieces)


def test_parallel_draws_do_not_depend_on_the_number_of_devices(small_problem, monkeypatch):
    from mmmjax.inference import sampling

    assert sampling.choose_chain_method(4, "auto") == "parallel"  # on CPU, whatever the cores
    ref = _run(small_problem, chains=4, chain_method="auto")
    real = sampling.chain_groups
    for devices in (2, 3):  # rounds of 2 + 2, and 3 + (1 and two copies)
        monkeypatch.setattr(sampling, "chain_groups", lambda c, d=devices: real(c, d))
        assert _same_draws(_run(small_problem, chains=4, chain_method="parallel"), ref), devices
    groups = real(5, 4)
    assert [g.tolist() for g in groups] == [[0, 1, 2, 3], [4, 4, 4, 4]]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorized_and_parallel_chains_take_the_same_first_steps(small_problem, seed):
    """The same keys and starts: the two programs agree until rounding makes NUTS decide
    differently (about 20 iterations in, measured), so only the first steps are compared."""
    kw = dict(seed=seed, warmup=6, draws=4)
    a = _run(small_problem, chain_method="parallel", **kw)
    b = _run(small_problem, chain_method="vectorized", **kw)
    np.testing.assert_array_equal(a.warmup_steps[:, :3], b.warmup_steps[:, :3])
    for k in a.posterior:
        np.testing.assert_allclose(a.posterior[k][:, 0], b.posterior[k][:, 0], rtol=1e-3,
                                   atol=1e-4, err_msg=k)  # fmt: skip
