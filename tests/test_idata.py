"""ArviZ on either line: ``Fit.idata`` is the installed ArviZ's own object and its functions
take it; the stored pointwise log-likelihood is the model's density of the target in money;
saved fits load under the other ArviZ line (with ``MMMJAX_OTHER_PYTHON``, as ``.ci/run`` sets).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import arviz as az
import numpy as np
import pytest
from scipy import stats

import mmmjax
from mmmjax.inference import idata as azc
from mmmjax.inference.fit import _target_log_likelihood, fit_from_draws
from mmmjax.plots import rank_counts

ROOT = Path(__file__).resolve().parents[1]


def test_fit_idata_is_the_installed_arviz_object(demo_fit):
    assert isinstance(demo_fit.idata, azc.IData)
    assert azc.ARVIZ_1 == (type(demo_fit.idata).__name__ == "DataTree")
    names = azc.group_names(demo_fit.idata)
    want = ["posterior", "sample_stats", "observed_data", "constant_data",
            "posterior_predictive", "log_likelihood", "prior", "prior_predictive"]  # fmt: skip
    assert set(want) <= set(names), names
    ll = demo_fit.idata.log_likelihood["target"]
    assert ll.dims == ("chain", "draw", "date") and ll.dtype == np.float64


def test_arviz_summary_plot_trace_loo_and_compare_take_fit_idata(demo_fit):
    idata = demo_fit.idata
    table = az.summary(idata, var_names=["media_roi", "sigma"])
    assert len(table) == len(demo_fit.channels) + 1
    assert {"mean", "ess_bulk", "r_hat"} <= set(table.columns)
    np.testing.assert_allclose(
        table["mean"].to_numpy()[-1], float(idata.posterior["sigma"].mean()), rtol=0.01
    )
    assert len(demo_fit.summary()) >= len(table)  # Fit.summary goes through the same call
    with warnings.catch_warnings():
        # 0.x and 1.x warn when some Pareto k are high; that is a verdict on the model, not on us
        warnings.simplefilter("ignore", UserWarning)
        loo = az.loo(idata, pointwise=True)
        elpd = float(loo.elpd if azc.ARVIZ_1 else loo["elpd_loo"])  # 1.x: an ELPDData object
        # below the in-sample log predictive density by the effective number of parameters
        ll = idata.log_likelihood["target"].values.reshape(demo_fit.n_draws, -1)
        p_loo = _log_mean_exp(ll).sum() - elpd
        n_params = sum(int(np.prod(v.shape[2:])) for v in idata.posterior.data_vars.values())
        assert 0 < p_loo < n_params
        table = az.compare({"a": idata, "b": idata})
    assert list(table.index) and float(np.abs(table["elpd_diff"]).max()) < 1e-9
    fig_or_pc = az.plot_trace(idata, var_names=["sigma"])
    assert fig_or_pc is not None
    import matplotlib.pyplot as plt

    plt.close("all")


def _log_mean_exp(ll: np.ndarray) -> np.ndarray:
    m = ll.max(0)
    return m + np.log(np.exp(ll - m).mean(0))


def test_stored_log_likelihood_is_the_normal_density_of_the_target_in_money(demo, demo_fit):
    dataset, _ = demo
    s = demo_fit.scales.target
    mu_money = demo_fit.predict(kind="mean")  # (S, T)
    sigma_money = demo_fit.draws()["sigma"][:, None] * s
    want = stats.norm.logpdf(dataset.target, loc=mu_money, scale=sigma_money)
    got = demo_fit.idata.log_likelihood["target"].values.reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("likelihood", ["normal", "student_t"])
@pytest.mark.parametrize("form", ["additive", "multiplicative"])
def test_pointwise_log_likelihood_in_money_for_every_form(demo, likelihood, form):
    dataset, _ = demo
    spec = mmmjax.MMM(form=form, likelihood=likelihood, seasonality=1)
    prior = spec.sample_prior_predictive(dataset, draws=40, seed=2).prior
    fit = fit_from_draws(spec, dataset, {k: prior[k].values[0] for k in prior.data_vars})
    mu, draws, s = fit.components().mu.astype(np.float64), fit.draws(), fit.scales.target
    got = _target_log_likelihood(spec, mu, draws, dataset, fit.scales)
    y, sigma = np.asarray(dataset.target, np.float64), draws["sigma"][:, None].astype(np.float64)
    if form == "multiplicative" and likelihood == "normal":  # y / s is log-normal
        want = stats.lognorm.logpdf(y, s=sigma, scale=s * np.exp(mu))
    elif form == "multiplicative":  # log(y / s) ~ t; the Jacobian of log is 1 / y
        want = stats.t.logpdf(np.log(y / s), draws["nu"][:, None], mu, sigma) - np.log(y)
    elif likelihood == "normal":
        want = stats.norm.logpdf(y, loc=mu * s, scale=sigma * s)
    else:
        want = stats.t.logpdf(y, draws["nu"][:, None], loc=mu * s, scale=sigma * s)
    assert got.shape == (40, dataset.n_periods)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_groups_are_built_listed_added_and_read_alike(demo_fit):
    bare = azc.from_datasets({"posterior": demo_fit.idata.posterior})
    assert isinstance(bare, azc.IData) and azc.group_names(bare) == ["posterior"]
    azc.add_groups(bare, {"posterior_predictive": {"x": np.ones((2, 250, 3))}}, dims={"x": ["k"]})
    assert azc.group_names(bare) == ["posterior", "posterior_predictive"]
    assert bare.posterior_predictive["x"].dims == ("chain", "draw", "k")
    assert azc.group(bare, "missing") is None
    names = [f"c{i}" for i in range(len(demo_fit.channels))]
    relabelled = azc.assign_coords(demo_fit.idata, {"channel": names})
    assert azc.group_names(relabelled) == azc.group_names(demo_fit.idata)
    assert list(relabelled.posterior["channel"].values) == names
    assert list(relabelled.constant_data["channel"].values) == names
    assert list(demo_fit.idata.posterior["channel"].values) == demo_fit.channels  # unchanged
    copy = azc.deep_copy(bare)
    copy.posterior["sigma"][0, 0] = -1.0
    assert float(bare.posterior["sigma"][0, 0]) > 0  # the copy shares no array
    ds = azc.group(bare, "posterior")
    assert ds.equals(azc.group(demo_fit.idata, "posterior"))
    worst = azc.ess(ds, method="bulk")["sigma"]
    assert worst.ndim == 0 and 20 < float(worst) <= 2 * 500


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rank_counts_are_flat_for_mixed_chains_and_pile_up_for_a_stuck_one(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((4, 2000))
    counts = rank_counts(x, bins=20)
    assert counts.shape == (4, 20) and (counts.sum(1) == 2000).all()
    # each bar ~ Binomial(2000, 1/20): mean 100, sd < 10; 5 sd margins
    assert np.abs(counts - 100).max() < 50
    x[0] += 3.0  # chain 0 sits apart: its ranks pile at the top
    counts = rank_counts(x, bins=20)
    assert counts[0, -5:].sum() > 0.8 * 2000 and counts[0, :10].sum() < 0.05 * 2000


@pytest.mark.parametrize("first", ["arviz", "mmmjax"])
def test_numpyro_is_whole_whichever_of_arviz_and_mmmjax_comes_first(first):
    """ArviZ 1.x registers a lazy numpyro; mmmjax's own imports must still load all of it."""
    order = "import arviz; import mmmjax" if first == "arviz" else "import mmmjax; import arviz"
    code = (
        f"{order}; import mmmjax.model.priors, mmmjax.inference.sampling, mmmjax.inference.fit; "
        "import numpyro.distributions as d; assert hasattr(d, 'distribution'), 'lazy numpyro'"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=300, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]


