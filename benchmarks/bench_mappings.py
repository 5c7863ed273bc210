"""Memory mappings of a long session: many distinct models fitted, read and planned in one process.

Each XLA CPU executable JAX keeps holds three or more memory mappings, and Linux gives a process
at most ``vm.max_map_count`` of them (65,530 by default); past it XLA's JIT cannot map the next
program and the process dies with a segmentation fault (CI stops 20 and 21). mmmjax drops its
in-memory programs past 60% of the limit (:func:`mmmjax.programs.release_if_crowded`). This
script fits ``--configs`` different model configurations (each a new shape: 40 + 4 i periods,
2 + i mod 3 channels, 1 or 2 Fourier orders; 1 chain x 30 + 30 draws), with ROI and a plan for
each, in a new process, and records the mapping count after each; ``--no-guard`` turns the
release off to show the crash (run it with ``--configs`` large enough to reach the limit, or as
root with a lowered ``sysctl vm.max_map_count``).

Usage:
    python benchmarks/bench_mappings.py [--configs 40] [--no-guard] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHILD = """
import json, sys, time
import mmmjax
from mmmjax import programs
from mmmjax.inference import sampling
if {no_guard}:
    programs.release_if_crowded = lambda share=None: False
    sampling.programs = programs
for i in range({configs}):
    t = time.perf_counter()
    ds, _ = mmmjax.simulate(40 + 4 * i, 2 + i % 3, seed=i)
    fit = mmmjax.MMM(seasonality=1 + i % 2).fit(ds, chains=1, draws=30, warmup=30, seed=i,
                                                progress=False, warn=False)
    mmmjax.roi(fit)
    mmmjax.optimize_budget(fit, float(fit.scales.spend.sum()))
    held, limit = programs.mapping_count()
    print("ROW " + json.dumps({{"config": i, "mappings": held, "limit": limit,
                               "s": time.perf_counter() - t}}), flush=True)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", type=int, default=40)
    ap.add_argument("--no-guard", action="store_true", help="turn release_if_crowded off")
    ap.add_argument("--out", type=Path, default=None, help="default results/mappings_cpu.json")
    args = ap.parse_args()
    code = CHILD.format(no_guard=args.no_guard, configs=args.configs)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, env={**os.environ})  # fmt: skip
    wall = time.perf_counter() - t
    rows = [json.loads(x[4:]) for x in proc.stdout.splitlines() if x.startswith("ROW ")]
    for r in rows:
        print(f"config {r['config']:3d}: {r['mappings']:6d} mappings of {r['limit']} "
              f"({r['s']:.1f} s)")  # fmt: skip
    survived = proc.returncode == 0
    peak = max((r["mappings"] for r in rows), default=0)
    label = "guard off" if args.no_guard else "guard on"
    print(f"{label}: {len(rows)} of {args.configs} configurations, exit {proc.returncode}, "
          f"peak {peak} mappings, {wall:.0f} s")  # fmt: skip
    result = {
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
        "guard": not args.no_guard,
        "configs": args.configs,
        "completed": len(rows),
        "exit": proc.returncode,
        "survived": survived,
        "peak_mappings": peak,
        "wall_s": wall,
        "rows": rows,
    }
    out = args.out or HERE / "results" / ("mappings_cpu.json" if not args.no_guard
                                          else "mappings_no_guard_cpu.json")  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
