"""NUTS, wrapped in two small layers: choose how chains run, then run and collect draws.

Chains run in parallel over host devices on CPU (``mmmjax`` exposes every core as a JAX device at
import), are vectorised on a single accelerator, and fall back to vectorised on CPU when there
are fewer devices than chains. The result is plain NumPy arrays grouped by chain, ready for
ArviZ.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np
from numpyro.infer import MCMC, NUTS, init_to_median

__all__ = ["CHAIN_METHODS", "SamplerResult", "choose_chain_method", "run_nuts"]

CHAIN_METHODS = ("auto", "parallel", "vectorized", "sequential")

# numpyro extra field -> arviz sample_stats name
_STATS = {
    "diverging": "diverging",
    "num_steps": "n_steps",
    "accept_prob": "acceptance_rate",
    "potential_energy": "lp",
    "energy": "energy",
    "adapt_state.step_size": "step_size",
}


class SamplerResult(NamedTuple):
    """Draws grouped by chain: ``posterior[name]`` is ``(chains, draws, ...)``."""

    posterior: dict[str, np.ndarray]
    sample_stats: dict[str, np.ndarray]
    chain_method: str
    seconds_warmup_and_sampling: float


def choose_chain_method(chains: int, requested: str = "auto") -> str:
    """Resolve ``"auto"``: parallel over CPU cores when there are enough, else vectorised."""
    if requested not in CHAIN_METHODS:
        raise ValueError(
            f"chain_method must be one of {', '.join(CHAIN_METHODS)}, got {requested!r}"
        )
    if chains == 1:
        return "sequential"
    if requested == "parallel" and jax.local_device_count() < chains:
        raise ValueError(
            f"chain_method='parallel' needs {chains} devices but JAX sees "
            f"{jax.local_device_count()}; set MMMJAX_HOST_DEVICES={chains} before importing "
            "mmmjax, or use chain_method='vectorized'"
        )
    if requested != "auto":
        return requested
    if jax.default_backend() == "cpu" and jax.local_device_count() >= chains:
        return "parallel"
    return "vectorized"


def run_nuts(
    model: Callable[..., Any],
    *model_args: Any,
    chains: int,
    draws: int,
    warmup: int,
    seed: int,
    target_accept: float = 0.85,
    max_tree_depth: int = 10,
    chain_method: str = "auto",
    progress: bool = True,
    init_params: dict[str, Any] | None = None,
) -> SamplerResult:
    """Run NUTS on ``model(*model_args)`` and return draws grouped by chain.

    Args:
      model: a NumPyro model function.
      *model_args: its arguments (arrays).
      chains, draws, warmup: number of chains, kept draws per chain, warm-up (adaptation) steps.
      seed: PRNG seed; the same seed gives the same draws.
      target_accept: NUTS target acceptance probability (raise towards 0.95 on divergences).
      max_tree_depth: the largest trajectory is ``2**max_tree_depth`` leapfrog steps.
      chain_method: "auto", "parallel", "vectorized" or "sequential".
      progress: show a progress bar.
      init_params: optional initial values (unconstrained), e.g. from a MAP fit.
    """
    import time

    method = choose_chain_method(chains, chain_method)
    kernel = NUTS(
        model,
        target_accept_prob=target_accept,
        max_tree_depth=max_tree_depth,
        init_strategy=init_to_median(num_samples=15),
    )
    mcmc = MCMC(
        kernel,
        num_warmup=warmup,
        num_samples=draws,
        num_chains=chains,
        chain_method=method,
        progress_bar=progress,
    )
    start = time.perf_counter()
    mcmc.run(
        jax.random.PRNGKey(seed),
        *model_args,
        extra_fields=tuple(_STATS),
        init_params=init_params,
    )
    posterior = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
    seconds = time.perf_counter() - start
    extra = mcmc.get_extra_fields(group_by_chain=True)
    stats = {_STATS[k]: np.asarray(v) for k, v in extra.items()}
    stats["lp"] = -stats["lp"]
    stats["tree_depth"] = np.floor(np.log2(np.maximum(stats["n_steps"], 1))).astype(np.int64) + 1
    if stats["step_size"].ndim < 2:
        stats["step_size"] = np.broadcast_to(stats["step_size"], stats["lp"].shape).copy()
    return SamplerResult(posterior, stats, method, seconds)
