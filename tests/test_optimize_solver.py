"""The solver's compiled stages (mmmjax.optimize.solver): the tabulated curves over a long
tail stay finite."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from test_optimize_budget import TAIL, _channel_curves, fast_decay

from mmmjax.optimize.problem import prepare
from mmmjax.optimize.solver import table


@pytest.fixture(scope="module")
def fast_decay_fit():
    return fast_decay()


def test_horizon_curvature_is_finite(fast_decay_fit):
    """The tabulated second derivative over a long tail was NaN (0 * inf in float32 forward
    mode at adstocked levels near 1e-30), which sent the solver to an equal split."""
    prob = prepare(fast_decay_fit, "mean", 1.0, 0.1, 8, TAIL)
    B = fast_decay_fit.scales.spend.sum()
    f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    tab = table(prob.spec, 8, TAIL, prob.params, prob.hz, f32(np.zeros(3)),
                     f32(np.full((1, 3), B)), f32([B]))  # fmt: skip
    for a in (tab.f, tab.df, tab.d2f):
        assert np.all(np.isfinite(np.asarray(a)))
    # the level floor changes the horizon response by float32 rounding only
    levels = np.linspace(0.0, 2.0, 9) * B / 3
    r = _channel_curves(fast_decay_fit, levels, 8, TAIL)
    ours = np.moveaxis(prob.responses(np.repeat(levels[:, None], 3, 1))[0], 1, 1)
    np.testing.assert_allclose(ours, r, rtol=1e-4, atol=1e-6 * np.abs(r).max())
