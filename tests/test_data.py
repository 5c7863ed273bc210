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
    raises(df, "'week'", "row 1 (df.iloc[1])", "ambiguous", "date_format", "--date-format")
    # two readings that are both regular are refused too
    with pytest.raises(DataError, match=r"'d', row 0 \(df.iloc\[0\]\).*ambiguous.*--date-format"):
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
    raises(df, "'week'", "row 4 (df.iloc[4])", "'2021/01/31'", "%Y-%m-%d", date_format="%Y-%m-%d")
    assert load(make_frame(), date_format="%Y-%m-%d").n_periods == T


def test_unparseable_date():
    df = make_frame()
    df.loc[16, "week"] = "not a date"
    raises(df, "'week'", "row 16 (df.iloc[16])", "'not a date'", "--date-format")


def test_missing_date():
    df = make_frame()
    df.loc[6, "week"] = None
    raises(df, "'week'", "row 6 (df.iloc[6])", "missing")


def test_duplicate_dates():
    df = make_frame()
    df.loc[9, "week"] = df.loc[8, "week"]
    raises(df, "'week'", "rows 8 and 9 (df.iloc[8] and df.iloc[9])", "duplicate", df.loc[8, "week"])


def test_gap_in_dates():
    df = make_frame().drop(index=10)  # the 11th week is missing
    raises(df, "'week'", "gap", "after 2021-03-07", "expected 2021-03-14", "in row 9 (df.iloc[9]):")


def test_irregular_spacing():
    df = make_frame()
    df.loc[5, "week"] = "2021-02-09"  # a Tuesday among Sundays
    raises(df, "'week'", "irregular", "after 2021-01-31", "expected 2021-02-07")


def test_unsupported_frequency():
    df = make_frame(step="14D")
    msg = raises(df, "'week'", "mostly 14 days apart (2021-01-03, 2021-01-17, ...)", "weekly")
    assert "00:00:00" not in msg


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
    assert "'tv'" in msg and "row 18 of d.csv (the header is row 1)" in msg
    assert "2021-04-25" in msg and "'12,5'" in msg


@pytest.mark.parametrize("column", ["sales", "tv", "price", "holiday"])
def test_missing_value(column):
    df = make_frame()
    df[column] = df[column].astype(float)
    df.loc[3, column] = np.nan
    raises(df, f"'{column}'", "row 3 (df.iloc[3])", "2021-01-24", "missing", events=["holiday"])


def test_infinite_value():
    df = make_frame()
    df.loc[12, "sales"] = np.inf
    raises(df, "'sales'", "row 12 (df.iloc[12])", "infinite")


def test_negative_spend():
    df = make_frame()
    df.loc[16, "search"] = -5.0
    raises(df, "'search'", "row 16 (df.iloc[16])", "date 2021-04-25", "negative")


def test_negative_spend_row_is_file_row_after_sorting():
    df = make_frame()
    df.loc[16, "search"] = -5.0
    df = df.iloc[::-1].reset_index(drop=True)  # now the bad value is at df.iloc[13]
    raises(df, "'search'", "row 13 (df.iloc[13])", "2021-04-25", "negative")


def test_too_few_periods():
    raises(make_frame(t=12), "'week'", "only 12 periods", "at least 20", "2021-01-03")


def test_channel_without_spend():
    df = make_frame()
    df["search"] = 0.0
    raises(df, "'search'", "no spend", "30 periods", "2021-01-03 to 2021-07-25")


def test_constant_target():
    df = make_frame()
    df["sales"] = 7.0
    raises(df, "'sales'", "constant", "all 30 periods")


def test_non_positive_target_mean():
    df = make_frame()
    df["sales"] = -df["sales"]
    raises(df, "'sales'", "positive mean", "30 periods", "revenue")


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


# ---- files: every reader refuses a bad file by name (issue 18, items 3 and 6) ----


def _read_with(reader: str, path: Path):
    """Call one of mmmjax's four CSV readers on ``path``."""
    if reader == "dataset":
        return Dataset.from_csv(path, **KW)
    if reader == "geo":
        return mmmjax.GeoDataset.from_csv(path, geo="region", **KW)
    ds = load(make_frame())
    if reader == "lift":
        return mmmjax.read_lift_tests(path, ds)
    return mmmjax.read_roi_priors(path, ds.channels)


