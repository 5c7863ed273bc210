"""Tests for mmmjax.simulate: reproducibility and self-consistency of the ground truth."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import mmmjax
from mmmjax.data import Dataset
from mmmjax.simulation import Truth, simulate


@pytest.fixture(scope="module")
def sim():
    return simulate(seed=0)


def test_public_name_is_the_function_in_any_import_order(sim):
    import mmmjax.simulation as module

    ds, _ = mmmjax.simulate(n_periods=40, n_channels=3, seed=0)
    assert isinstance(ds, Dataset)
    assert mmmjax.simulate is module.simulate is simulate and mmmjax.Truth is Truth


def test_shapes_and_defaults(sim):
    ds, truth = sim
    assert ds.n_periods == 156 and ds.n_channels == 5 and ds.freq == "W"
    assert ds.channels == ["tv", "search", "social", "display", "radio"]
    assert ds.control_names == ["price_index", "competitor_promo"]
    assert ds.dates[0] == pd.Timestamp("2021-01-03")
    assert truth.contributions.shape == (156, 5)
    assert list(truth.contributions.columns) == ds.channels
    assert truth.contributions.index.equals(ds.dates)
    assert (ds.spend >= 0).all() and (ds.target > 0).all()
    # realistic money scales: a few thousand to tens of thousands per week
    assert 1_000 < truth.spend_mean.min() and truth.spend_mean.max() < 40_000


def test_reproducible_per_seed():
    a_ds, a_tr = simulate(n_periods=40, n_channels=3, seed=7)
    b_ds, b_tr = simulate(n_periods=40, n_channels=3, seed=7)
    c_ds, _ = simulate(n_periods=40, n_channels=3, seed=8)
    assert a_ds == b_ds and a_tr == b_tr
    assert not np.array_equal(a_ds.spend, c_ds.spend)


def test_target_decomposes_exactly(sim):
    ds, truth = sim
    total = truth.contributions.sum(axis=1) + truth.baseline + truth.noise
    np.testing.assert_allclose(total.to_numpy(), ds.target, rtol=1e-12)
    parts = truth.baseline_components
    assert list(parts.columns) == ["intercept", "trend", "seasonality", "controls", "events"]
    np.testing.assert_allclose(parts.sum(axis=1), truth.baseline)


def test_roi_is_contribution_over_spend(sim):
    ds, truth = sim
    np.testing.assert_allclose(truth.roi, truth.contributions.sum(axis=0) / ds.spend.sum(axis=0))
    np.testing.assert_allclose(truth.spend_mean, ds.spend.mean(axis=0))
    # default ROIs are a permutation of geomspace(0.6, 4.5, C): clearly different channels
    np.testing.assert_allclose(np.sort(truth.roi), np.geomspace(0.6, 4.5, 5), rtol=1e-10)


def test_media_share_and_noise(sim):
    ds, truth = sim
    share = truth.contributions.to_numpy().sum() / (ds.target.sum() - truth.noise.sum())
    assert 0.2 < share < 0.4
    assert truth.noise.std() == pytest.approx(truth.params["sigma"], rel=0.25)
    assert truth.params["sigma"] == pytest.approx(0.05 * ds.target.mean(), rel=0.05)


@pytest.mark.parametrize("saturation", ["hill", "logistic", "michaelis_menten", "tanh"])
def test_mroi_matches_finite_difference(saturation):
    _, truth = simulate(n_periods=40, n_channels=3, saturation=saturation, seed=1)
    s = truth.spend_mean.to_numpy()
    h = 1e-4 * s
    fd = (truth.response(s + h) - truth.response(s - h)).diagonal() / (2 * h)
    np.testing.assert_allclose(truth.mroi, fd, rtol=1e-6)
    np.testing.assert_allclose(truth.response(s[None, :])[0], truth.params["effect_at_mean"])


def _kernels_in_money(p, spend):
    """``(adstocked level, beta * sat(level))`` of money ``spend`` with the truth's money
    parameters, by the registry's kernels directly (float64)."""
    import jax
    import jax.numpy as jnp

    from mmmjax import transforms

    with jax.enable_x64(True):
        args = {k: jnp.asarray(v) for k, v in p.items() if isinstance(v, np.ndarray)}
        level = transforms.apply_adstock(p["adstock"], jnp.asarray(spend), args, l_max=p["l_max"])
        sat = transforms.apply_saturation(p["saturation"], level, args)
        return np.asarray(level), p["beta"] * np.asarray(sat)


