"""Sampler throughput on this machine: ``mmmjax bench`` and ``benchmarks/bench_sampler.py``.

For each configuration (periods ``T``, channels ``C``, chains, chain method, precision, geometric
adstock path) a simulated data set is fitted twice with the same data, seed and shapes: the
first call compiles, the second reuses the compiled runner and runs exactly the same
trajectory, so ``compile_s = first - second`` and every throughput figure comes from the
second call. Reported per configuration:

* ``compile_s``, ``sampling_s`` (warm-up + sampling wall time, no compile);
* the first call's phases: ``trace_lower_s`` (tracing and lowering the NUTS programs; 0 when
  a stored program was loaded instead, in ``load_s``: :mod:`mmmjax.programs`), ``lower_s``
  (the exported programs to XLA) and ``xla_compile_s`` (XLA's compile, or its load from JAX's
  persistent cache);
* ``peak_rss_mb``: the process's peak resident memory after the configuration;
* ``grad_evals_per_s``: leapfrog steps (each one potential-and-gradient evaluation) per second,
  warm-up and sampling; the runner records every iteration's steps
  (:attr:`~mmmjax.sampling.SamplerResult.warmup_steps` for warm-up);
* ``draws_per_s`` and ``ess_bulk_per_s`` (min bulk ESS over the sampled parameters per second);
* ``grad_us``: time of one ``value_and_grad`` of the potential of the flat parameter vector
  (what a leapfrog step evaluates) *inside* compiled code (a jitted loop of 2,000
  evaluations), i.e. without Python dispatch;
* ``overhead_ratio = sampling_s * cores_used / (total leapfrog steps * grad_us)``, where
  ``cores_used = min(chains, cores)`` for parallel chains and 1 otherwise: 1 means the sampler
  costs nothing beyond its gradients (the issue's goal is under 2). ``overhead_ratio_lockstep``
  (vectorised only) divides instead by the lock-step cost: the
  number of batched steps (the longest chain's ``n_steps`` at each iteration) times one
  *batched* gradient call over all chains.

Float64 configurations run in a subprocess with ``JAX_ENABLE_X64=1`` (this process never flips
x64), with the design, target and initial values cast to float64 so the potential really is
evaluated in float64 (``fit_model`` itself casts them to float32). Parallel chains need one
JAX device per chain; configurations that need more are skipped with the reason recorded.

Studies (side-by-side option comparisons) are run after the grid: ``adstock_grad`` (scan vs
associative geometric adstock, gradient time by ``T``), ``first_step`` (a second ``MMM.fit`` of
the same shape: time to start sampling), ``compile_cache`` (JAX's persistent compilation cache
across processes) and ``map_init`` (NUTS initialised at a MAP point from SVI + optax with a
shorter warm-up, against the default initialisation).

The same code runs on an accelerator: the device is ``jax.devices()[0]`` and chains are
vectorised there (``chain_method="auto"``).

Example:
    >>> from mmmjax.bench import BenchConfig, run_bench
    >>> res = run_bench(configs=[BenchConfig(T=52, C=2, chains=2, warmup=20, draws=20)],
    ...                 studies=(), out="/tmp/bench.json")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["GRIDS", "STUDIES", "BenchConfig", "goals", "machine_info", "run_bench", "run_config"]

RESULT_MARK = "MMMJAX_BENCH_RESULT "


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """One benchmark configuration.

    Args:
      T, C: periods and channels of the simulated data set.
      chains: NUTS chains.
      chain_method: "vectorized", "parallel" or "sequential" (1 chain is always sequential).
      dtype: "float32" or "float64" (float64 runs in a subprocess with ``JAX_ENABLE_X64=1``).
      adstock_method: geometric adstock path of ``MMM``: "auto", "scan" or "associative".
      warmup, draws: NUTS warm-up steps and kept draws per chain.
      seed: data and sampler seed.
    """

    T: int = 104
    C: int = 5
    chains: int = 4
    chain_method: str = "vectorized"
    dtype: str = "float32"
    adstock_method: str = "auto"
    warmup: int = 200
    draws: int = 200
    seed: int = 0

    @property
    def name(self) -> str:
        method = "sequential" if self.chains == 1 else self.chain_method
        return (
            f"T={self.T} C={self.C} chains={self.chains} {method} {self.dtype} "
            f"adstock={self.adstock_method} {self.warmup}+{self.draws}"
        )


def _grid(ts, cs, chains, methods, dtypes=("float32",), warmup=200, draws=200):
    return [
        BenchConfig(T=t, C=c, chains=n, chain_method=m, dtype=d, warmup=warmup, draws=draws)
        for d in dtypes
        for t in ts
        for c in cs
        for n in chains
        for m in (("sequential",) if n == 1 else methods)
    ]


B = BenchConfig
#: Named sweeps: "quick" (about 2 minutes here), "moderate" (the CLI default), "full" (the grid).
GRIDS: dict[str, list[BenchConfig]] = {
    "quick": [
        B(T=104, C=5, chains=4, chain_method="vectorized", warmup=100, draws=100),
        B(T=104, C=5, chains=4, chain_method="parallel", warmup=100, draws=100),
    ],
    "moderate": [
        B(T=104, C=5, chains=1),
        B(T=104, C=5, chains=4, chain_method="vectorized"),
        B(T=104, C=5, chains=4, chain_method="parallel"),
        B(T=104, C=5, chains=4, chain_method="parallel", dtype="float64"),
        B(T=104, C=5, chains=16, chain_method="vectorized", warmup=100, draws=100),
        B(T=156, C=10, chains=4, chain_method="parallel"),
        B(
            T=520,
            C=5,
            chains=4,
            chain_method="parallel",
            adstock_method="scan",
            warmup=100,
            draws=100,
        ),
        B(
            T=520,
            C=5,
            chains=4,
            chain_method="parallel",
            adstock_method="associative",
            warmup=100,
            draws=100,
        ),
    ],
    "full": _grid(
        (104, 156, 520),
        (5, 10, 30),
        (1, 4, 16, 64, 256),
        ("vectorized", "parallel"),
        dtypes=("float32", "float64"),
    ),
}
del B
STUDIES = ("adstock_grad", "first_step", "compile_cache", "map_init", "in_sampler_grad")
DEFAULT_STUDIES = {
    "quick": ("first_step",),
    "moderate": (*STUDIES[:3], "in_sampler_grad"),
    "full": STUDIES,
}


# ----------------------------------------------------------------------------------------------
# machine
# ----------------------------------------------------------------------------------------------
def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """Device, CPU model, cores, load, versions and date of this run."""
    import jax
    import numpyro

    cpu = cpu_model()
    dev = jax.devices()[0]
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "device": str(dev),
        "device_kind": getattr(dev, "device_kind", dev.platform),
        "platform": dev.platform,
        "jax_devices": jax.local_device_count(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average_1_5_15": [round(x, 2) for x in load],
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "numpyro": numpyro.__version__,
    }


# ----------------------------------------------------------------------------------------------
# one model, its inputs and its potential
# ----------------------------------------------------------------------------------------------
@dataclasses.dataclass
class _Problem:
    spec: Any
    dataset: Any
    model: Callable
    model_key: str
    args: tuple  # (design, y) as JAX arrays of the run's dtype
    priors: dict
    shapes: dict
    dtype: Any


def _problem(T: int, C: int, *, seed: int = 0, adstock_method: str = "auto", dtype=None):
    """The same inputs ``fit_model`` builds, optionally cast to ``dtype`` (float64 needs x64)."""
    import jax
    import jax.numpy as jnp

    import mmmjax
    from mmmjax.fit import prepare

    dataset, _ = mmmjax.simulate(n_periods=T, n_channels=C, seed=seed)
    problem = prepare(mmmjax.MMM(adstock_method=adstock_method), dataset)
    dtype = jnp.dtype(dtype or jnp.float32)

    def cast(a):
        a = jnp.asarray(a)
        return a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a

    return _Problem(
        spec=problem.spec,
        dataset=dataset,
        model=problem.model,
        model_key=problem.model_key,  # as fit_model builds it: runners are shared with MMM.fit
        args=jax.tree.map(cast, problem.model_args),
        priors=problem.priors,
        shapes=problem.shapes,
        dtype=dtype,
    )


def _median_seconds(f: Callable[[], Any], *, min_calls: int = 50, budget_s: float = 1.0):
    """Median wall time of ``f()`` (blocking) after two warm-up calls."""
    import jax

    jax.block_until_ready(f())
    jax.block_until_ready(f())
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_calls or (time.perf_counter() - start < budget_s and len(times) < 2000):
        t0 = time.perf_counter()
        jax.block_until_ready(f())
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _grad_seconds(prob: _Problem, z: dict, batch: int = 0, n: int = 2000) -> float:
    """Time of one potential-and-gradient evaluation *inside* compiled code, at ``z``.

    ``n`` evaluations run in one jitted ``fori_loop`` (each step moves ``z`` a little along the
    gradient so nothing is hoisted), so Python dispatch (about 17 us per call here, more than
    the gradient itself for small models) is not counted: this is what a leapfrog step pays.
    With ``batch``, ``batch`` vmapped copies are evaluated per step.
    """
    import time as _time

    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree
    from numpyro.infer.util import potential_energy

    x, unravel = ravel_pytree(z)  # NUTS moves one flat vector (mmmjax.nuts)

    def vg(x, args):
        return jax.value_and_grad(lambda x: potential_energy(prob.model, args, {}, unravel(x)))(x)

    if batch:
        vg = jax.vmap(vg, in_axes=(0, None))
        x = jnp.broadcast_to(x, (batch, *x.shape))

    def body(_, carry):
        x, acc = carry
        value, grad = vg(x, prob.args)
        return x - 1e-7 * grad, acc + jnp.sum(value)

    run = jax.jit(lambda x, k: jax.lax.fori_loop(0, k, body, (x, 0.0)))
    jax.block_until_ready(run(x, n))  # compile (the trip count is a traced argument)
    times = []
    for _ in range(3):
        t0 = _time.perf_counter()
        jax.block_until_ready(run(x, n))
        times.append((_time.perf_counter() - t0) / n)
    return float(np.median(times))


def _unconstrained(prob: _Problem, posterior: dict[str, np.ndarray]) -> dict:
    """Posterior medians mapped to the unconstrained space (where NUTS moves)."""
    import jax.numpy as jnp

    from mmmjax.sampling import bijection

    z = {}
    for name in prob.shapes:
        med = np.median(posterior[name].reshape(-1, *prob.shapes[name]), axis=0)
        to_unconstrained = bijection(prob.priors[name])[0]
        z[name] = jnp.asarray(to_unconstrained(med.astype(prob.dtype)), prob.dtype)
    return z


@contextlib.contextmanager
def _initial_values_as(dtype, override: Callable | None = None):
    """Temporarily make ``run_nuts`` start from ``override(priors, shapes, chains, seed)`` (or
    its default), cast to ``dtype``. A prototype hook: ``run_nuts`` has no ``init_params``."""
    import mmmjax.sampling as sampling

    original = sampling.initial_values

    def patched(priors, shapes, chains, seed):
        z0 = (override or original)(priors, shapes, chains, seed)
        return {k: np.asarray(v, dtype=dtype) for k, v in z0.items()}

    sampling.initial_values = patched
    try:
        yield
    finally:
        sampling.initial_values = original


def _sample(prob: _Problem, cfg: BenchConfig, *, warmup: int, seed: int, init=None):
    """``run_nuts`` on ``prob`` exactly as ``fit_model`` calls it, in ``prob.dtype``."""
    from mmmjax.sampling import run_nuts

    with _initial_values_as(np.dtype(prob.dtype.name), init):
        return run_nuts(
            prob.model,
            prob.model_key,
            prob.args,
            priors=prob.priors,
            shapes=prob.shapes,
            chains=cfg.chains,
            draws=cfg.draws,
            warmup=warmup,
            seed=seed,
            chain_method="sequential" if cfg.chains == 1 else cfg.chain_method,
            progress=False,
        )


def _diagnose(res) -> dict[str, Any]:
    from mmmjax.fit import diagnose
    from mmmjax.idata import from_dict

    return diagnose(
        from_dict(
            {
                "posterior": {k: np.asarray(v) for k, v in res.posterior.items()},
                "sample_stats": {"diverging": np.asarray(res.sample_stats["diverging"])},
            }
        )
    )


def _throughput(cfg: BenchConfig, res, warmup: int) -> dict[str, Any]:
    n_steps = np.asarray(res.sample_stats["n_steps"], dtype=np.float64)  # (chains, draws)
    warm = np.asarray(res.warmup_steps, dtype=np.float64)  # (chains, warmup), recorded
    draw_steps, warm_steps = float(n_steps.sum()), float(warm.sum())
    lock = float(n_steps.max(axis=0).sum() + warm.max(axis=0).sum())
    diag = _diagnose(res)
    s = res.seconds_warmup_and_sampling
    return {
        "sampling_s": s,
        "leapfrog_steps_draws": draw_steps,
        "leapfrog_steps_warmup": warm_steps,
        "lockstep_steps": lock,
        "mean_n_steps": float(n_steps.mean()),
        "grad_evals_per_s": (draw_steps + warm_steps) / s,
        "draws_per_s": cfg.chains * cfg.draws / s,
        "min_ess_bulk": diag["min_ess_bulk"],
        "ess_bulk_per_s": diag["min_ess_bulk"] / s,
        "max_r_hat": diag["max_r_hat"],
        "divergences": diag["divergences"],
    }


# ----------------------------------------------------------------------------------------------
# one configuration
# ----------------------------------------------------------------------------------------------
def _x64() -> bool:
    import jax

    return bool(jax.config.jax_enable_x64)


def run_config(cfg: BenchConfig) -> dict[str, Any]:
    """Measure one configuration in this process (its precision must match this process's)."""
    import jax

    method = "sequential" if cfg.chains == 1 else cfg.chain_method
    row: dict[str, Any] = {"name": cfg.name, **dataclasses.asdict(cfg), "chain_method": method}
    if (cfg.dtype == "float64") != _x64():
        raise RuntimeError(f"{cfg.name}: run float64 configs with JAX_ENABLE_X64=1 (a subprocess)")
    if method == "parallel" and jax.local_device_count() < cfg.chains:
        row["skipped"] = f"parallel needs {cfg.chains} devices, JAX sees {jax.local_device_count()}"
        return row
    prob = _problem(cfg.T, cfg.C, seed=cfg.seed, adstock_method=cfg.adstock_method, dtype=cfg.dtype)
    first = _sample(prob, cfg, warmup=cfg.warmup, seed=cfg.seed)
    second = _sample(prob, cfg, warmup=cfg.warmup, seed=cfg.seed)  # same trajectory, no compile
    row["first_s"] = first.seconds_warmup_and_sampling
    row["compiled_first"] = bool(first.compiled)
    row["compiled_second"] = bool(second.compiled)
    row["compile_s"] = first.seconds_warmup_and_sampling - second.seconds_warmup_and_sampling
    # the first call's phases (SamplerResult.phases): tracing and lowering, or loading the
    # stored programs; lowering those to XLA; XLA's compile or its persistent-cache load
    phases = first.phases or {}
    row["phases_first"] = dict(phases)
    row["trace_lower_s"] = phases.get("trace_lower_s", 0.0)
    row["load_s"] = phases.get("load_s", 0.0)
    row["lower_s"] = phases.get("lower_s", 0.0)
    row["xla_compile_s"] = phases.get("compile_s", 0.0)
    row.update(_throughput(cfg, second, cfg.warmup))
    z = _unconstrained(prob, second.posterior)
    grad_s = _grad_seconds(prob, z)
    row["grad_us"] = grad_s * 1e6
    total = row["leapfrog_steps_draws"] + row["leapfrog_steps_warmup"]
    # chains in parallel share the cores: count the core-seconds the sampler used
    cores = min(cfg.chains, os.cpu_count() or 1) if method == "parallel" else 1
    row["overhead_ratio"] = row["sampling_s"] * cores / (total * grad_s)
    if method == "vectorized":
        batch_s = _grad_seconds(prob, z, batch=cfg.chains)
        row["batch_grad_us"] = batch_s * 1e6
        row["overhead_ratio_lockstep"] = row["sampling_s"] / (row["lockstep_steps"] * batch_s)
    row["peak_rss_mb"] = peak_rss_mb()
    return row


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, MB (``getrusage``; in a sweep, cumulative)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB on Linux, bytes on macOS
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def _in_subprocess(task: dict[str, Any], *, x64: bool, env: dict | None = None) -> Any:
    """Run ``task`` with ``python -m mmmjax.bench --worker`` and return its JSON result."""
    full_env = {**os.environ, "JAX_ENABLE_X64": "1" if x64 else "0", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "mmmjax.bench", "--worker", json.dumps(task)],
        env=full_env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK) :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    return {"error": f"worker exited {proc.returncode}: " + " | ".join(tail)}


