"""First fit of the HAMS model in fresh processes, one per seed: wall time, min bulk ESS, ESS/s.

A single run's ESS swings by about 20%, so ``bench_fit.py``'s one first fit is not enough to
judge a ratio against another tool. Each seed runs in a new Python process (imports not timed,
the on-disk compilation cache as it is) with the same model shape as ``bench_fit.py``.

Usage:
    python benchmarks/bench_first_fit.py                  # seeds 0-5, prints one JSON line each
    python benchmarks/bench_first_fit.py --seeds 3 --out /tmp/first.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parents[1] / "shared" / "data" / "MMM_test_data.csv"

ONE_FIT = """
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import mmmjax, mmmjax.inference.fit
channels = [f"spend_channel_{{i}}" for i in range(1, 8)]
ds = mmmjax.Dataset.from_csv({data!r}, date="start_of_week", target="revenue", channels=channels)
spec = mmmjax.MMM(adstock="geometric", saturation="logistic", l_max=8, seasonality=2,
                  trend="linear")
t0 = time.perf_counter()
fit = spec.fit(ds, chains=4, draws=1000, warmup=1000, seed={seed}, progress=False, warn=False)
wall = time.perf_counter() - t0
d = fit.diagnostics()
print(json.dumps({{"seed": {seed}, "wall_s": wall, "min_ess_bulk": float(d["min_ess_bulk"]),
                  "ess_per_s": float(d["min_ess_bulk"]) / wall, "divergences": d["divergences"],
                  "max_r_hat": float(d["max_r_hat"])}}))
"""


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    args = ap.parse_args(argv)
    if not args.data.is_file():
        sys.exit(f"data file not found: {args.data} (pass --data PATH)")
    rows = []
    for seed in range(args.seeds):
        code = ONE_FIT.format(data=str(args.data), seed=seed)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True)  # fmt: skip
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    rates = [r["ess_per_s"] for r in rows]
    print(f"ESS/s over {len(rows)} seeds: min {min(rates):.0f}, median "
          f"{statistics.median(rates):.0f}, max {max(rates):.0f}")  # fmt: skip
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
