"""The fit a user runs, side by side with the newest rivals: mmmjax vs PyMC-Marketing and Meridian.

Every fit runs in a fresh process with each tool's defaults (progress bars on), as a user runs
it, and the runs of one case alternate between the tools so drifting background load hits both.

Cases (``--cases``, default ``hams,meridian``; ``geo`` takes about 20 minutes on 2 cores):

* ``hams``: the real HAMS data (104 weeks, 7 spend channels), geometric adstock (``l_max=8``),
  logistic saturation, 2 Fourier orders, linear trend; against PyMC-Marketing with its NumPyro
  and its nutpie sampler (the better one counts).
* ``meridian``: Meridian's simulated ``national_all_channels.csv`` (156 weeks): target
  conversions x revenue per conversion, the five paid channels' spend, two controls; each tool's
  default model; against Meridian.
* ``geo``: a simulated panel of 20 geos x 156 weeks x 4 channels with population
  (``mmmjax.simulate_geo``), the same CSV to both; against Meridian's geo model.

Three mmmjax rows per case: **empty cache** (a new process with an empty on-disk compilation
cache: everything compiles), **warm cache** (a new process whose cache the first one filled:
what every later session of a user pays) and **second fit** (the same shape again, seed + 1, in
the warm process: the compiled sampler reused from memory). Rivals run once each in a new
process with their usual caches. Draws: 4 chains x (1000 warm-up + 1000 kept) on every side
(Meridian: ``n_adapt=500, n_burnin=500, n_keep=1000``).

ESS/s = min bulk ESS over the sampled parameters / wall seconds of the fit call (imports not
timed on any side). The ratio columns divide an mmmjax row's ESS/s (and, for the geo case, wall
time) by the best rival row's.

Usage:
    python benchmarks/bench_fit.py                          # hams + meridian -> results/
    python benchmarks/bench_fit.py --cases hams,meridian,geo
    python benchmarks/bench_fit.py --quick --skip-rivals --out /tmp/b   # smoke test
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = REPO.parent / "shared" / "data"
HAMS = SHARED / "MMM_test_data.csv"
MERIDIAN = SHARED / "meridian" / "national_all_channels.csv"
PYMC_PYTHON = Path("/work/pymc-venv/bin/python")
MERIDIAN_PYTHON = Path("/work/meridian-venv/bin/python")
MERIDIAN_SPEND = [f"Channel{i}_spend" for i in range(5)]
MERIDIAN_CONTROLS = ["competitor_sales_control", "sentiment_score_control"]
ENV0 = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "MMMJAX_HOST_DEVICES")}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="hams,meridian", help="comma-separated: hams,meridian,geo")
    ap.add_argument("--chains", type=int, default=None, help="default 4 (2 with --quick)")
    ap.add_argument("--draws", type=int, default=None, help="default 1000 (100 with --quick)")
    ap.add_argument("--warmup", type=int, default=None, help="default 1000 (100 with --quick)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="2 chains x 100/100")
    ap.add_argument("--skip-rivals", action="store_true", help="mmmjax rows only")
    ap.add_argument("--pymc-python", type=Path, default=PYMC_PYTHON)
    ap.add_argument("--meridian-python", type=Path, default=MERIDIAN_PYTHON)
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per fit")
    ap.add_argument("--out", type=Path, default=HERE / "results", help="writes fit_cpu.{json,md}")
    args = ap.parse_args(argv)
    args.chains = args.chains or (2 if args.quick else 4)
    args.draws = args.draws or (100 if args.quick else 1000)
    args.warmup = args.warmup or (100 if args.quick else 1000)
    args.cases = [c for c in args.cases.split(",") if c]
    return args


# -- machine -----------------------------------------------------------------------------------
def git_commit() -> str:
    try:
        r = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "mmmjax"], cwd=REPO, capture_output=True,
            text=True,
        ).stdout.strip()  # fmt: skip
        return r.stdout.strip() + (" (+ uncommitted changes)" if dirty else "")
    except OSError:
        return ""


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> dict[str, object]:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "git": git_commit(),
    }


# -- runs --------------------------------------------------------------------------------------
def run_json(cmd: list[str], env: dict, timeout: float) -> list[dict]:
    """Run ``cmd``; its stdout lines starting with ``{`` are the results (stderr passes through
    to a log tail on failure)."""
    print(f"  $ {' '.join(cmd)}", flush=True)
    start = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [{"error": f"timed out after {timeout:.0f} s"}]
    process_s = time.perf_counter() - start
    rows = [json.loads(ln) for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not rows:
        tail = "\n".join(r.stderr.strip().splitlines()[-12:])
        print(f"  failed (rc={r.returncode}):\n{tail}", flush=True)
        return [{"error": tail}]
    rows[0]["process_wall_s"] = process_s
    return rows


def mmmjax_rows(case: str, data: Path, args, cache: Path, label: str, second: bool) -> list[dict]:
    cmd = [sys.executable, str(HERE / "_mmmjax_fit.py"), "--case", case, "--data", str(data),
           "--chains", str(args.chains), "--draws", str(args.draws), "--warmup",
           str(args.warmup), "--seed", str(args.seed), "--label", label]  # fmt: skip
    if second:
        cmd.append("--second")
    env = dict(ENV0, JAX_COMPILATION_CACHE_DIR=str(cache), PYTHONPATH=str(REPO))
    rows = run_json(cmd, env, args.timeout)
    for r in rows:
        r.setdefault("tool", "mmmjax")
        r.setdefault("label", label)
    return rows


def pymc_row(args, sampler: str) -> dict:
    cmd = [str(args.pymc_python), str(HERE / "_pymc_marketing_fit.py"), "--data", str(HAMS),
           "--sampler", sampler, "--chains", str(args.chains), "--draws", str(args.draws),
           "--tune", str(args.warmup), "--seed", str(args.seed)]  # fmt: skip
    env = dict(ENV0, PYTHONWARNINGS="ignore")
    if sampler == "numpyro":  # as many JAX host devices as chains, so chains run in parallel
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={args.chains}"
    row = run_json(cmd, env, args.timeout)[0]
    row.setdefault("tool", "pymc-marketing")
    row["label"] = {"numpyro": "PyMC-Marketing, NumPyro NUTS", "nutpie": "PyMC-Marketing, nutpie"}[
        sampler
    ]
    return row


def meridian_row(args, data: Path, geo: bool) -> dict:
    warm = args.warmup // 2
    cmd = [str(args.meridian_python), str(HERE / "_meridian_fit.py"), "--data", str(data),
           "--chains", str(args.chains), "--adapt", str(warm), "--burnin",
           str(args.warmup - warm), "--keep", str(args.draws),
           "--seed", str(args.seed)]  # fmt: skip
    if geo:
        spend = [f"spend_{i}" for i in range(4)]
        cmd += ["--spend", ",".join(spend), "--geo", "geo", "--population", "population"]
    else:
        cmd += ["--spend", ",".join(MERIDIAN_SPEND), "--controls", ",".join(MERIDIAN_CONTROLS)]
    row = run_json(cmd, dict(ENV0, PYTHONWARNINGS="ignore"), args.timeout)[0]
    row.setdefault("tool", "meridian")
    row["label"] = "Meridian" + (" (geo)" if geo else "")
    return row


# -- data --------------------------------------------------------------------------------------
def case_data(case: str, tmp: Path) -> Path:
    """The CSV each side reads for ``case`` (HAMS as it is; the others written to ``tmp``)."""
    import pandas as pd

    if case == "hams":
        return HAMS
    if case == "meridian":
        df = pd.read_csv(MERIDIAN)
        df["revenue"] = df["conversions"] * df["revenue_per_conversion"]
        path = tmp / "meridian_national.csv"
        df.to_csv(path, index=False)
        return path
    sys.path.insert(0, str(REPO))
    import mmmjax

    panel, _ = mmmjax.simulate_geo(
        n_geos=20, n_periods=156, n_channels=4, n_controls=0, seed=0,
        channel_names=[f"spend_{i}" for i in range(4)], date_name="time",
    )  # fmt: skip
    df = panel.to_frame()
    if "population" not in df:
        df["population"] = pd.Series(panel.population).repeat(panel.n_periods).to_numpy()
    df["time"] = pd.to_datetime(df["time"]).dt.strftime("%Y-%m-%d")
    path = tmp / "geo_20x156x4.csv"
    df.to_csv(path, index=False)
    return path


def run_case(case: str, args, tmp: Path) -> list[dict]:
    if case in ("hams", "meridian") and not (HAMS if case == "hams" else MERIDIAN).is_file():
        print(f"- {case}: data not found under {SHARED}; skipped")
        return []
    data = case_data(case, tmp)
    cache = tmp / f"jax-cache-{case}"
    cache.mkdir()
    rivals: list = []
    if not args.skip_rivals:
        if case == "hams":
            if args.pymc_python.exists():
                rivals = [lambda: pymc_row(args, "numpyro"), lambda: pymc_row(args, "nutpie")]
            else:
                print(f"  note: {args.pymc_python} not found; PyMC-Marketing skipped")
        elif args.meridian_python.exists():
            rivals = [lambda: meridian_row(args, data, geo=case == "geo")]
        else:
            print(f"  note: {args.meridian_python} not found; Meridian skipped")
    plan = [lambda: mmmjax_rows(case, data, args, cache, "empty cache", second=False)]
    if rivals:
        plan.append(lambda: [rivals[0]()])
    plan.append(lambda: mmmjax_rows(case, data, args, cache, "warm cache", second=True))
    plan += [lambda r=r: [r()] for r in rivals[1:]]
    rows: list[dict] = []
    for step in plan:
        load = os.getloadavg()[0]
        for r in step():
            r["case"], r["load_1min"] = case, load
            if "error" not in r:
                r["ess_per_s"] = r["min_ess_bulk"] / r["wall_s"]
                print(
                    f"  {r['tool']} / {r['label']}: wall {r['wall_s']:.1f} s, min ESS "
                    f"{r['min_ess_bulk']:.0f}, ESS/s {r['ess_per_s']:.1f}, divergences "
                    f"{r['divergences']}, max r-hat {r['max_r_hat']:.3f}",
                    flush=True,
                )
            rows.append(r)
    best = max((r for r in rows if r["tool"] != "mmmjax" and "error" not in r),
               key=lambda r: r["ess_per_s"], default=None)  # fmt: skip
    for r in rows:
        if r["tool"] == "mmmjax" and "error" not in r and best is not None:
            r["ess_ratio"] = r["ess_per_s"] / best["ess_per_s"]
            r["wall_ratio"] = best["wall_s"] / r["wall_s"]
            r["vs"] = best["label"]
    return rows


# -- report ------------------------------------------------------------------------------------
def run_versions(runs: list[dict]) -> dict[str, str]:
    """Package versions per tool's environment (the rivals' venvs have their own arviz, jax...)."""
    versions: dict[str, str] = {}
    for r in runs:
        for k, v in r.get("versions", {}).items():
            versions[k if r["tool"] == "mmmjax" else f"{r['tool']}: {k}"] = v
    return versions


def fmt(x: object, spec: str = ".1f") -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float) and x != x:
        return "nan"
    return format(x, spec)


TITLES = {
    "hams": "HAMS (104 weeks, 7 channels): geometric + logistic, 2 Fourier orders, linear trend",
    "meridian": "Meridian's national_all_channels.csv (156 weeks, 5 paid channels, 2 controls)",
    "geo": "Simulated geo panel: 20 geos x 156 weeks x 4 channels, population",
}


def markdown(result: dict) -> str:
    m, cfg = result["machine"], result["config"]
    lines = [
        "# The fit a user runs: mmmjax vs PyMC-Marketing and Meridian (CPU)",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['platform']}, Python {m['python']}; "
        f"{m['date']}; mmmjax git {m['git']}. {cfg['chains']} chains x ({cfg['warmup']} "
        f"warm-up + {cfg['draws']} draws) on every side; defaults (progress bars on).",
    ]
    for case in cfg["cases"]:
        rows = [r for r in result["runs"] if r.get("case") == case]
        if not rows:
            continue
        lines += [
            "",
            f"## {TITLES[case]}",
            "",
            "| tool / run | load | wall s | min bulk ESS | ESS/s | divergences | max r-hat "
            "| steps/draw | peak RSS MB | ESS/s ÷ best rival | rival wall ÷ this |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            name = f"{r['tool']} / {r['label']}"
            if "error" in r:
                lines.append(f"| {name} | failed |{' |' * 9}")
                continue
            cells = [
                name, fmt(r.get("load_1min")), fmt(r["wall_s"]), fmt(r["min_ess_bulk"], ".0f"),
                fmt(r["ess_per_s"]), str(r.get("divergences")), fmt(r["max_r_hat"], ".3f"),
                fmt(r.get("steps_per_draw")), fmt(r.get("peak_rss_mb"), ".0f"),
                fmt(r.get("ess_ratio"), ".1f"), fmt(r.get("wall_ratio"), ".1f"),
            ]  # fmt: skip
            lines.append(f"| {' | '.join(cells)} |")
    lines += ["", *(f"- {n}" for n in result["notes"])]
    return "\n".join(lines) + "\n"


NOTES = [
    "wall s: the whole fit call in a new process (model build, tracing, compilation or cache "
    "load, warm-up, sampling, assembling results); imports are not timed on any side. ESS/s = "
    "min bulk ESS / wall s. ESS and r-hat: ArviZ, over every element of every sampled parameter.",
    "mmmjax rows: 'empty cache' = new process, empty on-disk JAX compilation cache; 'warm cache' "
    "= new process, the cache the first process filled; 'second fit' = same shape, seed + 1, in "
    "the warm process. Rivals: one new process each, their usual on-disk caches (pytensor's "
    "compiledir; none for JAX/TF).",
    "PyMC-Marketing: `pymc_marketing.mmm.MMM` with GeometricAdstock(l_max=8), "
    "LogisticSaturation(), yearly_seasonality=2, a linear trend as a control column, default "
    "priors; NumPyro NUTS with as many JAX host devices as chains, and nutpie.",
    "Meridian: `Meridian(input_data, ModelSpec())` with every default (ROI priors, geometric "
    "adstock, Hill, default knots), each channel's spend given as its media and its spend, "
    "KPI revenue; `sample_posterior(n_chains=4, n_adapt=500, n_burnin=500, n_keep=1000)`.",
    "load: the 1-minute load average before the run (2 cores: above 2 the wall times are "
    "inflated for both sides alike only if the load is steady).",
]


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    info = machine()
    print(f"{info['cpu']}, {info['cores']} cores, {info['date']}, git {info['git']}")
    tmp = Path(tempfile.mkdtemp(prefix="bench_fit_"))
    runs: list[dict] = []
    try:
        for case in args.cases:
            print(f"- case {case}", flush=True)
            runs += run_case(case, args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    versions = run_versions(runs)
    result = {
        "benchmark": "fit_cpu",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {**info, "versions": versions},
        "config": {
            "cases": args.cases,
            "chains": args.chains,
            "draws": args.draws,
            "warmup": args.warmup,
            "seed": args.seed,
            "quick": args.quick,
        },
        "runs": runs,
        "notes": [*NOTES, "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items())],
    }
    md = markdown(result)
    print()
    print(md)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fit_cpu.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "fit_cpu.md").write_text(md)
    print(f"wrote {args.out / 'fit_cpu.json'} and {args.out / 'fit_cpu.md'}")
    return result


def rewrite(path: Path) -> None:
    """Rewrite ``fit_cpu.md`` (and the notes of ``fit_cpu.json``) from the runs in the JSON."""
    result = json.loads(path.read_text())
    versions = run_versions(result["runs"])
    result["machine"]["versions"] = versions
    result["notes"] = [*NOTES, "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items())]
    path.write_text(json.dumps(result, indent=2) + "\n")
    path.with_suffix(".md").write_text(markdown(result))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--rewrite"]:
        rewrite(Path(sys.argv[2]))
    else:
        main()
