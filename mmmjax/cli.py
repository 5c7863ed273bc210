"""The ``mmmjax`` command line: ``demo``, ``fit``, ``optimize``, ``fit-many`` and ``bench``.

Bad input (a missing column, a bad date, an unknown channel, an impossible budget) prints one
line naming the problem and exits with status 2, without a traceback, and leaves ``--out``
untouched: every output is written into a temporary directory that is moved into place only
when complete.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]

EXIT_BAD_INPUT = 2
EXIT_JOBS_FAILED = 1  # fit-many: some jobs failed, the rest finished


class UsageError(Exception):
    """Bad command-line input; printed as one line, exit status 2."""


# ----------------------------------------------------------------------------------------------
# argument parsing
# ----------------------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse's own convention too)
        raise UsageError(f"{self.prog}: {message}")


def _sampler_args(p: argparse.ArgumentParser, *, draws: int, warmup: int) -> None:
    g = p.add_argument_group("sampler")
    g.add_argument("--chains", type=int, default=4, help="NUTS chains (default 4)")
    g.add_argument("--draws", type=int, default=draws, help=f"draws per chain (default {draws})")
    g.add_argument("--warmup", type=int, default=warmup, help=f"warm-up steps (default {warmup})")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--target-accept", type=float, default=0.85, help="NUTS target acceptance")
    g.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--adstock", default="geometric",
                   help="geometric | delayed | weibull_pdf | weibull_cdf")  # fmt: skip
    g.add_argument("--saturation", default="hill",
                   help="hill | logistic | michaelis_menten | tanh")  # fmt: skip
    g.add_argument("--l-max", type=int, default=8, help="longest lag (delayed/Weibull)")
    g.add_argument("--seasonality", type=int, default=2, help="yearly Fourier order (0: none)")
    g.add_argument("--trend", default="linear", help="none | linear | piecewise")
    g.add_argument("--likelihood", default="normal", help="normal | student_t")
    g.add_argument("--form", default="additive", help="additive | multiplicative")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="mmmjax", description="Bayesian marketing-mix modelling on JAX.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = sub.add_parser("demo", help="fit the embedded demo dataset and write a report")
    demo.add_argument("--out", default="mmmjax-demo", help="output directory")
    demo.add_argument("--holdout", type=int, default=13,
                      help="periods held out for an out-of-sample check (0: none)")  # fmt: skip
    _sampler_args(demo, draws=1000, warmup=1000)

    fit = sub.add_parser("fit", help="fit a CSV and write the saved fit and report.html")
    fit.add_argument("csv", help="CSV file, one row per period")
    fit.add_argument("--date", required=True, help="date column")
    fit.add_argument("--target", required=True, help="target (KPI) column, e.g. revenue")
    fit.add_argument("--channels", required=True, help="comma-separated spend columns (money)")
    fit.add_argument("--controls", default="", help="comma-separated control columns")
    fit.add_argument("--events", default="", help="comma-separated event dummy columns")
    fit.add_argument("--date-format", default=None, help="strftime format, e.g. %%d-%%m-%%y")
    fit.add_argument("--out", required=True, help="output directory")
    fit.add_argument("--holdout", type=int, default=0,
                     help="refit without the last N periods; report forecast error")  # fmt: skip
    fit.add_argument("--geo", default=None, metavar="COL",
                     help="geo column of a long panel (one row per geo and date): fit the "
                          "hierarchical geo model (mmmjax.GeoMMM)")  # fmt: skip
    fit.add_argument("--population", default=None, metavar="COL",
                     help="with --geo: each geo's population (spend per head)")  # fmt: skip
    fit.add_argument(
        "--ignore-data-errors",
        action="store_true",
        help="fit even when the data review finds errors (they are printed)",
    )
    fit.add_argument("--mlflow", nargs="?", const="", default=None, metavar="URI",
                     help="also log the fit as an MLflow run: URI a directory (file store) or "
                          "tracking URI, default $MLFLOW_TRACKING_URI or MLflow's own; needs "
                          "pip install 'mmmjax[mlflow]'")  # fmt: skip
    cal = fit.add_argument_group("calibration")
    cal.add_argument("--roi-priors", default=None, metavar="FILE",
                     help="CSV channel,low,high[,mass]: ROI beliefs (mass in [low, high], "
                          "default 0.94)")  # fmt: skip
    cal.add_argument("--lift-tests", default=None, metavar="FILE",
                     help="CSV channel,start,end,spend_change,lift,lift_se: experiments to "
                          "calibrate with")  # fmt: skip
    _model_args(fit)
    _sampler_args(fit, draws=1000, warmup=1000)

    opt = sub.add_parser("optimize", help="optimal budget split from a saved fit")
    opt.add_argument("dir", help="directory written by 'mmmjax fit' or 'mmmjax demo'")
    opt.add_argument("--budget", type=float, required=True, help="total money per period")
    opt.add_argument("--bounds", nargs="*", default=[],
                     help="ch=LOW:HIGH in money, or ch=0.5x:1.5x of current spend")  # fmt: skip
    opt.add_argument("--objective", default="mean", help="mean | mean_minus_std | cvar")
    opt.add_argument("--risk", type=float, default=1.0, help="risk weight for mean_minus_std")
    opt.add_argument("--cvar-level", type=float, default=0.1, help="tail share for cvar")
    opt.add_argument("--out", default=None, help="where to write plan.csv/plan.json (default DIR)")

    many = sub.add_parser("fit-many", help="fit every job of a manifest CSV (locally or on Ray)")
    many.add_argument("manifest", help="CSV: name,csv,date,target,channels[,options...]")
    many.add_argument("--out", required=True, help="output directory (one folder per job)")
    many.add_argument("--backend", default="local", choices=["local", "ray"],
                      help="local (this process) or ray (one task per job)")  # fmt: skip
    many.add_argument("--address", default=None, help="Ray cluster address (default: local)")
    many.add_argument("--batch", default="auto", choices=["auto", "yes", "no"],
                      help="sample same-shape jobs together (auto: on GPU/TPU only)")  # fmt: skip
    many.add_argument("--num-cpus", type=float, default=1, help="CPUs per Ray task")
    many.add_argument("--num-gpus", type=float, default=0, help="GPUs per Ray task")
    _sampler_args(many, draws=1000, warmup=1000)

    bench = sub.add_parser("bench", help="sampler throughput on this machine")
    bench.add_argument("--quick", action="store_true", help="a small sweep (about a minute)")
    bench.add_argument("--out", default=None, help="write results JSON here")
    return p


def _names(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


# ----------------------------------------------------------------------------------------------
# commands
# ----------------------------------------------------------------------------------------------
def _check_out(out: Path) -> None:
    from mmmjax.fit import is_fit_dir

    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not is_fit_dir(out))):
        raise UsageError(
            f"--out {out}: exists and is not an mmmjax output directory; choose a new one"
        )


def _fit_and_write(spec, dataset, args, out: Path, *, truth=None, lift_tests=()) -> None:
    """Fit, then write fit + report (+ ROI table, plan) into a temp dir moved onto ``out``."""
    import mmmjax
    from mmmjax.files import replace_dir
    from mmmjax.report import write_report

    review_data(dataset, spec, args)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", mmmjax.errors.SamplerWarning)
        fit = spec.fit(
            dataset,
            review="off",  # reviewed above
            chains=args.chains,
            draws=args.draws,
            warmup=args.warmup,
            seed=args.seed,
            target_accept=args.target_accept,
            progress=not args.no_progress,
            lift_tests=lift_tests,
        )
    for w in caught:
        if issubclass(w.category, mmmjax.errors.SamplerWarning):
            print(f"warning: {w.message}", file=sys.stderr)
    validation = None
    if args.holdout:
        print(f"out-of-sample check: refitting without the last {args.holdout} periods")
        # the refit keeps the lift tests that lie wholly in its (shorter) training window
        held = dataset.dates[-args.holdout :]
        kept = [t for t in lift_tests if not t.periods(held).any()]
        validation = mmmjax.validation.holdout(
            spec, dataset, args.holdout, chains=args.chains, draws=args.draws,
            warmup=args.warmup, seed=args.seed, target_accept=args.target_accept, warn=False,
            lift_tests=kept,
        )  # fmt: skip
    roi = mmmjax.roi(fit)
    plan = None
    try:
        plan = mmmjax.optimize_budget(fit, float(dataset.spend.mean(axis=0).sum()))
    except Exception as exc:  # the report is still useful without a plan
        print(f"warning: budget optimisation skipped: {exc}", file=sys.stderr)

    health = fit.review(holdout=validation)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        fit.save(tmp)
        roi.to_csv(tmp / "roi.csv")
        write_report(
            fit, tmp / "report.html", plan=plan, validation=validation, truth=truth, health=health
        )
        replace_dir(tmp, out)
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _print_summary(fit, roi, out)
    print(health)


def review_data(dataset, spec, args) -> None:
    """Print the data review before sampling; its errors stop the command (exit 2) unless
    ``--ignore-data-errors`` was given."""
    from mmmjax.review import review_data as review

    found = review(dataset, spec)
    print(found)
    if not getattr(args, "ignore_data_errors", False):
        found.enforce("error")


def _print_summary(fit, roi, out: Path) -> None:
    d = fit.diagnostics()
    print(
        f"fitted {len(fit.channels)} channels on {fit.dataset.n_periods} periods in "
        f"{fit.info.get('seconds', float('nan')):.1f} s ({fit.info.get('chain_method')} chains): "
        f"max r-hat {d['max_r_hat']:.3f}, min bulk ESS {d['min_ess_bulk']:.0f}, "
        f"{d['divergences']} divergences"
    )
    cols = ["roi_mean", "roi_low", "roi_high", "mroi_mean"]
    print(roi[cols].round(2).to_string())
    print(f"wrote {out / 'report.html'}, {out / 'roi.csv'} and the saved fit in {out}")


def _spec_from_args(args):
    import mmmjax

    try:
        return mmmjax.MMM(
            adstock=args.adstock,
            saturation=args.saturation,
            l_max=args.l_max,
            seasonality=args.seasonality,
            trend=args.trend,
            likelihood=args.likelihood,
            form=args.form,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _check_sampler_args(args) -> None:
    for name in ("chains", "draws", "warmup"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name} must be a positive integer, got {getattr(args, name)}")
    if args.holdout < 0:
        raise UsageError(f"--holdout must be 0 or more periods, got {args.holdout}")


def cmd_demo(args) -> None:
    import mmmjax

    _check_sampler_args(args)
    out = Path(args.out)
    _check_out(out)
    dataset, truth = mmmjax.datasets.load("demo", with_truth=True)
    print(f"demo data: {dataset}")
    _fit_and_write(mmmjax.MMM(), dataset, args, out, truth=truth)


def cmd_fit(args) -> None:
    import mmmjax

    _check_sampler_args(args)
    out = Path(args.out)
    _check_out(out)
    if args.mlflow is not None:  # fail now, not after the fit, if MLflow cannot be used
        from mmmjax.mlflow import check_tracking

        check_tracking(args.mlflow or None)
    spec = _spec_from_args(args)
    if args.geo or args.population:
        if not args.geo:
            raise UsageError("--population needs --geo")
        from mmmjax.geo.cli import cmd_fit_geo

        cmd_fit_geo(args, spec, out)
        return _log_mlflow(args, out)
    dataset = mmmjax.Dataset.from_csv(
        args.csv,
        date=args.date,
        target=args.target,
        channels=_names(args.channels),
        controls=_names(args.controls),
        events=_names(args.events),
        date_format=args.date_format,
    )
    priors = tests = None
    if args.roi_priors:
        priors = mmmjax.read_roi_priors(args.roi_priors, dataset.channels)
        spec = dataclasses.replace(spec, priors={"media_roi": priors} if priors else None)
    if args.lift_tests:
        tests = mmmjax.read_lift_tests(args.lift_tests, dataset)
    if priors or tests:
        print(
            f"calibration: ROI priors for {len(priors or ())} channel(s), "
            f"{len(tests or ())} lift test(s)"
        )
    _fit_and_write(spec, dataset, args, out, lift_tests=tests or ())
    _log_mlflow(args, out)


def _log_mlflow(args, out: Path) -> None:
    if args.mlflow is not None:
        from mmmjax.mlflow import log_output

        print(f"logged {out} to MLflow as run {log_output(out, args.mlflow or None)}")


def cmd_optimize(args) -> None:
    import json

    import mmmjax
    from mmmjax.files import atomic_write_text
    from mmmjax.fit import is_fit_dir
    from mmmjax.optimize import parse_bounds

    src = Path(args.dir)
    if not is_fit_dir(src):
        raise UsageError(f"{src}: not a saved fit (run 'mmmjax fit' or 'mmmjax demo' first)")
    fit = mmmjax.load_fit(src)
    bounds = parse_bounds(args.bounds, fit.channels, fit.scales.spend)
    plan = mmmjax.optimize_budget(
        fit, args.budget, bounds=bounds or None, objective=args.objective, risk=args.risk,
        cvar_level=args.cvar_level,
    )  # fmt: skip
    frame = plan.to_frame()
    print(frame.round(2).to_string())
    print(
        f"expected response {plan.expected_response:,.2f} per period "
        f"(current split: {plan.current_response:,.2f}); converged={plan.converged}"
    )
    out = Path(args.out) if args.out else src
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "plan.csv", frame.to_csv())
    atomic_write_text(out / "plan.json", json.dumps(plan.to_dict(), indent=2))
    print(f"wrote {out / 'plan.csv'} and {out / 'plan.json'}")


def cmd_fit_many(args) -> int:
    """Exit status 1 when some jobs failed (the others are saved; see summary.csv)."""
    from mmmjax.files import atomic_write_text
    from mmmjax.many import fit_many, read_manifest

    out = Path(args.out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (
            (out / "summary.csv").is_file() or any(out.glob("*/job.json"))))):  # fmt: skip
        raise UsageError(f"--out {out}: exists and is not a fit-many output; choose a new one")
    if args.backend == "local" and args.address:
        raise UsageError("--address needs --backend ray")
    jobs = read_manifest(args.manifest)
    defaults = {k: getattr(args, k) for k in ("chains", "draws", "warmup", "seed",
                                              "target_accept")}  # fmt: skip
    _check_sampler_args(argparse.Namespace(**defaults, holdout=0))
    many = fit_many(jobs, backend=args.backend, out=out, address=args.address,
                    batch={"yes": True, "no": False}.get(args.batch, "auto"),
                    num_cpus=args.num_cpus, num_gpus=args.num_gpus,
                    progress=not args.no_progress, **defaults)  # fmt: skip
    atomic_write_text(out / "summary.csv", many.summary.to_csv())
    counts = many.summary["status"].value_counts()
    print(", ".join(f"{n} {status}" for status, n in counts.items()) + f"; wrote {out}/summary.csv")
    return EXIT_JOBS_FAILED if "failed" in counts else 0


def cmd_bench(args) -> None:
    from mmmjax.bench import run_bench

    run_bench(quick=args.quick, out=args.out)


COMMANDS = {"demo": cmd_demo, "fit": cmd_fit, "optimize": cmd_optimize, "fit-many": cmd_fit_many,
            "bench": cmd_bench}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mmmjax`` console script; returns the exit status."""
    from mmmjax.errors import DataError

    try:
        args = _parser().parse_args(argv)
        status = COMMANDS[args.command](args) or 0
    except (UsageError, DataError) as exc:
        print(f"mmmjax: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        if os.environ.get("MMMJAX_DEBUG"):
            raise
        print(f"mmmjax: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as exc:  # fit-many's says which jobs are saved (many.Interrupted)
        print(f"mmmjax: {str(exc) or 'interrupted; nothing was written'}", file=sys.stderr)
        return 130
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