READERS = ["dataset", "geo", "lift", "roi"]


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        (None, ["is a directory, not a CSV file"]),
        (b"", ["is empty"]),
        (b" \n\n \r\n", ["is empty"]),
        (b"week,sales\n\x00\x01\x02\x03garbage\xff\n", ["not a text file", "0x00"]),
        (b"week,sales\n\x81\x8d\x8f,1\n", ["not a text file", "byte 0x81", "not UTF-8"]),
        (b"PK\x03\x04\x14\x00\x06\x00", ["Excel workbook", "CSV"]),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", ["old Excel workbook", "CSV"]),
        (b"week,sales\n1,2\n\n3,4,5\n", ["not a valid CSV", "in line 4", "header is line 1"]),
    ],
)
def test_every_reader_names_the_file_and_what_is_wrong(tmp_path, reader, content, fragments):
    path = tmp_path / "in.csv"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(DataError) as info:  # never UnicodeDecodeError or IsADirectoryError
        _read_with(reader, path)
    msg = str(info.value)
    assert str(path) in msg and "\n" not in msg, msg
    for frag in fragments:
        assert frag in msg, (frag, msg)


@pytest.mark.parametrize("reader", READERS)
def test_every_reader_names_a_missing_file(tmp_path, reader):
    with pytest.raises(DataError, match=r"not found: .*nope\.csv"):
        _read_with(reader, tmp_path / "nope.csv")


def test_file_encodings(tmp_path):
    df = make_frame()
    path = tmp_path / "d.csv"
    want = load(df)
    # Excel's "CSV UTF-8" (with a byte-order mark), Excel's Western "CSV" (Windows-1252, here
    # with a euro sign in a column name) and Excel's "Unicode text" (UTF-16, tab separated)
    path.write_bytes(b"\xef\xbb\xbf" + df.to_csv(index=False).encode())
    assert Dataset.from_csv(path, **KW) == want
    path.write_bytes(df.rename(columns={"sales": "sales €"}).to_csv(index=False).encode("cp1252"))
    assert Dataset.from_csv(path, **{**KW, "target": "sales €"}).target_name == "sales €"
    path.write_bytes(df.to_csv(index=False, sep="\t").encode("utf-16"))
    assert Dataset.from_csv(path, **KW) == want


# ---- separators and decimal commas ----


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_separator_is_detected(tmp_path, sep):
    df = make_frame()
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False, sep=sep)
    assert Dataset.from_csv(path, **KW) == load(df)


def _european(df: pd.DataFrame) -> str:
    """``df`` as a spreadsheet in Germany writes it: ``;`` separators, ``1.234,5`` numbers."""

    def cell(v):
        if isinstance(v, str):
            return v
        whole, _, frac = repr(float(v)).partition(".")
        return f"{int(whole):,}".replace(",", ".") + "," + frac

    body = [";".join(cell(v) for v in row) for row in df.itertuples(index=False)]
    lines = [";".join(df.columns), *body]
    return "\n".join(lines) + "\n"


def test_semicolons_with_decimal_commas(tmp_path):
    df = make_frame()
    df["sales"] *= 1000  # thousands separators: 1.006.286,510993
    df["week"] = pd.to_datetime(df["week"]).dt.strftime("%d.%m.%Y")  # dates keep their dots
    path = tmp_path / "d.csv"
    path.write_text(_european(df))
    assert "1.006.286,51" in path.read_text()
    got = Dataset.from_csv(path, **KW)
    np.testing.assert_array_equal(got.target, df["sales"].to_numpy())
    np.testing.assert_array_equal(got.spend, df[["tv", "search"]].to_numpy())
    assert got.dates[0] == pd.Timestamp("2021-01-03")
    # the geo reader and the lift-test reader read the same way
    geo_df = pd.concat([df.assign(region="n"), df.assign(region="s")])
    path.write_text(_european(geo_df))
    panel = mmmjax.GeoDataset.from_csv(path, geo="region", **KW)
    np.testing.assert_allclose(panel.target[1], df["sales"].to_numpy(), rtol=1e-12)
    ds = load(make_frame())
    path.write_text(
        "channel;start;end;spend_change;lift;lift_se\ntv;2021-02-07;2021-02-20;1.500;2.500,5;12,5\n"
    )
    (test,) = mmmjax.read_lift_tests(path, ds)
    assert (test.spend_change, test.lift, test.lift_se) == (1500.0, 2500.5, 12.5)
    path.write_text("channel;low;high;mass\ntv;1,5;3;0,8\n")
    assert mmmjax.read_roi_priors(path, ds.channels) == {"tv": mmmjax.roi_prior(1.5, 3, 0.8)}