def _run_any(cfg: BenchConfig) -> dict[str, Any]:
    """``run_config`` here, or in a subprocess when the precision differs from this process's."""
    try:
        if (cfg.dtype == "float64") == _x64():
            return run_config(cfg)
        out = _in_subprocess({"config": dataclasses.asdict(cfg)}, x64=cfg.dtype == "float64")
        return out if "name" in out else {"name": cfg.name, **dataclasses.asdict(cfg), **out}
    except Exception as exc:  # a benchmark row that failed says why; the sweep goes on
        return {"name": cfg.name, **dataclasses.asdict(cfg), "error": repr(exc)}


# ----------------------------------------------------------------------------------------------
# studies
# ----------------------------------------------------------------------------------------------
def study_adstock_grad(ts=(104, 156, 520), cs=(5, 10, 30)) -> list[dict[str, Any]]:
    """Potential-and-gradient time, geometric adstock by ``lax.scan`` vs ``associative_scan``."""
    rows = []
    for T in ts:
        for C in cs:
            row: dict[str, Any] = {"T": T, "C": C}
            for method in ("scan", "associative"):
                prob = _problem(T, C, adstock_method=method)
                z = {k: np.zeros(s, np.float32) for k, s in prob.shapes.items()}
                row[f"{method}_us"] = _grad_seconds(prob, z) * 1e6
            row["associative_over_scan"] = row["associative_us"] / row["scan_us"]
            rows.append(row)
            _log(f"  adstock_grad T={T} C={C}: scan {row['scan_us']:.0f} us, associative "
                 f"{row['associative_us']:.0f} us")  # fmt: skip
    return rows


