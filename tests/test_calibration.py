"""ROI priors and lift-test calibration: exact translations, NumPy references, validation, and a
confounded channel that lift tests pull back to the truth."""

from __future__ import annotations

import dataclasses
import math
from statistics import NormalDist

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import mmmjax
from mmmjax.inference.fit import fit_from_draws, training_design
from mmmjax.model import implied_lift
from mmmjax.model.calibration import (
    LiftTest,
    lift_data,
    read_lift_tests,
    read_roi_priors,
    roi_prior,
)


# ----------------------------------------------------------------------------------------------
# ROI priors
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("low", "high", "mass"), [(2.0, 4.0, 0.94), (0.3, 1.2, 0.8)])
def test_roi_prior_puts_mass_exactly_in_the_interval(low, high, mass):
    p = roi_prior(low, high, mass)
    assert p.dist == "LogNormal"
    z = NormalDist().inv_cdf((1 + mass) / 2)
    loc, scale = p.params["loc"], p.params["scale"]
    assert math.exp(loc - z * scale) == pytest.approx(low, rel=1e-12)
    assert math.exp(loc + z * scale) == pytest.approx(high, rel=1e-12)


def test_roi_prior_from_mean_and_sd():
    p = roi_prior(mean=3.0, sd=1.5)
    loc, scale = p.params["loc"], p.params["scale"]
    assert math.exp(loc + scale**2 / 2) == pytest.approx(3.0, rel=1e-12)
    var = (math.exp(scale**2) - 1) * math.exp(2 * loc + scale**2)
    assert math.sqrt(var) == pytest.approx(1.5, rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"low": 0.0, "high": 2.0}, "low must be > 0"),
        ({"low": -1.0, "high": 2.0}, "low must be > 0"),
        ({"low": 3.0, "high": 2.0}, "high must be greater than low"),
        ({"low": 2.0, "high": 2.0}, "high must be greater than low"),
        ({"low": 1.0, "high": 2.0, "mass": 1.0}, "mass"),
        ({"low": 1.0}, "both low and high"),
        ({"mean": 1.0}, "both mean and sd"),
        ({"low": 1.0, "high": 2.0, "mean": 1.0, "sd": 1.0}, "either"),
        ({}, "either"),
        ({"mean": -1.0, "sd": 1.0}, "> 0"),
        ({"low": float("nan"), "high": 2.0}, "finite"),
    ],
)
def test_roi_prior_rejects_bad_beliefs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        roi_prior(**kwargs)


def test_prior_predictive_roi_matches_the_stated_interval(demo):
    """The prior's window ROI, computed through the model's mean function (contribution over the
    window / spend over the window), has the stated central interval."""
    dataset, _ = demo
    beliefs = {"tv": (2.0, 4.0, 0.94), "search": (0.5, 1.5, 0.8), "radio": (0.1, 0.4, 0.5)}
    priors = {ch: roi_prior(*b) for ch, b in beliefs.items()}
    spec = mmmjax.MMM(priors={"media_roi": priors})
    idata = spec.sample_prior_predictive(dataset, draws=6000, seed=5)
    draws = {k: idata.prior[k].values[0] for k in idata.prior.data_vars}
    r = mmmjax.insights.roi_draws(fit_from_draws(spec, dataset, draws))  # through components
    for ch, (low, high, mass) in beliefs.items():
        c = dataset.channels.index(ch)
        lo, hi = np.quantile(r[:, c], [(1 - mass) / 2, (1 + mass) / 2])
        assert lo == pytest.approx(low, rel=0.04), ch
        assert hi == pytest.approx(high, rel=0.04), ch
        inside = np.mean((r[:, c] >= low) & (r[:, c] <= high))
        assert inside == pytest.approx(mass, abs=0.02), ch
    # channels without a belief keep the default LogNormal(0, 1): median 1
    c = dataset.channels.index("social")
    assert np.median(r[:, c]) == pytest.approx(1.0, rel=0.06)