def test_decimal_mark_mixed_or_ambiguous_is_refused(tmp_path):
    df = make_frame()
    path = tmp_path / "d.csv"
    text = _european(df).splitlines()
    # one cell with a decimal point in a file with decimal commas: refused, both named
    fields = text[5].split(";")
    fields[2] = "150.25"
    text[5] = ";".join(fields)
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(DataError) as info:
        Dataset.from_csv(path, **KW)
    msg = str(info.value)
    assert "mixes decimal commas" in msg and "'150.25'" in msg and "column 'tv'" in msg
    assert "row 6 of d.csv (the header is row 1)" in msg
    # integers grouped by dots and nothing else: 12.500 could be 12.5 or 12500
    frame = pd.DataFrame({"week": df["week"], "sales": "1.000", "tv": "12.500"})
    frame["sales"] = [f"1.{i:03d}" for i in range(T)]
    frame.to_csv(path, index=False, sep=";")
    with pytest.raises(DataError, match=r"'1.000' in column 'sales', row 2 .*could be 1 or 1000"):
        Dataset.from_csv(path, date="week", target="sales", channels=["tv"])
    # a separator-semicolon file with plain decimal points reads as such
    df.to_csv(path, index=False, sep=";")
    assert Dataset.from_csv(path, **KW) == load(df)


def test_decimal_comma_file_refuses_a_cell_that_is_no_number_there(tmp_path):
    df = make_frame().astype({"tv": object})
    path = tmp_path / "d.csv"
    df.loc[7, "tv"] = "lots"
    path.write_text(_european(df))
    with pytest.raises(DataError, match=r"'tv', row 9 of d.csv .*'lots' is not a number \(this "):
        Dataset.from_csv(path, **KW)


def test_separator_sniffing_is_fast(tmp_path):
    # 200k rows (a daily panel of ~550 geos): the reader adds little to pandas' own parse
    import time

    n = 200_000
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": "x"})
    path = tmp_path / "big.csv"
    df.to_csv(path, index=False, sep=";")
    t0 = time.perf_counter()
    pd.read_csv(path, sep=";")
    plain = time.perf_counter() - t0
    t0 = time.perf_counter()
    table = mmmjax.data.read_table(path)
    ours = time.perf_counter() - t0
    assert len(table.frame) == n and table.decimal == "."
    assert ours < 10 * plain + 2.0, (ours, plain)


# ---- row numbers: as a spreadsheet shows them (issue 18, item 8) ----


def test_file_rows_are_spreadsheet_rows(tmp_path):
    df = make_frame().astype({"tv": object})
    df.loc[16, "tv"] = "x"
    path = tmp_path / "d.csv"
    lines = df.to_csv(index=False).splitlines()
    # a blank line after row 5 shifts the rows below it, as in a spreadsheet
    lines.insert(5, "")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        Dataset.from_csv(path, **KW)
    msg = str(info.value)
    assert "column 'tv', row 19 of d.csv (the header is row 1), date 2021-04-25" in msg
    assert path.read_text().splitlines()[19 - 1].split(",")[2] == "x"
    # a quoted cell spanning two lines: rows are numbered by their first line
    lines[3] = lines[3].replace(",0", ',"0"', 1)
    df2 = make_frame()
    df2["note"] = ""
    df2.loc[1, "note"] = "two\nlines"
    df2.loc[6, "search"] = -1.0
    df2.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"'search', row 9 of d.csv .*negative"):
        Dataset.from_csv(path, **KW)


def test_rows_named_after_sorting_and_in_pairs(tmp_path):
    df = make_frame()
    df.loc[9, "week"] = df.loc[8, "week"]
    df = df.iloc[::-1]
    path = tmp_path / "d.csv"
    df.to_csv(path, index=False)
    with pytest.raises(DataError) as info:
        Dataset.from_csv(path, **KW)
    # the 9th and 10th weeks sit at data positions 20 and 21: spreadsheet rows 22 and 23
    assert "duplicate date 2021-02-28 in rows 22 and 23 of d.csv (the header is row 1)" in str(
        info.value
    )


