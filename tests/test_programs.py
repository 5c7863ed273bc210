"""Programs across processes: a second process neither traces nor compiles the sampler.

The first subprocess exports the NUTS programs (mmmjax.programs) and fills JAX's persistent
compilation cache; the second loads both, with the progress bar on (no host callback keeps the
programs out of the cache), and samples the same draws bit for bit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SNIPPET = """
import hashlib, json, jax.monitoring as mon
events = {}
mon.register_event_listener(lambda name, **kw: events.__setitem__(name, events.get(name, 0) + 1))
import numpy as np, mmmjax
from mmmjax.inference import sampling
ds, _ = mmmjax.simulate(52, 2, seed=0)
fit = mmmjax.MMM(seasonality=1).fit(ds, chains=2, draws=20, warmup=30, seed=1, progress=True,
                                    warn=False, prior_draws=0)
draws = np.concatenate([v.ravel() for _, v in sorted(fit.draws().items())])
print("RESULT " + json.dumps({"phases": fit.info["phases"], "traces": sampling._TRACES[0],
      "hash": hashlib.sha256(draws.tobytes()).hexdigest(),
      "misses": events.get("/jax/compilation_cache/cache_misses", 0),
      "hits": events.get("/jax/compilation_cache/cache_hits", 0)}))
"""


def _fit_in_a_new_process(cache: Path) -> dict:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "MMMJAX_CACHE_DIR": str(cache), "PYTHONPATH": path}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    proc = subprocess.run([sys.executable, "-c", SNIPPET], env=env, capture_output=True,
                          text=True, check=False, timeout=600)  # fmt: skip
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert lines, proc.stderr[-3000:]
    return {**json.loads(lines[-1][len("RESULT ") :]), "stderr": proc.stderr}


@pytest.mark.slow
def test_a_second_process_loads_the_sampler_instead_of_tracing_and_compiling(tmp_path):
    pytest.importorskip("flatbuffers", reason="jax.export serialisation needs flatbuffers")
    first = _fit_in_a_new_process(tmp_path / "jax")
    assert "trace_lower_s" in first["phases"] and first["traces"] > 0
    assert list((tmp_path / "jax-programs").glob("nuts-*.jaxexport"))
    second = _fit_in_a_new_process(tmp_path / "jax")
    assert "NUTS" in second["stderr"]  # the bar was shown
    assert "load_s" in second["phases"] and "trace_lower_s" not in second["phases"]
    assert second["traces"] == 0  # the chain functions were not traced at all
    assert second["misses"] == 0 and second["hits"] >= 2, second  # every program from disk
    assert second["hash"] == first["hash"]  # the same draws, bit for bit


def test_a_damaged_stored_program_is_exported_again(tmp_path, monkeypatch):
    pytest.importorskip("flatbuffers", reason="jax.export serialisation needs flatbuffers")
    import jax
    import jax.numpy as jnp
    import numpy as np

    from mmmjax import programs

    monkeypatch.setattr(programs, "store_dir", lambda: tmp_path / "jax-programs")
    f = jax.jit(lambda x: jnp.sin(x) * 2)
    specs = (jax.ShapeDtypeStruct((3,), np.float32),)
    _, loaded = programs.exported("t", {"k": 1}, f, specs)
    assert not loaded
    (path,) = (tmp_path / "jax-programs").glob("t-*.jaxexport")
    again, loaded = programs.exported("t", {"k": 1}, f, specs)
    assert loaded
    np.testing.assert_allclose(again.call(np.ones(3, np.float32)), 2 * np.sin(np.ones(3)),
                               rtol=1e-6)  # fmt: skip
    _, loaded = programs.exported("t", {"k": 2}, f, specs)  # another key: another file
    assert not loaded and len(list(path.parent.glob("t-*"))) == 2
    path.write_bytes(b"truncated")
    _, loaded = programs.exported("t", {"k": 1}, f, specs)
    assert not loaded and path.stat().st_size > 100  # rewritten


def test_cached_jit_is_jit_and_a_cleared_program_loads_without_tracing(tmp_path, monkeypatch):
    """``cached_jit``: the same values as ``jax.jit``; one export per static value and shape;
    after ``clear_compiled()`` the program comes back from the store and ``fun`` is not traced;
    inside ``vmap`` (tracers) it is plain ``jax.jit``."""
    pytest.importorskip("flatbuffers", reason="jax.export serialisation needs flatbuffers")
    import jax
    import jax.numpy as jnp
    import numpy as np

    from mmmjax import programs

    monkeypatch.setattr(programs, "store_dir", lambda: tmp_path / "jax-programs")
    traced = []

    def fun(power, x, y):
        traced.append(power)
        return {"a": jnp.sin(x) ** power, "b": (x * y).sum()}

    f = programs.cached_jit("test-fun", fun, static_argnums=0)
    x, y = np.linspace(0, 1, 5, dtype=np.float32), np.float32(3.0) * np.ones(5, np.float32)
    for power in (1, 2):
        got, want = f(power, x, y), jax.jit(fun, static_argnums=0)(power, x, y)
        np.testing.assert_allclose(got["a"], want["a"], rtol=1e-6)
        np.testing.assert_allclose(got["b"], want["b"], rtol=1e-6)
    assert programs.STATS["test-fun"]["exported"] == 2
    n = len(traced)
    f(2, x, y)  # compiled already: no trace, no load
    assert len(traced) == n and programs.STATS["test-fun"]["loaded"] == 0
    programs.clear_compiled()
    np.testing.assert_allclose(f(2, x, y)["a"], np.sin(x) ** 2, rtol=1e-6)
    assert len(traced) == n and programs.STATS["test-fun"]["loaded"] == 1  # from the store
    batched = jax.vmap(lambda v: f(1, v, y)["b"])(np.stack([x, 2 * x]))
    np.testing.assert_allclose(batched, [(x * y).sum(), (2 * x * y).sum()], rtol=1e-6)
    assert len(list((tmp_path / "jax-programs").glob("test-fun-*"))) == 2


PLAN_SNIPPET = """
import json, numpy as np, mmmjax
from mmmjax import programs
from mmmjax.inference.fit import fit_from_draws
ds, _ = mmmjax.simulate(52, 3, seed=0)
rng = np.random.default_rng(0)
S, C = 64, 3
spec = mmmjax.MMM(adstock="geometric", saturation="hill", seasonality=0, trend="none")
fit = fit_from_draws(spec, ds, {"intercept": np.ones(S), "sigma": np.full(S, 0.05),
    "media_roi": rng.lognormal(0.5, 0.3, (S, C)), "alpha": rng.uniform(0.2, 0.6, (S, C)),
    "half_saturation": rng.lognormal(0, 0.2, (S, C)), "slope": rng.lognormal(0, 0.1, (S, C)),
    "control_coef": np.zeros((S, ds.controls.shape[1]))})
