"""Track fits and budget plans with MLflow (optional extra: ``pip install 'mmmjax[mlflow]'``).

:func:`log_fit` records one fit as one MLflow run:

- **parameters**: the model specification (``model.adstock``, ``model.saturation``,
  ``model.l_max``, ..., one ``model.prior.<site>[.<channel>]`` per overridden prior), the data
  (``data.target``, ``data.channels``, ``data.n_periods``, ``data.start``, ``data.end``, ...)
  and how it was sampled (``sampler.chains``, ``sampler.draws``, ``sampler.warmup``,
  ``sampler.seed``, ``sampler.target_accept``, ``sampler.chain_method``, ...);
- **metrics**: the diagnostics of :meth:`mmmjax.Fit.diagnostics` (``diagnostics.max_r_hat``,
  ``diagnostics.min_ess_bulk``, ``diagnostics.min_ess_tail``, ``diagnostics.divergences``), the
  in-sample fit of :func:`mmmjax.inference.validation.in_sample` (``fit.r2``, ``fit.mape``,
  ``fit.nrmse``,
  ``fit.coverage_50``, ``fit.coverage_94``, ``fit.crps``), ``sampler.seconds``, and per channel
  the ROI and marginal ROI of :func:`mmmjax.roi` (``roi.<ch>`` is ``roi_mean``, with
  ``roi.<ch>.low`` / ``roi.<ch>.high``; ``mroi.<ch>`` likewise);
- **tags**: ``mmmjax.kind`` ("national" or "geo"), ``mmmjax.version``, the worst parameters
  (``diagnostics.worst_r_hat``, ...), the sampler's warnings in words when there are any, and
  ``channel.<ch>`` = the channel's name as written in the data;
- **artifacts**: ``report.html``, ``roi.csv`` (raw channel names) and the saved fit in ``fit/``
  (``fit.nc`` + ``fit.json``: download it and :func:`mmmjax.load_fit` it back).

``<ch>`` is the channel name made safe for every MLflow store: each run of characters other than
letters, digits, ``_`` and ``-`` becomes one ``_`` (``"TV spend (€)"`` -> ``TV_spend``), and a
name that would repeat an earlier one gets ``_2``, ``_3``... (:func:`metric_names`). Metrics that
are not finite (r-hat of a one-chain fit) are left out rather than logged as NaN.

:func:`log_plan` records a :class:`mmmjax.Plan` (into the fit's run or a new one): metrics
``plan.total_budget``, ``plan.expected_response`` (``.low``, ``.high``),
``plan.current_response``, ``plan.uplift`` (``.low``, ``.high``), ``plan.objective_value``,
``plan.iterations``, ``plan.converged`` (1 or 0), ``plan.mroi_spread`` and per channel
``plan.allocation.<ch>`` (money per period) and ``plan.marginal_roi.<ch>``; tag
``plan.objective``; artifacts ``plan/plan.csv`` and ``plan/plan.json``. A second plan in the same
run takes another ``name``.

Where runs go: ``tracking_uri`` is any MLflow tracking URI (a tracking server
``http://host:5000``, ``sqlite:///mlflow.db``, ``databricks``), or a local directory (or
``file:`` URI), which is used as an MLflow file store; ``None`` means MLflow's own choice
(``mlflow.set_tracking_uri`` or ``MLFLOW_TRACKING_URI``, else MLflow's default). MLflow 3 keeps
file stores in "maintenance mode" behind ``MLFLOW_ALLOW_FILE_STORE=true``; a directory given
here is taken as that opt-in for the duration of the call. The light ``mlflow-skinny`` package
of the extra logs to servers and directories; MLflow 3's default store ``sqlite:///mlflow.db``
needs the full ``mlflow`` package (SQLAlchemy), and so does ``mlflow ui``.

``import mmmjax.mlflow`` works without MLflow installed; the functions raise an ``ImportError``
that says what to install.

Example:
    >>> import mmmjax, mmmjax.mlflow
    >>> fit = mmmjax.MMM().fit(mmmjax.datasets.load("demo"))                 # doctest: +SKIP
    >>> run = mmmjax.mlflow.log_fit(fit, tracking_uri="mlruns", experiment="demo")  # +SKIP
    >>> plan = mmmjax.optimize_budget(fit, 50_000)                              # doctest: +SKIP
    >>> mmmjax.mlflow.log_plan(plan, run_id=run, tracking_uri="mlruns")         # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import mmmjax
from mmmjax.kinds import is_panel
from mmmjax.outputs import roi_table

__all__ = [
    "INSTALL_HINT",
    "check_tracking",
    "fit_metrics",
    "fit_params",
    "fit_tags",
    "in_sample_metrics",
    "log_fit",
    "log_output",
    "log_plan",
    "metric_names",
    "plan_metrics",
]

#: What to run when MLflow is missing.
INSTALL_HINT = "pip install 'mmmjax[mlflow]'"
#: MLflow caps one ``log_batch`` call at 100 params, 100 tags and 1000 metrics.
_BATCH = {"params": 100, "tags": 100, "metrics": 1000}
#: Longest parameter / tag value logged (MLflow >= 2.10 allows 6000 / 8000 characters).
_MAX_PARAM, _MAX_TAG = 6000, 8000
#: URI schemes of MLflow's SQLAlchemy store.
_SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")


# ----------------------------------------------------------------------------------------------
# names
# ----------------------------------------------------------------------------------------------
def metric_names(names: Iterable[Any]) -> dict[Any, str]:
    """``{name: safe}``: each name made valid and unambiguous as part of an MLflow key.

    Every run of characters other than ASCII letters, digits, ``_`` and ``-`` becomes one ``_``
    (leading and trailing ``_`` dropped; an empty result becomes ``channel``); a safe name that
    an earlier one already took gets ``_2``, ``_3``, ... Tuples (``(geo, channel)``) are joined
    with ``.``. The same names in the same order always give the same keys.
    """
    out: dict[Any, str] = {}
    used: set[str] = set()
    for raw in names:
        parts = raw if isinstance(raw, tuple) else (raw,)
        safe = [re.sub(r"[^A-Za-z0-9_-]+", "_", str(p)).strip("_") or "channel" for p in parts]
        base = ".".join(safe)
        key, i = base, 2
        while key in used:
            key, i = f"{base}_{i}", i + 1
        used.add(key)
        out[raw] = key
    return out


# ----------------------------------------------------------------------------------------------
# MLflow client, runs, batches
# ----------------------------------------------------------------------------------------------
def _import_mlflow():
    try:
        import mlflow
    except ImportError as exc:
        raise ImportError(
            f"MLflow tracking needs the mlflow package, which is not installed: {INSTALL_HINT} "
            f"(or pip install mlflow-skinny)"
        ) from exc
    return mlflow


def _is_directory_uri(uri: str) -> bool:
    scheme = urlparse(uri).scheme
    return scheme in ("", "file") or len(scheme) == 1  # a plain path (C:\... on Windows too)


def _resolve_uri(mlflow, tracking_uri: str | os.PathLike | None) -> str:
    if tracking_uri is None or str(tracking_uri) == "":
        return mlflow.get_tracking_uri()
    uri = str(tracking_uri)
    if _is_directory_uri(uri) and urlparse(uri).scheme != "file":
        return Path(uri).expanduser().resolve().as_uri()
    return uri


@contextlib.contextmanager
def _client(tracking_uri: str | os.PathLike | None) -> Iterator[Any]:
    """An ``mlflow.MlflowClient`` for ``tracking_uri`` (see the module docstring), with MLflow
    3's file-store opt-in set while it is used when the store is a directory."""
    mlflow = _import_mlflow()
    uri = _resolve_uri(mlflow, tracking_uri)
    env = "MLFLOW_ALLOW_FILE_STORE"
    before = os.environ.get(env)
    if _is_directory_uri(uri):
        os.environ[env] = "true"
    try:
        try:
            client = mlflow.MlflowClient(tracking_uri=uri)
        except Exception as exc:
            # mlflow-skinny has no SQL store: MLflow 3's default sqlite:///mlflow.db fails here
            sql = urlparse(uri).scheme.split("+")[0] in _SQL_SCHEMES
            if isinstance(exc, ImportError) or (sql and find_spec("sqlalchemy") is None):
                raise ImportError(
                    f"MLflow tracking store {uri} needs a package that is not installed "
                    "(SQLAlchemy for a database store): pip install mlflow (the full package), "
                    "or log to a directory (a file store, e.g. 'mlruns') or to a tracking "
                    "server (http://...)"
                ) from exc
            raise
        yield client
    finally:
        if before is None:
            os.environ.pop(env, None)
        else:
            os.environ[env] = before


