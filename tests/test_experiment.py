"""Which lift test to run next (mmmjax.experiment): weighted intervals, candidates, the ranking on
hand-made draws, reweighting a measured test, and on simulated data with one poorly identified
channel, refits with the top test's simulated outcome against what it predicted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mmmjax
from mmmjax.experiment import (
    default_candidates,
    design_experiment,
    reweighted_roi,
    weighted_interval,
)
from mmmjax.inference.fit import fit_from_draws
from mmmjax.insights import roi_draws

S = 4000


def _fixed_fit(roi_sd=(0.8, 0.02)):
    """A fit whose draws vary only in ``media_roi`` (log-sd ``roi_sd`` per channel): the implied
    lift of any test is then proportional to its channel's ROI."""
    data, _ = mmmjax.simulate(n_periods=120, n_channels=2, seed=1, n_controls=1, seasonality=1)
    spec = mmmjax.MMM(seasonality=1)
    rng = np.random.default_rng(0)
    C = data.n_channels
    one = {
        "intercept": 1.0,
        "trend_slope": 0.0,
        "season": [0.05, -0.02],
        "control_coef": [0.03],
        "alpha": [0.6] * C,
        "half_saturation": [1.0] * C,
        "slope": [1.2] * C,
        "sigma": 0.05,
    }
    draws = {k: np.broadcast_to(np.asarray(v, np.float64), (S, *np.shape(v))).copy()
             for k, v in one.items()}  # fmt: skip
    draws["media_roi"] = np.exp(rng.normal(0.5, roi_sd, (S, C)))
    return data, fit_from_draws(spec, data, draws)


def test_weighted_interval_uniform_weights_is_the_empirical_quantile():
    x = np.random.default_rng(0).normal(size=1001)
    lo, hi = weighted_interval(x, np.ones_like(x))
    assert lo == np.sort(x)[int(np.ceil(0.03 * 1001)) - 1]
    assert hi == np.sort(x)[int(np.ceil(0.97 * 1001)) - 1]
    w = (x > 0).astype(float)  # all weight on the positive half
    lo, _ = weighted_interval(x, w)
    assert lo > 0


def test_default_candidates_cut_no_deeper_than_the_window_allows():
    data, fit = _fixed_fit()
    spend = np.asarray(data.spend, np.float64)
    d = default_candidates(fit, spend_changes=(0.5, -1.0), durations=(4, 8))
    for row in d.itertuples():
        c, n = fit.channels.index(row.channel), row.duration
        window, mean = spend[-n:, c], spend[:, c].mean()
        if row.spend_change > 0:
            assert row.spend_change == pytest.approx(0.5 * mean)
        else:  # the deepest constant cut: down to the window's lowest spend, never below 0
            assert row.spend_change == pytest.approx(max(-mean, -window.min()))
            assert (window + row.spend_change >= 0).all() and window.min() > 0
    # a cut for every channel and duration whose window has spend in every period, else none
    for c, ch in enumerate(fit.channels):
        for n in (4, 8):
            cuts = d[(d.channel == ch) & (d.duration == n) & (d.spend_change < 0)]
            assert len(cuts) == int(spend[-n:, c].min() > 0)


def test_design_experiment_ranks_the_uncertain_channel_first():
    """One channel's ROI draws are wide, the other's narrow; with every other parameter fixed
    the implied lift is proportional to the ROI, so a test of the wide channel narrows it a lot
    and one of the narrow channel hardly at all."""
    data, fit = _fixed_fit()
    d = design_experiment(fit, spend_changes=(1.0,), durations=(8,))
    assert d.iloc[0]["channel"] == data.channels[0]
    assert d.iloc[0]["narrowing"] > 0.3 and abs(d.iloc[1]["narrowing"]) < 0.1
    assert (d["narrowing_low"] <= d["narrowing"] + 1e-12).all()
    assert (d["narrowing"] <= d["narrowing_high"] + 0.05).all()
    assert (d["min_detectable_lift"] > 2.7 * d["lift_se"]).all()
    with pytest.raises(mmmjax.DataError, match="candidate 1, column 'channel'"):
        design_experiment(fit, [{"channel": "radio", "spend_change": 1.0, "duration": 4}])
    with pytest.raises(mmmjax.DataError, match="column 'spend_change'"):
        design_experiment(fit, [{"channel": "tv", "spend_change": -1e9, "duration": 4}])
    with pytest.raises(mmmjax.DataError, match="candidate 1, column 'geo'"):
        design_experiment(fit, [{"channel": "tv", "spend_change": 1.0, "duration": 4,
                                 "geo": "north"}])  # fmt: skip


def test_reweighted_roi_centres_on_the_measured_roi():
    """Lift proportional to ROI: a precise measurement of the lift a draw with ROI ``r*``
    implies leaves an interval around ``r*``, far narrower; a useless one (huge se) changes
    nothing."""
    _, fit = _fixed_fit()
    ch = fit.channels[0]
    probe = design_experiment(fit, [{"channel": ch, "spend_change": 1.0, "duration": 8}]).iloc[0]
    r = roi_draws(fit)[:, 0]
    target = float(np.quantile(r, 0.8))
    lift = probe.expected_lift * target / r.mean()  # lift / ROI is the same for every draw
    tests = [mmmjax.LiftTest(ch, probe.start, probe.end, 1.0, lift, se)
             for se in (0.01 * abs(lift), 1e6 * abs(lift))]  # fmt: skip
    out = reweighted_roi(fit, tests)
    tight, useless = out.iloc[0], out.iloc[1]
    assert tight.roi_low < target < tight.roi_high
    assert tight.roi_width < 0.1 * tight.roi_width_now and tight.ess < 0.2 * S
    assert useless.roi_width == pytest.approx(useless.roi_width_now, rel=1e-3)
    assert useless.ess == pytest.approx(S, rel=1e-6)