B = float(fit.scales.spend.sum())
plan = mmmjax.optimize_budget(fit, B)
frontier = mmmjax.budget_frontier(fit, np.linspace(0.5, 1.5, 7) * B)
stats = {k: dict(v) for k, v in programs.STATS.items() if k.startswith("optimize-")}
print("RESULT " + json.dumps({"stats": stats, "x": plan.allocation.tolist(),
      "front": frontier["expected_response"].tolist()}))
"""


@pytest.mark.slow
def test_a_second_planning_process_loads_the_optimizer_instead_of_tracing(tmp_path):
    pytest.importorskip("flatbuffers", reason="jax.export serialisation needs flatbuffers")
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "MMMJAX_CACHE_DIR": str(tmp_path / "jax"), "PYTHONPATH": path}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    runs = []
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-c", PLAN_SNIPPET], env=env, capture_output=True,
                              text=True, check=False, timeout=600)  # fmt: skip
        lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        assert lines, proc.stderr[-3000:]
        runs.append(json.loads(lines[-1][len("RESULT ") :]))
    first, second = runs
    assert sum(v.get("exported", 0) for v in first["stats"].values()) > 0
    assert sum(v.get("exported", 0) for v in second["stats"].values()) == 0, second["stats"]
    assert sum(v.get("loaded", 0) for v in second["stats"].values()) > 0
    assert second["x"] == first["x"] and second["front"] == first["front"]


def test_release_if_crowded_drops_every_compiled_program_only_past_the_share(tmp_path, monkeypatch):
    """Near the kernel's mapping limit every in-memory program cache is dropped (JAX's, the
    cached_jit tables, the sampler's); below it nothing is."""
    import jax
    import numpy as np

    from mmmjax import programs
    from mmmjax.inference import sampling

    counted = programs.mapping_count()
    if counted is None:
        pytest.skip("/proc/self/maps is Linux's: no mapping count on this system")
    held, limit = counted
    assert 0 < held < limit
    monkeypatch.setattr(programs, "store_dir", lambda: None)  # plain jit: nothing on disk
    f = jax.jit(lambda x: x + 1)
    g = programs.cached_jit("test-crowded", lambda x: x * 2)
    f(np.ones(3, np.float32)), g(np.ones(3, np.float32))
    monkeypatch.setitem(sampling._COMPILED, ("test",), object())
    assert f._cache_size() == 1
    assert not programs.release_if_crowded(share=1.0 + limit)  # far below: kept
    assert f._cache_size() == 1 and ("test",) in sampling._COMPILED
    assert programs.release_if_crowded(share=0.0)  # "past" any count: released
    assert f._cache_size() == 0 and not sampling._COMPILED
    assert all(not table for table in programs._COMPILED_TABLES)
    np.testing.assert_allclose(g(np.ones(3, np.float32)), 2.0)  # still works afterwards
