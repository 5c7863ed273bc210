"""The Plan (mmmjax.optimize.plan): frame, JSON, records, intervals, and its plots
(mmmjax.plots.plot_plan, plot_frontier)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_optimize_budget import CHANNELS, _fit

import mmmjax
from mmmjax.optimize.plan import plan_to_records
from mmmjax.plots import plot_frontier


@pytest.fixture(scope="module")
def hill_fit():
    return _fit("hill", S=200)


def test_plan_outputs(hill_fit):
    plan = mmmjax.optimize_budget(hill_fit, 1.2 * hill_fit.scales.spend.sum())
    frame = plan.to_frame()
    assert list(frame.index) == CHANNELS
    assert {"current", "optimal", "change", "marginal_roi", "lower", "upper"} <= set(frame)
    d = json.loads(json.dumps(plan.to_dict()))
    assert d["allocation"] == pytest.approx(plan.allocation.to_dict())
    assert len(plan_to_records(plan)) == 4
    lo, hi = plan.response_interval
    assert lo < plan.expected_response < hi
    ulo, uhi = plan.uplift_interval
    assert ulo <= plan.uplift <= uhi and plan.uplift > 0
    from matplotlib.figure import Figure

    assert isinstance(plan.plot(), Figure)
    frontier = mmmjax.budget_frontier(
        hill_fit, np.linspace(0.5, 2, 4) * hill_fit.scales.spend.sum()
    )
    assert isinstance(plot_frontier(frontier), Figure)
