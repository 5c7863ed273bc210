"""Sampler throughput on this machine: the probe behind ``mmmjax bench``.

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
  (:attr:`~mmmjax.inference.sampling.SamplerResult.warmup_steps` for warm-up);
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

After the configurations, ``first_step`` (a second ``MMM.fit`` of the same shape: time to
start sampling) is timed. The research studies (scan vs associative adstock, the persistent
compilation cache, MAP initialisation, the gradient inside NUTS) and the whole grid live in
``benchmarks/studies.py`` (run by ``benchmarks/bench_sampler.py``), on top of this module:
:func:`run_bench` takes any ``{name: study}`` mapping.

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
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "GRIDS",
    "RESULT_MARK",
    "STUDIES",
    "BenchConfig",
    "BenchProblem",
    "bench_problem",
    "cpu_model",
    "format_table",
    "goals",
    "grad_seconds",
    "log",
    "machine_info",
    "peak_rss_mb",
    "run_bench",
    "run_config",
    "sample_problem",
    "study_first_step",
    "throughput",
]

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


B = BenchConfig
#: Named sweeps: "quick" (``mmmjax bench --quick``, about 2 minutes here) and "moderate" (the
#: CLI default); ``benchmarks/studies.py`` adds "full" (the whole grid).
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
}
del B
#: The studies this module runs after the configurations (more in ``benchmarks/studies.py``).
STUDIES = ("first_step",)
DEFAULT_STUDIES = {"quick": ("first_step",), "moderate": ("first_step",)}


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
class BenchProblem:
    """One model's inputs as ``fit_model`` builds them (see :func:`bench_problem`)."""

    spec: Any
    dataset: Any
    model: Callable
    model_key: str
    args: tuple  # (design, y) as JAX arrays of the run's dtype
    priors: dict
    shapes: dict
    dtype: Any