def study_first_step(T: int = 156, C: int = 5, chains: int = 4) -> dict[str, Any]:
    """Time to start sampling in a second ``MMM.fit`` of the same shape (new data, new seed).

    Both fits use 1 warm-up step and 8 draws, so ``fit.info["seconds"]`` of the second is the
    time from the call into the sampler to its first draw (no compile); ``fit_wall_s`` is the
    whole ``MMM.fit`` call (design, prior draws, posterior predictive, InferenceData).
    """
    import mmmjax

    spec = mmmjax.MMM()
    out: dict[str, Any] = {"T": T, "C": C, "chains": chains}
    for i, label in enumerate(("first", "second")):
        data, _ = mmmjax.simulate(n_periods=T, n_channels=C, seed=100 + i)
        t0 = time.perf_counter()
        fit = spec.fit(data, chains=chains, draws=8, warmup=1, seed=i, progress=False, warn=False)
        out[f"{label}_fit_wall_s"] = time.perf_counter() - t0
        out[f"{label}_sampler_s"] = fit.info["seconds"]
        out[f"{label}_compiled"] = bool(fit.info["compiled"])
        out["chain_method"] = fit.info["chain_method"]
    out["time_to_first_step_s"] = out["second_sampler_s"]
    out["goal_under_1s"] = bool(out["second_sampler_s"] < 1.0 and not out["second_compiled"])
    return out


