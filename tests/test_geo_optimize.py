"""The budget optimizer on a geo fit: by channel (``by="national"``) and by geo x channel cell
(``by="geo"``), from Python and from ``mmmjax optimize``.

The fit is built from prior draws (not sampled), through the same assembly as a sampled one; the
references evaluate responses through :func:`mmmjax.geo.insights.response_curves`, another code
path than the optimizer's cell parameters.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

import mmmjax
from mmmjax.geo import insights as geo_insights

DRAWS = 40


@pytest.fixture(scope="module")
def geo_fit():
    from mmmjax.inference.geo_fit import assemble_geo, prepare_geo
    from mmmjax.inference.sampling import SamplerResult

    panel, _ = mmmjax.simulate_geo(n_geos=3, n_periods=104, n_channels=3, seed=2)
    problem = prepare_geo(mmmjax.GeoMMM(), panel)
    rng = np.random.default_rng(0)
    post = {k: problem.priors[k].sample_numpy(rng, (DRAWS, *s))[None].astype(np.float32)
            for k, s in problem.shapes.items()}  # fmt: skip
    result = SamplerResult(post, {"diverging": np.zeros((1, DRAWS), bool)}, "sequential", 0.0,
                           False, 0)  # fmt: skip
    return assemble_geo(problem, result, seed=0, warn=False)


def _budget(fit) -> float:
    return float(np.asarray(fit.scales.spend).sum())


def _geo_mean_response(fit, x) -> float:
    """Posterior mean total response of cells ``x (G * C,)`` (geo-major), money per period."""
    G, C = fit.dataset.n_geos, fit.dataset.n_channels
    r = geo_insights.response_curves(fit, np.reshape(x, (G, 1, C)), by="geo")  # (S, G, 1, C)
    return float(np.asarray(r, np.float64).sum(axis=(1, 2, 3)).mean())


def _assert_feasible(x: pd.Series, lower: pd.Series, upper: pd.Series, budget: float) -> None:
    assert abs(x.sum() - budget) <= 1e-9 * budget
    assert (x >= lower).all() and (x <= upper).all()


def test_geo_plans_hold_the_budget_and_every_bound_exactly(geo_fit):
    fit, B = geo_fit, _budget(geo_fit)
    g0, g1 = fit.geos[0], fit.geos[1]
    tv, search = fit.channels[0], fit.channels[1]
    nat = mmmjax.optimize_budget(fit, B, bounds={tv: (0.3 * B, 0.35 * B)})
    assert list(nat.allocation.index) == list(fit.channels)
    _assert_feasible(nat.allocation, nat.lower, nat.upper, B)
    assert 0.3 * B <= nat.allocation[tv] <= 0.35 * B
    # the current split is the data's mean spend per period, summed over geos
    np.testing.assert_allclose(nat.current_allocation, np.asarray(fit.scales.spend).sum(0))

    bounds = {(g0, tv): (100.0, 200.0), f"{g1}/{search}": (0.2 * B, None)}
    cell = mmmjax.optimize_budget(fit, B, bounds=bounds, by="geo", fixed={(g1, tv): 5000.0})
    assert isinstance(cell.allocation.index, pd.MultiIndex)
    assert cell.allocation.index.names == [fit.dataset.geo_name, "channel"]
    assert len(cell.allocation) == len(fit.geos) * len(fit.channels)
    _assert_feasible(cell.allocation, cell.lower, cell.upper, B)
    assert 100.0 <= cell.allocation[(g0, tv)] <= 200.0
    assert cell.allocation[(g1, search)] >= 0.2 * B
    assert cell.allocation[(g1, tv)] == 5000.0
    assert cell.converged and nat.converged
    frame = cell.to_frame()
    assert frame.index.names == [fit.dataset.geo_name, "channel"]
    keys = set(json.loads(json.dumps(cell.to_dict()))["allocation"])
    assert keys == {f"{g}/{c}" for g in fit.geos for c in fit.channels}

    budgets = np.array([0.5, 1.0, 1.5]) * B
    frontier = mmmjax.budget_frontier(fit, budgets, bounds=bounds, by="geo")
    cells = frontier[frontier.attrs["channels"]]
    assert cells.shape == (3, 9)
    np.testing.assert_allclose(cells.sum(axis=1), budgets, rtol=1e-12)
    assert (cells[f"{g0}/{tv}"].between(100.0, 200.0)).all()
    assert (cells[f"{g1}/{search}"] >= 0.2 * B).all()


def test_geo_plan_is_at_least_a_slsqp_optimum(geo_fit):
    from scipy.optimize import minimize

    fit, B = geo_fit, 0.6 * _budget(geo_fit)
    plan = mmmjax.optimize_budget(fit, B, by="geo")
    x = plan.allocation.to_numpy()
    # the plan's figures are those of an independent evaluation at its allocation
    assert plan.expected_response == pytest.approx(_geo_mean_response(fit, x), rel=1e-5)
    K = len(x)
    loss = lambda z: -_geo_mean_response(fit, z * B) / B  # noqa: E731
    cons = [{"type": "eq", "fun": lambda z: z.sum() - 1.0}]
    best = -np.inf
    rng = np.random.default_rng(1)
    starts = [np.full(K, 1.0 / K), np.asarray(fit.scales.spend).reshape(-1) / _budget(fit)]
    starts += [rng.dirichlet(np.ones(K)) for _ in range(2)]
    for z0 in starts:
        res = minimize(loss, z0, method="SLSQP", bounds=[(0.0, 1.0)] * K, constraints=cons,
                       options={"maxiter": 300, "ftol": 1e-10, "eps": 1e-5})  # fmt: skip
        z = np.clip(res.x, 0.0, 1.0)
        z = z / z.sum()
        best = max(best, _geo_mean_response(fit, z * B))
    assert np.isfinite(best)
    assert plan.expected_response >= best * (1 - 1e-4)


def test_by_national_is_by_geo_held_to_the_data_shares(geo_fit):
    fit, B = geo_fit, _budget(geo_fit)
    nat = mmmjax.optimize_budget(fit, B)
    spend = np.asarray(fit.scales.spend, np.float64)  # (G, C)
    shares = spend / spend.sum(0)
    held = shares * nat.allocation.to_numpy()[None, :]  # (G, C) the national plan, per cell
    fixed = {(g, c): held[i, j] for i, g in enumerate(fit.geos)
             for j, c in enumerate(fit.channels)}  # fmt: skip
    fixed.popitem()  # the last cell takes what the budget leaves: the same value
    geo_held = mmmjax.optimize_budget(fit, B, by="geo", fixed=fixed)
    np.testing.assert_allclose(geo_held.allocation.to_numpy(), held.reshape(-1), rtol=1e-6)
    assert geo_held.expected_response == pytest.approx(nat.expected_response, rel=1e-5)
    np.testing.assert_allclose(
        geo_held.channel_response.groupby(level="channel").sum()[list(fit.channels)],
        nat.channel_response, rtol=1e-5,
    )  # fmt: skip
    # freeing the cells can only help: the national split is one point of the geo problem
    free = mmmjax.optimize_budget(fit, B, by="geo")
    assert free.expected_response >= nat.expected_response * (1 - 1e-6)


def test_geo_plans_refuse_a_horizon_periods_and_unknown_cells(geo_fit):
    fit, B = geo_fit, _budget(geo_fit)
    with pytest.raises(ValueError, match="horizon= is not supported for a geo fit"):
        mmmjax.optimize_budget(fit, B, horizon=8)
    with pytest.raises(ValueError, match="periods= is not supported for a geo fit"):
        mmmjax.optimize_budget(fit, 13 * B, periods=13)
    schedule = pd.DataFrame(np.ones((13, len(fit.channels))), columns=fit.channels)
    with pytest.raises(ValueError, match=r"schedule .* is not supported for a geo fit"):
        mmmjax.evaluate_budget(fit, schedule)
    with pytest.raises(ValueError, match=r"schedule .* is not supported for a geo fit"):
        mmmjax.evaluate_budget(fit, dict.fromkeys(fit.channels, 1.0), periods=13)
    with pytest.raises(ValueError, match="by must be 'national' or 'geo'"):
        mmmjax.optimize_budget(fit, B, by="region")
    with pytest.raises(ValueError, match="unknown channel 'nowhere/"):
        mmmjax.optimize_budget(fit, B, by="geo", bounds={("nowhere", fit.channels[0]): (0, 1)})
    with pytest.raises(ValueError, match="unknown channel"):
        mmmjax.optimize_budget(fit, B, bounds={(fit.geos[0], fit.channels[0]): (0, 1)})


def test_cli_optimize_plans_a_saved_geo_fit_by_cell(geo_fit, tmp_path, capsys):
    from mmmjax.cli import main

    fit = geo_fit
    src = tmp_path / "fit"
    fit.save(src)
    B = _budget(fit)
    g0, tv = fit.geos[0], fit.channels[0]
    out = tmp_path / "geo"
    argv = ["optimize", str(src), "--budget", str(B), "--by", "geo", "--out", str(out),
            "--bounds", f"{g0}/{tv}=100:200"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "plan: expected response" in printed and "current mix at the same budget" in printed
    table = pd.read_csv(out / "plan.csv", keep_default_na=False)
    assert len(table) == 9 and list(table.columns[:2]) == [fit.dataset.geo_name, "channel"]
    assert table.optimal.sum() == pytest.approx(B, rel=1e-9)
    row = table[(table[fit.dataset.geo_name] == g0) & (table.channel == tv)]
    assert 100.0 <= float(row.optimal.iloc[0]) <= 200.0
    plan = json.loads((out / "plan.json").read_text())
    assert sum(plan["allocation"].values()) == pytest.approx(B, rel=1e-9)
    # the current mix per cell at the same budget, as evaluate_budget(by="geo") gives it
    same = mmmjax.evaluate_budget(fit, plan["allocation"], by="geo")
    printed_current = re.search(r"current mix at the same budget: ([\d,.]+)", printed).group(1)
    assert float(printed_current.replace(",", "")) == pytest.approx(same.current_response, rel=1e-3)

    nat = tmp_path / "national"
    argv = ["optimize", str(src), "--budget", str(B), "--out", str(nat), "--bounds",
            f"{tv}=0.5x:1.5x"]  # fmt: skip
    assert main(argv) == 0
    assert "current mix at the same budget" in capsys.readouterr().out
    assert len(pd.read_csv(nat / "plan.csv")) == 3


@pytest.mark.parametrize(
    "by, item, message",
    [
        ("geo", "nowhere/tv=1:2", "unknown channel 'nowhere/tv'"),
        ("geo", "{tv}=1:2", "unknown channel '{tv}'"),  # a channel alone is no cell
        ("national", "{g0}/{tv}=1:2", "unknown channel '{g0}/{tv}'"),
        ("geo", "{g0}/{tv}=5:1", "low 5 is above high 1"),
        ("geo", "{g0}/{tv}=lots:", "is not a number"),
        ("region", "{tv}=1:2", "--by must be national or geo"),
    ],
)
def test_cli_bad_geo_bounds_are_one_line_exit_2(geo_fit, tmp_path, capsys, by, item, message):
    from mmmjax.cli import main

    fit = geo_fit
    src = tmp_path / "fit"
    fit.save(src)
    names = {"g0": fit.geos[0], "tv": fit.channels[0]}
    item, message = item.format(**names), message.format(**names)
    out = tmp_path / "out"
    argv = ["optimize", str(src), "--budget", "1000", "--by", by, "--out", str(out),
            "--bounds", item]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_geo_report_has_what_to_test_next_with_geo_names(geo_fit):
    """The geo report lists the best candidate lift tests of design_experiment, geo by geo."""
    from mmmjax.report import render_report

    fit = geo_fit
    plan = mmmjax.design_experiment(fit, n_outcomes=20, durations=(8,))
    html = render_report(fit, experiments=plan)
    assert 'id="next-test"' in html and "What to test next" in html
    section = html[html.index('id="next-test"') :]
    section = section[: section.index("</section>")]
    header = re.findall(r"<th(?: class=l)?>(.*?)</th>", section)
    assert header[:2] == ["geo", "channel"]
    cells = re.findall(r"<tr><td(?: class=l)?>(.*?)</td><td(?: class=l)?>(.*?)</td>", section)
    top = plan.head(5)
    assert cells == list(zip(top.geo.astype(str), top.channel.astype(str), strict=True))
    assert f"in geo {top.geo.iloc[0]}" in section
    # without a table the report designs one itself, per geo
    named = re.findall(r"spend in geo (.+?) by", render_report(fit))
    assert len(named) == 1 and named[0] in fit.geos


def test_evaluate_budget_by_cell_reproduces_the_optimal_cell_plan(geo_fit):
    """evaluate_budget(by="geo") of optimize_budget(by="geo")'s plan is that plan; the current
    split is the last 13 periods' mean per cell at the same total; cells by any key form."""
    from mmmjax.optimize.current import CURRENT_PERIODS

    fit, B = geo_fit, _budget(geo_fit)
    g0, tv = fit.geos[0], fit.channels[0]
    plan = mmmjax.optimize_budget(fit, 0.8 * B, by="geo", bounds={(g0, tv): (50.0, None)})
    w = mmmjax.evaluate_budget(fit, plan.allocation, by="geo")
    pd.testing.assert_index_equal(w.allocation.index, plan.allocation.index)
    assert w.total_budget == pytest.approx(0.8 * B, rel=1e-12)
    assert w.expected_response == pytest.approx(plan.expected_response, rel=1e-5)
    np.testing.assert_allclose(w.response_interval, plan.response_interval, rtol=1e-5)
    np.testing.assert_allclose(w.channel_response, plan.channel_response, rtol=1e-5)
    np.testing.assert_allclose(w.marginal_roi, plan.marginal_roi, rtol=1e-4)
    assert w.expected_response == pytest.approx(_geo_mean_response(fit, w.allocation), rel=1e-6)
    # the current split: each cell's mean over the last 13 periods, scaled to the same total
    recent = np.asarray(fit.dataset.spend)[:, -CURRENT_PERIODS:].mean(1).reshape(-1)
    np.testing.assert_allclose(w.current_allocation, 0.8 * B * recent / recent.sum(), rtol=1e-12)
    assert w.current_response == pytest.approx(
        _geo_mean_response(fit, w.current_allocation), rel=1e-6
    )
    assert w.uplift == pytest.approx(w.expected_response - w.current_response, rel=1e-6)
    # the same cells as "geo/channel" keys, as G * C numbers and as a (G, C) array
    x = plan.allocation.to_numpy()
    by_name = {f"{g}/{c}": v for (g, c), v in plan.allocation.items()}
    G, C = fit.dataset.n_geos, fit.dataset.n_channels
    for alloc in (by_name, x, x.reshape(G, C)):
        again = mmmjax.evaluate_budget(fit, alloc, by="geo")
        assert again.expected_response == w.expected_response
    table = w.to_frame()
    assert list(table.index.names) == [fit.dataset.geo_name, "channel"] and len(table) == G * C
    out = json.loads(json.dumps(w.to_dict()))
    assert set(out["channel_response_interval"]) == set(by_name)
    # by channel the same geo fit answers for the nation, indexed by channel
    assert list(mmmjax.evaluate_budget(fit, x.reshape(G, C).sum(0)).allocation.index) == list(
        fit.channels
    )


