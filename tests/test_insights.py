"""Insights against hand-computable answers: fits built from known draws, no sampling."""

from __future__ import annotations

import numpy as np
import pytest

import mmmjax
from mmmjax import insights
from mmmjax.inference.fit import fit_from_draws


def _draws(dataset, spec, rng, S=4):
    C, K = dataset.n_channels, dataset.n_controls
    d = {
        "intercept": rng.normal(0.6, 0.05, S),
        "trend_slope": rng.normal(0, 0.05, S),
        "season": rng.normal(0, 0.02, (S, 2 * spec.seasonality)),
        "control_coef": rng.normal(0, 0.02, (S, K)),
        "media_roi": rng.lognormal(0, 0.4, (S, C)),
        "alpha": rng.uniform(0.1, 0.7, (S, C)),
        "sigma": np.full(S, 0.05),
    }
    if spec.saturation == "michaelis_menten":
        d["half_saturation"] = rng.lognormal(0, 0.3, (S, C))
    if spec.saturation == "hill":
        d["half_saturation"] = rng.lognormal(0, 0.3, (S, C))
        d["slope"] = rng.uniform(0.8, 2.0, (S, C))
    return d


def _window_mean_shape(fit) -> np.ndarray:
    """``(S, C)`` NumPy float64: mean over the data of MM(geometric adstock(x)), per draw."""
    d = fit.draws()
    x = fit.dataset.spend / fit.dataset.spend.mean(0)
    out = np.empty(d["alpha"].shape)
    for s, c in np.ndindex(*out.shape):
        a, y, prev = float(d["alpha"][s, c]), np.empty(len(x)), 0.0
        for t in range(len(x)):
            prev = x[t, c] + a * prev
            y[t] = (1 - a) * prev
        out[s, c] = (y / (y + d["half_saturation"][s, c])).mean()
    return out


@pytest.fixture(scope="module")
def mm_fit(demo):
    dataset, _ = demo
    spec = mmmjax.MMM(saturation="michaelis_menten")
    return fit_from_draws(spec, dataset, _draws(dataset, spec, np.random.default_rng(0)))


def test_response_curves_match_closed_form(mm_fit):
    fit = mm_fit
    d = fit.draws()
    m = fit.dataset.spend.mean(0)  # mean spend per period = spend scale
    G = np.linspace(0, 3, 7)[:, None] * m  # (G, C)
    curves = mmmjax.response_curves(fit, G)
    assert curves.shape == (4, 7, fit.dataset.n_channels)
    x = G / m
    K = d["half_saturation"][:, None, :]
    norm = _window_mean_shape(fit)[:, None, :]  # the model's normalisation
    expected = d["media_roi"][:, None, :] * m * (x / (x + K)) / norm
    np.testing.assert_allclose(curves, expected, rtol=2e-5)
    # a (G,) spend means the same level for every channel
    same = mmmjax.response_curves(fit, np.array([1000.0, 2000.0]))
    both = mmmjax.response_curves(fit, np.array([[1000.0] * 5, [2000.0] * 5]))
    np.testing.assert_array_equal(same, both)
    with pytest.raises(ValueError, match="non-negative"):
        mmmjax.response_curves(fit, np.array([-1.0]))
    with pytest.raises(ValueError, match="shape"):
        mmmjax.response_curves(fit, np.ones((2, 3)))


def test_marginal_roi_matches_the_derivative(mm_fit):
    d = mm_fit.draws()
    K = d["half_saturation"]
    mroi = insights.marginal_roi(mm_fit)
    norm = _window_mean_shape(mm_fit)
    np.testing.assert_allclose(mroi, d["media_roi"] * K / (1 + K) ** 2 / norm, rtol=2e-5)
    table = mmmjax.roi(mm_fit)
    np.testing.assert_allclose(table.mroi_mean, mroi.mean(0), rtol=1e-6)
    assert list(table.columns[:6]) == [
        "roi_mean", "roi_low", "roi_high", "mroi_mean", "mroi_low", "mroi_high"
    ]  # fmt: skip
    assert (table.roi_low <= table.roi_mean).all() and (table.roi_mean <= table.roi_high).all()


def test_roi_is_contribution_over_spend(mm_fit):
    comp = mm_fit.components()
    contrib = comp.media * mm_fit.dataset.target.mean()  # (S, T, C), money
    r = contrib.sum(1) / mm_fit.dataset.spend.sum(0)
    table = mmmjax.roi(mm_fit)
    np.testing.assert_allclose(table.roi_mean, r.mean(0), rtol=1e-5)
    np.testing.assert_allclose(table.roi_high, np.quantile(r, 0.97, axis=0), rtol=1e-5)


@pytest.mark.parametrize("form", ["additive", "multiplicative"])
def test_contributions_sum_to_the_prediction(demo, form):
    dataset, _ = demo
    spec = mmmjax.MMM(form=form)
    draws = _draws(dataset, spec, np.random.default_rng(1))
    if form == "multiplicative":
        draws["intercept"] = draws["intercept"] - 0.6
    fit = fit_from_draws(spec, dataset, draws)
    parts = mmmjax.contributions(fit)
    assert parts.dims == ("draw", "date", "component")
    assert list(parts.component.values) == [
        "baseline", "trend", "seasonality", "controls", "events", *dataset.channels
    ]  # fmt: skip
    np.testing.assert_allclose(parts.sum("component").values, fit.predict(kind="mean"), rtol=1e-5)
    shares = insights.contribution_shares(fit)
    np.testing.assert_allclose(shares.share_mean.sum(), 1.0, rtol=1e-6)
    assert (np.asarray(mmmjax.roi(fit).roi_mean) > 0).all()


def test_adstock_weights_are_the_geometric_decay(mm_fit):
    w = mmmjax.adstock_weights(mm_fit, l_max=6)
    assert w.dims == ("draw", "lag", "channel")
    a = mm_fit.draws()["alpha"][:, None, :]
    expected = (1 - a) * a ** np.arange(6)[None, :, None]
    np.testing.assert_allclose(w.values, expected, rtol=1e-5)


def test_series_response_settles_at_the_steady_state(mm_fit):
    params = insights.response_params(mm_fit)
    spend = np.tile(mm_fit.dataset.spend.mean(0), (200, 1))  # sustained mean spend
    series = np.asarray(insights.series_response(mm_fit.spec, params, spend))
    steady = mmmjax.response_curves(mm_fit, spend[:1])[:, 0, :]
    assert series.shape == (4, 200, 5)
    np.testing.assert_allclose(series[:, -1, :], steady, rtol=1e-4)
    assert (series[:, 0, :] < series[:, -1, :]).all()  # carryover builds up from zero
