"""Benchmark the adstock paths of ``mmmjax.transforms`` as the sampler and insights use them.

For each series length ``T`` and channel count ``C`` it times, per call, a batch of ``draws``
parameter draws under ``vmap`` (``alpha`` is ``(draws, C)``, media ``x`` is ``(T, C)`` and
shared), jitted, float32, after a warm-up call, with ``block_until_ready``, median of several
repetitions:

* ``scan``: ``geometric_adstock(method="scan")`` (exact recursion, ``T`` sequential steps);
* ``associative``: ``geometric_adstock(method="associative")`` (``log2 T`` parallel levels);
* ``conv8`` / ``conv13``: ``convolve_adstock`` with the geometric weights truncated to 8 / 13 taps
  (the path ``delayed_adstock`` and ``weibull_adstock`` always take).

and, for each, the time of ``jax.grad`` with respect to ``alpha`` of ``sum(tanh(adstock))`` (a
plain ``sum`` lets XLA collapse the convolution's gradient to a few reductions, which would flatter
``conv``; the ``tanh`` stands in for the saturation the sampler differentiates through).

Usage::

    python benchmarks/bench_kernels.py                     # full grid, prints a table
    python benchmarks/bench_kernels.py --out benchmarks/results/kernels_cpu.json
    python benchmarks/bench_kernels.py --quick             # small sizes (smoke test)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from mmmjax import transforms as tr
from mmmjax.bench import cpu_model

PATHS = ("scan", "associative", "conv8", "conv13")


def adstock_fn(path: str):
    """``f(x (T, C), alpha (C,)) -> (T, C)`` for one draw."""
    if path == "scan":
        return lambda x, a: tr.geometric_adstock(x, a, normalize=True, method="scan")
    if path == "associative":
        return lambda x, a: tr.geometric_adstock(x, a, normalize=True, method="associative")
    taps = int(path.removeprefix("conv"))
    return lambda x, a: tr.convolve_adstock(x, tr.geometric_weights(a, taps, normalize=True))


def build(path: str):
    one = adstock_fn(path)
    batched = jax.vmap(one, in_axes=(None, 0))  # x shared, alpha (draws, C)
    forward = jax.jit(batched)
    gradient = jax.jit(jax.grad(lambda a, x: jnp.sum(jnp.tanh(batched(x, a))), argnums=0))
    return forward, lambda x, a: gradient(a, x)


def time_call(fn, args, *, budget_s: float, max_reps: int) -> tuple[float, int]:
    """Median seconds per call after one warm-up call (which also compiles)."""
    jax.block_until_ready(fn(*args))
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - start
    reps = int(min(max_reps, max(1, budget_s / max(first, 1e-9))))  # slow sizes: 2 timed calls
    times = [first]
    for _ in range(reps):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times), len(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one or two reps")
    parser.add_argument("--out", type=Path, default=None, help="write results as JSON here")
    parser.add_argument("--draws", type=int, default=None, help="parameter draws (default 1000)")
    parser.add_argument("--paths", default=",".join(PATHS), help="comma-separated subset")
    args = parser.parse_args(argv)

    if args.quick:
        grid, draws, budget, max_reps = [(52, 3), (104, 7)], args.draws or 50, 0.05, 3
    else:
        grid = [(t, c) for t in (104, 520, 5200) for c in (7, 50)]
        draws, budget, max_reps = args.draws or 1000, 1.0, 15
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    unknown = sorted(set(paths) - set(PATHS))
    if unknown:
        parser.error(f"unknown paths {unknown}; choose from {list(PATHS)}")

    device = jax.devices()[0]
    meta = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "device": str(device),
        "platform": device.platform,
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "python": sys.version.split()[0],
        "dtype": "float32",
        "draws": draws,
        "statistic": "median seconds per call after warm-up",
        "grad_of": "sum(tanh(adstock)) w.r.t. alpha",
        "load_average_at_start": list(os.getloadavg()),  # other work on the machine skews timings
    }
    print(
        f"# kernels benchmark  {meta['date']}  device={meta['device']} ({meta['platform']}), "
        f"cpu={meta['cpu_model']}, jax {meta['jax']}, draws={draws}, float32"
    )
    header = f"{'T':>5} {'C':>3} {'path':>12} {'fwd ms':>10} {'grad ms':>10} {'reps':>5}"
    print(header)
    print("-" * len(header))

    rng = np.random.default_rng(0)
    rows = []
    for n_time, n_ch in grid:
        x = jnp.asarray(rng.uniform(0, 1, (n_time, n_ch)), jnp.float32)
        alpha = jnp.asarray(rng.uniform(0.1, 0.9, (draws, n_ch)), jnp.float32)
        for path in paths:
            forward, gradient = build(path)
            fwd_s, reps = time_call(forward, (x, alpha), budget_s=budget, max_reps=max_reps)
            grad_s, _ = time_call(gradient, (x, alpha), budget_s=budget, max_reps=max_reps)
            rows.append(
                {"T": n_time, "C": n_ch, "path": path, "forward_s": fwd_s, "grad_s": grad_s}
            )
            print(
                f"{n_time:>5} {n_ch:>3} {path:>12} {fwd_s * 1e3:>10.3f} {grad_s * 1e3:>10.3f}"
                f" {reps:>5}",
                flush=True,
            )

    meta["load_average_at_end"] = list(os.getloadavg())
    load = (meta["load_average_at_start"], meta["load_average_at_end"])
    print(f"# load average at start {load[0]}, end {load[1]}")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
        print(f"# wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
