"""Saved fits and other outputs on disk: atomic writes, the user's umask, no stale temporaries,
and one clear DataError, naming the file, for every damaged or mismatched saved fit.

The fits here are built from prior draws (:func:`mmmjax.fit_from_draws`), not sampled: what is
tested is the files, and a fit of a few seconds keeps the module cheap.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import mmmjax
from mmmjax import files
from mmmjax.errors import DataError
from mmmjax.inference import idata as azc
from mmmjax.inference import store
from mmmjax.inference.fit import fit_from_draws
from mmmjax.model.priors import Prior

ROOT = Path(__file__).resolve().parents[1]


def _prior_fit(n_periods: int = 60, seed: int = 3, **info):
    dataset, _ = mmmjax.simulate(n_periods=n_periods, n_channels=2, seed=seed)
    spec = mmmjax.MMM(seasonality=1)
    prior = spec.sample_prior_predictive(dataset, draws=40, seed=seed)
    draws = {k: np.asarray(v.values)[0] for k, v in prior.prior.data_vars.items()}
    return fit_from_draws(spec, dataset, draws, info={"seed": seed, **info})


@pytest.fixture(scope="module")
def fit():
    return _prior_fit()


@pytest.fixture(scope="module")
def other_fit():
    """A fit of other data (more periods): its files must never pass for ``fit``'s."""
    return _prior_fit(n_periods=70, seed=4)


@pytest.fixture(scope="module")
def geo_fit():
    """A small GeoFit from prior draws (through the same assembly as a sampled one)."""
    from mmmjax.inference.geo_fit import assemble_geo, prepare_geo
    from mmmjax.inference.sampling import SamplerResult

    panel, _ = mmmjax.simulate_geo(n_geos=3, n_periods=40, n_channels=2, n_controls=1,
                                   seasonality=1, seed=2)  # fmt: skip
    problem = prepare_geo(mmmjax.GeoMMM(), panel)
    rng = np.random.default_rng(0)
    post = {k: problem.priors[k].sample_numpy(rng, (20, *s))[None].astype(np.float32)
            for k, s in problem.shapes.items()}  # fmt: skip
    result = SamplerResult(post, {"diverging": np.zeros((1, 20), bool)}, "sequential", 0.0,
                           False, 0)  # fmt: skip
    return assemble_geo(problem, result, seed=0, warn=False)


def _edit_json(path: Path, edit) -> None:
    meta = json.loads((path / "fit.json").read_text())
    edit(meta)
    (path / "fit.json").write_text(json.dumps(meta))


def _same(a, b) -> None:
    assert a.spec == b.spec and a.scales == b.scales and a.dataset == b.dataset
    assert a.axis == b.axis and a.info == b.info
    assert azc.group_names(a.idata) == azc.group_names(b.idata)
    for name in azc.group_names(a.idata):
        assert azc.group(a.idata, name).equals(azc.group(b.idata, name)), name


def test_round_trip_is_exact_and_records_the_checksum(tmp_path, fit):
    path = fit.save(tmp_path / "f")
    _same(mmmjax.load_fit(path), fit)
    meta = json.loads((path / "fit.json").read_text())
    assert meta["format"] == 2
    assert meta["netcdf"] == {"bytes": (path / "fit.nc").stat().st_size,
                              "sha256": store.sha256_file(path / "fit.nc")}  # fmt: skip
    assert sorted(os.listdir(tmp_path)) == ["f"]  # no temporary left, beside or inside
    assert sorted(os.listdir(path)) == ["fit.json", "fit.nc"]


def test_a_fit_saved_in_format_1_still_loads(tmp_path, fit):
    path = fit.save(tmp_path / "f")
    _edit_json(path, lambda m: (m.pop("netcdf"), m.update(format=1)))
    _same(mmmjax.load_fit(path), fit)


# ----------------------------------------------------------------------------------------------
# every damaged fit.json: one DataError naming the file and the key
# ----------------------------------------------------------------------------------------------
def _set(key, value):
    def edit(meta):
        *parents, last = key.split(".")
        d = meta
        for p in parents:
            d = d[int(p)] if isinstance(d, list) else d[p]
        d[last] = value

    return edit


def _delete(key):
    def edit(meta):
        *parents, last = key.split(".")
        d = meta
        for p in parents:
            d = d[p]
        del d[last]

    return edit


