"""The model specification, priors and mean function, checked against a NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest

import mmmjax
from mmmjax.inference.fit import fit_from_draws
from mmmjax.model import ADSTOCK_PARAMS, SATURATION_PARAMS, sampled_sites
from mmmjax.model.priors import DEFAULT_PRIORS, Prior, resolve_priors


def test_spec_rejects_unknown_options():
    with pytest.raises(ValueError, match="adstock"):
        mmmjax.MMM(adstock="exponential")
    with pytest.raises(ValueError, match="saturation"):
        mmmjax.MMM(saturation="sigmoid")
    with pytest.raises(ValueError, match="trend"):
        mmmjax.MMM(trend="quadratic")
    with pytest.raises(ValueError, match="l_max"):
        mmmjax.MMM(l_max=0)


def test_spec_round_trips_through_json_with_priors():
    import json

    spec = mmmjax.MMM(
        adstock="delayed",
        saturation="logistic",
        likelihood="student_t",
        priors={
            "sigma": Prior("HalfNormal", scale=0.1),
            "media_roi": {"tv": Prior("LogNormal", loc=1.0, scale=0.2)},
        },
    )
    back = mmmjax.MMM.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert back == spec
    assert back.to_dict() == spec.to_dict()


def test_every_default_prior_is_documented_and_builds():
    for name, (prior, why) in DEFAULT_PRIORS.items():
        assert len(why) > 20, name
        d = prior.build()
        assert np.isfinite(float(d.log_prob(d.mean))), name


def test_per_channel_prior_override_expands_to_vector():
    channels = ["tv", "search", "radio"]
    priors = resolve_priors(
        {"media_roi": {"search": Prior("LogNormal", loc=1.0, scale=0.3)}}, channels
    )
    p = priors["media_roi"]
    assert p.dist == "LogNormal"
    assert p.params["loc"] == [0.0, 1.0, 0.0]
    assert p.params["scale"] == [1.0, 0.3, 1.0]
    with pytest.raises(ValueError, match="unknown channels"):
        resolve_priors({"media_roi": {"print": Prior("LogNormal", loc=0, scale=1)}}, channels)
    with pytest.raises(ValueError, match="one distribution family"):
        resolve_priors({"media_roi": {"tv": Prior("HalfNormal", scale=1.0)}}, channels)
    with pytest.raises(ValueError, match="unknown prior"):
        resolve_priors({"beta": Prior("Normal", loc=0, scale=1)}, channels)


# --- the mean function against an independent float64 reference ------------------------------
def _ref_geometric(x, alpha):
    y = np.zeros_like(x)
    for t in range(x.shape[0]):
        y[t] = x[t] + (alpha * y[t - 1] if t else 0.0)
    return (1 - alpha) * y


def _ref_hill(x, k, s):
    return np.where(x > 0, x**s / (x**s + k**s), 0.0)


def _random_draws(rng, spec, design_sites, C, K, S):
    draws = {
        "intercept": rng.normal(0.6, 0.1, S),
        "trend_slope": rng.normal(0, 0.1, S),
        "season": rng.normal(0, 0.05, (S, 4)),
        "control_coef": rng.normal(0, 0.05, (S, K)),
        "media_roi": rng.lognormal(0, 0.5, (S, C)),
        "alpha": rng.uniform(0.1, 0.8, (S, C)),
        "half_saturation": rng.lognormal(0, 0.3, (S, C)),
        "slope": rng.uniform(0.7, 2.5, (S, C)),
        "sigma": rng.uniform(0.02, 0.1, S),
    }
    assert set(design_sites) == set(draws)
    return draws


def test_components_match_numpy_reference(demo):
    dataset, _ = demo
    spec = mmmjax.MMM()
    rng = np.random.default_rng(0)
    C, K, S = dataset.n_channels, dataset.n_controls, 3
    design = mmmjax.inference.fit.build_design(
        dataset,
        dataset.scales,
        mmmjax.inference.fit.TimeAxis.of(dataset),
        seasonality=2,
        changepoints=0,
    )
    draws = _random_draws(rng, spec, sampled_sites(spec, design), C, K, S)
    fit = fit_from_draws(spec, dataset, draws)
    comp = fit.components()

    T = dataset.n_periods
    x = dataset.spend / dataset.spend.mean(0)
    t = np.arange(T) / (T - 1)
    k = np.arange(1, 3)
    ang = 2 * np.pi * np.arange(T)[:, None] * k / dataset.periods_per_year
    fourier = np.concatenate([np.sin(ang), np.cos(ang)], axis=1)
    z = (dataset.controls - dataset.controls.mean(0)) / dataset.controls.std(0)
    for s in range(S):
        media = np.zeros((T, C))
        for c in range(C):
            a = _ref_geometric(x[:, c], draws["alpha"][s, c])
            hk, hs = draws["half_saturation"][s, c], draws["slope"][s, c]
            effect = draws["media_roi"][s, c] * dataset.spend[:, c].mean() / dataset.target.mean()
            # normalised by the training-window mean shape: media_roi is the window ROI
            media[:, c] = effect * _ref_hill(a, hk, hs) / _ref_hill(a, hk, hs).mean()
        # the sampled intercept is the mean level: trend and media are centred on the window
        mu = (
            draws["intercept"][s]
            + draws["trend_slope"][s] * (t - 0.5)
            + fourier @ draws["season"][s]
            + z @ draws["control_coef"][s]
            + (media - media.mean(0)).sum(1)
        )
        np.testing.assert_allclose(comp.media[s], media, rtol=2e-4, atol=1e-6)
        np.testing.assert_allclose(comp.mu[s], mu, rtol=2e-4, atol=1e-5)
    # predictions are in money: the mean function times the mean target
    np.testing.assert_allclose(fit.predict(kind="mean"), comp.mu * dataset.target.mean(), rtol=1e-5)


@pytest.mark.parametrize(
    ("adstock", "saturation"),
    [("geometric", "hill"), ("delayed", "logistic"), ("weibull_pdf", "michaelis_menten"),
     ("weibull_cdf", "tanh")],
)  # fmt: skip
def test_window_roi_is_the_sampled_media_roi(demo, adstock, saturation):
    """Additive form: contribution over the window / spend over the window == media_roi."""
    dataset, _ = demo
    spec = mmmjax.MMM(adstock=adstock, saturation=saturation)
    idata = spec.sample_prior_predictive(dataset, draws=200, seed=3)
    draws = {k: idata.prior[k].values[0] for k in idata.prior.data_vars}
    fit = fit_from_draws(spec, dataset, draws)
    table = mmmjax.roi(fit)
    r = mmmjax.insights.roi_draws(fit)
    np.testing.assert_allclose(r, draws["media_roi"], rtol=1e-5)
    np.testing.assert_allclose(table.roi_mean, draws["media_roi"].mean(0), rtol=1e-5)
    np.testing.assert_allclose(
        table.roi_high, np.quantile(draws["media_roi"], 0.97, axis=0), rtol=1e-5
    )


def test_multiplicative_window_roi_is_close_to_media_roi(demo):
    """Multiplicative form: the same normalisation on the log scale; ROI near, not equal."""
    dataset, _ = demo
    spec = mmmjax.MMM(form="multiplicative")
    idata = spec.sample_prior_predictive(dataset, draws=200, seed=3)
    draws = {k: idata.prior[k].values[0] for k in idata.prior.data_vars}
    draws["media_roi"] = np.clip(draws["media_roi"], 0.2, 3.0)  # media a modest share
    draws["intercept"] = np.random.default_rng(0).normal(0.0, 0.05, 200)  # level near the data's
    r = mmmjax.insights.roi_draws(fit_from_draws(spec, dataset, draws))
    assert np.all(np.isfinite(r)) and np.all(r > 0)
    assert np.median(np.abs(np.log(r / draws["media_roi"]))) < 0.15


@pytest.mark.parametrize("adstock", list(ADSTOCK_PARAMS))
@pytest.mark.parametrize("saturation", list(SATURATION_PARAMS))
def test_every_kernel_combination_gives_finite_prior_predictive(demo, adstock, saturation):
    dataset, _ = demo
    spec = mmmjax.MMM(adstock=adstock, saturation=saturation, trend="piecewise")
    idata = spec.sample_prior_predictive(dataset, draws=50, seed=1)
    y = idata.prior_predictive["target"].values
    assert y.shape == (1, 50, dataset.n_periods)
    assert np.all(np.isfinite(y))
    assert set(ADSTOCK_PARAMS[adstock]) <= set(idata.prior.data_vars)
    assert set(SATURATION_PARAMS[saturation]) <= set(idata.prior.data_vars)


def test_prior_predictive_covers_the_data_scale(demo):
    dataset, _ = demo
    idata = mmmjax.MMM().sample_prior_predictive(dataset, draws=400, seed=0)
    y = idata.prior_predictive["target"].values.reshape(400, -1)
    lo, hi = np.quantile(y, [0.03, 0.97], axis=0)
    inside = np.mean((dataset.target >= lo) & (dataset.target <= hi))
    assert inside > 0.95
    # ... without being absurdly wide: the prior's central 94% stays within 10x the data scale
    assert np.median(hi - lo) < 10 * dataset.target.mean()


def test_every_public_name_resolves():
    """``__all__`` and ``_LAZY`` agree and ``dir(mmmjax)`` lists every public name; each is the
    object the module ``_LAZY`` names defines (and lists in its ``__all__``; modules read from
    ``_LAZY``, not hard-coded), a class, function or module with a docstring; unknown names
    raise AttributeError; and every
    ``mmmjax.X`` the API contract names (../shared/API.md, when present) is public."""
    import importlib
    import inspect
    import re
    from pathlib import Path

    from mmmjax import _LAZY

    assert sorted(_LAZY) == mmmjax.__all__
    listed = dir(mmmjax)
    assert not set(mmmjax.__all__) - set(listed), "dir(mmmjax) misses public names"
    for name in mmmjax.__all__:
        obj = getattr(mmmjax, name)
        mod = importlib.import_module(_LAZY[name])
        if mod.__name__.endswith("." + name):
            assert obj is mod, name
        else:
            assert obj is getattr(mod, name), name
            assert name in getattr(mod, "__all__", [name]), f"{name} not in {mod.__name__}.__all__"
        assert inspect.ismodule(obj) or inspect.isclass(obj) or callable(obj), name
        assert (inspect.getdoc(obj) or "").strip(), f"{name} has no docstring"
    with pytest.raises(AttributeError, match="no_such_name"):
        mmmjax.no_such_name  # noqa: B018
    contract = Path(__file__).resolve().parents[2] / "shared" / "API.md"
    if contract.is_file():
        named = set(re.findall(r"`mmmjax\.([A-Za-z_]\w*)", contract.read_text()))
        missing = sorted(n for n in named if not hasattr(mmmjax, n))
        assert not missing, f"API.md names mmmjax.{missing} but the package does not export them"