def _experiment_id(client, experiment: str | None) -> str:
    name = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME")
    if not name:
        return os.environ.get("MLFLOW_EXPERIMENT_ID", "0")  # MLflow's "Default" experiment
    found = client.get_experiment_by_name(name)
    if found is None:
        return client.create_experiment(name)
    if found.lifecycle_stage != "active":
        raise ValueError(f"MLflow experiment {name!r} is deleted; restore it or pick another name")
    return found.experiment_id


@contextlib.contextmanager
def _run(client, run_id, tracking_uri, experiment, run_name, tags) -> Iterator[tuple[str, bool]]:
    """``(run_id, created)``: ``run_id`` if given, else the active ``mlflow.start_run()`` run
    when neither ``tracking_uri`` nor ``experiment`` asks for another place, else a new run.
    A run created here is ended when the block ends (status FAILED if it raised)."""
    mlflow = _import_mlflow()
    if run_id is None and tracking_uri is None and experiment is None:
        active = mlflow.active_run()
        run_id = active.info.run_id if active is not None else None
    if run_id is not None:
        yield run_id, False
        return
    run = client.create_run(
        _experiment_id(client, experiment), run_name=run_name, tags=dict(tags or {})
    )
    try:
        yield run.info.run_id, True
    except BaseException:
        client.set_terminated(run.info.run_id, status="FAILED")
        raise
    client.set_terminated(run.info.run_id)


