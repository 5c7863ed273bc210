"""mmmjax: fast, honest Bayesian marketing-mix modelling on JAX and NumPyro.

Public names are imported lazily so that ``import mmmjax`` (and the CLI's start-up) stays
cheap, and so that the host-device count below is set before JAX initialises its backend.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

__version__ = "0.1.0"


def _configure_host_devices() -> None:
    """Expose every CPU core as a JAX host device so MCMC chains can run in parallel.

    This only edits ``XLA_FLAGS`` and only if the user has not set a device count already; it
    has no effect once JAX's backend is initialised. Set ``MMMJAX_HOST_DEVICES=0`` to opt out.
    """
    wanted = os.environ.get("MMMJAX_HOST_DEVICES")
    if wanted == "0":
        return
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" in flags:
        return
    # At least 4 so the default 4 chains run in parallel even on a 2-core laptop: measured on
    # 2 cores (benchmarks/results/sampler_cpu.json), 4 parallel chains sample as fast as 4
    # vectorised ones but compile 2-4x faster.
    count = int(wanted) if wanted else max(os.cpu_count() or 1, 4)
    os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()


def _configure_compilation_cache() -> None:
    """Keep compiled samplers on disk so a new process need not compile the same model again.

    Uses JAX's persistent compilation cache in ``~/.cache/mmmjax/jax`` (or
    ``$MMMJAX_CACHE_DIR``) unless ``JAX_COMPILATION_CACHE_DIR`` is already set; set
    ``MMMJAX_CACHE_DIR=0`` to opt out. Measured: a first fit in a fresh process went from 23 s
    to 10-13 s once the cache was warm. Works whether or not ``jax`` was imported first, as long
    as nothing has been compiled yet.
    """
    where = os.environ.get("MMMJAX_CACHE_DIR")
    if where == "0" or "JAX_COMPILATION_CACHE_DIR" in os.environ:
        return
    path = where or os.path.join(os.path.expanduser("~"), ".cache", "mmmjax", "jax")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:  # a read-only home: run without the cache
        return
    os.environ["JAX_COMPILATION_CACHE_DIR"] = path
    # cache the many small programs of a fit too (each takes 20-50 ms to compile; JAX only
    # caches programs that took over 1 s by default): about 1 s off a first fit
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    jax = sys.modules.get("jax")
    if jax is not None and jax.config.jax_compilation_cache_dir is None:
        # `import jax` came first and read the environment before we set it (a notebook's
        # usual order): without this, every first fit there compiled from scratch (~3 s more)
        min_secs = float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"])
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", min_secs)


_configure_host_devices()
_configure_compilation_cache()

_LAZY: dict[str, str] = {
    "DataError": "mmmjax.errors",
    "transforms": "mmmjax.transforms",
    "datasets": "mmmjax.datasets",
    "Dataset": "mmmjax.data",
    "Scales": "mmmjax.data",
    "holiday_events": "mmmjax.data.events",
    "simulate": "mmmjax.simulation",
    "Truth": "mmmjax.simulation",
    "MMM": "mmmjax.model",
    "Prior": "mmmjax.model.priors",
    "roi_prior": "mmmjax.model.calibration",
    "read_roi_priors": "mmmjax.model.calibration",
    "LiftTest": "mmmjax.model.calibration",
    "read_lift_tests": "mmmjax.model.calibration",
    "calibration": "mmmjax.model.calibration",
    "Fit": "mmmjax.inference.fit",
    "load_fit": "mmmjax.engine",
    "response_curves": "mmmjax.insights",
    "adstock_weights": "mmmjax.insights",
    "roi": "mmmjax.insights",
    "contributions": "mmmjax.insights",
    "contribution_shares": "mmmjax.insights",
    "marginal_roi": "mmmjax.insights",
    "write_report": "mmmjax.report",
    "insights": "mmmjax.insights",
    "plots": "mmmjax.plots",
    "validation": "mmmjax.inference.validation",
    "optimize_budget": "mmmjax.optimize.budget",
    "budget_frontier": "mmmjax.optimize.budget",
    "Plan": "mmmjax.optimize.plan",
    "evaluate_budget": "mmmjax.optimize.whatif",
    "schedule": "mmmjax.optimize.schedule",
    "write_planner": "mmmjax.planner",
    "fit_many": "mmmjax.many",
    "Job": "mmmjax.many",
    "ManyFits": "mmmjax.many",
    "geo": "mmmjax.geo",
    "GeoDataset": "mmmjax.geo",
    "GeoMMM": "mmmjax.geo",
    "GeoFit": "mmmjax.geo",
    "GeoTruth": "mmmjax.geo",
    "simulate_geo": "mmmjax.geo",
    "load_geo_fit": "mmmjax.geo",
    "review_data": "mmmjax.review",
    "review_fit": "mmmjax.review",
    "DataReview": "mmmjax.review",
    "FitReview": "mmmjax.review",
    "design_experiment": "mmmjax.experiment",
    "reweighted_roi": "mmmjax.experiment",
    "roi_changes": "mmmjax.inference.refresh",
}

__all__ = sorted(_LAZY)


#: The stage packages, importable as attributes (``mmmjax.inference.fit``) once ``mmmjax`` is.
_STAGES = ("data", "model", "inference", "optimize", "report")


def __getattr__(name: str) -> Any:
    if name in _STAGES:
        return importlib.import_module(f"mmmjax.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mmmjax' has no attribute {name!r}")
    mod = importlib.import_module(module)
    value = mod if module.endswith("." + name) else getattr(mod, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
