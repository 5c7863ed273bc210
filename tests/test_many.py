"""Tests of ``mmmjax.fit_many``: local (one by one and batched), the manifest and CLI, resuming
after an interruption, and the Ray backend on a local 2-CPU cluster started here."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pytest

import mmmjax
from mmmjax import cli
from mmmjax.errors import DataError
from mmmjax.many import FAULT_ENV, CsvData, Interrupted, Job, fit_many, read_manifest

SMALL = {"chains": 2, "draws": 120, "warmup": 120, "prior_draws": 0}


def _data(seed: int, n_periods: int = 60) -> mmmjax.Dataset:
    dataset, _ = mmmjax.simulate(n_periods=n_periods, n_channels=2, n_controls=0, seed=seed)
    return dataset


def _negative_target(seed: int) -> mmmjax.Dataset:
    """Valid data whose row 6 a multiplicative model refuses (log of a negative target)."""
    ds = _data(seed)
    frame = ds.to_frame()
    frame.loc[5, ds.target_name] = -1.0
    return mmmjax.Dataset.from_frame(frame, date=ds.date_name, target=ds.target_name,
                                     channels=list(ds.channels))  # fmt: skip


@pytest.fixture(scope="module")
def jobs():
    return [Job(f"m{s}", _data(s), mmmjax.MMM(), {"seed": s}) for s in range(3)]


@pytest.fixture(scope="module")
def singles(jobs):
    """The same jobs fitted one by one with ``MMM.fit``: the reference."""
    return {
        j.name: j.model.fit(j.dataset, **{**SMALL, **j.options}, progress=False, warn=False)
        for j in jobs
    }


def _chains(fit: mmmjax.Fit, site: str) -> np.ndarray:
    """A site's draws as ``(chain, draw, k)``."""
    x = fit.idata.posterior[site].values
    return x.reshape(x.shape[0], x.shape[1], -1)


def _mcse_mean(x: np.ndarray) -> np.ndarray:
    """Monte Carlo standard error of the mean of each ``x[:, :, k]`` (ArviZ, from its ESS)."""
    return np.array([float(az.mcse(x[..., k], method="mean")) for k in range(x.shape[-1])])


def _same_draws(a: mmmjax.Fit, b: mmmjax.Fit) -> bool:
    return all(
        np.array_equal(a.idata.posterior[k].values, b.idata.posterior[k].values)
        for k in a.idata.posterior.data_vars
    )


# ----------------------------------------------------------------------------------------------
# local backend
# ----------------------------------------------------------------------------------------------
def test_one_by_one_gives_exactly_the_single_fits(jobs, singles):
    many = fit_many(jobs, batch=False, progress=False, **SMALL)
    assert list(many) == [j.name for j in jobs]
    for name, fit in singles.items():
        assert _same_draws(many[name], fit)
    s = many.summary
    assert list(s.index) == [j.name for j in jobs]
    assert set(s["status"]) <= {"ok", "not converged"}
    assert (s["batch_size"] == 1).all()
    for ch in jobs[0].dataset.channels:
        expected = [mmmjax.roi(singles[n]).loc[ch, "roi_mean"] for n in s.index]
        np.testing.assert_allclose(s[f"roi_{ch}"], expected, rtol=1e-6)
    assert (s["r2"] > 0.5).all() and (s["mape"] < 0.2).all()


def test_batched_runs_one_program_and_agrees_with_single_fits(jobs, singles):
    many = fit_many(jobs, batch=True, progress=False, **SMALL)
    s = many.summary
    assert (s["batch_size"] == len(jobs)).all()
    assert s["seconds"].nunique() == 1  # one shared run
    for name, single in singles.items():
        fit = many[name]
        assert fit.info["batch_size"] == len(jobs)
        assert fit.idata.posterior["media_roi"].shape == single.idata.posterior["media_roi"].shape
        # vmap changes float rounding, so chains take other paths; the posteriors must agree
        # within the Monte Carlo error of the two means
        for site in ("intercept", "media_roi", "sigma"):
            a, b = _chains(fit, site), _chains(single, site)
            se = np.hypot(_mcse_mean(a), _mcse_mean(b))
            gap = np.abs(a.mean((0, 1)) - b.mean((0, 1)))
            assert np.all(gap < 4 * se), (name, site, gap / se)
    again = fit_many(jobs, batch=True, progress=False, **SMALL)
    assert not again[jobs[0].name].info["compiled"]  # the same shape does not compile again
    assert all(_same_draws(again[n], many[n]) for n in many)  # deterministic


