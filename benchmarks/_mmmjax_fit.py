"""mmmjax side of ``bench_fit.py``: one new process, one or two fits, one JSON line per fit.

Runs the fit a user runs: ``MMM.fit`` with its defaults (progress bar on, default chain method),
in a fresh interpreter, so the first fit pays what a new process pays (tracing, lowering, and
compiling or loading from JAX's on-disk cache). ``--second`` fits the same shape again with
``seed + 1`` in the same process (the compiled sampler is then reused from memory)::

    python benchmarks/_mmmjax_fit.py --case hams --data MMM_test_data.csv --seed 0 --second

Cases (the data and model shape each rival sees too):

* ``hams``: the HAMS CSV, 7 spend channels; geometric adstock, logistic saturation, 2 Fourier
  orders, linear trend.
* ``meridian``: Meridian's ``national_all_channels.csv``; target conversions x revenue per
  conversion (money), the five paid channels' spend, the two controls; mmmjax's default model.
* ``geo``: a long geo CSV (``geo``, ``time``, ``population``, ``revenue``, ``spend_*``) as
  ``bench_fit.py --cases geo`` writes it; mmmjax's default model pooled over geos.

Wall time is measured around the whole fit call (imports not timed, as for the rivals);
``process_s`` adds interpreter start and imports. The last stdout lines are the JSON results.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import sys
import time
import warnings

warnings.filterwarnings("ignore", category=FutureWarning)

T0 = time.perf_counter()


def cpu_seconds() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def load(case: str, path: str):
    import pandas as pd

    import mmmjax

    if case == "hams":
        ds = mmmjax.Dataset.from_csv(
            path,
            date="start_of_week",
            target="revenue",
            channels=[f"spend_channel_{i}" for i in range(1, 8)],
        )
        spec = mmmjax.MMM(adstock="geometric", saturation="logistic", l_max=8, seasonality=2)
        return ds, spec, None
    if case == "meridian":
        df = pd.read_csv(path)
        df["revenue"] = df["conversions"] * df["revenue_per_conversion"]
        ds = mmmjax.Dataset.from_frame(
            df,
            date="time",
            target="revenue",
            channels=[f"Channel{i}_spend" for i in range(5)],
            controls=["competitor_sales_control", "sentiment_score_control"],
        )
        return ds, mmmjax.MMM(), None
    if case == "geo":
        df = pd.read_csv(path)
        channels = [c for c in df.columns if c.startswith("spend_")]
        panel = mmmjax.GeoDataset.from_frame(
            df, geo="geo", date="time", target="revenue", channels=channels,
            population="population",
        )  # fmt: skip
        return panel, mmmjax.MMM(), mmmjax.GeoMMM
    raise SystemExit(f"unknown case {case!r}")


def fit_once(case: str, ds, spec, geo_cls, args, seed: int, label: str) -> dict:
    import numpy as np

    model = spec if geo_cls is None else geo_cls(spec)
    cpu0, start = cpu_seconds(), time.perf_counter()
    fit = model.fit(ds, chains=args.chains, draws=args.draws, warmup=args.warmup, seed=seed)
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu0
    d = fit.diagnostics()
    stats = fit.idata.sample_stats
    return {
        "tool": "mmmjax",
        "case": case,
        "label": label,
        "seed": seed,
        "wall_s": wall,
        "cpu_s": cpu,
        "process_s": time.perf_counter() - T0 if label != "second fit" else None,
        "sampling_s": float(fit.info.get("seconds", float("nan"))),
        "min_ess_bulk": float(d["min_ess_bulk"]),
        "min_ess_tail": float(d["min_ess_tail"]),
        "max_r_hat": float(d["max_r_hat"]),
        "divergences": int(d["divergences"]),
        "steps_per_draw": float(np.asarray(stats["n_steps"]).mean()),
        "chain_method": fit.info.get("chain_method"),
        "peak_rss_mb": peak_rss_mb(),
        "worst": {k: d.get(k) for k in ("worst_r_hat", "worst_ess_bulk", "worst_ess_tail")},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", required=True, choices=("hams", "meridian", "geo"))
    ap.add_argument("--data", required=True)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--second", action="store_true", help="a second fit in the same process")
    ap.add_argument("--label", default="first fit")
    args = ap.parse_args()

    import jax

    import mmmjax
    import mmmjax.inference.fit  # imports arviz, as the rivals import theirs before timing

    ds, spec, geo_cls = load(args.case, args.data)
    results = []
    # The progress bar goes to stderr as users see it; stdout carries only the JSON lines.
    with contextlib.redirect_stdout(sys.stderr):
        results.append(fit_once(args.case, ds, spec, geo_cls, args, args.seed, args.label))
        if args.second:
            results.append(
                fit_once(args.case, ds, spec, geo_cls, args, args.seed + 1, "second fit")
            )
    versions = {"mmmjax": mmmjax.__version__, "jax": jax.__version__}
    for r in results:
        r["versions"] = versions
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