BROKEN_JSON = {
    "a NaN scale": (_set("scales.target", float("nan")), "NaN"),
    "an infinite spend scale": (_set("scales.spend", [1.0, float("inf")]), "Infinity"),
    "a zero spend scale": (_set("scales.spend", [0.0, 1.0]), r"scales\.spend: must be > 0"),
    "a negative spend scale": (_set("scales.spend", [5.0, -1.0]), r"scales\.spend"),
    "a zero target scale": (_set("scales.target", 0), r"scales\.target: must be non-zero"),
    "a string scale": (_set("scales.target", "1e5"), r"scales\.target: must hold numbers"),
    "too few spend scales": (_set("scales.spend", [1.0]), r"scales\.spend: has shape"),
    "duplicate channels": (_set("dataset.channels", ["channel_1", "channel_1"]), "twice"),
    "channels of another fit": (_set("dataset.channels", ["tv", "radio"]), "differ"),
    "n_train 0": (_set("axis.n_train", 0), r"axis\.n_train: is 0"),
    "n_train off by one": (_set("axis.n_train", 59), r"axis\.n_train: is 59"),
    "n_train true": (_set("axis.n_train", True), r"axis\.n_train: must be an integer"),
    "another origin": (_set("axis.origin", "1999-01-03"), r"axis\.origin"),
    "a zero period": (_set("axis.period_days", 0), r"axis\.period_days: must be > 0"),
    "no scales": (_delete("scales"), r"scales\.spend: is missing"),
    "no dataset names": (_delete("dataset"), r"dataset\.channels: is missing"),
    "spec null": (_set("spec", None), r"spec: must be an object, got null"),
    "an unknown spec key": (_set("spec.colour", "red"), r"spec: .*colour"),
    "an unknown adstock": (_set("spec.adstock", "magic"), r"spec: .*magic"),
    "info a list": (_set("info", [1]), r"info: must be an object"),
    "lift tests an object": (_set("lift_tests", {}), r"lift_tests: must be a list"),
    "a lift test a number": (_set("lift_tests", [3]), r"lift_tests\.0: must be an object"),
    "format 9": (_set("format", 9), "format 9 is not one"),
    "a checksum of another file": (_set("netcdf.sha256", "0" * 64), "does not match"),
    "a prior naming a module attribute": (
        _set("spec.priors", {"sigma": {"dist": "kl_divergence", "params": {}}}),
        r"spec: unknown prior distribution 'kl_divergence'",
    ),
    "a discrete prior": (
        _set("spec.priors", {"sigma": {"dist": "Poisson", "params": {"rate": 1.0}}}),
        r"spec: prior distribution 'Poisson' is discrete",
    ),
    "a prior with a NaN-free string parameter": (
        _set("spec.priors", {"sigma": {"dist": "HalfNormal", "params": {"scale": "0.2"}}}),
        r"spec: prior 'HalfNormal': parameter 'scale'",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN_JSON))
def test_a_damaged_fit_json_is_one_data_error_naming_it(tmp_path, fit, case):
    edit, message = BROKEN_JSON[case]
    path = fit.save(tmp_path / "f")
    _edit_json(path, edit)
    with pytest.raises(DataError, match=message) as err:
        mmmjax.load_fit(path)
    assert "fit.json" in str(err.value) or "fit.nc" in str(err.value)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    "content, message",
    [
        ("[1, 2]", "must hold a JSON object, got \\[1, 2\\]"),
        ("", "is not valid JSON"),
        ('{"format": 2, "spec": {', "is not valid JSON"),
        ("null", "must hold a JSON object, got null"),
        (b"\x89PNG\r\n\x1a\n\xff\xfe", "is not UTF-8 text"),
    ],
    ids=["a top-level list", "empty", "truncated", "null", "binary"],
)
def test_fit_json_that_is_no_json_object_is_a_data_error(tmp_path, fit, content, message):
    path = fit.save(tmp_path / "f")
    if isinstance(content, bytes):
        (path / "fit.json").write_bytes(content)
    else:
        (path / "fit.json").write_text(content)
    with pytest.raises(DataError, match=message) as err:
        mmmjax.load_fit(path)
    assert str(path / "fit.json") in str(err.value)


