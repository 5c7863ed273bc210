"""The exact projection onto the capped simplex (mmmjax.optimize.projection)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mmmjax.optimize.projection import project_capped_simplex


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_projection_is_feasible_and_optimal(data):
    C = data.draw(st.integers(1, 6))
    floats = st.floats(0.0, 10.0, allow_nan=False)
    lo = np.array(data.draw(st.lists(floats, min_size=C, max_size=C)))
    hi = lo + np.array(data.draw(st.lists(floats, min_size=C, max_size=C)))
    total = lo.sum() + data.draw(st.floats(0.0, 1.0)) * (hi.sum() - lo.sum())
    y = np.array(data.draw(st.lists(st.floats(-20, 20), min_size=C, max_size=C)))
    d = np.array(data.draw(st.lists(st.floats(0.1, 10.0), min_size=C, max_size=C)))
    f = jnp.float32
    z = np.asarray(project_capped_simplex(f(y), f(lo), f(hi), f(total), f(d)), float)
    scale = max(1.0, hi.sum())
    assert abs(z.sum() - total) <= 1e-5 * scale
    assert np.all(z >= lo - 1e-5 * scale) and np.all(z <= hi + 1e-5 * scale)
    # KKT: z = clip(y - tau d) with one tau for the channels strictly inside their bounds
    inside = (z > lo + 1e-3) & (z < hi - 1e-3)
    if inside.sum() >= 2:
        tau = (y - z)[inside] / d[inside]
        np.testing.assert_allclose(tau, tau[0], atol=1e-3 * (1 + abs(tau[0])))
