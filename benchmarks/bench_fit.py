"""Posterior sampling on CPU: mmmjax vs PyMC-Marketing on the real HAMS dataset, side by side.

Same model shape in both: 7 channels, geometric adstock (``l_max=8``), logistic saturation,
yearly seasonality with 2 Fourier orders, linear trend, Normal likelihood; 4 chains x (1000 warmup
+ 1000 draws) by default. Each tool keeps its own default priors and sampler settings.

* mmmjax runs in this process; wall time is measured around the whole ``MMM.fit`` call
  (compilation included), then a second fit of the same shape with another seed shows what
  compile caching saves.
* PyMC-Marketing runs in its own virtual environment (``--pymc-python``) through
  ``_pymc_marketing_fit.py``, once with PyMC's own NUTS and once with ``nuts_sampler="numpyro"``;
  its wall time is likewise the whole ``fit`` call, in a fresh process.

Runs are interleaved (mmmjax, PyMC, mmmjax, PyMC/NumPyro) so that drifting background load on a
shared machine hits both tools. Efficiency is min bulk ESS over the sampled parameters divided by
wall seconds (and per CPU second, which shared-machine load distorts less); the ratio columns are
mmmjax's (first, compile-included) fit's rate over each row's.

Usage:
    python benchmarks/bench_fit.py                         # full comparison, writes results/
    python benchmarks/bench_fit.py --quick --skip-pymc --out /tmp/b   # seconds: smoke test
    python benchmarks/bench_fit.py --pymc-python /path/to/venv/bin/python
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

# arviz 0.2x announces its 1.0 refactor with a FutureWarning on import; not actionable here.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"arviz(\..*)?")
warnings.filterwarnings("ignore", message=r".*arviz.*", category=FutureWarning)

# The environment before mmmjax is imported (mmmjax sets XLA_FLAGS and JAX_COMPILATION_CACHE_DIR
# for itself); PyMC-Marketing's subprocess starts from this, not from mmmjax's settings.
ENV0 = dict(os.environ)
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "MMM_test_data.csv"
DEFAULT_PYMC_PYTHON = Path("/work/pymc-venv/bin/python")
CHANNELS = [f"spend_channel_{i}" for i in range(1, 8)]
SHAPE = {"adstock": "geometric", "saturation": "logistic", "l_max": 8, "seasonality": 2}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="HAMS CSV (MMM_test_data.csv)")
    ap.add_argument("--chains", type=int, default=None, help="default 4 (2 with --quick)")
    ap.add_argument("--draws", type=int, default=None, help="default 1000 (100 with --quick)")
    ap.add_argument("--warmup", type=int, default=None, help="default 1000 (100 with --quick)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="2 chains x 100/100; no PyMC by default")
    ap.add_argument("--with-pymc", action="store_true", help="run PyMC-Marketing with --quick too")
    ap.add_argument("--skip-pymc", action="store_true", help="mmmjax only")
    ap.add_argument(
        "--pymc-python",
        type=Path,
        default=DEFAULT_PYMC_PYTHON,
        help="python of a venv with pymc-marketing and numpyro",
    )
    ap.add_argument(
        "--pymc-host-devices",
        type=int,
        default=None,
        help="JAX host devices for the NumPyro backend (default: --chains, as mmmjax sets up; "
        "0 leaves JAX at one device, so NumPyro runs the chains one after another)",
    )
    ap.add_argument(
        "--cold-cache",
        action="store_true",
        help="start both tools from empty on-disk compilation caches (mmmjax's JAX cache, "
        "pytensor's compiledir) in a temporary folder; default: each tool's usual cache",
    )
    ap.add_argument("--pymc-timeout", type=float, default=3600.0, help="seconds per PyMC fit")
    ap.add_argument("--out", type=Path, default=HERE / "results", help="writes fit_cpu.{json,md}")
    args = ap.parse_args(argv)
    quick = args.quick
    args.chains = args.chains or (2 if quick else 4)
    args.draws = args.draws or (100 if quick else 1000)
    args.warmup = args.warmup or (100 if quick else 1000)
    args.run_pymc = not args.skip_pymc and (not quick or args.with_pymc)
    return args


# -- machine -----------------------------------------------------------------------------------
def git_state() -> dict[str, object]:
    def git(*a: str) -> str:
        try:
            r = subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True, timeout=10)
            return r.stdout.rstrip() if r.returncode == 0 else ""
        except (OSError, subprocess.SubprocessError):
            return ""

    dirty = [ln[3:] for ln in git("status", "--porcelain", "--", "mmmjax").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD"), "mmmjax_uncommitted": dirty}


def machine() -> dict[str, object]:
    import arviz
    import jax
    import numpyro

    import mmmjax
    from mmmjax.bench import cpu_model  # after ENV0 is taken

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "jax_devices": f"{jax.local_device_count()} x {jax.devices()[0].platform}",
        "versions": {
            "mmmjax": mmmjax.__version__,
            "jax": jax.__version__,
            "numpyro": numpyro.__version__,
            "arviz": arviz.__version__,
        },
        "git": git_state(),
    }


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (all threads) and its finished children."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def compile_cache_state() -> dict[str, object]:
    """mmmjax's persistent JAX compilation cache (set up at import) and how full it is now."""
    import jax

    where = os.environ.get("JAX_COMPILATION_CACHE_DIR") or jax.config.jax_compilation_cache_dir
    if not where:
        return {"dir": None, "entries_before": 0}
    path = Path(where)
    n = sum(1 for _ in path.iterdir()) if path.is_dir() else 0
    return {"dir": str(path), "entries_before": n}


