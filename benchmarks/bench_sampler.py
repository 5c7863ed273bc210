"""NUTS throughput on this machine: compile time, gradients/s, draws/s, ESS/s, overhead ratio.

A thin command line over ``benchmarks/studies.py`` (the research studies, on top of
:mod:`mmmjax.bench`, the probe behind ``mmmjax bench``): sweeps periods x channels x chains x
chain method x precision on simulated data, then runs the option studies (scan vs associative
adstock, time to first step of a second fit, persistent compilation cache, MAP initialisation,
the gradient inside NUTS). See ``mmmjax/bench.py`` for what every field means.

Usage:
    python benchmarks/bench_sampler.py --quick --out /tmp/s.json    # ~2 minutes
    python benchmarks/bench_sampler.py                              # moderate sweep (committed)
    python benchmarks/bench_sampler.py --full                       # whole grid: hours on CPU
    python benchmarks/bench_sampler.py --no-grid --studies map_init --out /tmp/map.json
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", category=FutureWarning, module=r"arviz(\..*)?")

from studies import STUDIES, run_bench  # noqa: E402  # benchmarks/studies.py, beside this file

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="two small configurations")
    size.add_argument("--full", action="store_true", help="the whole grid (hours on a CPU)")
    size.add_argument("--no-grid", action="store_true", help="studies only")
    ap.add_argument(
        "--studies",
        default=None,
        help=f"comma-separated subset of {','.join(STUDIES)}, or 'none' (default: by sweep)",
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="results JSON (default: results/sampler_cpu.json for the moderate sweep, "
        "results/sampler_full_<platform>.json for --full, none for --quick/--no-grid)",
    )
    args = ap.parse_args(argv)
    studies = None
    if args.studies is not None:
        studies = () if args.studies == "none" else tuple(args.studies.split(","))
    out = args.out
    if out is None and args.full:
        import jax

        out = HERE / "results" / f"sampler_full_{jax.default_backend()}.json"
    elif out is None and not (args.quick or args.no_grid):
        out = HERE / "results" / "sampler_cpu.json"
    run_bench(
        quick=args.quick,
        full=args.full,
        out=out,
        configs=[] if args.no_grid else None,
        studies=studies,
    )


if __name__ == "__main__":
    main()
