"""Traced-and-lowered programs kept on disk (``jax.export``), so no process traces one twice.

JAX's persistent compilation cache skips XLA's *compile* in a new process, but every process
still *traces* the Python function and *lowers* it to StableHLO before it can look the cache
up: on the HAMS model that was 1.0 s of tracing and 0.6 s of lowering of a 2.8 s fit. Here a
program is traced and lowered once, serialised with ``jax.export`` into a file beside the
compilation cache, and later processes deserialise it (milliseconds) and hand it to XLA,
whose compile then hits the persistent cache.

A file is named by a SHA-256 of everything the program depends on: the caller's key (model,
shapes, settings), the argument shapes and dtypes, the versions of JAX, jaxlib and NumPyro, the
backend, and a hash of mmmjax's own source files, so an edited mmmjax or a new JAX never loads
a stale program. The store is ``<compilation cache dir>-programs`` (by default
``~/.cache/mmmjax/jax-programs``); without a compilation cache directory (``MMMJAX_CACHE_DIR=0``)
programs are exported in memory only. Serialisation needs the ``flatbuffers`` package; without
it, programs are exported but not stored.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax

__all__ = ["exported", "source_hash", "store_dir"]

SUFFIX = ".jaxexport"


@functools.cache
def source_hash() -> str:
    """SHA-256 of mmmjax's ``.py`` files (their paths and bytes), computed once per process."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def store_dir() -> Path | None:
    """Where exported programs are kept: beside JAX's compilation cache (``None``: nowhere)."""
    cache = jax.config.jax_compilation_cache_dir
    if not cache:
        return None
    cache = Path(cache)
    return cache.with_name(cache.name + "-programs")


def _digest(name: str, key: Any, specs: Sequence[Any]) -> str:
    import jaxlib
    import numpyro

    shapes = [(tuple(s.shape), str(s.dtype), str(getattr(s, "sharding", None))) for s in
              jax.tree.leaves(specs)]  # fmt: skip
    parts = {
        "name": name,
        "key": key,
        "args": shapes,
        "tree": str(jax.tree.structure(specs)),
        "versions": [jax.__version__, jaxlib.__version__, numpyro.__version__],
        "backend": jax.default_backend(),
        "source": source_hash(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def exported(
    name: str, key: Any, fun: Callable, specs: Sequence[Any]
) -> tuple[jax.export.Exported, bool]:
    """``jax.export`` of ``fun`` (a ``jax.jit``-ed function) at ``specs``, from disk if stored.

    Args:
      name: a short label (the file name's prefix).
      key: JSON-able description of what ``fun`` computes beyond its argument shapes (model,
        settings); equal keys and specs must mean the same program.
      fun: the jitted function; traced and lowered only when no stored program matches.
      specs: ``jax.ShapeDtypeStruct`` s (with shardings where the program is sharded), a
        pytree of lists and tuples only.

    Returns ``(exported, loaded)``: ``loaded`` tells whether it came from the store. A file that
    cannot be read back (truncated, from another version) is replaced.
    """
    where = store_dir()
    path = None if where is None else where / f"{name}-{_digest(name, key, specs)[:40]}{SUFFIX}"
    if path is not None and path.is_file():
        try:
            return jax.export.deserialize(bytearray(path.read_bytes())), True
        except Exception:  # a damaged or foreign file: export again and overwrite it
            pass
    program = jax.export.export(fun)(*specs)
    if path is not None:
        try:
            _write_bytes(path, program.serialize())
        except (ImportError, OSError):  # no flatbuffers, or a read-only cache: memory only
            pass
    return program, False


def _write_bytes(path: Path, data: bytes | bytearray) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed into place (atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