@pytest.mark.parametrize("fmt", [1, 2])
@pytest.mark.parametrize("damage", ["truncated", "empty", "zeroed"])
def test_a_damaged_fit_nc_is_a_data_error_naming_it(tmp_path, fit, damage, fmt):
    """Format 2 checks the checksum first; format 1 (no checksum) fails on reading."""
    path = fit.save(tmp_path / "f")
    if fmt == 1:
        _edit_json(path, lambda m: (m.pop("netcdf"), m.update(format=1)))
    nc = path / "fit.nc"
    data = nc.read_bytes()
    nc.write_bytes({"truncated": data[: len(data) // 2], "empty": b"",
                    "zeroed": bytes(len(data))}[damage])  # fmt: skip
    with pytest.raises(DataError, match=r"fit.nc: ") as err:
        mmmjax.load_fit(path)
    assert str(nc) in str(err.value)


def test_fit_nc_of_another_fit_is_refused(tmp_path, fit, other_fit):
    path = fit.save(tmp_path / "f")
    other = other_fit.save(tmp_path / "g")
    shutil.copyfile(other / "fit.nc", path / "fit.nc")
    with pytest.raises(DataError, match="does not match"):
        mmmjax.load_fit(path)
    # even with the checksum made to agree (a format-1 file, or an edited one), the contents
    # are checked against fit.json: 70 dates in fit.nc, 60 in fit.json
    _edit_json(path, lambda m: m.update(netcdf=json.loads((other / "fit.json").read_text())[
        "netcdf"]))  # fmt: skip
    with pytest.raises(DataError, match=r"axis\.n_train: is 60, but fit\.nc holds 70"):
        mmmjax.load_fit(path)


def test_posterior_draws_that_do_not_fit_the_spec_are_refused(tmp_path, fit):
    path = fit.save(tmp_path / "f")
    _edit_json(path, _set("spec.likelihood", "student_t"))  # needs draws of nu
    with pytest.raises(DataError, match="has no variable 'nu'"):
        mmmjax.load_fit(path)


def test_non_finite_draws_are_refused(tmp_path, fit):
    idata = azc.deep_copy(fit.idata)  # DataTree.copy() is shallow: the fixture would change
    idata.posterior["sigma"][0, 3] = np.nan
    broken = type(fit)(fit.spec, fit.dataset, fit.scales, fit.axis, idata, fit.info)
    path = broken.save(tmp_path / "f")
    with pytest.raises(DataError, match="'sigma' holds values that are not finite"):
        mmmjax.load_fit(path)


# ----------------------------------------------------------------------------------------------
# atomic saves: a crash never leaves a pair that loads as the wrong fit
# ----------------------------------------------------------------------------------------------
class Crash(Exception):
    pass


def _crash_on(monkeypatch, call: int) -> None:
    """``os.replace`` raises on its ``call``-th call (1-based) from now on."""
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == call:
            raise Crash(f"killed while renaming onto {dst}")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)


def test_a_crash_during_a_first_save_leaves_nothing(tmp_path, fit, monkeypatch):
    _crash_on(monkeypatch, 1)
    with pytest.raises(Crash):
        fit.save(tmp_path / "f")
    assert os.listdir(tmp_path) == []


def test_a_crash_while_swapping_keeps_the_old_fit(tmp_path, fit, other_fit, monkeypatch):
    path = other_fit.save(tmp_path / "f")
    (path / "report.html").write_text("old report")

    def killed(a, b):
        raise Crash("killed")

    monkeypatch.setattr(files, "exchange", killed)
    with pytest.raises(Crash):
        fit.save(path)
    _same(mmmjax.load_fit(path), other_fit)
    assert (path / "report.html").read_text() == "old report"
    assert sorted(os.listdir(tmp_path)) == ["f"]


def test_a_crash_between_the_renames_is_detected(tmp_path, fit, other_fit, monkeypatch):
    """Without an atomic swap (not Linux) the files are renamed one by one; a crash between
    the two renames leaves a new fit.nc beside the old fit.json, which must not load."""
    path = other_fit.save(tmp_path / "f")
    monkeypatch.setattr(files, "exchange", lambda a, b: False)
    _crash_on(monkeypatch, 2)  # fit.nc renamed in, then killed before fit.json
    with pytest.raises(Crash):
        fit.save(path)
    monkeypatch.undo()
    with pytest.raises(DataError, match="does not match"):
        mmmjax.load_fit(path)
    fit.save(path)  # saving again repairs it
    _same(mmmjax.load_fit(path), fit)