def bench_problem(
    T: int, C: int, *, seed: int = 0, adstock_method: str = "auto", dtype=None
) -> BenchProblem:
    """The same inputs ``fit_model`` builds, optionally cast to ``dtype`` (float64 needs x64)."""
    import jax
    import jax.numpy as jnp

    import mmmjax
    from mmmjax.inference.fit import prepare

    dataset, _ = mmmjax.simulate(n_periods=T, n_channels=C, seed=seed)
    problem = prepare(mmmjax.MMM(adstock_method=adstock_method), dataset)
    dtype = jnp.dtype(dtype or jnp.float32)

    def cast(a):
        a = jnp.asarray(a)
        return a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a

    return BenchProblem(
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


def grad_seconds(prob: BenchProblem, z: dict, batch: int = 0, n: int = 2000) -> float:
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

    x, unravel = ravel_pytree(z)  # NUTS moves one flat vector (mmmjax.inference.nuts)

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


def _unconstrained(prob: BenchProblem, posterior: dict[str, np.ndarray]) -> dict:
    """Posterior medians mapped to the unconstrained space (where NUTS moves)."""
    import jax.numpy as jnp

    from mmmjax.inference.sampling import bijection

    z = {}
    for name in prob.shapes:
        med = np.median(posterior[name].reshape(-1, *prob.shapes[name]), axis=0)
        to_unconstrained = bijection(prob.priors[name])[0]
        z[name] = jnp.asarray(to_unconstrained(med.astype(prob.dtype)), prob.dtype)
    return z


@contextlib.contextmanager
def _initial_values_as(dtype, override: Callable | None = None):
    """Temporarily make ``run_nuts`` start from ``override(priors, shapes, chains, seed)`` (or
    its default, :func:`mmmjax.inference.sampling.initial_values`), cast to ``dtype``: its
    ``init_values`` argument is cast to float32, and float64 rows must start in float64."""
    import mmmjax.inference.sampling as sampling

    original = sampling.initial_values

    def patched(priors, shapes, chains, seed):
        z0 = (override or original)(priors, shapes, chains, seed)
        return {k: np.asarray(v, dtype=dtype) for k, v in z0.items()}

    sampling.initial_values = patched
    try:
        yield
    finally:
        sampling.initial_values = original


def sample_problem(
    prob: BenchProblem, cfg: BenchConfig, *, warmup: int, seed: int, init: Callable | None = None
):
    """``run_nuts`` on ``prob`` exactly as ``fit_model`` calls it, in ``prob.dtype``; ``init``:
    ``init(priors, shapes, chains, seed)`` gives the initial values (default: the sampler's)."""
    from mmmjax.inference.sampling import run_nuts

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
    from mmmjax.inference.fit import diagnose
    from mmmjax.inference.idata import from_dict

    return diagnose(
        from_dict(
            {
                "posterior": {k: np.asarray(v) for k, v in res.posterior.items()},
                "sample_stats": {"diverging": np.asarray(res.sample_stats["diverging"])},
            }
        )
    )


def throughput(cfg: BenchConfig, res, warmup: int) -> dict[str, Any]:
    """Leapfrog steps, gradients/s, draws/s, ESS/s and diagnostics of one ``SamplerResult``."""
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
    prob = bench_problem(cfg.T, cfg.C, seed=cfg.seed, adstock_method=cfg.adstock_method,
                         dtype=cfg.dtype)  # fmt: skip
    first = sample_problem(prob, cfg, warmup=cfg.warmup, seed=cfg.seed)
    # the same trajectory again, without compiling
    second = sample_problem(prob, cfg, warmup=cfg.warmup, seed=cfg.seed)
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
    row.update(throughput(cfg, second, cfg.warmup))
    z = _unconstrained(prob, second.posterior)
    grad_s = grad_seconds(prob, z)
    row["grad_us"] = grad_s * 1e6
    total = row["leapfrog_steps_draws"] + row["leapfrog_steps_warmup"]
    # chains in parallel share the cores: count the core-seconds the sampler used
    cores = min(cfg.chains, os.cpu_count() or 1) if method == "parallel" else 1
    row["overhead_ratio"] = row["sampling_s"] * cores / (total * grad_s)
    if method == "vectorized":
        batch_s = grad_seconds(prob, z, batch=cfg.chains)
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
# time to first step (the research studies: benchmarks/studies.py)
# ----------------------------------------------------------------------------------------------
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


_STUDY_FUNCS: dict[str, Callable[[], Any]] = {"first_step": study_first_step}


# ----------------------------------------------------------------------------------------------
# reporting
# ----------------------------------------------------------------------------------------------
def log(msg: str) -> None:
    """Print one progress line (to stderr in a float64 worker, whose stdout carries the result)."""
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
    configs: Iterable[BenchConfig] | None = None,
    studies: Iterable[str] | Mapping[str, Callable[[], Any]] | None = None,
    sweep: str | None = None,
) -> dict[str, Any]:
    """Run a sweep, print progress and a table, and optionally write the results as JSON.

    Args:
      quick: the "quick" sweep (about 2 minutes on 2 CPU cores) instead of "moderate".
      out: write the results JSON here (parent directories are created).
      configs: explicit configurations (overrides ``quick``).
      studies: studies to run after the configurations: names from :data:`STUDIES`, or a
        ``{name: function}`` mapping (``benchmarks/studies.py``'s); default: by sweep.
      sweep: the sweep's name in the results (default: "quick"/"moderate", "custom" with
        ``configs``).

    Returns:
      ``{"machine", "sweep", "configs": [row, ...], "studies": {name: result}, "notes"}``; each
      row has the fields listed in the module docstring, or ``skipped``/``error``.
    """
    named = "quick" if quick else "moderate"
    sweep = sweep or ("custom" if configs is not None else named)
    cfgs = list(configs) if configs is not None else GRIDS[named]
    if isinstance(studies, Mapping):
        funcs = dict(studies)
    else:
        chosen = tuple(studies) if studies is not None else DEFAULT_STUDIES.get(sweep, ())
        unknown = set(chosen) - set(STUDIES)
        if unknown:
            raise ValueError(f"unknown studies {sorted(unknown)}; choose from {STUDIES}")
        funcs = {name: _STUDY_FUNCS[name] for name in chosen}
    chosen = tuple(funcs)
    results: dict[str, Any] = {"machine": machine_info(), "sweep": sweep, "configs": [],
                               "studies": {}}  # fmt: skip
    log(f"mmmjax bench ({sweep}): {len(cfgs)} configurations, studies {list(chosen)} on "
         f"{results['machine']['device']} / {results['machine']['cpu']}")  # fmt: skip
    t_start = time.perf_counter()
    for i, cfg in enumerate(cfgs, 1):
        t0 = time.perf_counter()
        row = _run_any(cfg)
        results["configs"].append(row)
        if "skipped" in row or "error" in row:
            log(f"[{i}/{len(cfgs)}] {cfg.name}: {row.get('skipped') or row.get('error')}")
        else:
            log(f"[{i}/{len(cfgs)}] {cfg.name}: compile {row['compile_s']:.1f} s, sample "
                 f"{row['sampling_s']:.1f} s, {row['grad_evals_per_s']:,.0f} grads/s, "
                 f"ESS/s {row['ess_bulk_per_s']:.1f}, overhead {row['overhead_ratio']:.2f} "
                 f"({time.perf_counter() - t0:.0f} s)")  # fmt: skip
        if out:
            _write(results, out)  # partial results survive an interrupted sweep
    for name in chosen:
        log(f"study {name} ...")
        try:
            results["studies"][name] = funcs[name]()
        except Exception as exc:
            results["studies"][name] = {"error": repr(exc)}
        log(f"study {name}: {json.dumps(_brief(results['studies'][name]))}")
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
        log(f"wrote {out}")
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
