"""mmmjax.kinds.is_panel: the one test of "a fit with several geos"."""

from __future__ import annotations

from types import SimpleNamespace

import mmmjax
from mmmjax.kinds import is_panel


def test_a_fit_of_a_panel_is_a_panel_and_a_national_one_is_not():
    panel, _ = mmmjax.simulate_geo(n_geos=2, n_periods=30, n_channels=1, seed=0)
    data, _ = mmmjax.simulate(n_periods=30, n_channels=1, seed=0)
    assert is_panel(SimpleNamespace(dataset=panel))  # the data decide, not the class
    assert not is_panel(SimpleNamespace(dataset=data))
