"""Package set-up done at import (mmmjax/__init__.py)."""

from __future__ import annotations


def test_compilation_cache_is_set_up_when_jax_was_imported_first(tmp_path):
    """`import jax; import mmmjax` (a notebook's order) still gets the persistent cache."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    env["MMMJAX_CACHE_DIR"] = str(tmp_path / "cache")
    code = "import jax, mmmjax; print(jax.config.jax_compilation_cache_dir)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)  # fmt: skip
    assert out.stdout.strip() == str(tmp_path / "cache")
