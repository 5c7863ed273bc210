"""Tests for mmmjax.data: loading, validation messages, scaling."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mmmjax
from mmmjax.data import Dataset, ScaledData, Scales, _parse_dates, min_periods
from mmmjax.errors import DataError

HAMS = Path(__file__).resolve().parents[2] / "shared" / "data" / "MMM_test_data.csv"
HAMS_CHANNELS = [f"spend_channel_{i}" for i in range(1, 8)]

T = 30


def make_frame(t: int = T, start: str = "2021-01-03", step: str = "7D") -> pd.DataFrame:
    rng = np.random.default_rng(0)
    dates = pd.date_range(start, periods=t, freq=step)
    return pd.DataFrame(
        {
            "week": dates.strftime("%Y-%m-%d"),
            "sales": 1000 + rng.normal(0, 50, t),
            "tv": rng.uniform(100, 200, t),
            "search": rng.uniform(10, 50, t),
            "price": rng.normal(1, 0.1, t),
            "holiday": (np.arange(t) % 10 == 0).astype(int),
        }
    )


KW = dict(date="week", target="sales", channels=["tv", "search"], controls=["price"])


def load(df: pd.DataFrame, **kw) -> Dataset:
    return Dataset.from_frame(df, **{**KW, **kw})


def raises(df: pd.DataFrame, *fragments: str, **kw) -> str:
    with pytest.raises(DataError) as info:
        load(df, **kw)
    msg = str(info.value)
    assert "\n" not in msg
    for frag in fragments:
        assert frag in msg, (frag, msg)
    return msg


# ---- happy paths ----


def test_hams_csv_loads():
    if not HAMS.exists():
        pytest.skip(
            "../shared/data/MMM_test_data.csv is not present (a user's clone has no ../shared)"
        )
    ds = Dataset.from_csv(HAMS, date="start_of_week", target="revenue", channels=HAMS_CHANNELS)
    assert ds.n_periods == 104
    assert ds.dates[0] == pd.Timestamp("2020-08-30")
    assert ds.freq == "W"
    assert ds.n_channels == 7 and ds.channels == HAMS_CHANNELS
    assert ds.spend.shape == (104, 7) and ds.target.shape == (104,)
    assert ds.controls.shape == (104, 0) and ds.events.shape == (104, 0)
    assert ds.periods_per_year == pytest.approx(52.1775)
    assert ds.target_name == "revenue"


def test_top_level_exports():
    assert mmmjax.Dataset is Dataset and mmmjax.Scales is Scales


def test_from_frame_basic_and_immutable():
    df = make_frame()
    ds = load(df, events=["holiday"])
    assert ds.dates.is_monotonic_increasing and ds.freq == "W"
    assert ds.spend.dtype == np.float64 and ds.spend.shape == (T, 2)
    np.testing.assert_array_equal(ds.spend[:, 0], df["tv"].to_numpy())
    np.testing.assert_array_equal(ds.events[:, 0], df["holiday"].to_numpy())
    assert ds.control_names == ["price"] and ds.event_names == ["holiday"]
    with pytest.raises(ValueError):
        ds.spend[0, 0] = 1.0
    with pytest.raises(AttributeError):
        ds.freq = "D"  # type: ignore[misc]
    # the caller's frame is not modified and later edits do not leak in
    df.loc[0, "tv"] = -1.0
    assert ds.spend[0, 0] > 0


def test_unsorted_rows_are_sorted():
    df = make_frame()
    shuffled = df.sample(frac=1.0, random_state=1)
    assert load(shuffled) == load(df)


def test_daily_and_other_weekday_anchor():
    ds = load(make_frame(start="2021-01-05", step="1D"))
    assert ds.freq == "D" and ds.periods_per_year == 365.25
    ds = load(make_frame(start="2021-01-06"))  # Wednesdays
    assert ds.freq == "W"


def test_datetime_column_and_channel_string():
    df = make_frame()
    df["week"] = pd.to_datetime(df["week"])
    ds = load(df, channels="tv")
    assert ds.channels == ["tv"]


def test_to_frame_round_trip():
    ds = load(make_frame(), events=["holiday"])
    back = Dataset.from_frame(
        ds.to_frame(),
        date=ds.date_name,
        target=ds.target_name,
        channels=ds.channels,
        controls=ds.control_names,
        events=ds.event_names,
    )
    assert back == ds


def test_from_csv_matches_from_frame(tmp_path):
    df = make_frame()
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    a, b = Dataset.from_csv(path, **KW), load(df)
    assert a.dates.equals(b.dates)
    np.testing.assert_allclose(a.spend, b.spend, rtol=1e-15)


def test_slice_for_holdout():
    ds = load(make_frame())
    train, test = ds.slice(0, T - 5), ds.slice(T - 5, None)
    assert train.n_periods == T - 5 and test.n_periods == 5
    assert test.dates[0] == ds.dates[T - 5] and test.freq == "W"
    np.testing.assert_array_equal(test.spend, ds.spend[T - 5 :])
    assert ds.slice(3, 4).n_periods == 1  # no minimum length


def test_future_dates():
    ds = load(make_frame())
    fut = ds.future_dates(2)
    assert list(fut) == [ds.dates[-1] + pd.Timedelta(days=7), ds.dates[-1] + pd.Timedelta(days=14)]


def test_min_periods():
    assert min_periods(7) == 29 and min_periods(1) == 20 and min_periods(5, 2) == 29


# ---- dates ----


def test_dmy_two_digit_year_detected():
    df = make_frame(start="2020-08-30")
    df["week"] = pd.to_datetime(df["week"]).dt.strftime("%d-%m-%y")
    ds = load(df)
    assert ds.dates[0] == pd.Timestamp("2020-08-30")


@pytest.mark.parametrize("fmt", ["%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d", "%d/%m/%Y"])
def test_other_formats_detected(fmt):
    df = make_frame(start="2021-03-07")
    df["week"] = pd.to_datetime(df["week"]).dt.strftime(fmt)
    assert load(df).dates[0] == pd.Timestamp("2021-03-07")


def test_ambiguous_dates_refused():
    # every day and month <= 12 and neither reading is regular: refuse, never guess month-first
    df = make_frame()
    df["week"] = [f"{(i % 12) + 1:02d}-{(i * 5 % 12) + 1:02d}-21" for i in range(T)]
    raises(df, "'week'", "row 2", "ambiguous", "date_format", "--date-format")
    # two readings that are both regular are refused too
    with pytest.raises(DataError, match=r"'d'.*row 1.*ambiguous.*--date-format"):
        _parse_dates(pd.Series(["01-02-21", "02-02-21"]), "d", None)
    # the format given resolves it
    df["week"] = [f"{(i % 12) + 1:02d}-{(i * 5 % 12) + 1:02d}-21" for i in range(T)]
    got = _parse_dates(df["week"], "week", "%m-%d-%y")
    assert got[1] == pd.Timestamp("2021-02-06")


def test_regular_reading_preferred():
    # d-m-y gives Feb 1..12 daily; m-d-y gives the 2nd of Jan..Dec (irregular): take d-m-y
    got = _parse_dates(pd.Series([f"{d:02d}-02-21" for d in range(1, 13)]), "d", None)
    assert list(got) == list(pd.date_range("2021-02-01", periods=12, freq="D"))


def test_day_first_without_format_when_some_day_exceeds_12():
    # every day <= 12: "%d-%m-%y" and "%m-%d-%y" give different, equally regular dates
    dates = pd.date_range("2021-01-03", periods=T, freq="7D")
    df = make_frame()
    df["week"] = [f"{d.day:02d}-{d.month:02d}-21" for d in dates]
    assert any(d.day > 12 for d in dates)  # this one is unambiguous
    assert load(df).dates[0] == pd.Timestamp("2021-01-03")


def test_date_format_is_strict():
    df = make_frame()
    df.loc[4, "week"] = "2021/01/31"
    raises(df, "'week'", "row 5", "'2021/01/31'", "%Y-%m-%d", date_format="%Y-%m-%d")
    assert load(make_frame(), date_format="%Y-%m-%d").n_periods == T


def test_unparseable_date():
    df = make_frame()
    df.loc[16, "week"] = "not a date"
    raises(df, "'week'", "row 17", "'not a date'", "--date-format")


def test_missing_date():
    df = make_frame()
    df.loc[6, "week"] = None
    raises(df, "'week'", "row 7", "missing")


def test_duplicate_dates():
    df = make_frame()
    df.loc[9, "week"] = df.loc[8, "week"]
    raises(df, "'week'", "rows 9 and 10", "duplicate", df.loc[8, "week"])


def test_gap_in_dates():
    df = make_frame().drop(index=10)  # the 11th week is missing
    raises(df, "'week'", "gap", "after 2021-03-07", "expected 2021-03-14", "row 10")


def test_irregular_spacing():
    df = make_frame()
    df.loc[5, "week"] = "2021-02-09"  # a Tuesday among Sundays
    raises(df, "'week'", "irregular", "after 2021-01-31", "expected 2021-02-07")


def test_unsupported_frequency():
    df = make_frame(step="14D")
    raises(df, "'week'", "weekly", "daily")


# ---- values ----


def test_missing_column_lists_available():
    raises(make_frame(), "'radio'", "not found", "week, sales, tv", channels=["tv", "radio"])


def test_column_used_twice():
    raises(make_frame(), "'tv'", "both", channels=["tv"], controls=["tv"])


def test_no_rows():
    raises(make_frame().iloc[:0], "no data rows", "'week'")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(DataError, match="empty"):
        Dataset.from_csv(path, **KW)
    path.write_text("week,sales,tv,search,price\n")
    with pytest.raises(DataError, match=r"no data rows.*'week'"):
        Dataset.from_csv(path, **KW)
    with pytest.raises(DataError, match="not found"):
        Dataset.from_csv(tmp_path / "nope.csv", **KW)


def test_non_numeric_cell_csv(tmp_path):
    df = make_frame().astype({"tv": object})
    df.loc[16, "tv"] = "12,5"
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    with pytest.raises(DataError) as info:
        Dataset.from_csv(path, **KW)
    msg = str(info.value)
    assert "'tv'" in msg and "row 17" in msg and "2021-04-25" in msg and "'12,5'" in msg


@pytest.mark.parametrize("column", ["sales", "tv", "price", "holiday"])
def test_missing_value(column):
    df = make_frame()
    df[column] = df[column].astype(float)
    df.loc[3, column] = np.nan
    raises(df, f"'{column}'", "row 4", "2021-01-24", "missing", events=["holiday"])


def test_infinite_value():
    df = make_frame()
    df.loc[12, "sales"] = np.inf
    raises(df, "'sales'", "row 13", "infinite")


def test_negative_spend():
    df = make_frame()
    df.loc[16, "search"] = -5.0
    raises(df, "'search'", "row 17", "2021-04-25", "negative")


def test_negative_spend_row_is_file_row_after_sorting():
    df = make_frame()
    df.loc[16, "search"] = -5.0
    df = df.iloc[::-1].reset_index(drop=True)  # now the bad value is in data row 14
    raises(df, "'search'", "row 14", "2021-04-25", "negative")


def test_too_few_periods():
    raises(make_frame(t=12), "'week'", "only 12 periods", "at least 20", "2021-01-03")


def test_channel_without_spend():
    df = make_frame()
    df["search"] = 0.0
    raises(df, "'search'", "no spend", "rows 1 to 30")


def test_constant_target():
    df = make_frame()
    df["sales"] = 7.0
    raises(df, "'sales'", "constant", "rows 1 to 30")


def test_non_positive_target_mean():
    df = make_frame()
    df["sales"] = -df["sales"]
    raises(df, "'sales'", "positive", "rows 1 to 30")


# ---- scales ----


def test_scales_values_and_scaled_data():
    df = make_frame()
    df.loc[:, "price"] = 2.0  # constant control -> std 1
    ds = load(df)
    s = ds.scales
    np.testing.assert_allclose(s.spend, df[["tv", "search"]].mean().to_numpy())
    assert s.target == pytest.approx(df["sales"].mean())
    np.testing.assert_array_equal(s.controls_std, [1.0])
    sd = ds.scaled()
    assert isinstance(sd, ScaledData)
    np.testing.assert_allclose(sd.spend.mean(axis=0), 1.0)
    np.testing.assert_allclose(sd.target.mean(), 1.0)
    np.testing.assert_allclose(sd.controls, 0.0)
    np.testing.assert_allclose(s.unscale_spend(sd.spend), ds.spend, rtol=1e-14)
    np.testing.assert_allclose(s.unscale_target(sd.target), ds.target, rtol=1e-14)


def test_standardised_controls():
    sd = load(make_frame()).scaled()
    np.testing.assert_allclose(sd.controls.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(sd.controls.std(axis=0), 1.0)


def test_scaled_with_training_scales():
    ds = load(make_frame())
    train, test = ds.slice(0, 20), ds.slice(20, None)
    sd = test.scaled(train.scales)
    np.testing.assert_allclose(sd.spend, test.spend / train.scales.spend)
    with pytest.raises(ValueError):
        test.scaled(Scales(spend=[1.0], target=1.0))


def test_scales_json_round_trip_exact():
    ds = load(make_frame())
    s = ds.scales
    back = Scales.from_dict(json.loads(json.dumps(s.to_dict())))
    assert back == s
    np.testing.assert_array_equal(back.spend, s.spend)
    assert back.target == s.target


def test_scales_zero_spend_window_is_safe():
    s = Scales.from_arrays(np.zeros((4, 2)), np.ones(4))
    np.testing.assert_array_equal(s.spend, [1.0, 1.0])