def _finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _log_batch(client, run_id: str, *, params=None, metrics=None, tags=None) -> None:
    """Log ``{key: value}`` params, metrics (non-finite ones dropped) and tags in batches."""
    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    entities = {
        "params": [Param(k, _text(v, _MAX_PARAM)) for k, v in (params or {}).items()],
        "metrics": [Metric(k, float(v), now, 0) for k, v in (metrics or {}).items() if _finite(v)],
        "tags": [RunTag(k, _text(v, _MAX_TAG)) for k, v in (tags or {}).items()],
    }
    for kind, items in entities.items():
        size = _BATCH[kind]
        for i in range(0, len(items), size):
            client.log_batch(run_id, **{kind: items[i : i + size]})


def _text(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ----------------------------------------------------------------------------------------------
# what a fit contributes
# ----------------------------------------------------------------------------------------------
def _prior_text(prior) -> str:
    args = ", ".join(f"{k}={v}" for k, v in prior.params.items())
    return f"{prior.dist}({args})"


def _prior_params(priors: Mapping[str, Any] | None, prefix: str) -> dict[str, str]:
    out = {}
    for site, value in (priors or {}).items():
        if isinstance(value, Mapping):
            names = metric_names(value)
            out |= {f"{prefix}.{site}.{names[ch]}": _prior_text(p) for ch, p in value.items()}
        else:
            out[f"{prefix}.{site}"] = _prior_text(value)
    return out


def fit_params(fit) -> dict[str, Any]:
    """The run parameters of ``fit`` (a :class:`~mmmjax.Fit` or :class:`~mmmjax.GeoFit`):
    ``model.*``, ``data.*`` and ``sampler.*`` (``seconds`` is a metric instead)."""
    geo = is_panel(fit)
    spec = fit.spec.model if geo else fit.spec
    model = {k: v for k, v in spec.to_dict().items() if k != "priors"}
    params = {f"model.{k}": v for k, v in model.items()}
    params["model.kind"] = "geo" if geo else "national"
    params |= _prior_params(spec.priors, "model.prior")
    if geo:
        params |= _prior_params(fit.spec.priors, "model.prior")
    ds = fit.dataset
    params |= {
        "data.target": ds.target_name,
        "data.channels": ",".join(map(str, ds.channels)),
        "data.controls": ",".join(map(str, ds.control_names)),
        "data.n_channels": len(ds.channels),
        "data.n_periods": ds.n_periods,
        "data.start": str(ds.dates[0].date()),
        "data.end": str(ds.dates[-1].date()),
        "data.freq": ds.freq,
        "data.lift_tests": len(fit.lift_tests),
    }
    if geo:
        params |= {"data.geo_column": ds.geo_name, "data.n_geos": ds.n_geos,
                   "data.population": ds.population_name or ""}  # fmt: skip
    else:
        params["data.events"] = ",".join(map(str, ds.event_names))
    for k, v in fit.info.items():
        if k != "seconds" and isinstance(v, (str, int, float, bool)):
            params[f"sampler.{k}"] = v
    return params


def in_sample_metrics(fit):
    """:func:`mmmjax.inference.validation.in_sample` of a fit; for a geo fit, of the national
    target (the
    sum over geos) against the summed predictions."""
    import numpy as np

    from mmmjax.inference import validation

    if not is_panel(fit):
        return validation.in_sample(fit)
    y = np.asarray(fit.dataset.target, dtype=np.float64).sum(axis=0)  # (T,)
    mean = fit.predict(kind="mean").sum(axis=1)  # (S, T)
    pp = fit.idata.posterior_predictive["target"]  # (chain, draw, geo, date)
    pred = np.asarray(pp.sum("geo").values, dtype=np.float64).reshape(-1, y.size)
    return validation.score(y, mean, pred)


def fit_metrics(fit, roi=None, diagnostics=None) -> dict[str, float]:
    """The run metrics of ``fit``: ``diagnostics.*``, ``fit.*``, ``sampler.seconds`` and, per
    channel, ``roi.<ch>`` (``.low``, ``.high``) and ``mroi.<ch>`` from ``roi`` (default
    ``mmmjax.roi(fit)``; national for a geo fit). ``diagnostics``: ``fit.diagnostics()`` if
    already computed."""
    d = fit.diagnostics() if diagnostics is None else diagnostics
    metrics: dict[str, float] = {
        f"diagnostics.{k}": d[k]
        for k in ("max_r_hat", "min_ess_bulk", "min_ess_tail", "divergences", "draws")
        if k in d
    }
    metrics["diagnostics.problems"] = len(_sampler_messages(d))
    m = in_sample_metrics(fit).to_dict()
    metrics |= {f"fit.{k}": v for k, v in m.items()}
    if "seconds" in fit.info:
        metrics["sampler.seconds"] = fit.info["seconds"]
    table = mmmjax.roi(fit) if roi is None else roi
    names = metric_names(table.index)
    for ch, row in table.iterrows():
        for what in ("roi", "mroi"):
            key = f"{what}.{names[ch]}"
            metrics[key] = row[f"{what}_mean"]
            metrics[f"{key}.low"] = row[f"{what}_low"]
            metrics[f"{key}.high"] = row[f"{what}_high"]
    return metrics


def _sampler_messages(diag) -> list[str]:
    from mmmjax.inference.fit import sampler_messages

    return sampler_messages(diag)


def fit_tags(fit, diagnostics=None) -> dict[str, str]:
    """The run tags of ``fit``: kind, version, worst parameters, sampler warnings, and
    ``channel.<ch>`` = each channel's name as written in the data."""
    d = fit.diagnostics() if diagnostics is None else diagnostics
    tags = {"mmmjax.kind": "geo" if is_panel(fit) else "national",
            "mmmjax.version": mmmjax.__version__}  # fmt: skip
    tags |= {f"diagnostics.{k}": str(d[k]) for k in d if k.startswith("worst_") and d[k]}
    messages = _sampler_messages(d)
    if messages:
        tags["diagnostics.warnings"] = " | ".join(messages)
    tags |= {f"channel.{safe}": str(raw) for raw, safe in metric_names(fit.channels).items()}
    return tags


# ----------------------------------------------------------------------------------------------
# public entry points
# ----------------------------------------------------------------------------------------------
def log_fit(
    fit,
    *,
    run_name: str | None = None,
    tracking_uri: str | os.PathLike | None = None,
    experiment: str | None = None,
    report: bool = True,
    artifacts: bool = True,
    plan=None,
    tags: Mapping[str, str] | None = None,
    run_id: str | None = None,
) -> str:
    """Log ``fit`` to MLflow as parameters, metrics, tags and artifacts; return the run id.

    What is logged, and under which names, is listed in the module docstring. National fits
    (:class:`~mmmjax.Fit`) and geo fits (:class:`~mmmjax.GeoFit`: national ROI and in-sample
    metrics of the summed target as metrics; the per-geo ROI in ``roi.csv``) alike.

    Args:
      fit: the fit.
      run_name: the new run's name (MLflow picks one if ``None``).
      tracking_uri: where to log: a directory (a file store), or any MLflow tracking URI;
        ``None``: MLflow's current one (``MLFLOW_TRACKING_URI``, else MLflow's default).
      experiment: experiment name, created if missing (default: ``MLFLOW_EXPERIMENT_NAME``,
        else MLflow's "Default" experiment).
      report: log ``report.html`` (:func:`mmmjax.write_report`, per-geo sections and all for
        a geo fit).
      artifacts: log ``roi.csv`` and the saved fit (``fit/fit.nc``, ``fit/fit.json``).
      plan: a :class:`mmmjax.Plan` of this fit to log too (:func:`log_plan`) and show in the
        report.
      tags: extra run tags.
      run_id: log into this existing run instead of a new one. Without it, the active run of
        ``mlflow.start_run()`` is used when ``tracking_uri`` and ``experiment`` are ``None``;
        otherwise a new run is created and ended (FAILED if logging raised).

    Returns:
      The MLflow run id.

    Raises:
      ImportError: MLflow (or a package its store needs) is not installed; the message says
        what to install.
    """
    with tempfile.TemporaryDirectory(prefix="mmmjax-mlflow-") as tmp:
        files: dict[str, Path] = {}
        tmp = Path(tmp)
        roi = roi_table(fit)
        if artifacts:
            roi.table.to_csv(tmp / "roi.csv", index=roi.index)
            fit.save(tmp / "fit")
            files |= {"roi.csv": tmp / "roi.csv", "fit/fit.nc": tmp / "fit" / "fit.nc",
                      "fit/fit.json": tmp / "fit" / "fit.json"}  # fmt: skip
        if report:
            mmmjax.write_report(fit, tmp / "report.html", plan=plan, roi=roi.national,
                                roi_geo=roi.per_geo)  # fmt: skip
            files["report.html"] = tmp / "report.html"
        return _log(fit, roi.national, files, plan=plan, run_name=run_name,
                    tracking_uri=tracking_uri, experiment=experiment, tags=tags,
                    run_id=run_id)  # fmt: skip


def _log(fit, roi, files, *, plan, run_name, tracking_uri, experiment, tags, run_id) -> str:
    with (
        _client(tracking_uri) as client,
        _run(client, run_id, tracking_uri, experiment, run_name, tags) as (rid, _),
    ):
        d = fit.diagnostics()
        _log_batch(client, rid, params=fit_params(fit), metrics=fit_metrics(fit, roi, d),
                   tags={**fit_tags(fit, d), **dict(tags or {})})  # fmt: skip
        _log_files(client, rid, files)
        if plan is not None:
            _log_plan(client, rid, plan, name="plan")
    return rid


def _log_files(client, run_id: str, files: Mapping[str, Path]) -> None:
    """Log each local file under its artifact path (``"fit/fit.nc"``: ``fit.nc`` in ``fit/``;
    the file's own name is the name in the run)."""
    for where, local in files.items():
        assert os.path.basename(where) == local.name, (where, local)
        client.log_artifact(run_id, str(local), artifact_path=os.path.dirname(where) or None)


def plan_metrics(plan, name: str = "plan") -> dict[str, float]:
    """The run metrics of a :class:`mmmjax.Plan` under ``name`` (see the module docstring)."""
    m = {
        "total_budget": plan.total_budget,
        "expected_response": plan.expected_response,
        "expected_response.low": plan.response_interval[0],
        "expected_response.high": plan.response_interval[1],
        "current_response": plan.current_response,
        "uplift": plan.uplift,
        "uplift.low": plan.uplift_interval[0],
        "uplift.high": plan.uplift_interval[1],
        "objective_value": plan.objective_value,
        "iterations": plan.iterations,
        "converged": float(bool(plan.converged)),
        "mroi_spread": plan.mroi_spread,
    }
    names = metric_names(plan.allocation.index)
    for series in ("allocation", "marginal_roi"):
        values = getattr(plan, series)
        m |= {f"{series}.{names[k]}": v for k, v in values.items()}
    return {f"{name}.{k}": float(v) for k, v in m.items()}


def _log_plan(client, run_id: str, plan, *, name: str) -> None:
    tags = {f"{name}.objective": plan.objective}
    if plan.horizon is not None:
        tags[f"{name}.horizon"] = str(plan.horizon)
    _log_batch(client, run_id, metrics=plan_metrics(plan, name), tags=tags)
    with tempfile.TemporaryDirectory(prefix="mmmjax-mlflow-") as tmp:
        frame = Path(tmp) / "plan.csv"
        plan.to_frame().to_csv(frame)
        summary = Path(tmp) / "plan.json"
        summary.write_text(json.dumps(plan.to_dict(), indent=2))
        files = {f"{name}/plan.csv": frame, f"{name}/plan.json": summary}
        schedule = getattr(plan, "schedule", None)
        if schedule is not None:
            schedule.to_csv(Path(tmp) / "schedule.csv")
            files[f"{name}/schedule.csv"] = Path(tmp) / "schedule.csv"
        _log_files(client, run_id, files)


def log_plan(
    plan,
    *,
    run_id: str | None = None,
    name: str = "plan",
    run_name: str | None = None,
    tracking_uri: str | os.PathLike | None = None,
    experiment: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> str:
    """Log a budget plan (:func:`mmmjax.optimize_budget`, :func:`mmmjax.evaluate_budget`) to
    MLflow; return the run id.

    Metrics ``<name>.*`` (budget, expected response and interval, uplift, per-channel
    allocation and marginal ROI, ...), tag ``<name>.objective``, and artifacts
    ``<name>/plan.csv`` (:meth:`Plan.to_frame`) and ``<name>/plan.json`` (:meth:`Plan.to_dict`).

    Args:
      plan: the plan.
      run_id: the run to add it to (say, the id :func:`log_fit` returned); without it, the
        active run or a new one, as in :func:`log_fit`.
      name: prefix of its keys and artifact folder; give each plan of one run its own.
      run_name, tracking_uri, experiment, tags: as in :func:`log_fit`.
    """
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise ValueError(f"log_plan: name must be letters, digits, _ or -, got {name!r}")
    with (
        _client(tracking_uri) as client,
        _run(client, run_id, tracking_uri, experiment, run_name, tags) as (rid, _),
    ):
        if tags:
            _log_batch(client, rid, tags=tags)
        _log_plan(client, rid, plan, name=name)
    return rid


def check_tracking(tracking_uri: str | os.PathLike | None = None) -> str:
    """Check, before a long fit, that runs can be logged to ``tracking_uri``; return the resolved
    URI. Raises ``ValueError`` with one line saying what is missing (the CLI prints it)."""
    try:
        mlflow = _import_mlflow()
        with _client(tracking_uri):
            return _resolve_uri(mlflow, tracking_uri)
    except ImportError as exc:
        raise ValueError(f"--mlflow: {exc}") from None
    except Exception as exc:  # an MlflowException: an unknown scheme, a bad URI
        raise ValueError(f"--mlflow {tracking_uri or ''}: {exc}".replace("  ", " ")) from None


def log_output(out: str | os.PathLike, tracking_uri: str | os.PathLike | None = None) -> str:
    """Log what ``mmmjax fit`` wrote into directory ``out`` (the saved fit, ``report.html``,
    ``roi.csv``, and ``plan.csv`` / ``plan.json`` when present) as one new MLflow run named
    after ``out``; return the run id. Errors are raised as ``ValueError`` naming ``out``."""
    from mmmjax.inference.geo_fit import is_geo_fit_dir, load_geo_fit

    out = Path(out)
    fit = load_geo_fit(out) if is_geo_fit_dir(out) else mmmjax.load_fit(out)
    files = {name: out / name for name in ("report.html", "roi.csv", "plan.csv", "plan.json")
             if (out / name).is_file()}  # fmt: skip
    files |= {"fit/fit.nc": out / "fit.nc", "fit/fit.json": out / "fit.json"}
    try:
        return _log(fit, None, files, plan=None, run_name=out.name, tracking_uri=tracking_uri,
                    experiment=None, tags={"mmmjax.output": str(out.resolve())},
                    run_id=None)  # fmt: skip
    except ImportError as exc:
        raise ValueError(f"--mlflow: {exc}; the fit is saved in {out}") from None
    except Exception as exc:
        raise ValueError(f"--mlflow: logging to MLflow failed ({exc}); the fit is saved in "
                         f"{out}") from None  # fmt: skip