def _timed_chain(prob: _Problem, z0: dict, copies: int, warmup: int, draws: int):
    """Seconds and leapfrog steps of one NUTS chain on ``copies`` (1 or 2) potentials per step.

    With 2 the potential is ``U(x) + 0 * U(x * (1 + 1e-7))``: the same value and gradient, so
    the same trajectory, at the cost of a second potential-and-gradient per leapfrog step.
    Timed on a second call (the first compiles).
    """
    import jax
    import jax.numpy as jnp
    from jax import lax
    from jax.flatten_util import ravel_pytree
    from numpyro.infer.util import potential_energy

    from mmmjax.nuts import NutsSettings, nuts_kernel

    x0, unravel = ravel_pytree(z0)

    def run(key, x0, args):
        def u(x):
            value = potential_energy(prob.model, args, {}, unravel(x))
            if copies == 2:
                twin = potential_energy(prob.model, args, {}, unravel(x * (1 + 1e-7)))
                value = value + 0.0 * twin
            return value

        init, step = nuts_kernel(u, NutsSettings(warmup=warmup))

        def body(state, i):
            state = step(state, i)
            return state, state.num_steps

        return lax.scan(body, init(x0, key), jnp.arange(warmup + draws))[1]

    run = jax.jit(run)
    key = jax.random.PRNGKey(0)
    jax.block_until_ready(run(key, x0, prob.args))  # compile
    t0 = time.perf_counter()
    steps = jax.block_until_ready(run(key, x0, prob.args))
    return time.perf_counter() - t0, int(np.sum(steps))


