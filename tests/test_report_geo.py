"""The per-geo sections of :mod:`mmmjax.report.geo` that need no fit. The geo page itself is
checked where its fits are made: tests/test_geo_review.py (summary, health, data review),
tests/test_geo.py (calibration), tests/test_geo_optimize.py (what to test next) and
tests/test_geo_refresh.py (what moved)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmmjax.report.geo import geo_highlights


def test_geo_highlights_name_the_widest_intervals_the_extremes_and_the_weakest_geo():
    channels, geos = ["tv", "radio"], ["north", "south", "east"]
    index = pd.MultiIndex.from_product([geos, channels], names=["geo", "channel"])
    mean = np.array([2.0, 1.0, 3.0, np.nan, 1.5, 0.5])  # south has no radio spend
    half = np.array([0.1, 0.2, 0.3, np.nan, 2.0, 0.05])  # east / tv widest, then south / tv
    frame = pd.DataFrame({"roi_mean": mean, "roi_low": mean - half, "roi_high": mean + half},
                         index=index)  # fmt: skip

    class Fit:  # the highlights only read the channel names
        pass

    fit = Fit()
    fit.channels = channels
    rows = [("north", 0.9, 5.0, 95.0), ("south", 0.62, 9.0, 80.0), ("east", 0.8, 6.0, 90.0)]
    widest, extremes, weakest = geo_highlights(fit, frame, rows)
    assert widest.index("east / tv") < widest.index("south / tv") < widest.index("north / radio")
    assert "south / radio" not in widest
    assert "tv highest in south (3.00), lowest in east (1.50)" in extremes
    assert "radio highest in north (1.00), lowest in east (0.50)" in extremes
    assert "south (in-sample R² 0.62, 80% of periods" in weakest
