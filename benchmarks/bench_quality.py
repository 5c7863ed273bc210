"""Fit quality of the default model against the ridge baseline on three data sets.

For each data set the default :class:`mmmjax.MMM` is fitted twice (all periods, for the in-sample
R²; all but the last 13 weeks, for the holdout MAPE) and compared with
:func:`mmmjax.inference.validation.ridge_baseline` (adstocked spend, controls, trend and
seasonality;
closed form) on the same periods. Data sets:

- ``hams``: ``../shared/data/MMM_test_data.csv`` (104 weeks, 7 channels, no controls).
- ``meridian``: ``../shared/data/meridian/national_all_channels.csv`` (156 weeks): target
  ``conversions x revenue_per_conversion``, channels ``Channel0..4_spend``, controls
  ``competitor_sales_control``, ``sentiment_score_control`` and ``Promo``.
- ``simulated``: :func:`strong_control_case` (208 weeks, 5 channels, one control that moves the
  target far more than media do), like the outside data set of issue 16.

The goal (issue 16): in-sample R² at least the ridge's, holdout MAPE at most 1.1x the ridge's,
no divergences.

Usage::

    PYTHONPATH=. python benchmarks/bench_quality.py [--chains 4 --draws 1000] [--sets hams,...]

Writes ``benchmarks/results/quality_cpu.json`` and ``quality_cpu.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

import mmmjax
from mmmjax.inference import validation

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
HAMS = SHARED / "MMM_test_data.csv"
MERIDIAN = SHARED / "meridian" / "national_all_channels.csv"
N_TEST = 13


def hams() -> mmmjax.Dataset:
    """HAMS: weekly revenue and 7 spend channels."""
    return mmmjax.Dataset.from_csv(
        HAMS,
        date="start_of_week",
        target="revenue",
        channels=[f"spend_channel_{i}" for i in range(1, 8)],
    )


def meridian() -> mmmjax.Dataset:
    """Meridian's national_all_channels: revenue = conversions x revenue per conversion."""
    df = pd.read_csv(MERIDIAN)
    df["revenue"] = df["conversions"] * df["revenue_per_conversion"]
    return mmmjax.Dataset.from_frame(
        df,
        date="time",
        target="revenue",
        channels=[f"Channel{i}_spend" for i in range(5)],
        controls=["competitor_sales_control", "sentiment_score_control", "Promo"],
    )


def strong_control_case(seed: int = 0, strength: float = 0.25) -> mmmjax.Dataset:
    """208 weeks, 5 channels and one strong control (``strength`` x mean target per sd).

    :func:`mmmjax.simulate` with no controls, plus a smooth AR(1) ``demand_index`` (unit sd)
    whose effect, ``strength`` times the mean target per standard deviation, is added to the
    target: a control several times stronger than the simulator's own (2-5% per sd).
    """
    ds, _ = mmmjax.simulate(n_periods=208, n_channels=5, n_controls=0, seed=seed)
    rng = np.random.default_rng(10_000 + seed)
    z = np.zeros(ds.n_periods)
    for t in range(1, ds.n_periods):  # AR(1), phi 0.8, runs once per data set
        z[t] = 0.8 * z[t - 1] + rng.normal(0.0, 0.6)
    z = (z - z.mean()) / z.std()
    df = ds.to_frame()
    df[ds.target_name] = df[ds.target_name] + strength * float(np.mean(ds.target)) * z
    df["demand_index"] = np.round(z, 4)
    return mmmjax.Dataset.from_frame(
        df, date=ds.date_name, target=ds.target_name, channels=ds.channels,
        controls=["demand_index"],
    )  # fmt: skip


DATASETS = {"hams": hams, "meridian": meridian, "simulated": strong_control_case}


def measure(dataset, spec=None, *, chains=4, draws=1000, warmup=1000, seed=0) -> dict:
    """In-sample R² and 13-week holdout MAPE of ``spec`` (default MMM) and of the ridge."""
    spec = spec or mmmjax.MMM()
    kw = dict(chains=chains, draws=draws, warmup=warmup, seed=seed, progress=False, warn=False)
    t0 = time.perf_counter()
    fit = spec.fit(dataset, **kw)
    ins = validation.in_sample(fit)
    ho = validation.holdout(spec, dataset, N_TEST, **kw)
    ridge_in = validation.ridge_baseline(dataset)
    ridge_ho = validation.ridge_baseline(dataset, n_test=N_TEST)
    comp = fit.components()
    media = float(comp.media.sum(-1).mean() / comp.mu.mean())  # additive form
    d_in, d_ho = fit.diagnostics(), ho.fit.diagnostics()
    return {
        "r2": ins.r2,
        "ridge_r2": ridge_in.r2_in,
        "holdout_mape": ho.mape,
        "ridge_holdout_mape": ridge_ho.mape_out,
        "mape_ratio": ho.mape / ridge_ho.mape_out,
        "divergences": d_in["divergences"] + d_ho["divergences"],
        "max_rhat": max(d_in["max_r_hat"], d_ho["max_r_hat"]),
        "media_share": media,
        "seconds": time.perf_counter() - t0,
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sets", default=",".join(DATASETS))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args(argv)
    warmup = args.warmup if args.warmup is not None else args.draws
    rows = {}
    for name in args.sets.split(","):
        rows[name] = measure(
            DATASETS[name](), chains=args.chains, draws=args.draws, warmup=warmup, seed=args.seed
        )
        r = rows[name]
        print(
            f"{name:10s} R2 {r['r2']:.3f} (ridge {r['ridge_r2']:.3f})  holdout MAPE "
            f"{100 * r['holdout_mape']:.2f}% (ridge {100 * r['ridge_holdout_mape']:.2f}%, "
            f"ratio {r['mape_ratio']:.2f})  divergences {r['divergences']}  media share "
            f"{r['media_share']:.2f}  {r['seconds']:.0f}s",
            flush=True,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"chains": args.chains, "draws": args.draws, "warmup": warmup, "seed": args.seed}
    (args.out / "quality_cpu.json").write_text(json.dumps({"settings": meta, "results": rows},
                                                          indent=2))  # fmt: skip
    lines = [
        "# Fit quality: default MMM vs ridge baseline",
        "",
        f"{args.chains} chains x ({warmup} warmup + {args.draws} draws), seed {args.seed}; "
        f"holdout: last {N_TEST} weeks.",
        "",
        "| data | R² | ridge R² | holdout MAPE | ridge MAPE | ratio | divergences | media share |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['r2']:.3f} | {r['ridge_r2']:.3f} | {100 * r['holdout_mape']:.2f}% | "
            f"{100 * r['ridge_holdout_mape']:.2f}% | {r['mape_ratio']:.2f} | {r['divergences']} "
            f"| {r['media_share']:.2f} |"
        )
    (args.out / "quality_cpu.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