def test_read_roi_priors(tmp_path, demo):
    dataset, _ = demo
    path = tmp_path / "roi.csv"
    path.write_text("channel,low,high,mass\ntv,2,4,\nsearch,0.5,1.5,0.8\n")
    priors = read_roi_priors(path, dataset.channels)
    assert priors == {"tv": roi_prior(2, 4), "search": roi_prior(0.5, 1.5, 0.8)}
    # without the optional mass column
    path.write_text("channel,low,high\nradio,1,3\n")
    assert read_roi_priors(path, dataset.channels) == {"radio": roi_prior(1, 3)}


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("channel,low\ntv,2\n", "column 'high' is missing"),
        ("channel,low,high\ntv,2,4\nprint,1,2\n", r"row 3 of roi.csv .*'channel': unknown"),
        ("channel,low,high\ntv,2,4\ntv,1,2\n", r"row 3 of roi.csv .*, column 'channel': .*twice"),
        ("channel,low,high\ntv,0,4\n", r"row 2 of roi.csv .*, column 'low': must be > 0"),
        ("channel,low,high\ntv,4,2\n", r"row 2 of roi.csv .*, column 'high': must be greater"),
        ("channel,low,high\ntv,abc,2\n", r"row 2 of roi.csv .*'low': 'abc' is not a number"),
        ("channel,low,high,mass\ntv,1,2,1.5\n", r"row 2 of roi.csv .*, column 'mass'"),
        ("channel,low,high\ntv,,2\n", r"row 2 of roi.csv .*, column 'low': the value is missing"),
        ("", "empty"),
    ],
)
def test_read_roi_priors_names_row_and_column(tmp_path, demo, text, match):
    dataset, _ = demo
    path = tmp_path / "roi.csv"
    path.write_text(text)
    with pytest.raises(mmmjax.DataError, match=match):
        read_roi_priors(path, dataset.channels)


# ----------------------------------------------------------------------------------------------
# lift tests: records, files, validation
# ----------------------------------------------------------------------------------------------
LIFT_HEADER = "channel,start,end,spend_change,lift,lift_se"


def test_lift_test_record_round_trips_and_checks_itself():
    t = LiftTest("tv", "2022-03-06", "2022-04-02", 2000, 9000.5, 1500)
    assert t.start == pd.Timestamp("2022-03-06") and t.spend_change == 2000.0
    assert LiftTest.from_dict(t.to_dict()) == t
    roi, se = t.roi(4)
    assert roi == pytest.approx(9000.5 / 8000) and se == pytest.approx(1500 / 8000)
    with pytest.raises(mmmjax.DataError, match="column 'end'"):
        LiftTest("tv", "2022-03-06", "2022-03-01", 2000, 9000, 1500)
    with pytest.raises(mmmjax.DataError, match="column 'lift_se'"):
        LiftTest("tv", "2022-03-06", "2022-04-02", 2000, 9000, 0)
    with pytest.raises(mmmjax.DataError, match="column 'spend_change'"):
        LiftTest("tv", "2022-03-06", "2022-04-02", 0, 9000, 10)


def test_read_lift_tests(tmp_path, demo):
    dataset, _ = demo
    path = tmp_path / "lift.csv"
    path.write_text(
        f"{LIFT_HEADER},geo\ntv,2022-03-06,2022-04-02,2000,9000,1500,\n"
        "search,2023-01-01,2023-01-21,-500,-1200.5,300,\n"
    )
    tests = read_lift_tests(path, dataset)
    assert tests == (
        LiftTest("tv", "2022-03-06", "2022-04-02", 2000, 9000, 1500),
        LiftTest("search", "2023-01-01", "2023-01-21", -500, -1200.5, 300),
    )
    assert read_lift_tests(pd.read_csv(path), dataset) == tests
    path.write_text(LIFT_HEADER + "\n")
    assert read_lift_tests(path, dataset) == ()


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ("print,2022-03-06,2022-04-02,2000,9000,1500", "row 1, column 'channel': unknown"),
        ("tv,2019-03-06,2019-04-02,2000,9000,1500", "row 1, column 'start': .*outside the data"),
        ("tv,2023-12-01,2024-02-02,2000,9000,1500", "row 1, column 'end': .*outside the data"),
        ("tv,2022-04-02,2022-03-06,2000,9000,1500", "row 1, column 'end': .*before start"),
        ("tv,2022-03-06,2022-04-02,2000,9000,0", "row 1, column 'lift_se': must be > 0"),
        ("tv,2022-03-06,2022-04-02,2000,9000,-3", "row 1, column 'lift_se'"),
        ("tv,2022-03-06,2022-04-02,2000,9000,", "row 1, column 'lift_se': the value is missing"),
        ("tv,2022-03-06,2022-04-02,2000,lots,1", "row 1, column 'lift': 'lots' is not a number"),
        ("tv,2022-13-45,2022-04-02,2000,9000,1", "row 1, column 'start': cannot parse date"),
        ("tv,2022-03-07,2022-03-08,2000,9000,1", "row 1, column 'start': .*holds no period"),
        ("tv,2022-03-06,2022-04-02,-1e9,9000,1", "row 1, column 'spend_change': .*below zero"),
    ],
)
def test_read_lift_tests_names_row_and_column(tmp_path, demo, rows, match):
    dataset, _ = demo
    path = tmp_path / "lift.csv"
    path.write_text(f"{LIFT_HEADER}\ntv,2022-01-02,2022-01-29,100,500,50\n{rows}\n")
    # the bad test is the second data row, after a good one: row 3 of the file
    match = match.replace("row 1,", r"lift tests, row 3 of lift.csv \(the header is row 1\),")
    with pytest.raises(mmmjax.DataError, match=match):
        read_lift_tests(path, dataset)


