"""``mmmjax fit CSV --geo COL [--population COL] ...``: fit a geo panel from the command line.

Called by :func:`mmmjax.cli.cmd_fit` when ``--geo`` is given. Writes, into ``--out``, the saved
fit (``fit.nc``, ``fit.json``; load it with :func:`mmmjax.load_geo_fit`), ``roi.csv`` (national
rows, then one row per geo and channel) and ``report.html`` (:func:`mmmjax.write_report`). Like
every ``mmmjax`` command, bad input prints one line and exits with status 2, and ``--out`` is
only replaced once everything is written.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path

import pandas as pd

__all__ = ["cmd_fit_geo", "roi_table"]


def roi_table(fit) -> pd.DataFrame:
    """National and per-geo ROI in one table: a ``level`` column ("national" or "geo"), the geo
    (empty on national rows), the channel and the columns of :func:`mmmjax.geo.roi`."""
    from mmmjax.geo import insights

    geo_col = fit.dataset.geo_name
    national = insights.roi(fit, by="national").reset_index()
    national.insert(0, geo_col, "")
    national.insert(0, "level", "national")
    per_geo = insights.roi(fit, by="geo").reset_index()
    per_geo.insert(0, "level", "geo")
    return pd.concat([national, per_geo], ignore_index=True)


def cmd_fit_geo(args, out: Path) -> int:
    """Fit the geo model ``GeoMMM(spec)`` (``spec`` from the model flags) to ``args.csv`` and
    write the outputs into ``out``; returns the exit status (see :mod:`mmmjax.cli`)."""
    from mmmjax.cli import (
        UsageError,
        diagnostics_text,
        reading,
        report_convergence,
        spec_from_args,
        split_names,
    )
    from mmmjax.geo.data import GeoDataset  # NumPy and pandas only: the columns are checked first

    for flag, given in (("--holdout", args.holdout), ("--events", args.events)):
        if given:
            raise UsageError(f"{flag} is not available with --geo")
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
        )
    spec = spec_from_args(args)
    import mmmjax
    from mmmjax.cli import sample_with_args
    from mmmjax.files import replace_dir, write_csv
    from mmmjax.geo import GeoMMM
    from mmmjax.report import write_report

    previous = None
    if getattr(args, "refresh", None):
        from mmmjax.geo.fit import is_geo_fit_dir, load_geo_fit
        from mmmjax.refresh import check_extends
        from mmmjax.store import is_fit_dir

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
    table = roi_table(fit)
    national = table[table.level == "national"].set_index("channel")
    per_geo = table[table.level == "geo"].set_index([panel.geo_name, "channel"])
    health = fit.review()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        fit.save(tmp)
        write_csv(table, tmp / "roi.csv", index=False)
        write_report(fit, tmp / "report.html", roi=national, roi_geo=per_geo, health=health)
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print(
        f"fitted {panel.n_channels} channels in {panel.n_geos} geos x {panel.n_periods} periods "
        f"in {fit.info.get('seconds', float('nan')):.1f} s ({fit.info.get('chain_method')} "
        f"chains): {diagnostics_text(fit.diagnostics())}"
    )
    print(health)
    print("national ROI:")
    print(national[["roi_mean", "roi_low", "roi_high", "mroi_mean"]].round(2).to_string())
    print(f"wrote {out / 'report.html'}, {out / 'roi.csv'} (national and per geo) and the "
          f"saved fit in {out}")  # fmt: skip
    return report_convergence(fit, out)
