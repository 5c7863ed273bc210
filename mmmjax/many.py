"""Many fits at once: :func:`fit_many` over a list of jobs, locally or on a Ray cluster.

A *job* is one model to fit: a name, a :class:`~mmmjax.Dataset`, an :class:`~mmmjax.MMM` and
its fit options. Jobs are grouped into *units*; a unit is either one job, or several jobs of
the same shape (same specification and priors, same array sizes, same sampler settings) that
are sampled together by :func:`mmmjax.inference.sampling.run_nuts_batched` (models ``vmap``-ed
inside
each chain's compiled program). Locally units run one after another in this process (same-shape
units reuse one compiled program); with ``backend="ray"`` each unit is one Ray task.

With ``out=DIR`` each finished job is saved to ``DIR/<name>/`` (``fit.nc`` + ``fit.json``,
see :meth:`~mmmjax.Fit.save`) followed by ``job.json``, which holds the job's fingerprint and
its summary row and is written last: a job whose ``job.json`` matches its fingerprint is
finished, so a rerun after an interruption skips it. A failed job writes nothing there (and
removes a ``job.json`` it left earlier), so a rerun fits it again. Interrupted by Ctrl-C,
:func:`fit_many` raises :class:`Interrupted`, whose message names the jobs saved so far.

Batching pays where the gradient of many models costs about as much as one (accelerators). On
a CPU the batched gradient costs about as many times one as there are models, and ``vmap``-ed
NUTS adds bookkeeping, so ``batch="auto"`` batches only on GPU/TPU
(``benchmarks/bench_fit_many.py`` measures both).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import traceback
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from mmmjax.data import Dataset, GeoDataset, is_panel
from mmmjax.engine import fit as fit_any
from mmmjax.engine import load_fit
from mmmjax.errors import DataError, SamplerWarning
from mmmjax.files import atomic_write_text
from mmmjax.inference.fit import (
    Fit,
    assemble,
    check_fit_options,
    initial_map,
    is_fit_dir,
    prepare,
    sampler_messages,
)
from mmmjax.model import MMM

__all__ = [
    "FIT_DEFAULTS",
    "RESERVED_NAMES",
    "CsvData",
    "Interrupted",
    "Job",
    "ManyFits",
    "fit_many",
    "read_manifest",
]

#: Fit options a job may set (its ``options``), with the defaults of :func:`fit_many`.
FIT_DEFAULTS: dict[str, Any] = {
    "chains": 4,
    "draws": 1000,
    "warmup": 1000,
    "seed": 0,
    "target_accept": 0.85,
    "max_tree_depth": 10,
    "dense_mass": False,
    "chain_method": "auto",
    "prior_draws": 500,
    "init": "prior",
    "map_steps": 2000,
    "lift_tests": None,  # LiftTest records calibrating this job (see mmmjax.model.calibration)
}
_PER_MODEL = ("seed", "prior_draws")  # options that may differ between models of one batch
FAULT_ENV = "MMMJAX_FAULT_KILL_ONCE"  # "<job name>:<marker file>", for testing Ray retries
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]*$")
#: Names no job may take (compared ignoring case): files ``mmmjax fit-many`` writes beside the
#: jobs' directories in ``--out``.
RESERVED_NAMES = ("summary.csv",)


class CsvData(NamedTuple):
    """A dataset still on disk: :meth:`mmmjax.Dataset.from_csv` arguments, loaded when the
    job starts, so that one unreadable file fails its own job and not the whole run."""

    path: str
    date: str
    target: str
    channels: tuple[str, ...]
    controls: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    date_format: str | None = None

    def load(self) -> Dataset:
        return Dataset.from_csv(self.path, date=self.date, target=self.target,
                                channels=self.channels, controls=self.controls,
                                events=self.events, date_format=self.date_format)  # fmt: skip


class Job(NamedTuple):
    """One model to fit: ``name`` (also its directory under ``out``), data, model, options.

    ``dataset`` is a :class:`~mmmjax.Dataset` or a :class:`CsvData` to load.
    ``options`` overrides :data:`FIT_DEFAULTS` (and the defaults given to :func:`fit_many`)
    for this job, e.g. ``{"seed": 3, "draws": 500}``.
    """

    name: str
    dataset: Dataset
    model: MMM = MMM()
    options: Mapping[str, Any] = {}


class Interrupted(KeyboardInterrupt):
    """:func:`fit_many` stopped by Ctrl-C (``KeyboardInterrupt``); ``str()`` says which jobs
    are saved and that a rerun into the same folder continues with the rest.

    Attributes:
      saved: names of the jobs whose finished fit is under ``out`` (this run's or an earlier
        one's), in job order; a rerun skips them.
      total: the number of jobs.
    """

    def __init__(self, message: str, saved: Sequence[str], total: int) -> None:
        super().__init__(message)
        self.saved, self.total = tuple(saved), int(total)


class ManyFits(Mapping[str, Fit]):
    """The result of :func:`fit_many`: a mapping ``name -> Fit`` of the jobs that produced a
    fit, plus ``summary``, a DataFrame indexed by job name with one row per job.

    ``summary`` columns: ``status`` ("ok", "not converged" or "failed"), ``message`` (the
    error or sampler warning, empty when ok), ``reused`` (loaded from a finished earlier run),
    ``seconds`` (sampling wall time; shared by the jobs of one batch), ``batch_size``,
    ``max_r_hat``, ``min_ess_bulk``, ``min_ess_tail``, ``divergences``, ``r2``, ``mape``
    (in-sample, posterior mean), ``roi_<channel>`` (posterior mean ROI) and ``path``. Fits
    saved under ``out`` are loaded from disk on first access.
    """

    def __init__(self, fits: Mapping[str, Fit | Path], summary: pd.DataFrame) -> None:
        self._fits = dict(fits)
        self.summary = summary

    def __getitem__(self, name: str) -> Fit:
        fit = self._fits[name]
        if isinstance(fit, Path):
            fit = self._fits[name] = load_fit(fit)
        return fit

    def __iter__(self) -> Iterator[str]:
        return iter(self._fits)

    def __len__(self) -> int:
        return len(self._fits)

    @property
    def failed(self) -> pd.DataFrame:
        """Rows of the jobs that failed, with their messages."""
        return self.summary[self.summary["status"] == "failed"]


# ----------------------------------------------------------------------------------------------
# one unit of work (runs in this process or in a Ray worker)
# ----------------------------------------------------------------------------------------------
def _options(job: Job, defaults: Mapping[str, Any]) -> dict[str, Any]:
    opts = {**FIT_DEFAULTS, **defaults, **job.options}
    unknown = sorted(set(opts) - set(FIT_DEFAULTS))
    if unknown:
        raise ValueError(f"job {job.name!r}: unknown fit options {unknown}")
    return opts


def fingerprint(job: Job, options: Mapping[str, Any]) -> str:
    """A hash of everything that determines a job's fit: data, model, priors and options."""
    h = hashlib.sha256()
    ds = job.dataset
    panel = is_panel(ds)
    arrays = (ds.spend, ds.target, ds.controls, ds.population if panel else ds.events)
    for arr in arrays:
        a = np.ascontiguousarray(arr, dtype=np.float64)
        h.update(str(a.shape).encode() + a.tobytes())
    h.update(np.asarray(ds.dates.asi8).tobytes())
    names = [ds.target_name, ds.date_name, ds.freq, *ds.channels, "|", *ds.control_names, "|",
             *(ds.geos if panel else ds.event_names)]  # fmt: skip
    h.update(json.dumps(names).encode())
    h.update(json.dumps(job.model.to_dict(), sort_keys=True, default=repr).encode())
    h.update(json.dumps(dict(options), sort_keys=True, default=repr).encode())
    return h.hexdigest()


def _row(fit: Fit, seconds: float, batch_size: int) -> dict[str, Any]:
    from mmmjax.inference.validation import in_sample
    from mmmjax.insights import roi

    diag = fit.diagnostics()
    problems = sampler_messages(diag)
    metrics = in_sample(fit)
    row: dict[str, Any] = {
        "status": "not converged" if problems else "ok",
        "message": " ".join(problems),
        "seconds": float(seconds),
        "batch_size": int(batch_size),
        "max_r_hat": float(diag["max_r_hat"]),
        "min_ess_bulk": float(diag["min_ess_bulk"]),
        "min_ess_tail": float(diag["min_ess_tail"]),
        "divergences": int(diag["divergences"]),
        "r2": float(metrics.r2),
        "mape": float(metrics.mape),
    }
    for channel, value in roi(fit)["roi_mean"].items():
        row[f"roi_{channel}"] = float(value)
    return row


def _failed(exc: BaseException) -> dict[str, Any]:
    message = str(exc) or type(exc).__name__
    if not isinstance(exc, DataError | ValueError):
        message = f"{type(exc).__name__}: {message}"
    return {"status": "failed", "message": message.splitlines()[0]}


def _finish(job: Job, fit: Fit | None, row: dict, out: Path | None, key: str) -> dict:
    """Save a finished job (fit, then ``job.json`` last) and return its row.

    A failed job (``fit is None``) writes nothing; the ``job.json`` of an earlier run goes in
    either case, first, so that the folder is never marked finished with a stale fingerprint
    and :meth:`~mmmjax.Fit.save` finds a fit (or nothing) there, never a lone ``job.json``.
    """
    row = {"name": job.name, **row, "reused": False}
    if out is not None:
        path = out / job.name
        (path / "job.json").unlink(missing_ok=True)
        if fit is not None:
            fit.save(path)
            row["path"] = str(path)
            atomic_write_text(path / "job.json", json.dumps({"fingerprint": key, "row": row}))
    return row


def _run_unit(
    jobs: Sequence[Job], options: Sequence[dict], out: Path | None, keep: bool
) -> list[tuple[dict, Fit | None]]:
    """Fit the jobs of one unit (one job, or several batched); never raises for a job's error.

    Returns ``(row, fit)`` per job; ``fit`` is ``None`` when it failed or when ``keep`` is
    false (the fit is then only on disk).
    """
    from mmmjax.inference.sampling import run_nuts, run_nuts_batched

    results: list[tuple[dict, Fit | None]] = [({}, None)] * len(jobs)
    if len(jobs) == 1 and is_panel(jobs[0].dataset):
        return [_run_panel(jobs[0], options[0], out, keep)]
    problems: list[Any] = []
    for i, (job, opts) in enumerate(zip(jobs, options, strict=True)):
        try:
            check_fit_options(opts["chains"], opts["draws"], opts["warmup"], opts["init"])
            problems.append(prepare(job.model, job.dataset, lift_tests=opts["lift_tests"]))
        except Exception as exc:  # a job's bad data or options fail that job alone
            results[i] = (_finish(job, None, _failed(exc), out, fingerprint(job, opts)), None)
            problems.append(None)
    todo = [i for i, p in enumerate(problems) if p is not None]
    if not todo:
        return results
    opts = options[todo[0]]
    sampler = {k: opts[k] for k in ("chains", "draws", "warmup", "target_accept",
                                    "max_tree_depth", "dense_mass", "chain_method")}  # fmt: skip
    inits = [
        initial_map(problems[i], opts["chains"], options[i]["seed"], opts["map_steps"])
        if opts["init"] == "map" else None
        for i in todo
    ]  # fmt: skip
    first = problems[todo[0]]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SamplerWarning)
            if len(todo) == 1:
                samples = [run_nuts(first.model, first.model_key, first.model_args,
                                    priors=first.priors, shapes=first.shapes,
                                    seed=options[todo[0]]["seed"], progress=False,
                                    init_values=inits[0], **sampler)]  # fmt: skip
            else:
                samples = run_nuts_batched(
                    first.model, first.model_key, [problems[i].model_args for i in todo],
                    priors=first.priors, shapes=first.shapes,
                    seeds=[options[i]["seed"] for i in todo], progress=False,
                    init_values=inits, **sampler,
                )  # fmt: skip
    except Exception as exc:
        for i in todo:
            key = fingerprint(jobs[i], options[i])
            results[i] = (_finish(jobs[i], None, _failed(exc), out, key), None)
        return results
    for i, result in zip(todo, samples, strict=True):
        job, o = jobs[i], options[i]
        try:
            info = {"target_accept": o["target_accept"], "init": o["init"],
                    "batch_size": len(todo)}  # fmt: skip
            fit = assemble(problems[i], result, seed=o["seed"], prior_draws=o["prior_draws"],
                           warn=False, info=info)  # fmt: skip
            row = _row(fit, result.seconds_warmup_and_sampling, result.batch_size)
            results[i] = (_finish(job, fit, row, out, fingerprint(job, o)), fit if keep else None)
        except Exception as exc:
            results[i] = (_finish(job, None, _failed(exc), out, fingerprint(job, o)), None)
    return results


