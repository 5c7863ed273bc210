"""``mmmjax bench`` on a tiny configuration: valid JSON with the documented fields.

The CLI's ``--quick`` sweep compiles two NUTS programs (tens of seconds each on 2 cores), so the
CLI itself is not run here; ``run_bench`` with one tiny configuration covers the same code.
"""

from __future__ import annotations

import json
import math

import pytest

from mmmjax.bench import GRIDS, STUDIES, BenchConfig, format_table, goals, run_bench

ROW_FIELDS = (
    "T", "C", "chains", "chain_method", "dtype", "adstock_method", "warmup", "draws",
    "compile_s", "sampling_s", "grad_evals_per_s", "draws_per_s", "min_ess_bulk",
    "ess_bulk_per_s", "grad_us", "overhead_ratio", "leapfrog_steps_draws",
    "leapfrog_steps_warmup", "compiled_first", "compiled_second", "trace_lower_s", "load_s",
    "lower_s", "xla_compile_s", "peak_rss_mb",
)  # fmt: skip
MACHINE_FIELDS = ("device", "platform", "cpu", "cores", "date", "jax")


@pytest.mark.slow
def test_run_bench_tiny_writes_json(tmp_path, capsys):
    out = tmp_path / "sub" / "bench.json"
    tiny = BenchConfig(T=52, C=1, chains=1, warmup=10, draws=10)
    res = run_bench(configs=[tiny], studies=(), out=out)

    data = json.loads(out.read_text())
    assert data["sweep"] == "custom"
    for key in MACHINE_FIELDS:
        assert key in data["machine"]
    (row,) = data["configs"]
    assert "error" not in row and "skipped" not in row, row
    for key in ROW_FIELDS:
        assert key in row, key
    assert row["compiled_first"] and not row["compiled_second"]  # second run reuses the program
    # the first call traced (or loaded) and compiled; each phase is timed, and none is longer
    # than the whole first call
    assert row["trace_lower_s"] + row["load_s"] > 0 and row["xla_compile_s"] > 0
    assert sum(row["phases_first"].values()) <= row["first_s"] + 1e-6
    assert 50 < row["peak_rss_mb"] < 1e5
    assert row["chain_method"] == "sequential"
    for key in ("sampling_s", "grad_evals_per_s", "draws_per_s", "grad_us", "overhead_ratio"):
        assert math.isfinite(row[key]) and row[key] > 0, (key, row[key])
    assert row["leapfrog_steps_draws"] >= tiny.draws
    assert row["leapfrog_steps_warmup"] >= tiny.warmup  # counted, not estimated
    assert res["configs"][0]["overhead_ratio"] == pytest.approx(row["overhead_ratio"])
    assert data["goals"]["max_overhead_ratio"] == pytest.approx(row["overhead_ratio"])

    printed = capsys.readouterr().out
    assert "overhead" in printed and data["machine"]["cpu"] in printed


def test_grids_and_studies_are_well_formed():
    """Every named sweep runs configurations the benchmark can run (valid methods, dtypes and
    sizes; no duplicate rows; the quick sweep really quick), the full grid covers every
    combination of its own axes, and every study, default or not, is a function of the module."""
    from mmmjax import bench

    for name, grid in GRIDS.items():
        assert grid, name
        assert len({c.name for c in grid}) == len(grid), f"{name} repeats a configuration"
        for c in grid:
            assert c.T >= 2 and c.C >= 1 and c.chains >= 1 and c.warmup >= 1 and c.draws >= 1
            assert c.dtype in ("float32", "float64"), c
            assert c.adstock_method in ("auto", "scan", "associative"), c
            assert c.chain_method in ("vectorized", "parallel", "sequential"), c
            assert c.chains > 1 or c.chain_method == "sequential" or name != "full", c
    assert all(c.warmup + c.draws <= 200 for c in GRIDS["quick"])
    full = GRIDS["full"]
    axes = [{getattr(c, k) for c in full} for k in ("T", "C", "dtype")]
    combos = {(c.T, c.C, c.dtype) for c in full}
    assert len(combos) == math.prod(len(a) for a in axes)  # a full product of its axes
    assert set().union(*map(set, bench.DEFAULT_STUDIES.values())) <= set(STUDIES)
    for study in STUDIES:
        assert callable(getattr(bench, f"study_{study}")), study
    with pytest.raises(ValueError, match="unknown studies"):
        run_bench(configs=[], studies=("nope",))


def test_format_table_reports_skips():
    res = {
        "machine": {"device": "cpu:0", "device_kind": "cpu", "cpu": "X", "cores": 2,
                    "jax_devices": 4, "load_average_1_5_15": [0, 0, 0], "date": "d"},
        "configs": [{**BenchConfig(chains=64, chain_method="parallel").__dict__,
                     "skipped": "parallel needs 64 devices"}],
    }  # fmt: skip
    text = format_table(res)
    assert "parallel needs 64 devices" in text and "cpu:0" in text


def test_goals_scaling_of_vectorised_chains():
    def row(chains, draws_per_s):
        cfg = BenchConfig(chains=chains, chain_method="vectorized").__dict__
        return {**cfg, "overhead_ratio": 1.5, "draws_per_s": draws_per_s}

    res = {"configs": [row(4, 10.0), row(256, 600.0)], "studies": {}}
    g = goals(res)
    assert g["overhead_under_2"]
    assert g["draws_per_s_256_over_4_vectorized"] == {"T=104 C=5 float32": 60.0}
