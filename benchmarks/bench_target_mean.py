"""Why mmmjax refuses a target with negative values whose mean is below its sd (issue 18).

The model measures the target in multiples of its mean. Shifting a simulated target down by a
constant changes nothing a correct analysis should see (the baseline absorbs it; media effects
in money stay the same), but it shrinks the mean relative to the spread. For each seed and each
ratio ``sd / mean`` we fit ``MMM()`` to the shifted data (built with the plain ``Dataset``
constructor, which does not validate) and record how far each channel's posterior ROI moved
from the unshifted fit, in posterior sds, and the worst r-hat.

    python benchmarks/bench_target_mean.py                      # 3 seeds, 2 chains x 300/300
    python benchmarks/bench_target_mean.py --seeds 1 --out /tmp/tm
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import arviz as az
import numpy as np

import mmmjax
from mmmjax.insights import roi_draws

warnings.filterwarnings("ignore")

RATIOS = (0.0, 0.5, 1.0, 2.0, 4.0, 30.0, 1e3, 1e6)  # sd / mean; 0: the data as simulated


def shifted(dataset: mmmjax.Dataset, ratio: float) -> mmmjax.Dataset:
    """``dataset`` with the target shifted so that ``sd / mean == ratio`` (0: unchanged)."""
    y = dataset.target
    shift = 0.0 if ratio == 0 else y.mean() - y.std() / ratio
    return mmmjax.Dataset(dates=dataset.dates, channels=dataset.channels, spend=dataset.spend,
                          target=y - shift, target_name=dataset.target_name,
                          freq=dataset.freq)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--draws", type=int, default=300)
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    rows = []
    for seed in range(args.seeds):
        data, _ = mmmjax.simulate(n_periods=104, n_channels=3, n_controls=0, seed=seed + 1)
        base = None
        for ratio in RATIOS:
            fit = mmmjax.MMM().fit(shifted(data, ratio), chains=2, draws=args.draws,
                                   warmup=args.draws, seed=0, progress=False)  # fmt: skip
            r = roi_draws(fit)
            mean, sd = r.mean(0), r.std(0)
            base = (mean, sd) if ratio == 0 else base
            moved = np.abs(mean - base[0]) / base[1]
            rhat = float(az.rhat(fit.idata.posterior).to_array().max())
            rows.append({
                "seed": seed + 1,
                "sd_over_mean": ratio,
                "negative_periods": int((fit.dataset.target < 0).sum()),
                "max_roi_shift_in_sds": float(moved.max()),
                "roi_sd_ratio_min": float((sd / base[1]).min()),
                "max_rhat": rhat,
            })  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "target_mean_cpu.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