def test_geo_lift_tests_are_refused_for_a_national_dataset(tmp_path, demo):
    dataset, _ = demo
    path = tmp_path / "lift.csv"
    path.write_text(f"{LIFT_HEADER},geo\ntv,2022-03-06,2022-04-02,2000,9000,1500,north\n")
    national = r"row 2 of lift.csv \(the header is row 1\), column 'geo': .*national"
    with pytest.raises(mmmjax.DataError, match=national):
        read_lift_tests(path, dataset)
    with pytest.raises(mmmjax.DataError, match="column 'start' is missing"):
        read_lift_tests(pd.DataFrame({"channel": ["tv"]}), dataset)
    with pytest.raises(mmmjax.DataError, match="not found"):
        read_lift_tests(tmp_path / "nope.csv", dataset)


def test_fit_checks_lift_tests(demo):
    dataset, _ = demo
    bad = LiftTest("print", "2022-03-06", "2022-04-02", 2000, 9000, 1500)
    with pytest.raises(mmmjax.DataError, match="lift test 1 \\(print\\), column 'channel'"):
        mmmjax.MMM().fit(dataset, lift_tests=[bad], chains=1, draws=5, warmup=5)
    with pytest.raises(TypeError, match="LiftTest"):
        mmmjax.MMM().fit(dataset, lift_tests=[{"channel": "tv"}], chains=1, draws=5, warmup=5)


# ----------------------------------------------------------------------------------------------
# the implied lift against references
# ----------------------------------------------------------------------------------------------
def _ref_geometric(x, alpha):
    y, prev = np.empty_like(x), 0.0
    for t in range(len(x)):
        prev = x[t] + alpha * prev
        y[t] = (1 - alpha) * prev
    return y


def _ref_hill(x, k, s):
    return np.where(x > 0, x**s / (x**s + k**s), 0.0)


def _one_draw(spec, dataset, seed=0):
    idata = spec.sample_prior_predictive(dataset, draws=1, seed=seed)
    return {k: np.asarray(idata.prior[k].values[0, 0], np.float64) for k in idata.prior.data_vars}


@pytest.mark.parametrize("form", ["additive", "multiplicative"])
def test_implied_lift_matches_a_float64_numpy_reference(demo, form):
    dataset, _ = demo
    spec = mmmjax.MMM(form=form)
    p = _one_draw(spec, dataset, seed=11)
    p["media_roi"] = np.array([1.5, 3.0, 0.8, 1.2, 0.5])
    if form == "multiplicative":
        p["intercept"] = np.float64(0.02)
    tests = (
        LiftTest("tv", "2022-03-06", "2022-04-02", 20_000, 1.0, 1.0),
        LiftTest("search", "2023-01-01", "2023-01-21", -3_000, 1.0, 1.0),
        LiftTest("tv", "2021-01-03", "2021-01-03", 5_000, 1.0, 1.0),  # one period, the first
    )
    _, _, design = training_design(spec, dataset)
    lift = lift_data(tests, dataset)
    got = implied_lift(spec, jax.tree.map(jnp.asarray, p), jax.tree.map(jnp.asarray, design), lift)
    got = np.asarray(got, np.float64) * dataset.scales.target  # money

    # by hand, float64: media = media_roi * m / Y * shape / mean(shape), in scaled units
    Y, m = dataset.target.mean(), dataset.spend.mean(0)
    x = dataset.spend / m
    mu = np.asarray(fit_from_draws(spec, dataset, {k: v[None] for k, v in p.items()})
                    .components().mu[0], np.float64)  # fmt: skip
    for k, t in enumerate(tests):
        c = dataset.channels.index(t.channel)
        a, hk, hs = p["alpha"][c], p["half_saturation"][c], p["slope"][c]
        shape = _ref_hill(_ref_geometric(x[:, c], a), hk, hs)
        scale = p["media_roi"][c] * m[c] / Y / shape.mean()
        win = (dataset.dates >= t.start) & (dataset.dates <= t.end)
        x_new = x[:, c] + np.where(win, t.spend_change / m[c], 0.0)
        change = scale * (_ref_hill(_ref_geometric(x_new, a), hk, hs) - shape)
        if form == "multiplicative":
            change = np.exp(mu) * np.expm1(change)
        expected = Y * change[win].sum()
        assert got[k] == pytest.approx(expected, rel=2e-4), (k, got[k], expected)
    assert got[0] > 0 and got[1] < 0