def test_repeated_column_in_the_header(tmp_path):
    path = tmp_path / "d.csv"
    df = make_frame()
    text = df.to_csv(index=False).replace("search", "tv", 1)
    path.write_text(text)
    with pytest.raises(DataError, match=r"column 'tv' appears 2 times in the header of d.csv"):
        Dataset.from_csv(path, **{**KW, "channels": ["tv"]})


def test_geo_file_rows_are_spreadsheet_rows(tmp_path):
    df = make_frame()
    panel = pd.concat([df.assign(region="n"), df.assign(region="s")], ignore_index=True)
    panel.loc[T + 3, "tv"] = -2.0  # region s, 4th week
    path = tmp_path / "geo.csv"
    panel.to_csv(path, index=False)
    with pytest.raises(DataError) as info:
        mmmjax.GeoDataset.from_csv(path, geo="region", **KW)
    assert str(info.value).startswith(
        f"geo 's': column 'tv', row {T + 5} of geo.csv (the header is row 1), date 2021-01-24: "
        "negative spend -2"
    )


def test_rows_helper():
    from mmmjax.data import Rows

    file_rows = Rows("x.csv", np.array([2, 3, 7]))
    assert file_rows.name(2) == "row 7 of x.csv (the header is row 1)"
    assert file_rows.pair(2, 0) == "rows 2 and 7 of x.csv (the header is row 1)"
    assert Rows("x.csv").name(0) == "row 2 of x.csv (the header is row 1)"
    frame_rows = Rows().with_geos(np.array(["a", "b"]))
    assert frame_rows.at(1, "tv", pd.Timestamp("2021-01-03")) == (
        "geo 'b': column 'tv', row 1 (df.iloc[1]), date 2021-01-03"
    )


def test_docstring_examples():
    import doctest

    import mmmjax.model.calibration

    for module in (mmmjax.data, mmmjax.model.calibration):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0, module.__name__


# ---- targets the model's scaling cannot measure (issue 18, item 6) ----


def _with_target(y: np.ndarray) -> pd.DataFrame:
    df = make_frame()
    df["sales"] = y
    return df


def test_profit_like_target_with_mean_near_zero_is_refused():
    rng = np.random.default_rng(3)
    y = rng.normal(0.0, 59_597.0, T)
    y -= y.mean()  # the case: mean ~1e-12, sd ~60k
    assert abs(y.mean()) < 1e-9 * y.std()
    # mean exactly zero or slightly negative: "positive mean" refusal
    # mean tiny and positive: refused for its negative values and tiny mean
    y_pos = y + 1e-6
    msg = raises(_with_target(y_pos), "'sales'", "negative value", "below its standard deviation")
    assert "row " in msg and "(df.iloc[" in msg and "revenue" in msg and "add a constant" in msg
    # the suggested constant is enough
    shift = float(msg.split("at least ")[1].split(" ")[0])
    assert load(_with_target(y_pos + shift)).n_periods == T
    assert shift >= y_pos.std() - y_pos.mean()


@pytest.mark.parametrize("seed", range(3))
def test_target_threshold_is_mean_one_sd(seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.0, T)
    z = (z - z.mean()) / z.std()  # mean 0, sd 1 exactly; always some negative values
    sd = 5_000.0
    # mean just above one sd passes, just below is refused
    assert load(_with_target(sd * z + 1.01 * sd)).n_periods == T
    assert (sd * z + 0.99 * sd < 0).any()
    raises(_with_target(sd * z + 0.99 * sd), "below its standard deviation")


def test_non_negative_spiky_target_is_kept():
    # a KPI with many zero weeks: sd above the mean, but no negative value, so the mean is
    # well away from zero relative to the values and the model's scaling holds
    y = np.zeros(T)
    y[::6] = 1_000.0
    assert y.std() > y.mean() > 0
    assert load(_with_target(y)).n_periods == T


def test_negative_mean_target_is_refused_with_what_to_do():
    y = -(1000 + np.arange(T, dtype=float))
    msg = raises(_with_target(y), "'sales'", "positive mean", "revenue or sales")
    assert "-1014.5" in msg


