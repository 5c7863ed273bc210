"""NUTS, in three small layers: choose how chains run, build a compiled runner, run it.

The runner is :func:`mmmjax.nuts.nuts_kernel` (NumPyro's tree builder and warm-up adapter on one
flat parameter vector) driven by our own loop: warm-up and sampling are one ``lax.scan`` inside
one compiled program per chain, chains are
``pmap``-ed over host devices (CPU) or ``vmap``-ed (one accelerator), and the model's data are
*arguments* of that program, not constants baked into it. The compiled runner is cached per
model shape, so a second fit of the same shape (new data, new seed, same sizes) starts sampling
at once instead of compiling again.

Initial values are the median of 15 prior draws per chain (NumPy; no JAX PRNG program to
compile), mapped to the unconstrained space.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro  # noqa: F401  # first, whole: see mmmjax.idata
from jax import lax
from jax.flatten_util import ravel_pytree
from numpyro.distributions import biject_to, constraints
from numpyro.infer.util import potential_energy

from mmmjax.nuts import NutsSettings, nuts_kernel

__all__ = [
    "CHAIN_METHODS",
    "SamplerResult",
    "choose_chain_method",
    "map_initial_values",
    "run_nuts",
    "run_nuts_batched",
]

CHAIN_METHODS = ("auto", "parallel", "vectorized", "sequential")
PROGRESS_TICKS = 50  # progress-bar updates per chain


class SamplerResult(NamedTuple):
    """Draws grouped by chain: ``posterior[name]`` is ``(chains, draws, ...)``."""

    posterior: dict[str, np.ndarray]
    sample_stats: dict[str, np.ndarray]
    chain_method: str
    seconds_warmup_and_sampling: float  # of the whole batch when several models ran together
    compiled: bool  # whether this call had to compile the runner
    warmup: int
    batch_size: int = 1  # models sampled together in one program
    warmup_steps: np.ndarray | None = None  # (chains, warmup) leapfrog steps of each warm-up step


def choose_chain_method(chains: int, requested: str = "auto") -> str:
    """Resolve ``"auto"``: parallel over CPU devices when there are enough, else vectorised."""
    if requested not in CHAIN_METHODS:
        raise ValueError(f"chain_method must be one of {CHAIN_METHODS}, got {requested!r}")
    if chains == 1:
        return "sequential"
    if requested == "parallel" and jax.local_device_count() < chains:
        raise ValueError(
            f"chain_method='parallel' needs {chains} devices but JAX sees "
            f"{jax.local_device_count()}; set MMMJAX_HOST_DEVICES={chains} before importing "
            "mmmjax, or use chain_method='vectorized'"
        )
    if requested != "auto":
        return requested
    if jax.default_backend() == "cpu" and jax.local_device_count() >= chains:
        return "parallel"
    return "vectorized"


# ----------------------------------------------------------------------------------------------
# progress
# ----------------------------------------------------------------------------------------------
class _Progress:
    """A tqdm bar fed from inside compiled code through ``jax.debug.callback``."""

    lock = threading.Lock()
    bar = None

    @classmethod
    def tick(cls, n) -> None:
        with cls.lock:
            if cls.bar is not None:
                if cls.bar.n == 0:
                    cls.bar.set_description("NUTS")
                cls.bar.update(int(np.size(n)) * int(np.max(n)))


def _maybe_tick(i: jax.Array, every: int, enabled: bool) -> None:
    if not enabled:
        return
    lax.cond(
        (i + 1) % every == 0,
        lambda: jax.debug.callback(_Progress.tick, jnp.asarray(every)),
        lambda: None,
    )


# ----------------------------------------------------------------------------------------------
# the compiled runner
# ----------------------------------------------------------------------------------------------
_TRACES = [0]  # how many times a chain program was traced (compiled); read by tests
_STAT_FIELDS = ("diverging", "num_steps", "accept_prob", "potential_energy", "energy")


_MODELS: dict[Hashable, Callable[..., Any]] = {}  # model_key -> model (first one seen)


@functools.lru_cache(maxsize=32)
def _runner(
    key: Hashable,
    *,
    method: str,
    draws: int,
    settings: NutsSettings,
    progress: bool,
    batched: bool = False,
) -> Callable:
    """Compiled ``run(keys (chains,), z0 {site: (chains, ...)}, model_args)`` for model ``key``.

    Each chain ravels its sites into one flat vector, runs :func:`mmmjax.nuts.nuts_kernel` over
    warm-up and sampling in one ``lax.scan``, and returns the kept draws unravelled to sites,
    their statistics, and the leapfrog steps of every warm-up iteration.

    With ``batched=True`` every argument has a models axis after the chain axis (``keys``
    ``(chains, M)``, ``z0`` ``(chains, M, ...)``) and ``model_args`` a leading models axis: the
    M models run in lockstep inside each chain's program (``vmap``), one compiled program for
    all of them.
    """
    model = _MODELS[key]
    warmup = settings.warmup
    every = max(1, (warmup + draws) // PROGRESS_TICKS)

    def one_chain(rng_key, z0, args):
        _TRACES[0] += 1  # runs only while tracing: counts compilations
        x0, unravel = ravel_pytree(z0)
        init, step = nuts_kernel(lambda x: potential_energy(model, args, {}, unravel(x)), settings)

        def body(state, i):
            _maybe_tick(i, every, progress)
            state = step(state, i)
            stats = tuple(getattr(state, f) for f in _STAT_FIELDS)
            return state, (state.z, *stats, state.adapt_state.step_size)

        # One scan over warm-up and sampling: the kernel adapts while the iteration is below
        # `warmup`, so one traced step serves both phases (two scans traced and compiled the
        # NUTS step twice).
        _, trace = lax.scan(body, init(x0, rng_key), jnp.arange(warmup + draws))
        x, *stats, step_size = jax.tree.map(lambda a: a[warmup:], trace)
        warmup_steps = trace[1 + _STAT_FIELDS.index("num_steps")][:warmup]
        return (jax.vmap(unravel)(x), *stats, step_size, warmup_steps)

    # keys and initial values differ per chain; the model's data are shared by every chain
    chain = jax.vmap(one_chain) if batched else one_chain
    if method == "parallel":
        return jax.pmap(chain, in_axes=(0, 0, None))
    if method == "vectorized":
        return jax.jit(jax.vmap(chain, in_axes=(0, 0, None)))

    def sequential(keys, z0, args):
        return lax.map(lambda kz: chain(kz[0], kz[1], args), (keys, z0))

    return jax.jit(sequential)


def _bijection(prior: Any) -> tuple[Callable, Callable]:
    """``(to_unconstrained, to_constrained)`` of a prior's support, as NumPy functions.

    Real, positive and unit-interval supports (every default prior) are done in NumPy (float64
    inside, the input's dtype out): no eager JAX operation, so nothing to compile or load on a
    first fit (the JAX versions cost about 0.2 s there). Other supports use NumPyro's
    ``biject_to``, the transforms NUTS itself applies.
    """
    support = prior.support
    if type(support) is type(constraints.real):
        return (lambda v: np.asarray(v)), (lambda u: np.asarray(u))
    if type(support) is type(constraints.positive) and float(support.lower_bound) == 0.0:
        return _numpy_map(np.log), _numpy_map(np.exp)
    if type(support) is type(constraints.unit_interval):
        tiny = np.finfo(np.float32).tiny

        def expit(u):  # NumPyro clips likewise, so a boundary draw stays inside the support
            return np.clip(1.0 / (1.0 + np.exp(-u)), tiny, 1.0 - np.finfo(np.float32).eps)

        return _numpy_map(lambda v: np.log(v) - np.log1p(-v)), _numpy_map(expit)
    transform = biject_to(support)
    return (lambda v: np.asarray(transform.inv(jnp.asarray(v)))), (
        lambda u: np.asarray(transform(jnp.asarray(u)))
    )


def _numpy_map(f: Callable[[np.ndarray], np.ndarray]) -> Callable[[Any], np.ndarray]:
    def apply(v):
        v = np.asarray(v)
        with np.errstate(divide="ignore", over="ignore"):
            return f(v.astype(np.float64)).astype(v.dtype)

    return apply


def _initial_values(
    priors: Mapping[str, Any], shapes: Mapping[str, tuple[int, ...]], chains: int, seed: int
) -> dict[str, np.ndarray]:
    """Unconstrained initial values per chain: the median of 15 prior draws, per chain."""
    rng = np.random.default_rng([seed, 7])
    z0 = {}
    for name, shape in shapes.items():
        draws = priors[name].sample_numpy(rng, (chains, 15, *shape))
        median = np.median(draws, axis=1).astype(np.float32)
        z0[name] = _bijection(priors[name])[0](median).astype(np.float32)
    return z0


def map_initial_values(
    model: Callable[..., Any],
    model_args: tuple[Any, ...],
    *,
    priors: Mapping[str, Any],
    shapes: Mapping[str, tuple[int, ...]],
    chains: int,
    seed: int,
    steps: int = 2000,
    learning_rate: float = 0.02,
    jitter: float = 1.0,
) -> dict[str, np.ndarray]:
    """Unconstrained initial values per chain near the MAP point, jittered on the posterior's scale.

    The MAP point comes from NumPyro's SVI with an ``AutoDelta`` guide and ``optax.adam``. Each
    chain starts at ``z_map + jitter * eps / sqrt(h)``, ``eps ~ N(0, 1)``, where ``h`` is the
    diagonal of the potential's Hessian at the MAP point (floored at ``1e-4``): with the default
    ``jitter=1`` each chain starts at a draw from a diagonal Laplace approximation of the
    posterior, so chains stay distinct (r-hat still means something) without being thrown far
    out on tightly identified coordinates such as the level. (A jitter of 0.1 in unconstrained
    units raised the potential at the start by 800-2000 nats on an 80-week demo slice, far above
    the prior start's; now it is about d/2 above the mode, as a posterior draw is.) Measured on
    a T=104, C=5 model: MAP start + 300 warm-up steps gave about twice the ESS per second of the
    prior start + 1000 warm-up steps (``benchmarks/results/sampler_cpu.json``, study
    ``map_init``).
    """
    import optax
    from jax.flatten_util import ravel_pytree
    from numpyro.infer import SVI, Trace_ELBO
    from numpyro.infer.autoguide import AutoDelta
    from numpyro.infer.util import potential_energy
    from numpyro.optim import optax_to_numpyro

    guide = AutoDelta(model)
    svi = SVI(model, guide, optax_to_numpyro(optax.adam(learning_rate)), Trace_ELBO())
    result = svi.run(jax.random.PRNGKey(seed), steps, *model_args, progress_bar=False)
    point = guide.median(result.params)
    z_map = {
        name: _bijection(priors[name])[0](np.asarray(point[name], dtype=np.float32))
        for name in shapes
    }
    flat, unravel = ravel_pytree({k: jnp.asarray(v) for k, v in z_map.items()})

    def potential(v):
        return potential_energy(model, model_args, {}, unravel(v))

    # The Hessian's diagonal: one Hessian-vector product per coordinate, vmapped.
    hvp = jax.vmap(lambda e: jax.jvp(jax.grad(potential), (flat,), (e,))[1] @ e)
    h = np.asarray(hvp(jnp.eye(flat.shape[0], dtype=flat.dtype)))
    sd = 1.0 / np.sqrt(np.where(np.isfinite(h), np.maximum(h, 1e-4), 1e-4))
    rng = np.random.default_rng([seed, 11])
    starts = np.asarray(flat)[None, :] + jitter * sd * rng.standard_normal((chains, flat.size))
    per_chain = [unravel(jnp.asarray(z, dtype=flat.dtype)) for z in starts]
    return {
        name: np.stack([np.asarray(c[name]) for c in per_chain]).astype(np.float32)
        for name in shapes
    }


def run_nuts(
    model: Callable[..., Any],
    model_key: Hashable,
    model_args: tuple[Any, ...],
    *,
    priors: Mapping[str, Any],
    shapes: Mapping[str, tuple[int, ...]],
    chains: int,
    draws: int,
    warmup: int,
    seed: int,
    target_accept: float = 0.85,
    max_tree_depth: int = 10,
    dense_mass: bool = False,
    chain_method: str = "auto",
    progress: bool = True,
    init_values: Mapping[str, np.ndarray] | None = None,
    init_depth: int | None = 6,
    metric_init: str = "gradient",
) -> SamplerResult:
    """Run NUTS on ``model(*model_args)`` and return draws grouped by chain.

    Args:
      model: a NumPyro model function.
      model_key: a hashable value that identifies ``model`` (equal keys, same model), used to
        reuse the compiled runner across calls.
      model_args: the model's array arguments (traced: new values of the same shapes reuse the
        compiled program).
      priors: ``{site: Prior}`` of the sampled sites (initial values and constraints).
      shapes: ``{site: shape}`` of one draw of each sampled site, in sampling order.
      chains, draws, warmup: number of chains, kept draws per chain, warm-up steps per chain.
      seed: PRNG seed; the same seed gives the same draws.
      target_accept: NUTS target acceptance probability (raise towards 0.95 on divergences).
      max_tree_depth: the longest trajectory is ``2**max_tree_depth`` leapfrog steps.
      dense_mass: adapt a dense (full covariance) mass matrix during warm-up. It shortens
        trajectories about 3x on MMM posteriors, but on the demo it gave 30x more divergences
        and half the ESS per second of the default diagonal metric, so it is off by default.
      chain_method: "auto", "parallel", "vectorized" or "sequential".
      progress: show a progress bar.
      init_values: unconstrained initial values ``{site: (chains, *shape)}`` (e.g. from
        :func:`map_initial_values`); default: the median of 15 prior draws per chain.
      init_depth: tree depth limit until warm-up's first metric estimate (``None``: none);
        see :mod:`mmmjax.nuts`.
      metric_init: warm-up's first inverse metric, ``"gradient"`` (``1 / |grad|`` at the
        start) or ``"identity"`` (NumPyro's).
    """
    method = choose_chain_method(chains, chain_method)
    z0 = _start(priors, shapes, chains, seed, init_values)
    keys = jax.random.split(jax.random.PRNGKey(seed), chains)
    settings = NutsSettings(int(warmup), float(target_accept), int(max_tree_depth),
                            bool(dense_mass), init_depth, metric_init)  # fmt: skip
    options = dict(method=method, draws=int(draws), settings=settings, progress=bool(progress))
    (result,) = _sample(model, model_key, tuple(model_args), keys, z0, priors, shapes, options)
    return result


def run_nuts_batched(
    model: Callable[..., Any],
    model_key: Hashable,
    model_args: Sequence[tuple[Any, ...]],
    *,
    priors: Mapping[str, Any],
    shapes: Mapping[str, tuple[int, ...]],
    chains: int,
    draws: int,
    warmup: int,
    seeds: Sequence[int],
    target_accept: float = 0.85,
    max_tree_depth: int = 10,
    dense_mass: bool = False,
    chain_method: str = "auto",
    progress: bool = True,
    init_values: Sequence[Mapping[str, np.ndarray] | None] | None = None,
    init_depth: int | None = 6,
    metric_init: str = "gradient",
) -> list[SamplerResult]:
    """Run NUTS on M models of one shape at once: one compiled program, models ``vmap``-ed.

    ``model_args[m]`` are model m's arguments (every model the same shapes; the same model
    function and priors, ``model_key``) and ``seeds[m]`` its seed. Model m gets the keys and
    initial values :func:`run_nuts` would give it with ``seed=seeds[m]``, so its draws match a
    single fit up to floating-point rounding. Inside each chain the M models take NUTS steps in
    lockstep: a step lasts as long as the longest trajectory among them. Returns one
    :class:`SamplerResult` per model, in order.
    """
    n = len(model_args)
    if n == 0:
        return []
    if init_values is None:
        init_values = [None] * n
    if not (len(seeds) == len(init_values) == n):
        raise ValueError("model_args, seeds and init_values need one entry per model")
    method = choose_chain_method(chains, chain_method)
    starts = [
        _start(priors, shapes, chains, s, iv) for s, iv in zip(seeds, init_values, strict=True)
    ]
    z0 = {k: np.stack([z[k] for z in starts], axis=1) for k in shapes}  # (chains, M, ...)
    keys = jnp.stack([jax.random.split(jax.random.PRNGKey(s), chains) for s in seeds], axis=1)
    args = jax.tree.map(lambda *a: jnp.stack(a), *[tuple(a) for a in model_args])
    settings = NutsSettings(int(warmup), float(target_accept), int(max_tree_depth),
                            bool(dense_mass), init_depth, metric_init)  # fmt: skip
    options = dict(
        method=method, draws=int(draws), settings=settings, progress=bool(progress), batched=True
    )
    return _sample(model, model_key, args, keys, z0, priors, shapes, options, batch=n)


def _start(priors, shapes, chains, seed, init_values) -> dict[str, np.ndarray]:
    """Unconstrained initial values ``{site: (chains, *shape)}``."""
    if init_values is None:
        return _initial_values(priors, shapes, chains, seed)
    return {k: np.broadcast_to(np.asarray(init_values[k], np.float32), (chains, *shape))
            for k, shape in shapes.items()}  # fmt: skip


def _sample(model, model_key, args, keys, z0, priors, shapes, options, batch: int | None = None):
    """Run the cached runner; split the trace into one :class:`SamplerResult` per model."""
    _MODELS.setdefault(model_key, model)
    run = _runner(model_key, **options)
    chains, warmup, draws = keys.shape[0], options["settings"].warmup, options["draws"]
    traces_before = _TRACES[0]
    start = time.perf_counter()
    if options["progress"]:
        from tqdm.auto import tqdm

        total = chains * (warmup + draws) * (batch or 1)
        _Progress.bar = tqdm(total=total, desc="NUTS (compiling)", unit="step", leave=False)
    try:
        trace = jax.block_until_ready(run(keys, z0, args))
    finally:
        if _Progress.bar is not None:
            _Progress.bar.close()
            _Progress.bar = None
    seconds = time.perf_counter() - start
    compiled = _TRACES[0] != traces_before

    z, *stats, step_size, warmup_steps = jax.tree.map(np.asarray, trace)
    results = []
    for m in range(batch or 1):
        pick = (lambda a: a) if batch is None else (lambda a, m=m: a[:, m])
        posterior = {}
        for name in shapes:
            posterior[name] = _bijection(priors[name])[1](pick(z[name]))
        stat = dict(zip(_STAT_FIELDS, (pick(s) for s in stats), strict=True))
        sample_stats = {
            "diverging": stat["diverging"].astype(bool),
            "n_steps": stat["num_steps"].astype(np.int64),
            "acceptance_rate": stat["accept_prob"],
            "lp": -stat["potential_energy"],
            "energy": stat["energy"],
            "step_size": pick(step_size),
        }
        depth = np.floor(np.log2(np.maximum(sample_stats["n_steps"], 1))).astype(np.int64) + 1
        sample_stats["tree_depth"] = depth
        results.append(SamplerResult(posterior, sample_stats, options["method"], seconds,
                                     compiled, warmup, batch or 1,
                                     pick(warmup_steps).astype(np.int64)))  # fmt: skip
    return results
