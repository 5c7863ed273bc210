"""Meridian side of ``bench_fit.py``: fit a CSV with Meridian's defaults, print one JSON line.

Runs inside its own virtual environment with ``google-meridian`` (never mmmjax's venv)::

    /work/meridian-venv/bin/python benchmarks/_meridian_fit.py --data national.csv \
        --time time --kpi revenue --spend Channel0_spend,Channel1_spend \
        --controls competitor_sales_control --chains 4 --adapt 500 --burnin 500 --keep 1000

The KPI is revenue (``kpi_type="revenue"``), each channel's spend column is both its media and
its spend (the same data mmmjax gets), and the model is ``Meridian(input_data,
ModelSpec())`` with every default (ROI priors, geometric adstock, Hill saturation, its default
knots). Sampling is Meridian's ``sample_posterior`` (TFP's windowed adaptive NUTS); warm-up is
``n_adapt + n_burnin`` iterations, as mmmjax's ``warmup``. Wall time covers building the model
and ``sample_posterior`` (its compilation included), not the imports. ESS and r-hat are taken
over the sampled parameters saved in the posterior (no derived quantities such as ``mu_t``,
``tau_g``, ``beta_gm``, ``gamma_gc``, ``roi``-derived curves); constant ones are skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import sys
import tempfile
import time
import warnings

warnings.filterwarnings("ignore")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SAMPLED = ("knot_values", "gamma_c", "xi_c", "sigma", "roi_m", "alpha_m", "ec_m", "slope_m",
           "eta_m")  # fmt: skip


def cpu_seconds() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--time", default="time")
    ap.add_argument("--kpi", default="revenue")
    ap.add_argument("--spend", required=True, help="comma-separated spend columns")
    ap.add_argument("--controls", default="")
    ap.add_argument("--geo", default=None)
    ap.add_argument("--population", default=None)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--adapt", type=int, default=500)
    ap.add_argument("--burnin", type=int, default=500)
    ap.add_argument("--keep", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with contextlib.redirect_stdout(sys.stderr):
        result = run(args)
    print(json.dumps(result), flush=True)


def run(args: argparse.Namespace) -> dict:
    import arviz as az
    import meridian
    import numpy as np
    import pandas as pd
    import tensorflow as tf
    from meridian.data import load
    from meridian.model import model, spec

    spend = [c for c in args.spend.split(",") if c]
    controls = [c for c in args.controls.split(",") if c]
    df = pd.read_csv(args.data)
    with tempfile.TemporaryDirectory() as tmp:
        # Meridian's loader wants distinct media and spend columns: copy each spend column.
        media = [f"{c}__media" for c in spend]
        for m, c in zip(media, spend, strict=True):
            df[m] = df[c]
        path = os.path.join(tmp, "data.csv")
        df.to_csv(path, index=False)
        cols = {"time": args.time, "kpi": args.kpi, "media": media, "media_spend": spend}
        if controls:
            cols["controls"] = controls
        if args.geo:
            cols["geo"] = args.geo
        if args.population:
            cols["population"] = args.population
        loader = load.CsvDataLoader(
            csv_path=path,
            kpi_type="revenue",
            coord_to_columns=load.CoordToColumns(**cols),
            media_to_channel={m: c for m, c in zip(media, spend, strict=True)},
            media_spend_to_channel={c: c for c in spend},
        )
        data = loader.load()

    cpu0, start = cpu_seconds(), time.perf_counter()
    mmm = model.Meridian(input_data=data, model_spec=spec.ModelSpec())
    mmm.sample_posterior(
        n_chains=args.chains,
        n_adapt=args.adapt,
        n_burnin=args.burnin,
        n_keep=args.keep,
        seed=args.seed,
    )
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu0

    idata = mmm.inference_data
    post = idata.posterior
    post = getattr(post, "dataset", post)
    names = [v for v in SAMPLED if v in post and float(post[v].std()) > 0]
    sub = post[names]
    ess_bulk, ess_tail, rhat = (
        az.ess(sub, method="bulk"), az.ess(sub, method="tail"), az.rhat(sub)
    )  # fmt: skip
    stats = idata.sample_stats
    stats = getattr(stats, "dataset", stats)
    steps = None
    for name in ("n_steps", "tree_size", "n_leapfrog"):
        if name in stats:
            steps = float(np.asarray(stats[name]).mean())
            break
    div = int(np.asarray(stats["diverging"]).sum()) if "diverging" in stats else None
    return {
        "tool": "meridian",
        "sampler": "tfp windowed adaptive NUTS",
        "label": "Meridian",
        "wall_s": wall,
        "cpu_s": cpu,
        "min_ess_bulk": min(float(ess_bulk[v].min()) for v in names),
        "min_ess_tail": min(float(ess_tail[v].min()) for v in names),
        "max_r_hat": max(float(rhat[v].max()) for v in names),
        "divergences": div,
        "steps_per_draw": steps,
        "free_variables": names,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "chains": args.chains,
        "draws": args.keep,
        "warmup": args.adapt + args.burnin,
        "seed": args.seed,
        "versions": {
            "google-meridian": meridian.__version__,
            "tensorflow": tf.__version__,
            "arviz": az.__version__,
        },
    }


if __name__ == "__main__":
    main()