# -- mmmjax ------------------------------------------------------------------------------------
def fit_mmmjax(ds, args: argparse.Namespace, seed: int, label: str) -> dict[str, object]:
    import mmmjax

    spec = mmmjax.MMM(**SHAPE, trend="linear")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cpu0, start = cpu_seconds(), time.perf_counter()
        fit = spec.fit(
            ds, chains=args.chains, draws=args.draws, warmup=args.warmup, seed=seed, progress=False
        )
        wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu0
    d = fit.diagnostics()
    return {
        "tool": "mmmjax",
        "sampler": f"numpyro-nuts ({fit.info.get('chain_method', '?')})",
        "label": label,
        "seed": seed,
        "wall_s": wall,
        "cpu_s": cpu,
        "sampling_s": float(fit.info["seconds"]),
        "min_ess_bulk": float(d["min_ess_bulk"]),
        "min_ess_tail": float(d["min_ess_tail"]),
        "max_r_hat": float(d["max_r_hat"]),
        "divergences": int(d["divergences"]),
        "steps_per_draw": float(fit.idata.sample_stats["n_steps"].mean()),
        "worst": {k: d.get(k) for k in ("worst_r_hat", "worst_ess_bulk", "worst_ess_tail")},
        "free_variables": list(fit.idata.posterior.data_vars),
        "warnings": sorted({str(w.message).split("\n")[0] for w in caught}),
    }


# -- PyMC-Marketing ----------------------------------------------------------------------------
def fit_pymc(args: argparse.Namespace, sampler: str) -> dict[str, object]:
    cmd = [
        str(args.pymc_python),
        str(HERE / "_pymc_marketing_fit.py"),
        "--data",
        str(args.data),
        "--sampler",
        sampler,
        "--chains",
        str(args.chains),
        "--draws",
        str(args.draws),
        "--tune",
        str(args.warmup),
        "--seed",
        str(args.seed),
        "--l-max",
        str(SHAPE["l_max"]),
        "--seasonality",
        str(SHAPE["seasonality"]),
    ]
    env = {k: v for k, v in ENV0.items() if k not in ("XLA_FLAGS", "MMMJAX_HOST_DEVICES")}
    env["PYTHONWARNINGS"] = "ignore"
    if args.cold_cache:
        env["PYTENSOR_FLAGS"] = f"base_compiledir={args.cold_cache / 'pytensor'}"
    devices = args.chains if args.pymc_host_devices is None else args.pymc_host_devices
    if sampler == "numpyro" and devices > 0:
        # mmmjax exposes max(cores, 4) host devices so its chains run in parallel; give
        # PyMC's NumPyro backend the same, else NumPyro draws the chains sequentially.
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    print(f"  $ {' '.join(cmd)}", flush=True)
    kids0, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.pymc_timeout)
    except subprocess.TimeoutExpired:
        return {"tool": "pymc-marketing", "sampler": sampler, "error": "timed out"}
    process_s = time.perf_counter() - start
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    process_cpu = kids.ru_utime + kids.ru_stime - kids0.ru_utime - kids0.ru_stime
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not lines:
        tail = "\n".join(r.stderr.strip().splitlines()[-15:])
        print(f"  PyMC-Marketing ({sampler}) failed, rc={r.returncode}:\n{tail}", flush=True)
        return {"tool": "pymc-marketing", "sampler": sampler, "error": tail}
    out = json.loads(lines[-1])
    out["label"] = "PyMC NUTS" if sampler == "default" else "NumPyro NUTS"
    out["process_s"] = process_s  # includes interpreter start and imports
    out["process_cpu_s"] = process_cpu  # the same, in CPU seconds (helper and its workers)
    out["jax_host_devices"] = devices if sampler == "numpyro" else None
    return out