def study_in_sampler_grad(
    shapes=((104, 5), (156, 10), (520, 5)), warmup: int = 500, draws: int = 500
) -> list[dict[str, Any]]:
    """What one gradient costs *inside* NUTS, and so what the sampler costs beyond it.

    One chain of :func:`mmmjax.nuts.nuts_kernel` (default settings) is run twice with the same
    key and start: once on the potential ``U`` and once on ``U(x) + 0 * U(x')`` with
    ``x' = x * (1 + 1e-7)``. The second takes exactly the same trajectory (checked: equal leapfrog
    step counts) but evaluates two potential-and-gradients per leapfrog step, so the difference
    in time per step is one gradient as the sampler pays it. ``overhead_in_sampler`` is the
    time per step over that: 1 means NUTS costs nothing beyond its gradients. The standalone
    ``grad_us`` (a loop of gradients alone) is reported beside it; on this CPU it runs slower
    than the same gradient inside NUTS, which is why the grid's ``overhead_ratio`` can fall
    below 1.
    """
    import jax.numpy as jnp

    from mmmjax.sampling import initial_values

    rows = []
    for T, C in shapes:
        prob = _problem(T, C)
        z0 = {k: v[0] for k, v in initial_values(prob.priors, prob.shapes, 1, 0).items()}

        (t1, n1), (t2, n2) = (_timed_chain(prob, z0, k, warmup, draws) for k in (1, 2))
        row: dict[str, Any] = {"T": T, "C": C, "steps": n1, "same_trajectory": n1 == n2}
        row["step_us"] = t1 / n1 * 1e6
        row["grad_in_sampler_us"] = (t2 - t1) / n1 * 1e6
        row["overhead_in_sampler"] = t1 / (t2 - t1)
        z = {k: jnp.asarray(v) for k, v in z0.items()}
        row["grad_us_standalone"] = _grad_seconds(prob, z) * 1e6
        rows.append(row)
        _log(f"  in_sampler_grad T={T} C={C}: {row['step_us']:.1f} us per leapfrog step, "
             f"gradient in the sampler {row['grad_in_sampler_us']:.1f} us (standalone "
             f"{row['grad_us_standalone']:.1f}), overhead {row['overhead_in_sampler']:.2f}"
             f"{'' if row['same_trajectory'] else ' (trajectories differ!)'}")  # fmt: skip
    return rows


