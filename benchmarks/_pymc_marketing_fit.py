"""PyMC-Marketing side of ``bench_fit.py``: fit the same MMM shape, print one JSON line.

Runs inside a separate virtual environment that has ``pymc-marketing`` (never mmmjax's venv)::

    /work/pymc-venv/bin/python benchmarks/_pymc_marketing_fit.py --data MMM_test_data.csv \
        --sampler nutpie --chains 4 --draws 1000 --tune 1000 --seed 0

Model: ``pymc_marketing.mmm.MMM`` (1.x; ``pymc_marketing.mmm.multidimensional.MMM`` is the same
class) with ``GeometricAdstock(l_max=8)``, ``LogisticSaturation()``, ``yearly_seasonality=2`` and a
linear trend as a control column ``t`` = 0..T-1, default priors, the progress bar as a user gets it
(``--no-progress`` turns it off). ``--sampler`` picks PyMC's NUTS, NumPyro or nutpie.
Wall time is measured around the whole ``fit`` call (model build, compilation, sampling and the
deterministics PyMC-Marketing computes afterwards). Convergence is summarised over the model's
free random variables only (``model.free_RVs``: no deterministics such as channel contributions).
The last stdout line is the JSON result; everything else goes to stderr.
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
warnings.filterwarnings("ignore", category=UserWarning)
warnings.filterwarnings("ignore", category=DeprecationWarning)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--sampler", choices=("default", "numpyro", "nutpie"), default="default")
    ap.add_argument(
        "--no-progress", action="store_true", help="progressbar=False (default: the user's default)"
    )
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--l-max", type=int, default=8)
    ap.add_argument("--seasonality", type=int, default=2)
    args = ap.parse_args()

    # Library chatter (sampler banners, progress) goes to stderr; stdout is the JSON line only.
    with contextlib.redirect_stdout(sys.stderr):
        result = run(args)
    print(json.dumps(result), flush=True)


def run(args: argparse.Namespace) -> dict:
    import arviz as az
    import numpy as np
    import pandas as pd
    import pymc
    import pymc_marketing
    import pytensor
    from pymc_marketing.mmm import GeometricAdstock, LogisticSaturation
    from pymc_marketing.mmm.multidimensional import MMM

    df = pd.read_csv(args.data)
    df["start_of_week"] = pd.to_datetime(df["start_of_week"], format="%d-%m-%y")
    channels = [c for c in df.columns if c.startswith("spend_channel_")]
    df["t"] = np.arange(len(df), dtype=np.float64)
    X = df[["start_of_week", *channels, "t"]]
    y = df["revenue"].rename("revenue")

    mmm = MMM(
        date_column="start_of_week",
        target_column="revenue",
        channel_columns=channels,
        control_columns=["t"],
        adstock=GeometricAdstock(l_max=args.l_max),
        saturation=LogisticSaturation(),
        yearly_seasonality=args.seasonality,
    )
    kwargs = {"chains": args.chains, "draws": args.draws, "tune": args.tune}
    if args.sampler != "default":
        kwargs["nuts_sampler"] = args.sampler
    if args.no_progress:
        kwargs["progressbar"] = False
    cpu0, start = cpu_seconds(), time.perf_counter()
    idata = mmm.fit(X, y, random_seed=args.seed, **kwargs)
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu0

    free = [rv.name for rv in mmm.model.free_RVs]
    posterior = idata.posterior
    posterior = getattr(posterior, "dataset", posterior)  # ArviZ 1.x: a DataTree node
    post = posterior[free]
    ess_bulk = az.ess(post, method="bulk")
    ess_tail = az.ess(post, method="tail")
    rhat = az.rhat(post)
    n_scalars = sum(int(np.prod(post[v].shape[2:])) for v in free)
    stats = idata.sample_stats
    stats = getattr(stats, "dataset", stats)
    sampling = stats.attrs.get("sampling_time", posterior.attrs.get("sampling_time"))
    return {
        "tool": "pymc-marketing",
        "sampler": {"default": "pymc-nuts", "numpyro": "numpyro-nuts", "nutpie": "nutpie"}[
            args.sampler
        ],
        "wall_s": wall,
        "cpu_s": cpu,
        "sampling_s": None if sampling is None else float(sampling),
        "min_ess_bulk": min(float(ess_bulk[v].min()) for v in free),
        "min_ess_tail": min(float(ess_tail[v].min()) for v in free),
        "max_r_hat": max(float(rhat[v].max()) for v in free),
        "divergences": int(np.asarray(stats["diverging"]).sum()),
        "steps_per_draw": _steps_per_draw(stats),
        "free_variables": free,
        "n_free_scalars": n_scalars,
        "chains": args.chains,
        "draws": args.draws,
        "tune": args.tune,
        "seed": args.seed,
        "versions": {
            "pymc-marketing": pymc_marketing.__version__,
            "pymc": pymc.__version__,
            "pytensor": pytensor.__version__,
            "arviz": az.__version__,
            **_jax_versions(args.sampler),
        },
    }


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (all threads) and its finished children (PyMC's
    chain worker processes)."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _steps_per_draw(stats) -> float | None:
    for name in ("n_steps", "tree_size", "n_leapfrog"):  # PyMC / NumPyro, nutpie
        if name in stats:
            return float(stats[name].mean())
    return None


def _jax_versions(sampler: str) -> dict:
    if sampler == "nutpie":
        import nutpie

        return {"nutpie": nutpie.__version__}
    if sampler != "numpyro":
        return {}
    import jax
    import numpyro

    return {"numpyro": numpyro.__version__, "jax": jax.__version__}


if __name__ == "__main__":
    main()
