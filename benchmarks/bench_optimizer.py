"""Budget optimizer vs SciPy SLSQP: one plan and a 100-budget frontier, 4,000 draws x 7 channels.

Both solve the same problem (posterior-mean steady-state response, sum = budget, 0 <= x <= budget)
from the same start. SLSQP gets a jax-compiled value-and-gradient of the same objective (the
faster of reverse mode and the forward-mode derivatives the optimizer itself uses, picked by
timing), divided by its value at the current split so that its absolute ``ftol=1e-7`` is relative
(about float32 resolution), and runs once per budget (100 runs for the frontier). Timings
exclude compilation (one warm-up call each) and take the best of ``--repeat`` runs.

Usage:
    python benchmarks/bench_optimizer.py [--draws 4000] [--budgets 100] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy.optimize import minimize

import mmmjax
from mmmjax.fit import fit_from_draws
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

    def solve(B):
        """SLSQP over shares ``z = x / B`` of an objective of order 1 (SLSQP is scale-sensitive
        and its ``ftol`` is absolute); returns the result with ``x`` and ``fun`` in money."""
        C = len(current)

        def scaled(z):
            v, g = fun(z * B)
            return v / unit, g * B / unit

        constraint = {"type": "eq", "fun": lambda z: z.sum() - 1.0, "jac": lambda z: np.ones(C)}
        r = minimize(scaled, current / current.sum(), jac=True, method="SLSQP",
                     bounds=[(0.0, 1.0)] * C, constraints=constraint,
                     options={"maxiter": 500, "ftol": 1e-7})  # fmt: skip
        r.x, r.fun = r.x * B, r.fun * unit
        return r

    return solve, fun, min(speed, key=speed.get), min(speed.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=4000)
    ap.add_argument("--budgets", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "optimizer_cpu.json")
    args = ap.parse_args()

    fit = make_fit(args.draws)
    B = float(fit.scales.spend.sum())
    budgets = np.linspace(0.5, 1.5, args.budgets) * B
    solve, fun, mode, eval_s = slsqp_solver(fit)

    t_plan, plan = best_of(lambda: mmmjax.optimize_budget(fit, B), args.repeat)
    t_splan, splan = best_of(lambda: solve(B), args.repeat)
    t_front, front = best_of(lambda: mmmjax.budget_frontier(fit, budgets), args.repeat)
    t_sfront, sfront = best_of(lambda: [solve(b) for b in budgets], max(1, args.repeat - 2))

    ours_plan = -fun(plan.allocation.to_numpy())[0]
    ours_front = np.array([-fun(x)[0] for x in front[fit.channels].to_numpy()])
    ref_front = np.array([-r.fun for r in sfront])
    # SLSQP sometimes stops (iteration limit, line search) at a point off the budget: not compared
    ok = np.array(
        [r.success and abs(r.x.sum() - b) <= 1e-6 * b for r, b in zip(sfront, budgets, strict=True)]
    )
    gap = ((ours_front - ref_front) / np.abs(ref_front))[ok]  # > 0: mmmjax found more
    dev = jax.devices()[0]
    result = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "jax_device": f"{dev.platform}:{dev.device_kind}",
            "jax": jax.__version__,
        },
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
            "mmmjax_worse_by_over_0.1pct": int((gap < -1e-3).sum()),
            "mmmjax_better_by_over_0.1pct": int((gap > 1e-3).sum()),
            "within_0.1pct": int((np.abs(gap) <= 1e-3).sum()),
            "rel_gap_min": float(gap.min()),
            "rel_gap_median": float(np.median(gap)),
            "rel_gap_max": float(gap.max()),
            "mmmjax_max_iterations": int(front["iterations"].max()),
            "mmmjax_all_converged": bool(front["converged"].all()),
            "slsqp_mean_evaluations": float(np.mean([r.nfev for r in sfront])),
        },
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
        f"frontier, {f['slsqp_feasible_success']} budgets where SLSQP succeeded on the budget: "
        f"{f['within_0.1pct']} within 0.1%, mmmjax better in {f['mmmjax_better_by_over_0.1pct']}, "
        f"worse in {f['mmmjax_worse_by_over_0.1pct']} (other local optima of S-shaped curves)"
    )
    print(
        f"frontier response gap (mmmjax - SLSQP) / SLSQP: min {f['rel_gap_min']:+.1e}, "
        f"median {f['rel_gap_median']:+.1e}, max {f['rel_gap_max']:+.1e}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