_CACHE_SNIPPET = """
import json, time, mmmjax
data, _ = mmmjax.simulate(n_periods={T}, n_channels={C}, seed=0)
t0 = time.perf_counter()
fit = mmmjax.MMM().fit(data, chains={chains}, draws=50, warmup=50, progress=False, warn=False)
print({mark!r} + json.dumps({{"sampler_s": fit.info["seconds"],
                              "fit_wall_s": time.perf_counter() - t0}}))
"""


def study_compile_cache(T: int = 104, C: int = 5, chains: int = 4) -> dict[str, Any]:
    """First fit in a fresh process, without and with JAX's persistent compilation cache.

    Three fresh processes with ``JAX_COMPILATION_CACHE_DIR`` set to a new directory: the first
    fills the cache, the second and third read it. ``speedup`` is first over second.
    """
    code = _CACHE_SNIPPET.format(T=T, C=C, chains=chains, mark=RESULT_MARK)
    out: dict[str, Any] = {"T": T, "C": C, "chains": chains, "warmup": 50, "draws": 50}
    with tempfile.TemporaryDirectory(prefix="mmmjax-jax-cache-") as cache:
        env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": cache}
        for label in ("cold", "warm", "warm_again"):
            proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                  text=True, check=False)  # fmt: skip
            lines = [x for x in proc.stdout.splitlines() if x.startswith(RESULT_MARK)]
            if not lines:
                out["error"] = (proc.stderr or "").strip().splitlines()[-3:]
                return out
            res = json.loads(lines[-1][len(RESULT_MARK) :])
            out[f"{label}_sampler_s"], out[f"{label}_fit_wall_s"] = (
                res["sampler_s"], res["fit_wall_s"]
            )  # fmt: skip
            _log(f"  compile_cache {label}: sampler {res['sampler_s']:.1f} s")
        out["cache_files"] = len(list(Path(cache).rglob("*")))
    out["speedup"] = out["cold_sampler_s"] / out["warm_sampler_s"]
    return out


def map_point(prob: _Problem, *, steps: int = 2000, lr: float = 0.02, seed: int = 0):
    """MAP estimate with SVI (``AutoDelta`` guide, ``optax.adam``): ``(z, seconds)``.

    ``z`` is ``{site: unconstrained value}`` (one point); seconds include compilation.
    """
    from mmmjax.sampling import map_initial_values

    t0 = time.perf_counter()
    z = map_initial_values(
        prob.model, prob.args, priors=prob.priors, shapes=prob.shapes, chains=1, seed=seed,
        steps=steps, learning_rate=lr, jitter=0.0,
    )  # fmt: skip
    return {k: v[0] for k, v in z.items()}, time.perf_counter() - t0


def study_map_init(
    T: int = 104, C: int = 5, chains: int = 4, draws: int = 1000, warmup: int = 1000,
    short_warmup: int = 300, seeds: Sequence[int] = (1, 2),
) -> dict[str, Any]:  # fmt: skip
    """Default initialisation + ``warmup`` vs MAP initialisation + ``short_warmup``.

    Each arm is compiled once, then run with ``seeds`` (no compile); ESS/s counts the MAP
    arm's SVI time (compiled, then re-run once more to time it without compilation). Chains
    start at the MAP point plus N(0, 0.1) jitter in the unconstrained space, so they still
    differ and r-hat stays meaningful.
    """
    cfg = BenchConfig(T=T, C=C, chains=chains, chain_method="auto", draws=draws)
    prob = _problem(T, C)
    _, _ = map_point(prob)  # compile SVI
    z_map, svi_s = map_point(prob)

    def map_init(priors, shapes, n, seed):
        rng = np.random.default_rng([seed, 11])
        return {k: z_map[k] + 0.1 * rng.standard_normal((n, *np.shape(z_map[k]))) for k in shapes}

    out: dict[str, Any] = {"T": T, "C": C, "chains": chains, "draws": draws, "svi_s": svi_s}
    for arm, w, init in (("prior_init", warmup, None), ("map_init", short_warmup, map_init)):
        _sample(prob, cfg, warmup=w, seed=0, init=init)  # compile
        rows = [_throughput(cfg, _sample(prob, cfg, warmup=w, seed=s, init=init), w) for s in seeds]
        extra = svi_s if init else 0.0
        sec = float(np.mean([r["sampling_s"] for r in rows])) + extra
        ess = float(np.mean([r["min_ess_bulk"] for r in rows]))
        out[arm] = {
            "warmup": w,
            "seconds": sec,
            "min_ess_bulk": ess,
            "ess_bulk_per_s": ess / sec,
            "max_r_hat": max(r["max_r_hat"] for r in rows),
            "divergences": sum(r["divergences"] for r in rows),
            "per_seed": rows,
        }
        _log(f"  map_init {arm}: warmup {w}, {sec:.1f} s, min ESS {ess:.0f}, "
             f"r-hat {out[arm]['max_r_hat']:.3f}")  # fmt: skip
    out["ess_per_s_ratio_map_over_prior"] = (
        out["map_init"]["ess_bulk_per_s"] / out["prior_init"]["ess_bulk_per_s"]
    )
    return out