def test_batches_group_by_shape(jobs):
    other = Job("long", _data(7, n_periods=70), mmmjax.MMM(), {"seed": 7})
    many = fit_many([*jobs[:2], other], batch=True, progress=False, **SMALL)
    assert many.summary["batch_size"].to_dict() == {"m0": 2, "m1": 2, "long": 1}


def test_a_job_with_bad_data_fails_alone(jobs, tmp_path):
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("date,revenue,tv\n2021-01-03,1.0,x\n")
    broken = [
        Job("negative", _negative_target(3), mmmjax.MMM(form="multiplicative")),
        Job("unreadable", CsvData(str(bad_csv), "date", "revenue", ("tv",))),
    ]
    many = fit_many([jobs[0], *broken], batch=False, progress=False, **SMALL)
    s = many.summary
    assert list(many) == ["m0"]
    assert s.loc["m0", "status"] in ("ok", "not converged")
    assert s.loc["negative", "status"] == "failed"
    assert "positive target" in s.loc["negative", "message"]
    assert "row 6" in s.loc["negative", "message"]
    assert s.loc["unreadable", "status"] == "failed"
    assert "bad.csv" in s.loc["unreadable", "message"]
    assert "column 'tv'" in s.loc["unreadable", "message"]
    assert len(many.failed) == 2


def test_a_job_carries_its_lift_tests(jobs):
    dates = jobs[0].dataset.dates
    test = mmmjax.LiftTest(jobs[0].dataset.channels[0], dates[10], dates[13], spend_change=500.0,
                           lift=1000.0, lift_se=300.0)  # fmt: skip
    job = jobs[0]._replace(options={"seed": 0, "lift_tests": [test]})
    many = fit_many([job], batch=False, progress=False, **SMALL)
    assert many[job.name].lift_tests == (test,)


def test_bad_arguments_are_refused_before_any_work(jobs):
    with pytest.raises(ValueError, match="unique"):
        fit_many([jobs[0], jobs[0]], progress=False)
    with pytest.raises(ValueError, match="job name"):
        fit_many([Job("../escape", jobs[0].dataset)], progress=False)
    for name in ("summary.csv", "SUMMARY.CSV", "a/b", "a\\b", "", "..", "a..b", ".hidden"):
        with pytest.raises(DataError, match="job name"):
            fit_many([Job(name, jobs[0].dataset)], progress=False)
    with pytest.raises(ValueError, match="unknown fit options"):
        fit_many(jobs[:1], progress=False, draw=10)
    with pytest.raises(ValueError, match="out=DIR"):
        fit_many(jobs[:1], backend="ray", progress=False)


def test_rerun_skips_finished_jobs_and_refits_changed_ones(jobs, tmp_path):
    out = tmp_path / "out"
    first = fit_many(jobs, out=out, batch=False, progress=False, **SMALL)
    assert not first.summary["reused"].any()
    stamps = {j.name: (out / j.name / "fit.nc").stat().st_mtime_ns for j in jobs}
    changed = [*jobs[:2], jobs[2]._replace(options={"seed": 99})]
    second = fit_many(changed, out=out, batch=False, progress=False, **SMALL)
    assert second.summary["reused"].tolist() == [True, True, False]
    for j in jobs[:2]:
        assert (out / j.name / "fit.nc").stat().st_mtime_ns == stamps[j.name]
        assert _same_draws(second[j.name], first[j.name])  # loaded back from disk, exactly
    assert (out / "m2" / "fit.nc").stat().st_mtime_ns != stamps["m2"]
    assert second["m2"].info["seed"] == 99