def _run_panel(job: Job, opts: dict, out: Path | None, keep: bool) -> tuple[dict, Any]:
    """Fit one job on a panel (never batched: the pooled model has its own program per shape)
    through the one entry :func:`mmmjax.engine.fit`; never raises for the job's error."""
    import time

    options = dict(opts)
    if job.dataset.n_geos > 1:  # prior draws are stored for national fits only (for now)
        options.pop("prior_draws")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SamplerWarning)
            start = time.perf_counter()
            fit = fit_any(job.model, job.dataset, progress=False, warn=False, review="off",
                          **options)  # fmt: skip
            seconds = time.perf_counter() - start
        row = _finish(job, fit, _row(fit, seconds, 1), out, fingerprint(job, opts))
        return row, fit if keep else None
    except Exception as exc:
        return _finish(job, None, _failed(exc), out, fingerprint(job, opts)), None


def _ray_unit(jobs, options, out: str) -> list[dict]:
    """A Ray task: :func:`_run_unit` writing to ``out``; returns the rows only."""
    spec = os.environ.get(FAULT_ENV, "")
    if spec:
        name, _, marker = spec.partition(":")
        if any(j.name == name for j in jobs) and not os.path.exists(marker):
            Path(marker).write_text("killed once")
            os._exit(1)  # a worker dying mid-task, for the retry test
    return [row for row, _ in _run_unit(jobs, options, Path(out), keep=False)]


