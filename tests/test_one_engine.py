"""One engine: national data are the one-geo case of a panel; ``MMM.fit`` takes either."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import mmmjax
from mmmjax.model.geo import GeoMMM

FAST = dict(chains=2, draws=100, warmup=100, progress=False, warn=False)
#: One panel shape and specification for most tests here, so they share compiled programs.
PANEL = dict(n_geos=2, n_periods=60, n_channels=2)
SPEC = mmmjax.MMM(seasonality=1, trend="none")


@pytest.fixture(scope="module")
def national():
    """National data (80 weeks, 2 channels) and one fit of them, shared by the tests here."""
    data, _ = mmmjax.simulate(n_periods=80, n_channels=2, seed=3)
    return data, mmmjax.MMM(seasonality=1).fit(data, seed=5, **FAST)


@pytest.fixture(scope="module")
def panel_fit():
    """A 2-geo panel of 70 weeks and :data:`SPEC`'s fit of its first 60, shared here."""
    panel, _ = mmmjax.simulate_geo(**{**PANEL, "n_periods": 70}, seed=6)
    return panel, SPEC.fit(panel.slice(0, 60), seed=0, **FAST)


def _long(dataset: mmmjax.Dataset, geo: str = "north") -> pd.DataFrame:
    df = dataset.to_frame()
    df.insert(0, "region", geo)
    return df


def test_one_geo_panel_is_fitted_as_national_data_with_the_same_draws(national):
    data, national = national
    df = _long(data)
    assert not data.event_names
    panel = mmmjax.Dataset.from_frame(df, date=data.date_name, target=data.target_name,
                                      channels=data.channels, controls=data.control_names,
                                      geo="region")  # fmt: skip
    assert mmmjax.data.is_panel(panel) and panel.n_geos == 1
    assert panel.geo("north") == data
    spec = mmmjax.MMM(seasonality=1)
    one_geo = spec.fit(panel, seed=5, **FAST)
    for name in ("media_roi", "intercept", "sigma"):
        np.testing.assert_array_equal(national.draws()[name], one_geo.draws()[name])
    pd.testing.assert_frame_equal(mmmjax.roi(national), mmmjax.roi(one_geo))


def test_mmm_fit_of_a_panel_is_the_pooled_geo_model():
    panel, _ = mmmjax.simulate_geo(**PANEL, seed=0)
    pool = mmmjax.Prior("Gamma", concentration=2.0, rate=20.0)
    spec = mmmjax.MMM(seasonality=1, trend="none", priors={"roi_tau": pool},
                      centring="non-centred")  # fmt: skip
    fit = spec.fit(panel, seed=1, **FAST)
    assert isinstance(fit, mmmjax.GeoFit)
    assert fit.spec == GeoMMM(mmmjax.MMM(seasonality=1, trend="none"), priors={"roi_tau": pool},
                              centring="non-centred")  # fmt: skip
    assert fit.spec.priors == {"roi_tau": pool}
    direct = fit.spec.fit(panel, seed=1, **FAST)
    np.testing.assert_array_equal(fit.draws()["roi_mu"], direct.draws()["roi_mu"])
    # the national specification ignores the pooling prior (one geo: no pooling)
    assert spec.resolved_priors(panel.channels) == mmmjax.MMM(
        seasonality=1, trend="none"
    ).resolved_priors(panel.channels)
    # diagnostics cover the sampled sites, not the per-geo values derived from them
    diag = fit.diagnostics()
    assert diag["worst_ess_bulk"].split("[")[0] in set(fit.idata.posterior.data_vars) - {
        "media_roi",
        "trend_slope",
        "season",
        "control_coef",
    }
    with pytest.raises(ValueError, match="prior_draws"):
        spec.fit(panel, prior_draws=100, **FAST)
    mapped = spec.fit(panel, seed=1, init="map", map_steps=100, **FAST)  # a MAP start too
    assert mapped.info["init"] == "map" and np.isfinite(mapped.draws()["media_roi"]).all()


def test_centring_option_is_checked_and_saved():
    with pytest.raises(ValueError, match="centring"):
        mmmjax.MMM(centring="sideways")
    spec = mmmjax.MMM(centring="centred")
    assert mmmjax.MMM.from_dict(spec.to_dict()) == spec
    assert (
        mmmjax.MMM.from_dict({k: v for k, v in spec.to_dict().items() if k != "centring"})
        == mmmjax.MMM()
    )


