"""Writing outputs so that an interrupted run leaves no half-written file or directory.

Three promises for everything the package writes:

- **Atomic**: a file or a set of files is written in full under a temporary name and then moved
  into place by one rename (:func:`atomic_write_text`, :func:`write_files`, :func:`replace_dir`);
  a killed process leaves either the old output or the new one, never a mixture.
- **The user's umask**: files get ``0o666 & ~umask`` and directories ``0o777 & ~umask``, as
  ``open`` and ``mkdir`` would give them (``tempfile`` creates ``0600`` files and ``0700``
  directories, which is right for secrets and wrong for a report).
- **No litter**: temporaries live *beside* their target, named ``.{target}.mmmjax-{pid}-*``; the
  next write to the same target removes those whose process is no longer running
  (:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "apply_umask",
    "atomic_write_text",
    "current_umask",
    "dumps_json",
    "remove_stale_temporaries",
    "replace_dir",
    "safe_cell",
    "temp_dir_beside",
    "write_csv",
    "write_files",
]

TEMP_TAG = ".mmmjax-"  # in every temporary's name
_LEGACY_MAX_AGE_S = 3600.0  # temporaries older versions left inside a fit directory


# ----------------------------------------------------------------------------------------------
# permissions
# ----------------------------------------------------------------------------------------------
def current_umask() -> int:
    """The process's umask, e.g. ``0o022``.

    Read from ``/proc/self/status`` where the kernel reports it (Linux 4.7+), so other threads
    never see a changed umask; elsewhere set and restored at once.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(path: str | os.PathLike, *, directory: bool = False) -> None:
    """Give ``path`` the mode a plain ``open``/``mkdir`` would: ``0o666 & ~umask`` for a file,
    ``0o777 & ~umask`` for a directory."""
    os.chmod(path, (0o777 if directory else 0o666) & ~current_umask())


# ----------------------------------------------------------------------------------------------
# temporaries beside a target
# ----------------------------------------------------------------------------------------------
def _temp_prefix(target: Path) -> str:
    return f".{target.name}{TEMP_TAG}"


def temp_dir_beside(target: str | os.PathLike) -> Path:
    """A new empty directory next to ``target`` (same filesystem, so it renames onto it).

    Named ``.{target name}.mmmjax-{pid}-XXXXXXXX``; mode from the umask.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{_temp_prefix(target)}{os.getpid()}-", dir=target.parent))
    apply_umask(tmp, directory=True)
    return tmp


def _pid_running(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another thread of this process may be writing
    if os.name == "nt":  # os.kill would terminate the process there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: someone else's live process
        return True
    return True


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


def remove_stale_temporaries(target: str | os.PathLike) -> list[Path]:
    """Remove what killed writes to ``target`` left behind; returns the removed paths.

    Those are ``.{target name}.mmmjax-{pid}-*`` beside ``target`` whose process ``pid`` is not
    running (a write in progress keeps its own), and the ``.mmmjax-*`` directories that earlier
    versions made *inside* a fit directory, once they are an hour old.
    """
    target = Path(target)
    removed = []
    prefix = _temp_prefix(target)
    if target.parent.is_dir():
        for p in target.parent.iterdir():  # not glob: the name may hold [, * or ?
            if not p.name.startswith(prefix):
                continue
            pid = p.name[len(prefix) :].split("-", 1)[0]
            if pid.isdigit() and not _pid_running(int(pid)):
                _remove(p)
                removed.append(p)
    if target.is_dir() and not target.is_symlink():
        now = time.time()
        for p in target.iterdir():
            if not p.name.startswith(TEMP_TAG):
                continue
            try:
                old = now - p.lstat().st_mtime > _LEGACY_MAX_AGE_S
            except OSError:
                continue
            if old and p.is_dir():
                _remove(p)
                removed.append(p)
    return removed


# ----------------------------------------------------------------------------------------------
# files
# ----------------------------------------------------------------------------------------------
def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` via a temporary file renamed into place.

    The file gets the umask's mode (``0o666 & ~umask``), as ``open(path, "w")`` would.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f"{_temp_prefix(path)}{os.getpid()}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        apply_umask(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def dumps_json(obj: Any, *, what: str = "JSON", **kwargs: Any) -> str:
    """``json.dumps`` that only writes valid JSON: a NaN or infinity raises a ``ValueError``
    naming ``what`` (Python's ``json`` would write the invalid tokens ``NaN``/``Infinity``)."""
    try:
        return json.dumps(obj, allow_nan=False, **kwargs)
    except ValueError as exc:
        raise ValueError(f"{what}: a value is NaN or infinite, which JSON cannot hold") from exc


# ----------------------------------------------------------------------------------------------
# directories
# ----------------------------------------------------------------------------------------------
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def exchange(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Swap the paths ``a`` and ``b`` in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``).

    Returns False, changing nothing, where the platform or filesystem cannot do it.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), os.fspath(a), None, os.fspath(b))


