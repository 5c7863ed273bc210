"""Fit quality of the default model against the ridge baseline (issue 16).

The goal: in-sample R² at least the ridge's and a 13-week holdout MAPE at most 1.1x the ridge's,
with no divergences. The data sets and the measurement are those of
``benchmarks/bench_quality.py``; the MMM's numbers are of the posterior mean prediction, and the
comparisons keep a margin (0.01 of R², 10% of MAPE) for Monte Carlo error.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_quality.py"
SETTINGS = dict(chains=2, draws=300, warmup=300)


def _bench():
    spec = importlib.util.spec_from_file_location("bench_quality", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _bench()


def _check(r: dict) -> None:
    assert r["divergences"] == 0, r
    assert r["r2"] >= r["ridge_r2"] - 0.01, r
    assert r["holdout_mape"] <= 1.1 * r["ridge_holdout_mape"], r


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_strong_control_case_is_no_worse_than_ridge(seed):
    """208 weeks, 5 channels, one control worth 25% of the mean target per sd (two data sets)."""
    data = bench.strong_control_case(seed=seed)
    assert data.n_periods == 208 and data.n_channels == 5 and data.control_names == ["demand_index"]
    _check(bench.measure(data, seed=seed, **SETTINGS))


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="issue 16, not met yet: on HAMS the default model's R² is 0.44 against the ridge's "
    "0.52 (the ridge gives spend_channel_1 a negative coefficient, which a model of positive "
    "media effects cannot) and its holdout MAPE 12.8% against 10.3%",
)
def test_hams_is_no_worse_than_ridge(hams):
    _check(bench.measure(hams, **SETTINGS))
