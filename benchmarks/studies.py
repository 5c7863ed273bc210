"""Research studies of the sampler, on top of :mod:`mmmjax.bench` (the ``mmmjax bench`` probe).

``mmmjax bench`` measures sampler throughput on a few configurations. This module adds what
``benchmarks/bench_sampler.py`` runs beyond that:

* ``GRIDS["full"]``: the whole grid, T x C x chains x chain method x precision (hours on a CPU);
* the option studies, run after the configurations: ``adstock_grad`` (scan vs associative
  geometric adstock, gradient time by ``T``), ``first_step`` (the probe's: a second
  ``MMM.fit`` of the same shape, time to start sampling), ``compile_cache`` (JAX's persistent
  compilation cache across processes), ``map_init`` (NUTS initialised at a MAP point from
  SVI + optax with a shorter warm-up, against the default initialisation) and
  ``in_sampler_grad`` (what one gradient costs inside NUTS).

:func:`run_bench` is :func:`mmmjax.bench.run_bench` with these grids and studies. Import it
with ``benchmarks/`` on ``sys.path`` (the scripts here run from this folder)::

    python benchmarks/bench_sampler.py --no-grid --studies map_init --out /tmp/map.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmmjax import bench
from mmmjax.bench import (
    RESULT_MARK,
    BenchConfig,
    BenchProblem,
    bench_problem,
    grad_seconds,
    log,
    sample_problem,
    study_first_step,
    throughput,
)
from mmmjax.inference.sampling import initial_values, map_initial_values

__all__ = ["DEFAULT_STUDIES", "GRIDS", "STUDIES", "STUDY_FUNCS", "run_bench"]


def _grid(ts, cs, chains, methods, dtypes=("float32",), warmup=200, draws=200):
    return [
        BenchConfig(T=t, C=c, chains=n, chain_method=m, dtype=d, warmup=warmup, draws=draws)
        for d in dtypes
        for t in ts
        for c in cs
        for n in chains
        for m in (("sequential",) if n == 1 else methods)
    ]


#: The probe's sweeps ("quick", "moderate") and "full", the whole grid.
GRIDS: dict[str, list[BenchConfig]] = {
    **bench.GRIDS,
    "full": _grid(
        (104, 156, 520),
        (5, 10, 30),
        (1, 4, 16, 64, 256),
        ("vectorized", "parallel"),
        dtypes=("float32", "float64"),
    ),
}


def study_adstock_grad(ts=(104, 156, 520), cs=(5, 10, 30)) -> list[dict[str, Any]]:
    """Potential-and-gradient time, geometric adstock by ``lax.scan`` vs ``associative_scan``."""
    rows = []
    for T in ts:
        for C in cs:
            row: dict[str, Any] = {"T": T, "C": C}
            for method in ("scan", "associative"):
                prob = bench_problem(T, C, adstock_method=method)
                z = {k: np.zeros(s, np.float32) for k, s in prob.shapes.items()}
                row[f"{method}_us"] = grad_seconds(prob, z) * 1e6
            row["associative_over_scan"] = row["associative_us"] / row["scan_us"]
            rows.append(row)
            log(f"  adstock_grad T={T} C={C}: scan {row['scan_us']:.0f} us, associative "
                 f"{row['associative_us']:.0f} us")  # fmt: skip
    return rows


def _timed_chain(prob: BenchProblem, z0: dict, copies: int, warmup: int, draws: int):
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

    from mmmjax.inference.nuts import NutsSettings, nuts_kernel

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

    One chain of :func:`mmmjax.inference.nuts.nuts_kernel` (default settings) is run twice with the
    same key and start: once on the potential ``U`` and once on ``U(x) + 0 * U(x')`` with
    ``x' = x * (1 + 1e-7)``. The second takes exactly the same trajectory (checked: equal leapfrog
    step counts) but evaluates two potential-and-gradients per leapfrog step, so the difference
    in time per step is one gradient as the sampler pays it. ``overhead_in_sampler`` is the
    time per step over that: 1 means NUTS costs nothing beyond its gradients. The standalone
    ``grad_us`` (a loop of gradients alone) is reported beside it; on this CPU it runs slower
    than the same gradient inside NUTS, which is why the grid's ``overhead_ratio`` can fall
    below 1.
    """
    import jax.numpy as jnp

    rows = []
    for T, C in shapes:
        prob = bench_problem(T, C)
        z0 = {k: v[0] for k, v in initial_values(prob.priors, prob.shapes, 1, 0).items()}

        (t1, n1), (t2, n2) = (_timed_chain(prob, z0, k, warmup, draws) for k in (1, 2))
        row: dict[str, Any] = {"T": T, "C": C, "steps": n1, "same_trajectory": n1 == n2}
        row["step_us"] = t1 / n1 * 1e6
        row["grad_in_sampler_us"] = (t2 - t1) / n1 * 1e6
        row["overhead_in_sampler"] = t1 / (t2 - t1)
        z = {k: jnp.asarray(v) for k, v in z0.items()}
        row["grad_us_standalone"] = grad_seconds(prob, z) * 1e6
        rows.append(row)
        log(f"  in_sampler_grad T={T} C={C}: {row['step_us']:.1f} us per leapfrog step, "
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
            log(f"  compile_cache {label}: sampler {res['sampler_s']:.1f} s")
        out["cache_files"] = len(list(Path(cache).rglob("*")))
    out["speedup"] = out["cold_sampler_s"] / out["warm_sampler_s"]
    return out


def map_point(prob: BenchProblem, *, steps: int = 2000, lr: float = 0.02, seed: int = 0):
    """MAP estimate with SVI (``AutoDelta`` guide, ``optax.adam``): ``(z, seconds)``.

    ``z`` is ``{site: unconstrained value}`` (one point); seconds include compilation.
    """
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
    prob = bench_problem(T, C)
    _, _ = map_point(prob)  # compile SVI
    z_map, svi_s = map_point(prob)

    def map_init(priors, shapes, n, seed):
        rng = seeds.numpy_rng(seed, "map_jitter")
        return {k: z_map[k] + 0.1 * rng.standard_normal((n, *np.shape(z_map[k]))) for k in shapes}

    out: dict[str, Any] = {"T": T, "C": C, "chains": chains, "draws": draws, "svi_s": svi_s}
    for arm, w, init in (("prior_init", warmup, None), ("map_init", short_warmup, map_init)):
        sample_problem(prob, cfg, warmup=w, seed=0, init=init)  # compile
        rows = [throughput(cfg, sample_problem(prob, cfg, warmup=w, seed=s, init=init), w)
                for s in seeds]  # fmt: skip
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
        log(f"  map_init {arm}: warmup {w}, {sec:.1f} s, min ESS {ess:.0f}, "
             f"r-hat {out[arm]['max_r_hat']:.3f}")  # fmt: skip
    out["ess_per_s_ratio_map_over_prior"] = (
        out["map_init"]["ess_bulk_per_s"] / out["prior_init"]["ess_bulk_per_s"]
    )
    return out


STUDY_FUNCS: dict[str, Callable[[], Any]] = {
    "adstock_grad": study_adstock_grad,
    "first_step": study_first_step,
    "compile_cache": study_compile_cache,
    "map_init": study_map_init,
    "in_sampler_grad": study_in_sampler_grad,
}
STUDIES = tuple(STUDY_FUNCS)
#: The studies each named sweep runs when none are chosen.
DEFAULT_STUDIES = {
    "quick": ("first_step",),
    "moderate": ("adstock_grad", "first_step", "compile_cache", "in_sampler_grad"),
    "full": STUDIES,
}


def run_bench(
    quick: bool = False,
    out: str | os.PathLike | None = None,
    *,
    full: bool = False,
    configs: Iterable[BenchConfig] | None = None,
    studies: Iterable[str] | None = None,
) -> dict[str, Any]:
    """:func:`mmmjax.bench.run_bench` with this module's grids and studies.

    Args:
      quick: the "quick" sweep (about 2 minutes on 2 CPU cores) instead of "moderate".
      out: write the results JSON here (parent directories are created).
      full: the whole grid (T x C x chains x chain method x precision; hours on a CPU).
      configs: explicit configurations (overrides ``quick``/``full``).
      studies: studies to run after the grid, from :data:`STUDIES` (default: by sweep).
    """
    named = "full" if full else "quick" if quick else "moderate"
    sweep = "custom" if configs is not None else named
    cfgs = list(configs) if configs is not None else GRIDS[named]
    chosen = tuple(studies) if studies is not None else DEFAULT_STUDIES.get(sweep, ())
    unknown = set(chosen) - set(STUDIES)
    if unknown:
        raise ValueError(f"unknown studies {sorted(unknown)}; choose from {STUDIES}")
    return bench.run_bench(out=out, configs=cfgs, studies={n: STUDY_FUNCS[n] for n in chosen},
                           sweep=sweep)  # fmt: skip
