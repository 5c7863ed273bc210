"""Geo model speed: a 50-geo x 156-week x 8-channel panel, 4 chains x 1000 warm-up + 1000 draws.

``mmmjax.simulate_geo`` makes the panel (with known per-geo ROI), ``mmmjax.GeoMMM()`` is fitted
with NUTS on this machine, and we record: the wall time of the fit (compilation, sampling,
assembling the result), the compile time (estimated by a 1 + 1 step fit of the same shape,
which compiles the same NUTS step; its sampling is negligible), the sampling time, the minimum
bulk ESS over every posterior variable and per second of sampling, divergences, max r-hat,
leapfrog steps per draw, one gradient's cost, and how often the true ROI falls in the 94%
intervals (per geo and channel, and national).

    python benchmarks/bench_geo.py                        # the full run (minutes on CPU)
    python benchmarks/bench_geo.py --quick --out /tmp/g   # 10 geos x 104 weeks x 4 channels
    python benchmarks/bench_geo.py --few-geos             # 2- and 8-geo panels (a few minutes)

Results go to ``benchmarks/results/geo_<platform>.json`` (or ``--out DIR``) with the machine;
``--few-geos`` writes ``geo_few_<platform>.json``: for 2-geo (4 chains x 500 + 500) and 8-geo
(2 chains x 300 + 300) panels of 131 weeks, 6 channels and 2 controls, seeds 0-2, the default
``MMM()``'s divergences, min bulk ESS, wall time and coverage of the true per-geo ROI by the
94% intervals.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

import mmmjax
from mmmjax.bench import machine_info

warnings.filterwarnings("ignore", category=FutureWarning)


def gradient_ms(spec, panel, n: int = 500) -> float:
    """Mean cost (ms) of one potential-energy gradient of one chain: ``n`` gradients inside one
    compiled loop, so Python dispatch is not timed."""
    import jax
    import jax.numpy as jnp
    from numpyro.infer.util import potential_energy

    from mmmjax.inference.geo_fit import prepare_geo
    from mmmjax.inference.sampling import initial_values

    prob = prepare_geo(spec, panel)
    z0 = initial_values(prob.priors, prob.shapes, 1, 0)
    z0 = {k: jnp.asarray(v[0]) for k, v in z0.items()}

    def energy(z):
        return potential_energy(prob.model, prob.model_args, {}, z)

    grad = jax.grad(energy)

    def body(_, z):  # a tiny gradient step, so every gradient is computed
        return jax.tree.map(lambda a, b: a - 1e-7 * b, z, grad(z))

    loop = jax.jit(lambda z: jax.lax.fori_loop(0, n, body, z))
    jax.block_until_ready(loop(z0))
    start = time.perf_counter()
    jax.block_until_ready(loop(z0))
    return (time.perf_counter() - start) / n * 1e3


def few_geos(out: Path) -> None:
    """The ``--few-geos`` case (module docstring)."""
    runs = []
    for n_geos, chains, draws in ((2, 4, 500), (8, 2, 300)):
        for seed in range(3):
            panel, truth = mmmjax.simulate(n_geos=n_geos, n_periods=131, n_channels=6,
                                           n_controls=2, seed=seed)  # fmt: skip
            start = time.perf_counter()
            fit = mmmjax.MMM().fit(panel, chains=chains, draws=draws, warmup=draws, seed=seed,
                                   progress=False, warn=False)  # fmt: skip
            wall = time.perf_counter() - start
            d = fit.diagnostics()
            r = mmmjax.roi(fit, by="geo")
            true = truth.roi.stack().to_numpy()
            inside = (true >= r.roi_low.to_numpy()) & (true <= r.roi_high.to_numpy())
            run = {"geos": n_geos, "seed": seed, "chains": chains, "warmup": draws,
                   "draws": draws, "wall_s": round(wall, 1), "divergences": d["divergences"],
                   "min_ess_bulk": round(d["min_ess_bulk"], 1),
                   "worst_ess_bulk": d["worst_ess_bulk"],
                   "max_r_hat": round(d["max_r_hat"], 4),
                   "roi_covered_geo_channel": f"{int(inside.sum())}/{inside.size}",
                   "centred": {k: v for k, v in fit.info["centred"].items()
                               if np.size(v)}}  # fmt: skip
            print(json.dumps(run), flush=True)
            runs.append(run)
    result = {"benchmark": "geo_few", "command": "python benchmarks/bench_geo.py --few-geos",
              "machine": machine_info(), "runs": runs}  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    name = f"geo_few_{result['machine']['platform']}.json"
    (out / name).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out / name}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--geos", type=int, default=50)
    ap.add_argument("--periods", type=int, default=156)
    ap.add_argument("--channels", type=int, default=8)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chain-method", default="auto", help="auto | parallel | vectorized")
    ap.add_argument("--centring", default="auto", help="auto | centred | non-centred")
    ap.add_argument("--quick", action="store_true", help="10 geos x 104 weeks x 4 channels, "
                    "2 chains x 200 + 200")  # fmt: skip
    ap.add_argument("--few-geos", action="store_true", help="2- and 8-geo panels, seeds 0-2: "
                    "divergences and coverage (writes geo_few_<platform>.json)")  # fmt: skip
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    if args.few_geos:
        few_geos(args.out)
        return
    if args.quick:
        args.geos, args.periods, args.channels = 10, 104, 4
        args.chains, args.draws, args.warmup = 2, 200, 200

    panel, truth = mmmjax.simulate_geo(
        n_geos=args.geos, n_periods=args.periods, n_channels=args.channels, seed=args.seed
    )
    spec = mmmjax.GeoMMM(centring=args.centring)
    opts = dict(chains=args.chains, seed=args.seed, progress=False, warn=False,
                chain_method=args.chain_method)  # fmt: skip
    print(f"panel: {panel}")

    start = time.perf_counter()
    spec.fit(panel, draws=1, warmup=1, **opts)
    compile_s = time.perf_counter() - start
    print(f"compile (1 + 1 step fit): {compile_s:.1f} s")
    grad_ms = gradient_ms(spec, panel)
    print(f"one gradient: {grad_ms:.3f} ms")

    start = time.perf_counter()
    fit = spec.fit(panel, draws=args.draws, warmup=args.warmup, **opts)
    wall = time.perf_counter() - start
    sampler_s = float(fit.info["seconds"])
    sampling_s = max(sampler_s - compile_s, 1e-9) if fit.info["compiled"] else sampler_s
    d = fit.diagnostics()
    steps = np.asarray(fit.idata.sample_stats["n_steps"].values)
    roi_geo = mmmjax.geo.roi(fit, by="geo")
    roi_nat = mmmjax.geo.roi(fit, by="national")
    true_geo = truth.roi.stack().to_numpy()
    true_nat = truth.national_roi.to_numpy()
    covered_geo = (true_geo >= roi_geo.roi_low.to_numpy()) & (
        true_geo <= roi_geo.roi_high.to_numpy()
    )
    covered_nat = (true_nat >= roi_nat.roi_low.to_numpy()) & (
        true_nat <= roi_nat.roi_high.to_numpy()
    )

    result = {
        "benchmark": "geo",
        "command": "python benchmarks/bench_geo.py" + (" --quick" if args.quick else ""),
        "machine": machine_info(),
        "problem": {"geos": args.geos, "periods": args.periods, "channels": args.channels,
                    "controls": panel.n_controls, "seasonality": spec.model.seasonality,
                    "parameters": int(sum(np.prod(v.shape[2:], dtype=int)
                                          for v in fit.idata.posterior.data_vars.values()))},
        "sampler": {"chains": args.chains, "warmup": args.warmup, "draws": args.draws,
                    "chain_method": fit.info["chain_method"], "seed": args.seed},
        "wall_s": round(wall, 2),
        "sampler_s": round(sampler_s, 2),
        "compile_s_estimate": round(compile_s, 2),
        "sampling_s": round(sampling_s, 2),
        "gradient_ms": round(grad_ms, 4),
        "min_ess_bulk": round(d["min_ess_bulk"], 1),
        "worst_ess_bulk": d["worst_ess_bulk"],
        "min_ess_tail": round(d["min_ess_tail"], 1),
        "ess_bulk_per_s": round(d["min_ess_bulk"] / sampling_s, 3),
        "ess_bulk_per_s_wall": round(d["min_ess_bulk"] / wall, 3),
        "max_r_hat": round(d["max_r_hat"], 4),
        "worst_r_hat": d["worst_r_hat"],
        "divergences": d["divergences"],
        "centred": {k: v for k, v in fit.info["centred"].items() if np.size(v)},
        "mean_leapfrog_steps_per_draw": round(float(steps.mean()), 1),
        "roi_covered_geo_channel": f"{int(covered_geo.sum())}/{covered_geo.size}",
        "roi_covered_national": f"{int(covered_nat.sum())}/{covered_nat.size}",
        "national_roi": {
            "truth": [round(float(v), 4) for v in true_nat],
            "mean": [round(float(v), 4) for v in roi_nat.roi_mean],
            "low": [round(float(v), 4) for v in roi_nat.roi_low],
            "high": [round(float(v), 4) for v in roi_nat.roi_high],
        },
    }  # fmt: skip
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"geo_{result['machine']['platform']}{'_quick' if args.quick else ''}.json"
    (args.out / name).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out / name}")


if __name__ == "__main__":
    main()