def test_a_failed_job_leaves_nothing_that_blocks_its_rerun(jobs, tmp_path, monkeypatch):
    """One job fails in its model checks (after its data loaded), one in the sampler; a rerun
    fits both (the first with its data fixed, the second unchanged), even over the
    ``job.json`` an earlier version wrote for a failed job."""
    import mmmjax.inference.sampling

    out = tmp_path / "out"
    fixed = Job("mult", _data(3), mmmjax.MMM(form="multiplicative"))
    broken = [fixed._replace(dataset=_negative_target(3)), jobs[0]]
    real = mmmjax.inference.sampling.run_nuts

    def flaky(*args, **kwargs):  # the sampler (or the machine) fails this once
        raise RuntimeError("out of memory")

    monkeypatch.setattr(mmmjax.inference.sampling, "run_nuts", flaky)
    first = fit_many(broken, out=out, batch=False, progress=False, **SMALL)
    assert first.summary["status"].tolist() == ["failed", "failed"]
    assert "out of memory" in first.summary.loc["m0", "message"]
    marked = sorted(p.parent.name for p in out.glob("*/job.json"))
    monkeypatch.setattr(mmmjax.inference.sampling, "run_nuts", real)
    # what an earlier version left for a failed job: a folder holding only its job.json
    (out / "mult").mkdir(parents=True, exist_ok=True)
    (out / "mult" / "job.json").write_text('{"fingerprint": "x", "row": {"status": "failed"}}')
    second = fit_many([fixed, jobs[0]], out=out, batch=False, progress=False, **SMALL)
    s = second.summary
    assert s["status"].isin(["ok", "not converged"]).all(), s["message"].tolist()
    assert not s["reused"].any()  # both fitted now
    assert sorted(second) == ["m0", "mult"]
    assert marked == []  # the first run marked neither failed job
    third = fit_many([fixed, jobs[0]], out=out, batch=False, progress=False, **SMALL)
    assert third.summary["reused"].all()  # and marked finished
    assert _same_draws(third["m0"], second["m0"])


def test_ctrl_c_says_which_jobs_are_saved(jobs, tmp_path, monkeypatch):
    """A KeyboardInterrupt in the second job's sampling: :class:`Interrupted` names the first."""
    import mmmjax.inference.sampling

    real, calls = mmmjax.inference.sampling.run_nuts, []

    def interrupted_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(mmmjax.inference.sampling, "run_nuts", interrupted_second)
    out = tmp_path / "out"
    with pytest.raises(Interrupted) as caught:
        fit_many(jobs, out=out, batch=False, progress=False, **SMALL)
    assert caught.value.saved == ("m0",) and caught.value.total == 3
    message = str(caught.value)
    assert "1 of 3 jobs are saved" in message and "(m0)" in message and str(out) in message
    assert "fits the other 2" in message
    assert sorted(p.parent.name for p in out.glob("*/job.json")) == ["m0"]
    calls[:] = [1]  # the next call is the second: interrupt at once
    with pytest.raises(Interrupted, match="nothing was saved"):
        fit_many(jobs, batch=False, progress=False, **SMALL)  # no out: the fits are lost
    monkeypatch.setattr(mmmjax.inference.sampling, "run_nuts", real)

    def cut_short(self, path):  # Ctrl-C in a save that has only made the fit's folder yet
        Path(path).mkdir(parents=True)
        raise KeyboardInterrupt

    monkeypatch.setattr(mmmjax.Fit, "save", cut_short)
    with pytest.raises(Interrupted, match=r"no job is saved under .*; a rerun fits every job"):
        fit_many(jobs[:1], out=tmp_path / "cut", progress=False, **SMALL)
    assert not (tmp_path / "cut" / "m0").exists()  # no empty folder left behind
    # Ctrl-C while the data files are read: the unread ones are not counted as unsaved
    on_disk = read_manifest(_manifest(tmp_path, 3))
    real_load, loads = CsvData.load, []

    def interrupted_load(self):
        loads.append(1)
        if len(loads) == 2:
            raise KeyboardInterrupt
        return real_load(self)

    monkeypatch.setattr(CsvData, "load", interrupted_load)
    with pytest.raises(Interrupted) as caught:
        fit_many(on_disk, out=tmp_path / "other", progress=False, **SMALL)
    assert caught.value.saved == ()
    where = tmp_path / "other"
    assert str(caught.value).endswith(f"no job read so far is saved under {where}; 2 jobs were "
                                      "not read yet")  # fmt: skip


