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

:func:`cached_jit` is ``jax.jit`` through this store: a drop-in for a jitted function with static
arguments (the budget optimizer's stages use it), whose programs a new process loads instead of
tracing. :data:`STATS` counts, per program name, the programs this process exported (traced) and
loaded.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

__all__ = [
    "CROWDED_SHARE", "MAX_PROGRAMS", "STATS", "also_release", "cached_jit", "clear_compiled",
    "device_array", "exported", "mapping_count", "release_if_crowded", "serializable",
    "source_hash", "store_dir",
]  # fmt: skip

SUFFIX = ".jaxexport"

#: ``{name: Counter(exported=n, loaded=n)}``: programs this process traced and exported, and
#: programs it loaded from the store, by :func:`exported`'s ``name``.
STATS: dict[str, Counter] = {}


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
    stats = STATS.setdefault(name, Counter())
    if path is not None and path.is_file():
        try:
            program = jax.export.deserialize(bytearray(path.read_bytes()))
        except Exception:  # a damaged or foreign file: export again and overwrite it
            pass
        else:
            stats["loaded"] += 1
            return program, True
    program = jax.export.export(fun)(*specs)
    stats["exported"] += 1
    if path is not None:
        try:
            _write_bytes(path, program.serialize())
        except (ImportError, OSError, ValueError):
            # no flatbuffers, a read-only cache, or an output pytree node registered for no
            # serialisation (see :func:`serializable`): the program lives in memory only
            pass
    return program, False


def serializable(cls: type) -> type:
    """Class decorator: let ``jax.export`` store programs whose outputs hold the NamedTuple
    ``cls`` (registered as ``"<module>.<qualname>"``; a second registration is a no-op)."""
    try:
        jax.export.register_namedtuple_serialization(
            cls, serialized_name=f"{cls.__module__}.{cls.__qualname__}"
        )
    except ValueError:  # registered already (the module was imported again)
        pass
    return cls


def _static_key(value: Any) -> Any:
    """A JSON-able stand-in for a static argument: a model specification by its ``to_dict()``
    (with its class), plain scalars and strings as they are, tuples and lists item by item.
    Raises ``TypeError`` for anything else (the caller then runs plain ``jax.jit``)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list)):
        return [_static_key(v) for v in value]
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return {"class": f"{type(value).__module__}.{type(value).__qualname__}", **to_dict()}
    raise TypeError(f"no key for a static argument of type {type(value).__name__}")


def _aval(leaf: Any) -> tuple | None:
    """``(shape, dtype, weak_type)`` of a concrete array leaf; ``None`` for anything else (a
    tracer inside another transformation, a Python scalar, an object)."""
    if isinstance(leaf, jax.Array) and not isinstance(leaf, jax.core.Tracer):
        return leaf.shape, leaf.dtype, bool(getattr(leaf, "weak_type", False))
    if isinstance(leaf, (np.ndarray, np.generic)):
        return leaf.shape, leaf.dtype, False
    return None


def cached_jit(
    name: str,
    fun: Callable,
    static_argnums: int | Sequence[int] = (),
    *,
    on_load: Callable[[], None] | None = None,
) -> Callable:
    """``jax.jit(fun, static_argnums=...)`` whose programs are kept on disk (:func:`exported`).

    The returned function takes ``fun``'s positional arguments. Per static arguments (hashed as
    ``jax.jit`` hashes them), argument pytree structure and leaf shapes and dtypes, the first
    call in a process either loads the traced-and-lowered program from the store (no tracing)
    or traces and exports it (storing it for later processes), then compiles it, which hits
    JAX's persistent compilation cache when one is set up; later calls with the same key run
    the compiled program directly. The arguments are flattened to their array leaves, so any
    pytree of arrays goes in; outputs may be arrays, tuples, lists, dicts and NamedTuples
    registered with :func:`serializable` (others: the program is exported but not stored). The
    store key holds the static arguments as :func:`_static_key` writes them (a model
    specification by its ``to_dict()``), the argument structure and ``fun``'s qualified name.

    Plain ``jax.jit`` runs instead, with the same results, where nothing can be stored: no
    compilation cache directory (``MMMJAX_CACHE_DIR=0``), a static argument with no key, a leaf
    that is not a concrete array (a tracer: called inside another ``jit``/``vmap``/``grad``; a
    Python scalar), or a program ``jax.export`` cannot export. ``on_load()`` is called each
    time a program is loaded from the store instead of traced (tracing counters stay honest).
    ``.jitted`` is the plain ``jax.jit`` function.

    Example:
      >>> step = cached_jit("opt-step", lambda spec, x: x * spec.l_max, static_argnums=0)
      >>> step(mmmjax.MMM(), np.ones(3, np.float32))
    """
    static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
    jitted = jax.jit(fun, static_argnums=static)
    programs: dict[tuple, Callable | None] = {}  # None: run plain jit for this key
    _COMPILED_TABLES.append(programs)

    def build(statics: tuple, tree: Any, avals: tuple) -> Callable | None:
        if store_dir() is None:
            return None
        try:
            key = {"fun": f"{fun.__module__}.{fun.__qualname__}", "tree": str(tree),
                   "static": [_static_key(v) for v in statics]}  # fmt: skip
        except TypeError:
            return None

        def flat(*leaves):  # fun of the array leaves, the static arguments closed over
            dynamic = list(jax.tree.unflatten(tree, leaves))  # the non-static arguments
            given = dict(zip(static, statics, strict=True))
            n, rest = len(given) + len(dynamic), iter(dynamic)
            return fun(*(given[i] if i in given else next(rest) for i in range(n)))

        flat.__name__ = flat.__qualname__ = getattr(fun, "__name__", name)  # in JAX's logs
        specs = tuple(jax.ShapeDtypeStruct(s, d, weak_type=w) for s, d, w in avals)
        try:
            program, loaded = exported(name, key, jax.jit(flat), specs)
        except Exception:  # not exportable (an effect, a custom call): plain jit
            return None
        if loaded and on_load is not None:
            on_load()

        def run(*leaves):
            return program.call(*leaves)

        run.__name__ = run.__qualname__ = name.replace("-", "_")  # JAX's logs name it
        return jax.jit(run).lower(*specs).compile()

    @functools.wraps(fun)
    def call(*args):
        statics = tuple(args[i] for i in static)
        dynamic = [a for i, a in enumerate(args) if i not in static]
        leaves, tree = jax.tree.flatten(dynamic)
        avals = tuple(_aval(a) for a in leaves)
        if any(a is None for a in avals):
            return jitted(*args)
        key = (statics, tree, avals)
        if key not in programs:
            release_if_crowded()
            if len(programs) >= MAX_PROGRAMS:  # oldest first: each holds an executable
                programs.pop(next(iter(programs)))
            programs[key] = build(statics, tree, avals)
        compiled = programs[key]
        return jitted(*args) if compiled is None else compiled(*leaves)

    call.jitted = jitted
    return call


#: Compiled programs one :func:`cached_jit` function keeps (per static arguments and shapes);
#: the oldest goes first. Each XLA CPU executable holds a few memory mappings of the process.
MAX_PROGRAMS = 64
_COMPILED_TABLES: list[dict] = []  # every cached_jit function's compiled programs


def clear_compiled() -> None:
    """Drop the compiled programs every :func:`cached_jit` function holds (as
    ``jax.clear_caches()`` does for ``jax.jit``); later calls load or compile them again."""
    for table in _COMPILED_TABLES:
        table.clear()


#: Share of the kernel's per-process limit on memory mappings (``vm.max_map_count``) past
#: which :func:`release_if_crowded` drops the compiled programs kept in memory.
CROWDED_SHARE = 0.6
_RELEASERS: list[Callable[[], None]] = []  # other in-process program caches (sampling's)


def also_release(clear: Callable[[], None]) -> None:
    """Have :func:`release_if_crowded` also call ``clear()`` (another in-process cache of
    compiled programs, such as the sampler's)."""
    _RELEASERS.append(clear)


def mapping_count() -> tuple[int, int] | None:
    """``(mappings this process holds, the kernel's limit)`` on Linux; ``None`` elsewhere."""
    try:
        with open("/proc/self/maps", "rb") as f:
            held = sum(1 for _ in f)
        with open("/proc/sys/vm/max_map_count") as f:
            return held, int(f.read())
    except (OSError, ValueError):
        return None


def release_if_crowded(share: float | None = None) -> bool:
    """Drop every compiled program kept in memory when the process nears its mapping limit.

    Each XLA CPU executable JAX keeps holds three or more memory mappings, and Linux refuses a
    process more than ``vm.max_map_count`` (65,530 by default): a long session that compiles
    many distinct models (about 2,000 mappings per new model configuration with its insights
    and plan) would otherwise crash in XLA's JIT (a segmentation fault) once it gets there.
    Past ``share`` (default :data:`CROWDED_SHARE`) of the limit this calls
    ``jax.clear_caches()``, :func:`clear_compiled` and the other registered caches; programs
    used again are then loaded from the persistent caches. Called before compiling a new sampler
    or optimizer program. Returns whether it released anything.
    """
    counted = mapping_count()
    if counted is None or counted[0] < (CROWDED_SHARE if share is None else share) * counted[1]:
        return False
    jax.clear_caches()
    clear_compiled()
    for release in _RELEASERS:
        release()
    return True


def device_array(a: Any, dtype: Any = None) -> jax.Array:
    """``jnp.asarray(a, dtype)`` with no JAX operation to compile: the conversion is done in NumPy
    (to the dtype JAX itself would pick, float64 -> float32 unless x64 is on) and the result
    copied to the device. ``jnp.asarray`` of a float64 array or a Python number converts on the
    device instead, a program traced, lowered and compiled (or loaded) once per shape and dtype
    in each process: 5-10 ms apiece on a first call. A JAX array of that dtype is returned as it
    is.

    Example:
      >>> device_array(np.ones(3), np.float32).dtype
      dtype('float32')
    """
    if isinstance(a, jax.Array) and (dtype is None or a.dtype == np.dtype(dtype)):
        return a
    host = np.asarray(a, dtype=dtype)
    return jax.device_put(host.astype(jax.dtypes.canonicalize_dtype(host.dtype), copy=False))


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
