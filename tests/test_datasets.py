"""Tests for mmmjax.datasets: the embedded demo data and its ground truth."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mmmjax
from mmmjax import datasets
from mmmjax.data import Dataset
from mmmjax.simulation import Truth

ROOT = Path(__file__).resolve().parents[1]


def test_names_and_unknown_name():
    assert datasets.names() == ["demo"]
    assert mmmjax.datasets is datasets
    with pytest.raises(KeyError, match=r"'nope'.*available: demo"):
        datasets.load("nope")


def test_files_are_package_resources():
    root = resources.files("mmmjax.datasets")
    found = {p.name for p in root.iterdir()}
    assert {"demo.csv", "demo_truth.json"} <= found
    assert datasets.csv_path("demo").name == "demo.csv"
    # pyproject ships them in wheels and sdists as package data
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"mmmjax.datasets" = ["*.csv", "*.json"]' in pyproject


def test_demo_loads():
    ds = datasets.load()
    assert isinstance(ds, Dataset)
    assert ds.n_periods == 156 and ds.freq == "W"
    assert ds.dates[0] == pd.Timestamp("2021-01-03")
    assert ds.channels == ["tv", "search", "social", "display", "radio"]
    assert ds.control_names == ["price_index", "competitor_promo"]
    assert ds.target_name == "revenue"
    means = ds.spend.mean(axis=0)
    assert 3_000 < means.min() and means.max() < 30_000  # money per week
    assert (ds.spend[:, 0] == 0).any() and (ds.spend[:, 1] > 0).all()  # flighted tv, always-on


def test_demo_reads_like_a_user_csv():
    ds = datasets.load()
    again = Dataset.from_csv(datasets.csv_path(), **datasets.columns())
    assert again == ds


def test_demo_truth_is_consistent_with_the_data():
    ds, truth = datasets.load("demo", with_truth=True)
    assert isinstance(truth, Truth)
    p = truth.params
    assert p["adstock"] == "geometric" and p["saturation"] == "hill"
    assert truth.channels == ds.channels
    total = truth.contributions.sum(axis=1) + truth.baseline + truth.noise
    np.testing.assert_allclose(total.to_numpy(), ds.target, rtol=1e-12)
    np.testing.assert_allclose(truth.roi, truth.contributions.sum(axis=0) / ds.spend.sum(axis=0))
    # the contributions follow from the shipped spend and parameters through the kernels
    import jax
    import jax.numpy as jnp

    from mmmjax import transforms

    with jax.enable_x64(True):
        args = {k: jnp.asarray(v) for k, v in p.items() if isinstance(v, np.ndarray)}
        x = jnp.asarray(ds.spend)
        level = transforms.apply_adstock(p["adstock"], x, args, l_max=p["l_max"])
        sat = transforms.apply_saturation(p["saturation"], level, args)
        expected = p["beta"] * np.asarray(sat)
    np.testing.assert_allclose(truth.contributions.to_numpy(), expected, rtol=1e-9)


def test_demo_truth_is_recoverable_by_design():
    _, truth = datasets.load("demo", with_truth=True)
    p = truth.params
    assert ((0.2 <= p["alpha"]) & (p["alpha"] <= 0.7)).all()
    assert ((1.0 <= p["slope"]) & (p["slope"] <= 2.5)).all()
    ratio = p["half_saturation"] / truth.spend_mean.to_numpy()
    assert ((0.5 <= ratio) & (ratio <= 2.0)).all()
    assert truth.roi.max() / truth.roi.min() > 5  # clearly different channels
    np.testing.assert_allclose(truth.roi.to_numpy(), [1.4, 4.0, 2.2, 0.6, 1.0])


def test_a_built_wheel_ships_the_data_files(tmp_path):
    """A non-editable install finds its data: the wheel holds the CSV and the truth JSON."""
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps",
         "--quiet", "-w", str(tmp_path), str(repo)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("mmmjax-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"mmmjax/datasets/demo.csv", "mmmjax/datasets/demo_truth.json"} <= names
    assert "mmmjax/transforms/adstock.py" in names
