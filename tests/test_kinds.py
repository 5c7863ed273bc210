"""mmmjax.kinds.is_panel: the one test of "a fit with several geos"."""

from __future__ import annotations

from mmmjax.geo.fit import GeoFit
from mmmjax.kinds import is_panel


def test_a_geo_fit_is_a_panel_and_anything_else_is_not():
    assert is_panel(GeoFit.__new__(GeoFit))  # no fit needed: the class decides today
    assert not is_panel(object()) and not is_panel(None)