def test_resaving_swaps_the_directory_and_keeps_other_files(tmp_path, fit, other_fit):
    path = other_fit.save(tmp_path / "f")
    (path / "report.html").write_text("<html></html>")
    (path / "plots").mkdir()
    (path / "plots" / "a.png").write_bytes(b"png")
    os.chmod(path, 0o750)
    fit.save(path)
    _same(mmmjax.load_fit(path), fit)
    assert (path / "report.html").read_text() == "<html></html>"
    assert (path / "plots" / "a.png").read_bytes() == b"png"
    assert stat.S_IMODE(path.stat().st_mode) == 0o750  # the user's directory keeps its mode
    assert sorted(os.listdir(tmp_path)) == ["f"]


def test_saving_into_the_working_directory_writes_in_place(tmp_path, fit, other_fit,
                                                           monkeypatch):  # fmt: skip
    """A swap would leave the process's working directory behind (deleted): not done there."""
    path = other_fit.save(tmp_path / "f")
    monkeypatch.chdir(path)
    fit.save(".")
    assert Path.cwd().samefile(path) and (Path.cwd() / "fit.json").is_file()
    _same(mmmjax.load_fit("."), fit)
    empty = tmp_path / "empty"  # an empty working directory is not renamed over either
    empty.mkdir()
    monkeypatch.chdir(empty)
    fit.save(".")
    assert Path.cwd().samefile(empty) and sorted(os.listdir(".")) == ["fit.json", "fit.nc"]


def test_exchange_swaps_two_directories(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("a")
    (b / "x").write_text("b")
    if not files.exchange(a, b):
        pytest.skip("this filesystem cannot swap directories atomically")
    assert (a / "x").read_text() == "b" and (b / "x").read_text() == "a"


def test_a_killed_save_leaves_no_temporary_behind_after_the_next_save(tmp_path, fit):
    """Kill (SIGKILL) a process in the middle of a save: its temporary directory lies beside
    the target, never inside, and the next save removes it."""
    path = fit.save(tmp_path / "f")
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        from mmmjax.inference import store
        def killed(file):
            os.kill(os.getpid(), signal.SIGKILL)
        store.write_fit_dir({str(path)!r}, killed, {{}})
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=300)
    assert proc.returncode == -9, proc.stderr.decode()
    assert sorted(os.listdir(path)) == ["fit.json", "fit.nc"]  # nothing inside
    left = [p for p in os.listdir(tmp_path) if p != "f"]
    assert len(left) == 1 and left[0].startswith(".f.mmmjax-"), left
    # a temporary of a live process (this one) is kept; an old version's, inside, removed
    live = files.temp_dir_beside(path)
    legacy = path / ".mmmjax-abc123"
    legacy.mkdir()
    os.utime(legacy, (0, 0))
    fit.save(path)
    assert sorted(os.listdir(tmp_path)) == sorted(["f", live.name])
    assert sorted(os.listdir(path)) == ["fit.json", "fit.nc"]
    live.rmdir()


# ----------------------------------------------------------------------------------------------
# permissions: the user's umask, as open() and mkdir() give
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
def test_everything_written_follows_the_umask(tmp_path, fit, umask_027):
    assert files.current_umask() == 0o027
    path = fit.save(tmp_path / "f")
    assert _mode(path) == 0o750
    assert _mode(path / "fit.nc") == 0o640 and _mode(path / "fit.json") == 0o640
    text = files.atomic_write_text(tmp_path / "out" / "plan.json", "{}")
    assert _mode(text) == 0o640 and _mode(text.parent) == 0o750
    import tempfile

    src = Path(tempfile.mkdtemp(dir=tmp_path))  # 0700, as the CLI's output folder was
    (src / "report.html").write_text("x")
    files.replace_dir(src, tmp_path / "report")
    assert _mode(tmp_path / "report") == 0o750


