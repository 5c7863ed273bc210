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
from mmmjax import sampling
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
