"""Geo panels: data validation and the simulator's truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mmmjax
from mmmjax import geo
from mmmjax.errors import DataError

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
            r"geo 'r2': column 'week': gap in weekly dates after 2021-02-28 \(row \d+\)",
        ),
        (
            lambda d: pd.concat([d, d.iloc[[35]]]),
            r"geo 'r1': column 'week': duplicate date 2021-02-07 in rows 36 and 91",
        ),
        (
            lambda d: d.assign(tv=np.where(d.index == 40, -5.0, d.tv)),
            r"geo 'r1': column 'tv', row 41 \(2021-03-14\): negative spend -5",
        ),
        (
            lambda d: d.assign(sales=d.sales.astype(object).where(d.index != 65, "abc")),
            r"geo 'r2': column 'sales', row 66 \(2021-02-07\): 'abc' is not a number",
        ),
        (
            lambda d: d.assign(pop=np.where(d.index == 50, 7.0, d["pop"])),
            r"geo 'r1': column 'pop', row 51 \(2021-05-23\): population 7 differs from 200000 "
            r"in row 31",
        ),
        (
            lambda d: d.assign(pop=np.where(d.region == "r0", 0.0, d["pop"])),
            r"geo 'r0': column 'pop', row 1 \(2021-01-03\): population 0; it must be positive",
        ),
        (
            lambda d: d.assign(sales=np.where(d.region == "r2", 5.0, d.sales)),
            r"geo 'r2': column 'sales': the target is constant",
        ),
        (
            lambda d: d.assign(region=d.region.where(d.index != 7, None)),
            r"column 'region', row 8: the geo is missing",
        ),
        (
            lambda d: d.assign(week=d.week.where(d.index != 12, "not a date")),
            r"geo 'r0': column 'week', row 13: cannot parse date 'not a date'",
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
                       r"2021-01-03 \(geo 'r1' has it, row 26\)"):  # fmt: skip
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