def test_insights_take_by_and_national_data_give_the_same_for_both(national, panel_fit):
    _, fit = national
    pd.testing.assert_frame_equal(mmmjax.roi(fit, by="geo"), mmmjax.roi(fit))
    spend = np.linspace(0.0, 2.0, 5)[:, None] * fit.scales.spend
    np.testing.assert_array_equal(mmmjax.response_curves(fit, spend, by="geo"),
                                  mmmjax.response_curves(fit, spend))  # fmt: skip
    np.testing.assert_array_equal(mmmjax.marginal_roi(fit, by="geo"), mmmjax.marginal_roi(fit))
    assert mmmjax.contributions(fit, by="geo").equals(mmmjax.contributions(fit))
    assert mmmjax.adstock_weights(fit, by="geo").equals(mmmjax.adstock_weights(fit))
    for fn in (mmmjax.roi, mmmjax.marginal_roi, mmmjax.contributions, mmmjax.adstock_weights):
        with pytest.raises(ValueError, match="by must be"):
            fn(fit, by="region")
    panel, geo_fit = panel_fit
    per_geo = mmmjax.roi(geo_fit, by="geo")
    assert list(per_geo.index.names)[-1] == "channel" and len(per_geo) == 4
    assert mmmjax.marginal_roi(geo_fit, by="geo").shape[1:] == (2, 2)
    assert "geo" in mmmjax.contributions(geo_fit, by="geo").dims
    national = mmmjax.roi(geo_fit)
    assert list(national.index) == panel.channels


def test_a_panel_fit_forecasts_past_its_window_and_gets_a_holdout(panel_fit):
    from mmmjax.inference import validation

    panel, fit = panel_fit
    train, test = panel.slice(0, 60), panel.slice(60, 70)
    spec = SPEC
    # the training periods given again are the in-sample prediction
    np.testing.assert_allclose(fit.predict(train, kind="mean"), fit.predict(kind="mean"),
                               rtol=1e-5)  # fmt: skip
    # a forecast carries the training spend's carryover in: equal to predicting the whole
    # window and keeping its last periods
    forecast = fit.predict(test, kind="mean")
    whole = fit.predict(panel, kind="mean")
    assert forecast.shape == (200, 2, 10)
    np.testing.assert_allclose(forecast, whole[:, :, 60:], rtol=1e-4)
    ho = validation.holdout(spec, panel, n_test=10, seed=0, **FAST)
    assert ho.actual.shape == (2, 10) and ho.mean.shape == (2, 10)
    np.testing.assert_allclose(ho.mean, forecast.mean(axis=0), rtol=1e-5)
    assert 0 < ho.mape < 0.5 and 0 <= ho.metrics.coverage_94 <= 1
    with pytest.raises(mmmjax.DataError, match="channels"):
        other = mmmjax.simulate_geo(n_geos=2, n_periods=10, n_channels=3, seed=0)[0]
        fit.predict(other)


def test_fit_many_takes_panels_and_load_fit_reads_either_kind(tmp_path, panel_fit, national):
    panel, direct = panel_fit
    panel = panel.slice(0, 60)
    data, _ = national
    spec = SPEC
    opts = {k: v for k, v in FAST.items() if k not in ("progress", "warn")}
    jobs = [mmmjax.Job("panel", panel, spec, opts),
            mmmjax.Job("national", data, mmmjax.MMM(seasonality=1), opts)]  # fmt: skip
    many = mmmjax.fit_many(jobs, out=tmp_path, progress=False)
    assert list(many.summary["status"].map(lambda s: s != "failed")) == [True, True]
    assert isinstance(many["panel"], mmmjax.GeoFit) and isinstance(many["national"], mmmjax.Fit)
    np.testing.assert_array_equal(many["panel"].draws()["roi_mu"], direct.draws()["roi_mu"])
    loaded = mmmjax.load_fit(tmp_path / "panel")
    assert isinstance(loaded, mmmjax.GeoFit) and loaded.geos == panel.geos
    assert isinstance(mmmjax.load_fit(tmp_path / "national"), mmmjax.Fit)
    again = mmmjax.fit_many(jobs, out=tmp_path, progress=False)  # finished jobs are reused
    assert again.summary["reused"].all()
    assert "roi_" + panel.channels[0] in many.summary


