"""The one entry to fitting and loading: national data and geo panels go through the same calls.

National data are the one-geo case of a panel (as Meridian treats them): :func:`fit` takes a
:class:`~mmmjax.Dataset` or a :class:`~mmmjax.GeoDataset` (:func:`mmmjax.data.is_panel` tells
them apart) and :func:`load_fit` reads either kind of saved fit. ``MMM.fit``,
``mmmjax.load_fit`` and :func:`mmmjax.fit_many` call these.

Example:
    >>> import mmmjax
    >>> panel, _ = mmmjax.simulate_geo(n_geos=3, n_periods=60, n_channels=2)
    >>> fit = mmmjax.MMM(seasonality=1).fit(panel, draws=200, warmup=200)  # doctest: +SKIP
    >>> fit.save("out"); mmmjax.load_fit("out").geos  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mmmjax.data import is_panel
from mmmjax.inference.fit import fit_model, prepare
from mmmjax.inference.fit import load_fit as load_national_fit
from mmmjax.inference.geo_fit import KIND as GEO_KIND
from mmmjax.inference.geo_fit import fit_geo, fit_panel, load_geo_fit, prepare_geo
from mmmjax.model import MMM
from mmmjax.model.geo import GeoMMM
from mmmjax.review import review_data

__all__ = ["fit", "load_fit"]


def fit(spec: MMM | GeoMMM, dataset, *, review: str = "error", **options: Any):
    """Fit ``spec`` to national data (:func:`mmmjax.inference.fit.fit_model`) or to a panel
    (:func:`mmmjax.inference.geo_fit.fit_panel`: partial pooling over geos, a one-geo panel fitted
    as national data), after reviewing the data. ``options`` are those of the two functions.

    Args:
      review: what a data error found by :func:`mmmjax.review_data` does before sampling:
        "error" raises :class:`~mmmjax.DataError`, "warn" emits a warning, "off" skips the review.
    """
    geo_spec = isinstance(spec, GeoMMM)  # the old geo specification: a panel of several geos
    if geo_spec and not is_panel(dataset):
        raise TypeError(f"a geo fit needs an mmmjax.GeoDataset, got {type(dataset).__name__}")
    if review != "off":
        _check(spec, dataset, options)  # the model's own data checks say what is wrong first
        review_data(dataset, spec).enforce(review)
    if geo_spec:
        return fit_geo(spec, dataset, **options)
    if is_panel(dataset):
        return fit_panel(spec, dataset, **options)
    return fit_model(spec, dataset, **options)


def _check(spec, dataset, options: dict[str, Any]) -> None:
    """Run the checks of the data against ``spec`` that building the model does (too few
    periods, lift tests that do not fit the data, ...), raising their own errors."""
    lift_tests, scales = options.get("lift_tests"), options.get("scales")
    if isinstance(spec, GeoMMM):
        prepare_geo(spec, dataset, lift_tests=lift_tests, scales=scales)
    elif is_panel(dataset):
        if dataset.n_geos > 1:
            prepare_geo(GeoMMM.of(spec), dataset, lift_tests=lift_tests, scales=scales)
    else:
        prepare(spec, dataset, lift_tests=lift_tests, scales=scales)


def load_fit(path: str | os.PathLike):
    """Load a fit saved by ``Fit.save`` or ``GeoFit.save``, whichever kind it is (netCDF +
    JSON, exact round trip, no pickle; every file checked, see
    :func:`mmmjax.inference.fit.load_fit`).

    Raises:
      FileNotFoundError: ``path`` holds no ``fit.json`` and ``fit.nc``.
      DataError: the files are damaged or inconsistent; the message names the file and the
        problem.
    """
    try:
        meta = json.loads((Path(path) / "fit.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = None  # the national loader says what is wrong, naming the file
    if isinstance(meta, dict) and meta.get("kind") == GEO_KIND:
        return load_geo_fit(path)
    return load_national_fit(path)
