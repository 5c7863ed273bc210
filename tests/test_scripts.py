"""Every script in scripts/ runs (with --quick where offered and --out in a temp dir)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

SCRIPTS = sorted((Path(__file__).resolve().parents[1] / "scripts").glob("*.py"))


def test_there_are_scripts():
    assert SCRIPTS, "scripts/ holds the runnable examples users copy"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_runs(script, tmp_path):
    help_text = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120
    ).stdout
    assert "--out" in help_text, f"{script.name} should accept --out DIR"
    args = ["--out", str(tmp_path)] + (["--quick"] if "--quick" in help_text else [])
    proc = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert any(tmp_path.iterdir()), f"{script.name} wrote nothing to --out"
    if script.name == "plan_budget.py":  # the what-if and the planner page
        assert "what-if: move 20% of" in proc.stdout and "vs the current mix" in proc.stdout
        whatif = pd.read_csv(tmp_path / "whatif.csv", index_col="channel")
        assert whatif["plan"].sum() == pytest.approx(whatif["current"].sum(), rel=1e-9)
        assert (whatif["response_low"] <= whatif["response"]).all()
        assert (whatif["response"] <= whatif["response_high"]).all()
        schedule = pd.read_csv(tmp_path / "schedule.csv", index_col=0, parse_dates=True)
        assert schedule.shape[0] == 13 and (schedule.to_numpy() >= 0).all()
        assert "next 13 weeks" in proc.stdout and "what-if schedule" in proc.stdout
        assert "target ROI" in proc.stdout and "x today), expected ROI" in proc.stdout
        mine = pd.read_csv(tmp_path / "whatif_schedule.csv", index_col="channel")
        assert mine["plan"].sum() == pytest.approx(mine["current"].sum(), rel=1e-9)
        page = (tmp_path / "planner.html").read_text(encoding="utf-8")
        assert 'id="planner-data"' in page and "https://" not in page