@pytest.mark.parametrize("adstock", ["geometric", "delayed", "weibull_pdf", "weibull_cdf"])
def test_contributions_follow_the_adstock_and_saturation(adstock):
    ds, truth = simulate(n_periods=40, n_channels=3, adstock=adstock, seed=2)
    p = truth.params
    _, expected = _kernels_in_money(p, ds.spend)
    np.testing.assert_allclose(truth.contributions.to_numpy(), expected, rtol=1e-12)
    # normalised: sustained spend settles at the same adstocked level
    level, _ = _kernels_in_money(p, np.full((40, 3), 1000.0))
    np.testing.assert_allclose(level[-1], 1000.0, rtol=1e-6)


def test_baseline_matches_documented_formula(sim):
    ds, truth = sim
    p, T = truth.params, ds.n_periods
    i = np.arange(T)
    k = np.arange(1, p["seasonality"] + 1)
    angle = 2 * np.pi * i[:, None] * k / ds.periods_per_year
    fourier = np.concatenate([np.sin(angle), np.cos(angle)], axis=1)
    z = ds.scaled().controls  # the model's standardisation
    expected = (
        p["intercept"]
        + p["trend_slope"] * i / (T - 1)
        + fourier @ p["season"]
        + z @ p["control_coef"]
    )
    np.testing.assert_allclose(truth.baseline.to_numpy(), expected, rtol=1e-12)
    assert (p["control_coef"] < 0).all()  # price and competitor promo hurt revenue


def test_spend_patterns(sim):
    ds, truth = sim  # "mixed": every third channel flighted
    zero_share = (ds.spend == 0).mean(axis=0)
    assert truth.params["spend_patterns"] == [
        "flighted",
        "always_on",
        "always_on",
        "flighted",
        "always_on",
    ]
    assert zero_share[0] > 0.1 and zero_share[3] > 0.1
    assert (zero_share[[1, 2, 4]] == 0).all()
    ds, _ = simulate(spend_pattern="correlated", correlation=0.9)
    corr = np.corrcoef(np.log(ds.spend.T))
    assert corr[np.triu_indices(5, 1)].min() > 0.6
    ds, _ = simulate(
        n_periods=40, n_channels=3, spend_pattern=["flighted", "always_on", "flighted"]
    )
    assert (ds.spend[:, 0] == 0).any() and (ds.spend[:, 1] > 0).all()


def test_overrides_and_options():
    ds, truth = simulate(
        n_periods=40,
        n_channels=3,
        freq="D",
        start="2022-03-01",
        adstock_params={"alpha": 0.5},
        saturation_params={"half_saturation": [1000.0, 2000.0, 500.0], "slope": 1.0},
        betas=[5000.0, 8000.0, 100.0],
        trend="none",
        seasonality=0,
        n_controls=3,
        n_events=2,
        channel_names=["a", "b", "c"],
        noise=0.0,
    )
    assert ds.freq == "D" and ds.periods_per_year == 365.25
    np.testing.assert_array_equal(truth.params["alpha"], [0.5, 0.5, 0.5])
    np.testing.assert_array_equal(truth.params["beta"], [5000.0, 8000.0, 100.0])
    assert ds.control_names == ["price_index", "competitor_promo", "control_3"]
    assert ds.event_names == ["event_1", "event_2"] and ds.events.sum() >= 4
    assert truth.params["trend_slope"] == 0.0 and truth.params["season"].shape == (0,)
    assert np.abs(truth.noise).max() <= 0.005 + 1e-9  # only the rounding to cents
    with pytest.raises(ValueError, match="unknown adstock parameter"):
        simulate(adstock_params={"theta": 1.0})
    with pytest.raises(ValueError, match="saturation must be one of"):
        simulate(saturation="cubic")