def test_a_national_lift_test_on_a_panel_is_the_sum_of_per_geo_tests():
    """A national test's implied lift is the sum over geos of per-geo tests with the channel's
    spend change shared out as in the data; a geo test changes nothing in other geos."""
    from mmmjax.inference.geo_fit import geo_lift_data, lift_units, lift_weights, prepare_geo
    from mmmjax.model.geo import derived, implied_geo_lift

    panel, _ = mmmjax.simulate_geo(**PANEL, seed=2)
    d, ch = panel.dates, panel.channels[1]
    national = mmmjax.LiftTest(ch, d[10], d[17], 900.0, 1.0, 1.0)
    w = lift_weights([national], panel)[0]
    np.testing.assert_allclose(w.sum(), 1.0)
    per_geo = [mmmjax.LiftTest(ch, d[10], d[17], 900.0 * w[g], 1.0, 1.0, geo=name)
               for g, name in enumerate(panel.geos)]  # fmt: skip
    problem = prepare_geo(GeoMMM.of(mmmjax.MMM(seasonality=1)), panel)
    rng = np.random.default_rng(0)
    draw = {k: rng.uniform(0.3, 0.7, s).astype(np.float32) for k, s in problem.shapes.items()}
    params = {k: jnp.asarray(v) for k, v in derived(draw).items()}
    design = problem.design

    def money(tests):
        lift = geo_lift_data(tests, panel, panel.scales)
        scaled = np.asarray(implied_geo_lift(problem.spec.model, params, design, lift))
        return scaled * lift_units(tests, panel, panel.scales)

    total = money([national])[0]
    parts = money(per_geo)
    assert abs(total) > 0
    np.testing.assert_allclose(total, parts.sum(), rtol=2e-4)
    fit = SPEC.fit(panel, lift_tests=[national], seed=0, **FAST)
    assert mmmjax.insights.lift_draws(fit).shape == (200, 1)
    html = mmmjax.report.render_report(fit)  # the calibration section names it national
    assert f"<td class=l>national</td><td class=l>{ch}</td>" in html


def test_a_panel_takes_events_and_recovers_their_effect(tmp_path):
    """An event adding 15% of each geo's mean target in its weeks: the fitted national effect
    (scaled units: a share of each geo's mean) covers 0.15, the contributions hold it and still
    sum to the prediction, and the fit saves and loads with it."""
    panel, _ = mmmjax.simulate_geo(**PANEL, seed=4)
    df = panel.to_frame()
    week = df[panel.date_name].isin(panel.dates[5::9])
    df["promo"] = np.where(week, "sale", "na")
    mean = df.groupby(panel.geo_name)[panel.target_name].transform("mean")
    df[panel.target_name] += np.where(week, 0.15 * mean, 0.0)
    with_events = mmmjax.Dataset.from_frame(df, date=panel.date_name, target=panel.target_name,
                                            channels=panel.channels,
                                            controls=panel.control_names, geo=panel.geo_name,
                                            population="population", events=["promo"])  # fmt: skip
    assert with_events.event_names == ["promo=sale"]
    fit = SPEC.fit(with_events, seed=0, **FAST)
    coef = fit.draws()["event_coef"][:, 0]
    assert abs(coef.mean() - 0.15) < 4 * coef.std() + 0.02, (coef.mean(), coef.std())
    parts = mmmjax.contributions(fit, by="geo")
    assert "events" in parts.component.values
    np.testing.assert_allclose(parts.sum("component").values, fit.predict(kind="mean"),
                               rtol=1e-4)  # fmt: skip
    fit.save(tmp_path / "f")
    back = mmmjax.load_fit(tmp_path / "f")
    assert back.dataset == with_events
    np.testing.assert_array_equal(back.predict(kind="mean"), fit.predict(kind="mean"))


def test_a_panel_takes_roi_priors_student_t_and_a_piecewise_trend():
    """Options national fits have work for a panel (no sampling: the pooled model's sites and
    priors): an ROI prior becomes the prior of that channel's national log ROI, a Student-t
    likelihood samples nu, a piecewise trend its changepoint deltas."""
    from mmmjax.inference.geo_fit import prepare_geo

    panel, _ = mmmjax.simulate_geo(**PANEL, seed=5)
    tv = panel.channels[0]
    prior = mmmjax.roi_prior(2.0, 4.0)
    spec = mmmjax.MMM(seasonality=1, trend="piecewise", changepoints=3, likelihood="student_t",
                      priors={"media_roi": {tv: prior}})  # fmt: skip
    problem = prepare_geo(GeoMMM.of(spec), panel)
    roi_mu = problem.priors["roi_mu"]
    assert roi_mu.dist == "Normal"
    np.testing.assert_allclose(roi_mu.params["loc"][0], prior.params["loc"])
    np.testing.assert_allclose(roi_mu.params["scale"][0], prior.params["scale"])
    assert problem.shapes["nu"] == () and problem.shapes["trend_delta"] == (3,)
    # the model runs with them: one log density at the prior medians is finite
    from numpyro.infer.util import log_density

    from mmmjax.inference.sampling import bijection, initial_values

    z = initial_values(problem.priors, problem.shapes, 1, 0)
    values = {k: bijection(problem.priors[k])[1](v[0]) for k, v in z.items()}
    logp, _ = log_density(problem.model, problem.model_args, {}, values)
    assert np.isfinite(float(logp))
