"""How the planner's compiled programs are built: each solver stage is a ``jax.jit`` kept in
the program store (:func:`mmmjax.programs.cached_jit`), counted in :data:`TRACE_COUNT`, and fed
float32 device arrays converted in NumPy (:func:`f32`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from mmmjax import programs
from mmmjax.programs import device_array

__all__ = ["TRACE_COUNT", "cached_stage", "f32"]

#: loaded from the program store instead (:func:`mmmjax.programs.cached_jit`); tests assert that
#: calls of the same shapes build nothing.
TRACE_COUNT = {"solve": 0}


def f32(a: Any) -> jax.Array:
    """``a`` as a float32 device array, converted in NumPy (no eager JAX op to compile)."""
    return device_array(a, np.float32)


def _count_load() -> None:
    TRACE_COUNT["solve"] += 1


def cached_stage(name: str, static_argnums: tuple[int, ...] = ()) -> Callable[[Callable], Callable]:
    """Decorator: a solver stage compiled once per machine, not once per process:
    ``jax.jit`` through the program store (:func:`mmmjax.programs.cached_jit`, keyed by the
    static arguments: the model specification's ``to_dict()``, horizon, tail, objective), so a
    planning script's first call in a new process loads the stage instead of tracing it."""
    return lambda fun: programs.cached_jit(f"optimize-{name}", fun, static_argnums,
                                           on_load=_count_load)  # fmt: skip
