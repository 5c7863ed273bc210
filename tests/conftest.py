"""Shared fixtures: the embedded demo data, one small fit reused across test modules, and the
real HAMS dataset (skipped with a reason when ../shared is absent, as in a user's clone)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import mmmjax
from mmmjax.inference import idata as azc

HAMS = Path(__file__).resolve().parents[2] / "shared" / "data" / "MMM_test_data.csv"
HAMS_CHANNELS = [f"spend_channel_{i}" for i in range(1, 8)]


@pytest.fixture(scope="session")
def demo():
    """``(dataset, truth)`` of the embedded demo."""
    return mmmjax.datasets.load("demo", with_truth=True)


@pytest.fixture(scope="session")
def demo_fit(demo):
    """A small but real NUTS fit of the demo (2 chains x 250 draws), shared by many tests."""
    dataset, _ = demo
    return mmmjax.MMM().fit(
        dataset, chains=2, draws=250, warmup=250, seed=0, progress=False, warn=False
    )


@pytest.fixture(scope="session")
def dollar_fit(demo_fit):
    """``demo_fit`` with channels named ``tv$ spend``, ``search $x^$`` ... (no new sampling):
    matplotlib's mathtext reads text holding two ``$`` as a formula."""
    names = ["tv$ spend", "search $x^$", "social", "display", "radio$"]
    idata = azc.assign_coords(demo_fit.idata, {"channel": names})
    dataset = dataclasses.replace(demo_fit.dataset, channels=names)
    return dataclasses.replace(demo_fit, dataset=dataset, idata=idata)


@pytest.fixture(scope="session")
def hams_path() -> Path:
    if not HAMS.is_file():
        pytest.skip(
            "../shared/data/MMM_test_data.csv is not present (a user's clone has no ../shared)"
        )
    return HAMS


@pytest.fixture(scope="session")
def hams(hams_path):
    return mmmjax.Dataset.from_csv(
        hams_path, date="start_of_week", target="revenue", channels=HAMS_CHANNELS
    )


@pytest.fixture
def first_screen(tmp_path):
    """``shot(html, css="")``: the first screen (1366 x 768, ``(768, 1366, 3)`` int RGB) of the
    page ``html`` with ``css`` appended to its style, painted by headless Chromium; the test is
    skipped when Chromium is not installed (.ci/run installs it)."""
    import shutil
    import subprocess

    import numpy as np
    from matplotlib.image import imread

    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    browser = next((shutil.which(n) for n in names if shutil.which(n)), None)
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium) - browser check")

    def shot(html: str, css: str = "") -> np.ndarray:
        page = tmp_path / "first_screen.html"
        page.write_text(html.replace("</style>", css + "</style>", 1), encoding="utf-8")
        png = tmp_path / "first_screen.png"
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars"]  # fmt: skip
        run = subprocess.run(
            [browser, *flags, f"--screenshot={png}", "--window-size=1366,768", page.as_uri()],
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-2000:]
        px = (imread(str(png))[..., :3] * 255).round().astype(int)
        assert px.shape[:2] == (768, 1366)
        return px

    return shot


@pytest.fixture(scope="module", autouse=True)
def _release_compiled_programs():
    """After each test module, drop the programs JAX compiled for it.

    Every XLA CPU executable holds three or more memory mappings (code, read-only data, data)
    for as long as JAX caches it, and the whole suite compiles tens of thousands of distinct
    programs (every model, shape and kernel it tries). In one process that passed Linux's
    default limit of 65,530 mappings (``vm.max_map_count``) near the end of the suite, and the
    next mapping XLA asked for failed as a segmentation fault (CI stop 20: exit 139 after the
    last test; measured here: 25,000 mappings by a third of the suite). Clearing JAX's caches
    between modules keeps the count to what one module needs; programs come back from the
    persistent compilation cache when a later module asks for them again.
    """
    yield
    import gc

    from mmmjax import programs

    programs.release_if_crowded(share=0.0)  # jax.clear_caches() and mmmjax's program caches
    gc.collect()
