"""Events as analysts have them: text-label columns and national holidays with windows."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

import mmmjax
from mmmjax import DataError
from mmmjax.cli import main
from mmmjax.data.events import holiday_events, label_indicators

T = 60
HAS_HOLIDAYS = importlib.util.find_spec("holidays") is not None
needs_holidays = pytest.mark.skipif(not HAS_HOLIDAYS, reason="pip install 'mmmjax[holidays]'")


def frame(t: int = T) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    labels = np.array(["na"] * t, dtype=object)
    labels[[5, 20, 41]] = "event2"
    labels[9] = "event1"
    labels[30] = "NONE"  # "no event" in any case
    labels[31] = ""
    return pd.DataFrame({
        "week": pd.date_range("2020-08-30", periods=t, freq="7D").strftime("%Y-%m-%d"),
        "sales": 1000 + rng.normal(0, 50, t),
        "tv": rng.uniform(100, 200, t),
        "events": labels,
    })  # fmt: skip


KW = dict(date="week", target="sales", channels=["tv"])


def test_text_labels_become_one_indicator_per_label():
    df = frame()
    ds = mmmjax.Dataset.from_frame(df, **KW, events=["events"])
    assert ds.event_names == ["events=event1", "events=event2"]
    assert ds.events.shape == (T, 2)
    np.testing.assert_array_equal(np.flatnonzero(ds.events[:, 0]), [9])
    np.testing.assert_array_equal(np.flatnonzero(ds.events[:, 1]), [5, 20, 41])


def test_text_labels_from_csv_with_missing_cells(tmp_path):
    """As in Robyn's tutorial data: 'na' (read by pandas as missing) and labels."""
    df = frame()
    df.loc[12, "events"] = None  # an empty cell
    path = tmp_path / "data.csv"
    df.to_csv(path, index=False)
    ds = mmmjax.Dataset.from_csv(path, **KW, events=["events"])
    assert ds.event_names == ["events=event1", "events=event2"]
    assert ds.events.sum(axis=0).tolist() == [1.0, 3.0]


def test_numeric_dummies_are_unchanged_and_mix_with_labels():
    df = frame()
    df["promo"] = (np.arange(T) % 7 == 0).astype(int)
    ds = mmmjax.Dataset.from_frame(df, **KW, events=["promo", "events"])
    assert ds.event_names == ["promo", "events=event1", "events=event2"]
    np.testing.assert_array_equal(ds.events[:, 0], df["promo"].to_numpy())


def test_a_label_column_with_no_event_is_refused():
    df = frame()
    df["events"] = "na"
    with pytest.raises(DataError, match="column 'events': no event"):
        mmmjax.Dataset.from_frame(df, **KW, events=["events"])


def test_label_indicators_directly():
    values, names = label_indicators(pd.Series(["a", np.nan, "b", "a", "None"]), "ev")
    assert names == ["ev=a", "ev=b"]
    np.testing.assert_array_equal(values, [[1, 0], [0, 0], [0, 1], [1, 0], [0, 0]])


@needs_holidays
def test_holidays_weekly_with_window():
    dates = pd.date_range("2020-08-30", periods=70, freq="7D")  # period starts (Sundays)
    ev = holiday_events(dates, "US", before=1, after=1)
    thanksgiving = ev["US: Thanksgiving Day"]
    # 2020-11-26 is in the week starting 2020-11-22 (index 12); 2021-11-25 in 2021-11-21 (64)
    hits = np.flatnonzero(thanksgiving.to_numpy())
    np.testing.assert_array_equal(hits, [11, 12, 13, 63, 64, 65])
    assert set(np.unique(ev.to_numpy())) <= {0.0, 1.0}
    assert "US: Christmas Day" in ev.columns
    no_window = holiday_events(dates, "US")
    np.testing.assert_array_equal(np.flatnonzero(no_window["US: Thanksgiving Day"]), [12, 64])
    # a window reaching in from a holiday outside the data: Labor Day 2020-09-07 is period 1
    assert no_window["US: Labor Day"].iloc[:3].tolist() == [0.0, 1.0, 0.0]


@needs_holidays
def test_holidays_daily_and_observed_days():
    dates = pd.date_range("2021-06-28", periods=14, freq="D")
    ev = holiday_events(dates, "US")
    # 2021-07-04 was a Sunday, observed on Monday 07-05: both count as Independence Day
    np.testing.assert_array_equal(np.flatnonzero(ev["US: Independence Day"]), [6, 7])


@needs_holidays
def test_dataset_with_holidays_and_labels():
    ds = mmmjax.Dataset.from_frame(
        frame(), **KW, events=["events"], holidays="US", holiday_window=(1, 0)
    )
    assert ds.event_names[:2] == ["events=event1", "events=event2"]
    tg = ds.event_names.index("US: Thanksgiving Day")
    np.testing.assert_array_equal(np.flatnonzero(ds.events[:, tg]), [11, 12])
    roundtrip = mmmjax.Dataset.from_frame(
        ds.to_frame(), date=ds.date_name, target="sales", channels=["tv"], events=ds.event_names
    )
    np.testing.assert_array_equal(roundtrip.events, ds.events)


@needs_holidays
def test_unknown_country_is_one_data_error():
    with pytest.raises(DataError, match="holidays='XX'"):
        mmmjax.Dataset.from_frame(frame(), **KW, holidays="XX")


def test_missing_holidays_package_says_how_to_install(monkeypatch):
    import mmmjax.data.events as events

    def missing(name):
        raise ImportError(f"No module named {name!r}")

    monkeypatch.setattr(events.importlib, "import_module", missing)
    with pytest.raises(ImportError, match=r"mmmjax\[holidays\]"):
        holiday_events(pd.date_range("2021-01-03", periods=5, freq="7D"), "US")


def test_bad_window_is_refused():
    with pytest.raises(ValueError, match="holiday window"):
        holiday_events(pd.date_range("2021-01-03", periods=5, freq="7D"), "US", before=-1)


def test_cli_refuses_bad_window_and_missing_package(tmp_path, capsys, monkeypatch):
    path = tmp_path / "data.csv"
    frame().to_csv(path, index=False)
    args = ["fit", str(path), "--date", "week", "--target", "sales", "--channels", "tv",
            "--events", "events", "--out", str(tmp_path / "out")]  # fmt: skip
    assert main([*args, "--holidays", "US", "--holiday-window", "1"]) == 2
    assert "--holiday-window must be BEFORE,AFTER" in capsys.readouterr().err
    import mmmjax.data.events as events

    def missing(name):
        raise ImportError(f"No module named {name!r}")

    monkeypatch.setattr(events.importlib, "import_module", missing)
    assert main([*args, "--holidays", "US"]) == 2
    err = capsys.readouterr().err
    assert "mmmjax[holidays]" in err and "Traceback" not in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()
