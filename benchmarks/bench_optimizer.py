"""Budget optimizer vs SciPy SLSQP: one plan and a 100-budget frontier, 4,000 draws x 7 channels.

Both solve the same problem (posterior-mean steady-state response, sum = budget, 0 <= x <= budget).
SLSQP gets a jax-compiled value-and-gradient of the same objective (the faster of reverse mode
and forward mode, picked by timing), divided by its value at the current split so that its
absolute ``ftol=1e-7`` is relative (about float32 resolution), and runs once per budget from the
current split (100 runs for the frontier): that is the timing baseline. Some response curves are
S-shaped, so a single SLSQP run can stop in a local optimum; the optimum reference is therefore
the best of a multi-start SLSQP (the current split, the equal split and ``--starts - 2`` random
splits per budget), and mmmjax must be within 0.1% of it or better on every budget. Timings
exclude compilation (one warm-up call each) and take the best of ``--repeat`` runs.

A third row times a 13-week schedule (``optimize_budget(fit, B, periods=13)``: flat, and free
flighting, ``schedule="free"``) and a what-if of it (``evaluate_budget(fit, plan.schedule)``)
on the same fit; the goal is under 1 s after compiling. ``--schedule-only`` runs just that row
and updates the ``schedule`` entry of ``--out`` (the rest of the file is kept).

``--first-call`` measures instead what a planning script pays on its first calls: a new Python
process runs a first ``optimize_budget`` and then a first ``--budgets``-budget
``budget_frontier``, twice, with one fresh ``MMMJAX_CACHE_DIR`` shared by both processes: the
first process starts from an empty cache (cold), the second from what the first left (warm).
Each call is timed from just before it to its return (import, building or loading the fit are
excluded) and split into phases from ``jax.monitoring``'s duration events: tracing to a jaxpr,
lowering to StableHLO, XLA compile (or its load from the persistent cache), and the rest (running
the programs, Python, deserialising stored programs). ``--fit bench`` is the 4,000-draw x
7-channel fit below; ``--fit demo`` a 2-chain x 250-draw NUTS fit of the embedded demo (the
tests' ``demo_fit``), sampled once in this process and loaded by the two children.

Usage:
    python benchmarks/bench_optimizer.py [--draws 4000] [--budgets 100] [--starts 5] [--out FILE]
    python benchmarks/bench_optimizer.py --schedule-only [--periods 13]
    python benchmarks/bench_optimizer.py --first-call [--fit bench|demo] [--out FILE]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy.optimize import minimize

import mmmjax
from mmmjax.bench import cpu_model
from mmmjax.inference.fit import fit_from_draws
from mmmjax.insights import response_params, steady_state_response

HERE = Path(__file__).resolve().parent


def make_fit(S: int, C: int = 7, T: int = 104, seed: int = 0):
    """A Fit from random but plausible draws (hill saturation, geometric adstock)."""
    rng = np.random.default_rng(seed)
    channels = [f"channel_{i + 1}" for i in range(C)]
    df = pd.DataFrame(rng.uniform(2e3, 3e4, C) * rng.lognormal(0, 0.4, (T, C)), columns=channels)
    df["date"] = pd.date_range("2022-01-02", periods=T, freq="W")
    df["sales"] = 1e5 + rng.normal(0, 1e3, T)
    ds = mmmjax.Dataset.from_frame(df, date="date", target="sales", channels=channels)
    spec = mmmjax.MMM(adstock="geometric", saturation="hill", seasonality=0, trend="none")
    draws = {
        "intercept": np.ones(S),
        "sigma": np.full(S, 0.05),
        "media_roi": rng.uniform(0.5, 3.0, C) * rng.lognormal(0, 0.3, (S, C)),
        "alpha": rng.uniform(0.2, 0.7, (S, C)),
        "half_saturation": rng.uniform(0.5, 2.0, C) * rng.lognormal(0, 0.2, (S, C)),
        "slope": rng.uniform(0.8, 2.5, C) * rng.lognormal(0, 0.1, (S, C)),
    }
    return fit_from_draws(spec, ds, draws)


def best_of(fn, repeat: int) -> tuple[float, object]:
    fn()  # warm-up (compilation)
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def slsqp_solver(fit):
    spec, params = fit.spec, response_params(fit)
    mean = lambda x: steady_state_response(spec, params, x).sum(-1).mean()  # noqa: E731
    reverse = jax.jit(jax.value_and_grad(mean))

    @jax.jit
    def forward(x):
        r, r1 = jax.jvp(lambda z: steady_state_response(spec, params, z), (x,), (jnp.ones_like(x),))
        return r.sum(-1).mean(), r1.mean(0)

    x0 = jnp.asarray(fit.scales.spend, jnp.float32)
    speed = {}
    for name, f in (("reverse", reverse), ("forward", forward)):
        f(x0)[0].block_until_ready()
        t = time.perf_counter()
        for _ in range(50):
            jax.block_until_ready(f(x0))
        speed[name] = (time.perf_counter() - t) / 50
    vg = forward if speed["forward"] < speed["reverse"] else reverse

    def fun(x):
        v, g = vg(jnp.asarray(x, jnp.float32))
        return -float(v), -np.asarray(g, np.float64)

    current = np.asarray(fit.scales.spend, np.float64)
    unit = abs(fun(current)[0])

    def solve(B, z0=None):
        """SLSQP over shares ``z = x / B`` of an objective of order 1 (SLSQP is scale-sensitive
        and its ``ftol`` is absolute), from shares ``z0`` (default: the current split); returns
        the result with ``x`` and ``fun`` in money."""
        C = len(current)

        def scaled(z):
            v, g = fun(z * B)
            return v / unit, g * B / unit

        constraint = {"type": "eq", "fun": lambda z: z.sum() - 1.0, "jac": lambda z: np.ones(C)}
        start = current / current.sum() if z0 is None else z0
        r = minimize(scaled, start, jac=True, method="SLSQP",
                     bounds=[(0.0, 1.0)] * C, constraints=constraint,
                     options={"maxiter": 500, "ftol": 1e-7})  # fmt: skip
        r.x, r.fun = r.x * B, r.fun * unit
        return r

    return solve, fun, min(speed, key=speed.get), min(speed.values())


def feasible(r, b) -> bool:
    """SLSQP sometimes stops (iteration limit, line search) at a point off the budget."""
    return bool(r.success and abs(r.x.sum() - b) <= 1e-6 * b and np.all(r.x >= -1e-6 * b))


def gaps(ours: np.ndarray, ref: np.ndarray, ok: np.ndarray, prefix: str = "") -> dict:
    gap = ((ours - ref) / np.abs(ref))[ok]  # > 0: mmmjax found more
    return {
        f"{prefix}mmmjax_worse_by_over_0.1pct": int((gap < -1e-3).sum()),
        f"{prefix}mmmjax_better_by_over_0.1pct": int((gap > 1e-3).sum()),
        f"{prefix}within_0.1pct": int((np.abs(gap) <= 1e-3).sum()),
        f"{prefix}rel_gap_min": float(gap.min()),
        f"{prefix}rel_gap_median": float(np.median(gap)),
        f"{prefix}rel_gap_max": float(gap.max()),
    }


def schedule_row(fit, periods: int, repeat: int) -> dict:
    """Timings (best of ``repeat`` after one warm-up call, whose time, compilation included, is
    ``first_call_s``) of a flat and a free ``periods``-period schedule and of a what-if of it."""
    B = periods * float(fit.scales.spend.sum())
    out: dict = {"periods": periods, "budget": B}
    plans = {}
    for kind in ("flat", "free"):
        t0 = time.perf_counter()
        mmmjax.optimize_budget(fit, B, periods=periods, schedule=kind)
        first = time.perf_counter() - t0
        t, plan = best_of(lambda k=kind: mmmjax.optimize_budget(fit, B, periods=periods,
                                                                  schedule=k), repeat)  # fmt: skip
        plans[kind] = plan
        out[kind] = {
            "s": t,
            "first_call_s": first,
            "expected_response": plan.expected_response,
            "iterations": plan.iterations,
            "converged": plan.converged,
            "mroi_spread": plan.mroi_spread,
        }
    t_eval, again = best_of(lambda: mmmjax.evaluate_budget(fit, plans["free"].schedule), repeat)
    out["free_gain_over_flat"] = (
        plans["free"].expected_response / plans["flat"].expected_response - 1
    )
    out["whatif_s"] = t_eval
    out["whatif_rel_diff"] = again.expected_response / plans["free"].expected_response - 1
    return out


def print_schedule(row: dict) -> None:
    fl, fr = row["flat"], row["free"]
    print(
        f"{row['periods']}-period schedule: flat {fl['s']:.3f} s (first call "
        f"{fl['first_call_s']:.1f} s), free flighting {fr['s']:.3f} s (first call "
        f"{fr['first_call_s']:.1f} s, "
        f"{fr['iterations']} updates over all draws, converged {fr['converged']}), free "
        f"{row['free_gain_over_flat']:+.2%} over flat; what-if of the schedule "
        f"{row['whatif_s']:.3f} s (rel. diff {row['whatif_rel_diff']:+.1e})"
    )


def machine() -> dict:
    dev = jax.devices()[0]
    return {
        "platform": platform.platform(),
        "processor": cpu_model(),
        "cpu_count": os.cpu_count(),
        "jax_device": f"{dev.platform}:{dev.device_kind}",
        "jax": jax.__version__,
    }


# ----------------------------------------------------------------------------------------------
# --first-call: a planning script's first calls in new processes (cold, then warm cache)
# ----------------------------------------------------------------------------------------------
PHASE_EVENTS = {
    "/jax/core/compile/jaxpr_trace_duration": "trace_s",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower_s",
    "/jax/core/compile/backend_compile_duration": "compile_s",
}


def _program_counts() -> dict:
    from mmmjax import programs

    return {k: sum(c[k] for c in programs.STATS.values()) for k in ("loaded", "exported")}


def _phased(fn, totals: dict) -> tuple[dict, object]:
    """Run ``fn()``; its wall seconds split by the jax.monitoring durations recorded meanwhile,
    and the programs it loaded from mmmjax's program store or traced and exported."""
    before, programs = dict(totals), _program_counts()
    t = time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t
    phases = {k: totals[k] - before[k] for k in PHASE_EVENTS.values()}
    phases["rest_s"] = wall - sum(phases.values())
    phases["wall_s"] = wall
    phases["programs"] = {k: v - programs[k] for k, v in _program_counts().items()}
    return phases, out