_OTHER = os.environ.get("MMMJAX_OTHER_PYTHON")

_RESAVE = """
import json, sys
import arviz
import mmmjax
fit = mmmjax.load_fit(sys.argv[1])
fit.save(sys.argv[2])
print(json.dumps({"arviz": arviz.__version__, "type": type(fit.idata).__name__}))
"""


@pytest.mark.skipif(
    not _OTHER, reason="MMMJAX_OTHER_PYTHON (a Python with the other ArviZ line) is not set"
)
def test_a_saved_fit_loads_exactly_under_the_other_arviz_line(tmp_path, demo_fit):
    """This line writes, the other reads and writes again, this line reads back: exact."""
    first, second = demo_fit.save(tmp_path / "here"), tmp_path / "there"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [_OTHER, "-c", _RESAVE, str(first), str(second)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    other = json.loads(out.stdout.strip().splitlines()[-1])
    assert (int(other["arviz"].split(".")[0]) >= 1) != azc.ARVIZ_1, (other, az.__version__)
    back = mmmjax.load_fit(second)
    assert isinstance(back.idata, azc.IData)
    assert back.dataset == demo_fit.dataset and back.spec == demo_fit.spec
    assert sorted(azc.group_names(back.idata)) == sorted(azc.group_names(demo_fit.idata))
    for name in azc.group_names(demo_fit.idata):
        a, b = azc.group(back.idata, name), azc.group(demo_fit.idata, name)
        assert a.equals(b), name
        for var in b.variables:
            assert a[var].dtype == b[var].dtype, (name, var)
    np.testing.assert_array_equal(back.predict(kind="mean"), demo_fit.predict(kind="mean"))
    assert back.diagnostics() == demo_fit.diagnostics()
