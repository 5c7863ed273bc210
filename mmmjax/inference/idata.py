"""The one module that speaks to ArviZ, on either of its lines.

ArviZ 0.x keeps draws in an ``arviz.InferenceData``; ArviZ 1.x (``arviz-base``, ``arviz-stats``,
``arviz-plots``; Python >= 3.12) in an ``xarray.DataTree`` with one child node per group. Both
hold the same groups (``posterior``, ``sample_stats``, ``observed_data``, ...) as named-dim xarray
data, both write them as groups of one netCDF-4 file, and both read each other's files. This
module hides the differences that remain (how a data object is built from arrays, how a group is
added, listed, written and read, and the diagnostics' entry points), so the rest of mmmjax works
unchanged on either line, and :attr:`mmmjax.Fit.idata` is always the *installed* ArviZ's own
object: ``az.summary(fit.idata)``, ``az.plot_trace``, ``az.loo`` and ``az.compare`` take it as it
is.

Attribute access works alike on both objects (``idata.posterior["sigma"]``,
``idata.posterior.data_vars``, ``hasattr(idata, "prior")``), so callers use it directly; on 1.x
a group is a ``DataTree`` node rather than an ``xarray.Dataset``; :func:`group` gives a Dataset on
both.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

# ArviZ 1.x (arviz-base) puts a lazy ``numpyro`` module in ``sys.modules`` on import; a first
# import of ``numpyro.distributions`` through that lazy parent leaves
# ``numpyro.distributions.distribution`` unset, and NUTS then fails with AttributeError. So
# every mmmjax module imports ``numpyro`` itself before any of its submodules, whichever of
# arviz and mmmjax the user imports first (tests/test_idata.py checks both orders).
import arviz as az
import pandas as pd
import xarray as xr

__all__ = [
    "ARVIZ_1",
    "IData",
    "add_groups",
    "assign_coords",
    "deep_copy",
    "ess",
    "from_datasets",
    "from_dict",
    "from_netcdf",
    "group",
    "group_names",
    "rhat",
    "summary",
    "to_netcdf",
]

#: whether the installed ArviZ is of the 1.x line (``DataTree``) rather than 0.x
ARVIZ_1: bool = int(az.__version__.split(".")[0]) >= 1

#: the installed ArviZ's data object: ``xarray.DataTree`` on 1.x, ``arviz.InferenceData`` on 0.x
IData: TypeAlias = xr.DataTree if ARVIZ_1 else az.InferenceData  # type: ignore[valid-type]

Arrays = Mapping[str, Any]
# xarray.DataTree exists from xarray 2024.10 on; ArviZ 0.x may run with an older xarray
_TREE: tuple[type, ...] = (xr.DataTree,) if hasattr(xr, "DataTree") else ()


def from_dict(
    groups: Mapping[str, Arrays],
    *,
    coords: Mapping[str, Sequence[Any]] | None = None,
    dims: Mapping[str, Sequence[str]] | None = None,
) -> IData:
    """The data object of ``groups`` ``{group: {variable: array}}``, with ArviZ's group names
    (``posterior``, ``sample_stats``, ``log_likelihood``, ``posterior_predictive``, ``prior``,
    ``prior_predictive``, ``observed_data``, ``constant_data``, ...).

    Arrays of the sampled groups (every group whose name does not contain ``data``) lead with
    ``(chain, draw)``; those of ``observed_data`` and ``constant_data`` have no sample dims.
    ``dims`` names each variable's remaining axes, ``coords`` labels those dims (a dim without
    labels is numbered from 0).
    """
    groups = {name: dict(arrays) for name, arrays in groups.items()}
    if ARVIZ_1:
        return az.from_dict(groups, coords=coords, dims=dims)
    return az.from_dict(**groups, coords=coords, dims=dims)


def from_datasets(groups: Mapping[str, xr.Dataset | xr.DataTree]) -> IData:
    """A data object with the given groups, each an ``xarray.Dataset`` (or a group of another
    data object); the data are shared, not copied."""
    datasets = {name: _dataset(ds) for name, ds in groups.items()}
    if ARVIZ_1:
        return xr.DataTree.from_dict(datasets)
    return az.InferenceData(**datasets)


def add_groups(
    idata: IData,
    groups: Mapping[str, Arrays | xr.Dataset | xr.DataTree],
    *,
    coords: Mapping[str, Sequence[Any]] | None = None,
    dims: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Add new groups to ``idata`` in place: arrays as in :func:`from_dict`, or xarray datasets
    as they are."""
    arrays = {k: v for k, v in groups.items() if not isinstance(v, (xr.Dataset, *_TREE))}
    made = from_dict(arrays, coords=coords, dims=dims) if arrays else None
    for name, value in groups.items():
        ds = _dataset(value) if name not in arrays else group(made, name)
        if ARVIZ_1:
            idata[name] = xr.DataTree(ds)
        else:
            idata.add_groups({name: ds})