def test_passes_validation_and_scales(sim):
    ds, _ = sim
    back = Dataset.from_frame(
        ds.to_frame(),
        date="date",
        target="revenue",
        channels=ds.channels,
        controls=ds.control_names,
    )
    assert back == ds
    np.testing.assert_allclose(ds.scaled().spend.mean(axis=0), 1.0)


def test_truth_json_round_trip(sim):
    _, truth = sim
    back = Truth.from_dict(json.loads(json.dumps(truth.to_dict())))
    assert back == truth
    assert back.params["adstock"] == "geometric" and back.params["channels"] == truth.channels
    np.testing.assert_array_equal(back.params["alpha"], truth.params["alpha"])
    pd.testing.assert_series_equal(back.baseline, truth.baseline)


# --------------------------------------------------------------------------------------------
# simulate(n_geos=...): one simulator for national data and panels
# --------------------------------------------------------------------------------------------


def test_n_geos_returns_the_panel_simulate_geo_returns():
    from mmmjax.geo import GeoDataset, GeoTruth

    panel, truth = simulate(n_periods=40, n_channels=2, n_geos=3, n_controls=1, seed=4)
    again, geo_truth = mmmjax.simulate_geo(n_geos=3, n_periods=40, n_channels=2, seed=4)
    assert isinstance(panel, GeoDataset) and isinstance(truth, GeoTruth)
    assert panel == again and truth.geos == geo_truth.geos == panel.geos
    np.testing.assert_array_equal(truth.contributions, geo_truth.contributions)
    assert truth.contributions.shape == (3, 40, 2) and truth.roi.shape == (3, 2)
    np.testing.assert_allclose(
        truth.contributions.sum(-1) + truth.baseline + truth.noise, panel.target, rtol=1e-12
    )
    np.testing.assert_allclose(truth.roi, truth.contributions.sum(1) / panel.spend.sum(1))
    # one geo is a panel too; national data stay national
    one, _ = simulate(n_periods=40, n_channels=2, n_geos=1, seed=4)
    assert one.n_geos == 1
    assert isinstance(simulate(n_periods=40, n_channels=2, seed=4)[0], Dataset)


def test_n_geos_rejects_national_only_options():
    for option in (
        {"betas": np.array([1.0, 2.0])},
        {"confound": 0},
        {"n_events": 1},
        {"trend": "none"},
    ):
        with pytest.raises(ValueError, match="national data only"):
            simulate(n_periods=40, n_channels=2, n_geos=2, **option)
    with pytest.raises(ValueError, match="geo_names needs n_geos"):
        simulate(n_periods=40, n_channels=2, geo_names=["a", "b"])
    with pytest.raises(ValueError, match="n_geos >= 1"):
        simulate(n_periods=40, n_channels=2, n_geos=0)


def test_truth_parameters_are_drawn_in_the_registry_ranges():
    from mmmjax import transforms

    for adstock, saturation in (("delayed", "hill"), ("weibull_pdf", "logistic")):
        _, truth = simulate(n_periods=40, n_channels=6, adstock=adstock,
                             saturation=saturation, l_max=3, seed=6)  # fmt: skip
        m = truth.spend_mean.to_numpy()
        for registry, kind in ((transforms.ADSTOCKS, adstock),
                               (transforms.SATURATIONS, saturation)):  # fmt: skip
            for name, r in registry[kind].truth.items():
                low, high = r.bounds(3)
                scaled = truth.params[name] / m**r.spend_power  # money -> scaled units
                assert ((low <= scaled) & (scaled <= high)).all(), (kind, name)
    assert transforms.ADSTOCKS["delayed"].truth["theta"].bounds(3) == (0.0, 2.0)