# -- report ------------------------------------------------------------------------------------
def fmt(x: object, spec: str = ".1f") -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float) and x != x:
        return "nan"
    return format(x, spec)


def add_rates(rows: list[dict], ref: dict) -> None:
    for r in rows:
        if "error" in r:
            continue
        r["ess_per_s"] = r["min_ess_bulk"] / r["wall_s"]
        r["ess_per_cpu_s"] = r["min_ess_bulk"] / r["cpu_s"] if r.get("cpu_s") else None
        r["mmmjax_ratio"] = _ratio(ref["ess_per_s"], r["ess_per_s"])
        r["mmmjax_ratio_cpu"] = _ratio(ref["ess_per_cpu_s"], r["ess_per_cpu_s"])


def ratios(runs: list[dict]) -> dict[str, dict[str, float | None]]:
    """mmmjax's rates over each PyMC-Marketing backend's, for its first and second fit."""
    ours = {r["label"]: r for r in runs if r["tool"] == "mmmjax" and "error" not in r}
    out = {}
    for r in runs:
        if r["tool"] == "mmmjax" or "error" in r:
            continue
        out[r["label"]] = {
            f"{key}_{fit.replace(' ', '_')}": _ratio(ours[fit][key], r[key])
            for fit in ours
            for key in ("ess_per_s", "ess_per_cpu_s")
        }
    return out