_STUDY_FUNCS: dict[str, Callable[[], Any]] = {
    "adstock_grad": study_adstock_grad,
    "first_step": study_first_step,
    "compile_cache": study_compile_cache,
    "map_init": study_map_init,
    "in_sampler_grad": study_in_sampler_grad,
}


# ----------------------------------------------------------------------------------------------
# reporting
# ----------------------------------------------------------------------------------------------
def _log(msg: str) -> None:
    print(msg, file=sys.stderr if _WORKER[0] else sys.stdout, flush=True)


_WORKER = [False]
_COLUMNS = (
    ("T", "T", "{}"), ("C", "C", "{}"), ("chains", "chains", "{}"),
    ("chain_method", "method", "{}"), ("dtype", "dtype", "{}"),
    ("adstock_method", "adstock", "{}"), ("compile_s", "compile s", "{:.1f}"),
    ("trace_lower_s", "trace s", "{:.1f}"), ("load_s", "load s", "{:.2f}"),
    ("lower_s", "lower s", "{:.1f}"), ("xla_compile_s", "XLA s", "{:.1f}"),
    ("sampling_s", "sample s", "{:.1f}"), ("grad_evals_per_s", "grads/s", "{:,.0f}"),
    ("draws_per_s", "draws/s", "{:,.0f}"), ("ess_bulk_per_s", "ESS/s", "{:.1f}"),
    ("grad_us", "grad us", "{:.0f}"), ("overhead_ratio", "overhead", "{:.2f}"),
    ("overhead_ratio_lockstep", "lockstep", "{:.2f}"), ("peak_rss_mb", "peak MB", "{:.0f}"),
)  # fmt: skip


def format_table(results: dict[str, Any]) -> str:
    """The configurations as a fixed-width text table, headed by the machine."""
    m = results["machine"]
    head = (
        f"device {m['device']} ({m['device_kind']}), CPU {m['cpu']}, {m['cores']} cores, "
        f"{m['jax_devices']} JAX devices, load {m['load_average_1_5_15']}, {m['date']}"
    )
    rows = [[title for _, title, _ in _COLUMNS]]
    for r in results["configs"]:
        if "skipped" in r or "error" in r:
            rows.append([str(r.get(k, "")) for k, _, _ in _COLUMNS[:6]]
                        + [f"-- {r.get('skipped') or r.get('error')}"])  # fmt: skip
            continue
        rows.append([fmt.format(r[k]) if k in r else "" for k, _, fmt in _COLUMNS])
    width = [max(len(r[i]) for r in rows if i < len(r) and len(r) == len(_COLUMNS))
             for i in range(len(_COLUMNS))]  # fmt: skip
    lines = [head]
    for r in rows:
        lines.append("  ".join(c.rjust(width[i]) if i < len(width) else c for i, c in enumerate(r)))
    return "\n".join(lines)


