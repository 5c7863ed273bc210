"""The research studies of benchmarks/studies.py (the sampler study behind bench_sampler.py).

``benchmarks/`` is not a package: it is put on ``sys.path`` as its scripts have it (they run
from that folder).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import studies
from test_bench import check_runnable

from mmmjax import bench


@pytest.mark.parametrize("sweep", sorted(studies.GRIDS))
def test_every_configuration_of_every_grid_is_runnable(sweep):
    check_runnable(studies.GRIDS[sweep])


def test_full_grid_crosses_every_chain_method_with_every_size_and_precision():
    """The full grid is a product of its axes: each (T, C, chains, dtype) is measured with every
    chain method the probe compares for several chains (one chain is always sequential), so a
    row that a study would compare against is never missing."""
    full = studies.GRIDS["full"]
    axes = {k: {getattr(c, k) for c in full} for k in ("T", "C", "chains", "dtype")}
    methods = {c.chain_method for c in full if c.chains > 1}
    assert methods >= {"vectorized", "parallel"}
    for n in axes["chains"]:
        want = {"sequential"} if n == 1 else methods
        rows = {(c.T, c.C, c.dtype, c.chain_method) for c in full if c.chains == n}
        assert len(rows) == len(axes["T"]) * len(axes["C"]) * len(axes["dtype"]) * len(want), n
    assert {"float32", "float64"} <= axes["dtype"] and {1, 4, 256} <= axes["chains"]


def test_run_bench_passes_each_sweeps_grid_and_studies(monkeypatch):
    """studies.run_bench hands mmmjax.bench.run_bench the sweep's grid and its studies as
    functions of this module, and refuses a study it does not have."""
    seen = {}
    monkeypatch.setattr(bench, "run_bench", lambda **kw: seen.update(kw) or kw)
    assert set(studies.DEFAULT_STUDIES) == set(studies.GRIDS)
    for sweep, flags in (("quick", {"quick": True}), ("moderate", {}), ("full", {"full": True})):
        studies.run_bench(**flags)
        assert seen["sweep"] == sweep and seen["configs"] == studies.GRIDS[sweep]
        assert list(seen["studies"]) == list(studies.DEFAULT_STUDIES[sweep])
        for name, func in seen["studies"].items():
            assert func is studies.STUDY_FUNCS[name] and callable(func)
    studies.run_bench(configs=[], studies=("map_init",))
    assert seen["sweep"] == "custom" and seen["studies"] == {"map_init": studies.study_map_init}
    with pytest.raises(ValueError, match="unknown studies"):
        studies.run_bench(configs=[], studies=("nope",))


def test_adstock_grad_study_rows_on_a_tiny_model():
    """One row per (T, C) with both paths' gradient times, positive, and their ratio."""
    rows = studies.study_adstock_grad(ts=(26,), cs=(1, 2))
    assert [(r["T"], r["C"]) for r in rows] == [(26, 1), (26, 2)]
    for r in rows:
        assert set(r) == {"T", "C", "scan_us", "associative_us", "associative_over_scan"}
        assert all(math.isfinite(r[k]) and r[k] > 0 for k in ("scan_us", "associative_us"))
        assert r["associative_over_scan"] == pytest.approx(r["associative_us"] / r["scan_us"])
