"""Saved fits on disk: the format national and geo fits share, and the checks made on load.

A saved fit is a directory holding ``fit.nc`` (ArviZ's data object as netCDF-4/HDF5, read and
written by :mod:`mmmjax.inference.idata` under either ArviZ line)
and ``fit.json`` (specification, scales, time axis, names, sampler info, lift tests and, since
format 2, the size and SHA-256 of ``fit.nc``). :func:`write_fit_dir` writes the two together
(:func:`mmmjax.files.write_files`: one rename, or one swap, of a directory); :func:`read_fit_dir`
refuses a pair that does not belong together, and anything malformed, with one
:class:`~mmmjax.DataError` naming the file and the problem. :class:`Meta` gives typed access to
``fit.json`` whose errors name the file and the key.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmmjax.errors import DataError
from mmmjax.files import dumps_json, write_files
from mmmjax.inference.idata import IData, from_netcdf, group_names, to_netcdf

__all__ = [
    "DATA",
    "FORMAT_VERSION",
    "META",
    "Meta",
    "is_fit_dir",
    "jsonable",
    "load_fit_dir",
    "read_fit_dir",
    "save_fit",
    "sha256_file",
    "write_fit_dir",
]

META, DATA = "fit.json", "fit.nc"
FORMAT_VERSION = 2  # 2: fit.json records fit.nc's size and SHA-256
FORMATS = (1, 2)  # the formats this version reads
GROUPS = ("posterior", "sample_stats", "observed_data", "constant_data")  # every saved fit has
_DAMAGED = "save the fit again"


def is_fit_dir(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a saved fit (``fit.json`` and ``fit.nc``)."""
    path = Path(path)
    return (path / META).is_file() and (path / DATA).is_file()


