"""Refreshing a fit (mmmjax.inference.refresh); the next experiment is in test_experiment.py."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

import mmmjax
from mmmjax import cli
from mmmjax.inference.fit import fit_from_draws
from mmmjax.inference.refresh import check_extends, posterior_priors, rotate_season
from mmmjax.model.design import fourier_terms

S = 4000


def _data(n: int = 120):
    data, truth = mmmjax.simulate(n_periods=n, n_channels=2, seed=1, n_controls=1, seasonality=1)
    return data, truth


def _draws(spec, data, rng, roi_sd=(0.1, 0.1)):
    """Hand-made draws ``(S, ...)`` for every site of ``spec`` on ``data``."""
    C = data.n_channels
    return {
        "intercept": rng.normal(1.0, 0.01, S),
        "trend_slope": rng.normal(0.0, 0.01, S),
        "season": rng.normal([0.05, -0.02], 0.01, (S, 2)),
        "control_coef": rng.normal(0.03, 0.005, (S, 1)),
        "media_roi": np.exp(rng.normal(0.5, roi_sd, (S, C))),
        "alpha": rng.beta(20.0, 10.0, (S, C)),
        "half_saturation": np.exp(rng.normal(0.0, 0.1, (S, C))),
        "slope": np.exp(rng.normal(0.2, 0.25, (S, C))),
        "sigma": np.exp(rng.normal(np.log(0.05), 0.05, S)),
    }


def _fake_fit(n: int = 100, roi_sd=(0.1, 0.1)):
    data, _ = _data(120)
    spec = mmmjax.MMM(seasonality=1)
    old = data.slice(0, n)
    draws = _draws(spec, old, np.random.default_rng(0), roi_sd)
    return spec, data, fit_from_draws(spec, old, draws), draws


def test_posterior_priors_match_moments_by_support():
    _, data, fit, draws = _fake_fit()
    priors = posterior_priors(fit, data, widen=2.0)
    assert "intercept" not in priors and "trend_slope" not in priors  # the window's baseline
    roi = priors["media_roi"]
    assert roi.dist == "LogNormal"
    ratio = data.spend.mean(axis=0) / fit.scales.spend  # the old-scale normalisation
    want = np.log(draws["media_roi"]).mean(0) + np.log(ratio)
    np.testing.assert_allclose(roi.params["loc"], want, atol=1e-6)
    np.testing.assert_allclose(roi.params["scale"], 2 * np.log(draws["media_roi"]).std(0), 1e-6)
    a = priors["alpha"]
    assert a.dist == "Beta"
    mean = np.asarray(a.params["concentration1"]) / (
        np.asarray(a.params["concentration1"]) + np.asarray(a.params["concentration0"])
    )
    np.testing.assert_allclose(mean, draws["alpha"].mean(0), atol=1e-6)
    assert priors["control_coef"].dist == "Normal" and priors["sigma"].dist == "LogNormal"
    # slope's posterior (log sd 0.25) widened 2x would be vaguer than its own prior (0.3): capped
    np.testing.assert_allclose(priors["slope"].params["scale"], 0.3, rtol=0.05)
    # widen=1 is the plain posterior-as-prior
    plain = posterior_priors(fit, data, widen=1.0)["control_coef"]
    np.testing.assert_allclose(plain.params["scale"], draws["control_coef"].std(0), rtol=1e-6)
    with pytest.raises(ValueError, match="widen"):
        posterior_priors(fit, data, widen=0.5)


def test_season_rotation_keeps_the_yearly_curve():
    x = np.random.default_rng(0).normal(size=(5, 4))  # order 2
    shift, P = 7, 52.18
    i = np.arange(60)
    before = x @ fourier_terms(i + shift, P, 2).T
    after = rotate_season(x, shift, P) @ fourier_terms(i, P, 2).T
    np.testing.assert_allclose(after, before, atol=1e-10)


def test_check_extends_names_what_differs():
    data, _ = _data(120)
    old = data.slice(0, 100)
    assert check_extends(old, data) == 0
    assert check_extends(old, data.slice(10, 120)) == 10  # a rolling window
    with pytest.raises(mmmjax.DataError, match="no period after"):
        check_extends(old, data.slice(0, 100))
    with pytest.raises(mmmjax.DataError, match="after the previous fit's last date"):
        check_extends(old, data.slice(100, 120))
    with pytest.raises(mmmjax.DataError, match="before the previous fit's first date"):
        check_extends(data.slice(5, 100), data)
    frame = data.to_frame().rename(columns={data.channels[1]: "radio"})
    other = mmmjax.Dataset.from_frame(
        frame, date="date", target=data.target_name, channels=[data.channels[0], "radio"],
        controls=list(data.control_names),
    )  # fmt: skip
    with pytest.raises(mmmjax.DataError, match=r"channels .*missing \['search'\]; new \['radio'\]"):
        check_extends(old, other)


def test_provenance_saved_and_checked(tmp_path):
    fit = _fake_fit()[2]
    prov = {
        "first_date": "2021-01-03T00:00:00",
        "last_date": "2022-12-04T00:00:00",
        "n_periods": 100,
        "widen": 2.0,
        "roi": {"channel": fit.channels, "mean": [1.0, 2.0], "low": [0.5, 1.0], "high": [2, 3]},
    }
    fit = dataclasses.replace(fit, provenance=prov)
    fit.save(tmp_path / "f")
    back = mmmjax.load_fit(tmp_path / "f")
    assert back.provenance == prov
    moved = mmmjax.roi_changes(back)
    assert list(moved.index) == fit.channels
    np.testing.assert_allclose(moved["before_mean"], [1.0, 2.0])
    meta = json.loads((tmp_path / "f" / "fit.json").read_text())
    meta["refresh"]["roi"]["mean"] = [1.0]
    (tmp_path / "f" / "fit.json").write_text(json.dumps(meta))
    with pytest.raises(mmmjax.DataError, match=r"refresh\.roi\.mean"):
        mmmjax.load_fit(tmp_path / "f")


def test_cli_refresh_refuses_data_that_do_not_extend(tmp_path, capsys):
    _, data, fit, _ = _fake_fit()
    fit.save(tmp_path / "old")
    csv = tmp_path / "new.csv"
    data.slice(100, 120).to_frame().to_csv(csv, index=False)
    argv = ["fit", str(csv), "--date", "date", "--target", data.target_name, "--channels",
            ",".join(data.channels), "--controls", ",".join(data.control_names), "--out",
            str(tmp_path / "new"), "--refresh", str(tmp_path / "old")]  # fmt: skip
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "after the previous fit's last date" in err[0]
    assert not (tmp_path / "new").exists()


@pytest.mark.slow
def test_refresh_agrees_with_a_full_refit_where_the_data_dominate():
    """208 weekly periods, the first 150 fitted, then refreshed with all 208; a full refit on
    the 208 must agree with the refresh on each ROI mean within 4 Monte Carlo standard errors
    plus 0.35 posterior sd (the carried-over prior, widened 2x, holds about a quarter of the
    first 150 periods' information: it shifts the mean by a fraction of a posterior sd)."""
    data, _ = mmmjax.simulate(
        n_periods=208, n_channels=2, seed=3, noise=0.03, n_controls=1, seasonality=1
    )
    spec = mmmjax.MMM(seasonality=1)
    kw = dict(chains=2, draws=300, warmup=300, progress=False, seed=1, warn=False)
    old = spec.fit(data.slice(0, 150), **kw)
    new = old.refresh(data, **kw)
    full = spec.fit(data, **kw)
    assert new.scales == old.scales and new.provenance["n_periods"] == 150
    from mmmjax.insights import roi_draws

    r_new, r_full = roi_draws(new), roi_draws(full)
    import arviz as az

    def mcse(r):
        return np.asarray([az.mcse(r[:, c].reshape(2, -1)) for c in range(r.shape[1])])

    gap = np.abs(r_new.mean(0) - r_full.mean(0))
    margin = 4 * np.hypot(mcse(r_new), mcse(r_full)) + 0.35 * r_full.std(0)
    assert np.all(gap < margin), (gap, margin)
    moved = mmmjax.roi_changes(new)
    assert set(moved.columns) >= {"before_mean", "after_mean", "change"}
    from mmmjax.report import render_report

    html = render_report(new, experiments=pd.DataFrame())
    assert 'id="refresh"' in html and "What moved" in html
