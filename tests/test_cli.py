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


ROI_PRIORS = "channel,low,high\ntv,1,2\n"
LIFT_TESTS = (
    "channel,start,end,spend_change,lift,lift_se\ntv,2022-03-06,2022-04-02,5000,30000,6000\n"
)


def test_fit_command_on_a_csv_with_calibration(tmp_path, capsys):
    csv = mmmjax.datasets.csv_path("demo")
    cols = mmmjax.datasets.columns("demo")
    (tmp_path / "roi.csv").write_text(ROI_PRIORS)
    (tmp_path / "lift.csv").write_text(LIFT_TESTS)
    out = tmp_path / "out"
    code = main([
        "fit", str(csv), "--date", cols["date"], "--target", cols["target"],
        "--channels", ",".join(cols["channels"]), "--controls", ",".join(cols["controls"]),
        "--out", str(out), "--roi-priors", str(tmp_path / "roi.csv"),
        "--lift-tests", str(tmp_path / "lift.csv"), *SAMPLER,
    ])  # fmt: skip
    assert code == 0
    assert (out / "report.html").is_file() and (out / "fit.nc").is_file()
    printed = capsys.readouterr().out
    assert "roi_mean" in printed and "1 lift test(s)" in printed
    fit = mmmjax.load_fit(out)
    assert fit.lift_tests == (mmmjax.LiftTest("tv", "2022-03-06", "2022-04-02", 5000, 30000, 6000),)
    assert fit.spec.priors["media_roi"]["tv"] == mmmjax.roi_prior(1, 2)
    html = (out / "report.html").read_text()
    assert "<h2>Calibration: prior, lift tests and posterior ROI</h2>" in html


@pytest.mark.parametrize(
    ("flag", "text", "needle"),
    [
        (
            "--roi-priors",
            "channel,low,high\nprint,1,2\n",
            "row 2 of cal.csv (the header is row 1), column 'channel'",
        ),
        ("--roi-priors", "channel,low,high\ntv,2,1\n", "column 'high'"),
        (
            "--lift-tests",
            LIFT_TESTS.replace(",6000", ",0"),
            "row 2 of cal.csv (the header is row 1), column 'lift_se'",
        ),
        ("--lift-tests", LIFT_TESTS.replace("2022-04-02", "2025-01-01"), "column 'end'"),
        ("--lift-tests", "channel,start\n", "column 'end' is missing"),
    ],
)
def test_bad_calibration_file_is_one_line_exit_2(tmp_path, capsys, flag, text, needle):
    csv = mmmjax.datasets.csv_path("demo")
    cols = mmmjax.datasets.columns("demo")
    (tmp_path / "cal.csv").write_text(text)
    out = tmp_path / "out"
    code = main([
        "fit", str(csv), "--date", cols["date"], "--target", cols["target"],
        "--channels", ",".join(cols["channels"]), "--out", str(out), "--chains", "1",
        "--no-progress", flag, str(tmp_path / "cal.csv"),
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err
    assert not out.exists()
    assert (
        main(
            [
                "fit",
                str(csv),
                "--date",
                cols["date"],
                "--target",
                cols["target"],
                "--channels",
                "tv",
                "--out",
                str(out),
                flag,
                str(tmp_path / "nope.csv"),
            ]
        )
        == 2
    )
    assert "nope.csv" in capsys.readouterr().err and not out.exists()


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
