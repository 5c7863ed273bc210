"""Validation metrics on cases with answers by hand; holdout and rolling CV with known draws."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import mmmjax
from mmmjax.inference import validation as val
from mmmjax.inference.fit import fit_from_draws
from mmmjax.model.design import TimeAxis


# ----------------------------------------------------------------------------------------------
# point metrics
# ----------------------------------------------------------------------------------------------
def test_perfect_prediction():
    y = np.array([3.0, 5.0, 4.0, 8.0])
    assert val.r2(y, y) == 1.0
    assert val.mape(y, y) == 0.0
    assert val.nrmse(y, y) == 0.0


def test_metrics_by_hand():
    y, yhat = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 3.0, 5.0])
    assert val.r2(y, yhat) == pytest.approx(1 - 1 / 5)  # SSE 1, SST 5
    assert val.mape(y, yhat) == pytest.approx(0.25 / 4)
    assert val.nrmse(y, yhat) == pytest.approx(np.sqrt(1 / 4) / 3)
    assert val.r2(y, np.full(4, y.mean())) == pytest.approx(0.0)


def test_metric_edge_cases():
    assert np.isnan(val.r2([2.0, 2.0], [1.0, 3.0]))
    assert np.isnan(val.nrmse([2.0, 2.0], [1.0, 3.0]))
    assert val.mape([0.0, 2.0], [5.0, 3.0]) == pytest.approx(0.5)  # zero target left out
    with pytest.raises(ValueError, match="same length"):
        val.r2([1.0, 2.0], [1.0])


# ----------------------------------------------------------------------------------------------
# CRPS and coverage
# ----------------------------------------------------------------------------------------------
def _crps_brute(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    term1 = np.abs(x - y[None]).mean(0)
    term2 = np.abs(x[:, None, :] - x[None, :, :]).mean((0, 1))
    return term1 - 0.5 * term2


def test_crps_point_mass_is_absolute_error():
    y = np.array([1.0, -2.0, 10.0])
    point = np.tile(np.array([1.5, 0.0, 10.0]), (7, 1))  # 7 identical draws
    np.testing.assert_allclose(val.crps(point, y), [0.5, 2.0, 0.0], atol=1e-12)


def test_crps_uniform_by_hand():
    # draws {0, 1} equally, y = 0: E|X - y| = 0.5, E|X - X'| = 0.5 -> 0.25
    assert val.crps(np.array([[0.0], [1.0]]), np.array([0.0]))[0] == pytest.approx(0.25)


@settings(max_examples=30, deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(1, 12), st.integers(1, 4)),
           elements=st.floats(-1e3, 1e3)),
    st.floats(-1e3, 1e3),
)  # fmt: skip
def test_crps_matches_pairwise_definition(x, y0):
    y = np.full(x.shape[1], y0)
    got = val.crps(x, y)
    np.testing.assert_allclose(got, _crps_brute(x, y), rtol=1e-9, atol=1e-6)
    assert np.all(got >= -1e-9)


def test_coverage_on_constructed_draws():
    draws = np.repeat(np.arange(101.0)[:, None], 4, axis=1)  # 0..100 in every period
    y = np.array([50.0, 80.0, 99.0, 2.0])  # 50%: [25, 75] holds 1; 94%: [3, 97] holds 2
    cov = val.coverage(draws, y)
    assert cov == {0.5: 0.25, 0.94: 0.5}
    assert val.coverage(draws, np.array([50.0, 80.0, 96.0, 4.0]))[0.94] == 1.0


# ----------------------------------------------------------------------------------------------
# in-sample, holdout and rolling CV with known draws (no sampling)
# ----------------------------------------------------------------------------------------------
SPEC = mmmjax.MMM(seasonality=0, trend="none")


def _draws(C: int, K: int, S: int = 4) -> dict[str, np.ndarray]:
    ones = np.ones((S, C), np.float32)
    return {
        "intercept": np.full(S, 0.6, np.float32),
        "control_coef": np.tile(np.linspace(-0.05, 0.05, K, dtype=np.float32), (S, 1)),
        "media_roi": 1.5 * ones,
        "alpha": 0.4 * ones,
        "half_saturation": ones,
        "slope": ones,
        "sigma": np.full(S, 1e-6, np.float32),
    }


def _known_fit(dataset, draws, units):
    """A fit of ``dataset`` from known draws, in the scales and time axis of ``units``."""
    fit = fit_from_draws(SPEC, dataset, draws)
    return dataclasses.replace(fit, scales=units.scales, axis=TimeAxis.of(units))


@pytest.fixture(scope="module")
def exact():
    """Demo inputs with the target replaced by this model's own mean prediction, the draws, and
    the original data (whose scales the draws are in: a new target would change the scales)."""
    data = mmmjax.datasets.load("demo")
    draws = _draws(data.n_channels, data.n_controls)
    target = fit_from_draws(SPEC, data, draws).predict(kind="mean")[0]
    return dataclasses.replace(data, target=target), draws, data


class KnownSpec:
    """Duck-typed spec whose ``fit`` returns the known draws in the original data's units."""

    def __init__(self, draws, units):
        self.draws, self.units, self.calls = draws, units, []

    def fit(self, dataset, **kwargs):
        self.calls.append((dataset.n_periods, kwargs))
        # The sampled intercept is the mean level over the *training* window (media are centred
        # there), so the same function fitted on fewer periods has a shifted intercept: shift it
        # so the baseline matches the full-data model exactly.
        # Likewise media_roi is the ROI over the training window (media are normalised there),
        # so rescale it to keep each channel's media term that of the full-data model.
        full = _known_fit(self.units, self.draws, self.units)
        first = _known_fit(dataset, self.draws, self.units)
        T = dataset.n_periods
        ratio = full.components().media[:, :T].sum(1) / first.components().media.sum(1)
        draws = dict(self.draws, media_roi=self.draws["media_roi"] * ratio)
        first = _known_fit(dataset, draws, self.units)
        shift = full.components().intercept[:, 0] - first.components().intercept[:, 0]
        draws["intercept"] = self.draws["intercept"] + shift
        return _known_fit(dataset, draws, self.units)


