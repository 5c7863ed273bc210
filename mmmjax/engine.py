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

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from mmmjax.data import is_panel
from mmmjax.inference.fit import fit_model, prepare
from mmmjax.inference.fit import load_fit as load_national_fit
from mmmjax.inference.geo_fit import KIND as GEO_KIND
from mmmjax.inference.geo_fit import fit_geo, load_geo_fit, prepare_geo
from mmmjax.model import MMM
from mmmjax.model.geo import GeoMMM
from mmmjax.review import review_data

__all__ = ["fit", "load_fit"]


def fit(spec: MMM | GeoMMM, dataset, *, review: str = "error", **options: Any):
    """Fit ``spec`` to national data (:func:`mmmjax.inference.fit.fit_model`) or to a panel of
    several geos (:func:`mmmjax.inference.geo_fit.fit_geo` with :meth:`GeoMMM.of(spec)
    <mmmjax.model.geo.GeoMMM.of>`: partial pooling over geos), after the model's own checks of
    the data (too few periods, lift tests that do not fit it) and the data review.

    A one-geo panel *is* national data: it is fitted as :meth:`GeoDataset.geo` of its one geo
    (lift tests naming that geo become national ones), so it gets the same posterior (same
    seed, same draws) as the same data given nationally. ``options`` are those of the two fit
    functions; ``prior_draws`` (the prior group stored with a fit) is national-only for now.

    Args:
      review: what a data error found by :func:`mmmjax.review_data` does before sampling:
        "error" raises :class:`~mmmjax.DataError`, "warn" emits a warning, "off" skips the review.
    """
    if isinstance(spec, GeoMMM):  # the old geo specification: a panel of several geos
        if not is_panel(dataset):
            raise TypeError(f"a geo fit needs an mmmjax.GeoDataset, got {type(dataset).__name__}")
    elif is_panel(dataset) and dataset.n_geos == 1:
        spec, dataset, options = _one_geo_as_national(spec, dataset, options)
    elif is_panel(dataset):
        spec = GeoMMM.of(spec)
    geo = isinstance(spec, GeoMMM)
    if review != "off":
        inputs = {"lift_tests": options.get("lift_tests"), "scales": options.get("scales")}
        (prepare_geo if geo else prepare)(spec, dataset, **inputs)  # raises its own errors
        review_data(dataset, spec).enforce(review)
    if not geo:
        return fit_model(spec, dataset, **options)
    if options.pop("prior_draws", None):
        raise ValueError("prior_draws is not supported for a panel of several geos yet: omit it")
    return fit_geo(spec, dataset, **options)


def _one_geo_as_national(spec: MMM, panel, options: dict[str, Any]):
    """``(spec, data, options)`` of a one-geo panel as national data: the national options of
    ``spec``, the panel's one geo, its lift tests with that geo dropped."""
    geo = panel.geos[0]
    tests = options.get("lift_tests")
    if tests:
        tests = [dataclasses.replace(t, geo=None) if t.geo == geo else t for t in tests]
        options = {**options, "lift_tests": tests}
    return spec.national(), panel.geo(geo), options


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