def first_call_child(fit_path: str, draws: int, n_budgets: int) -> dict:
    """In this (new) process: a first plan, a first frontier, then each again (already compiled).
    ``mmmjax.optimize`` is imported before the clock starts (its import time is reported)."""
    import jax.monitoring as mon

    totals = dict.fromkeys(PHASE_EVENTS.values(), 0.0)

    def on_duration(name, secs, **kw):
        if name in PHASE_EVENTS:
            totals[PHASE_EVENTS[name]] += secs

    mon.register_event_duration_secs_listener(on_duration)
    fit = make_fit(draws) if fit_path == "bench" else mmmjax.load_fit(fit_path)
    B = float(fit.scales.spend.sum())
    budgets = np.linspace(0.5, 1.5, n_budgets) * B
    t = time.perf_counter()
    importlib.import_module("mmmjax.optimize")  # mmmjax imports it lazily, on first use
    out = {"import_optimize_s": time.perf_counter() - t}
    out["plan"], _ = _phased(lambda: mmmjax.optimize_budget(fit, B), totals)
    out["frontier"], front = _phased(lambda: mmmjax.budget_frontier(fit, budgets), totals)
    out["plan_again"], _ = _phased(lambda: mmmjax.optimize_budget(fit, 0.9 * B), totals)
    out["frontier_again"], _ = _phased(lambda: mmmjax.budget_frontier(fit, budgets * 0.9), totals)
    out["frontier_converged"] = bool(front["converged"].all())
    return out


