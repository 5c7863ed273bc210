"""MLflow tracking (mmmjax.mlflow, `mmmjax fit --mlflow`), against a local file store."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mmmjax
import mmmjax.mlflow as mm
from mmmjax.cli import EXIT_NOT_CONVERGED, main
from mmmjax.inference import idata as azc

# as in test_cli.py: the demo_fit fixture's sampler settings, so the compiled sampler is reused
SAMPLER = ["--chains", "2", "--draws", "250", "--warmup", "250", "--no-progress"]


@pytest.fixture
def store(tmp_path, monkeypatch):
    """``(directory, client)``: an empty MLflow file store and a client that reads it."""
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    where = tmp_path / "mlruns"
    with mm._client(where) as client:  # the opt-in MLflow 3 asks of file stores, for reading
        pass  # (MLflow keeps the store it built for this URI: the client still reads it)
    yield where, client
    assert mlflow.active_run() is None


def _artifact(client, run_id: str, path: str, dst: Path) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    return Path(client.download_artifacts(run_id, path, str(dst)))


def _assert_same_fit(back, fit) -> None:
    assert back.spec == fit.spec and back.dataset == fit.dataset and back.scales == fit.scales
    for name in azc.group_names(fit.idata):
        assert azc.group(back.idata, name).equals(azc.group(fit.idata, name)), name


def test_log_fit_records_spec_sampler_diagnostics_metrics_roi_and_artifacts(
    demo_fit, store, tmp_path
):
    where, client = store
    run_id = mm.log_fit(demo_fit, tracking_uri=where, experiment="mmm", run_name="demo")
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ  # the opt-in does not outlive the call
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "demo"
    assert client.get_experiment(run.info.experiment_id).name == "mmm"
    p, m, t = run.data.params, run.data.metrics, run.data.tags
    spec = demo_fit.spec
    assert p["model.adstock"] == spec.adstock and p["model.saturation"] == spec.saturation
    assert p["model.l_max"] == str(spec.l_max) and p["model.trend"] == spec.trend
    assert p["model.kind"] == "national"
    assert (p["sampler.chains"], p["sampler.draws"], p["sampler.warmup"]) == ("2", "250", "250")
    assert p["sampler.seed"] == "0" and float(p["sampler.target_accept"]) == 0.85
    assert p["data.channels"] == ",".join(demo_fit.channels)
    assert p["data.n_periods"] == str(demo_fit.dataset.n_periods)
    d = demo_fit.diagnostics()
    for k in ("max_r_hat", "min_ess_bulk", "min_ess_tail", "divergences"):
        assert m[f"diagnostics.{k}"] == pytest.approx(d[k], rel=1e-12), k
    metrics = mmmjax.inference.validation.in_sample(demo_fit)
    for k in ("r2", "mape", "nrmse", "coverage_94", "crps"):
        assert m[f"fit.{k}"] == pytest.approx(getattr(metrics, k), rel=1e-9), k
    roi = mmmjax.roi(demo_fit)
    for ch in demo_fit.channels:
        assert m[f"roi.{ch}"] == pytest.approx(roi.loc[ch, "roi_mean"], rel=1e-12)
        assert m[f"roi.{ch}.low"] == pytest.approx(roi.loc[ch, "roi_low"], rel=1e-12)
        assert m[f"mroi.{ch}"] == pytest.approx(roi.loc[ch, "mroi_mean"], rel=1e-12)
        assert t[f"channel.{ch}"] == ch
    assert t["mmmjax.kind"] == "national"

    top = {a.path for a in client.list_artifacts(run_id)}
    assert {"report.html", "roi.csv", "fit"} <= top
    html = _artifact(client, run_id, "report.html", tmp_path / "dl").read_text()
    assert html.startswith("<!DOCTYPE html>") and all(ch in html for ch in demo_fit.channels)
    logged = pd.read_csv(_artifact(client, run_id, "roi.csv", tmp_path / "dl"), index_col=0)
    pd.testing.assert_frame_equal(logged, roi, check_names=False, check_dtype=False)
    back = mmmjax.load_fit(_artifact(client, run_id, "fit", tmp_path / "dl"))
    _assert_same_fit(back, demo_fit)


def test_plans_are_logged_into_the_fits_run(demo_fit, store, tmp_path):
    where, client = store
    run_id = mm.log_fit(demo_fit, tracking_uri=where, report=False, artifacts=False)
    budget = float(demo_fit.dataset.spend.mean(axis=0).sum())
    plan = mmmjax.optimize_budget(demo_fit, budget)
    low = {ch: (0.5 * v, None) for ch, v in plan.current_allocation.items()}
    other = mmmjax.optimize_budget(demo_fit, 0.8 * budget, bounds=low)
    assert mm.log_plan(plan, run_id=run_id, tracking_uri=where) == run_id
    assert mm.log_plan(other, run_id=run_id, name="plan_low", tracking_uri=where) == run_id
    run = client.get_run(run_id)
    m = run.data.metrics
    for name, pl in (("plan", plan), ("plan_low", other)):
        assert m[f"{name}.total_budget"] == pytest.approx(pl.total_budget, rel=1e-12)
        assert m[f"{name}.expected_response"] == pytest.approx(pl.expected_response, rel=1e-12)
        assert m[f"{name}.converged"] == float(pl.converged)
        for ch, x in pl.allocation.items():
            assert m[f"{name}.allocation.{ch}"] == pytest.approx(x, rel=1e-12)
        assert run.data.tags[f"{name}.objective"] == "mean"
        saved = json.loads(_artifact(client, run_id, f"{name}/plan.json", tmp_path).read_text())
        assert saved == json.loads(json.dumps(pl.to_dict()))
        frame = pd.read_csv(_artifact(client, run_id, f"{name}/plan.csv", tmp_path), index_col=0)
        np.testing.assert_allclose(frame["optimal"].values, pl.allocation.values, rtol=1e-12)
    assert m["plan_low.total_budget"] < m["plan.total_budget"]
    with pytest.raises(ValueError, match="name must be"):
        mm.log_plan(plan, run_id=run_id, name="my plan", tracking_uri=where)


def test_channel_names_become_safe_unique_keys_and_the_raw_name_is_a_tag(demo_fit, store, tmp_path):
    names = mm.metric_names(["TV spend (€)", "TV_spend", "a.b/c", "$$", "=search", ("geo 1", "tv")])
    assert list(names.values()) == ["TV_spend", "TV_spend_2", "a_b_c", "channel", "search",
                                    "geo_1.tv"]  # fmt: skip
    raw = ["TV spend (€)", "TV_spend", "a.b/c", "$$", "=search"]
    fit = dataclasses.replace(demo_fit, dataset=dataclasses.replace(demo_fit.dataset,
                                                                    channels=raw))  # fmt: skip
    where, client = store
    run_id = mm.log_fit(fit, tracking_uri=where, report=False)
    run = client.get_run(run_id)
    roi = mmmjax.roi(fit)
    for ch, safe in zip(raw, ["TV_spend", "TV_spend_2", "a_b_c", "channel", "search"], strict=True):
        assert run.data.tags[f"channel.{safe}"] == ch
        assert run.data.metrics[f"roi.{safe}"] == pytest.approx(roi.loc[ch, "roi_mean"])
    logged = pd.read_csv(_artifact(client, run_id, "roi.csv", tmp_path), index_col=0)
    assert list(logged.index) == raw


def test_the_active_run_is_used_and_a_failed_log_marks_a_new_run_failed(
    demo_fit, store, monkeypatch
):
    import mlflow

    where, client = store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", where.resolve().as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    with mlflow.start_run() as run:
        assert mm.log_fit(demo_fit, report=False, artifacts=False) == run.info.run_id
        assert client.get_run(run.info.run_id).info.status == "RUNNING"  # not ended by us
    assert client.get_run(run.info.run_id).data.params["model.kind"] == "national"

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(mm, "_log_files", broken)
    with pytest.raises(OSError, match="disk full"):
        mm.log_fit(demo_fit, tracking_uri=where, experiment="broken", report=False)
    exp = client.get_experiment_by_name("broken")
    (failed,) = client.search_runs([exp.experiment_id])
    assert failed.info.status == "FAILED"


def test_without_mlflow_a_clear_import_error_and_the_module_still_imports(demo_fit, monkeypatch):
    code = ("import sys; sys.modules['mlflow'] = None; import mmmjax.mlflow as m; "
            "print(m.metric_names(['a b'])['a b'])")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "a_b"
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'mmmjax\[mlflow\]'"):
        mm.log_fit(demo_fit, report=False, artifacts=False)
    with pytest.raises(ImportError, match=r"pip install 'mmmjax\[mlflow\]'"):
        mm.log_plan(object())


def test_a_store_that_needs_a_missing_package_says_what_to_install(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    try:
        import sqlalchemy  # noqa: F401

        pytest.skip("SQLAlchemy is installed (full mlflow): the sqlite store works")
    except ImportError:
        pass
    with pytest.raises(ImportError, match="pip install mlflow"):
        with mm._client(f"sqlite:///{tmp_path / 'mlflow.db'}"):
            pass


# ----------------------------------------------------------------------------------------------
# the command line
# ----------------------------------------------------------------------------------------------
def _fit_args(out, *extra):
    cols = mmmjax.datasets.columns("demo")
    return ["fit", str(mmmjax.datasets.csv_path("demo")), "--date", cols["date"],
            "--target", cols["target"], "--channels", ",".join(cols["channels"]),
            "--controls", ",".join(cols["controls"]), "--out", str(out), *SAMPLER,
            *extra]  # fmt: skip


def test_cli_fit_mlflow_logs_what_it_wrote(store, tmp_path, capsys):
    where, client = store
    out = tmp_path / "out"
    assert main(_fit_args(out, "--mlflow", str(where))) == 0
    assert "to MLflow as run" in capsys.readouterr().out
    exp = client.get_experiment_by_name("Default")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "out"
    assert run.data.params["sampler.draws"] == "250"
    fit = mmmjax.load_fit(out)
    roi = pd.read_csv(out / "roi.csv", index_col=0)
    for ch in fit.channels:
        assert run.data.metrics[f"roi.{ch}"] == pytest.approx(roi.loc[ch, "roi_mean"], rel=1e-9)
    rid = run.info.run_id
    for name in ("report.html", "roi.csv"):
        assert (
            _artifact(client, rid, name, tmp_path / "dl").read_bytes() == (out / name).read_bytes()
        )
    _assert_same_fit(mmmjax.load_fit(_artifact(client, rid, "fit", tmp_path / "dl")), fit)


def test_cli_mlflow_problems_are_one_line_exit_2_before_any_fit(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setitem(sys.modules, "mlflow", None)
    assert main(_fit_args(out, "--mlflow", str(tmp_path / "mlruns"))) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "pip install 'mmmjax[mlflow]'" in err
    assert not out.exists()
    monkeypatch.delitem(sys.modules, "mlflow")
    pytest.importorskip("mlflow")
    assert main(_fit_args(out, "--mlflow", "nosuchscheme://x")) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("mmmjax: error: --mlflow nosuchscheme://x")
    assert not out.exists()
    # no URI: MLflow's default; MLflow 3's is sqlite:///mlflow.db, which mlflow-skinny lacks
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    if mlflow.get_tracking_uri().startswith("sqlite") and find_spec("sqlalchemy") is None:
        assert main(_fit_args(out, "--mlflow")) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "pip install mlflow" in err and "'mlruns'" in err
        assert not out.exists() and not (tmp_path / "mlflow.db").exists()


@pytest.mark.slow
def test_cli_geo_fit_mlflow_logs_national_roi_and_the_geo_fit(store, tmp_path, capsys):
    where, client = store
    panel, _ = mmmjax.simulate_geo(n_geos=3, n_periods=40, n_channels=2, n_controls=0,
                                   seasonality=1, seed=5)  # fmt: skip
    csv = tmp_path / "panel.csv"
    panel.to_frame().to_csv(csv, index=False)
    out = tmp_path / "geo"
    args = ["fit", str(csv), "--geo", "geo", "--date", "date", "--target", "revenue",
            "--channels", ",".join(panel.channels), "--out", str(out), "--seasonality", "1",
            "--chains", "2", "--draws", "20", "--warmup", "20", "--no-progress",
            "--mlflow", str(where)]  # fmt: skip
    # 2 x 20 draws, for speed: the CLI may call that unconverged (exit 3); it is logged anyway
    assert main(args) in (0, EXIT_NOT_CONVERGED)
    (run,) = client.search_runs([client.get_experiment_by_name("Default").experiment_id])
    p, m = run.data.params, run.data.metrics
    assert p["model.kind"] == "geo" and p["data.n_geos"] == "3" and run.data.tags[
        "mmmjax.kind"] == "geo"  # fmt: skip
    table = pd.read_csv(out / "roi.csv", keep_default_na=False)
    national = table[table.level == "national"].set_index("channel")
    for ch in panel.channels:
        assert m[f"roi.{ch}"] == pytest.approx(national.loc[ch, "roi_mean"], rel=1e-9)
    assert {"fit.r2", "fit.crps", "diagnostics.max_r_hat"} <= set(m)
    fit = mmmjax.load_geo_fit(out)
    back = mmmjax.load_geo_fit(_artifact(client, run.info.run_id, "fit", tmp_path / "dl"))
    _assert_same_fit(back, fit)
    # the library call logs a geo fit too, with the per-geo rows in roi.csv
    rid = mm.log_fit(fit, tracking_uri=where, report=False)
    logged = pd.read_csv(_artifact(client, rid, "roi.csv", tmp_path / "lib"), keep_default_na=False)
    assert (logged.level == "geo").sum() == 3 * len(panel.channels)
