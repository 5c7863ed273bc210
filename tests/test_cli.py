"""The command line: real runs, and bad input that exits 2 with one line and writes nothing."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

import mmmjax
from mmmjax.cli import main

# the same sampler settings as the shared demo_fit fixture, so the compiled sampler is reused
SAMPLER = ["--chains", "2", "--draws", "250", "--warmup", "250", "--no-progress"]


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory, demo_fit):
    out = tmp_path_factory.mktemp("cli") / "demo"
    assert main(["demo", "--out", str(out), "--holdout", "0", *SAMPLER]) == 0
    return out


def test_demo_writes_fit_report_and_roi(demo_out, capsys):
    for name in ("fit.nc", "fit.json", "report.html", "roi.csv"):
        assert (demo_out / name).is_file(), name
    fit = mmmjax.load_fit(demo_out)
    assert fit.channels == ["tv", "search", "social", "display", "radio"]
    roi = pd.read_csv(demo_out / "roi.csv", index_col=0)
    assert list(roi.index) == fit.channels
    html = (demo_out / "report.html").read_text()
    assert all(ch in html for ch in fit.channels)


def test_fit_command_on_a_csv(tmp_path, capsys):
    csv = mmmjax.datasets.csv_path("demo")
    cols = mmmjax.datasets.columns("demo")
    out = tmp_path / "out"
    code = main([
        "fit", str(csv), "--date", cols["date"], "--target", cols["target"],
        "--channels", ",".join(cols["channels"]), "--controls", ",".join(cols["controls"]),
        "--out", str(out), *SAMPLER,
    ])  # fmt: skip
    assert code == 0
    assert (out / "report.html").is_file() and (out / "fit.nc").is_file()
    assert "roi_mean" in capsys.readouterr().out


def test_optimize_command(demo_out, capsys, tmp_path):
    fit = mmmjax.load_fit(demo_out)
    budget = float(fit.scales.spend.sum())
    code = main(["optimize", str(demo_out), "--budget", str(budget), "--bounds", "tv=0.5x:1.5x",
                 "--out", str(tmp_path)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    plan = json.loads((tmp_path / "plan.json").read_text())
    frame = pd.read_csv(tmp_path / "plan.csv", index_col=0)
    assert set(fit.channels) <= set(frame.index)
    assert plan


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--target", "sales"], "sales"),
        (["--channels", "tv,print"], "print"),
        (["--draws", "0"], "--draws"),
        (["--adstock", "exponential"], "adstock"),
        (["--date-format", "%m/%d/%Y"], "date"),
        (["--holdout", "-1"], "--holdout"),
    ],
)
def test_bad_fit_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, argv, needle):
    csv = mmmjax.datasets.csv_path("demo")
    cols = mmmjax.datasets.columns("demo")
    base = {
        "--date": cols["date"],
        "--target": cols["target"],
        "--channels": ",".join(cols["channels"]),
    }
    base.update(dict(zip(argv[::2], argv[1::2], strict=True)))
    out = tmp_path / "out"
    args = ["fit", str(csv), "--out", str(out), "--chains", "1", "--no-progress"]
    code = main(args + [x for kv in base.items() for x in kv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err
    assert not out.exists()


def test_bad_optimize_input(demo_out, capsys):
    assert main(["optimize", str(demo_out), "--budget", "-5"]) == 2
    assert main(["optimize", str(demo_out), "--budget", "1000", "--bounds", "print=0:1"]) == 2
    err = capsys.readouterr().err
    assert "print" in err and "Traceback" not in err
    assert main(["optimize", str(demo_out.parent / "nope"), "--budget", "10"]) == 2


def test_refuses_to_overwrite_a_foreign_directory(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["demo", "--out", str(tmp_path), "--chains", "1"]) == 2
    assert "not an mmmjax output" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_console_script_error_has_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mmmjax.cli", "fit", str(tmp_path / "missing.csv"),
         "--date", "d", "--target", "y", "--channels", "a", "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "missing.csv" in proc.stderr
    assert "Traceback" not in proc.stderr
