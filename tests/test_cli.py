"""The command line: real runs, and bad input that exits 2 with one line and writes nothing."""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest

import mmmjax
from mmmjax.cli import _parser, check_writable, convergence_problem, diagnostics_text, main
from mmmjax.files import safe_cell, write_csv

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
    assert "current mix at the same budget" in capsys.readouterr().out


def test_optimize_plans_the_next_periods(demo_out, capsys, tmp_path):
    """--periods 13: the budget is over the 13 periods; schedule.csv holds the future dates x
    channels and sums to it; bad --periods/--schedule are one line and exit 2."""
    fit = mmmjax.load_fit(demo_out)
    budget = 13 * float(fit.scales.spend.sum())
    code = main(["optimize", str(demo_out), "--budget", str(budget), "--periods", "13",
                 "--schedule", "free", "--out", str(tmp_path)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    schedule = pd.read_csv(tmp_path / "schedule.csv", index_col=0, parse_dates=True)
    assert list(schedule.columns) == fit.channels
    assert list(schedule.index) == list(fit.dataset.future_dates(13))
    assert abs(schedule.to_numpy().sum() - budget) <= 1e-6 * budget
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["periods"] == 13 and len(plan["schedule"]) == 13
    assert "over the 13 periods and their carryover" in out and "schedule.csv" in out
    for args, needle in [
        (["--periods", "0"], "--periods must be 1 or more"),
        (["--schedule", "free"], "--schedule needs --periods"),
        (["--periods", "13", "--schedule", "weekly"], "--schedule must be flat or free"),
        (["--periods", "13", "--bounds", f"tv={budget}:"], "over 13 periods"),
    ]:
        assert main(["optimize", str(demo_out), "--budget", str(budget), *args]) == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") <= 2, err


def test_optimize_finds_the_budget_for_a_target_roi(demo_out, capsys, tmp_path):
    """--target-roi R: the plan's budget is the largest whose expected ROI is R (plan.json says
    how the budget was set); exactly one of --budget/--target-roi/--target-mroi, one line."""
    fit = mmmjax.load_fit(demo_out)
    now = float(fit.scales.spend.sum())
    roi_now = mmmjax.optimize_budget(fit, now).expected_response / now
    target = round(0.8 * roi_now, 3)
    code = main(["optimize", str(demo_out), "--target-roi", str(target), "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["budget_from"] == "target_roi" and plan["target"] == target
    assert plan["total_budget"] > now and plan["target_value"] >= target * (1 - 1e-5)
    assert f"the largest budget whose expected ROI is at least {target:g}" in out
    for args, needle in [
        (["--budget", "100", "--target-roi", "2"], "got --budget and --target-roi"),
        ([], "give exactly one of --budget, --target-roi and --target-mroi (got none)"),
        (["--target-mroi", "-1"], "--target-mroi must be a positive number"),
        (["--target-roi", "1e6"], "target_roi 1e+06 is not reachable"),
        (["--target-roi", "2", "--periods", "13"], "with --periods give --budget"),
    ]:
        assert main(["optimize", str(demo_out), *args, "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") <= 2, err
    assert not (tmp_path / "x").exists()


def test_optimize_compares_with_the_current_mix_at_the_same_budget(demo_out, capsys, tmp_path):
    """Half the historical budget: the plan is compared with the recent mix scaled to that same
    half (not with historical spend, which made a smaller plan look like a loss), with 94%
    intervals; --report writes the plan into the report."""
    import dataclasses

    from mmmjax.cli import plan_summary

    fit = mmmjax.load_fit(demo_out)
    budget = 0.5 * float(fit.scales.spend.sum())
    code = main(["optimize", str(demo_out), "--budget", str(budget), "--out", str(tmp_path),
                 "--report"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    plan = mmmjax.optimize_budget(fit, budget)
    same = mmmjax.evaluate_budget(fit, plan.allocation)
    assert abs(same.allocation.sum() - budget) < 1e-6 * budget
    assert abs(same.current_allocation.sum() - budget) < 1e-6 * budget
    assert plan.current_response > plan.expected_response  # historical spend is twice the plan
    assert same.uplift > 0  # ... but at the same budget the optimal split beats the recent mix
    assert plan_summary(plan, same) in out
    assert "94% interval" in out and "warning" not in out
    html = (tmp_path / "report.html").read_text()
    assert "Budget" in html or "budget" in html
    stuck = dataclasses.replace(plan, converged=False)
    assert "did not converge" in plan_summary(stuck, same)


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


# ----------------------------------------------------------------------------------------------
# issue 18: one line and exit 2 for every bad input, checked before any sampling
# ----------------------------------------------------------------------------------------------
def _fit_argv(csv, out, *extra):
    cols = mmmjax.datasets.columns("demo")
    return ["fit", str(csv), "--date", cols["date"], "--target", cols["target"],
            "--channels", ",".join(cols["channels"]), "--out", str(out), *extra]  # fmt: skip


@pytest.fixture
def no_sampling(monkeypatch):
    """Any sampling fails the test: the checks under test must come first."""

    def sample(*args, **kwargs):
        raise AssertionError("sampled before the bad input was reported")

    monkeypatch.setattr(mmmjax.MMM, "fit", sample)


def _one_error_line(err: str, *needles: str) -> None:
    assert err.count("\n") == 1 and err.startswith("mmmjax: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)


@pytest.mark.parametrize("kind", ["directory", "binary"])
def test_a_directory_or_binary_file_as_csv_is_one_line_naming_it(tmp_path, capsys, kind):
    path = tmp_path / "data.csv"
    if kind == "directory":
        path.mkdir()
    else:
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)  # an image, say
    out = tmp_path / "out"
    assert main(_fit_argv(path, out, "--chains", "1")) == 2
    _one_error_line(capsys.readouterr().err, str(path))
    assert not out.exists()


@pytest.mark.parametrize("where", ["under a file", "read-only folder"])
def test_unwritable_out_is_refused_before_sampling(tmp_path, capsys, no_sampling, where):
    if where == "under a file":
        (tmp_path / "notes.txt").write_text("mine")
        out, needle = tmp_path / "notes.txt" / "out", "is a file, not a folder"
    else:
        if os.geteuid() == 0:
            pytest.skip("root may write in a read-only folder")
        (tmp_path / "ro").mkdir(mode=0o500)
        out, needle = tmp_path / "ro" / "new" / "out", "cannot write in"
    assert main(_fit_argv(mmmjax.datasets.csv_path("demo"), out)) == 2
    _one_error_line(capsys.readouterr().err, f"--out {out}", needle)
    assert main(["demo", "--out", str(out)]) == 2
    _one_error_line(capsys.readouterr().err, needle)
    assert not out.exists()


def test_check_writable_leaves_nothing_behind(tmp_path):
    check_writable(tmp_path / "a" / "b", inside=True)
    check_writable(tmp_path / "c", inside=False)
    assert list(tmp_path.iterdir()) == []


def _break_fit_json(meta):
    meta.pop("scales")
    return meta


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("fit.nc", lambda b: b[: len(b) // 2]),  # truncated
        ("fit.nc", lambda b: b""),  # empty
        ("fit.nc", lambda b: bytes(len(b))),  # zeroed
        ("fit.json", lambda m: _break_fit_json(m)),  # a key missing
        ("fit.json", lambda m: {**m, "spec": None}),
        ("fit.json", lambda m: [m]),  # a top-level list
        ("fit.json", lambda m: "{not json"),
    ],
)
def test_optimize_on_a_broken_saved_fit_is_one_line(demo_out, tmp_path, capsys, name, damage):
    broken = tmp_path / "broken"
    shutil.copytree(demo_out, broken)
    path = broken / name
    if name == "fit.nc":
        path.write_bytes(damage(path.read_bytes()))
    else:
        meta = damage(json.loads(path.read_text()))
        path.write_text(meta if isinstance(meta, str) else json.dumps(meta))
    assert main(["optimize", str(broken), "--budget", "1000"]) == 2
    _one_error_line(capsys.readouterr().err, str(broken))
    assert not (broken / "plan.csv").exists()


def test_optimize_speaks_in_flags_and_money(demo_out, capsys):
    fit = mmmjax.load_fit(demo_out)
    caps = [f"{ch}=:10" for ch in fit.channels]
    assert main(["optimize", str(demo_out), "--budget", "1000000", "--bounds", *caps]) == 2
    err = capsys.readouterr().err
    _one_error_line(err, "--budget 1,000,000 is above the --bounds upper limits", "sum to 50")
    assert "total_budget" not in err
    assert main(["optimize", str(demo_out), "--budget", "100", "--bounds", "tv=200:"]) == 2
    _one_error_line(capsys.readouterr().err, "--budget 100 is below the --bounds lower limits")
    assert main(["optimize", str(demo_out), "--budget", "-5"]) == 2
    _one_error_line(capsys.readouterr().err, "--budget must be a positive amount")
    assert not (demo_out / "plan.csv").exists()


# ----------------------------------------------------------------------------------------------
# argument errors and --help
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "command", "needle"),
    [
        (["fit"], "mmmjax fit", "the following arguments are required: csv, --date"),
        (["optimize", "d", "--budget", "lots"], "mmmjax optimize", "--budget: invalid float"),
        (["fitt"], "mmmjax", "invalid choice: 'fitt'"),
    ],
)
def test_argument_errors_print_the_usage_line_and_one_error(capsys, argv, command, needle):
    assert main(argv) == 2
    usage, error, *rest = capsys.readouterr().err.splitlines()
    assert not rest
    assert usage.startswith(f"usage: {command} ")
    assert error.startswith(f"{command}: error: ") and needle in error
    assert f"'{command} --help' lists every option" in error


def test_help_shows_the_model_and_sampler_defaults(capsys):
    assert main(["fit", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for flag, value in [("--adstock", "geometric"), ("--saturation", "hill"), ("--l-max", 8),
                        ("--seasonality", 2), ("--trend", "linear"), ("--chains", 4),
                        ("--draws", 1000), ("--warmup", 1000), ("--seed", 0)]:  # fmt: skip
        option = rf"{flag} \S+ (?:(?! --[a-z]).)*?\(default: {value}\)"  # within its own help
        assert re.search(option, text), flag
    assert "exit status" in text and "3 written but not converged" in text


def test_command_line_defaults_are_the_library_defaults():
    """The help text shows the CLI's defaults: they must be MMM's and fit_model's."""
    from mmmjax.inference.fit import fit_model

    args = _parser().parse_args(_fit_argv("data.csv", "out"))
    spec = {f.name: f.default for f in dataclasses.fields(mmmjax.MMM)}
    for name in ("adstock", "saturation", "l_max", "seasonality", "trend", "likelihood", "form"):
        assert getattr(args, name) == spec[name], name
    signature = inspect.signature(fit_model).parameters
    for name in ("chains", "draws", "warmup", "seed", "target_accept"):
        assert getattr(args, name) == signature[name].default, name


def test_a_wrong_column_is_reported_before_heavy_imports(tmp_path):
    """`--target nope` used to take 2.5 s: JAX, ArviZ and matplotlib were imported first."""
    argv = _fit_argv(mmmjax.datasets.csv_path("demo"), tmp_path / "out")
    argv[argv.index("--target") + 1] = "nope"
    code = (
        "import sys; from mmmjax.cli import main; status = main(sys.argv[1:]); "
        "heavy = [m for m in ('jax', 'numpyro', 'arviz', 'matplotlib') if m in sys.modules]; "
        "print(status, heavy)"
    )
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.stdout.split() == ["2", "[]"], proc.stdout + proc.stderr
    assert "'nope'" in proc.stderr


# ----------------------------------------------------------------------------------------------
# convergence
# ----------------------------------------------------------------------------------------------
GOOD = {"max_r_hat": 1.004, "min_ess_bulk": 512.0, "divergences": 0}


@pytest.mark.parametrize(
    ("diag", "needles"),
    [
        (GOOD, None),
        ({**GOOD, "max_r_hat": 1.05, "min_ess_bulk": 150.0}, None),  # a warning, not a failure
        ({**GOOD, "max_r_hat": 1e16, "min_ess_bulk": 2.0}, ["r-hat 1e+16 > 1.1", "ESS 2 < 20"]),
        ({**GOOD, "max_r_hat": 1.2}, ["r-hat 1.2 > 1.1"]),
        ({**GOOD, "max_r_hat": float("nan")}, None),  # one chain: ESS alone decides
        ({**GOOD, "max_r_hat": float("nan"), "min_ess_bulk": 8.0}, ["ESS 8 < 20"]),
        ({**GOOD, "min_ess_bulk": float("nan")}, ["ESS nan"]),
    ],
)
def test_convergence_problem(diag, needles):
    problem = convergence_problem(diag)
    if needles is None:
        assert problem is None
    else:
        assert problem is not None and all(n in problem for n in needles), problem


def test_diagnostics_text_says_one_chain_has_no_r_hat():
    assert diagnostics_text(GOOD) == "max r-hat 1.004, min bulk ESS 512, 0 divergences"
    text = diagnostics_text({**GOOD, "max_r_hat": float("nan")})
    assert "nan" not in text and "r-hat not computed (it needs 2 or more chains)" in text


def test_an_unconverged_fit_is_written_and_exits_3(demo_fit, monkeypatch, tmp_path, capsys):
    worst = {f"worst_{k}": "sigma" for k in ("r_hat", "ess_bulk", "ess_tail")}
    frozen = {**demo_fit.diagnostics(), **worst, "max_r_hat": 1e16, "min_ess_bulk": 2.0,
              "min_ess_tail": 2.0}  # fmt: skip
    monkeypatch.setattr(mmmjax.MMM, "fit", lambda self, dataset, **kw: demo_fit)
    monkeypatch.setattr(type(demo_fit), "diagnostics", lambda self: frozen)
    out = tmp_path / "out"
    assert main(["demo", "--out", str(out), "--holdout", "0", *SAMPLER]) == 3
    captured = capsys.readouterr()
    assert "max r-hat 1e+16" in captured.out
    verdict = [line for line in captured.err.splitlines() if "NOT CONVERGED" in line]
    assert len(verdict) == 1 and "r-hat 1e+16 > 1.1 (sigma)" in verdict[0]
    assert "exit status 3" in verdict[0]
    assert (out / "report.html").is_file() and (out / "fit.nc").is_file()  # kept to inspect


# ----------------------------------------------------------------------------------------------
# names from the data: `$` in figures, formulas in CSVs
# ----------------------------------------------------------------------------------------------
def test_safe_cell_and_write_csv(tmp_path):
    assert [safe_cell(x) for x in ("=1+2", "+a", "-b", "@c", "\tx", "tv", "", -3.5, None)] == [
        "'=1+2", "'+a", "'-b", "'@c", "'\tx", "tv", "", -3.5, None,
    ]  # fmt: skip
    frame = pd.DataFrame({"=col": ["=HYPERLINK(1)", "ok"], "value": [-1.5, 2.0]},
                         index=pd.Index(["@tv", "radio"], name="channel"))  # fmt: skip
    write_csv(frame, tmp_path / "t.csv")
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert lines == ["channel,'=col,value", "'@tv,'=HYPERLINK(1),-1.5", "radio,ok,2.0"]
    assert list(frame.index) == ["@tv", "radio"]  # the caller's frame is unchanged


def test_dollar_and_formula_names_through_fit_and_optimize(tmp_path, capsys):
    """A channel `search $x^$` crashed the report (mathtext) after the whole fit; names like
    `=tv` went raw into roi.csv and plan.csv, where a spreadsheet runs them as formulas."""
    cols = mmmjax.datasets.columns("demo")
    names = {"tv": "=tv", "search": "search $x^$", "social": "@social", "display": "-display"}
    frame = pd.read_csv(mmmjax.datasets.csv_path("demo")).rename(columns=names)
    frame.to_csv(tmp_path / "data.csv", index=False)
    channels = [names.get(c, c) for c in cols["channels"]]
    out = tmp_path / "out"
    code = main(["fit", str(tmp_path / "data.csv"), "--date", cols["date"], "--target",
                 cols["target"], f"--channels={','.join(channels)}", "--out", str(out),
                 *SAMPLER])  # fmt: skip
    assert code in (0, 3), capsys.readouterr().err
    assert "search $x^$" in (out / "report.html").read_text(encoding="utf-8")
    roi_rows = [line.split(",")[0] for line in (out / "roi.csv").read_text().splitlines()]
    assert roi_rows[1:] == ["'=tv", "search $x^$", "'@social", "'-display", "radio"]
    budget = float(mmmjax.load_fit(out).scales.spend.sum())
    assert main(["optimize", str(out), "--budget", str(budget)]) == 0
    plan_rows = [line.split(",")[0] for line in (out / "plan.csv").read_text().splitlines()]
    assert {"'=tv", "'@social", "'-display"} <= set(plan_rows)


def test_fit_many_out_with_only_a_killed_saves_temporaries_is_not_foreign(tmp_path, capsys):
    """A first run killed mid-save leaves only a hidden ``.name.mmmjax-*`` temporary beside the
    job's folder; the rerun must go on (here it stops later, at the empty manifest), not refuse
    the folder as "not a fit-many output"."""
    out = tmp_path / "fits"
    (out / ".job0.mmmjax-12345-abcd").mkdir(parents=True)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("name,csv,date,target,channels\n")
    assert main(["fit-many", str(manifest), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "not a fit-many output" not in err and "manifest" in err
    (out / "stray.txt").write_text("x")  # a visible foreign file still makes it foreign
    assert main(["fit-many", str(manifest), "--out", str(out)]) == 2
    assert "not a fit-many output" in capsys.readouterr().err
