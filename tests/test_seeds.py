"""Tests for mmmjax.seeds: named random streams of one seed."""

from __future__ import annotations

import doctest
import itertools

import jax
import numpy as np
import pytest

from mmmjax import seeds


def _draws(seed, name, n=2000):
    return seeds.numpy_rng(seed, name).standard_normal(n)


def test_every_stream_is_documented_and_the_table_is_sound():
    doc = seeds.__doc__
    for name, k in seeds.STREAMS.items():
        assert f'``"{name}"``' in doc, name
        assert k is None or (isinstance(k, int) and k > 0), name  # [seed, 0] is the root
    ids = [k for k in seeds.STREAMS.values() if k is not None]
    assert len(ids) == len(set(ids))
    result = doctest.testmod(seeds)
    assert result.attempted > 0 and result.failed == 0


NUMPY = sorted(n for n in seeds.STREAMS if seeds.ROOT_KIND.get(n, "numpy") == "numpy")
JAX = sorted(n for n in seeds.STREAMS if seeds.ROOT_KIND.get(n, "jax") == "jax")


def test_streams_are_reproducible():
    for name in NUMPY:
        np.testing.assert_array_equal(_draws(3, name, 5), _draws(3, name, 5))
    for name in JAX:
        a, b = seeds.jax_key(3, name), seeds.jax_key(3, name)
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_roots_are_the_plain_seed():
    np.testing.assert_array_equal(_draws(5, "simulation", 4),
                                  np.random.default_rng(5).standard_normal(4))  # fmt: skip
    np.testing.assert_array_equal(np.asarray(seeds.jax_key(5, "nuts")),
                                  np.asarray(jax.random.PRNGKey(5)))  # fmt: skip
    np.testing.assert_array_equal(_draws(5, "initial_values", 4),
                                  np.random.default_rng([5, 7]).standard_normal(4))  # fmt: skip


def test_streams_differ_by_name_and_seed_and_are_independent():
    """Distinct (seed, name) pairs give distinct draws, uncorrelated: |r| below 4.5 standard
    errors of a correlation of 2000 independent pairs (sd 1 / sqrt(2000)); also across
    neighbouring seeds, the failure of the old ``seed + 1`` offsets."""
    n = 2000
    pairs = [(s, name) for s in (0, 1, 2) for name in NUMPY]
    draws = {p: _draws(*p, n) for p in pairs}
    for a, b in itertools.combinations(pairs, 2):
        assert not np.array_equal(draws[a][:8], draws[b][:8]), (a, b)
        r = np.corrcoef(draws[a], draws[b])[0, 1]
        assert abs(r) < 4.5 / np.sqrt(n), (a, b, r)
    jax_pairs = [(s, name) for s in (0, 1, 2) for name in JAX]
    keys = {tuple(np.asarray(seeds.jax_key(s, name)).tolist()) for s, name in jax_pairs}
    assert len(keys) == len(jax_pairs)


def test_unknown_stream_and_bad_seed_raise():
    with pytest.raises(ValueError, match="unknown random stream 'nope'"):
        seeds.numpy_rng(0, "nope")
    with pytest.raises(ValueError, match="numpy root"):
        seeds.jax_key(0, "simulation")
    with pytest.raises(ValueError, match="jax root"):
        seeds.numpy_rng(0, "nuts")
    with pytest.raises(ValueError, match="integer"):
        seeds.jax_key(1.5, "nuts")