def cache_note(cache: dict, cold: bool) -> str:
    if cold:
        return (
            "--cold-cache: both tools started from empty on-disk compilation caches (mmmjax's "
            "JAX cache, pytensor's compiledir), so the first fits include all compilation."
        )
    if not cache.get("dir"):
        return "mmmjax ran without a persistent compilation cache."
    state = (
        "from earlier runs, not necessarily of this shape" if cache["entries_before"] else "cold"
    )
    return (
        f"mmmjax's persistent JAX compilation cache ({cache['dir']}) held "
        f"{cache['entries_before']} entries before the first fit ({state}); pytensor's on-disk "
        "compiledir was in its usual state. Run with --cold-cache to time both from empty caches."
    )


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def markdown(result: dict) -> str:
    m, cfg, rows = result["machine"], result["config"], result["runs"]
    v, pv = dict(m["versions"]), {}
    for r in rows:
        pv.update(r.get("versions", {}) if r["tool"] == "pymc-marketing" else {})
    vers = ", ".join(f"{k} {val}" for k, val in v.items())
    if pv:
        vers += "; PyMC-Marketing venv: " + ", ".join(f"{k} {val}" for k, val in pv.items())
    lines = [
        "# Posterior sampling on CPU: mmmjax vs PyMC-Marketing",
        "",
        f"HAMS data ({cfg['periods']} weeks, {len(CHANNELS)} channels); geometric adstock "
        f"(l_max={SHAPE['l_max']}), logistic saturation, {SHAPE['seasonality']} Fourier orders, "
        f"linear trend; {cfg['chains']} chains x ({cfg['warmup']} warmup + {cfg['draws']} draws).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['platform']}, Python {m['python']}; "
        f"{m['date']}. mmmjax git {m['git']['commit']}"
        + (
            f" (+ uncommitted: {', '.join(m['git']['mmmjax_uncommitted'])})"
            if m["git"]["mmmjax_uncommitted"]
            else ""
        )
        + ".",
        "",
        f"Versions: {vers}.",
        "",
        "| tool / backend | load | wall s | sampler s | CPU s | min bulk ESS | min tail ESS "
        "| ESS/s | ESS/CPU-s | divergences | max r-hat | steps/draw "
        "| mmmjax ESS/s ÷ this | mmmjax ESS/CPU-s ÷ this |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        name = f"{r['tool']} / {r['label']}"
        if "error" in r:
            lines.append(f"| {name} | failed |{' |' * 12}")
            continue
        cells = [
            name,
            fmt(r.get("load_1min"), ".1f"),
            fmt(r["wall_s"]),
            fmt(r.get("sampling_s")),
            fmt(r.get("cpu_s")),
            fmt(r["min_ess_bulk"], ".0f"),
            fmt(r["min_ess_tail"], ".0f"),
            fmt(r["ess_per_s"], ".2f"),
            fmt(r["ess_per_cpu_s"], ".2f"),
            str(r["divergences"]),
            fmt(r["max_r_hat"], ".3f"),
            fmt(r.get("steps_per_draw"), ".1f"),
            fmt(r["mmmjax_ratio"], ".2f"),
            fmt(r["mmmjax_ratio_cpu"], ".2f"),
        ]
        lines.append(f"| {' | '.join(cells)} |")
    lines += ["", *(f"- {n}" for n in result["notes"])]
    return "\n".join(lines) + "\n"


NOTES = [
    "wall s: the whole `fit` call (model build, compilation, warmup, sampling, post-processing); "
    "ESS/s = min bulk ESS / wall s. Bulk/tail ESS and r-hat: arviz, minimum (maximum) over every "
    "element of every sampled parameter, no deterministics.",
    "CPU s: user + system CPU seconds of the fit (all threads, and PyMC's chain worker "
    "processes); ESS/CPU-s = min bulk ESS / CPU s is far less sensitive than wall time to other "
    "jobs on a shared machine. load: the 1-minute load average just before the fit (this "
    "machine has 2 cores; a load well above 2 means the wall times are inflated).",
    "steps/draw: mean leapfrog steps (gradient evaluations) per kept draw, a measure of how "
    "hard each posterior is for NUTS, independent of how fast each engine evaluates a gradient.",
    "sampler s: mmmjax `fit.info['seconds']` (the NUTS run, its compilation included); PyMC "
    "`sampling_time` (PyMC NUTS: the tune+draw loop after compilation; NumPyro: the jitted run).",
    "Imports are not timed for either tool: mmmjax.fit (with arviz) is imported before the first "
    "fit, as _pymc_marketing_fit.py imports pymc_marketing (with pymc and arviz) before its fit. "
    "mmmjax first fit: the first in this process; second fit: same shape, seed+1, same process, "
    "so the compiled sampler is reused from memory. The ratio columns divide the first fit's "
    "rate by each row's (the JSON `ratios` also has the second fit's).",
    "PyMC's NUTS runs its chains in parallel processes (pm.sample's default cores = "
    "min(4, CPU count)); PyMC-Marketing's NumPyro backend gets as many JAX host devices as "
    "chains (XLA_FLAGS, as mmmjax sets up itself), so its chains run in parallel too.",
    "Each PyMC-Marketing fit runs in a fresh process (its wall time covers that process's "
    "pytensor/JAX compilation; pytensor keeps compiled C modules on disk between runs, "
    "PyMC's NumPyro path keeps nothing).",
    "Model differences: PyMC-Marketing uses `pymc_marketing.mmm.multidimensional.MMM` with its "
    "default priors (Beta(1,3) carryover, Gamma(3,1) logistic lam, HalfNormal(2) channel beta, "
    "Laplace(0,1) Fourier, Normal(0,2) intercept and trend, HalfNormal(2) sigma), target and "
    "spend scaled by their max, adstock truncated at l_max=8 lags, trend as a control column "
    "t = 0..T-1, NUTS target_accept 0.8. mmmjax samples each channel's window ROI "
    "(contribution over spend in the data window, LogNormal(0,1)) instead of an amplitude, "
    "with Beta(2,2) carryover, Gamma(2,1) lam, "
    "Normal(0,0.15) Fourier, Normal(0,0.25) trend, HalfNormal(0.2) sigma, scales by means, "
    "uses the exact infinite-horizon normalised geometric adstock (l_max does not apply), "
    "target_accept 0.85. Both have 28 "
    "sampled scalars: intercept, trend slope, 4 Fourier coefficients, 3 x 7 channel "
    "parameters, sigma.",
]


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if not args.data.is_file():
        sys.exit(f"data file not found: {args.data} (pass --data PATH)")
    if args.cold_cache:
        args.cold_cache = Path(tempfile.mkdtemp(prefix="bench_fit_cache_"))
        os.environ["JAX_COMPILATION_CACHE_DIR"] = str(args.cold_cache / "jax")
    import mmmjax
    import mmmjax.fit  # imports arviz, as _pymc_marketing_fit.py does before its timed fit

    cache = compile_cache_state()

    info = machine()
    ds = mmmjax.Dataset.from_csv(
        args.data, date="start_of_week", target="revenue", channels=CHANNELS
    )
    print(f"{info['cpu']}, {info['cores']} cores, {info['date']}; JAX {info['jax_devices']}")
    print(f"{ds.n_periods} periods; {args.chains} chains x ({args.warmup} + {args.draws})")

    run_pymc = args.run_pymc
    if run_pymc and not args.pymc_python.exists():
        print(
            f"note: {args.pymc_python} not found; skipping PyMC-Marketing "
            "(make it with: python3 -m venv /work/pymc-venv && "
            "/work/pymc-venv/bin/pip install pymc-marketing numpyro)"
        )
        run_pymc = False

    # Interleaved: mmmjax, PyMC, mmmjax, PyMC/NumPyro.
    plan = [("mmmjax", args.seed, "first fit")]
    if run_pymc:
        plan.append(("pymc", "default", None))
    plan.append(("mmmjax", args.seed + 1, "second fit"))
    if run_pymc:
        plan.append(("pymc", "numpyro", None))
    runs = []
    for tool, what, label in plan:
        print(f"- {tool} {label or what} ...", flush=True)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        r = fit_mmmjax(ds, args, what, label) if tool == "mmmjax" else fit_pymc(args, what)
        r["load_1min"] = load
        if "error" not in r:
            msg = f"  wall {r['wall_s']:.1f} s, min bulk ESS {r['min_ess_bulk']:.0f}, "
            print(
                f"{msg}divergences {r['divergences']}, max r-hat {r['max_r_hat']:.3f}", flush=True
            )
        runs.append(r)
    order = {"first fit": 0, "second fit": 1, "PyMC NUTS": 2, "NumPyro NUTS": 3}
    runs.sort(key=lambda r: order.get(r.get("label", ""), 9))
    add_rates(runs, runs[0])

    result = {
        "benchmark": "fit_cpu",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": info,
        "config": {
            "data": args.data.name,
            "periods": ds.n_periods,
            "channels": CHANNELS,
            **SHAPE,
            "trend": "linear",
            "chains": args.chains,
            "draws": args.draws,
            "warmup": args.warmup,
            "seed": args.seed,
            "quick": args.quick,
        },
        "runs": runs,
        "ratios": ratios(runs),
        "compile_cache": {**cache, "cold_cache": bool(args.cold_cache)},
        "notes": [*NOTES, cache_note(cache, bool(args.cold_cache))],
    }
    if not run_pymc:
        result["notes"].append("PyMC-Marketing was not run.")
    if args.cold_cache:
        shutil.rmtree(args.cold_cache, ignore_errors=True)
    md = markdown(result)
    print()
    print(md)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fit_cpu.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "fit_cpu.md").write_text(md)
    print(f"wrote {args.out / 'fit_cpu.json'} and {args.out / 'fit_cpu.md'}")
    return result


if __name__ == "__main__":
    main()
