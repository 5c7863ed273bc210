"""Data sets shipped inside the package.

``demo``: three years of weekly data (156 weeks, from 2021-01-03) for five channels
(``tv``, ``search``, ``social``, ``display``, ``radio``; spend in money per week), two controls
(``price_index``, ``competitor_promo``) and a ``revenue`` target, simulated by
:func:`mmmjax.simulate` with geometric adstock and Hill saturation (regenerate with
``scripts/make_demo_dataset.py``). Its ground truth (parameters, contributions, ROI, mROI) ships
beside it.

The files are read with :mod:`importlib.resources`, so they work from a wheel, an sdist install
or a source checkout (``pyproject.toml`` lists ``*.csv`` and ``*.json`` as package data).

Example:
    >>> from mmmjax import datasets
    >>> datasets.names()
    ['demo']
    >>> ds, truth = datasets.load("demo", with_truth=True)
    >>> ds.n_periods, ds.channels[:2], round(float(truth.roi["search"]), 2)
    (156, ['tv', 'search'], 4.0)
"""

from __future__ import annotations

import json
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal, overload

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    from mmmjax.data import Dataset
    from mmmjax.simulation import Truth

__all__ = ["columns", "csv_path", "load", "names"]

# name -> (csv file, truth json file); the json also records the column roles
_FILES: dict[str, tuple[str, str]] = {"demo": ("demo.csv", "demo_truth.json")}


def names() -> list[str]:
    """Names of the embedded data sets."""
    return sorted(_FILES)


def _files(name: str) -> tuple[Traversable, Traversable]:
    try:
        csv, truth = _FILES[name]
    except KeyError:
        raise KeyError(
            f"no embedded data set named {name!r}; available: {', '.join(names())}"
        ) from None
    root = resources.files(__name__)
    return root / csv, root / truth


def _meta(name: str) -> dict[str, Any]:
    return json.loads(_files(name)[1].read_text(encoding="utf-8"))


def csv_path(name: str = "demo") -> Traversable:
    """The embedded CSV file (a :class:`~importlib.resources.abc.Traversable`; a real path
    for normal installs), e.g. to try ``mmmjax fit`` on it."""
    return _files(name)[0]


def columns(name: str = "demo") -> dict[str, Any]:
    """Keyword arguments for :meth:`Dataset.from_csv` (``date``, ``target``, ``channels``,
    ``controls``, ``events``) that read the embedded CSV."""
    return dict(_meta(name)["columns"])


@overload
def load(name: str = ..., with_truth: Literal[False] = ...) -> Dataset: ...
@overload
def load(name: str = ..., *, with_truth: Literal[True]) -> tuple[Dataset, Truth]: ...
@overload
def load(name: str, with_truth: Literal[True]) -> tuple[Dataset, Truth]: ...


def load(name: str = "demo", with_truth: bool = False) -> Dataset | tuple[Dataset, Truth]:
    """Load an embedded data set.

    Args:
        name: one of :func:`names`.
        with_truth: also return the ground truth that generated it.

    Returns:
        The validated :class:`~mmmjax.data.Dataset` (money units), or ``(dataset, truth)``.

    Raises:
        KeyError: unknown ``name`` (the message lists the available ones).
    """
    import pandas as pd

    from mmmjax.data import Dataset

    csv, _ = _files(name)
    meta = _meta(name)
    with csv.open("r", encoding="utf-8") as fh:
        frame = pd.read_csv(fh)
    dataset = Dataset.from_frame(frame, date_format="%Y-%m-%d", **meta["columns"])
    if not with_truth:
        return dataset
    from mmmjax.simulation import Truth  # imports JAX; only when the truth is asked for

    return dataset, Truth.from_dict(meta)