def first_call(args) -> None:
    """Two new processes sharing one fresh cache directory: cold, then warm."""
    with tempfile.TemporaryDirectory(prefix="mmmjax-first-call-") as tmp:
        fit_path = "bench"
        if args.fit == "demo":  # sampled here, under this process's own cache
            ds = mmmjax.datasets.load("demo")
            fit = mmmjax.MMM().fit(ds, chains=2, draws=250, warmup=250, seed=0, progress=False,
                                   warn=False)  # fmt: skip
            fit_path = str(Path(tmp) / "demo-fit")
            fit.save(fit_path)
        env = {**os.environ, "MMMJAX_CACHE_DIR": str(Path(tmp) / "jax")}
        env.pop("JAX_COMPILATION_CACHE_DIR", None)
        env.pop("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", None)
        runs = {}
        for run in ("cold", "warm"):
            cmd = [sys.executable, __file__, "--child", fit_path, "--draws", str(args.draws),
                   "--budgets", str(args.budgets)]  # fmt: skip
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
            if not lines:
                raise SystemExit(f"{run} child failed:\n{proc.stderr[-4000:]}")
            runs[run] = json.loads(lines[-1][len("RESULT ") :])
    dev = jax.devices()[0]
    draws = 500 if args.fit == "demo" else args.draws
    result = {
        "machine": {
            "processor": cpu_model(),
            "cpu_count": os.cpu_count(),
            "load_avg": os.getloadavg(),
            "jax_device": f"{dev.platform}:{dev.device_kind}",
            "jax": jax.__version__,
        },
        "problem": {"fit": args.fit, "draws": draws, "budgets": args.budgets, "objective": "mean"},
        "timed": "from just before each call to its return, in a new process (import and "
        "building or loading the fit excluded)",
        **runs,
    }
    print(f"first calls, {args.fit} fit ({draws} draws), {args.budgets}-budget frontier; "
          f"seconds per phase (rest: running, Python, loading stored programs)")  # fmt: skip
    cols = ("trace_s", "lower_s", "compile_s", "rest_s", "wall_s")
    print(f"{'':26s}" + "".join(f"{c[:-2]:>9s}" for c in cols) + "  programs loaded/exported")
    for run in ("cold", "warm"):
        for call in ("plan", "frontier", "plan_again", "frontier_again"):
            ph = runs[run][call]
            pr = ph["programs"]
            print(f"{run + ' ' + call:26s}" + "".join(f"{ph[c]:9.3f}" for c in cols)
                  + f"  {pr['loaded']:.0f}/{pr['exported']:.0f}")  # fmt: skip
        print(f"{run} import of mmmjax.optimize (before the clock): "
              f"{runs[run]['import_optimize_s']:.3f} s")  # fmt: skip
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=4000)
    ap.add_argument("--budgets", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--starts", type=int, default=5, help="SLSQP starts per budget (reference)")
    ap.add_argument("--out", type=Path, default=None, help="default results/optimizer_cpu.json")
    ap.add_argument(
        "--first-call",
        action="store_true",
        help="first plan and frontier in new processes, cold and warm cache",
    )
    ap.add_argument(
        "--fit",
        choices=("bench", "demo"),
        default="bench",
        help="--first-call: the benchmark's fit or a NUTS fit of the demo",
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)  # --first-call's new process
    ap.add_argument("--periods", type=int, default=13, help="periods of the schedule row")
    ap.add_argument("--schedule-only", action="store_true",
                    help="time only the schedule row; update its entry in --out")  # fmt: skip
    args = ap.parse_args()
    if args.child:
        print("RESULT " + json.dumps(first_call_child(args.child, args.draws, args.budgets)))
        return
    if args.first_call:
        first_call(args)
        return
    if args.out is None:
        args.out = HERE / "results" / "optimizer_cpu.json"

    fit = make_fit(args.draws)
    if args.schedule_only:
        row = schedule_row(fit, args.periods, args.repeat)
        print_schedule(row)
        result = json.loads(args.out.read_text()) if args.out.is_file() else {}
        result["schedule"] = {"machine": machine(), "draws": args.draws,
                              "channels": len(fit.channels), **row}  # fmt: skip
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
        return
    B = float(fit.scales.spend.sum())
    budgets = np.linspace(0.5, 1.5, args.budgets) * B
    solve, fun, mode, eval_s = slsqp_solver(fit)

    t_plan, plan = best_of(lambda: mmmjax.optimize_budget(fit, B), args.repeat)
    t_splan, splan = best_of(lambda: solve(B), args.repeat)
    t_front, front = best_of(lambda: mmmjax.budget_frontier(fit, budgets), args.repeat)
    t_sfront, sfront = best_of(lambda: [solve(b) for b in budgets], max(1, args.repeat - 2))
    C = len(fit.channels)
    rng = np.random.default_rng(1)
    starts = [np.full(C, 1.0 / C), *rng.dirichlet(np.ones(C), max(0, args.starts - 2))]
    t = time.perf_counter()
    multi = [[r, *(solve(b, z0) for z0 in starts)] for r, b in zip(sfront, budgets, strict=True)]
    t_multi = t_sfront + time.perf_counter() - t

    ours_plan = -fun(plan.allocation.to_numpy())[0]
    ours_front = np.array([-fun(x)[0] for x in front[fit.channels].to_numpy()])
    ref_front = np.array([-r.fun for r in sfront])
    ok = np.array([feasible(r, b) for r, b in zip(sfront, budgets, strict=True)])
    best = np.array(
        [max((-r.fun for r in rs if feasible(r, b)), default=np.nan)
         for rs, b in zip(multi, budgets, strict=True)]
    )  # fmt: skip
    ok_best = np.isfinite(best)
    row = schedule_row(fit, args.periods, args.repeat)
    result = {
        "machine": machine(),
        "problem": {
            "draws": args.draws,
            "channels": len(fit.channels),
            "budgets": args.budgets,
            "objective": "mean",
            "slsqp_value_and_grad": mode,
            "slsqp_eval_ms": 1e3 * eval_s,
        },
        "plan": {
            "mmmjax_s": t_plan,
            "slsqp_s": t_splan,
            "speedup": t_splan / t_plan,
            "mmmjax_response": ours_plan,
            "slsqp_response": -splan.fun,
            "rel_gap": (ours_plan + splan.fun) / abs(splan.fun),
            "mmmjax_iterations": plan.iterations,
            "slsqp_iterations": int(splan.nit),
            "slsqp_evaluations": int(splan.nfev),
        },
        "frontier": {
            "mmmjax_s": t_front,
            "slsqp_100_runs_s": t_sfront,
            "speedup": t_sfront / t_front,
            "slsqp_feasible_success": int(ok.sum()),
            **gaps(ours_front, ref_front, ok),
            "slsqp_multistart_starts": len(starts) + 1,
            "slsqp_multistart_s": t_multi,
            "slsqp_multistart_budgets_compared": int(ok_best.sum()),
            **gaps(ours_front, best, ok_best, "vs_best_of_slsqp_"),
            "mmmjax_max_iterations": int(front["iterations"].max()),
            "mmmjax_all_converged": bool(front["converged"].all()),
            "slsqp_mean_evaluations": float(np.mean([r.nfev for r in sfront])),
        },
        "schedule": {"draws": args.draws, "channels": len(fit.channels), **row},
    }
    p, f = result["plan"], result["frontier"]
    m = result["machine"]
    print(f"machine: {m['processor']}, {m['cpu_count']} cores, {m['jax_device']}")
    print(f"problem: {args.draws} draws x {len(fit.channels)} channels, {args.budgets} budgets")
    print(f"{'':22s}{'mmmjax':>12s}{'SLSQP':>12s}{'ratio':>9s}")
    print(f"{'plan time (s)':22s}{p['mmmjax_s']:12.4f}{p['slsqp_s']:12.4f}{p['speedup']:8.1f}x")
    print(
        f"{'plan response':22s}{p['mmmjax_response']:12.1f}{p['slsqp_response']:12.1f}"
        f"{p['rel_gap']:+9.1e}"
    )
    print(
        f"{'frontier time (s)':22s}{f['mmmjax_s']:12.4f}{f['slsqp_100_runs_s']:12.4f}"
        f"{f['speedup']:8.1f}x"
    )
    print(
        f"frontier vs SLSQP from the current split ({f['slsqp_feasible_success']} budgets where "
        f"it succeeded): {f['within_0.1pct']} within 0.1%, mmmjax better in "
        f"{f['mmmjax_better_by_over_0.1pct']} (SLSQP in a local optimum of S-shaped curves), "
        f"worse in {f['mmmjax_worse_by_over_0.1pct']}; gap (mmmjax - SLSQP) / SLSQP: min "
        f"{f['rel_gap_min']:+.1e}, median {f['rel_gap_median']:+.1e}, max {f['rel_gap_max']:+.1e}"
    )
    v = "vs_best_of_slsqp_"
    print(
        f"frontier vs best of {f['slsqp_multistart_starts']}-start SLSQP "
        f"({f['slsqp_multistart_s']:.2f} s, {f['slsqp_multistart_budgets_compared']} budgets): "
        f"{f[v + 'within_0.1pct']} within 0.1%, mmmjax better in "
        f"{f[v + 'mmmjax_better_by_over_0.1pct']}, worse in {f[v + 'mmmjax_worse_by_over_0.1pct']}"
        f"; gap min {f[v + 'rel_gap_min']:+.1e}, median {f[v + 'rel_gap_median']:+.1e}, max "
        f"{f[v + 'rel_gap_max']:+.1e}"
    )
    print_schedule(row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
