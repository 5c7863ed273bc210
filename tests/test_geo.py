"""Geo panels: data validation, the batched geo kernels against a per-geo NumPy loop, the
simulator's truth, recovery on a simulated 20-geo panel (against a national-only fit of the
summed data), insights per geo and national, and the save/load round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mmmjax
from mmmjax import geo
from mmmjax.errors import DataError
from mmmjax.inference.fit import load_fit as load_national_fit
from mmmjax.model.geo import GeoMMM, build_geo_design, derived, geo_components, site_shapes

# ----------------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------------
CHANNELS = ["tv", "search"]


def _long(n_geos: int = 3, n_periods: int = 30, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2021-01-03", periods=n_periods, freq="W")
    rows = []
    for g in range(n_geos):
        for d in dates:
            rows.append({
                "region": f"r{g}", "week": d.strftime("%Y-%m-%d"),
                "sales": 1000.0 * (g + 1) + rng.normal(0, 50), "tv": rng.uniform(0, 100),
                "search": rng.uniform(0, 50), "price": rng.normal(), "pop": 1e5 * (g + 1),
            })  # fmt: skip
    return pd.DataFrame(rows)


def _panel(df: pd.DataFrame, **kw) -> geo.GeoDataset:
    args = dict(geo="region", date="week", target="sales", channels=CHANNELS,
                controls=["price"], population="pop")  # fmt: skip
    args.update(kw)
    return geo.GeoDataset.from_frame(df, **args)


def test_from_frame_shapes_order_and_views():
    df = _long()
    panel = _panel(df)
    assert panel.spend.shape == (3, 30, 2) and panel.target.shape == (3, 30)
    assert panel.controls.shape == (3, 30, 1) and panel.population.tolist() == [1e5, 2e5, 3e5]
    assert not panel.spend.flags.writeable
    # rows in any order: geos keep their order of first appearance, dates are sorted
    shuffled = df.sample(frac=1.0, random_state=1)
    mixed = _panel(shuffled)
    assert mixed.geos == list(pd.unique(shuffled.region))
    assert all(mixed.geo(g) == panel.geo(g) for g in panel.geos)
    one = panel.geo("r1")
    expected = df[df.region == "r1"].sort_values("week")
    np.testing.assert_array_equal(one.target, expected.sales.to_numpy())
    nat = panel.national()
    np.testing.assert_allclose(nat.spend, panel.spend.sum(axis=0))
    np.testing.assert_allclose(nat.target, panel.target.sum(axis=0))
    w = panel.population / panel.population.sum()
    np.testing.assert_allclose(nat.controls[:, 0], (w[:, None] * panel.controls[:, :, 0]).sum(0))
    back = geo.GeoDataset.from_frame(panel.to_frame(), geo="region", date="week",
                                     target="sales", channels=CHANNELS, controls=["price"],
                                     population="pop")  # fmt: skip
    assert back == panel
    with pytest.raises(KeyError, match="r9"):
        panel.geo("r9")


def test_scales_per_head():
    panel = _panel(_long())
    s = panel.scales
    np.testing.assert_allclose(s.target, panel.target.mean(axis=1))
    np.testing.assert_allclose(s.unit, panel.spend.sum(axis=(0, 1)) / (30 * 6e5))
    # a geo's scaled spend averages its per-head spend over the national per-head level
    x = panel.spend / s.spend_unit[:, None, :]
    np.testing.assert_allclose((x * s.size[:, None, None]).sum((0, 1)) / s.size.sum() / 30, 1.0)
    # without population the geo's mean target is its size
    no_pop = _panel(_long(), population=None)
    np.testing.assert_allclose(no_pop.scales.size, no_pop.target.mean(axis=1))
    assert geo.GeoScales.from_dict(s.to_dict()) == s


@pytest.mark.parametrize(
    "edit, match",
    [
        # a geo with missing weeks is named, with the date and the geo that has it
        (
            lambda d: d.drop(index=d.index[(d.region == "r1") & (d.week == "2021-01-03")]),
            r"geo 'r1': column 'week': 1 date\(s\) missing, first 2021-01-03 \(geo 'r0' has it",
        ),
        (
            lambda d: d.drop(index=d.index[(d.region == "r2") & (d.week == "2021-03-07")]),
            r"geo 'r2': column 'week': gap in weekly dates after 2021-02-28 in row \d+ "
            r"\(df.iloc\[\d+\]\)",
        ),
        (
            lambda d: pd.concat([d, d.iloc[[35]]]),
            r"geo 'r1': column 'week': duplicate date 2021-02-07 in rows 35 and 90 "
            r"\(df.iloc\[35\] and df.iloc\[90\]\)",
        ),
        (
            lambda d: d.assign(tv=np.where(d.index == 40, -5.0, d.tv)),
            r"geo 'r1': column 'tv', row 40 \(df.iloc\[40\]\), date 2021-03-14: negative spend -5",
        ),
        (
            lambda d: d.assign(sales=d.sales.astype(object).where(d.index != 65, "abc")),
            r"geo 'r2': column 'sales', row 65 \(df.iloc\[65\]\), date 2021-02-07: 'abc' is not a "
            r"number",
        ),
        (
            lambda d: d.assign(pop=np.where(d.index == 50, 7.0, d["pop"])),
            r"geo 'r1': column 'pop', row 50 \(df.iloc\[50\]\), date 2021-05-23: population 7 "
            r"differs from 200000 in row 30 \(df.iloc\[30\]\)",
        ),
        (
            lambda d: d.assign(pop=np.where(d.region == "r0", 0.0, d["pop"])),
            r"geo 'r0': column 'pop', row 0 \(df.iloc\[0\]\), date 2021-01-03: population 0; it "
            r"must be positive",
        ),
        (
            lambda d: d.assign(sales=np.where(d.region == "r2", 5.0, d.sales)),
            r"geo 'r2': column 'sales': the target is constant",
        ),
        (
            lambda d: d.assign(region=d.region.where(d.index != 7, None)),
            r"column 'region', row 7 \(df.iloc\[7\]\): the geo is missing",
        ),
        (
            lambda d: d.assign(week=d.week.where(d.index != 12, "not a date")),
            r"geo 'r0': column 'week', row 12 \(df.iloc\[12\]\): cannot parse date 'not a date'",
        ),
        (lambda d: d.drop(columns="search"), r"column 'search' \(channel\) not found"),
        (lambda d: d.assign(search=0.0), r"column 'search': no spend in any geo"),
    ],
)
def test_validation_names_geo_column_row_and_date(edit, match):
    with pytest.raises(DataError, match=match):
        _panel(edit(_long()))


def test_geo_starting_late_and_too_few_periods():
    df = _long()
    late = df[~((df.region == "r0") & (df.week < "2021-02-01"))]
    with pytest.raises(DataError, match=r"geo 'r0': column 'week': 5 date\(s\) missing, first "
                       r"2021-01-03 \(geo 'r1' has it, row 25 \(df.iloc\[25\]\)\)"):  # fmt: skip
        _panel(late)
    with pytest.raises(DataError, match=r"geo 'r0': column 'week': only 10 periods"):
        _panel(_long(n_periods=10))


def test_from_csv(tmp_path):
    path = tmp_path / "panel.csv"
    _long().to_csv(path, index=False)
    assert geo.GeoDataset.from_csv(path, geo="region", date="week", target="sales",
                                   channels=CHANNELS) == _panel(_long(), controls=(),
                                                                population=None)  # fmt: skip
    with pytest.raises(DataError, match="file not found"):
        geo.GeoDataset.from_csv(tmp_path / "nope.csv", geo="g", date="d", target="t",
                                channels=["c"])  # fmt: skip


# ----------------------------------------------------------------------------------------------
# simulator
# ----------------------------------------------------------------------------------------------
def test_simulate_geo_truth_is_self_consistent():
    panel, truth = mmmjax.simulate_geo(n_geos=6, n_periods=80, n_channels=3, seed=3)
    np.testing.assert_allclose(
        truth.contributions.sum(-1) + truth.baseline + truth.noise, panel.target, rtol=1e-12
    )
    spend = panel.spend.sum(axis=1)
    np.testing.assert_allclose(truth.roi.to_numpy(), truth.contributions.sum(1) / spend)
    np.testing.assert_allclose(
        truth.national_roi, truth.contributions.sum((0, 1)) / spend.sum(0), rtol=1e-12
    )
    assert list(truth.roi.index) == panel.geos and list(truth.roi.columns) == panel.channels
    # geos differ in size and in spend per head
    assert panel.population.max() / panel.population.min() > 2
    per_head = panel.spend.mean(1) / panel.population[:, None]
    assert np.all(per_head.max(0) / per_head.min(0) > 1.2)
    again, _ = mmmjax.simulate_geo(n_geos=6, n_periods=80, n_channels=3, seed=3)
    assert again == panel


# ----------------------------------------------------------------------------------------------
# the batched kernels against a per-geo float64 NumPy loop
# ----------------------------------------------------------------------------------------------
def _reference(params, design) -> tuple[np.ndarray, np.ndarray]:
    """``mu`` ``(G, T)`` and media ``(G, T, C)`` by explicit loops over geos, time, channels."""
    x = np.asarray(design.spend, np.float64)
    G, T, C = x.shape
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    t = np.asarray(design.t, np.float64)
    fourier = np.asarray(design.fourier, np.float64)
    mu = np.zeros((G, T))
    media = np.zeros((G, T, C))
    for g in range(G):
        for c in range(C):
            a, k, s = p["alpha"][c], p["half_saturation"][c], p["slope"][c]
            level, shape = 0.0, np.zeros(T)
            for i in range(T):
                level = x[g, i, c] + a * level
                v = (1 - a) * level
                shape[i] = v**s / (v**s + k**s) if v > 0 else 0.0
            roi = np.exp(p["roi_mu"][c] + p["roi_tau"][c] * p["roi_z"][g, c])
            scale = roi * design.roi_to_effect[g, c] / shape.mean()
            media[g, :, c] = scale * shape
            mu[g] += scale * (shape - shape.mean())
        slope = p["trend_mu"] + p["trend_tau"] * p["trend_z"][g]
        season = p["season_mu"] + p["season_tau"] * p["season_z"][g]
        coef = p["control_mu"] + p["control_tau"] * p["control_z"][g]
        for i in range(T):
            mu[g, i] += p["intercept"][g] + slope * (t[i] - 0.5) + fourier[i] @ season
            mu[g, i] += np.asarray(design.controls[g, i], np.float64) @ coef
    return mu, media


def test_geo_kernels_match_per_geo_numpy_loop():
    panel, _ = mmmjax.simulate_geo(n_geos=4, n_periods=40, n_channels=3, seed=2)
    spec = GeoMMM()
    design = build_geo_design(panel, panel.scales, _axis(panel), seasonality=2, changepoints=0)
    rng = np.random.default_rng(0)
    params = {}
    for name, shape in site_shapes(spec.model, design).items():
        params[name] = rng.uniform(0.2, 0.8, shape).astype(np.float32)
        if name.endswith("_z") or name.endswith("_mu"):
            params[name] = rng.normal(0, 0.3, shape).astype(np.float32)
    params["intercept"] = np.ones(4, np.float32)
    comp = geo_components(spec.model, derived(params), design)
    mu, media = _reference(params, design)
    np.testing.assert_allclose(np.asarray(comp.mu), mu, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(np.asarray(comp.media), media, rtol=2e-4, atol=2e-6)
    parts = comp.intercept + comp.trend + comp.seasonality + comp.controls + comp.media.sum(-1)
    np.testing.assert_allclose(np.asarray(parts), np.asarray(comp.mu), rtol=1e-5)
    # window ROI is media_roi exactly: sum_t media * target_scale / spend over the window
    roi = derived(params)["media_roi"]
    money = np.asarray(comp.media, np.float64).sum(1) * panel.scales.target[:, None]
    np.testing.assert_allclose(money / panel.spend.sum(1), roi, rtol=1e-4)


def _axis(panel):
    from mmmjax.model.design import TimeAxis

    return TimeAxis(panel.dates[0], 7.0, panel.n_periods, panel.periods_per_year)


# ----------------------------------------------------------------------------------------------
# fitting: recovery on a simulated 20-geo panel, against a national-only fit of the summed data
# ----------------------------------------------------------------------------------------------
RECOVERY = dict(n_geos=20, n_periods=104, n_channels=3, seed=1)
SAMPLER = dict(chains=2, draws=250, warmup=250, seed=0, progress=False, warn=False)


@pytest.fixture(scope="module")
def recovery():
    """``(panel, truth, geo fit, national-only fit of panel.national())``."""
    panel, truth = mmmjax.simulate_geo(**RECOVERY)
    fit = mmmjax.GeoMMM().fit(panel, **SAMPLER)
    national = mmmjax.MMM().fit(panel.national(), **SAMPLER)
    return panel, truth, fit, national


@pytest.mark.slow
def test_geo_roi_recovered_and_national_interval_narrower(recovery):
    _, truth, fit, national = recovery
    d = fit.diagnostics()
    assert d["max_r_hat"] < 1.1 and d["divergences"] <= 5, d
    per_geo = geo.roi(fit, by="geo")
    true = truth.roi.stack().to_numpy()  # (geo, channel) order, as the MultiIndex
    inside = (true >= per_geo.roi_low.to_numpy()) & (true <= per_geo.roi_high.to_numpy())
    assert inside.mean() >= 0.8, inside.mean()
    pooled = geo.roi(fit, by="national")
    alone = mmmjax.roi(national)
    t = truth.national_roi.to_numpy()
    # the true national ROI within 3 posterior sd of the mean, not inside the 94% interval:
    # channel 0's truth sits 3-14% of that interval's width from its lower end over sampler
    # seeds 0-2, closer than the Monte Carlo error of a 3% quantile (about 5% of the width)
    draws = geo.insights.roi_draws(fit, by="national")  # (S, C)
    z = (draws.mean(0) - t) / draws.std(0)
    assert np.all(np.abs(z) < 3), z
    width_geo = (pooled.roi_high - pooled.roi_low).to_numpy()
    width_alone = (alone.roi_high - alone.roi_low).to_numpy()
    # every channel's national ROI is pinned down at least twice as tightly by the geo model
    assert np.all(width_geo < 0.5 * width_alone), (width_geo, width_alone)


@pytest.mark.slow
def test_idata_and_predictions(recovery):
    panel, truth, fit, _ = recovery
    post = fit.idata.posterior
    assert post["media_roi"].dims == ("chain", "draw", "geo", "channel")
    assert list(post["geo"].values) == panel.geos
    assert fit.idata.observed_data["target"].dims == ("geo", "date")
    assert fit.idata.posterior_predictive["target"].shape == (2, 250, 20, 104)
    mean = fit.predict(kind="mean")
    assert mean.shape == (500, 20, 104)
    # the fitted mean tracks the true noise-free target far more closely than the noise
    clean = truth.baseline + truth.contributions.sum(-1)
    rmse = np.sqrt(((mean.mean(0) - clean) ** 2).mean(1))
    assert np.all(rmse < 0.5 * truth.params["sigma"]), rmse / truth.params["sigma"]
    ppc = fit.idata.posterior_predictive["target"].values.reshape(500, 20, 104)
    lo, hi = np.quantile(ppc, [0.03, 0.97], axis=0)
    assert 0.85 < np.mean((panel.target >= lo) & (panel.target <= hi)) < 0.995
    assert set(fit.diagnostics()) >= {"max_r_hat", "min_ess_bulk", "min_ess_tail", "divergences"}
    # pointwise log-likelihood: each geo's normal density of the target in money
    ll = fit.idata.log_likelihood["target"]
    assert ll.dims == ("chain", "draw", "geo", "date") and ll.dtype == np.float64
    s = fit.scales.target[:, None]
    want = stats.norm.logpdf(panel.target, loc=mean, scale=fit.draws()["sigma"][:, :, None] * s)
    np.testing.assert_allclose(ll.values.reshape(want.shape), want, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_insights_per_geo_and_national(recovery):
    panel, _, fit, _ = recovery
    S, G, T, C = 500, 20, 104, 3
    # window ROI per geo is the model's media_roi (the normalisation makes it exact)
    r = geo.roi_draws(fit, by="geo")
    np.testing.assert_allclose(r, fit.draws()["media_roi"], rtol=2e-3)
    # national ROI: sum of contributions over sum of spend
    parts = geo.contributions(fit, by="geo")
    assert parts.dims == ("draw", "geo", "date", "component") and parts.shape == (S, G, T, 5 + C)
    nat_parts = geo.contributions(fit, by="national")
    np.testing.assert_allclose(nat_parts.values, parts.sum("geo").values, rtol=1e-9)
    media = parts.sel(component=panel.channels).sum("date").values  # (S, G, C)
    np.testing.assert_allclose(
        geo.roi_draws(fit, by="national"), media.sum(1) / panel.spend.sum((0, 1)), rtol=1e-4
    )
    np.testing.assert_allclose(
        parts.sum("component").values, fit.predict(kind="mean"), rtol=1e-4, atol=1e-3
    )
    table = geo.roi(fit, by="geo")
    assert table.index.names == ["geo", "channel"] and len(table) == G * C
    assert list(geo.roi(fit).index) == panel.channels
    # curves: the nation is the sum of its geos at the geos' spend shares
    levels = np.linspace(0.0, 2.0, 5)[:, None] * panel.spend.sum(0).mean(0)  # (5, C) national
    nat = geo.response_curves(fit, levels)
    assert nat.shape == (S, 5, C)
    shares = geo.insights.spend_shares(fit)
    per_geo = geo.response_curves(fit, shares[:, None, :] * levels[None], by="geo")
    assert per_geo.shape == (S, G, 5, C)
    np.testing.assert_allclose(nat, per_geo.sum(1), rtol=1e-5)
    assert np.all(nat[:, 0] == 0) and np.all(np.diff(nat.mean(0), axis=0) > 0)
    # marginal ROI: the derivative of the national curve at the national mean spend
    m = geo.marginal_roi(fit, by="national")
    mean_spend = panel.spend.sum(0).mean(0)
    h = 1e-2 * mean_spend
    fd = (geo.response_curves(fit, np.stack([mean_spend + h, mean_spend - h]))
          @ np.eye(C))  # fmt: skip
    np.testing.assert_allclose(m, (fd[:, 0] - fd[:, 1]) / (2 * h), rtol=2e-2, atol=1e-3)
    np.testing.assert_allclose(m, (shares * geo.marginal_roi(fit, by="geo")).sum(1), rtol=1e-5)
    at = geo.marginal_roi(fit, by="national", spend=2 * mean_spend)
    assert np.all(at.mean(0) < m.mean(0))  # diminishing returns
    # mmmjax's own insight functions answer for the nation when given a geo fit
    pd.testing.assert_frame_equal(mmmjax.roi(fit), geo.roi(fit, by="national"))
    np.testing.assert_array_equal(mmmjax.marginal_roi(fit), m)
    np.testing.assert_array_equal(mmmjax.response_curves(fit, levels), nat)
    assert mmmjax.contributions(fit).equals(nat_parts)
    assert list(mmmjax.contribution_shares(fit).index) == list(nat_parts.component.values)
    w = mmmjax.adstock_weights(fit)
    assert w.shape == (S, 8, C)
    np.testing.assert_allclose(w.sel(lag=0).values, 1 - fit.draws()["alpha"], rtol=1e-6)


@pytest.mark.slow
def test_save_load_round_trip(recovery, tmp_path):
    _, _, fit, _ = recovery
    fit.save(tmp_path / "f")
    assert geo.is_geo_fit_dir(tmp_path / "f")
    back = mmmjax.load_geo_fit(tmp_path / "f")
    assert back.dataset == fit.dataset and back.scales == fit.scales
    assert back.spec == fit.spec and back.axis == fit.axis and back.info == fit.info
    for group in ("posterior", "sample_stats", "observed_data", "constant_data",
                  "posterior_predictive"):  # fmt: skip
        assert getattr(back.idata, group).equals(getattr(fit.idata, group)), group
    np.testing.assert_array_equal(back.predict(kind="mean"), fit.predict(kind="mean"))
    national = tmp_path / "n"  # a national fit's directory is refused by name
    national.mkdir()
    (national / "fit.nc").write_bytes(b"")
    (national / "fit.json").write_text('{"format": 1}')
    assert not geo.is_geo_fit_dir(national)
    with pytest.raises(ValueError, match=r"holds a geo fit; load it with mmmjax\.load_geo_fit"):
        load_national_fit(tmp_path / "f")  # the national loader refuses it by name
    either = mmmjax.load_fit(tmp_path / "f")  # the one loader reads either kind
    assert isinstance(either, mmmjax.GeoFit) and either.spec == fit.spec
    with pytest.raises(ValueError, match="not a saved geo fit"):
        mmmjax.load_geo_fit(national)


@pytest.mark.slow
def test_second_fit_of_same_shape_does_not_compile():
    small = dict(n_geos=3, n_periods=40, n_channels=2, n_controls=0, seasonality=1)
    a, _ = mmmjax.simulate_geo(**small, seed=5)
    b, _ = mmmjax.simulate_geo(**small, seed=6)
    spec = mmmjax.GeoMMM(mmmjax.MMM(seasonality=1))
    opts = dict(chains=2, draws=20, warmup=20, progress=False, warn=False)
    spec.fit(a, seed=0, **opts)
    second = spec.fit(b, seed=1, **opts)
    assert second.info["compiled"] is False


def test_geo_spec_checks_and_round_trip():
    with pytest.raises(ValueError, match="additive"):
        mmmjax.GeoMMM(mmmjax.MMM(form="multiplicative"))
    with pytest.raises(ValueError, match="unknown prior"):
        mmmjax.GeoMMM(priors={"roi_spread": mmmjax.Prior("HalfNormal", scale=0.1)})
    spec = mmmjax.GeoMMM(mmmjax.MMM(adstock="delayed", seasonality=1),
                         priors={"roi_tau": mmmjax.Prior("HalfNormal", scale=0.1)})  # fmt: skip
    back = mmmjax.GeoMMM.from_dict(spec.to_dict())
    assert back == spec and back.priors == spec.priors
    with pytest.raises(TypeError, match="GeoDataset"):
        spec.fit(mmmjax.simulate(n_periods=60, seed=0)[0])


# ----------------------------------------------------------------------------------------------
# command line and report
# ----------------------------------------------------------------------------------------------
SMALL = dict(n_geos=3, n_periods=40, n_channels=2, n_controls=0, seasonality=1)


def _cli_args(csv, out, *extra):
    return ["fit", str(csv), "--geo", "geo", "--date", "date", "--target", "revenue",
            "--channels", "tv,search", "--out", str(out), "--seasonality", "1", "--chains", "2",
            "--draws", "20", "--warmup", "20", "--no-progress", *extra]  # fmt: skip


@pytest.mark.slow
def test_cli_fit_geo_writes_fit_roi_and_report(tmp_path, capsys):
    from mmmjax.cli import EXIT_NOT_CONVERGED, main

    panel, _ = mmmjax.simulate_geo(**SMALL, seed=5)
    csv = tmp_path / "panel.csv"
    panel.to_frame().to_csv(csv, index=False)
    out = tmp_path / "out"
    status = main(_cli_args(csv, out, "--population", "population"))
    # 2 x 20 draws, for speed: the CLI may well call that unconverged (exit 3), outputs written
    assert status in (0, EXIT_NOT_CONVERGED)
    printed = capsys.readouterr()
    assert (status == EXIT_NOT_CONVERGED) == ("NOT CONVERGED" in printed.err)
    assert "national ROI" in printed.out
    assert {"fit.nc", "fit.json", "roi.csv", "report.html"} <= {p.name for p in out.iterdir()}
    fit = mmmjax.load_geo_fit(out)
    assert fit.dataset == panel
    table = pd.read_csv(out / "roi.csv", keep_default_na=False)
    assert (table.level == "national").sum() == 2 and (table.level == "geo").sum() == 6
    assert list(table.geo[table.level == "geo"].unique()) == panel.geos
    html = (out / "report.html").read_text()
    assert "Fit per geo" in html and "ROI per geo and channel" in html
    assert html.count("<img") == 1 and "http" not in html.replace("http-equiv", "")
    assert all(g in html for g in panel.geos)
    assert main(["optimize", str(out), "--budget", "1000", "--by", "geo"]) == 0
    assert len(pd.read_csv(out / "plan.csv")) == 6  # a geo x channel cell a row


def test_cli_geo_bad_input_is_one_line_exit_2_nothing_written(tmp_path, capsys):
    from mmmjax.cli import main

    panel, _ = mmmjax.simulate_geo(**SMALL, seed=5)
    df = panel.to_frame()
    csv = tmp_path / "panel.csv"
    df.drop(index=45).to_csv(csv, index=False)  # geo_02 loses its 6th week
    out = tmp_path / "out"
    for extra, match in (
        ((), "geo 'geo_02': column 'date': gap in weekly dates after 2021-01-31"),
        (("--holdout", "4"), "--holdout is not available with --geo"),
        (("--form", "multiplicative"), "additive form only"),
    ):
        if extra:
            df.to_csv(csv, index=False)
        assert main(_cli_args(csv, out, *extra)) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and match in err, err
        assert not out.exists()
    lift = tmp_path / "lift.csv"
    d = panel.dates
    lift.write_text(f"channel,start,end,spend_change,lift,lift_se,geo\n{panel.channels[0]},"
                    f"{d[3].date()},{d[6].date()},10,5,1,atlantis\n")  # fmt: skip
    assert main(_cli_args(csv, out, "--lift-tests", str(lift))) == 2
    err = capsys.readouterr().err.strip()
    needle = "row 2 of lift.csv (the header is row 1), column 'geo': unknown geo 'atlantis'"
    assert needle in err and "\n" not in err
    assert not out.exists()
    args = _cli_args(csv, out)
    args[args.index("--geo") : args.index("--geo") + 2] = ["--population", "population"]
    assert main(args) == 2
    assert "--population needs --geo" in capsys.readouterr().err


def test_geo_without_spend_on_a_channel_contributes_nothing_and_has_finite_gradients():
    import jax
    import jax.numpy as jnp
    from numpyro.infer.util import constrain_fn, potential_energy

    from mmmjax.inference.geo_fit import prepare_geo
    from mmmjax.inference.sampling import initial_values

    panel, _ = mmmjax.simulate_geo(n_geos=3, n_periods=40, n_channels=2, n_controls=0, seed=4)
    spend = np.array(panel.spend)
    spend[1, :, 0] = 0.0  # geo_02 never spends on tv
    df = geo.GeoDataset(geos=panel.geos, dates=panel.dates, channels=panel.channels,
                        spend=spend, target=panel.target, population=panel.population,
                        population_name="population").to_frame()  # fmt: skip
    zero = geo.GeoDataset.from_frame(df, geo="geo", date="date", target="target",
                                     channels=panel.channels, population="population")  # fmt: skip
    prob = prepare_geo(mmmjax.GeoMMM(), zero)
    z0 = {k: jnp.asarray(v[0]) for k, v in initial_values(prob.priors, prob.shapes, 1, 0).items()}
    grads = jax.grad(lambda z: potential_energy(prob.model, prob.model_args, {}, z))(z0)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in grads.values())
    # z0 is unconstrained (log scales, logit carryover); the mean function takes the values
    point = constrain_fn(prob.model, prob.model_args, {}, z0)
    params = derived({k: np.asarray(v) for k, v in point.items()})
    comp = geo_components(mmmjax.GeoMMM().model, params, prob.design)
    assert np.all(np.asarray(comp.media)[1, :, 0] == 0) and np.all(np.isfinite(comp.mu))


# ----------------------------------------------------------------------------------------------
# lift tests in a geo
# ----------------------------------------------------------------------------------------------
def _geo_lift_reference(params, design, g, c, window, delta):
    """Float64 loop: geo g's media of channel c with ``delta`` added in ``window``, minus the
    media without it, summed over the window (geometric adstock normalised, Hill saturation)."""
    a = float(params["alpha"][c])
    k, s = float(params["half_saturation"][c]), float(params["slope"][c])

    def shape(x):
        y, out = 0.0, []
        for v in x:
            y = v + a * y
            out.append((1 - a) * y)
        z = np.asarray(out)
        return z**s / (z**s + k**s)

    x = np.asarray(design.spend, np.float64)
    base = shape(x[g, :, c])
    roi = float(np.exp(params["roi_mu"][c] + params["roi_tau"][c] * params["roi_z"][g, c]))
    scale = roi * float(design.roi_to_effect[g, c]) / base.mean()
    new = shape(x[g, :, c] + delta * window)
    return scale * ((new - base) * window).sum()


def test_implied_geo_lift_matches_a_float64_loop():
    from mmmjax.model.geo import GeoLiftData, implied_geo_lift

    panel, _ = mmmjax.simulate_geo(n_geos=4, n_periods=40, n_channels=3, seed=2)
    spec = GeoMMM()
    design = build_geo_design(panel, panel.scales, _axis(panel), seasonality=2, changepoints=0)
    rng = np.random.default_rng(1)
    params = {}
    for name, shape in site_shapes(spec.model, design).items():
        params[name] = rng.uniform(0.3, 0.8, shape).astype(np.float32)
        if name.endswith("_z") or name.endswith("_mu"):
            params[name] = rng.normal(0, 0.3, shape).astype(np.float32)
    tests = [(1, 2, 10, 18, 0.5), (3, 0, 0, 6, 0.3), (1, 0, 30, 39, 1.2)]  # g, c, t0, t1, delta
    mask = np.zeros((3, 40), np.float32)
    for k, (_, _, t0, t1, _) in enumerate(tests):
        mask[k, t0 : t1 + 1] = 1.0
    one_hot = np.eye(4, dtype=np.float32)[[t[0] for t in tests]]  # each test in one geo
    lift = GeoLiftData(
        channel=np.asarray([t[1] for t in tests], np.int32),
        mask=mask,
        delta=one_hot * np.asarray([t[4] for t in tests], np.float32)[:, None],
        to_unit=one_hot,
        lift=np.zeros(3, np.float32),
        lift_se=np.ones(3, np.float32),
    )
    got = np.asarray(implied_geo_lift(spec.model, derived(params), design, lift))
    want = [
        _geo_lift_reference(params, design, g, c, mask[k].astype(np.float64), d)
        for k, (g, c, _, _, d) in enumerate(tests)
    ]
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-6)


def test_geo_lift_tests_are_checked_against_the_panel():
    panel, _ = mmmjax.simulate_geo(n_geos=3, n_periods=40, n_channels=2, seed=2)
    d = panel.dates
    ch = panel.channels[0]
    bad = mmmjax.LiftTest(ch, d[3], d[6], 10.0, 5.0, 1.0, geo="atlantis")
    with pytest.raises(DataError, match="unknown geo 'atlantis'"):
        mmmjax.GeoMMM().fit(panel, lift_tests=[bad])


def test_a_geo_lift_test_pulls_that_geos_roi_and_narrows_its_lift(tmp_path):
    """Measured lift at half what the uncalibrated fit implies, with a tight standard error:
    the calibrated fit implies the measured lift with an interval about as narrow as the test's,
    and the ROI of that geo and channel falls, while another geo's ROI hardly moves.

    The ROI's own spread hardly changes (its sd 0.13/0.11/0.12 before and 0.11/0.12/0.11 after
    over sampler seeds 0-2, Monte Carlo error about 0.006): the lift pins ROI times the
    saturation curve's slope there, and the two trade off. Every comparison of two posteriors
    has a margin of several Monte Carlo standard errors; each fails when the test does nothing.
    """
    import arviz as az
    import jax

    from mmmjax.inference.geo_fit import geo_lift_data
    from mmmjax.model.geo import implied_geo_lift

    panel, _ = mmmjax.simulate_geo(n_geos=4, n_periods=80, n_channels=2, n_controls=0,
                                   seed=4)  # fmt: skip
    spec = mmmjax.GeoMMM()
    opts = dict(chains=2, draws=200, warmup=200, seed=0, progress=False, warn=False)
    plain = spec.fit(panel, **opts)
    g, c = 1, 0
    geo_name, ch = panel.geos[g], panel.channels[c]
    change = float(panel.spend[g, :, c].mean())
    probe = mmmjax.LiftTest(ch, panel.dates[40], panel.dates[47], change, 1.0, 1.0, geo=geo_name)
    lift = jax.tree.map(np.asarray, geo_lift_data([probe], panel, panel.scales))
    draws = plain.draws()
    implied = jax.vmap(lambda p: implied_geo_lift(spec.model, p, plain.design(), lift))(draws)
    implied_money = float(np.mean(implied)) * panel.scales.target[g]
    test = mmmjax.LiftTest(ch, probe.start, probe.end, change, 0.5 * implied_money,
                           0.05 * implied_money, geo=geo_name)  # fmt: skip
    calibrated = spec.fit(panel, lift_tests=[test], **opts)
    before = plain.idata.posterior["media_roi"].values[..., g, c]  # (chain, draw)
    after = calibrated.idata.posterior["media_roi"].values[..., g, c]
    cal = jax.vmap(lambda p: implied_geo_lift(spec.model, p, calibrated.design(), lift))(
        calibrated.draws()
    )
    cal_money = float(np.mean(cal)) * panel.scales.target[g]
    assert abs(cal_money / test.lift - 1) < 0.2  # the model now implies the measured lift
    # ... and pins it: its posterior sd was 6-8x the test's (seeds 0-2), now near the test's
    sd_before = float(np.std(implied)) * panel.scales.target[g]
    sd_after = float(np.std(cal)) * panel.scales.target[g]
    assert sd_after < 1.5 * test.lift_se and sd_after < 0.5 * sd_before, (sd_after, sd_before)
    # part of the cut goes to the ROI (about -15%), part to the (national) saturation curve's
    # slope there: the fall is many times its Monte Carlo error (about 0.01, the mean's mcse)
    drop = before.mean() - after.mean()
    mcse = np.hypot(az.mcse(before, method="mean"), az.mcse(after, method="mean"))
    assert drop > 4 * mcse, (drop, mcse)
    # the ROI's spread does not grow beyond Monte Carlo error
    mcse_sd = np.hypot(az.mcse(before, method="sd"), az.mcse(after, method="sd"))
    assert after.std() < before.std() + 3 * mcse_sd, (after.std(), before.std(), mcse_sd)
    other = calibrated.idata.posterior["media_roi"].values[..., 3, 1].mean()  # another geo
    assert abs(other / plain.idata.posterior["media_roi"].values[..., 3, 1].mean() - 1) < 0.25
    np.testing.assert_allclose(
        geo.insights.lift_draws(calibrated)[:, 0], np.asarray(cal)[:, 0] * panel.scales.target[g],
        rtol=1e-4,
    )  # fmt: skip
    from mmmjax.report import render_report

    html = render_report(calibrated)
    assert "Calibration: prior, lift tests and posterior ROI" in html
    assert f"<td class=l>{geo_name}</td><td class=l>{ch}</td>" in html  # the tested pair's row
    assert "Calibration" not in render_report(plain)
    path = calibrated.save(tmp_path / "fit")
    assert mmmjax.geo.load_geo_fit(path).lift_tests == (test,)


# ----------------------------------------------------------------------------------------------
# pooling: each pooled parameter sampled centred or non-centred
# ----------------------------------------------------------------------------------------------
POOL = dict(n_geos=4, n_periods=60, n_channels=2, n_controls=1, seasonality=1)


def test_centred_and_non_centred_forms_are_one_posterior():
    """The log density of a mixed form at the geo values ``v`` equals the non-centred one at
    ``z = (v - mu) / tau`` minus ``log tau`` per centred value (the Jacobian of ``v = mu + tau
    z``): the same posterior, sampled in other coordinates."""
    import jax
    import jax.numpy as jnp
    from numpyro.infer.util import potential_energy

    from mmmjax.inference.geo_fit import prepare_geo
    from mmmjax.inference.sampling import initial_values
    from mmmjax.model.geo import Centring, decentre, fixed_centring

    panel, _ = mmmjax.simulate_geo(**POOL, seed=3)
    spec = GeoMMM(mmmjax.MMM(seasonality=1))
    prob = prepare_geo(spec, panel)
    design, y, lift, _ = prob.model_args
    rng = np.random.default_rng(0)
    z = {k: np.asarray(v[0], np.float64) for k, v in
         initial_values(prob.priors, prob.shapes, 1, 0).items()}  # fmt: skip
    for k in ("roi_z", "trend_z", "season_z", "control_z", "roi_mu", "season_mu"):
        z[k] = rng.normal(0.0, 1.0, z[k].shape)  # a point off the prior medians
    mixed = Centring(roi_z=np.array([1.0, 0.0], np.float32), trend_z=np.float32(1.0),
                     season_z=np.array([0.0, 1.0], np.float32),
                     control_z=np.array([1.0], np.float32))  # fmt: skip
    # the taus are sampled on the log scale; the geo values need them positive
    tau = {k: np.exp(z[k]) for k in ("roi_tau", "trend_tau", "season_tau", "control_tau")}
    p = derived({**z, **tau})
    values = {"roi_z": np.log(p["media_roi"]), "trend_z": p["trend_slope"],
              "season_z": p["season"], "control_z": p["control_coef"]}  # fmt: skip
    v = dict(z)
    for k, w in mixed._asdict().items():
        v[k] = np.where(np.asarray(w) > 0.5, values[k], z[k])
    # decentre inverts it and derived reads both forms alike
    back = decentre({**v, **tau}, mixed)
    for k in values:
        np.testing.assert_allclose(back[k], z[k], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(derived({**v, **tau}, mixed)["media_roi"], p["media_roi"],
                               rtol=1e-6)  # fmt: skip

    def energy(point, centring):
        args = (design, y, lift, jax.tree.map(jnp.asarray, centring))
        point = {k: jnp.asarray(a, jnp.float32) for k, a in point.items()}
        return float(potential_energy(prob.model, args, {}, point))

    log_tau = (
        np.log(tau["roi_tau"])[0] * panel.n_geos  # channel 0 centred
        + np.log(tau["trend_tau"]) * panel.n_geos
        + np.log(tau["season_tau"]) * panel.n_geos  # Fourier term 1 centred
        + np.log(tau["control_tau"]).sum() * panel.n_geos
    )
    none = energy(z, fixed_centring(design, False))
    assert abs(energy(v, mixed) - (none + log_tau)) < 1e-3 * (1 + abs(none))
    # a wrong mask (the values read as deviates) is another density: the check can fail
    assert abs(energy(v, fixed_centring(design, False)) - (none + log_tau)) > 1.0


def test_centring_is_chosen_from_how_well_each_geo_measures_a_parameter():
    import jax

    from mmmjax.inference.geo_fit import prepare_geo
    from mmmjax.model.geo import choose_centring, data_sd

    # channel 0 has the largest spend and a high ROI, channel 2 a small spend and a low one
    panel, _ = mmmjax.simulate_geo(n_geos=6, n_periods=104, n_channels=3, roi=[5.0, 1.0, 0.3],
                                   seed=2)  # fmt: skip
    spec = GeoMMM(mmmjax.MMM(seasonality=1))
    prob = prepare_geo(spec, panel)
    design, y = prob.model_args[0], prob.model_args[1]
    sd = data_sd(spec.model, prob.priors, design, y)
    assert sd["roi_z"].shape == (6, 3) and sd["season_z"].shape == (6, 2)
    assert sd["trend_z"].shape == (6,) and sd["control_z"].shape == (6, 1)
    roi_sd = np.median(sd["roi_z"], axis=0)
    assert roi_sd[0] < 0.1 < 0.5 < roi_sd[2], roi_sd
    w = choose_centring(spec, prob.priors, design, y)
    assert np.asarray(w.roi_z).tolist() == [1.0, 0.0, 0.0]
    assert np.all(np.asarray(w.season_z) == 1.0)  # 104 weeks pin each geo's season
    # one geo tells nothing of the spread across geos: all non-centred
    one = choose_centring(
        spec,
        prob.priors,
        jax.tree.map(lambda a: a[:1], design)._replace(
            t=design.t, fourier=design.fourier, changepoints=design.changepoints
        ),
        y[:1],
    )
    assert all(np.all(np.asarray(a) == 0.0) for a in one)
    # the model uses the choice, and records it
    assert np.asarray(prob.model_args[3].roi_z).tolist() == [1.0, 0.0, 0.0]
    # a channel with no spend in a geo has no information there
    spend = np.array(panel.spend)
    spend[0, :, 0] = 0.0
    design0 = design._replace(spend=spend / panel.scales.spend_unit[:, None, :])
    assert np.isinf(data_sd(spec.model, prob.priors, design0, y)["roi_z"][0, 0])
    # "centred" / "non-centred" fix every parameter's form
    for form, value in (("centred", 1.0), ("non-centred", 0.0)):
        fixed = choose_centring(GeoMMM(spec.model, centring=form), prob.priors, design, y)
        assert all(np.all(np.asarray(a) == value) for a in fixed)
    with pytest.raises(ValueError, match="centring"):
        GeoMMM(centring="half")
    assert GeoMMM.from_dict(GeoMMM(centring="centred").to_dict()).centring == "centred"
    old = GeoMMM().to_dict()
    del old["centring"]  # a spec saved before the choice existed
    assert GeoMMM.from_dict(old).centring == "auto"


@pytest.mark.slow
def test_centred_and_non_centred_fits_agree_within_monte_carlo_error():
    import arviz as az

    panel, _ = mmmjax.simulate_geo(**POOL, seed=3)
    opts = dict(chains=2, draws=400, warmup=300, seed=0, progress=False, warn=False)
    fits = {form: GeoMMM(mmmjax.MMM(seasonality=1), centring=form).fit(panel, **opts)
            for form in ("centred", "non-centred")}  # fmt: skip
    assert fits["centred"].info["centred"]["roi_z"] == [1.0, 1.0]
    assert fits["non-centred"].info["centred"]["roi_z"] == [0.0, 0.0]
    names = ["roi_mu", "media_roi", "trend_slope", "control_coef"]
    z = []
    for name in names:
        means = [f.idata.posterior[name].mean(("chain", "draw")).values for f in fits.values()]
        mcse = [az.mcse(f.idata, var_names=[name])[name].values for f in fits.values()]
        z.append(((means[0] - means[1]) / np.hypot(*mcse)).ravel())
    z = np.concatenate(z)  # 2 + 8 + 4 + 4 = 18 differences in units of their MC error
    assert np.max(np.abs(z)) < 4.5, z


@pytest.mark.slow
def test_few_geos_cover_the_true_roi():
    """8 geos, 4 panels: the true per-geo ROI inside the 94% interval for at least 90% of the 96
    geo-channel pairs (the expected 94% is 1.7 binomial sd above that), no divergences."""
    inside, divergences = [], []
    for seed in range(4):
        panel, truth = mmmjax.simulate_geo(n_geos=8, n_periods=104, n_channels=3, seed=seed)
        fit = GeoMMM(mmmjax.MMM(seasonality=1)).fit(
            panel, chains=2, draws=300, warmup=300, seed=seed, progress=False, warn=False
        )
        r = geo.roi(fit, by="geo")
        true = truth.roi.stack().to_numpy()
        inside.append((true >= r.roi_low.to_numpy()) & (true <= r.roi_high.to_numpy()))
        divergences.append(fit.diagnostics()["divergences"])
    inside = np.concatenate(inside)
    assert inside.mean() >= 0.90, inside.mean()
    assert sum(divergences) == 0, divergences  # of 2400 draws


def test_two_geos_sample_without_divergences():
    """A 2-geo panel, where the pooling scales' posteriors stay near their priors (the spread of
    two geos is one degree of freedom): the ``Gamma(POOLING_SHAPE)`` priors keep the range of
    ``tau`` the sampler crosses narrow enough for one step size (see ``GEO_PRIORS``)."""
    panel, _ = mmmjax.simulate(n_geos=2, n_periods=131, n_channels=6, n_controls=2, seed=1)
    fit = mmmjax.MMM().fit(panel, chains=2, draws=300, warmup=300, seed=1, progress=False,
                           warn=False)  # fmt: skip
    assert fit.diagnostics()["divergences"] == 0