def jsonable(x: Any) -> Any:
    """``x`` with NumPy scalars and arrays as Python numbers and lists, tuples as lists, and
    NaN or infinite floats as ``None`` (JSON has no NaN): ``json.dumps`` writes it as valid
    JSON."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of the file's bytes (read in ``chunk``-byte pieces)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def save_fit(
    path: str | os.PathLike, idata: IData, meta: dict[str, Any], provenance: Any = None
) -> Path:
    """Save a fit (national or geo): ``idata`` as ``fit.nc`` and ``meta`` (plus the optional
    ``refresh`` provenance) as ``fit.json``, together (:func:`write_fit_dir`)."""
    if provenance is not None:
        meta = {**meta, "refresh": jsonable(provenance)}
    return write_fit_dir(path, lambda file: to_netcdf(idata, file), meta)


def write_fit_dir(
    path: str | os.PathLike, write_netcdf: Callable[[Path], None], meta: dict[str, Any]
) -> Path:
    """Write a saved fit into directory ``path``: ``write_netcdf(file)`` writes ``fit.nc``, and
    ``fit.json`` is ``meta`` plus ``"format"`` and the size and SHA-256 of that ``fit.nc``.

    Both files appear together or not at all (see :func:`mmmjax.files.write_files`); other files
    in ``path`` are kept. ``meta`` must hold only finite numbers (``ValueError`` otherwise).
    """
    path = Path(path)

    def write(tmp: Path) -> None:
        write_netcdf(tmp / DATA)
        nc = tmp / DATA
        check = {"bytes": nc.stat().st_size, "sha256": sha256_file(nc)}
        full = {**meta, "format": FORMAT_VERSION, "netcdf": check}
        text = dumps_json(full, what=f"{path / META}", indent=2)
        (tmp / META).write_text(text + "\n", encoding="utf-8")

    return write_files(path, (DATA, META), write)  # fit.json last: it vouches for fit.nc


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not a JSON number")


class Meta:
    """``fit.json``'s object with checked access: every error is a :class:`DataError` that names
    the file and the (dotted) key.

    Example:
        >>> m = Meta(Path("fit.json"), {"dataset": {"channels": ["tv", "tv"]}})
        >>> m.names("dataset.channels")
        Traceback (most recent call last):
        ...
        mmmjax.errors.DataError: fit.json: dataset.channels: 'tv' appears twice; ...
    """

    def __init__(self, file: Path, obj: dict[str, Any]) -> None:
        self.file, self.obj = file, obj

    def error(self, key: str, problem: str) -> DataError:
        where = f"{key}: " if key else ""
        return DataError(f"{self.file}: {where}{problem}; {_DAMAGED}")

    def get(self, key: str, kind: type | tuple[type, ...] | None = None, **default: Any) -> Any:
        """The value at dotted ``key`` (``"axis.n_train"``, ``"lift_tests.0"``), of Python
        type(s) ``kind`` (``int`` excludes ``bool``, ``float`` accepts ``int``); ``default=...``
        for an optional key."""
        value: Any = self.obj
        for part in key.split("."):
            if isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
                continue
            if not isinstance(value, dict) or part not in value:
                if "default" in default:
                    return default["default"]
                raise self.error(key, "is missing")
            value = value[part]
        if kind is None:
            return value
        kinds = kind if isinstance(kind, tuple) else (kind,)
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            want = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
            raise self.error(key, f"must be {want}, got {_describe(value)}")
        return value

    def names(self, key: str, *, nonempty: bool = False) -> list[str]:
        """A list of distinct strings at ``key``."""
        names = self.get(key, list)
        bad = [v for v in names if not isinstance(v, str)]
        if bad:
            raise self.error(key, f"must be a list of names, holds {_describe(bad[0])}")
        seen: set[str] = set()
        for v in names:
            if v in seen:
                raise self.error(key, f"{v!r} appears twice; names must be distinct")
            seen.add(v)
        if nonempty and not names:
            raise self.error(key, "is empty")
        return list(names)

    def numbers(
        self, key: str, shape: Sequence[int], *, positive: bool = False, nonzero: bool = False,
        nonnegative: bool = False,
    ) -> np.ndarray:  # fmt: skip
        """Finite numbers at ``key`` as a float64 array of ``shape`` (``()`` for a scalar)."""
        value = self.get(key)
        if not _all_numbers(value):
            raise self.error(key, f"must hold numbers only, got {_describe(value)}")
        arr = np.asarray(value, dtype=np.float64)
        if arr.shape != tuple(shape) and not (arr.size == 0 and math.prod(shape) == 0):
            raise self.error(key, f"has shape {arr.shape}, expected {tuple(shape)}")
        arr = arr.reshape(shape)
        checks = [(positive, arr > 0, "> 0"), (nonzero, arr != 0, "non-zero"),
                  (nonnegative, arr >= 0, ">= 0"), (True, np.isfinite(arr), "finite")]  # fmt: skip
        for wanted, ok, what in checks[::-1]:
            if wanted and not np.all(ok):
                bad = arr.reshape(-1)[int(np.argmin(np.reshape(ok, -1)))]
                raise self.error(key, f"must be {what}, holds {bad:g}")
        return arr


_TYPE_NAMES = {dict: "an object", list: "a list", str: "a string", int: "an integer",
               float: "a number", bool: "true or false", type(None): "null"}  # fmt: skip


def _describe(v: Any) -> str:
    if v is None:
        return "null"
    text = json.dumps(v) if isinstance(v, (dict, list, str, int, float)) else repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _all_numbers(v: Any) -> bool:
    if isinstance(v, list):
        return all(_all_numbers(x) for x in v)
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def load_fit_dir(path: str | os.PathLike, *, geo: bool, build: Callable[[Meta, IData], Any]):
    """``build(meta, idata)`` of the checked files in ``path`` (:func:`read_fit_dir`), with any
    slip of ``build`` on a file it cannot read (a missing key, a wrong type or shape) turned into
    one :class:`~mmmjax.DataError` naming ``fit.nc``. National and geo loaders share it."""
    meta, idata = read_fit_dir(path, geo=geo)
    try:
        return build(meta, idata)
    except DataError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise meta.error("", f"does not describe the fit in {DATA} ({exc})") from None


def read_fit_dir(path: str | os.PathLike, *, geo: bool) -> tuple[Meta, IData]:
    """``fit.json`` (as a :class:`Meta`) and ``fit.nc`` of the saved fit in ``path``, checked:

    - ``fit.json`` is a UTF-8 JSON object (no NaN) of a known ``format``, of the right kind
      (``"kind": "geo"`` for a geo fit, absent for a national one);
    - from format 2, ``fit.nc`` has the size and SHA-256 that ``fit.json`` records, so files of
      two different saves (an interrupted save, a copied file) are refused;
    - ``fit.nc`` opens as netCDF and has the groups every saved fit has.

    Raises:
      FileNotFoundError: ``path`` does not hold ``fit.json`` and ``fit.nc``.
      DataError: anything else, naming the file and the problem.
    """
    path = Path(path)
    meta_file, nc_file = path / META, path / DATA
    if not is_fit_dir(path):
        raise FileNotFoundError(f"{path} is not a saved mmmjax fit (fit.json and fit.nc needed)")
    try:
        text = meta_file.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{meta_file}: is not UTF-8 text (a binary file?); {_DAMAGED}") from None
    except OSError as exc:
        raise DataError(f"{meta_file}: cannot be read ({exc.strerror})") from None
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{meta_file}: is not valid JSON ({exc.msg} at line {exc.lineno} column "
            f"{exc.colno}); {_DAMAGED}"
        ) from None
    except ValueError as exc:  # NaN / Infinity
        raise DataError(f"{meta_file}: is not valid JSON ({exc}); {_DAMAGED}") from None
    if not isinstance(obj, dict):
        raise DataError(f"{meta_file}: must hold a JSON object, got {_describe(obj)}; {_DAMAGED}")
    meta = Meta(meta_file, obj)
    kind = obj.get("kind")
    if geo and kind != "geo":
        raise DataError(f"{path}: not a saved geo fit (format {obj.get('format')!r})")
    if not geo and kind == "geo":
        raise DataError(f"{path} holds a geo fit; load it with mmmjax.load_geo_fit")
    if not geo and kind is not None:
        raise meta.error("kind", f"is {_describe(kind)}, not a kind of fit mmmjax knows")
    fmt = meta.get("format", int)
    if fmt not in FORMATS:
        raise DataError(
            f"{meta_file}: format {fmt} is not one this version of mmmjax reads "
            f"({', '.join(map(str, FORMATS))}); was it saved by a newer mmmjax?"
        )
    size = nc_file.stat().st_size
    if size == 0:
        raise DataError(f"{nc_file}: is empty; {_DAMAGED}")
    if fmt >= 2:
        want_size = meta.get("netcdf.bytes", int)
        want_hash = meta.get("netcdf.sha256", str)
        if size != want_size or sha256_file(nc_file) != want_hash:
            raise DataError(
                f"{nc_file}: does not match {meta_file} (its "
                f"{'size' if size != want_size else 'SHA-256'} differs from the one recorded "
                "there): the two files come from different saves (an interrupted save, or a "
                f"file copied from another fit); {_DAMAGED}"
            )
    idata = read_netcdf(nc_file)
    missing = [g for g in GROUPS if g not in group_names(idata)]
    if missing:
        raise DataError(f"{nc_file}: has no {', '.join(missing)} group; {_DAMAGED}")
    return meta, idata


def read_netcdf(nc_file: Path) -> IData:
    """``fit.nc`` read eagerly (the file is closed after), any failure a :class:`DataError`."""
    try:
        return from_netcdf(nc_file)  # nothing left open: the directory can be overwritten later
    except Exception as exc:  # h5py, h5netcdf and xarray raise many kinds for a damaged file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(
            f"{nc_file}: cannot be read as netCDF ({reason}): the file is truncated or "
            f"damaged; {_DAMAGED}"
        ) from None