def test_in_sample_of_exact_model(exact):
    data, draws, units = exact
    m = val.in_sample(_known_fit(data, draws, units))
    assert m.r2 == pytest.approx(1.0, abs=1e-9)
    assert m.mape < 1e-5 and m.nrmse < 1e-4
    assert m.crps < 1e-4 * data.target.mean()
    assert m.n_periods == data.n_periods
    assert set(m.to_dict()) >= {"r2", "mape", "nrmse", "coverage_50", "coverage_94", "crps"}


def test_holdout_forecasts_with_carryover(exact):
    data, draws, units = exact
    spec = KnownSpec(draws, units)
    ho = val.holdout(spec, data, 13, draws=5, seed=3)
    assert spec.calls == [(data.n_periods - 13, {"draws": 5, "seed": 3, "progress": False})]
    assert (ho.n_train, ho.n_test) == (data.n_periods - 13, 13)
    assert ho.dates.equals(data.dates[-13:])
    # exact only if the training spend's carryover reaches the test periods
    assert ho.mape < 1e-5
    assert ho.crps < 1e-4 * data.target.mean()
    assert ho.mean.shape == ho.low.shape == ho.high.shape == (13,)
    assert np.all(ho.low <= ho.high)


def test_holdout_rejects_bad_sizes(exact):
    data, draws, units = exact
    with pytest.raises(ValueError, match="n_test"):
        val.holdout(KnownSpec(draws, units), data, 0)
    with pytest.raises(ValueError, match="n_test"):
        val.holdout(KnownSpec(draws, units), data, data.n_periods)


def test_rolling_cv_folds(exact):
    data, draws, units = exact
    spec = KnownSpec(draws, units)
    T = data.n_periods
    cv = val.rolling_cv(spec, data, n_folds=2, horizon=10)
    assert list(cv.index) == [0, 1]
    assert list(cv["n_train"]) == [T - 20, T - 10]
    assert [n for n, _ in spec.calls] == [T - 20, T - 10]
    assert cv.loc[1, "train_end"] == data.dates[T - 11]
    assert (cv["mape"] < 1e-5).all()
    assert {"mape", "crps", "r2", "coverage_94"} <= set(cv.columns)
    with pytest.raises(ValueError, match="need more than"):
        val.rolling_cv(spec, data, n_folds=20, horizon=10)