def replace_dir(src: Path, dst: Path) -> None:
    """Move directory ``src`` to ``dst``, replacing an existing ``dst``.

    ``src`` gets the umask's mode (``0o777 & ~umask``; ``tempfile.mkdtemp`` makes it 0700). Where
    the filesystem can swap two directories atomically (:func:`exchange`) that is done, so
    ``dst`` is never missing; otherwise the old ``dst`` is renamed aside first, then removed.
    """
    src, dst = Path(src), Path(dst)
    apply_umask(src, directory=True)
    if dst.is_dir() and not dst.is_symlink() and exchange(src, dst):
        shutil.rmtree(src, ignore_errors=True)  # now the old one
        return
    old = None
    if dst.exists() or dst.is_symlink():
        old = dst.with_name(f"{_temp_prefix(dst)}{os.getpid()}-old")
        _remove(old)
        os.replace(dst, old)
    os.replace(src, dst)
    if old is not None:
        _remove(old)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)


def _holds_cwd(path: Path) -> bool:
    """Whether ``path`` is this process's working directory or holds it."""
    try:
        Path.cwd().resolve().relative_to(path)
    except (ValueError, OSError):
        return False
    return True


def write_files(
    path: str | os.PathLike, names: Iterable[str], write: Callable[[Path], None]
) -> Path:
    """Write the files ``names`` into directory ``path`` together: all new or all old.

    ``write(tmp)`` creates the files in an empty temporary directory beside ``path``; then

    - if ``path`` does not exist or is empty, the temporary directory is renamed onto it: one
      atomic step;
    - otherwise the other entries of ``path`` are hard-linked (copied where links are refused)
      into the temporary directory and the two directories are swapped atomically
      (:func:`exchange`), so every file of ``path`` is kept and ``names`` change together.
      Where no atomic swap is available (not Linux; ``path`` holds this process's working
      directory, which a swap would leave behind; or only ``path`` itself is writable), the
      files are renamed into ``path`` one by one, in the order given: write a checksum of the
      earlier files into the last one to detect a write interrupted between the renames.

    Stale temporaries of killed writes to ``path`` are removed first
    (:func:`remove_stale_temporaries`). Files and directories get the umask's modes; an existing
    ``path`` keeps its own.
    """
    path = Path(path)
    names = list(names)
    real = path.resolve()  # a symlink to a directory: write into the directory it names
    if real.exists() and not real.is_dir():
        raise NotADirectoryError(f"{path} exists and is not a directory")
    remove_stale_temporaries(real)
    try:
        tmp, beside = temp_dir_beside(real), True
    except PermissionError:
        if not (real.is_dir() and os.access(real, os.W_OK)):
            raise
        tmp, beside = Path(tempfile.mkdtemp(prefix=f"{TEMP_TAG}{os.getpid()}-", dir=real)), False
    try:
        write(tmp)
        for name in names:
            if not (tmp / name).is_file():
                raise FileNotFoundError(f"write_files: {name} was not written")
            apply_umask(tmp / name)
        movable = beside and not _holds_cwd(real)  # moving the cwd would leave it behind
        if movable and (not real.exists() or not any(real.iterdir())):
            if real.is_dir():
                shutil.copymode(real, tmp)
            os.replace(tmp, real)  # onto an empty directory, or none: one step
            return path
        if movable and _swap_in(tmp, real, names):
            return path  # tmp now holds the old directory, removed below
        for name in names:
            os.replace(tmp / name, real / name)
        return path
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _swap_in(tmp: Path, real: Path, names: list[str]) -> bool:
    """Link ``real``'s other entries into ``tmp`` and swap the two; False if not possible."""
    for entry in real.iterdir():
        if entry.name in names:
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.copytree(entry, tmp / entry.name, symlinks=True,
                                copy_function=_link_or_copy)  # fmt: skip
            else:
                _link_or_copy(str(entry), str(tmp / entry.name))
        except OSError:
            return False
    shutil.copymode(real, tmp)
    return exchange(tmp, real)


#: First characters that make a spreadsheet read a cell as a formula (``=``, ``+``, ``-``, ``@``)
#: or that some of them strip before doing so (tab, carriage return).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` with a leading ``'`` if it is text a spreadsheet would run as a formula.

    Excel, LibreOffice and Google Sheets evaluate a cell whose text starts with ``=``, ``+``,
    ``-`` or ``@`` (a channel called ``=HYPERLINK(...)``, say): "CSV injection". A leading
    apostrophe makes them show the text as it is. Numbers (``-3.5``) and non-text values are
    returned unchanged.

    Example:
      >>> safe_cell("=1+2"), safe_cell("tv"), safe_cell(-3.5)
      ("'=1+2", 'tv', -3.5)
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(frame, path: str | os.PathLike, *, index: bool = True) -> Path:
    """Write DataFrame ``frame`` to ``path`` as CSV, atomically, with every text cell, column
    name and index label passed through :func:`safe_cell`. Every CSV the package writes goes
    through here."""
    import pandas as pd  # here, so that importing this module stays cheap

    safe = frame.rename(columns=safe_cell, index=safe_cell)  # a MultiIndex: every level
    for i in range(safe.shape[1]):
        column = safe.iloc[:, i]
        if pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column):
            safe.isetitem(i, column.map(safe_cell))
    return atomic_write_text(path, safe.to_csv(index=index))
