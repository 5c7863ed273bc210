"""Many small models: one after another vs batched on one device vs Ray with 2 workers.

``M`` simulated data sets of one shape (default 32 x 104 weeks x 5 channels) are fitted with
``mmmjax.fit_many`` three ways, side by side in one run:

- ``sequential``: ``batch=False``, one model after another in this process (one compiled
  program, reused);
- ``batched``: ``batch=True``, all models ``vmap``-ed inside each chain's NUTS program;
- ``ray``: ``backend="ray"`` on a local cluster of ``--ray-workers`` CPUs, one task per model.

Also one single fit of the same shape (compiled first, then timed), the unit of the goal of
issue 9: 32 batched models in under 5x the time of one fit. Reported per mode: wall time, wall
time over one fit, and per-model throughput (median min bulk ESS per second of wall time per
model).

    python benchmarks/bench_fit_many.py                                   # 32 models
    python benchmarks/bench_fit_many.py --models 4 --draws 100 --warmup 100 --out /tmp/fm.json
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


def _jobs(args) -> list[mmmjax.Job]:
    jobs = []
    for s in range(args.models):
        dataset, _ = mmmjax.simulate(n_periods=args.periods, n_channels=args.channels, seed=s)
        jobs.append(mmmjax.Job(f"model{s:03d}", dataset, mmmjax.MMM(), {"seed": s}))
    return jobs


def _summarise(mode: str, seconds: float, summary, one_fit: float, models: int) -> dict:
    ok = summary[summary["status"] != "failed"]
    ess_per_s = ok["min_ess_bulk"] / (seconds / models)
    return {
        "mode": mode,
        "seconds": seconds,
        "x_one_fit": seconds / one_fit,
        "per_model_seconds": seconds / models,
        "median_min_ess_bulk": float(ok["min_ess_bulk"].median()),
        "per_model_ess_per_s": float(ess_per_s.median()),
        "max_r_hat": float(ok["max_r_hat"].max()),
        "divergences": int(ok["divergences"].sum()),
        "failed": int((summary["status"] == "failed").sum()),
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", type=int, default=32)
    p.add_argument("--periods", type=int, default=104)
    p.add_argument("--channels", type=int, default=5)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--modes", default="sequential,batched,ray")
    p.add_argument("--ray-workers", type=int, default=2)
    p.add_argument("--out", default="benchmarks/results/fit_many_cpu.json")
    args = p.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    opts = {"chains": args.chains, "draws": args.draws, "warmup": args.warmup,
            "prior_draws": 0}  # fmt: skip
    jobs = _jobs(args)

    # one fit: compile first, then time it warm
    single = {**opts, "progress": False, "warn": False, "seed": 0}
    mmmjax.MMM().fit(jobs[0].dataset, **single)
    start = time.perf_counter()
    fit = mmmjax.MMM().fit(jobs[0].dataset, **single)
    one_fit = time.perf_counter() - start
    d = fit.diagnostics()
    print(f"one fit: {one_fit:.2f} s, min bulk ESS {d['min_ess_bulk']:.0f} "
          f"({d['min_ess_bulk'] / one_fit:.0f} ESS/s)")  # fmt: skip

    rows = []
    for mode in modes:
        kwargs: dict = {"progress": False, **opts}
        if mode == "sequential":
            kwargs["batch"] = False
        elif mode == "batched":
            kwargs["batch"] = True
        elif mode == "ray":
            import tempfile

            import ray

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ray.init(num_cpus=args.ray_workers, include_dashboard=False, log_to_driver=False)
            kwargs.update(backend="ray", out=tempfile.mkdtemp(prefix="bench-fit-many-"))
        else:
            raise SystemExit(f"unknown mode {mode!r}")
        start = time.perf_counter()
        many = mmmjax.fit_many(jobs, **kwargs)
        seconds = time.perf_counter() - start
        if mode == "ray":
            ray.shutdown()
        row = _summarise(mode, seconds, many.summary, one_fit, args.models)
        if mode == "batched":
            row["compiled_in_run"] = bool(many[jobs[0].name].info["compiled"])
        rows.append(row)
        print(f"{mode:>10}: {seconds:7.1f} s = {row['x_one_fit']:5.1f}x one fit, "
              f"{row['per_model_ess_per_s']:6.0f} ESS/s per model, max r-hat "
              f"{row['max_r_hat']:.3f}, {row['divergences']} divergences")  # fmt: skip

    result = {
        "benchmark": "fit_many",
        "machine": machine_info(),
        "config": {
            k: getattr(args, k)
            for k in ("models", "periods", "channels", "chains", "draws", "warmup", "ray_workers")
        },
        "one_fit": {
            "seconds": one_fit,
            "min_ess_bulk": float(d["min_ess_bulk"]),
            "ess_per_s": float(d["min_ess_bulk"] / one_fit),
        },
        "modes": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
