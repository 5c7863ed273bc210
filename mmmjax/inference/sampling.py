"""NUTS, in three small layers: choose how chains run, build the compiled programs, run them.

The runner is :func:`mmmjax.inference.nuts.nuts_kernel` (NumPyro's tree builder and warm-up adapter
on one flat parameter vector) in two compiled programs: ``init`` and ``chunk``, a ``lax.scan`` over
:data:`CHUNK` iterations of the combined warm-up/sampling step. Python calls ``chunk`` until
warm-up and sampling are done, carrying the whole NUTS state from call to call, and advances the
progress bar in between: no host callback inside the compiled code, so the programs land in
JAX's persistent compilation cache, and the draws are the same with the bar on or off.
Chains are ``shard_map``-ed over CPU devices (``"parallel"``, the CPU default, in rounds when
there are more chains than devices), ``vmap``-ed (``"vectorized"``, the accelerator default) or
``lax.map``-ped; the model's data are *arguments* of the programs, not constants baked in.

The programs are cached per model shape in the process, and stored traced and lowered on disk
(:mod:`mmmjax.programs`) for later processes: a fit of a shape seen before neither traces,
lowers nor (with JAX's cache) compiles its sampler again.

Initial values are the median of 15 prior draws per chain (NumPy; no JAX PRNG program to
compile), mapped to the unconstrained space.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro  # noqa: F401  # first, whole: see mmmjax.inference.idata
from jax import lax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from numpyro.distributions import biject_to, constraints
from numpyro.infer.util import log_density, potential_energy

from mmmjax import programs
from mmmjax.inference.nuts import NutsSettings, nuts_kernel
from mmmjax.seeds import jax_key, numpy_rng

__all__ = [
    "CHAIN_METHODS",
    "SamplerResult",
    "bijection",
    "chain_groups",
    "choose_chain_method",
    "initial_values",
    "map_initial_values",
    "run_nuts",
    "run_nuts_batched",
]

CHAIN_METHODS = ("auto", "parallel", "vectorized", "sequential")


class SamplerResult(NamedTuple):
    """Draws grouped by chain: ``posterior[name]`` is ``(chains, draws, ...)``."""

    posterior: dict[str, np.ndarray]
    sample_stats: dict[str, np.ndarray]
    chain_method: str
    seconds_warmup_and_sampling: float  # of the whole batch when several models ran together
    compiled: bool  # whether this call built the programs (traced them, or loaded them)
    warmup: int
    batch_size: int = 1  # models sampled together in one program
    warmup_steps: np.ndarray | None = None  # (chains, warmup) leapfrog steps of each warm-up step
    # seconds of this call's phases: "trace_lower_s" (tracing and lowering the programs to
    # StableHLO) or "load_s" (reading them from mmmjax.programs' store), "lower_s" (the stored
    # programs to XLA), "compile_s" (XLA's compile, or its load from JAX's persistent cache),
    # "sample_s"; only "sample_s" when the programs were already compiled in this process
    phases: dict[str, float] | None = None


def choose_chain_method(chains: int, requested: str = "auto") -> str:
    """Resolve ``"auto"``: ``"parallel"`` on CPU, ``"vectorized"`` on an accelerator.

    The choice depends on the backend only, never on the number of cores or JAX devices, so
    the same seed gives the same draws on CPUs with different core counts: parallel chains
    that outnumber the devices run in rounds of the same per-chain program
    (:func:`chain_groups`). Vectorised and parallel chains take the same steps up to
    floating-point rounding (the batched program rounds differently), which a long NUTS run
    amplifies into different, equally valid draws.
    """
    if requested not in CHAIN_METHODS:
        raise ValueError(f"chain_method must be one of {CHAIN_METHODS}, got {requested!r}")
    if chains == 1:
        return "sequential"
    if requested != "auto":
        return requested
    return "parallel" if jax.default_backend() == "cpu" else "vectorized"


def chain_groups(chains: int, devices: int | None = None) -> list[np.ndarray]:
    """Rounds of parallel chains: the chain indices each ``pmap`` call runs, one per device.

    Every round has ``size = min(chains, devices)`` chains (``devices``: JAX's local device
    count by default, at least 2 where there are 2 devices); the last round is padded with
    copies of the last chain, whose draws are dropped. A chain's draws then do not depend on
    how many devices there are: the ``pmap``-ed program is the same per chain whatever the
    round's size (checked bit for bit in ``tests/test_nuts.py``); only one device (``pmap``
    over a single device compiles differently) rounds differently.
    ``chain_groups(5, 4) == [array([0, 1, 2, 3]), array([4, 4, 4, 4])]``.
    """
    devices = jax.local_device_count() if devices is None else int(devices)
    size = max(1, min(chains, devices))
    rounds = -(-chains // size)
    index = np.minimum(np.arange(rounds * size), chains - 1)
    return list(index.reshape(rounds, size))


# ----------------------------------------------------------------------------------------------
# the compiled runner: two programs, driven in chunks from Python
# ----------------------------------------------------------------------------------------------
CHUNK = 100  # NUTS iterations per compiled call (see _sample)
_TRACES = [0]  # how many times a chain program was traced (compiled); read by tests
_STAT_FIELDS = ("diverging", "num_steps", "accept_prob", "potential_energy", "energy")


_MODELS: dict[Hashable, Callable[..., Any]] = {}  # model_key -> model (first one seen)

Layout = tuple[tuple[str, tuple[int, ...]], ...]  # ((site, shape), ...) in flat-vector order


class _Programs(NamedTuple):
    """The two compiled programs of one runner (see :func:`_programs`)."""

    init: Callable  # (keys, x0, arg_leaves) -> state_leaves
    chunk: Callable  # (state_leaves, start, total, arg_leaves) -> (state_leaves, trace)
    phases: dict[str, float]  # seconds spent getting them: see SamplerResult.phases
    compiled: bool  # whether this call built them (False: from the in-process cache)


def _unravel(layout: Layout, x):
    """``{site: x[..., a:b].reshape(..., *shape)}``: a flat vector back to sites (jnp or np)."""
    out, at = {}, 0
    for name, shape in layout:
        n = math.prod(shape)
        out[name] = x[..., at : at + n].reshape((*x.shape[:-1], *shape))
        at += n
    return out


def _ravel(layout: Layout, z: Mapping[str, np.ndarray], lead: int) -> np.ndarray:
    """Sites ``{site: (*lead_dims, *shape)}`` to one flat ``(*lead_dims, dim)`` NumPy array."""
    parts = []
    for name, _ in layout:
        a = np.asarray(z[name])
        parts.append(a.reshape((*a.shape[:lead], -1)))
    return np.concatenate(parts, axis=-1)


def _chain_functions(model, layout: Layout, settings: NutsSettings, chunk: int, args_tree):
    """One chain's ``init(key, x0, arg_leaves)`` and ``chunk(state, start, total, arg_leaves)``.

    States and arguments cross the function boundary as flat lists of arrays (what
    ``jax.export`` stores without knowing NumPyro's or mmmjax's NamedTuples); ``chunk`` rebuilds
    the state with the structure that tracing ``init`` found (``init`` is traced first).
    """
    state_tree: list = []

    def kernel(arg_leaves):
        args = jax.tree.unflatten(args_tree, arg_leaves)

        def potential(x):
            return potential_energy(model, args, {}, _unravel(layout, x))

        return nuts_kernel(potential, settings)

    def chain_init(rng_key, x0, arg_leaves):
        _TRACES[0] += 1  # runs only while tracing: counts compilations
        leaves, tree = jax.tree.flatten(kernel(arg_leaves)[0](x0, rng_key))
        state_tree[:] = [tree]
        return [jnp.asarray(v) for v in leaves]  # a Python float among them, too

    def chain_chunk(state_leaves, start, total, arg_leaves):
        _TRACES[0] += 1
        step = kernel(arg_leaves)[1]

        def body(state, i):
            state = lax.cond(i < total, lambda s: step(s, i), lambda s: s, state)
            stats = tuple(getattr(state, f) for f in _STAT_FIELDS)
            return state, (state.z, *stats, state.adapt_state.step_size)

        state = jax.tree.unflatten(state_tree[0], state_leaves)
        state, trace = lax.scan(body, state, start + jnp.arange(chunk))
        return jax.tree.leaves(state), trace

    return chain_init, chain_chunk


def _programs(
    key: Hashable,
    *,
    layout: Layout,
    method: str,
    settings: NutsSettings,
    chunk: int,
    keys: np.ndarray,
    x0: np.ndarray,
    args: Any,
    batched: bool = False,
) -> _Programs:
    """Compiled NUTS for model ``key`` on the flat vector of ``layout``, as two programs.

    * ``init(keys (chains, 2), x0 (chains, dim), arg_leaves) -> state``: each chain's NUTS
      state at its start (:func:`mmmjax.inference.nuts.nuts_kernel`'s ``init``), as a list of
      arrays.
    * ``chunk(state, start, total, arg_leaves) -> (state, trace)``: iterations
      ``start, ..., start + chunk - 1`` of every chain in one ``lax.scan``; iterations at or past
      ``total`` (warm-up + draws) leave the state as it is. ``trace`` holds, per chain and
      iteration, the position ``(chunk, dim)``, the statistics of ``_STAT_FIELDS`` and the step
      size ``(chunk,)``.

    The whole state (position, step size, dual averaging, Welford metric estimate, RNG key)
    is carried from one chunk to the next, so a run cut into chunks takes exactly the steps of
    one long scan, whatever Python does between chunks (a progress bar). Nothing in the
    programs calls back to Python, so XLA's compile lands in JAX's persistent cache, and each
    program is traced and lowered once per machine: it is stored with ``jax.export``
    (:mod:`mmmjax.programs`) and later processes load it. ``start`` and ``total`` are
    arguments: one program serves every number of draws.

    ``keys`` and ``x0`` are one call's arguments (one round of chains for ``"parallel"``,
    :func:`chain_groups`): their shapes, and those of ``args`` (the model's arguments), fix the
    programs'. Parallel chains are ``shard_map``-ed over as many CPU devices, one chain each;
    vectorised ones ``vmap``-ed; sequential ones ``lax.map``-ped.

    With ``batched=True`` every argument has a models axis after the chain axis (``keys``
    ``(chains, M, 2)``, ``x0`` ``(chains, M, dim)``) and ``args`` a leading models axis: the
    M models run in lockstep inside each chain's program (``vmap``).
    """
    arg_leaves, args_tree = jax.tree.flatten(args)
    n = keys.shape[0]
    cache_key = (key, layout, method, settings, chunk, batched, n, str(args_tree),
                 tuple((a.shape, str(a.dtype)) for a in arg_leaves),
                 keys.shape[1:], x0.shape[1:], str(x0.dtype))  # fmt: skip
    hit = _COMPILED.get(cache_key)
    if hit is not None:  # nothing to trace, load or compile this time
        return hit._replace(phases={}, compiled=False)
    programs.release_if_crowded()  # a long session of many models: keep clear of the limit
    model = _MODELS[key]
    chain_init, chain_chunk = _chain_functions(model, layout, settings, chunk, args_tree)
    if batched:
        chain_init = jax.vmap(chain_init)
        chain_chunk = jax.vmap(chain_chunk, in_axes=(0, None, None, 0))
    # keys, initial values and states differ per chain; start, total and data are shared
    shard = share = None
    if method == "parallel":
        mesh = Mesh(np.array(jax.local_devices()[:n]), ("chain",))
        shard, share = NamedSharding(mesh, P("chain")), NamedSharding(mesh, P())

        def one(f, chain_args):  # each device: one chain, its block of 1 squeezed away
            def block(*a):
                pairs = zip(a, chain_args, strict=True)
                a = [jax.tree.map(lambda v: v[0], x) if c else x for x, c in pairs]
                return jax.tree.map(lambda v: v[None], f(*a))

            specs = tuple(P("chain") if c else P() for c in chain_args)
            return jax.shard_map(block, mesh=mesh, in_specs=specs, out_specs=P("chain"),
                                 check_vma=False)  # fmt: skip

        init_fn = one(chain_init, (True, True, False))
        chunk_fn = one(chain_chunk, (True, False, False, False))
    elif method == "vectorized":
        init_fn = jax.vmap(chain_init, in_axes=(0, 0, None))
        chunk_fn = jax.vmap(chain_chunk, in_axes=(0, None, None, None))
    else:

        def init_fn(keys, x0, arg_leaves):
            return lax.map(lambda kx: chain_init(kx[0], kx[1], arg_leaves), (keys, x0))

        def chunk_fn(state, start, total, arg_leaves):
            return lax.map(lambda s: chain_chunk(s, start, total, arg_leaves), state)

    def spec(a, sharding=None):
        return jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding)

    scalar = spec(np.int32(0), share)
    init_specs = (spec(keys, shard), spec(x0, shard), [spec(a, share) for a in arg_leaves])
    what = {"model": key, "of": _qualname(model), "layout": layout, "method": method,
            "settings": settings, "chunk": chunk, "batched": batched}  # fmt: skip
    phases: dict[str, float] = {}
    traced = _TRACES[0]
    t0 = time.perf_counter()
    init_x, _ = programs.exported("nuts-init", what, _jit(init_fn, init_specs, shard), init_specs)
    state_specs = [spec(a, shard) for a in init_x.out_avals]
    chunk_specs = (state_specs, scalar, scalar, init_specs[2])
    chunk_x, _ = programs.exported(
        "nuts-chunk", what, _jit(chunk_fn, chunk_specs, shard), chunk_specs
    )
    phases["trace_lower_s" if traced != _TRACES[0] else "load_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    lowered = [_jit(x.call, s, shard).lower(*s) for x, s in ((init_x, init_specs),
                                                             (chunk_x, chunk_specs))]  # fmt: skip
    phases["lower_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    init_c, chunk_c = (lo.compile() for lo in lowered)
    phases["compile_s"] = time.perf_counter() - t0  # or the persistent cache's load
    out = _Programs(init_c, chunk_c, phases, True)
    if len(_COMPILED) >= 32:
        _COMPILED.pop(next(iter(_COMPILED)))
    _COMPILED[cache_key] = out
    return out


_COMPILED: dict[tuple, _Programs] = {}  # in-process cache of _programs' results
programs.also_release(_COMPILED.clear)


def _jit(f: Callable, specs: tuple, shard: Any) -> Callable:
    """``jax.jit(f)``; with shardings (parallel chains) pinned on inputs and outputs."""
    if shard is None:
        return jax.jit(f)
    return jax.jit(f, in_shardings=jax.tree.map(lambda s: s.sharding, specs), out_shardings=shard)


def _qualname(model: Callable) -> str:
    f = getattr(model, "func", model)  # a functools.partial: the function it wraps
    return f"{getattr(f, '__module__', '?')}.{getattr(f, '__qualname__', repr(f))}"


def bijection(prior: Any) -> tuple[Callable, Callable]:
    """``(to_unconstrained, to_constrained)`` of a prior's support, as NumPy functions: the
    maps between a site's values and the unconstrained space NUTS moves in.

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


def initial_values(
    priors: Mapping[str, Any], shapes: Mapping[str, tuple[int, ...]], chains: int, seed: int
) -> dict[str, np.ndarray]:
    """The sampler's default start: unconstrained initial values ``{site: (chains, *shape)}``.

    Each chain starts at the median of 15 prior draws (NumPy, the ``initial_values`` stream of
    ``seed``; no JAX program to compile), mapped to the unconstrained space by
    :func:`bijection`, in float32.
    """
    rng = numpy_rng(seed, "initial_values")
    z0 = {}
    for name, shape in shapes.items():
        draws = priors[name].sample_numpy(rng, (chains, 15, *shape))
        median = np.median(draws, axis=1).astype(np.float32)
        z0[name] = bijection(priors[name])[0](median).astype(np.float32)
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

    The MAP point (the mode of the joint density of the sites) comes from ``steps`` steps of
    ``optax.adam`` in the unconstrained space, from the prior-median start (one compiled scan:
    NumPyro's SVI took 27 s to compile for a 2-geo panel, this 5). Each chain starts at
    ``z_map + jitter * eps / sqrt(h)``, ``eps ~ N(0, 1)``, where ``h`` is the
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

    start = initial_values(priors, shapes, 1, seed)  # the prior-median start, unconstrained
    flat0, unravel = ravel_pytree({k: jnp.asarray(v[0]) for k, v in start.items()})

    def potential(v):
        return potential_energy(model, model_args, {}, unravel(v))

    def minus_log_joint(v):  # the density of the sites themselves (no Jacobian), as a MAP fit
        u = unravel(v)
        values = {k: biject_to(priors[k].support)(u[k]) for k in u}
        return -log_density(model, model_args, {}, values)[0]

    flat = _adam_minimum(minus_log_joint, flat0, optax.adam(learning_rate), int(steps))

    # The Hessian's diagonal: one Hessian-vector product per coordinate, vmapped and compiled
    # (run eagerly, op by op, it took 40 s for a 2-geo panel)
    hvp = jax.jit(jax.vmap(lambda e: jax.jvp(jax.grad(potential), (flat,), (e,))[1] @ e))
    h = np.asarray(hvp(jnp.eye(flat.shape[0], dtype=flat.dtype)))
    sd = 1.0 / np.sqrt(np.where(np.isfinite(h), np.maximum(h, 1e-4), 1e-4))
    rng = numpy_rng(seed, "map_jitter")
    starts = np.asarray(flat)[None, :] + jitter * sd * rng.standard_normal((chains, flat.size))
    per_chain = [unravel(jnp.asarray(z, dtype=flat.dtype)) for z in starts]
    return {
        name: np.stack([np.asarray(c[name]) for c in per_chain]).astype(np.float32)
        for name in shapes
    }


def _adam_minimum(f: Callable[[jax.Array], jax.Array], x0: jax.Array, opt, steps: int):
    """``steps`` optax steps of ``opt`` down ``f`` from ``x0``, one compiled ``lax.scan`` (the
    same gradient NUTS uses: it compiles in a fraction of the time NumPyro's SVI took, 27 s for
    a 2-geo panel)."""

    import optax

    def step(carry, _):
        x, state = carry
        updates, state = opt.update(jax.grad(f)(x), state, x)
        return (optax.apply_updates(x, updates), state), None

    run = jax.jit(lambda x: jax.lax.scan(step, (x, opt.init(x)), None, length=steps)[0][0])
    return run(x0)


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
        see :mod:`mmmjax.inference.nuts`.
      metric_init: warm-up's first inverse metric, ``"gradient"`` (``1 / |grad|`` at the
        start) or ``"identity"`` (NumPyro's).
    """
    method = choose_chain_method(chains, chain_method)
    z0 = _start(priors, shapes, chains, seed, init_values)
    keys = jax.random.split(jax_key(seed, "nuts"), chains)
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
    keys = jnp.stack([jax.random.split(jax_key(s, "nuts"), chains) for s in seeds], axis=1)
    args = jax.tree.map(lambda *a: jnp.stack(a), *[tuple(a) for a in model_args])
    settings = NutsSettings(int(warmup), float(target_accept), int(max_tree_depth),
                            bool(dense_mass), init_depth, metric_init)  # fmt: skip
    options = dict(method=method, draws=int(draws), settings=settings, progress=bool(progress))
    return _sample(model, model_key, args, keys, z0, priors, shapes, options, batch=n)


def _start(priors, shapes, chains, seed, init_values) -> dict[str, np.ndarray]:
    """Unconstrained initial values ``{site: (chains, *shape)}``."""
    if init_values is None:
        return initial_values(priors, shapes, chains, seed)
    return {k: np.broadcast_to(np.asarray(init_values[k], np.float32), (chains, *shape))
            for k, shape in shapes.items()}  # fmt: skip


def _sample(model, model_key, args, keys, z0, priors, shapes, options, batch: int | None = None):
    """Run the cached programs chunk by chunk; one :class:`SamplerResult` per model.

    The chunks are dispatched from Python; with ``progress`` each is waited for and advances a
    tqdm bar, without it they are queued at once (JAX runs them asynchronously). Either way the
    same programs run on the same arguments, so the draws are the same bit for bit.
    """
    _MODELS.setdefault(model_key, model)
    settings, draws, progress = options["settings"], options["draws"], options["progress"]
    batched = batch is not None
    layout = tuple((k, tuple(int(d) for d in s)) for k, s in shapes.items())
    chunk = CHUNK
    keys = np.asarray(keys)  # raw uint32 keys: sliced on the host, no eager JAX op
    chains, warmup, total = keys.shape[0], settings.warmup, settings.warmup + draws
    lead = 2 if batched else 1
    x0 = _ravel(layout, z0, lead)
    # parallel chains that outnumber the devices run in rounds (groups) of one program
    parallel = options["method"] == "parallel"
    groups = chain_groups(chains) if parallel else [np.arange(chains)]
    arg_leaves = jax.tree.leaves(args)
    start = time.perf_counter()
    run = _programs(model_key, layout=layout, method=options["method"], settings=settings,
                    chunk=chunk, keys=keys[groups[0]], x0=x0[groups[0]], args=args,
                    batched=batched)  # fmt: skip
    phases = dict(run.phases)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="NUTS warm-up", unit="it", leave=False)
        bar.set_postfix_str(f"{chains} chains" + (f" x {batch} models" if batched else ""))
    sampling_start = time.perf_counter()
    try:
        states = [run.init(keys[g], x0[g], arg_leaves) for g in groups]
        chunks: list[list] = [[] for _ in groups]  # per group, per chunk: the trace
        for begin in range(0, total, chunk):
            for j in range(len(groups)):
                states[j], trace = run.chunk(states[j], np.int32(begin), np.int32(total),
                                             arg_leaves)  # fmt: skip
                chunks[j].append(trace)
            if bar is not None:
                jax.block_until_ready(states)
                done = min(begin + chunk, total)
                if done > warmup and begin <= warmup:
                    bar.set_description("NUTS sampling")
                bar.update(done - bar.n)
        jax.block_until_ready(chunks)
    finally:
        if bar is not None:
            bar.close()
    phases["sample_s"] = time.perf_counter() - sampling_start
    seconds = time.perf_counter() - start
    compiled = run.compiled

    # on the host: each field's chunks joined along the iteration axis (after chain [, model]),
    # then the groups along the chain axis
    def iterations(j: int, first: int, stop: int) -> np.ndarray:
        cut = (slice(None),) * lead + (slice(first, stop),)
        joined = [np.concatenate([np.asarray(c[j]) for c in group], axis=lead)[cut]
                  for group in chunks]  # fmt: skip
        return np.concatenate(joined)[:chains]  # without the copies that padded the last round

    n_fields = len(chunks[0][0])
    x, *stats, step_size = (iterations(j, warmup, total) for j in range(n_fields))
    z = _unravel(layout, x)
    warmup_steps = iterations(1 + _STAT_FIELDS.index("num_steps"), 0, warmup)
    results = []
    for m in range(batch or 1):
        pick = (lambda a: a) if batch is None else (lambda a, m=m: a[:, m])
        posterior = {}
        for name in shapes:
            posterior[name] = bijection(priors[name])[1](pick(z[name]))
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
                                     pick(warmup_steps).astype(np.int64), phases))  # fmt: skip
    return results


def status(message: str, enabled: bool = True) -> None:
    """Print one line about what a long step is doing (to stderr, when ``enabled``)."""
    if enabled:
        print(f"mmmjax: {message}", file=sys.stderr, flush=True)
