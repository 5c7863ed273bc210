"""The ``mmmjax`` command line: ``demo``, ``fit``, ``optimize``, ``plan``, ``fit-many``, ``bench``.

National data and geo panels go through the same commands: ``mmmjax fit CSV --geo COL
[--population COL]`` fits the hierarchical geo model (:class:`mmmjax.GeoMMM`) to a long panel
and writes the same outputs (the saved fit, ``roi.csv`` with national and per-geo rows,
``report.html`` with the per-geo sections); ``mmmjax optimize DIR`` plans a saved geo fit
nationally or by geo x channel cell (``--by geo``).

Bad input (a missing column, a bad date, an unknown channel, an impossible budget, a file that
is not a CSV, a broken saved fit, an ``--out`` that cannot be written) prints one line naming the
problem and exits with status 2, without a traceback, and leaves ``--out`` untouched: every
output is written into a temporary directory that is moved into place only when complete.
Argument errors print the command's usage line first.

Exit status: 0 done; 1 ``fit-many``: some jobs failed (the others are saved); 2 bad input,
nothing written; 3 the fit is written but has not converged (:func:`convergence_problem`), so
its ROI and plan are not to be trusted; 130 interrupted.

Start-up is cheap: this module imports only the standard library, and each command imports
JAX, NumPyro, ArviZ and matplotlib only once its arguments and input files have passed the
cheap checks (``--target nope`` is reported in well under a second).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import sys
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_JOBS_FAILED",
    "EXIT_NOT_CONVERGED",
    "UsageError",
    "check_writable",
    "convergence_problem",
    "diagnostics_text",
    "main",
    "reading",
    "report_convergence",
    "sample_with_args",
    "spec_from_args",
    "split_names",
]

EXIT_JOBS_FAILED = 1  # fit-many: some jobs failed, the rest finished
EXIT_BAD_INPUT = 2
EXIT_NOT_CONVERGED = 3  # outputs written, but the sampler did not converge
#: a fit with a larger r-hat has chains that clearly disagree (Gelman-Rubin's classic 1.1; the
#: sampler warns from 1.01 on); with fewer effective draws its intervals mean nothing
RHAT_FAIL = 1.1
ESS_FAIL = 20

_EXIT_HELP = (
    "exit status: 0 done, 2 bad input (one line; nothing written), 3 written but not "
    f"converged (max r-hat > {RHAT_FAIL} or min bulk ESS < {ESS_FAIL}: do not trust the ROI; "
    "rerun with more --warmup and --draws)"
)


class UsageError(Exception):
    """Bad command-line input; printed as one line (after ``usage``, if any), exit status 2.

    Attributes:
      prog: the command it concerns, e.g. ``"mmmjax fit"``; the line reads ``PROG: error: ...``.
      usage: the command's usage line, printed first for an argument error (else None).
    """

    def __init__(self, message: str, *, prog: str = "mmmjax", usage: str | None = None):
        super().__init__(message)
        self.prog, self.usage = prog, usage


# ----------------------------------------------------------------------------------------------
# argument parsing
# ----------------------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # usage line + one error line, exit 2 (argparse's convention)
        raise UsageError(
            f"{message} ('{self.prog} --help' lists every option)",
            prog=self.prog,
            usage=self.format_usage(),
        )


class _Help(argparse.HelpFormatter):
    """Appends ``(default: X)`` to every option with a default worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        d = action.default
        hidden = d is None or d is False or d is argparse.SUPPRESS or d == "" or d == []
        if hidden or "%(default)" in text or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def _sampler_args(p: argparse.ArgumentParser, *, draws: int, warmup: int) -> None:
    g = p.add_argument_group("sampler")
    g.add_argument("--chains", type=int, default=4, metavar="N",
                   help="NUTS chains; r-hat (convergence) needs 2 or more")  # fmt: skip
    g.add_argument(
        "--draws", type=int, default=draws, metavar="N", help="draws per chain after warm-up"
    )
    g.add_argument(
        "--warmup", type=int, default=warmup, metavar="N", help="warm-up steps per chain"
    )
    g.add_argument("--seed", type=int, default=0, metavar="N", help="random seed")
    g.add_argument(
        "--target-accept", type=float, default=0.85, metavar="P", help="NUTS target acceptance"
    )
    g.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model (defaults: those of mmmjax.MMM)")
    g.add_argument("--adstock", metavar="NAME", default="geometric",
                   help="geometric | delayed | weibull_pdf | weibull_cdf")  # fmt: skip
    g.add_argument("--saturation", metavar="NAME", default="hill",
                   help="hill | logistic | michaelis_menten | tanh")  # fmt: skip
    g.add_argument("--l-max", type=int, default=8, metavar="N",
                   help="longest lag in periods (delayed and Weibull adstock)")  # fmt: skip
    g.add_argument(
        "--seasonality", type=int, default=2, metavar="N", help="yearly Fourier order (0: none)"
    )
    g.add_argument("--trend", metavar="NAME", default="linear", help="none | linear | piecewise")
    g.add_argument("--likelihood", metavar="NAME", default="normal", help="normal | student_t")
    g.add_argument("--form", metavar="NAME", default="additive", help="additive | multiplicative")