def test_geo_target_checked_per_geo():
    df = make_frame()
    rng = np.random.default_rng(0)
    bad = rng.normal(0, 100.0, T)
    bad -= bad.mean() - 1.0
    panel = pd.concat([df.assign(region="n"), df.assign(region="s", sales=bad)])
    with pytest.raises(DataError, match=r"geo 's': column 'sales': the target has \d+ negative"):
        mmmjax.GeoDataset.from_frame(panel, geo="region", **KW)


@pytest.mark.parametrize("kind", ["directory", "binary", "semicolons"])
def test_cli_fit_on_a_bad_file_is_one_line_exit_2(tmp_path, capsys, kind):
    from mmmjax.cli import main

    path = tmp_path / "in.csv"
    if kind == "directory":
        path.mkdir()
    elif kind == "binary":
        path.write_bytes(b"\x00\x01\x02\xff" * 64)
    else:  # readable now, but the column is misspelled: still one line naming the file
        make_frame().to_csv(path, index=False, sep=";")
    out = tmp_path / "out"
    argv = ["fit", str(path), "--date", "week", "--target", "sale", "--channels", "tv",
            "--out", str(out), "--chains", "1", "--no-progress"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "in.csv" in err, err
    assert not out.exists()


# ---- one data type: national data are one geo, a long table with geo= is a panel ----


def _long_table(n_geos=2, T=30):
    dates = list(pd.date_range("2021-01-03", periods=T, freq="W"))
    rows = []
    for g in range(n_geos):
        for i, d in enumerate(dates):
            rows.append({"region": f"r{g}", "week": d, "sales": 100.0 + i + 10 * g,
                         "tv": 1.0 + (i % 3), "pop": 1000.0 * (g + 1)})  # fmt: skip
    return pd.DataFrame(rows)


def test_from_frame_with_geo_builds_the_panel(tmp_path):
    df = _long_table()
    panel = Dataset.from_frame(df, date="week", target="sales", channels=["tv"], geo="region",
                               population="pop")  # fmt: skip
    assert isinstance(panel, mmmjax.GeoDataset)
    assert panel.geos == ["r0", "r1"] and panel.spend.shape == (2, 30, 1)
    assert panel.population.tolist() == [1000.0, 2000.0]
    direct = mmmjax.GeoDataset.from_frame(df, geo="region", date="week", target="sales",
                                          channels=["tv"], population="pop")  # fmt: skip
    assert panel == direct
    path = tmp_path / "long.csv"
    df.to_csv(path, index=False)
    from_csv = Dataset.from_csv(path, date="week", target="sales", channels=["tv"],
                                geo="region", population="pop")  # fmt: skip
    assert from_csv == direct
    national = Dataset.from_frame(df[df.region == "r0"], date="week", target="sales",
                                  channels=["tv"])  # fmt: skip
    assert national.geos == ["national"] and national.n_geos == 1
    assert national.spend.shape == (30, 1)


def test_from_frame_panel_options_are_checked():
    df = _long_table()
    with pytest.raises(mmmjax.DataError, match="population= needs geo="):
        Dataset.from_frame(df, date="week", target="sales", channels=["tv"], population="pop")
    df["promo"] = np.where(np.arange(len(df)) % 7 == 0, "spring", "na")  # text labels
    with_events = Dataset.from_frame(df, date="week", target="sales", channels=["tv"],
                                     geo="region", events=["promo"])  # fmt: skip
    assert with_events.event_names == ["promo=spring"] and with_events.events.shape == (2, 30, 1)
    first = df[df.region == "r0"].reset_index(drop=True)
    assert with_events.events[0, :, 0].tolist() == (first.promo == "spring").astype(float).tolist()
    assert with_events.geo("r1").event_names == ["promo=spring"]
    back = Dataset.from_frame(with_events.to_frame(), date="week", target="sales",
                              channels=["tv"], geo="region", events=["promo=spring"])  # fmt: skip
    assert back == with_events and with_events.slice(0, 10).events.shape == (2, 10, 1)
    bad = df.drop(index=5)  # r0 misses a week
    with pytest.raises(mmmjax.DataError, match="r0"):
        Dataset.from_frame(bad, date="week", target="sales", channels=["tv"], geo="region")