def deep_copy(idata: IData) -> IData:
    """A copy of ``idata`` that shares no array with it (``DataTree.copy()`` is shallow by
    default, ``InferenceData.copy()`` always deep)."""
    return idata.copy(deep=True) if ARVIZ_1 else idata.copy()


def assign_coords(idata: IData, coords: Mapping[str, Sequence[Any]]) -> IData:
    """A new data object with the labels of each dim in ``coords`` replaced, in every group that
    has that dim (the arrays are shared, not copied)."""
    out = {}
    for name in group_names(idata):
        ds = group(idata, name)
        out[name] = ds.assign_coords({d: list(v) for d, v in coords.items() if d in ds.dims})
    return from_datasets(out)


def group_names(idata: IData) -> list[str]:
    """Names of the groups of ``idata``, in order (``["posterior", "sample_stats", ...]``)."""
    return list(idata.children) if ARVIZ_1 else list(idata.groups())


def group(idata: IData, name: str) -> xr.Dataset | None:
    """Group ``name`` of ``idata`` as an ``xarray.Dataset`` (``None`` if absent)."""
    if name not in group_names(idata):
        return None
    return _dataset(idata[name] if ARVIZ_1 else getattr(idata, name))


def _dataset(x: xr.Dataset | xr.DataTree) -> xr.Dataset:
    return x.to_dataset() if isinstance(x, _TREE) else x


def to_netcdf(idata: IData, path: str | os.PathLike) -> None:
    """Write every group of ``idata`` to the netCDF-4 file ``path`` (one netCDF group each,
    through h5netcdf). Either ArviZ line reads the file back with :func:`from_netcdf`."""
    idata.to_netcdf(str(path), engine="h5netcdf")


def from_netcdf(path: str | os.PathLike) -> IData:
    """Read a file written by :func:`to_netcdf` (under either ArviZ line) into memory and close
    it, so the file can be replaced afterwards."""
    if ARVIZ_1:
        with xr.open_datatree(str(path), engine="h5netcdf") as tree:
            return tree.load()
    with az.rc_context({"data.load": "eager"}):
        return az.from_netcdf(str(path), engine="h5netcdf")


# ----------------------------------------------------------------------------------------------
# diagnostics
# ----------------------------------------------------------------------------------------------
def ess(posterior: xr.Dataset | xr.DataTree, method: str = "bulk") -> xr.Dataset:
    """Effective sample size (``method`` "bulk" or "tail") of every variable of ``posterior``
    (dims ``(chain, draw, ...)``): a Dataset of the per-element values, ``(...)``."""
    return _dataset(az.ess(_dataset(posterior), method=method))


def rhat(posterior: xr.Dataset | xr.DataTree) -> xr.Dataset:
    """Rank-normalised split r-hat of every variable of ``posterior`` (at least two chains):
    a Dataset of the per-element values, ``(...)``."""
    return _dataset(az.rhat(_dataset(posterior)))


def summary(idata: IData, var_names: Sequence[str] | None = None, **kwargs: Any) -> pd.DataFrame:
    """The installed ArviZ's ``summary`` table of ``idata`` (its columns differ between lines:
    0.x gives a 94% HDI, 1.x an 89% ETI by default; ``kwargs`` go to ``arviz.summary``)."""
    names = None if var_names is None else list(var_names)
    return az.summary(idata, var_names=names, **kwargs)