# ----------------------------------------------------------------------------------------------
# JSON the package writes is valid JSON
# ----------------------------------------------------------------------------------------------
def test_json_written_is_valid(tmp_path):
    fit = _prior_fit(seconds=float("nan"), shape=np.array([1.0, np.inf]))
    path = fit.save(tmp_path / "f")
    meta = json.loads((path / "fit.json").read_text(), parse_constant=lambda c: 1 / 0)
    assert meta["info"]["seconds"] is None and meta["info"]["shape"] == [1.0, None]
    with pytest.raises(ValueError, match=r"plan.json: a value is NaN or infinite"):
        files.dumps_json({"x": float("nan")}, what="plan.json")
    bad = type(fit)(fit.spec, fit.dataset, mmmjax.Scales(spend=[1.0, np.nan], target=1.0),
                    fit.axis, fit.idata)  # fmt: skip
    with pytest.raises(ValueError, match=r"fit.json: a value is NaN"):
        bad.save(tmp_path / "g")
    assert not (tmp_path / "g").exists()


# ----------------------------------------------------------------------------------------------
# priors by name: only continuous distributions
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["constraints", "kl_divergence", "Distribution", "biject_to",
                                  "_batch_shape", "Poisson", "Bernoulli"])  # fmt: skip
def test_a_prior_must_name_a_continuous_distribution(name):
    with pytest.raises(ValueError, match=repr(name)):
        Prior(name)
    with pytest.raises(ValueError, match=repr(name)):
        Prior.from_dict({"dist": name, "params": {}})


@pytest.mark.parametrize(
    "record, message",
    [
        ({"dist": "Normal", "params": {"mean": 0.0}}, "no parameter 'mean'"),
        ({"dist": "Normal", "params": {"loc": float("nan")}}, "must be finite"),
        ({"dist": "Normal", "params": {"loc": [[0.0]]}}, "a number or a list"),
        ({"dist": "Normal", "params": {"loc": None}}, "a number or a list"),
        ({"dist": "Normal", "params": [0.0]}, "params must be a mapping"),
        ({"params": {}}, "a prior must be"),
        (["Normal"], "a prior must be"),
    ],
)
def test_prior_records_are_checked(record, message):
    with pytest.raises(ValueError, match=message):
        Prior.from_dict(record)


def test_documented_priors_still_build():
    from mmmjax.model.priors import DEFAULT_PRIORS

    for prior, _ in DEFAULT_PRIORS.values():
        assert Prior.from_dict(prior.to_dict()) == prior
        prior.build()
    assert Prior("Uniform", low=-1.0, high=3.0).support.upper_bound == 3.0
    assert Prior("LogNormal", loc=[0.0, 1.0], scale=np.float32(0.5)).params["loc"] == [0.0, 1.0]


# ----------------------------------------------------------------------------------------------
# geo fits: the same checks
# ----------------------------------------------------------------------------------------------
def test_geo_round_trip_and_checks(tmp_path, geo_fit):
    path = geo_fit.save(tmp_path / "g")
    back = mmmjax.load_geo_fit(path)
    assert back.dataset == geo_fit.dataset and back.scales == geo_fit.scales
    assert back.spec == geo_fit.spec and back.axis == geo_fit.axis
    for name in azc.group_names(geo_fit.idata):
        assert azc.group(back.idata, name).equals(azc.group(geo_fit.idata, name)), name
    cases = [
        (_set("dataset.geos", ["a", "a", "b"]), "twice"),
        (_set("scales.unit", [1.0, 0.0]), r"scales\.unit: must be > 0"),
        (_set("scales.target", [1.0, 2.0]), r"scales\.target: has shape"),
        (_set("axis.n_train", 0), r"axis\.n_train: is 0"),
        (_set("spec", None), "spec: must be an object"),
        (_set("spec.priors", {"roi_tau": {"dist": "constraints", "params": {}}}),
         "unknown prior distribution 'constraints'"),
    ]  # fmt: skip
    good = (path / "fit.json").read_text()
    for edit, message in cases:
        (path / "fit.json").write_text(good)
        _edit_json(path, edit)
        with pytest.raises(DataError, match=message) as err:
            mmmjax.load_geo_fit(path)
        assert str(path / "fit.json") in str(err.value)
    (path / "fit.json").write_text("[]")
    with pytest.raises(DataError, match="must hold a JSON object"):
        mmmjax.load_geo_fit(path)
    assert not mmmjax.geo.is_geo_fit_dir(path)
    (path / "fit.json").write_text(good)
    (path / "fit.nc").write_bytes(b"")
    with pytest.raises(DataError, match=r"fit.nc: is empty"):
        mmmjax.load_geo_fit(path)
