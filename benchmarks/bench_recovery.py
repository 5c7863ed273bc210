"""Parameter recovery on simulated data: is the true ROI inside the 94% interval?

For each seed, ``mmmjax.simulate`` draws a data set with known truth (3 years weekly, 5 channels,
2 controls, mixed spend patterns), ``MMM()`` is fitted with NUTS, and we record per channel
whether the true ROI, marginal ROI and adstock rate fall inside the 94% intervals, plus the
ranking of channels by ROI. Goal (issue 4): ROI coverage >= 90% of channels over 10 seeds.

    python benchmarks/bench_recovery.py                       # 10 seeds, 4 chains x 500/500
    python benchmarks/bench_recovery.py --seeds 2 --draws 100 --out /tmp/rec   # quick
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from datetime import date
from pathlib import Path

import numpy as np

import mmmjax

warnings.filterwarnings("ignore", category=FutureWarning)


def one_seed(seed: int, args) -> dict:
    dataset, truth = mmmjax.simulate(n_periods=args.periods, n_channels=args.channels, seed=seed)
    start = time.perf_counter()
    fit = mmmjax.MMM().fit(
        dataset, chains=args.chains, draws=args.draws, warmup=args.warmup, seed=seed,
        progress=False, warn=False,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    r = mmmjax.roi(fit)
    alpha = fit.draws()["alpha"]
    a_lo, a_hi = np.quantile(alpha, [0.03, 0.97], axis=0)
    roi_in = (truth.roi >= r.roi_low) & (truth.roi <= r.roi_high)
    mroi_in = (truth.mroi >= r.mroi_low) & (truth.mroi <= r.mroi_high)
    alpha_true = np.asarray(truth.params["alpha"])
    d = fit.diagnostics()
    return {
        "seed": seed,
        "seconds": seconds,
        "roi_true": truth.roi.round(4).tolist(),
        "roi_mean": r.roi_mean.round(4).tolist(),
        "roi_covered": roi_in.astype(int).tolist(),
        "mroi_covered": mroi_in.astype(int).tolist(),
        "alpha_covered": ((alpha_true >= a_lo) & (alpha_true <= a_hi)).astype(int).tolist(),
        "rank_correlation": float(
            np.corrcoef(np.argsort(np.argsort(truth.roi)), np.argsort(np.argsort(r.roi_mean)))[0, 1]
        ),
        "max_r_hat": d["max_r_hat"],
        "min_ess_bulk": d["min_ess_bulk"],
        "divergences": d["divergences"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--periods", type=int, default=156)
    ap.add_argument("--channels", type=int, default=5)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()

    rows = []
    for seed in range(args.seeds):
        row = one_seed(seed, args)
        rows.append(row)
        print(
            f"seed {seed}: {row['seconds']:.1f} s, ROI covered {sum(row['roi_covered'])}/"
            f"{args.channels}, mROI {sum(row['mroi_covered'])}/{args.channels}, alpha "
            f"{sum(row['alpha_covered'])}/{args.channels}, rank corr "
            f"{row['rank_correlation']:.2f}, r-hat {row['max_r_hat']:.3f}, "
            f"{row['divergences']} divergences",
            flush=True,
        )
    summary = {
        "roi_coverage": float(np.mean([c for r in rows for c in r["roi_covered"]])),
        "mroi_coverage": float(np.mean([c for r in rows for c in r["mroi_covered"]])),
        "alpha_coverage": float(np.mean([c for r in rows for c in r["alpha_covered"]])),
        "mean_rank_correlation": float(np.mean([r["rank_correlation"] for r in rows])),
        "max_r_hat": float(max(r["max_r_hat"] for r in rows)),
        "total_divergences": int(sum(r["divergences"] for r in rows)),
    }
    print(
        f"ROI inside 94% interval: {summary['roi_coverage']:.0%} of channels over "
        f"{args.seeds} seeds (goal >= 90%); mROI {summary['mroi_coverage']:.0%}, "
        f"alpha {summary['alpha_coverage']:.0%}; mean rank correlation "
        f"{summary['mean_rank_correlation']:.2f}"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {platform.node()}",
        "date": date.today().isoformat(),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "summary": summary,
        "seeds": rows,
    }
    (args.out / "recovery_cpu.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