# ----------------------------------------------------------------------------------------------
# planning: which jobs are done, which run together
# ----------------------------------------------------------------------------------------------
def _check_name(name: Any) -> None:
    """Raise :class:`~mmmjax.DataError` unless ``name`` can name a job's folder under ``out``:
    not empty, no path separator, no ``..``, not one of :data:`RESERVED_NAMES`."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise DataError(
            f"job name {name!r}: use letters, digits, '.', '_', '-' or '=' (it names a "
            "directory), starting with a letter or digit, without '..'"
        )
    if name.lower() in RESERVED_NAMES:
        raise DataError(f"job name {name!r}: taken by an output file of fit-many; choose another")


def _as_job(job: Job | Sequence[Any]) -> Job:
    """``job`` as a :class:`Job`; :class:`~mmmjax.DataError` for a bad name (see
    :func:`_check_name`), :class:`TypeError` for the wrong kinds of dataset or model."""
    job = job if isinstance(job, Job) else Job(*job)
    _check_name(job.name)
    if not isinstance(job.dataset, Dataset | GeoDataset | CsvData):
        raise TypeError(
            f"job {job.name!r}: dataset must be an mmmjax.Dataset, a GeoDataset or CsvData"
        )
    if not isinstance(job.model, MMM):
        raise TypeError(f"job {job.name!r}: model must be an mmmjax.MMM")
    return job


def _batch_key(job: Job, opts: Mapping[str, Any]) -> str:
    """Jobs with equal keys can share one batched program (a panel's job runs alone)."""
    ds = job.dataset
    if is_panel(ds):
        return f"panel-{job.name}"
    sizes = (ds.n_periods, ds.n_channels, len(ds.control_names), len(ds.event_names))
    shared = {k: v for k, v in opts.items() if k not in _PER_MODEL}
    spec = job.model.resolved_priors(ds.channels)
    priors = {k: p.to_dict() for k, p in sorted(spec.items())}
    return json.dumps([job.model.to_dict(), priors, sizes, shared], sort_keys=True, default=repr)


def _units(jobs: Sequence[Job], options: Sequence[dict], batch: bool, batch_size: int):
    """Indices of jobs grouped into units, in the order of their first job."""
    if not batch:
        return [[i] for i in range(len(jobs))]
    groups: dict[str, list[int]] = {}
    for i, (job, opts) in enumerate(zip(jobs, options, strict=True)):
        try:
            key = _batch_key(job, opts)
        except Exception:  # bad priors etc.: let the job fail alone when it runs
            key = f"alone-{i}"
        groups.setdefault(key, []).append(i)
    return [g[s : s + batch_size] for g in groups.values() for s in range(0, len(g), batch_size)]


def _resolve_batch(batch: bool | str) -> bool:
    if batch == "auto":
        import jax

        return jax.default_backend() != "cpu"
    if not isinstance(batch, bool):
        raise ValueError(f"batch must be True, False or 'auto', got {batch!r}")
    return batch


def _reuse(job: Job, key: str, out: Path | None) -> dict | None:
    """The saved row of ``job`` when ``out`` holds its finished fit with the same fingerprint."""
    if out is None:
        return None
    path = out / job.name
    try:
        saved = json.loads((path / "job.json").read_text())
    except (OSError, ValueError):
        return None
    row = saved.get("row", {})
    # a failed job runs again: its data or the cluster may have been fixed since
    if saved.get("fingerprint") != key or row.get("status") == "failed" or not is_fit_dir(path):
        return None
    return {**row, "reused": True}


# ----------------------------------------------------------------------------------------------
# the entry point
# ----------------------------------------------------------------------------------------------
def fit_many(
    jobs: Iterable[Job | Sequence[Any]],
    *,
    backend: str = "local",
    out: str | os.PathLike | None = None,
    batch: bool | str = "auto",
    batch_size: int = 64,
    address: str | None = None,
    num_cpus: float = 1,
    num_gpus: float = 0,
    max_retries: int = 3,
    progress: bool = True,
    **defaults: Any,
) -> ManyFits:
    """Fit many models: batched on one device, one after another, or fanned out on Ray.

    Args:
      jobs: :class:`Job` records, or tuples ``(name, dataset[, model[, options]])``. Names must
        be unique; they name the result and the job's directory under ``out``.
      backend: ``"local"`` (this process) or ``"ray"`` (one Ray task per unit; needs
        ``pip install 'mmmjax[ray]'`` and ``out``).
      out: directory for saved fits (``out/<name>/``); finished jobs found there with the same
        data, model and options are not fitted again (their rows say ``reused``).
      batch: sample same-shape jobs together in one ``vmap``-ed program (``True``), never
        (``False``), or only on GPU/TPU (``"auto"``; on CPU it is slower, see module docs).
      batch_size: most jobs per batch.
      address: Ray cluster address (``ray.init(address=...)``); ``None`` connects to a running
        cluster if ``RAY_ADDRESS`` is set, else starts a local one.
      num_cpus, num_gpus: resources each Ray task asks for.
      max_retries: Ray retries of a task whose worker died.
      progress: print one line per finished job to stderr.
      **defaults: fit options for every job (:data:`FIT_DEFAULTS`), e.g. ``draws=500``.

    Returns:
      :class:`ManyFits`: ``result[name]`` is a :class:`~mmmjax.Fit`, ``result.summary`` the
      table of every job (failed ones included, with their error). One job's bad data or
      failed sampling never stops the others.

    Example:
      >>> jobs = [(f"m{s}", mmmjax.simulate(seed=s)[0]) for s in range(4)]  # doctest: +SKIP
      >>> many = mmmjax.fit_many(jobs, draws=500, warmup=500)  # doctest: +SKIP
      >>> many.summary[["status", "max_r_hat", "roi_ch0"]]  # doctest: +SKIP
    """
    if backend not in ("local", "ray"):
        raise ValueError(f"backend must be 'local' or 'ray', got {backend!r}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    jobs = [_as_job(j) for j in jobs]
    names = [j.name for j in jobs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"job names must be unique; repeated: {dupes}")
    out_path = Path(out) if out is not None else None
    if backend == "ray" and out_path is None:
        raise ValueError("backend='ray' writes each fit to disk: pass out=DIR")
    options = [_options(j, defaults) for j in jobs]
    if out_path is not None:
        for name in names:
            if (out_path / name).exists() and not (out_path / name).is_dir():
                raise FileExistsError(
                    f"{out_path / name}: exists and is not a folder; job {name!r} saves its fit "
                    "there"
                )
    rows: dict[str, dict] = {}
    try:
        ray_options = {"address": address, "num_cpus": num_cpus, "num_gpus": num_gpus,
                       "max_retries": max_retries}  # fmt: skip
        return _fit_all(jobs, options, out_path, rows, backend=backend, batch=batch,
                        batch_size=int(batch_size), progress=progress,
                        ray_options=ray_options)  # fmt: skip
    except KeyboardInterrupt:
        unread = sum(isinstance(j.dataset, CsvData) and j.name not in rows for j in jobs)
        raise _interrupted(jobs, options, out_path, unread) from None


def _interrupted(
    jobs: Sequence[Job], options: Sequence[dict], out: Path | None, unread: int
) -> Interrupted:
    """What a Ctrl-C leaves: the jobs whose finished fit is on disk (read back from ``out``);
    ``unread`` jobs' data files were not read yet, so whether they are saved is not known."""
    if out is None:
        return Interrupted(
            "interrupted; nothing was saved (without out=DIR the fits are kept in memory only)",
            (), len(jobs),
        )  # fmt: skip
    saved = [
        j.name
        for j, o in zip(jobs, options, strict=True)
        if isinstance(j.dataset, Dataset | GeoDataset)
        and _reuse(j, fingerprint(j, o), out) is not None
    ]
    for job in jobs:  # a save cut short may leave its job's folder empty: nothing to keep
        folder = out / job.name
        if job.name not in saved and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    if saved:
        shown = ", ".join(saved[:5]) + (f" and {len(saved) - 5} more" if len(saved) > 5 else "")
        message = (
            f"interrupted; {len(saved)} of {len(jobs)} jobs are saved under {out} ({shown}); a "
            "rerun into the same folder skips them"
        )
        message += f"; {unread} jobs were not read yet" if unread else (
            f" and fits the other {len(jobs) - len(saved)}")  # fmt: skip
    elif unread:
        message = (f"interrupted; no job read so far is saved under {out}; {unread} jobs were "
                   "not read yet")  # fmt: skip
    else:
        message = f"interrupted; no job is saved under {out}; a rerun fits every job"
    return Interrupted(message, saved, len(jobs))


def _fit_all(
    jobs: list[Job],
    options: list[dict],
    out_path: Path | None,
    rows: dict[str, dict],
    *,
    backend: str,
    batch: bool | str,
    batch_size: int,
    progress: bool,
    ray_options: dict[str, Any],
) -> ManyFits:
    """The body of :func:`fit_many` once its arguments are checked. Replaces each
    :class:`CsvData` in ``jobs`` (in place) by its loaded :class:`~mmmjax.Dataset` and fills
    ``rows`` (name -> summary row) as jobs are read, reused or finished."""
    names = [j.name for j in jobs]
    fits: dict[str, Fit | Path] = {}
    for k, job in enumerate(jobs):
        if isinstance(job.dataset, CsvData):
            try:
                jobs[k] = job = job._replace(dataset=job.dataset.load())
            except (DataError, OSError, ValueError) as exc:
                failed = _failed(exc)
                failed["message"] = f"{job.dataset.path}: {failed['message']}"
                rows[job.name] = {"name": job.name, **failed, "reused": False}
                continue
        row = _reuse(job, fingerprint(job, options[k]), out_path)
        if row is not None:
            rows[job.name] = row
            fits[job.name] = out_path / job.name
    todo = [i for i, j in enumerate(jobs) if j.name not in rows]
    report = _Reporter(len(jobs), sum(bool(r["reused"]) for r in rows.values()), progress)
    for name in rows:
        report(rows[name])
    units = [[todo[k] for k in unit] for unit in
             _units([jobs[i] for i in todo], [options[i] for i in todo], _resolve_batch(batch),
                    batch_size)]  # fmt: skip
    if backend == "local":
        for unit in units:
            done = _run_unit([jobs[i] for i in unit], [options[i] for i in unit], out_path,
                             keep=True)  # fmt: skip
            for row, fit in done:
                rows[row["name"]] = report(row)
                if fit is not None:
                    fits[row["name"]] = fit
    else:
        for row in _run_ray(jobs, options, units, out_path, **ray_options):
            rows[row["name"]] = report(row)
            if row["status"] != "failed":
                fits[row["name"]] = out_path / row["name"]
    summary = pd.DataFrame([rows[n] for n in names]).set_index("name")
    for col in ("message", "path"):
        if col not in summary:
            summary[col] = ""
        summary[col] = summary[col].fillna("")
    return ManyFits({n: fits[n] for n in names if n in fits}, summary)


class _Reporter:
    """One line per finished job on stderr: ``[3/32] brand-a: ok in 4.2 s (max r-hat 1.004)``."""

    def __init__(self, total: int, done: int, enabled: bool) -> None:
        self.total, self.count, self.enabled = total, 0, enabled
        if enabled and done:
            print(f"fit-many: {done} of {total} jobs already finished; skipping them",
                  file=sys.stderr)  # fmt: skip

    def __call__(self, row: dict) -> dict:
        self.count += 1
        if self.enabled:
            if row.get("reused"):
                what = "finished earlier"
            elif row["status"] == "failed":
                what = f"FAILED: {row['message']}"
            else:
                what = (
                    f"{row['status']} in {row['seconds']:.1f} s (max r-hat {row['max_r_hat']:.3f})"
                )
            print(f"[{self.count}/{self.total}] {row['name']}: {what}", file=sys.stderr, flush=True)
        return row


def _run_ray(jobs, options, units, out: Path, *, address, num_cpus, num_gpus, max_retries):
    """Yield rows as Ray tasks finish; a task lost for good yields failed rows for its jobs."""
    try:
        import ray
    except ImportError as exc:
        raise ImportError("backend='ray' needs Ray: pip install 'mmmjax[ray]'") from exc

    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"address": address, "log_to_driver": False}
        if address is None and not os.environ.get("RAY_ADDRESS"):
            kwargs["include_dashboard"] = False
        with warnings.catch_warnings():
            # Ray forks its local services after JAX has started threads; they exec at once
            warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called")
            ray.init(**kwargs)
        started = True
    try:
        task = ray.remote(_ray_unit).options(
            num_cpus=num_cpus, num_gpus=num_gpus, max_retries=max_retries
        )
        pending = {}
        for unit in units:
            ref = task.remote([jobs[i] for i in unit], [options[i] for i in unit], str(out))
            pending[ref] = unit
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            unit = pending.pop(ready[0])
            try:
                rows = ray.get(ready[0])
            except Exception as exc:  # the worker died more often than max_retries
                detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
                rows = [{"name": jobs[i].name, "status": "failed", "reused": False,
                         "message": f"Ray task lost: {detail.splitlines()[0]}"}
                        for i in unit]  # fmt: skip
            yield from rows
    finally:
        if started:
            ray.shutdown()


# ----------------------------------------------------------------------------------------------
# the manifest of `mmmjax fit-many`
# ----------------------------------------------------------------------------------------------
_MANIFEST_REQUIRED = ("name", "csv", "date", "target", "channels")
_MANIFEST_DATA = ("controls", "events", "date_format")
_MANIFEST_MODEL = {"adstock": str, "saturation": str, "l_max": int, "seasonality": int,
                   "trend": str, "likelihood": str, "form": str}  # fmt: skip
_MANIFEST_FIT = {"chains": int, "draws": int, "warmup": int, "seed": int,
                 "target_accept": float, "init": str}  # fmt: skip


def read_manifest(path: str | os.PathLike) -> list[Job]:
    """Jobs from a manifest CSV, one job per row.

    Columns: ``name``, ``csv`` (path, relative to the manifest's folder), ``date``, ``target``,
    ``channels`` (names separated by ``;``), optional ``controls``/``events`` (``;``-separated)
    and ``date_format``; optional model columns (``adstock``, ``saturation``, ``l_max``,
    ``seasonality``, ``trend``, ``likelihood``, ``form``) and fit columns (``chains``,
    ``draws``, ``warmup``, ``seed``, ``target_accept``, ``init``). An empty cell takes the
    default. The data files are read when each job starts (a bad file fails its job alone);
    a bad manifest raises :class:`~mmmjax.DataError` naming the row and column.

    Example manifest::

        name,csv,date,target,channels,seed
        brand_a,a.csv,week,revenue,tv;search;social,1
        brand_b,b.csv,week,revenue,tv;search,2
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise DataError(f"manifest {path}: no such file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"manifest {path}: not a readable CSV ({exc})") from None
    frame.columns = [c.strip() for c in frame.columns]
    missing = [c for c in _MANIFEST_REQUIRED if c not in frame.columns]
    if missing:
        raise DataError(f"manifest {path}: missing column(s) {missing}")
    known = {*_MANIFEST_REQUIRED, *_MANIFEST_DATA, *_MANIFEST_MODEL, *_MANIFEST_FIT}
    unknown = [c for c in frame.columns if c not in known]
    if unknown:
        raise DataError(f"manifest {path}: unknown column(s) {unknown}; known: {sorted(known)}")
    if frame.empty:
        raise DataError(f"manifest {path}: no jobs (the file has a header only)")
    jobs = [
        _manifest_job({k: v.strip() for k, v in rec.items()}, f"manifest {path}, row {i + 2}",
                      path.parent)  # the header is row 1
        for i, rec in enumerate(frame.to_dict("records"))
    ]  # fmt: skip
    names_seen = [j.name for j in jobs]
    for k, name in enumerate(names_seen):
        if name in names_seen[:k]:
            raise DataError(f"manifest {path}, row {k + 2}, column 'name': {name!r} repeats")
    return jobs


def _manifest_job(rec: dict[str, str], where: str, base: Path) -> Job:
    """One manifest row (stripped strings) as a :class:`Job`; errors name ``where``."""
    for col in _MANIFEST_REQUIRED:
        if not rec[col]:
            raise DataError(f"{where}, column {col!r}: empty")
    try:
        _check_name(rec["name"])
    except DataError as exc:
        raise DataError(f"{where}, column 'name': {exc}") from None

    def typed(col: str, kind: type) -> Any:
        try:
            return kind(rec[col])
        except ValueError:
            raise DataError(
                f"{where}, column {col!r}: {rec[col]!r} is not {kind.__name__}"
            ) from None

    def names(col: str) -> tuple[str, ...]:
        return tuple(n.strip() for n in rec.get(col, "").split(";") if n.strip())

    csv = Path(rec["csv"])
    data = CsvData(str(csv if csv.is_absolute() else base / csv), rec["date"], rec["target"],
                   names("channels"), names("controls"), names("events"),
                   rec.get("date_format") or None)  # fmt: skip
    model = {k: typed(k, t) for k, t in _MANIFEST_MODEL.items() if rec.get(k)}
    options = {k: typed(k, t) for k, t in _MANIFEST_FIT.items() if rec.get(k)}
    try:
        return _as_job(Job(rec["name"], data, MMM(**model), options))
    except ValueError as exc:
        raise DataError(f"{where}: {exc}") from None