def test_implied_lift_at_the_true_parameters_is_the_true_lift():
    """Truth (money) -> model parameters (scaled): the model's lift equals ``Truth.lift``."""
    dataset, truth = mmmjax.simulate(n_periods=104, n_channels=3, seed=4, n_controls=0)
    spec = mmmjax.MMM(seasonality=0, trend="none")
    m = dataset.scales.spend
    params = {
        "media_roi": truth.roi.to_numpy(),
        "alpha": truth.params["alpha"],
        "half_saturation": truth.params["half_saturation"] / m,
        "slope": truth.params["slope"],
        "intercept": 1.0,
    }
    tests = (
        LiftTest(dataset.channels[0], dataset.dates[30], dataset.dates[37], 0.5 * m[0], 1, 1),
        LiftTest(dataset.channels[2], dataset.dates[60], dataset.dates[63], -0.3 * m[2], 1, 1),
    )
    _, _, design = training_design(spec, dataset)
    got = implied_lift(spec, jax.tree.map(jnp.asarray, params), jax.tree.map(jnp.asarray, design),
                       lift_data(tests, dataset))  # fmt: skip
    for k, t in enumerate(tests):
        expected = truth.lift(dataset, t.channel, t.start, t.end, t.spend_change)
        assert float(got[k]) * dataset.scales.target == pytest.approx(expected, rel=5e-4)


def test_saved_fit_keeps_its_lift_tests(tmp_path, demo):
    dataset, _ = demo
    spec = mmmjax.MMM()
    draws = _one_draw(spec, dataset)
    tests = (
        LiftTest("tv", "2022-03-06", "2022-04-02", 2000.25, 9000.125, 1500.5),
        LiftTest("radio", "2023-05-07", "2023-05-20", -100, -321.0, 80.0),
    )
    fit = fit_from_draws(spec, dataset, {k: v[None] for k, v in draws.items()}, lift_tests=tests)
    assert fit.lift_tests == tests
    fit.save(tmp_path / "f")
    back = mmmjax.load_fit(tmp_path / "f")
    assert back.lift_tests == tests
    assert [t.to_dict() for t in back.lift_tests] == [t.to_dict() for t in tests]
    np.testing.assert_allclose(back.predict(kind="mean"), fit.predict(kind="mean"), rtol=1e-6)
    assert mmmjax.load_fit(tmp_path / "f").lift_tests == tests
    # a fit without tests saves and loads as before
    plain = fit_from_draws(spec, dataset, {k: v[None] for k, v in draws.items()})
    plain.save(tmp_path / "g")
    assert mmmjax.load_fit(tmp_path / "g").lift_tests == ()