# ----------------------------------------------------------------------------------------------
# ridge baseline
# ----------------------------------------------------------------------------------------------
def _synthetic(T=120, decay=0.4, coef=(2.0, 0.5, 1.2), seed=0):
    rng = np.random.default_rng(seed)
    spend = rng.gamma(2.0, 50.0, size=(T, len(coef)))
    adstocked = val.geometric_adstock_np(spend, decay)
    target = 1000.0 + adstocked @ np.asarray(coef)
    dates = pd.date_range("2021-01-03", periods=T, freq="W-SUN")
    return mmmjax.Dataset(dates=dates, channels=["a", "b", "c"], spend=spend, target=target)


def test_geometric_adstock_np_matches_definition():
    x = np.array([[1.0], [0.0], [0.0], [2.0]])
    np.testing.assert_allclose(val.geometric_adstock_np(x, 0.5)[:, 0], [0.5, 0.25, 0.125, 1.0625])


def test_ridge_recovers_noiseless_coefficients():
    data = _synthetic()
    fit = val.ridge_baseline(data, n_test=20, seasonality=0, trend=False)
    assert fit.decay == 0.4
    assert fit.alpha == 0.0
    np.testing.assert_allclose(fit.coef.to_numpy(), [2.0, 0.5, 1.2], rtol=1e-6)
    assert fit.intercept == pytest.approx(1000.0, rel=1e-6)
    assert list(fit.coef.index) == ["a", "b", "c"]
    assert fit.r2_in == pytest.approx(1.0) and fit.r2_out == pytest.approx(1.0)
    assert fit.mape_in < 1e-8 and fit.mape_out < 1e-8


def test_ridge_without_holdout_has_no_out_of_sample():
    fit = val.ridge_baseline(_synthetic(), seasonality=1, trend=True)
    assert np.isnan(fit.r2_out) and np.isnan(fit.mape_out)
    assert fit.r2_in > 0.999


# ----------------------------------------------------------------------------------------------
# VIF
# ----------------------------------------------------------------------------------------------
def _spend_frame(spend):
    dates = pd.date_range("2021-01-03", periods=spend.shape[0], freq="W-SUN")
    names = [f"ch{i}" for i in range(spend.shape[1])]
    return mmmjax.Dataset(dates=dates, channels=names, spend=spend, target=np.ones(len(dates)))


def test_vif_of_independent_columns_is_about_one():
    rng = np.random.default_rng(1)
    v = val.vif(_spend_frame(rng.normal(100, 10, size=(2000, 4))))
    assert list(v.index) == ["ch0", "ch1", "ch2", "ch3"]
    np.testing.assert_allclose(v.to_numpy(), 1.0, atol=0.02)
    assert val.vif_warnings(v) == []


def test_vif_of_collinear_columns_is_large_and_warned():
    rng = np.random.default_rng(2)
    x = rng.normal(100, 10, size=(300, 2))
    third = x.sum(1) + rng.normal(0, 0.5, 300)
    v = val.vif(_spend_frame(np.column_stack([x, third])))
    assert (v > 100).all()
    msgs = val.vif_warnings(v)
    assert len(msgs) == 3 and all(f"ch{i}" in m for i, m in enumerate(msgs))


def test_vif_exact_and_constant_columns():
    rng = np.random.default_rng(3)
    x = rng.normal(100, 10, size=(50, 2))
    v = val.vif(_spend_frame(np.column_stack([x, x.sum(1), np.full(50, 7.0)])))
    assert np.isinf(v["ch2"]) and np.isnan(v["ch3"])
    msgs = val.vif_warnings(v)
    assert any("ch3" in m and "never changes" in m for m in msgs)
    assert any("ch2" in m and "lockstep" in m for m in msgs)
