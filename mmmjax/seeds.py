"""Named random streams: one user ``seed`` becomes independent streams, one per purpose.

Every random draw in mmmjax comes from a stream named here, so two purposes never share (or
overlap) a stream by accident, and a new purpose cannot shift the draws of another: each name
maps to a fixed integer in :data:`STREAMS` and its NumPy generator is
``np.random.default_rng([seed, STREAMS[name]])`` (NumPy's ``SeedSequence`` hashes the pair, so
streams of different names, or of different seeds, are independent), its JAX key
``jax.random.fold_in(jax.random.PRNGKey(seed), STREAMS[name])``.

Two streams are the *root* of their kind (``STREAMS[name] is None``): ``default_rng(seed)`` and
``PRNGKey(seed)`` themselves, kept so that existing draws do not move:

* ``"simulation"`` (NumPy, root): :func:`mmmjax.simulate`'s national data set (the shipped
  demo data were drawn from it);
* ``"nuts"`` (JAX, root): the NUTS chains' keys (split per chain), as every fit so far.

The other streams:

* ``"confounder"`` (8317): ``simulate(confound=...)``, the unobserved demand driver;
* ``"geo_simulation"`` (4071): ``simulate(n_geos=...)``, a geo panel;
* ``"initial_values"`` (7): the sampler's prior-median start values (``mmmjax.inference.sampling``);
* ``"map_jitter"`` (11): the jitter of MAP start values (``sampling.map_initial_values``,
  ``mmmjax.bench``);
* ``"map"`` (13, JAX): reserved (it keyed the MAP fit while that was NumPyro's SVI);
* ``"prior_draws"`` (17): prior draws of a fit (``mmmjax.inference.fit``,
``mmmjax.inference.geo_fit``);
* ``"observation_noise"`` (19): observation noise of predictive draws (``fit.predict``, the
  posterior predictive of a fit);
* ``"prior_predictive"`` (23): observation noise of the prior predictive draws;
* ``"prior_reference"`` (29): reference prior draws when a refresh moment-matches a posterior
  (``mmmjax.inference.refresh.matched_prior``);
* ``"prior_roi"`` (31): prior draws of the ROI (``mmmjax.review``'s prior spread,
  ``mmmjax.geo.insights.prior_roi_draws``);
* ``"prior_agreement"`` (37): ``mmmjax.review``'s prior-against-posterior check;
* ``"experiment_outcomes"`` (41): simulated outcomes of candidate lift tests
  (``mmmjax.design_experiment``).

Example:
    >>> from mmmjax import seeds
    >>> a = seeds.numpy_rng(3, "observation_noise").normal(size=2)
    >>> b = seeds.numpy_rng(3, "observation_noise").normal(size=2)
    >>> bool((a == b).all()), seeds.jax_key(3, "nuts").shape
    (True, (2,))
"""

from __future__ import annotations

import jax
import numpy as np

__all__ = ["ROOT_KIND", "STREAMS", "jax_key", "numpy_rng", "stream_id"]

#: Stream name -> fixed integer mixed with the seed (``None``: the root stream, the seed alone).
#: Never change a value: it would change every draw of that stream for every seed. Values are
#: distinct and non-zero (``default_rng([seed, 0])`` is ``default_rng(seed)``, the root).
STREAMS: dict[str, int | None] = {
    "simulation": None,
    "nuts": None,
    "confounder": 8_317,
    "geo_simulation": 4_071,
    "initial_values": 7,
    "map_jitter": 11,
    "map": 13,
    "prior_draws": 17,
    "observation_noise": 19,
    "prior_predictive": 23,
    "prior_reference": 29,
    "prior_roi": 31,
    "prior_agreement": 37,
    "experiment_outcomes": 41,
}


#: The kind of each root stream: a root serves one kind only (both are the plain seed).
ROOT_KIND = {"simulation": "numpy", "nuts": "jax"}


def stream_id(name: str) -> int | None:
    """The integer of stream ``name`` (``None`` for a root stream); ``ValueError`` if unknown."""
    try:
        return STREAMS[name]
    except KeyError:
        raise ValueError(
            f"unknown random stream {name!r}; known: {', '.join(sorted(STREAMS))}"
        ) from None


def _checked(name: str, kind: str) -> int | None:
    k = stream_id(name)
    if k is None and ROOT_KIND[name] != kind:
        raise ValueError(f"stream {name!r} is the {ROOT_KIND[name]} root; it has no {kind} form")
    return k


def _seed(seed: int) -> int:
    s = int(seed)
    if s != seed:
        raise ValueError(f"seed must be an integer, got {seed!r}")
    return s


def numpy_rng(seed: int, name: str) -> np.random.Generator:
    """A NumPy generator for stream ``name`` of ``seed``: ``default_rng([seed, STREAMS[name]])``
    (``default_rng(seed)`` for a root stream). The same ``(seed, name)`` gives the same draws."""
    k = _checked(name, "numpy")
    s = _seed(seed)
    return np.random.default_rng(s if k is None else [s, k])


def jax_key(seed: int, name: str) -> jax.Array:
    """A JAX PRNG key for stream ``name`` of ``seed``: ``fold_in(PRNGKey(seed), STREAMS[name])``
    (``PRNGKey(seed)`` for a root stream)."""
    k = _checked(name, "jax")
    key = jax.random.PRNGKey(_seed(seed))
    return key if k is None else jax.random.fold_in(key, k)