def _cells(fit, **change) -> dict:
    """Every cell at 1.0 keyed "geo/channel", with ``change`` applied (None drops a cell)."""
    out = {f"{g}/{c}": 1.0 for g in fit.geos for c in fit.channels}
    for k, v in change.items():
        if v is None:
            out.pop(k)
        else:
            out[k] = v
    return out


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda f: _cells(f, **{f"{f.geos[-1]}/{f.channels[-1]}": None}), "no spend given for"),
        (lambda f: _cells(f, **{f"nowhere/{f.channels[0]}": 1.0}), "unknown cell 'nowhere/"),
        (lambda f: _cells(f, **{f"{f.geos[0]}/{f.channels[0]}": -1.0}), "must be finite and >= 0"),
        (lambda f: [1.0, 2.0], "geo-major"),
    ],
)
def test_evaluate_budget_bad_cells_are_one_data_error(geo_fit, make, needle):
    with pytest.raises(mmmjax.DataError, match=needle) as info:
        mmmjax.evaluate_budget(geo_fit, make(geo_fit), by="geo")
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="by must be 'national' or 'geo'"):
        mmmjax.evaluate_budget(geo_fit, _cells(geo_fit), by="region")


def test_report_experiments_keeps_the_design_within_its_size(geo_fit, monkeypatch):
    """Many candidates x draws get fewer simulated outcomes (at least 20), not a huge array."""
    from mmmjax import experiment
    from mmmjax.report import sections

    seen = []
    real = experiment.design_experiment
    monkeypatch.setattr(experiment, "design_experiment",
                        lambda *a, **k: seen.append(k["n_outcomes"]) or real(*a, **k))  # fmt: skip
    K = len(experiment.default_candidates(geo_fit))
    monkeypatch.setattr(sections, "REPORT_DESIGN_SIZE", K * DRAWS * 30)
    assert len(sections.report_experiments(geo_fit)) == K
    monkeypatch.setattr(sections, "REPORT_DESIGN_SIZE", 1)
    assert len(sections.report_experiments(geo_fit)) == K
    assert seen == [30, 20]
