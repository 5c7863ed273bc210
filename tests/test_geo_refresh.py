"""Refreshing a geo fit (mmmjax.inference.geo_refresh): the national scheme (test_refresh.py)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import mmmjax
from mmmjax.geo import GeoMMM
from mmmjax.inference.geo_fit import prepare_geo
from mmmjax.inference.refresh import check_extends
from mmmjax.model.priors import Prior


def _panel():
    return mmmjax.simulate_geo(n_geos=3, n_periods=130, n_channels=2, seed=2)[0]


def test_check_extends_geo_panels_names_what_differs():
    panel = _panel()
    old = panel.slice(0, 100)
    assert check_extends(old, panel) == 0
    assert check_extends(old, panel.slice(10, 130)) == 10
    other_geos = dataclasses.replace(panel, geos=["geo_01", "geo_02", "north"])
    with pytest.raises(mmmjax.DataError, match=r"geos .*missing \['geo_03'\]; new \['north'\]"):
        check_extends(old, other_geos)
    other_channels = dataclasses.replace(panel, channels=["tv", "radio"])
    with pytest.raises(mmmjax.DataError, match=r"channels .*missing \['search'\]"):
        check_extends(old, other_channels)
    with pytest.raises(mmmjax.DataError, match="after the previous fit's last date"):
        check_extends(old, panel.slice(100, 130))
    with pytest.raises(mmmjax.DataError, match="do not continue"):
        check_extends(old, panel.slice(0, 90))
    with pytest.raises(TypeError, match="GeoDataset"):
        check_extends(old, panel.national())


def test_geo_priors_by_site_name_and_given_scales():
    panel = _panel()
    old = panel.slice(0, 100)
    roi_mu = Prior("Normal", loc=[1.0, 0.5], scale=[0.2, 0.3])
    spec = GeoMMM(mmmjax.MMM(seasonality=1), priors={"roi_mu": roi_mu})
    problem = prepare_geo(spec, panel, scales=old.scales)
    assert problem.priors["roi_mu"].params["loc"] == [1.0, 0.5]
    assert problem.scales == old.scales and problem.scales != panel.scales
    own = prepare_geo(spec, panel)
    assert not np.allclose(problem.design.spend, own.design.spend)
    assert GeoMMM.from_dict(spec.to_dict()).priors == spec.priors
    with pytest.raises(ValueError, match="unknown prior"):
        GeoMMM(priors={"roi_z": Prior("Normal", loc=0.0, scale=2.0)})
    with pytest.raises(ValueError, match="scales are for 3 geos, 2 channels"):
        prepare_geo(spec, dataclasses.replace(panel, channels=["tv"], spend=panel.spend[..., :1]),
                    scales=old.scales)  # fmt: skip


@pytest.mark.slow
def test_geo_refresh_agrees_with_a_full_refit_and_round_trips(tmp_path, capsys):
    """A fit on the first 100 weeks refreshed with all 130 agrees with a full refit on the 130
    on the national ROI per channel within 4 Monte Carlo standard errors plus 0.35 posterior sd
    (as the national test: the carried prior, widened 2x, holds about a quarter of the first
    100 weeks' information and moves the mean by a fraction of a posterior sd)."""
    import arviz as az

    from mmmjax.cli import main
    from mmmjax.geo.insights import roi_draws
    from mmmjax.report import render_report

    panel = _panel()
    spec = GeoMMM(mmmjax.MMM(seasonality=1))
    kw = dict(chains=2, draws=300, warmup=300, progress=False, seed=1, warn=False)
    old = spec.fit(panel.slice(0, 100), **kw)
    new = old.refresh(panel, **kw)
    full = spec.fit(panel, **kw)
    assert new.scales == old.scales and new.provenance["n_periods"] == 100
    assert set(new.spec.priors) >= {"roi_mu", "roi_tau", "sigma", "alpha"}

    r_new, r_full = roi_draws(new, by="national"), roi_draws(full, by="national")

    def mcse(r):
        return np.asarray([az.mcse(r[:, c].reshape(2, -1)) for c in range(r.shape[1])])

    gap = np.abs(r_new.mean(0) - r_full.mean(0))
    margin = 4 * np.hypot(mcse(r_new), mcse(r_full)) + 0.35 * r_full.std(0)
    assert np.all(gap < margin), (gap, margin)

    new.save(tmp_path / "new")
    back = mmmjax.load_geo_fit(tmp_path / "new")
    assert back.provenance == json.loads(json.dumps(new.provenance)) and back.spec == new.spec
    moved = mmmjax.roi_changes(back)
    assert list(moved.index) == panel.channels
    html = render_report(back)
    assert 'id="refresh"' in html and "What moved" in html
    assert 'id="refresh"' not in render_report(old)

    # the CLI: a panel that does not extend the saved fit is one line, exit 2, nothing written
    old.save(tmp_path / "old")
    csv = tmp_path / "late.csv"
    panel.slice(100, 130).to_frame().to_csv(csv, index=False)
    argv = ["fit", str(csv), "--geo", "geo", "--population", "population", "--date", "date",
            "--target", "revenue", "--channels", "tv,search", "--controls",
            ",".join(panel.control_names), "--out", str(tmp_path / "cli"), "--chains", "2",
            "--draws", "30", "--warmup", "30", "--no-progress",
            "--refresh", str(tmp_path / "old")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "after the previous fit's last date" in err[0]
    assert not (tmp_path / "cli").exists()
    panel.to_frame().to_csv(csv, index=False)
    assert main(argv) in (0, 3)  # 2 x 30 draws may be called unconverged (exit 3)
    out = capsys.readouterr().out
    assert "refresh: 100 periods" in out
    cli_fit = mmmjax.load_geo_fit(tmp_path / "cli")
    assert cli_fit.provenance["n_periods"] == 100 and cli_fit.scales == old.scales
    assert "What moved" in (tmp_path / "cli" / "report.html").read_text()