# ----------------------------------------------------------------------------------------------
# simulated data, refits
# ----------------------------------------------------------------------------------------------
def _poorly_identified():
    """TV flighted (well identified), search always on with little variation (its ROI is
    poorly identified: 94% interval about 0.95 to 4.3 with truth 2.0)."""
    return mmmjax.simulate(
        n_periods=156, n_channels=2, seed=5, noise=0.04, n_controls=0, seasonality=1,
        spend_levels=[20000, 15000], roi=[1.5, 2.0], spend_pattern=["flighted", "always_on"],
        correlation=0.0,
        saturation_params={"half_saturation": [40000.0, 60000.0], "slope": [1.0, 1.0]},
    )  # fmt: skip


@pytest.mark.slow
def test_the_top_test_narrows_the_interval_about_as_predicted():
    """design_experiment ranks a cut of search first; three refits with its outcome simulated
    from the truth (``Truth.lift`` plus the test's noise) narrow search's interval by about the
    predicted share, and each refit's width matches the reweighted prediction for its outcome.

    Why cuts: on these data the lift of *extra* search spend is nearly uncorrelated with its ROI
    across the draws (corr -0.17; it measures the curve's slope, which trades off against the
    uncertain saturation) and the true lift sits at the posterior's 97th percentile, so that
    test predicts 2% narrowing while a refit with the true outcome narrows 12-22%. The cut's
    lift tracks the ROI (corr -0.92) and the truth sits at the 41st percentile.

    Margins. Refit widths against the reweighted width for the same outcome (seed 1, outcome
    seeds 100-102): 2.31/2.44, 2.22/2.27, 1.81/1.75; two fits without a test gave widths 3.38
    and 3.14, so a 94% width from 2,000 draws has Monte Carlo sd about 5%. The mean of three
    ratios (two noisy widths each, about 7%) is within 3 sd = 0.12 of 1. The mean narrowing over
    the three outcomes has sd ``sqrt(sd_outcome^2 / 3 + 0.05^2 (1/3 + 1)(1 - p)^2)`` (outcome
    spread from ``narrowing_low``/``high``, the refits' and the fit's own width noise); it must
    lie within 3 of those of the predicted ``p``.
    """
    data, truth = _poorly_identified()
    spec = mmmjax.MMM(seasonality=1)
    kw = dict(chains=2, draws=1000, warmup=500, progress=False, warn=False)
    fit = spec.fit(data, seed=1, **kw)
    plan = design_experiment(fit, durations=(8, 16), n_outcomes=400)
    top = plan.iloc[0]
    assert top.channel == "search" and top.spend_change < 0, plan
    assert top.narrowing > 0.25
    assert plan[plan.channel == "tv"].narrowing.max() < 0.1
    grow = plan[(plan.channel == "search") & (plan.spend_change > 0)]
    assert grow.narrowing.max() < 0.5 * top.narrowing  # extra spend says less about the ROI
    c = fit.channels.index("search")
    true = truth.lift(data, "search", top.start, top.end, top.spend_change)
    widths, ratios = [], []
    for k in range(3):
        y = true + top.lift_se * np.random.default_rng(100 + k).standard_normal()
        test = mmmjax.LiftTest("search", top.start, top.end, top.spend_change, y, top.lift_se)
        refit = spec.fit(data, lift_tests=[test], seed=10 + k, **kw)
        lo, hi = np.quantile(roi_draws(refit)[:, c], [0.03, 0.97])
        widths.append(hi - lo)
        ratios.append((hi - lo) / reweighted_roi(fit, [test]).iloc[0].roi_width)
    assert abs(np.mean(ratios) - 1) < 0.12, ratios
    got = 1 - np.asarray(widths) / top.roi_width
    sd_outcome = (top.narrowing_high - top.narrowing_low) / 2.563  # 10%-90% of a normal
    sd = np.sqrt(sd_outcome**2 / 3 + 0.05**2 * (1 / 3 + 1) * (1 - top.narrowing) ** 2)
    assert abs(got.mean() - top.narrowing) < 3 * sd, (got, top.narrowing, sd)


@pytest.mark.slow
def test_design_experiment_on_a_geo_fit():
    """Candidates per geo and channel; each tests one geo and narrows the national ROI; the
    model's noise is that geo's; narrowings are shares of the interval."""
    panel, _ = mmmjax.simulate_geo(n_geos=3, n_periods=80, n_channels=2, n_controls=0, seed=4)
    fit = mmmjax.GeoMMM().fit(panel, chains=2, draws=200, warmup=200, seed=0, progress=False,
                              warn=False)  # fmt: skip
    plan = design_experiment(fit, durations=(8,), n_outcomes=100)
    assert set(plan.geo) == set(panel.geos) and set(plan.channel) == set(panel.channels)
    assert plan.narrowing.between(-0.2, 1).all() and (plan.lift_se > 0).all()
    sigma = fit.draws()["sigma"].mean(axis=0)
    g = plan.geo.map(panel.geos.index).to_numpy()
    np.testing.assert_allclose(plan.lift_se, sigma[g] * panel.scales.target[g] * np.sqrt(8),
                               rtol=1e-5)  # fmt: skip
    with pytest.raises(mmmjax.DataError, match="candidate 1, column 'geo'"):
        design_experiment(fit, [{"channel": panel.channels[0], "spend_change": 1.0,
                                 "duration": 4, "geo": "atlantis"}])  # fmt: skip
    pd.testing.assert_index_equal(plan.index, pd.RangeIndex(1, len(plan) + 1, name="rank"))
