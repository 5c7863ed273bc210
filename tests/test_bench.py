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


def check_runnable(grid: list[BenchConfig]) -> None:
    """Every configuration is one the probe can run: a valid ``mmmjax.MMM`` (its adstock path),
    a chain method the sampler accepts and records unchanged, a floating dtype, at least one
    warm-up step and draw, and no configuration measured twice."""
    import jax.numpy as jnp

    import mmmjax
    from mmmjax.inference.sampling import choose_chain_method

    assert grid
    assert len({c.name for c in grid}) == len(grid), "a configuration is repeated"
    for c in grid:
        mmmjax.MMM(adstock_method=c.adstock_method)  # raises on an unknown path
        method = "sequential" if c.chains == 1 else c.chain_method
        assert choose_chain_method(c.chains, method) == method, c  # "auto" would be ambiguous
        assert jnp.issubdtype(jnp.dtype(c.dtype), jnp.floating), c
        assert min(c.T, c.C, c.chains, c.warmup, c.draws) >= 1, c


@pytest.mark.parametrize("sweep", sorted(GRIDS))
def test_every_configuration_of_a_sweep_is_runnable(sweep):
    check_runnable(GRIDS[sweep])


def test_parallel_rows_that_need_more_devices_are_skipped_not_run():
    """A parallel configuration with more chains than JAX devices says why it was skipped (and
    does not sample); a configuration of the other precision refuses to run in this process."""
    import jax

    from mmmjax.bench import run_config

    n = jax.local_device_count()
    row = run_config(BenchConfig(T=8, C=1, chains=n + 1, chain_method="parallel"))
    assert row["skipped"] == f"parallel needs {n + 1} devices, JAX sees {n}"
    other = "float32" if jax.config.jax_enable_x64 else "float64"
    with pytest.raises(RuntimeError, match="JAX_ENABLE_X64"):
        run_config(BenchConfig(T=8, C=1, chains=1, dtype=other))


def test_run_bench_runs_the_studies_it_is_given(capsys):
    """Named studies must be the probe's own; a ``{name: function}`` mapping (what
    benchmarks/studies.py passes) runs each function in order, and a study that raises is
    recorded as an error while the others still run."""
    from mmmjax import bench

    assert set().union(*map(set, bench.DEFAULT_STUDIES.values())) <= set(STUDIES)
    assert set(bench.DEFAULT_STUDIES) == set(GRIDS)  # each sweep says what it runs after
    with pytest.raises(ValueError, match="unknown studies"):
        run_bench(configs=[], studies=("nope",))

    def boom():
        raise RuntimeError("no")

    res = run_bench(configs=[], studies={"a": lambda: {"x": 1.5}, "b": boom, "c": lambda: [1]},
                    sweep="mine")  # fmt: skip
    assert res["sweep"] == "mine" and list(res["studies"]) == ["a", "b", "c"]
    assert res["studies"]["a"] == {"x": 1.5} and res["studies"]["c"] == [1]
    assert "RuntimeError" in res["studies"]["b"]["error"]
    printed = capsys.readouterr().out
    assert 'study a: {"x": 1.5}' in printed and 'study c: "1 rows"' in printed


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