def _command(sub, name: str, *, help: str, usage: str, epilog: str | None = None):
    return sub.add_parser(name, prog=f"mmmjax {name}", help=help, usage=usage, epilog=epilog,
                          description=help[0].upper() + help[1:] + ".",
                          formatter_class=_Help)  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="mmmjax", description="Bayesian marketing-mix modelling on JAX.",
                usage="mmmjax {demo,fit,optimize,plan,fit-many,bench} ... ('mmmjax COMMAND --help' "
                      "for its options)", formatter_class=_Help, epilog=_EXIT_HELP)  # fmt: skip
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser,
                           metavar="{demo,fit,optimize,plan,fit-many,bench}")  # fmt: skip

    demo = _command(sub, "demo", help="fit the embedded demo dataset and write a report",
                    usage="mmmjax demo [--out DIR] [--holdout N] [sampler options]",
                    epilog=_EXIT_HELP)  # fmt: skip
    demo.add_argument("--out", default="mmmjax-demo", metavar="DIR", help="output directory")
    demo.add_argument("--holdout", type=int, default=13, metavar="N",
                      help="periods held out for an out-of-sample check (0: none)")  # fmt: skip
    _sampler_args(demo, draws=1000, warmup=1000)

    fit = _command(sub, "fit", help="fit a CSV and write the saved fit and report.html",
                   usage="mmmjax fit CSV --date COL --target COL --channels A,B,... --out DIR "
                         "[options]", epilog=_EXIT_HELP)  # fmt: skip
    fit.add_argument("csv", help="CSV file, one row per period")
    fit.add_argument("--date", required=True, metavar="COL", help="date column")
    fit.add_argument(
        "--target", required=True, metavar="COL", help="target (KPI) column, e.g. revenue"
    )
    fit.add_argument(
        "--channels", required=True, metavar="A,B,...", help="comma-separated spend columns (money)"
    )
    fit.add_argument(
        "--controls", default="", metavar="X,Y,...", help="comma-separated control columns"
    )
    fit.add_argument("--events", default="", metavar="E,F,...",
                     help="comma-separated event columns: 0/1 dummies, or text labels (one "
                          "indicator per label; 'na', 'none', '' mean no event)")  # fmt: skip
    fit.add_argument("--holidays", default=None, metavar="CODES",
                     help="national holidays as events, by country code (e.g. US or US,CA); "
                          "needs pip install 'mmmjax[holidays]'")  # fmt: skip
    fit.add_argument("--holiday-window", default="0,0", metavar="BEFORE,AFTER",
                     help="periods before and after each holiday that count as it (default "
                          "0,0)")  # fmt: skip
    fit.add_argument("--date-format", default=None, metavar="FORMAT",
                     help="strftime format, e.g. %%d-%%m-%%y (default: detected)")  # fmt: skip
    fit.add_argument("--out", required=True, metavar="DIR", help="output directory")
    fit.add_argument("--holdout", type=int, default=0, metavar="N",
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
    fit.add_argument("--refresh", default=None, metavar="DIR",
                     help="refresh the fit saved in DIR: this CSV holds its data plus new "
                          "periods; keeps its model and scales, its posterior is the prior "
                          "(mmmjax.Fit.refresh; with --geo, a saved geo fit: "
                          "GeoFit.refresh)")  # fmt: skip
    cal = fit.add_argument_group("calibration")
    cal.add_argument("--roi-priors", default=None, metavar="FILE",
                     help="CSV channel,low,high[,mass]: ROI beliefs (mass in [low, high], "
                          "default 0.94)")  # fmt: skip
    cal.add_argument("--lift-tests", default=None, metavar="FILE",
                     help="CSV channel,start,end,spend_change,lift,lift_se: experiments to "
                          "calibrate with")  # fmt: skip
    _model_args(fit)
    _sampler_args(fit, draws=1000, warmup=1000)

    opt = _command(sub, "optimize", help="optimal budget split from a saved fit",
                   usage="mmmjax optimize DIR (--budget MONEY | --target-roi R | "
                         "--target-mroi M) [--bounds CH=LOW:HIGH ...] "
                         "[--periods N [--schedule flat|free]] [options]")  # fmt: skip
    opt.add_argument("dir", help="directory written by 'mmmjax fit' or 'mmmjax demo'")
    opt.add_argument("--budget", type=float, default=None, metavar="MONEY",
                     help="total money per period, over all channels (with --periods: over "
                          "the N periods)")  # fmt: skip
    opt.add_argument("--target-roi", type=float, default=None, metavar="R",
                     help="instead of --budget: the largest budget per period whose optimal "
                          "split still returns R per unit of money in expectation")  # fmt: skip
    opt.add_argument("--target-mroi", type=float, default=None, metavar="M",
                     help="instead of --budget: the largest budget per period whose next "
                          "unit of money still returns at least M")  # fmt: skip
    opt.add_argument("--periods", type=int, default=None, metavar="N",
                     help="plan the N periods after the data, period by period; writes "
                          "schedule.csv (future dates x channels, money per period)")  # fmt: skip
    opt.add_argument("--schedule", default="flat", metavar="flat|free",
                     help="with --periods: the same spend every period (flat) or free "
                          "flighting within --bounds per period (free)")  # fmt: skip
    opt.add_argument("--bounds", nargs="*", default=[], metavar="CH=LOW:HIGH",
                     help="ch=LOW:HIGH in money per period, or ch=0.5x:1.5x of current "
                          "spend; LOW or HIGH may be empty; with --by geo per cell: "
                          "geo/ch=LOW:HIGH")  # fmt: skip
    opt.add_argument("--by", default="national", metavar="national|geo",
                     help="for a geo fit: split over channels (national: each channel's "
                          "spend shared out over geos as in the data) or over geo x channel "
                          "cells (geo)")  # fmt: skip
    opt.add_argument("--objective", default="mean", help="mean | mean_minus_std | cvar")
    opt.add_argument("--risk", type=float, default=1.0, help="risk weight for mean_minus_std")
    opt.add_argument("--cvar-level", type=float, default=0.1, help="tail share for cvar")
    opt.add_argument("--out", default=None, metavar="DIR",
                     help="where to write plan.csv and plan.json (default: DIR)")  # fmt: skip
    opt.add_argument("--report", action="store_true",
                     help="also write the plan into the report (report.html in --out)")  # fmt: skip

    plan = _command(sub, "plan", help="write a self-contained planner page from a saved fit",
                    usage="mmmjax plan DIR [--out FILE] [--draws N]")  # fmt: skip
    plan.add_argument("dir", help="directory written by 'mmmjax fit' or 'mmmjax demo'")
    plan.add_argument("--out", default=None, metavar="FILE",
                      help="the HTML file to write (default: DIR/planner.html)")  # fmt: skip
    plan.add_argument("--draws", type=int, default=200, metavar="N",
                      help="posterior draws in the page (default 200; 0: all)")  # fmt: skip

    many = _command(sub, "fit-many", help="fit every job of a manifest CSV (locally or on Ray)",
                    usage="mmmjax fit-many MANIFEST.csv --out DIR [options]")  # fmt: skip
    many.add_argument("manifest", help="CSV: name,csv,date,target,channels[,options...]")
    many.add_argument(
        "--out", required=True, metavar="DIR", help="output directory (one folder per job)"
    )
    many.add_argument("--backend", default="local", choices=["local", "ray"],
                      help="local (this process) or ray (one task per job)")  # fmt: skip
    many.add_argument("--address", default=None, help="Ray cluster address (default: local)")
    many.add_argument("--batch", default="auto", choices=["auto", "yes", "no"],
                      help="sample same-shape jobs together (auto: on GPU/TPU only)")  # fmt: skip
    many.add_argument("--num-cpus", type=float, default=1, help="CPUs per Ray task")
    many.add_argument("--num-gpus", type=float, default=0, help="GPUs per Ray task")
    _sampler_args(many, draws=1000, warmup=1000)

    bench = _command(sub, "bench", help="sampler throughput on this machine",
                     usage="mmmjax bench [--quick] [--out FILE]")  # fmt: skip
    bench.add_argument("--quick", action="store_true", help="a small sweep (about a minute)")
    bench.add_argument("--out", default=None, help="write results JSON here")
    return p


def split_names(text: str) -> list[str]:
    """``"tv, search,"`` -> ``["tv", "search"]`` (a comma-separated command-line list)."""
    return [s.strip() for s in text.split(",") if s.strip()]


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


@contextlib.contextmanager
def reading(path: str | os.PathLike) -> Iterator[None]:
    """Turn an ``OSError`` or ``UnicodeDecodeError`` raised while reading input ``path`` into a
    :class:`UsageError` naming the file (a directory, a binary file, no permission...);
    :class:`~mmmjax.DataError` and everything else pass through unchanged."""
    try:
        yield
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{os.fspath(path)}: not a text CSV file ({exc.encoding} cannot decode byte "
            f"{exc.start})"
        ) from None
    except IsADirectoryError:
        raise UsageError(f"{os.fspath(path)}: is a directory, not a file") from None
    except OSError as exc:
        name = exc.filename if exc.filename is not None else os.fspath(path)
        raise UsageError(f"{name}: cannot read it ({exc.strerror or _one_line(exc)})") from None


# ----------------------------------------------------------------------------------------------
# output directories
# ----------------------------------------------------------------------------------------------
def _check_out(out: Path) -> None:
    """``out`` is new, empty or an earlier mmmjax output; and writable (see check_writable)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        from mmmjax.inference.fit import is_fit_dir  # imports JAX: only when out is there already

        if not out.is_dir() or not is_fit_dir(out):
            raise UsageError(
                f"--out {out}: exists and is not an mmmjax output directory; choose a new one"
            )
    check_writable(out, inside=False)


def check_writable(out: Path, *, inside: bool, flag: str = "--out") -> None:
    """Raise :class:`UsageError` now, before any sampling, if ``out`` cannot be written.

    ``inside=True``: files are written into ``out`` itself; ``inside=False``: ``out`` is built
    beside itself and moved into place, so its parent folder must be writable. Folders still
    missing will be created, so the nearest folder that exists is the one tested, by creating
    and removing an empty directory in it (this also catches read-only file systems).
    """
    where = (out if inside else out.parent).absolute()
    while not where.exists() and where != where.parent:
        where = where.parent
    if not where.is_dir():
        raise UsageError(f"{flag} {out}: {where} is a file, not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".mmmjax-write-test-", dir=where))
    except OSError as exc:
        raise UsageError(f"{flag} {out}: cannot write in {where} ({exc.strerror})") from None


# ----------------------------------------------------------------------------------------------
# convergence
# ----------------------------------------------------------------------------------------------
def diagnostics_text(diag: dict[str, Any]) -> str:
    """``Fit.diagnostics()`` in words, e.g. ``max r-hat 1.004, min bulk ESS 512, 0 divergences``
    (with one chain r-hat cannot be computed, and the text says so)."""
    rhat = diag["max_r_hat"]
    if math.isnan(rhat):
        rhat_text = "r-hat not computed (it needs 2 or more chains)"
    else:
        rhat_text = f"max r-hat {rhat:.3f}" if rhat < 100 else f"max r-hat {rhat:.3g}"
    ess, div = diag["min_ess_bulk"], diag["divergences"]
    return f"{rhat_text}, min bulk ESS {ess:.0f}, {div} divergences"


def convergence_problem(diag: dict[str, Any]) -> str | None:
    """Why a fit with diagnostics ``diag`` has not converged, or None if it has.

    Not converged: max r-hat above ``RHAT_FAIL`` (1.1: the chains disagree), or min bulk ESS
    below ``ESS_FAIL`` (20 effective draws) or not computable. A single chain has no r-hat, so
    only its ESS is judged. Milder problems (r-hat above 1.01, ESS below 400, divergences) are
    the sampler's warnings, not a failure.
    """
    problems = []
    rhat, ess = diag["max_r_hat"], diag["min_ess_bulk"]
    if rhat > RHAT_FAIL:  # False for NaN (one chain)
        worst = diag.get("worst_r_hat")
        problems.append(f"max r-hat {rhat:.3g} > {RHAT_FAIL}" + (f" ({worst})" if worst else "")
                        + ": the chains disagree")  # fmt: skip
    if not ess >= ESS_FAIL:
        worst = diag.get("worst_ess_bulk")
        problems.append(f"min bulk ESS {ess:.0f} < {ESS_FAIL}" + (f" ({worst})" if worst else "")
                        + ": the chains barely moved")  # fmt: skip
    return "; ".join(problems) or None


def report_convergence(fit, out: Path) -> int:
    """Print a loud one-line verdict on stderr if ``fit`` has not converged; the exit status
    (``EXIT_NOT_CONVERGED`` then, else 0)."""
    problem = convergence_problem(fit.diagnostics())
    if problem is None:
        return 0
    print(
        f"mmmjax: NOT CONVERGED: {problem}. The outputs in {out} are written, but the ROI and "
        "all that follows from it are not reliable: rerun with more --warmup and --draws (e.g. "
        f"2000 each), check the data, or simplify the model (exit status {EXIT_NOT_CONVERGED})",
        file=sys.stderr,
    )
    return EXIT_NOT_CONVERGED


@contextlib.contextmanager
def _needs_extra() -> Iterator[None]:
    """An ``ImportError`` of an optional extra (``--holidays`` without the holidays package) as
    a :class:`UsageError`: its message says what to install."""
    try:
        yield
    except ImportError as exc:
        raise UsageError(_one_line(exc)) from None


def holiday_window(text: str) -> tuple[int, int]:
    """``--holiday-window BEFORE,AFTER`` as two non-negative integers."""
    parts = split_names(text)
    try:
        before, after = (int(p) for p in parts)
    except ValueError:
        raise UsageError(
            f"--holiday-window must be BEFORE,AFTER (two whole numbers of periods), got {text!r}"
        ) from None
    if before < 0 or after < 0:
        raise UsageError(f"--holiday-window must not be negative, got {text!r}")
    return before, after


# ----------------------------------------------------------------------------------------------
# commands
# ----------------------------------------------------------------------------------------------
def sample_with_args(spec, dataset, args, *, previous=None, **kwargs):
    """``spec.fit(dataset, ...)`` (or ``previous.refresh(dataset, ...)``) with the sampler
    flags; sampler warnings printed as lines."""
    from mmmjax.errors import SamplerWarning

    review_data(dataset, spec, args)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SamplerWarning)
        run = spec.fit if previous is None else previous.refresh
        fit = run(
            dataset,
            review="off",  # reviewed above
            chains=args.chains,
            draws=args.draws,
            warmup=args.warmup,
            seed=args.seed,
            target_accept=args.target_accept,
            progress=not args.no_progress,
            **kwargs,
        )
    for w in caught:
        if issubclass(w.category, SamplerWarning):
            print(f"warning: {w.message}", file=sys.stderr)
    return fit


def _fit_and_write(
    spec, dataset, args, out: Path, *, truth=None, lift_tests=(), previous=None
) -> int:
    """Fit (or refresh ``previous``), then write fit + report (+ ROI table, plan) into a temp
    dir moved onto ``out``; returns the exit status (``EXIT_NOT_CONVERGED`` for a fit that has
    not converged)."""
    import mmmjax
    from mmmjax.inference.sampling import status
    from mmmjax.outputs import roi_table

    fit = sample_with_args(spec, dataset, args, lift_tests=lift_tests, previous=previous)
    validation = None
    if args.holdout:
        print(f"out-of-sample check: refitting without the last {args.holdout} periods")
        # the refit keeps the lift tests that lie wholly in its (shorter) training window
        held = dataset.dates[-args.holdout :]
        kept = [t for t in lift_tests if not t.periods(held).any()]
        validation = mmmjax.inference.validation.holdout(
            spec, dataset, args.holdout, chains=args.chains, draws=args.draws,
            warmup=args.warmup, seed=args.seed, target_accept=args.target_accept, warn=False,
            lift_tests=kept,
        )  # fmt: skip
    roi = roi_table(fit)
    plan = None
    status("optimising the budget for the report", not args.no_progress)
    try:
        plan = mmmjax.optimize_budget(fit, float(dataset.spend.mean(axis=0).sum()))
    except Exception as exc:  # the report is still useful without a plan
        print(f"warning: budget optimisation skipped: {_one_line(exc)}", file=sys.stderr)

    health = fit.review(holdout=validation)
    status("writing the report", not args.no_progress)
    _write_outputs(fit, out, roi, plan=plan, validation=validation, truth=truth, health=health)
    print(
        f"fitted {len(fit.channels)} channels on {fit.dataset.n_periods} periods in "
        f"{fit.info.get('seconds', float('nan')):.1f} s ({fit.info.get('chain_method')} chains): "
        f"{diagnostics_text(fit.diagnostics())}"
    )
    cols = ["roi_mean", "roi_low", "roi_high", "mroi_mean"]
    print(roi.national[cols].round(2).to_string())
    print(f"wrote {out / 'report.html'}, {out / 'roi.csv'} and the saved fit in {out}")
    print(health)
    return report_convergence(fit, out)


def _write_outputs(fit, out: Path, roi, **report) -> None:
    """Write the saved fit, ``roi.csv`` (``roi``: :func:`mmmjax.outputs.roi_table`) and
    ``report.html`` (keywords: those of :func:`mmmjax.write_report`) into a temporary folder
    beside ``out``, then move it onto ``out``: nothing partial is ever left in ``out``."""
    import shutil

    from mmmjax.files import replace_dir, write_csv
    from mmmjax.report import write_report

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        fit.save(tmp)
        write_csv(roi.table, tmp / "roi.csv", index=roi.index)
        write_report(fit, tmp / "report.html", roi=roi.national, roi_geo=roi.per_geo, **report)
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def review_data(dataset, spec, args) -> None:
    """Print the data review before sampling; its errors stop the command (exit 2) unless
    ``--ignore-data-errors`` was given."""
    from mmmjax.review import review_data as review

    found = review(dataset, spec)
    print(found)
    if not getattr(args, "ignore_data_errors", False):
        found.enforce("error")


def spec_from_args(args: argparse.Namespace):
    """The :class:`~mmmjax.MMM` of the model flags; a bad option is a :class:`UsageError`."""
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


def cmd_demo(args) -> int:
    import mmmjax

    _check_sampler_args(args)
    out = Path(args.out)
    _check_out(out)
    dataset, truth = mmmjax.datasets.load("demo", with_truth=True)
    print(f"demo data: {dataset}")
    return _fit_and_write(mmmjax.MMM(), dataset, args, out, truth=truth)


def cmd_fit(args) -> int:
    _check_sampler_args(args)
    out = Path(args.out)
    _check_out(out)
    if args.mlflow is not None:  # fail now, not after the fit, if MLflow cannot be used
        from mmmjax.mlflow import check_tracking

        check_tracking(args.mlflow or None)
    if args.geo or args.population:
        if not args.geo:
            raise UsageError("--population needs --geo")
        status = _fit_panel(args, out)
        _log_mlflow(args, out)
        return status
    from mmmjax.data import Dataset  # NumPy and pandas only: the columns are checked first

    with reading(args.csv), _needs_extra():
        dataset = Dataset.from_csv(
            args.csv,
            date=args.date,
            target=args.target,
            channels=split_names(args.channels),
            controls=split_names(args.controls),
            events=split_names(args.events),
            date_format=args.date_format,
            holidays=split_names(args.holidays) if args.holidays else None,
            holiday_window=holiday_window(args.holiday_window),
        )
    spec = spec_from_args(args)
    import mmmjax

    priors = tests = previous = None
    if args.refresh:
        from mmmjax.inference.refresh import check_extends

        if args.roi_priors:
            raise UsageError("--roi-priors cannot be combined with --refresh (the previous "
                             "fit's posterior is the prior)")  # fmt: skip
        previous = mmmjax.load_fit(args.refresh)
        check_extends(previous.dataset, dataset)
        spec = previous.spec
        print(
            f"refresh: {previous.dataset.n_periods} periods to {previous.dataset.dates[-1].date()}"
            f" in {args.refresh}; now {dataset.n_periods} to {dataset.dates[-1].date()}"
        )
    if args.roi_priors:
        with reading(args.roi_priors):
            priors = mmmjax.read_roi_priors(args.roi_priors, dataset.channels)
        spec = dataclasses.replace(spec, priors={"media_roi": priors} if priors else None)
    if args.lift_tests:
        with reading(args.lift_tests):
            tests = mmmjax.read_lift_tests(args.lift_tests, dataset)
    if priors or tests:
        print(
            f"calibration: ROI priors for {len(priors or ())} channel(s), "
            f"{len(tests or ())} lift test(s)"
        )
    status = _fit_and_write(spec, dataset, args, out, lift_tests=tests or (), previous=previous)
    _log_mlflow(args, out)
    return status


def _fit_panel(args, out: Path) -> int:
    """``mmmjax fit CSV --geo COL [--population COL]``: fit the geo model ``GeoMMM(spec)``
    (``spec`` from the model flags) to the long panel ``args.csv`` and write into ``out`` the
    saved fit (``mmmjax.load_geo_fit`` reads it), ``roi.csv`` (national rows, then one row per
    geo and channel) and ``report.html`` (with the per-geo sections); returns the exit status."""
    from mmmjax.data import GeoDataset  # NumPy and pandas only: the columns are checked first

    if args.holdout:
        raise UsageError("--holdout is not available with --geo")
    with reading(args.csv):
        panel = GeoDataset.from_csv(
            args.csv,
            geo=args.geo,
            date=args.date,
            target=args.target,
            channels=split_names(args.channels),
            controls=split_names(args.controls),
            population=args.population,
            date_format=args.date_format,
            events=split_names(args.events),
            holidays=split_names(args.holidays) if args.holidays else None,
            holiday_window=holiday_window(args.holiday_window),
        )
    spec = spec_from_args(args)
    import mmmjax
    from mmmjax.geo import GeoMMM
    from mmmjax.outputs import roi_table

    previous = None
    if getattr(args, "refresh", None):
        from mmmjax.inference.geo_fit import is_geo_fit_dir, load_geo_fit
        from mmmjax.inference.refresh import check_extends
        from mmmjax.inference.store import is_fit_dir

        if args.roi_priors:
            raise UsageError("--roi-priors cannot be combined with --refresh (the previous "
                             "fit's posterior is the prior)")  # fmt: skip
        if is_fit_dir(args.refresh) and not is_geo_fit_dir(args.refresh):
            raise UsageError(f"--refresh {args.refresh} holds a national fit; --geo refreshes a "
                             "geo fit (drop --geo to refresh it)")  # fmt: skip
        previous = load_geo_fit(args.refresh)
        check_extends(previous.dataset, panel)
        spec = previous.spec.model
        print(
            f"refresh: {previous.dataset.n_periods} periods to {previous.dataset.dates[-1].date()}"
            f" in {args.refresh}; now {panel.n_periods} to {panel.dates[-1].date()}"
        )
    if getattr(args, "roi_priors", None):
        with reading(args.roi_priors):
            priors = mmmjax.read_roi_priors(args.roi_priors, panel.channels)
        spec = dataclasses.replace(spec, priors={"media_roi": priors} if priors else None)
    tests = ()
    if getattr(args, "lift_tests", None):  # each test names its geo
        with reading(args.lift_tests):
            tests = mmmjax.read_lift_tests(args.lift_tests, panel)
    try:
        geo_spec = GeoMMM(spec) if previous is None else previous.spec
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(f"geo panel: {panel}" + (f"; calibrated with {len(tests)} lift test(s)" if tests else ""))
    fit = sample_with_args(geo_spec, panel, args, lift_tests=tests, previous=previous)
    roi = roi_table(fit)
    health = fit.review()
    _write_outputs(fit, out, roi, health=health)
    print(
        f"fitted {panel.n_channels} channels in {panel.n_geos} geos x {panel.n_periods} periods "
        f"in {fit.info.get('seconds', float('nan')):.1f} s ({fit.info.get('chain_method')} "
        f"chains): {diagnostics_text(fit.diagnostics())}"
    )
    print(health)
    print("national ROI:")
    print(roi.national[["roi_mean", "roi_low", "roi_high", "mroi_mean"]].round(2).to_string())
    print(f"wrote {out / 'report.html'}, {out / 'roi.csv'} (national and per geo) and the "
          f"saved fit in {out}")  # fmt: skip
    return report_convergence(fit, out)


def _log_mlflow(args, out: Path) -> None:
    if args.mlflow is not None:
        from mmmjax.mlflow import log_output

        print(f"logged {out} to MLflow as run {log_output(out, args.mlflow or None)}")


def _money(x: float) -> str:
    """``1000000.0`` -> ``"1,000,000"``, ``12.5`` -> ``"12.5"``."""
    return f"{x:,.2f}".rstrip("0").rstrip(".")


def _load_saved_fit(src: Path):
    """``mmmjax.load_fit(src)``, or ``mmmjax.load_geo_fit(src)`` for a saved geo fit; anything
    wrong with the files is one :class:`UsageError`."""
    import mmmjax
    from mmmjax.errors import DataError
    from mmmjax.inference.geo_fit import is_geo_fit_dir

    try:
        return mmmjax.load_geo_fit(src) if is_geo_fit_dir(src) else mmmjax.load_fit(src)
    except DataError:
        raise
    except Exception as exc:  # a truncated fit.nc, a fit.json of the wrong shape...
        if os.environ.get("MMMJAX_DEBUG"):
            raise
        raise UsageError(f"{src}: cannot load the saved fit: {_one_line(exc)}") from None


def _check_periods(args) -> int | None:
    """``--periods`` (>= 1, or None) and ``--schedule`` (flat or free, only with it)."""
    if args.schedule not in ("flat", "free"):
        raise UsageError(f"--schedule must be flat or free, got {args.schedule!r}")
    if args.periods is None:
        if args.schedule != "flat":
            raise UsageError("--schedule needs --periods N (a plan of the next N periods)")
        return None
    if args.periods < 1:
        raise UsageError(f"--periods must be 1 or more, got {args.periods}")
    if args.by == "geo" or args.report:
        raise UsageError("--periods plans a national schedule: drop --by geo and --report")
    return int(args.periods)


def _check_budget(
    budget: float, bounds: dict, channels: Sequence[str], periods: int | None = None
) -> None:
    """``--budget`` fits ``--bounds``: the lower limits sum to at most it, the upper ones (when
    every channel has one) to at least it. Said in the command's words, money per period
    (``budget`` per period; with ``--periods N`` the message speaks of the N periods)."""
    lows = sum(bounds.get(c, (0.0, None))[0] for c in channels)
    highs = [bounds.get(c, (0.0, None))[1] for c in channels]
    n = periods or 1

    def said(limits: float) -> str:
        return f"{_money(limits)} per period" + (
            "" if periods is None else f", {_money(n * limits)} over {n} periods"
        )

    if lows > budget:
        raise UsageError(
            f"--budget {_money(n * budget)} is below the --bounds lower limits, which sum to "
            f"{said(lows)}: raise --budget or lower the limits"
        )
    if None not in highs and sum(highs) < budget:
        raise UsageError(
            f"--budget {_money(n * budget)} is above the --bounds upper limits, which sum to "
            f"{said(sum(highs))}: lower --budget, or raise or drop a limit"
        )


def _budget_source(args) -> dict:
    """Exactly one of ``--budget``, ``--target-roi`` and ``--target-mroi``, each positive: the
    keyword ``optimize_budget`` takes for it."""
    flags = {"--budget": args.budget, "--target-roi": args.target_roi,
             "--target-mroi": args.target_mroi}  # fmt: skip
    given = {flag: v for flag, v in flags.items() if v is not None}
    if len(given) != 1:
        said = " and ".join(given) if given else "none"
        raise UsageError(
            f"give exactly one of --budget, --target-roi and --target-mroi (got {said})"
        )
    ((flag, value),) = given.items()
    if not (math.isfinite(value) and value > 0):
        what = "amount of money per period" if flag == "--budget" else "number (money per money)"
        raise UsageError(f"{flag} must be a positive {what}, got {value:g}")
    if flag != "--budget" and args.periods is not None:
        raise UsageError(f"{flag} plans one period's budget: with --periods give --budget")
    return {{"--budget": "total_budget", "--target-roi": "target_roi",
             "--target-mroi": "target_mroi"}[flag]: value}  # fmt: skip


def parse_bounds(
    items: Iterable[str], channels: Sequence[str], current: Sequence[float] | Mapping[str, float]
) -> dict[str, tuple[float, float | None]]:
    """Parse command-line bounds ``["tv=100:5000", "search=0.5x:1.5x", "radio=:2000"]``.

    Each item is ``CHANNEL=LOW:HIGH``; ``LOW`` or ``HIGH`` may be empty (0 and no cap), money per
    period or a multiple of the channel's current spend (``"1.5x"``).

    Args:
      items: the strings.
      channels: the fit's channels.
      current: current spend per period, ``(C,)`` in channel order or a mapping by channel.

    Returns:
      ``{channel: (low, high)}`` in money per period (``high`` ``None`` for no cap), ready for
      :func:`mmmjax.optimize_budget`'s ``bounds``.

    Raises:
      ValueError: one line naming the item or channel.

    Example:
      >>> parse_bounds(["tv=0.5x:2x"], ["tv", "radio"], [1000.0, 200.0])
      {'tv': (500.0, 2000.0)}
    """
    import numpy as np

    from mmmjax.optimize.problem import bound_value

    if isinstance(current, Mapping):
        cur = dict(current)
    else:
        cur = dict(zip(channels, np.asarray(current, dtype=float).tolist(), strict=True))
    out: dict[str, tuple[float, float | None]] = {}
    for item in items:
        name, sep, rng = str(item).partition("=")
        name = name.strip()
        if not sep or ":" not in rng:
            raise ValueError(f"bounds {item!r}: expected CHANNEL=LOW:HIGH, e.g. tv=100:5000")
        if name not in cur:
            raise ValueError(
                f"bounds {item!r}: unknown channel {name!r}; channels are {', '.join(channels)}"
            )
        low, high = (p.strip() for p in rng.split(":", 1))
        lo = bound_value(low, name, cur[name]) if low else 0.0
        hi = bound_value(high, name, cur[name]) if high else None
        if hi is not None and lo > hi:
            raise ValueError(f"bounds for channel {name!r}: low {lo:g} is above high {hi:g}")
        out[name] = (lo, hi)
    return out


def cmd_optimize(args) -> None:
    source = _budget_source(args)
    src = Path(args.dir)
    out = Path(args.out) if args.out else src
    check_writable(out, inside=True)
    from mmmjax.inference.fit import is_fit_dir

    if not is_fit_dir(src):
        raise UsageError(f"{src}: not a saved fit (run 'mmmjax fit' or 'mmmjax demo' first)")
    fit = _load_saved_fit(src)
    import mmmjax
    from mmmjax.files import atomic_write_text, dumps_json, write_csv
    from mmmjax.optimize.problem import budget_variables

    if args.by not in ("national", "geo"):
        raise UsageError(f"--by must be national or geo, got {args.by!r}")
    if args.report and args.by == "geo":
        raise UsageError("--report shows a national plan: drop --report or use --by national")
    periods = _check_periods(args)
    var = budget_variables(fit, args.by)  # the channels, or the geo/channel cells
    bounds = parse_bounds(args.bounds, var.names, var.current)
    if args.budget is not None:
        _check_budget(args.budget / (periods or 1), bounds, var.names, periods)
    try:
        plan = mmmjax.optimize_budget(
            fit, **source, bounds=bounds or None, objective=args.objective, risk=args.risk,
            cvar_level=args.cvar_level, by=args.by, periods=periods, schedule=args.schedule,
        )  # fmt: skip
    except ValueError as exc:  # a target no budget reaches, or one still met with no cap
        if args.budget is None:
            raise UsageError(_one_line(exc)) from None
        raise
    frame = plan.to_frame()
    print(frame.round(2).to_string())
    if periods is not None:
        print(f"\nschedule (money per period):\n{plan.schedule.round(2).to_string()}")
        same = mmmjax.evaluate_budget(fit, plan.schedule)
    else:
        same = mmmjax.evaluate_budget(fit, plan.allocation, by=args.by)
    print(plan_summary(plan, same))
    plan_json = dumps_json(plan.to_dict(), what=str(out / "plan.json"), indent=2)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(frame, out / "plan.csv")
    atomic_write_text(out / "plan.json", plan_json)
    written = [out / "plan.csv", out / "plan.json"]
    if periods is not None:
        write_csv(plan.schedule, out / "schedule.csv")
        written.append(out / "schedule.csv")
    print(f"wrote {', '.join(map(str, written[:-1]))} and {written[-1]}")
    if args.report:
        print("writing the report with the plan ...", flush=True)
        print(f"wrote {mmmjax.write_report(fit, out / 'report.html', plan=plan)}")


def _money(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.2f}"


def plan_summary(plan, same_budget) -> str:
    """The plan against the current mix at the SAME budget, with 94% intervals, in words.

    ``same_budget`` is :func:`mmmjax.evaluate_budget` of the plan's allocation: its current
    split is the recent mix (last periods' mean spend) scaled to the plan's total, so a plan
    smaller than historical spend is not shown as a loss (for a plan by geo x channel cell,
    ``by="geo"``, the recent mean spend per cell). ``None``: the line against the current mix
    is left out.
    """
    lo, hi = plan.response_interval
    per = (
        "per period"
        if getattr(plan, "periods", None) is None
        else f"over the {plan.periods} periods and their carryover"
    )
    lines = [
        f"plan: expected response {_money(plan.expected_response)} {per} "
        f"(94% interval {_money(lo)} to {_money(hi)}) for {_money(plan.total_budget)} of spend",
    ]
    source = getattr(plan, "budget_from", "total_budget")
    if source != "total_budget":
        what = "expected ROI" if source == "target_roi" else "marginal return"
        where = (
            "the cap the --bounds set (the target still holds there)"
            if plan.budget_at_cap
            else f"the largest budget whose {what} is at least {plan.target:g}"
        )
        lines.insert(0, f"budget: {_money(plan.total_budget)} per period, {where}; "
                        f"{what} there {plan.target_value:.3g}")  # fmt: skip
    if same_budget is not None:
        clo, chi = same_budget.current_interval
        ulo, uhi = same_budget.uplift_interval
        lines.append(
            f"current mix at the same budget: {_money(same_budget.current_response)} "
            f"({_money(clo)} to {_money(chi)}); uplift {_money(same_budget.uplift)} "
            f"({_money(ulo)} to {_money(uhi)})"
        )
    if not plan.converged:
        lines.append(
            "warning: the optimizer did not converge, so this split may not be the best one; "
            "try --objective mean, looser --bounds, or another --budget, and compare the "
            "expected responses"
        )
    return "\n".join(lines)


def cmd_plan(args) -> None:
    if args.draws < 0:
        raise UsageError(f"--draws must be >= 0 (0: every draw), got {args.draws}")
    src = Path(args.dir)
    out = Path(args.out) if args.out else src / "planner.html"
    check_writable(out.parent, inside=True)
    from mmmjax.inference.fit import is_fit_dir

    if not is_fit_dir(src):
        raise UsageError(f"{src}: not a saved fit (run 'mmmjax fit' or 'mmmjax demo' first)")
    fit = _load_saved_fit(src)  # a geo fit is planned for the nation
    from mmmjax.planner import write_planner

    path = write_planner(fit, out, draws=args.draws or None)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB; open it in a browser)")


def cmd_fit_many(args) -> int:
    """Exit status 1 when some jobs failed (the others are saved; see summary.csv)."""
    out = Path(args.out)
    # Hidden entries (".name.mmmjax-*" temporaries a killed save left beside a job's folder)
    # do not make a folder foreign: the next save clears them.
    entries = [p for p in out.iterdir() if not p.name.startswith(".")] if out.is_dir() else []
    if out.exists() and (not out.is_dir() or (entries and not (
            (out / "summary.csv").is_file() or any(out.glob("*/job.json"))))):  # fmt: skip
        raise UsageError(f"--out {out}: exists and is not a fit-many output; choose a new one")
    if args.backend == "local" and args.address:
        raise UsageError("--address needs --backend ray")
    defaults = {k: getattr(args, k) for k in ("chains", "draws", "warmup", "seed",
                                              "target_accept")}  # fmt: skip
    _check_sampler_args(argparse.Namespace(**defaults, holdout=0))
    check_writable(out, inside=True)
    from mmmjax.files import write_csv
    from mmmjax.many import fit_many, read_manifest

    with reading(args.manifest):
        jobs = read_manifest(args.manifest)
    many = fit_many(jobs, backend=args.backend, out=out, address=args.address,
                    batch={"yes": True, "no": False}.get(args.batch, "auto"),
                    num_cpus=args.num_cpus, num_gpus=args.num_gpus,
                    progress=not args.no_progress, **defaults)  # fmt: skip
    write_csv(many.summary, out / "summary.csv")
    counts = many.summary["status"].value_counts()
    print(", ".join(f"{n} {status}" for status, n in counts.items()) + f"; wrote {out}/summary.csv")
    return EXIT_JOBS_FAILED if "failed" in counts else 0


def cmd_bench(args) -> None:
    from mmmjax.bench import run_bench

    run_bench(quick=args.quick, out=args.out)


COMMANDS = {"demo": cmd_demo, "fit": cmd_fit, "optimize": cmd_optimize, "plan": cmd_plan,
            "fit-many": cmd_fit_many, "bench": cmd_bench}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mmmjax`` console script; returns the exit status."""
    from mmmjax.errors import DataError

    try:
        try:
            args = _parser().parse_args(argv)
        except SystemExit as exc:  # --help, --version: argparse's own exit
            return exc.code if isinstance(exc.code, int) else 0
        status = COMMANDS[args.command](args) or 0
    except UsageError as exc:
        if exc.usage:
            sys.stderr.write(exc.usage)
        print(f"{exc.prog}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except DataError as exc:
        print(f"mmmjax: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        if os.environ.get("MMMJAX_DEBUG"):
            raise
        print(f"mmmjax: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as exc:  # fit-many's says which jobs are saved (many.Interrupted)
        print(f"mmmjax: {str(exc) or 'interrupted; nothing was written'}", file=sys.stderr)
        return 130
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