# ----------------------------------------------------------------------------------------------
# manifest and CLI
# ----------------------------------------------------------------------------------------------
def _manifest(tmp_path: Path, n: int, extra: str = "") -> Path:
    lines = ["name,csv,date,target,channels,seed,draws,warmup,chains"]
    for s in range(n):
        ds = _data(s)
        ds.to_frame().to_csv(tmp_path / f"d{s}.csv", index=False)
        lines.append(f"job{s},d{s}.csv,{ds.date_name},{ds.target_name},"
                     f"{';'.join(ds.channels)},{s},120,120,2")  # fmt: skip
    path = tmp_path / "manifest.csv"
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


@pytest.mark.parametrize("name", ["summary.csv", "Summary.CSV", "a/b", "..", "x..y"])
def test_a_manifest_job_name_that_cannot_name_its_folder_is_refused(tmp_path, capsys, name):
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"name,csv,date,target,channels\nok,a.csv,d,y,tv\n{name},a.csv,d,y,tv\n")
    with pytest.raises(DataError, match=r"row 3, column 'name'"):
        read_manifest(manifest)
    out = tmp_path / "out"
    assert cli.main(["fit-many", str(manifest), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "row 3" in err and repr(name) in err and "\n" not in err
    assert not out.exists()


def test_read_manifest(tmp_path):
    jobs = read_manifest(_manifest(tmp_path, 2))
    assert [j.name for j in jobs] == ["job0", "job1"]
    assert jobs[1].options == {"seed": 1, "draws": 120, "warmup": 120, "chains": 2}
    assert jobs[0].dataset.channels == tuple(_data(0).channels)
    assert Path(jobs[0].dataset.path) == tmp_path / "d0.csv"  # relative to the manifest


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name,csv\nx,a.csv\n", "missing column"),
        ("name,csv,date,target,channels,colour\nx,a.csv,d,y,tv,red\n", "unknown column"),
        ("name,csv,date,target,channels,draws\nx,a.csv,d,y,tv,many\n", "row 2, column 'draws'"),
        ("name,csv,date,target,channels\nx,a.csv,d,y,\n", "row 2, column 'channels': empty"),
        ("name,csv,date,target,channels,adstock\nx,a.csv,d,y,tv,wavy\n", "row 2"),
        ("name,csv,date,target,channels\nx,a.csv,d,y,tv\nx,b.csv,d,y,tv\n", "row 3"),
        ("name,csv,date,target,channels\n", "no jobs"),
    ],
)
def test_bad_manifest_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, text, needle):
    manifest = tmp_path / "m.csv"
    manifest.write_text(text)
    out = tmp_path / "out"
    assert cli.main(["fit-many", str(manifest), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err
    assert not out.exists()


def test_cli_fit_many_writes_fits_and_summary(tmp_path, capsys):
    manifest = _manifest(tmp_path, 2, extra="broken,missing.csv,date,revenue,tv,0,,,\n")
    out = tmp_path / "out"
    status = cli.main(["fit-many", str(manifest), "--out", str(out), "--no-progress"])
    assert status == 1  # one job failed, the others finished
    summary = (out / "summary.csv").read_text()
    assert "missing.csv" in summary and "failed" in summary
    assert mmmjax.load_fit(out / "job1").info["seed"] == 1
    assert "1 failed" in capsys.readouterr().out


def test_interrupted_run_resumes_without_redoing_finished_jobs(tmp_path):
    """Kill ``mmmjax fit-many`` once its first job is saved; the rerun keeps that job."""
    manifest = _manifest(tmp_path, 3)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "mmmjax.cli", "fit-many", str(manifest), "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not (out / "job0" / "job.json").exists():
            assert proc.poll() is None, "fit-many ended before its first job was saved"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    stamp = (out / "job0" / "fit.nc").stat().st_mtime_ns
    rerun = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert "already finished" in rerun.stderr
    summary = pd.read_csv(out / "summary.csv", index_col="name")
    assert summary.loc["job0", "reused"]
    assert not summary.loc["job2", "reused"]  # killed before it was saved: fitted now
    assert (out / "job0" / "fit.nc").stat().st_mtime_ns == stamp


# ----------------------------------------------------------------------------------------------
# Ray backend
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A local 2-CPU Ray cluster. Workers inherit this process's environment, which carries the
    fault switch: the first attempt of job ``m1`` kills its worker."""
    ray = pytest.importorskip("ray", reason="Ray is in the test extra: pip install -e '.[test]'")
    marker = tmp_path_factory.mktemp("fault") / "killed"
    os.environ[FAULT_ENV] = f"m1:{marker}"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield marker
    ray.shutdown()
    del os.environ[FAULT_ENV]


def test_ray_gives_the_sequential_results_and_retries_a_killed_worker(
    ray_cluster, jobs, singles, tmp_path
):
    more = [*jobs, Job("bad", _negative_target(5), mmmjax.MMM(form="multiplicative"))]
    many = fit_many(more, backend="ray", out=tmp_path / "out", progress=False, **SMALL)
    assert ray_cluster.exists()  # m1's first worker was killed, and the task retried
    s = many.summary
    assert s.loc["bad", "status"] == "failed" and "positive target" in s.loc["bad", "message"]
    assert sorted(many) == sorted(singles)
    for name, fit in singles.items():
        assert s.loc[name, "status"] in ("ok", "not converged")
        assert _same_draws(many[name], fit)  # same seeds, same draws as sequential fits


def test_ray_task_lost_for_good_is_a_failed_row(ray_cluster, jobs, tmp_path):
    ray_cluster.unlink(missing_ok=True)  # arm the fault again; with no retries it is final
    many = fit_many(jobs[1:2], backend="ray", out=tmp_path / "out", max_retries=0,
                    progress=False, **SMALL)  # fmt: skip
    row = many.summary.loc["m1"]
    assert row["status"] == "failed" and "Ray task lost" in row["message"]
    assert len(many) == 0


def test_sigint_names_the_saved_jobs_and_the_rerun_continues(tmp_path):
    """Ctrl-C (a real SIGINT) once the first job is saved: exit 130 and one line that names
    exactly the jobs on disk; a rerun reuses those and fits the rest."""
    manifest = _manifest(tmp_path, 3)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "mmmjax.cli", "fit-many", str(manifest), "--out", str(out)]
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            deadline = time.monotonic() + 300
            while not (out / "job0" / "job.json").exists():
                assert proc.poll() is None, "fit-many ended before its first job was saved"
                assert time.monotonic() < deadline
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            status = proc.wait(timeout=300)
        finally:
            proc.kill()
            proc.wait()
    lines = log.read_text().strip().splitlines()
    assert status == 130, lines
    assert "Traceback" not in log.read_text()
    saved = sorted(p.parent.name for p in out.glob("*/job.json"))
    assert "job0" in saved and "job2" not in saved  # at most the job running then finished
    last = lines[-1]
    assert last.startswith(f"mmmjax: interrupted; {len(saved)} of 3 jobs are saved"), last
    assert f"({', '.join(saved)})" in last and "nothing was written" not in last
    rerun = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert f"{len(saved)} of 3 jobs already finished" in rerun.stderr
    summary = pd.read_csv(out / "summary.csv", index_col="name")
    assert summary.index[summary["reused"]].tolist() == saved