def run_bench(
    quick: bool = False,
    out: str | os.PathLike | None = None,
    *,
    full: bool = False,
    configs: Iterable[BenchConfig] | None = None,
    studies: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Run a sweep, print progress and a table, and optionally write the results as JSON.

    Args:
      quick: the "quick" sweep (about 2 minutes on 2 CPU cores) instead of "moderate".
      out: write the results JSON here (parent directories are created).
      full: the whole grid (T x C x chains x chain method x precision; hours on a CPU).
      configs: explicit configurations (overrides ``quick``/``full``).
      studies: option studies to run after the grid, from :data:`STUDIES` (default: by sweep).

    Returns:
      ``{"machine", "sweep", "configs": [row, ...], "studies": {name: result}, "notes"}``; each
      row has the fields listed in the module docstring, or ``skipped``/``error``.
    """
    named = "full" if full else "quick" if quick else "moderate"
    sweep = "custom" if configs is not None else named
    cfgs = list(configs) if configs is not None else GRIDS[sweep]
    chosen = tuple(studies) if studies is not None else DEFAULT_STUDIES.get(sweep, ())
    unknown = set(chosen) - set(STUDIES)
    if unknown:
        raise ValueError(f"unknown studies {sorted(unknown)}; choose from {STUDIES}")
    results: dict[str, Any] = {"machine": machine_info(), "sweep": sweep, "configs": [],
                               "studies": {}}  # fmt: skip
    _log(f"mmmjax bench ({sweep}): {len(cfgs)} configurations, studies {list(chosen)} on "
         f"{results['machine']['device']} / {results['machine']['cpu']}")  # fmt: skip
    t_start = time.perf_counter()
    for i, cfg in enumerate(cfgs, 1):
        t0 = time.perf_counter()
        row = _run_any(cfg)
        results["configs"].append(row)
        if "skipped" in row or "error" in row:
            _log(f"[{i}/{len(cfgs)}] {cfg.name}: {row.get('skipped') or row.get('error')}")
        else:
            _log(f"[{i}/{len(cfgs)}] {cfg.name}: compile {row['compile_s']:.1f} s, sample "
                 f"{row['sampling_s']:.1f} s, {row['grad_evals_per_s']:,.0f} grads/s, "
                 f"ESS/s {row['ess_bulk_per_s']:.1f}, overhead {row['overhead_ratio']:.2f} "
                 f"({time.perf_counter() - t0:.0f} s)")  # fmt: skip
        if out:
            _write(results, out)  # partial results survive an interrupted sweep
    for name in chosen:
        _log(f"study {name} ...")
        try:
            results["studies"][name] = _STUDY_FUNCS[name]()
        except Exception as exc:
            results["studies"][name] = {"error": repr(exc)}
        _log(f"study {name}: {json.dumps(_brief(results['studies'][name]))}")
        if out:
            _write(results, out)
    results["goals"] = goals(results)
    results["total_s"] = time.perf_counter() - t_start
    results["notes"] = [
        "leapfrog steps are counted exactly, warm-up included (before 2026-11-23 warm-up steps "
        "were estimated from the draws, which under-counted them up to 3x)",
        "compile_s = first run - second run of the same data, seed and shapes",
        "float64 rows ran in a subprocess with JAX_ENABLE_X64=1 and float64 inputs",
    ]
    print(format_table(results), flush=True)
    if out:
        _write(results, out)
        _log(f"wrote {out}")
    return results


def goals(results: dict[str, Any]) -> dict[str, Any]:
    """The issue's goals from a run: worst overhead ratio, time to first step, and the draws/s
    of 256 vectorised chains over 4 (same T, C, dtype, adstock) where both were run."""
    rows = [r for r in results["configs"] if "overhead_ratio" in r]
    out: dict[str, Any] = {}
    if rows:
        out["max_overhead_ratio"] = max(r["overhead_ratio"] for r in rows)
        out["overhead_under_2"] = out["max_overhead_ratio"] < 2
    first = results["studies"].get("first_step", {})
    if "time_to_first_step_s" in first:
        out["time_to_first_step_s"] = first["time_to_first_step_s"]
        out["first_step_under_1s"] = first["goal_under_1s"]
    vec = {}
    for r in rows:
        if r["chain_method"] == "vectorized":
            vec[(r["T"], r["C"], r["dtype"], r["adstock_method"], r["chains"])] = r["draws_per_s"]
    scaling = {
        f"T={k[0]} C={k[1]} {k[2]}": v / vec[(*k[:4], 4)]
        for k, v in vec.items()
        if k[4] == 256 and (*k[:4], 4) in vec
    }
    if scaling:
        out["draws_per_s_256_over_4_vectorized"] = scaling
    return out


def _brief(x: Any) -> Any:
    if isinstance(x, list):
        return f"{len(x)} rows"
    if isinstance(x, dict):
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in x.items()
                if not isinstance(v, (dict, list))}  # fmt: skip
    return x


def _write(results: dict[str, Any], out: str | os.PathLike) -> None:
    from mmmjax.files import atomic_write_text

    atomic_write_text(out, json.dumps(_finite(results), indent=2) + "\n")


def _finite(x: Any) -> Any:
    """JSON-safe: NaN/inf become null, NumPy scalars become Python numbers."""
    if isinstance(x, dict):
        return {str(k): _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


def _worker(task: dict[str, Any]) -> Any:
    _WORKER[0] = True
    if "config" in task:
        return run_config(BenchConfig(**task["config"]))
    raise ValueError(f"unknown worker task {task}")


if __name__ == "__main__":  # the subprocess side of float64 rows
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        print(RESULT_MARK + json.dumps(_finite(_worker(json.loads(sys.argv[2])))), flush=True)
    else:
        run_bench(quick="--quick" in sys.argv)
