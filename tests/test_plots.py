"""Every plot returns a matplotlib Figure with axes and drawn data, and touches no pyplot state.

Uses the session-scoped ``demo_fit`` from ``conftest.py`` (one small NUTS fit shared by the suite).
"""

from __future__ import annotations

import dataclasses
import io

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

import mmmjax
from mmmjax import plots
from mmmjax.inference import validation
from mmmjax.inference.idata import from_datasets


def _has_data(fig: Figure) -> bool:
    return any(ax.lines or ax.collections or ax.patches for ax in fig.axes)


def _check(fig) -> Figure:
    assert isinstance(fig, Figure)
    assert fig.axes, "no axes"
    assert _has_data(fig), "axes hold no lines, bands or bars"
    fig.canvas.draw()  # renders without error (Agg, no GUI)
    return fig


@pytest.fixture(scope="module")
def results(demo_fit):
    """Insights computed once, as a report would, and passed to the plots."""
    spend = np.linspace(0.0, 2.0, 9)[:, None] * demo_fit.scales.spend[None]
    return {
        "roi": mmmjax.roi(demo_fit),
        "contributions": mmmjax.contributions(demo_fit),
        "weights": mmmjax.adstock_weights(demo_fit),
        "spend": spend,
        "curves": mmmjax.response_curves(demo_fit, spend),
    }


@pytest.mark.parametrize(
    "name",
    ["plot_fit", "plot_prior_predictive", "plot_prior_posterior", "plot_diagnostics",
     "plot_contributions", "plot_waterfall", "plot_roi", "plot_adstock",
     "plot_response_curves"],
)  # fmt: skip
def test_plot_from_fit_alone(demo_fit, name):
    _check(getattr(plots, name)(demo_fit))


def test_plots_from_precomputed_results(demo_fit, results):
    C = len(demo_fit.channels)
    fig = _check(plots.plot_roi(demo_fit, results["roi"]))
    ticks = fig.axes[0].get_yticklabels()  # first channel on top
    top_down = sorted(ticks, key=lambda t: -t.get_position()[1])
    assert [t.get_text() for t in top_down] == demo_fit.channels
    _check(plots.plot_contributions(demo_fit, results["contributions"]))
    fig = _check(plots.plot_waterfall(demo_fit, results["contributions"]))
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert set(demo_fit.channels) <= set(labels) and labels[-1] == "total"
    fig = _check(plots.plot_adstock(demo_fit, results["weights"]))
    assert [ax.get_title() for ax in fig.axes] == demo_fit.channels
    fig = _check(
        plots.plot_response_curves(demo_fit, spend=results["spend"], curves=results["curves"])
    )
    assert len(fig.axes) == C and [ax.get_title() for ax in fig.axes] == demo_fit.channels


def test_response_curves_need_spend_with_curves(demo_fit, results):
    with pytest.raises(ValueError, match="spend levels"):
        plots.plot_response_curves(demo_fit, curves=results["curves"])


def test_prior_posterior_grid_and_rank_panels(demo_fit):
    params = plots.main_params(demo_fit)
    assert params[0] == "media_roi" and "alpha" in params
    fig = _check(plots.plot_prior_posterior(demo_fit))
    assert len(fig.axes) == len(params) * len(demo_fit.channels)
    fig = _check(plots.plot_diagnostics(demo_fit, var_names=["media_roi", "sigma"]))
    assert len(fig.axes) == len(demo_fit.channels) + 1


def test_prior_predictive_needs_prior_draws(demo_fit):
    idata = from_datasets(
        {"posterior": demo_fit.idata.posterior, "observed_data": demo_fit.idata.observed_data}
    )
    bare = dataclasses.replace(demo_fit, idata=idata)
    with pytest.raises(ValueError, match="prior predictive"):
        plots.plot_prior_predictive(bare)
    fig = _check(plots.plot_prior_posterior(bare))  # posterior only, still drawn
    assert "no prior" in fig.get_suptitle()
    _check(plots.plot_fit(bare))  # falls back to fit.predict()


def test_plot_holdout_from_results():
    dates = pd.date_range("2024-01-07", periods=5, freq="W-SUN")
    actual = np.array([10.0, 11.0, 12.0, 11.0, 10.0])
    metrics = validation.score(actual, actual[None] + 0.5, actual[None] + [[-1.0], [1.0]])
    ho = validation.Holdout(
        n_train=20, n_test=5, metrics=metrics, dates=dates, actual=actual,
        mean=actual + 0.5, low=actual - 1, high=actual + 1,
    )  # fmt: skip
    fig = _check(plots.plot_holdout(ho))
    assert "5 periods" in fig.axes[0].get_title()


def test_plots_leave_no_pyplot_figures(demo_fit):
    before = plt.get_fignums()
    plots.plot_fit(demo_fit)
    plots.plot_roi(demo_fit)
    assert plt.get_fignums() == before


@pytest.mark.parametrize(
    "name",
    ["plot_prior_posterior", "plot_diagnostics", "plot_contributions",
     "plot_waterfall", "plot_roi", "plot_adstock", "plot_response_curves"],
)  # fmt: skip
def test_dollar_signs_in_channel_names_are_drawn_as_written(dollar_fit, name):
    fig = _check(getattr(plots, name)(dollar_fit))  # drawn with mathtext on (the default)
    texts = [t for t in fig.findobj(Text) if "$" in t.get_text()]
    assert texts, "no channel name drawn"
    assert not any(t.get_parse_math() for t in texts)
    fig.savefig(io.BytesIO(), format="png")


def test_literal_text_turns_mathtext_off_for_any_figure():
    fig = Figure()
    ax = fig.subplots()
    ax.bar(["$x^$", "b"], [1.0, 2.0])
    ax.set_title("$x^$ and $y")
    with pytest.raises(ValueError):  # what the report met before: mathtext cannot parse it
        fig.savefig(io.BytesIO(), format="png")
    assert plots.literal_text(fig) is fig
    fig.savefig(io.BytesIO(), format="png")
    assert ax.get_title() == "$x^$ and $y"


def test_plot_holdout_of_a_fit_says_what_to_pass(demo_fit):
    with pytest.raises(TypeError, match=r"validation\.holdout\(spec, dataset, n_test\).*not a Fit"):
        plots.plot_holdout(demo_fit)