# ----------------------------------------------------------------------------------------------
# calibration on a confounded channel
# ----------------------------------------------------------------------------------------------
def test_simulate_confounds_one_channel_with_unobserved_demand():
    base, _ = mmmjax.simulate(n_periods=80, n_channels=3, seed=2)
    ds, truth = mmmjax.simulate(
        n_periods=80, n_channels=3, seed=2, confound="search", confound_strength=1.5
    )
    # only search's spend changes; the demand is in the truth's baseline, not in the data
    np.testing.assert_array_equal(ds.spend[:, [0, 2]], base.spend[:, [0, 2]])
    demand = truth.baseline_components["demand"].to_numpy()
    assert np.corrcoef(np.log(ds.spend[:, 1] + 1), demand)[0, 1] > 0.5
    assert "demand" not in ds.control_names
    total = truth.contributions.sum(axis=1) + truth.baseline + truth.noise
    np.testing.assert_allclose(total.to_numpy(), ds.target, rtol=1e-12)
    assert truth.params["confound"] == "search"
    assert mmmjax.Truth.from_dict(truth.to_dict()) == truth
    # the true lift: zero for no change, and it rises with the spend change
    start, end = ds.dates[10], ds.dates[17]
    lifts = [truth.lift(ds, "search", start, end, d) for d in (-500.0, 0.0, 1000.0, 2000.0)]
    assert lifts[1] == 0.0 and lifts[0] < 0 < lifts[2] < lifts[3]
    with pytest.raises(ValueError, match="unknown channel"):
        mmmjax.simulate(n_periods=80, n_channels=3, confound="print")
    with pytest.raises(ValueError, match="confound_strength"):
        mmmjax.simulate(n_periods=80, n_channels=3, confound=0, confound_strength=-1)


def test_lift_tests_pull_a_confounded_channel_toward_the_truth():
    """An unobserved demand driver raises both search's spend and sales: without calibration
    the model credits search with the demand (true ROI far below its interval). Two honest lift
    tests (true lift of doubling-ish spend over 8 weeks, plus noise) move the ROI toward the
    truth and narrow its interval."""
    dataset, truth = mmmjax.simulate(
        n_periods=104, n_channels=3, n_controls=1, seed=0, confound=1, confound_strength=2.0
    )
    ch = dataset.channels[1]
    m = dataset.scales.spend[1]
    rng = np.random.default_rng(1)
    tests = []
    for a, b in ((20, 27), (60, 67)):
        start, end = dataset.dates[a], dataset.dates[b]
        lift = truth.lift(dataset, ch, start, end, 0.5 * m)
        se = 0.2 * 0.5 * m * 8  # an ROI standard error of 0.2
        tests.append(LiftTest(ch, start, end, 0.5 * m, lift + rng.normal(0, se), se))
    kw = dict(chains=2, draws=300, warmup=300, seed=0, progress=False, warn=False)
    spec = mmmjax.MMM()
    plain = mmmjax.roi(spec.fit(dataset, **kw)).loc[ch]
    calibrated_fit = spec.fit(dataset, lift_tests=tests, **kw)
    calibrated = mmmjax.roi(calibrated_fit).loc[ch]
    true = truth.roi[ch]
    assert plain.roi_low > true  # confounded: over-credited, the truth outside the interval
    assert abs(calibrated.roi_mean - true) < 0.5 * abs(plain.roi_mean - true)
    width = lambda r: r.roi_high - r.roi_low  # noqa: E731
    assert width(calibrated) < 0.7 * width(plain)
    assert calibrated_fit.lift_tests == tuple(tests)
    assert calibrated_fit.diagnostics()["divergences"] <= 5
    assert calibrated_fit.predict(kind="mean").shape == (600, dataset.n_periods)
    # the tests are arguments of the compiled program: new values of the same count reuse it
    moved = [dataclasses.replace(t, lift=1.1 * t.lift) for t in tests]
    assert spec.fit(dataset, lift_tests=moved, **kw).info["compiled"] is False


def test_lift_draws_is_the_implied_lift_per_draw_in_money(demo):
    dataset, _ = demo
    spec = mmmjax.MMM()
    draws = [_one_draw(spec, dataset, seed=s) for s in (1, 2, 3)]
    stacked = {k: np.stack([d[k] for d in draws]) for k in draws[0]}
    tests = (LiftTest("social", "2022-06-05", "2022-07-02", 800, 1, 1),)
    fit = fit_from_draws(spec, dataset, stacked, lift_tests=tests)
    got = mmmjax.insights.lift_draws(fit)
    assert got.shape == (3, 1)
    _, _, design = training_design(spec, dataset)
    for s, p in enumerate(draws):
        one = implied_lift(spec, jax.tree.map(jnp.asarray, p), jax.tree.map(jnp.asarray, design),
                           lift_data(tests, dataset))  # fmt: skip
        assert got[s, 0] == pytest.approx(float(one[0]) * dataset.scales.target, rel=1e-5)
    assert mmmjax.insights.lift_draws(fit_from_draws(spec, dataset, stacked)).shape == (3, 0)
