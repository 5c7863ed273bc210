"""Fitting an :class:`~mmmjax.MMM` and the :class:`Fit` that holds the result.

``Fit`` is a small immutable record (specification, training data, scales, time axis, and the
installed ArviZ's data object: ``arviz.InferenceData`` on ArviZ 0.x, ``xarray.DataTree`` on 1.x,
see :mod:`mmmjax.inference.idata`) with methods that *derive* things from it: diagnostics,
predictions in
money, and a lossless save to netCDF + JSON (no pickle). Insights and the budget optimizer are
separate modules that read a ``Fit``.
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from mmmjax import seeds
from mmmjax.data import Dataset, Scales
from mmmjax.errors import DataError, SamplerWarning
from mmmjax.inference.idata import IData, add_groups, ess, from_dict, rhat, summary
from mmmjax.inference.sampling import SamplerResult, map_initial_values, run_nuts, status
from mmmjax.inference.store import DATA, Meta, is_fit_dir, jsonable, load_fit_dir, save_fit
from mmmjax.model import MMM, Components, components, numpyro_model, site_shapes
from mmmjax.model.calibration import LiftTest, check_lift_tests, lift_data
from mmmjax.model.design import Design, TimeAxis, build_design

__all__ = [
    "Fit",
    "fit_from_draws",
    "fit_model",
    "is_fit_dir",
    "load_fit",
    "prior_predictive_idata",
    "training_design",
]

RHAT_MAX = 1.01
ESS_MIN = 400


# ----------------------------------------------------------------------------------------------
# batched, jitted evaluation of the mean function over draws
# ----------------------------------------------------------------------------------------------
@functools.partial(jax.jit, static_argnums=0)
def _batched_components(
    spec: MMM, params: dict[str, jax.Array], design: Design, reference: Design | None = None
) -> Components:
    return jax.vmap(lambda p: components(spec, p, design, reference))(params)


def _observation_noise(spec: MMM, params, seed: int, shape, stream: str = "observation_noise"):
    """Draws of the observation noise (scaled units), ``shape = (S, T)``.

    Drawn with NumPy: no JAX PRNG program to compile for a one-off draw.
    """
    rng = seeds.numpy_rng(seed, stream)
    sigma = np.asarray(params["sigma"], dtype=np.float64)[:, None]
    if spec.likelihood == "student_t":
        return sigma * rng.standard_t(np.asarray(params["nu"], np.float64)[:, None], shape)
    return sigma * rng.standard_normal(shape)


def _predictive(spec: MMM, mu: np.ndarray, params, scales: Scales, seed: int) -> np.ndarray:
    """Posterior predictive target (money) ``(S, T)`` from the mean function ``mu`` (scaled)."""
    return _to_money(spec, mu + _observation_noise(spec, params, seed, mu.shape), scales)


def observation_log_density(
    likelihood: str, z: np.ndarray, mu: np.ndarray, sigma: np.ndarray, nu: np.ndarray | None = None
) -> np.ndarray:
    """Log density of observations ``z`` under the model's noise, float64, NumPy.

    ``"normal"``: ``log N(z; mu, sigma) = -log(sigma) - log(2 pi) / 2 - r**2 / 2`` with
    ``r = (z - mu) / sigma``; ``"student_t"``: ``log Gamma((nu + 1) / 2) - log Gamma(nu / 2)
    - log(nu pi) / 2 - log(sigma) - (nu + 1) / 2 * log1p(r**2 / nu)``. Arguments broadcast
    (e.g. ``z`` ``(T,)``, ``mu`` ``(S, T)``, ``sigma`` and ``nu`` ``(S, 1)``).
    """
    z, mu, sigma = (np.asarray(a, dtype=np.float64) for a in (z, mu, sigma))
    r = (z - mu) / sigma
    if likelihood == "student_t":
        nu = np.asarray(nu, dtype=np.float64)
        lgamma = np.frompyfunc(math.lgamma, 1, 1)  # over the draws' nu only, not over time
        norm = (lgamma((nu + 1) / 2) - lgamma(nu / 2)).astype(np.float64) - 0.5 * np.log(nu * np.pi)
        return norm - np.log(sigma) - (nu + 1) / 2 * np.log1p(r * r / nu)
    return -np.log(sigma) - 0.5 * np.log(2 * np.pi) - 0.5 * r * r


def _target_log_likelihood(
    spec: MMM, mu: np.ndarray, params, dataset: Dataset, scales: Scales
) -> np.ndarray:
    """Pointwise log-likelihood of the observed target in money, ``(S, T)``, float64.

    The model's density of the scaled target ``z`` (``y / s``, or ``log(y / s)`` in the
    multiplicative form) times the Jacobian ``|dz/dy|`` (``1 / s``, or ``1 / y``), so that fits
    of one data set in different forms are compared on the same scale by ``arviz.loo``.
    """
    y = np.asarray(dataset.target, dtype=np.float64)
    z = np.log(y / scales.target) if spec.multiplicative else y / scales.target
    log_jac = -np.log(y) if spec.multiplicative else -math.log(scales.target)
    nu = np.asarray(params["nu"])[:, None] if spec.likelihood == "student_t" else None
    sigma = np.asarray(params["sigma"])[:, None]
    return observation_log_density(spec.likelihood, z, mu, sigma, nu) + log_jac


def _to_money(spec: MMM, scaled: np.ndarray, scales: Scales) -> np.ndarray:
    """Target in scaled units (log scale when multiplicative) to money."""
    scaled = np.asarray(scaled, dtype=np.float64)
    return scales.target * (np.exp(scaled) if spec.multiplicative else scaled)


def _scaled_target(spec: MMM, dataset: Dataset, scales: Scales) -> np.ndarray:
    y = np.asarray(dataset.target, dtype=np.float64) / scales.target
    if spec.multiplicative:
        if np.any(y <= 0):
            row = int(np.argmax(y <= 0))
            raise DataError(
                f"column {dataset.target_name!r}: the multiplicative form needs a positive "
                f"target, row {row + 1} ({dataset.dates[row].date()}) is {dataset.target[row]}"
            )
        y = np.log(y)
    return y.astype(np.float32)


def _check_length(spec: MMM, dataset: Dataset, design: Design) -> None:
    n_params = len(spec.channel_params) * dataset.n_channels + design.controls.shape[1]
    n_params += design.events.shape[1] + design.fourier.shape[1] + 3 + spec.n_changepoints
    if dataset.n_periods < n_params:
        raise DataError(
            f"column {dataset.target_name!r}: {dataset.n_periods} periods are too few for this "
            f"model's {n_params} parameters; need at least {n_params} periods (use fewer "
            "channels, controls or Fourier terms, or more data)"
        )


def _spec_design(spec: MMM, dataset: Dataset, scales: Scales, axis: TimeAxis) -> Design:
    """``dataset``'s design arrays for ``spec`` in the given (training) scales and time axis."""
    return build_design(
        dataset, scales, axis, seasonality=spec.seasonality, changepoints=spec.n_changepoints
    )


def training_design(
    spec: MMM, dataset: Dataset, scales: Scales | None = None
) -> tuple[Scales, TimeAxis, Design]:
    """Scales, time axis and design of ``dataset`` as the training data of ``spec``.

    ``scales`` default to ``dataset.scales`` (its own means); a refresh passes the previous
    fit's (see :func:`mmmjax.inference.refresh.refresh_fit`).
    """
    scales = dataset.scales if scales is None else scales
    axis = TimeAxis.of(dataset)
    return scales, axis, _spec_design(spec, dataset, scales, axis)


def _data_groups(dataset: Dataset) -> dict[str, dict[str, np.ndarray]]:
    """The ``observed_data`` and ``constant_data`` groups a saved fit rebuilds its data from."""
    return {
        "observed_data": {"target": np.asarray(dataset.target, dtype=np.float64)},
        "constant_data": {
            "spend": np.asarray(dataset.spend, dtype=np.float64),
            "controls": np.asarray(dataset.controls, dtype=np.float64),
            "events": np.asarray(dataset.events, dtype=np.float64),
        },
    }


# ----------------------------------------------------------------------------------------------
# the result
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fit:
    """A fitted MMM: specification, training data, scales and posterior draws.

    Attributes:
      spec: the :class:`~mmmjax.MMM` that was fitted.
      dataset: the training :class:`~mmmjax.Dataset` (original units).
      scales: the :class:`~mmmjax.Scales` used to scale it.
      axis: the time axis (origin, period) for trend and seasonality.
      idata: the installed ArviZ's data object (:data:`mmmjax.inference.idata.IData`) with
        ``posterior``, ``sample_stats``, ``observed_data``,
        ``posterior_predictive`` (target in money), ``log_likelihood`` (``target``: each
        period's pointwise log-likelihood of the observed target in money, for ``arviz.loo`` and
        ``arviz.compare``; lift-test terms are not in it), ``constant_data`` and, when sampled,
        ``prior`` and ``prior_predictive``. Dims are named (``chain``, ``draw``, ``date``,
        ``channel``, ``control``, ``event``, ``fourier``, ``changepoint``).
      info: how it was sampled (chain method, seconds, versions).
      lift_tests: the :class:`~mmmjax.LiftTest` s the fit was calibrated with (empty if none).
      provenance: ``None``, or for a fit made by :meth:`refresh` where its priors came from:
        ``{"first_date", "last_date", "n_periods"}`` of the previous fit's data, ``"widen"``,
        and the previous ROI per channel ``"roi": {"channel", "mean", "low", "high"}`` (lists);
        saved as the optional ``refresh`` key of ``fit.json``.
    """

    spec: MMM
    dataset: Dataset
    scales: Scales
    axis: TimeAxis
    idata: IData
    info: dict[str, Any] = field(default_factory=dict, compare=False)
    lift_tests: tuple[LiftTest, ...] = ()
    provenance: dict[str, Any] | None = field(default=None, compare=False)

    # -- draws --------------------------------------------------------------------------------
    @property
    def channels(self) -> list[str]:
        return list(self.dataset.channels)

    @property
    def geos(self) -> list[str]:
        """The fit's geos: ``["national"]`` for national data (one geo), a panel's names."""
        return list(self.dataset.geos)

    @property
    def sites(self) -> list[str]:
        """Names of the sampled parameters."""
        return [k for k in self.idata.posterior.data_vars]

    @property
    def n_draws(self) -> int:
        """Total posterior draws (chains x draws per chain)."""
        post = self.idata.posterior
        return int(post.sizes["chain"] * post.sizes["draw"])

    def draws(self, group: str = "posterior") -> dict[str, np.ndarray]:
        """Parameter draws flattened over chains: ``{name: (S, ...)}`` float32."""
        ds = getattr(self.idata, group)
        out = {}
        for name, da in ds.data_vars.items():
            arr = np.asarray(da.values)
            out[name] = arr.reshape((-1, *arr.shape[2:])).astype(np.float32)
        return out

    def design(self, dataset: Dataset | None = None) -> Design:
        """Scaled model inputs for ``dataset`` (default: the training data)."""
        ds = self.dataset if dataset is None else dataset
        return _spec_design(self.spec, ds, self.scales, self.axis)

    def components(self, dataset: Dataset | None = None, group: str = "posterior") -> Components:
        """Mean-function parts for every draw, scaled units: ``(S, T)`` and media ``(S, T, C)``.

        For a ``dataset`` whose first date directly follows the training data, the training
        spend is prepended so carryover from the last training periods reaches the new ones.
        """
        ds, skip = self._with_history(dataset)
        reference = None if dataset is None else self.design()
        comp = _batched_components(self.spec, self.draws(group), self.design(ds), reference)
        return Components(*(np.asarray(c)[:, skip:] for c in comp))

    def _with_history(self, dataset: Dataset | None) -> tuple[Dataset, int]:
        if dataset is None:
            return self.dataset, 0
        if list(dataset.channels) != self.channels:
            raise DataError(
                f"column {dataset.channels!r}: channels must match the fitted ones {self.channels}"
            )
        train = self.dataset
        if dataset.dates[0] == train.dates[-1] + train.period:
            joined = _concat(train, dataset)
            return joined, train.n_periods
        return dataset, 0

    # -- predictions --------------------------------------------------------------------------
    def predict(
        self, dataset: Dataset | None = None, *, kind: str = "predictive", seed: int = 0
    ) -> np.ndarray:
        """Posterior predictive of the target in money, ``(S, T)`` with ``S`` = chains x draws.

        Args:
          dataset: periods to predict (default: the training periods). New periods need the
            same channels, controls and events; if they directly follow the training data the
            carryover from the training spend is included.
          kind: "predictive" (with observation noise) or "mean" (the mean function; its median
            for the multiplicative form).
          seed: PRNG seed of the observation noise.
        """
        if kind not in ("predictive", "mean"):
            raise ValueError(f"kind must be 'predictive' or 'mean', got {kind!r}")
        mu = self.components(dataset).mu
        if kind == "predictive":
            return _predictive(self.spec, mu, self.draws(), self.scales, seed)
        return _to_money(self.spec, mu, self.scales)

    # -- diagnostics --------------------------------------------------------------------------
    def diagnostics(self) -> dict[str, float]:
        """``max_r_hat``, ``min_ess_bulk``, ``min_ess_tail`` over sampled parameters, and
        ``divergences`` (count after warmup); also where the worst r-hat / ESS occurred.

        Computed once per fit (r-hat and two ESS over every parameter: the fit, the CLI's
        summary and the report all ask) and copied on each call."""
        cached = self.__dict__.get("_diagnostics")
        if cached is None:  # a frozen dataclass: the cache goes straight into __dict__
            cached = self.__dict__["_diagnostics"] = diagnose(self.idata)
        return dict(cached)

    def summary(self, **kwargs: Any) -> pd.DataFrame:
        """``arviz.summary`` of the sampled parameters."""
        return summary(self.idata, var_names=self.sites, **kwargs)

    def review(self, *, holdout=None):
        """Health checks and a 0-100 score: :func:`mmmjax.review.review_fit` (``FitReview``)."""
        from mmmjax.review import review_fit

        return review_fit(self, holdout=holdout)

    def refresh(self, dataset: Dataset, *, widen: float = 2.0, **fit_kwargs: Any) -> Fit:
        """Refit on ``dataset`` (this fit's data plus new periods) with this fit's scales and
        its posterior as the prior: :func:`mmmjax.inference.refresh.refresh_fit`."""
        from mmmjax.inference.refresh import refresh_fit

        return refresh_fit(self, dataset, widen=widen, **fit_kwargs)

    # -- persistence --------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the fit to directory ``path`` as ``fit.nc`` (netCDF) and ``fit.json``.

        The two files are written together in one atomic step (a new directory renamed into
        place, or swapped with the old one; see :func:`mmmjax.files.write_files`), and
        ``fit.json`` records the SHA-256 of ``fit.nc``, so a load never pairs files of two
        saves. Other files in ``path`` (a report, say) are kept; temporaries of a killed save
        are removed by the next one. Loads back exactly with :func:`load_fit`; no pickle.

        Raises:
          FileExistsError: ``path`` is a non-empty directory that holds no saved fit.
          ValueError: ``info`` holds something JSON cannot (NaN and infinity become null).
        """
        path = Path(path)
        if path.exists() and not is_fit_dir(path) and any(path.iterdir()):
            raise FileExistsError(f"{path} exists and is not a saved mmmjax fit; not overwriting")
        meta = {
            "spec": self.spec.to_dict(),
            "scales": self.scales.to_dict(),
            "axis": self.axis.to_dict(),
            "dataset": {
                "target_name": self.dataset.target_name,
                "date_name": self.dataset.date_name,
                "freq": self.dataset.freq,
                "channels": self.channels,
                "control_names": list(self.dataset.control_names),
                "event_names": list(self.dataset.event_names),
            },
            "info": jsonable(self.info),
            "lift_tests": [t.to_dict() for t in self.lift_tests],
        }
        return save_fit(path, self.idata, meta, self.provenance)


def _concat(a: Dataset, b: Dataset) -> Dataset:
    def stack(x, y):
        return np.concatenate([np.asarray(x), np.asarray(y)], axis=0)

    return Dataset(
        dates=a.dates.append(b.dates),
        channels=list(a.channels),
        spend=stack(a.spend, b.spend),
        target=stack(a.target, b.target),
        target_name=a.target_name,
        controls=stack(a.controls, b.controls),
        control_names=list(a.control_names),
        events=stack(a.events, b.events),
        event_names=list(a.event_names),
        freq=a.freq,
        date_name=a.date_name,
    )


def load_fit(path: str | os.PathLike) -> Fit:
    """Load a fit written by :meth:`Fit.save` (netCDF + JSON; exact round trip, no pickle).

    Everything is checked before it is trusted: ``fit.json``'s keys and types, finite and
    positive scales, distinct names, a time axis that matches the dates in ``fit.nc``, the
    checksum of ``fit.nc``, and finite posterior draws of the right shapes for every parameter
    of the specification (see :func:`mmmjax.inference.store.read_fit_dir`).

    Raises:
      FileNotFoundError: ``path`` holds no ``fit.json`` and ``fit.nc``.
      DataError: the files are damaged, inconsistent or not a national fit; the message names
        the file and the problem.
    """
    return load_fit_dir(path, geo=False, build=_fit_from_files)


def _fit_from_files(meta: Meta, idata: IData) -> Fit:
    """The :class:`Fit` of a checked ``fit.json`` and ``fit.nc`` (see :func:`load_fit`)."""
    nc = meta.file.with_name(DATA)
    channels = meta.names("dataset.channels", nonempty=True)
    controls = meta.names("dataset.control_names")
    events = meta.names("dataset.event_names")
    cd = idata.constant_data
    coords_match(meta, idata, {"channel": channels, "control": controls, "event": events})
    dataset = Dataset(
        dates=pd.DatetimeIndex(cd["date"].values),
        channels=channels,
        spend=finite_values(nc, cd, "spend"),
        target=finite_values(nc, idata.observed_data, "target"),
        target_name=meta.get("dataset.target_name", str),
        controls=finite_values(nc, cd, "controls"),
        control_names=controls,
        events=finite_values(nc, cd, "events"),
        event_names=events,
        freq=meta.get("dataset.freq", (str, type(None))),
        date_name=meta.get("dataset.date_name", str),
    )
    c, k = len(channels), len(controls)
    scales = Scales(
        spend=meta.numbers("scales.spend", (c,), positive=True),
        target=float(meta.numbers("scales.target", (), nonzero=True)),
        controls_mean=meta.numbers("scales.controls_mean", (k,)),
        controls_std=meta.numbers("scales.controls_std", (k,), positive=True),
    )
    axis = time_axis(meta, dataset.dates)
    try:
        spec = MMM.from_dict(meta.get("spec", dict))
    except (KeyError, TypeError, ValueError) as exc:
        raise meta.error("spec", str(exc)) from None
    check_draws(nc, idata.posterior, site_shapes(spec, _spec_design(spec, dataset, scales, axis)))
    return Fit(
        spec=spec,
        dataset=dataset,
        scales=scales,
        axis=axis,
        idata=idata,
        info=meta.get("info", dict, default={}),
        lift_tests=lift_tests_of(meta, dataset),
        provenance=provenance_of(meta, channels),
    )


# checks of a saved fit's parts, shared with mmmjax.inference.geo_fit
def coords_match(meta: Meta, idata: IData, names: dict[str, list[str]]) -> None:
    """Each coordinate of ``idata`` named in ``names`` must hold exactly those names."""
    for dim, want in names.items():
        for group in ("posterior", "constant_data"):
            ds = getattr(idata, group)
            if dim not in ds.dims:
                continue
            have = [str(v) for v in ds[dim].values] if dim in ds.coords else []
            if have != want:
                raise meta.error(
                    f"dataset ({dim} names)", f"{want} differ from the {have} in {DATA}"
                )


def finite_values(nc: Path, ds, name: str) -> np.ndarray:
    """``ds[name]`` as an array, which must exist and hold finite numbers only."""
    if name not in ds.data_vars:
        raise DataError(f"{nc}: has no variable {name!r}; save the fit again")
    values = np.asarray(ds[name].values)
    if values.dtype.kind not in "biuf" or not np.all(np.isfinite(values)):
        raise DataError(f"{nc}: {name!r} holds values that are not finite numbers; save the "
                        "fit again")  # fmt: skip
    return values


def check_draws(nc: Path, posterior, shapes: dict[str, tuple[int, ...]]) -> None:
    """Every site in ``shapes`` has finite draws of shape ``(chain, draw, *shape)``, at least
    one chain of one draw."""
    chains, draws = posterior.sizes.get("chain", 0), posterior.sizes.get("draw", 0)
    if chains < 1 or draws < 1:
        raise DataError(f"{nc}: the posterior holds no draws; save the fit again")
    for name, shape in shapes.items():
        values = finite_values(nc, posterior, name)
        if values.shape != (chains, draws, *shape):
            raise DataError(
                f"{nc}: posterior {name!r} has shape {values.shape}, the specification in "
                f"fit.json needs {(chains, draws, *shape)}; save the fit again"
            )


def time_axis(meta: Meta, dates: pd.DatetimeIndex) -> TimeAxis:
    """``fit.json``'s ``axis``, checked against the training ``dates`` stored in ``fit.nc``."""
    n_train = meta.get("axis.n_train", int)
    if n_train < 1 or n_train != len(dates):
        raise meta.error(
            "axis.n_train", f"is {n_train}, but {DATA} holds {len(dates)} training dates"
        )
    try:
        origin = pd.Timestamp(meta.get("axis.origin", str))
    except ValueError as exc:
        raise meta.error("axis.origin", f"is not a date ({exc})") from None
    if origin != dates[0]:
        raise meta.error("axis.origin", f"is {origin}, but the data start {dates[0]}")
    return TimeAxis(
        origin,
        float(meta.numbers("axis.period_days", (), positive=True)),
        n_train,
        float(meta.numbers("axis.periods_per_year", (), positive=True)),
    )


def provenance_of(meta: Meta, channels: list[str]) -> dict[str, Any] | None:
    """``fit.json``'s optional ``refresh`` key (see :attr:`Fit.provenance`), checked."""
    if meta.get("refresh", (dict, type(None)), default=None) is None:
        return None
    for key in ("first_date", "last_date"):
        try:
            pd.Timestamp(meta.get(f"refresh.{key}", str))
        except ValueError as exc:
            raise meta.error(f"refresh.{key}", f"is not a date ({exc})") from None
    if meta.get("refresh.n_periods", int) < 1:
        raise meta.error("refresh.n_periods", "must be at least 1")
    meta.numbers("refresh.widen", (), positive=True)
    if meta.names("refresh.roi.channel") != channels:
        raise meta.error("refresh.roi.channel", f"must be the fit's channels {channels}")
    for key in ("mean", "low", "high"):
        meta.numbers(f"refresh.roi.{key}", (len(channels),))
    return meta.get("refresh", dict)


def lift_tests_of(meta: Meta, dataset) -> tuple[LiftTest, ...]:
    """``fit.json``'s ``lift_tests`` (absent: none), checked against ``dataset``."""
    records = meta.get("lift_tests", list, default=[])
    for k in range(len(records)):
        meta.get(f"lift_tests.{k}", dict)
    try:
        return check_lift_tests([LiftTest.from_dict(d) for d in records], dataset)
    except (KeyError, TypeError, ValueError) as exc:
        raise meta.error("lift_tests", str(exc)) from None


# ----------------------------------------------------------------------------------------------
# diagnostics in plain words
# ----------------------------------------------------------------------------------------------
def diagnose(idata: IData) -> dict[str, Any]:
    """Convergence summary over the sampled parameters of ``idata.posterior``."""
    post = idata.posterior
    out: dict[str, Any] = {}
    if post.sizes["chain"] > 1:
        out["max_r_hat"], out["worst_r_hat"] = _extreme(rhat(post), max)
    else:
        out["max_r_hat"], out["worst_r_hat"] = float("nan"), ""
    out["min_ess_bulk"], out["worst_ess_bulk"] = _extreme(ess(post, method="bulk"), min)
    out["min_ess_tail"], out["worst_ess_tail"] = _extreme(ess(post, method="tail"), min)
    div = idata.sample_stats.get("diverging")
    out["divergences"] = int(np.asarray(div).sum()) if div is not None else 0
    out["draws"] = int(post.sizes["chain"] * post.sizes["draw"])
    return out


def _extreme(ds, pick) -> tuple[float, str]:
    best_val, best_name = None, ""
    for name, da in ds.data_vars.items():
        vals = np.asarray(da.values, dtype=np.float64).reshape(-1)
        if vals.size == 0 or np.all(np.isnan(vals)):
            continue
        i = int(np.nanargmax(vals) if pick is max else np.nanargmin(vals))
        v = float(vals[i])
        if best_val is None or (pick(v, best_val) == v and v != best_val):
            label = name
            if da.ndim:
                dim = da.dims[0]
                coord = da.coords[dim].values.reshape(-1)[i] if dim in da.coords else i
                label = f"{name}[{coord}]"
            best_val, best_name = v, label
    return (float("nan") if best_val is None else best_val), best_name


def sampler_messages(diag: dict[str, Any]) -> list[str]:
    """Plain-language problems in ``diag`` (from :func:`diagnose`) with what to try."""
    msgs = []
    if diag["divergences"]:
        msgs.append(
            f"{diag['divergences']} divergent transitions after warmup: the sampler met "
            "curvature it could not follow, so the posterior may be biased. Try "
            "target_accept=0.95, or tighter priors on the saturation and carryover parameters."
        )
    rhat = diag["max_r_hat"]
    if not math.isnan(rhat) and rhat > RHAT_MAX:
        msgs.append(
            f"chains disagree (max r-hat {rhat:.3f} > {RHAT_MAX}, worst {diag['worst_r_hat']}): "
            "the results are not reliable yet. Run longer (e.g. warmup=2000, draws=2000) or "
            "simplify the model (fewer channels or Fourier terms)."
        )
    ess = diag["min_ess_bulk"]
    if not math.isnan(ess) and ess < ESS_MIN:
        msgs.append(
            f"few effective draws (min bulk ESS {ess:.0f} < {ESS_MIN}, worst "
            f"{diag['worst_ess_bulk']}): intervals will be noisy. Run more draws or chains."
        )
    return msgs


# ----------------------------------------------------------------------------------------------
# fitting
# ----------------------------------------------------------------------------------------------
def _coords_dims(spec: MMM, dataset: Dataset, design: Design):
    coords = {
        "date": dataset.dates,
        "channel": list(dataset.channels),
        "control": list(dataset.control_names),
        "event": list(dataset.event_names),
        "fourier": [f"{fn}_{k}" for fn in ("sin", "cos") for k in range(1, spec.seasonality + 1)],
        "changepoint": [float(c) for c in design.changepoints],
    }
    dims = {name: ["channel"] for name in spec.channel_params}
    dims.update({
        "season": ["fourier"],
        "control_coef": ["control"],
        "event_coef": ["event"],
        "trend_delta": ["changepoint"],
        "target": ["date"],
        "spend": ["date", "channel"],
        "controls": ["date", "control"],
        "events": ["date", "event"],
    })  # fmt: skip
    return coords, dims


def _prior_draws(
    spec: MMM, dataset: Dataset, design: Design, draws: int, seed: int, scales: Scales
):
    """Prior parameter draws ``{name: (1, draws, ...)}`` and prior predictive target (money)."""
    priors = spec.resolved_priors(dataset.channels)
    rng = seeds.numpy_rng(seed, "prior_draws")
    prior = {
        name: priors[name].sample_numpy(rng, (draws, *shape)).astype(np.float32)
        for name, shape in site_shapes(spec, design).items()
    }
    mu = np.asarray(_batched_components(spec, prior, jax.tree.map(jnp.asarray, design)).mu)
    y = mu + _observation_noise(spec, prior, seed, mu.shape, stream="prior_predictive")
    return {k: v[None] for k, v in prior.items()}, _to_money(spec, y, scales)[None]


def prior_predictive_idata(spec: MMM, dataset: Dataset, draws: int = 500, seed: int = 0):
    """Prior parameter draws and the prior predictive target (money) as the installed ArviZ's
    data object (:data:`mmmjax.inference.idata.IData`)."""
    scales, _, design = training_design(spec, dataset)
    prior, y_money = _prior_draws(spec, dataset, design, draws, seed, scales)
    coords, dims = _coords_dims(spec, dataset, design)
    groups = {
        "prior": prior,
        "prior_predictive": {"target": y_money},
        "observed_data": _data_groups(dataset)["observed_data"],
    }
    return from_dict(groups, coords=coords, dims=dims)


class Problem(NamedTuple):
    """Everything NUTS needs for one (specification, dataset) pair, before sampling."""

    spec: MMM
    dataset: Dataset
    scales: Scales
    axis: TimeAxis
    design: Design
    priors: dict[str, Any]
    shapes: dict[str, tuple[int, ...]]
    model_key: str  # equal keys: the same compiled model
    model: Any
    model_args: tuple[Any, ...]  # (design, scaled target, lift data)
    lift_tests: tuple[LiftTest, ...] = ()


def prepare(spec: MMM, dataset: Dataset, lift_tests=None, scales: Scales | None = None) -> Problem:
    """Check ``dataset`` (and ``lift_tests``) against ``spec`` and build the model's arguments.

    No sampling; ``scales`` default to ``dataset.scales``. The lift tests become arrays among
    the model's arguments (:class:`~mmmjax.model.design.LiftData`, zero-size when there are none),
    not constants of the compiled program.
    """
    if not isinstance(dataset, Dataset):
        raise TypeError(f"fit() needs an mmmjax.Dataset, got {type(dataset).__name__}")
    tests = check_lift_tests(lift_tests, dataset)
    scales, axis, design = training_design(spec, dataset, scales)
    _check_length(spec, dataset, design)
    y = _scaled_target(spec, dataset, scales)
    priors = spec.resolved_priors(dataset.channels)
    shapes = site_shapes(spec, design)
    model_key = json.dumps(
        [spec.to_dict(), {k: p.to_dict() for k, p in sorted(priors.items())}], sort_keys=True
    )
    model = functools.partial(numpyro_model, spec, priors)
    lift = lift_data(tests, dataset, scales)
    model_args = tuple(jax.tree.map(jnp.asarray, (design, y, lift)))
    return Problem(spec, dataset, scales, axis, design, priors, shapes, model_key, model,
                   model_args, tests)  # fmt: skip


def check_fit_options(chains: int, draws: int, warmup: int, init: str) -> None:
    """Raise ``ValueError`` for options no fit can run with."""
    if init not in ("prior", "map"):
        raise ValueError(f"init must be 'prior' or 'map', got {init!r}")
    for name, v in (("chains", chains), ("draws", draws), ("warmup", warmup)):
        if int(v) < 1:
            raise ValueError(f"{name} must be a positive integer, got {v}")


def fit_model(
    spec: MMM,
    dataset: Dataset,
    *,
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    seed: int = 0,
    target_accept: float = 0.85,
    max_tree_depth: int = 10,
    dense_mass: bool = False,
    chain_method: str = "auto",
    progress: bool = True,
    prior_draws: int = 500,
    warn: bool = True,
    init: str = "prior",
    map_steps: int = 2000,
    lift_tests=None,
    scales: Scales | None = None,
) -> Fit:
    """Fit ``spec`` to national ``dataset`` with NUTS (:meth:`MMM.fit` calls this through
    :func:`mmmjax.engine.fit`, which reviews the data first).

    Args:
      spec: the model specification.
      dataset: training data.
      chains, draws, warmup: NUTS chains, kept draws per chain and warm-up steps per chain.
      seed: PRNG seed; the same seed gives the same fit.
      target_accept: NUTS target acceptance probability.
      max_tree_depth: NUTS maximum tree depth.
      dense_mass: adapt a dense mass matrix (see :func:`mmmjax.inference.sampling.run_nuts`).
      chain_method: "auto" (parallel over CPU cores when enough, else vectorised), "parallel",
        "vectorized" or "sequential".
      progress: show a progress bar while sampling.
      prior_draws: prior/prior-predictive draws stored beside the posterior (0 for none).
      warn: emit a :class:`~mmmjax.errors.SamplerWarning` for each sampler problem.
      init: "prior" (median of prior draws per chain) or "map" (a quick MAP fit with optax,
        plus jitter; lets a shorter ``warmup`` do, see
        :func:`mmmjax.inference.sampling.map_initial_values`).
      map_steps: optimisation steps of the MAP fit.
      lift_tests: :class:`~mmmjax.LiftTest` s (e.g. from :func:`mmmjax.read_lift_tests`) that
        calibrate the fit: each adds a likelihood term on the model's implied lift (see
        :mod:`mmmjax.model.calibration`). Kept in the fit (``Fit.lift_tests``) and its saved files.
      scales: the units the data are scaled by (default ``dataset.scales``, its own means);
        :meth:`Fit.refresh` passes the previous fit's so that its posterior, in those units,
        can be the prior.
    """
    check_fit_options(chains, draws, warmup, init)
    problem = prepare(spec, dataset, lift_tests=lift_tests, scales=scales)
    init_values = None
    if init == "map":
        init_values = initial_map(problem, chains, seed, map_steps)
    result = run_nuts(
        problem.model,
        problem.model_key,
        problem.model_args,
        priors=problem.priors,
        shapes=problem.shapes,
        chains=chains,
        draws=draws,
        warmup=warmup,
        seed=seed,
        target_accept=target_accept,
        max_tree_depth=max_tree_depth,
        dense_mass=dense_mass,
        chain_method=chain_method,
        progress=progress,
        init_values=init_values,
    )
    info = {"target_accept": target_accept, "init": init}
    status("assembling the fit (prior draws, posterior predictive, diagnostics)", progress)
    start = time.perf_counter()
    fit = assemble(problem, result, seed=seed, prior_draws=prior_draws, warn=warn, info=info)
    fit.info["phases"]["assemble_s"] = time.perf_counter() - start
    return fit


def initial_map(problem: Problem, chains: int, seed: int, steps: int) -> dict[str, np.ndarray]:
    """MAP initial values for ``problem``
    (see :func:`mmmjax.inference.sampling.map_initial_values`)."""
    return map_initial_values(
        problem.model, problem.model_args, priors=problem.priors, shapes=problem.shapes,
        chains=chains, seed=seed, steps=steps,
    )  # fmt: skip


def assemble(
    problem: Problem,
    result: SamplerResult,
    *,
    seed: int,
    prior_draws: int = 500,
    warn: bool = True,
    info: dict[str, Any] | None = None,
) -> Fit:
    """The :class:`Fit` of ``problem`` from the sampler's ``result`` (adds prior and predictive)."""
    spec, dataset, design, shapes = problem.spec, problem.dataset, problem.design, problem.shapes
    posterior = {k: result.posterior[k].astype(np.float32) for k in shapes}
    chains, draws = result.sample_stats["diverging"].shape
    coords, dims = _coords_dims(spec, dataset, design)
    groups: dict[str, Any] = {
        "posterior": posterior,
        "sample_stats": result.sample_stats,
        **_data_groups(dataset),
    }
    if prior_draws:
        prior, y_prior = _prior_draws(spec, dataset, design, prior_draws, seed, problem.scales)
        groups["prior"] = prior
        groups["prior_predictive"] = {"target": y_prior}
    idata = from_dict(groups, coords=coords, dims=dims)
    info = sampler_info(result, seed, info)
    fit = Fit(spec=spec, dataset=dataset, scales=problem.scales, axis=problem.axis, idata=idata,
              info=info, lift_tests=problem.lift_tests)  # fmt: skip
    mu, params = fit.components().mu, fit.draws()
    y_pp = _predictive(spec, mu, params, problem.scales, seed)  # money, as fit.predict(seed=seed)
    log_lik = _target_log_likelihood(spec, mu, params, dataset, problem.scales)
    new = {"posterior_predictive": y_pp, "log_likelihood": log_lik}  # (S, T) each
    new = {g: {"target": v.reshape(chains, draws, -1)} for g, v in new.items()}
    add_groups(idata, new, coords=coords, dims=dims)
    if warn:
        for msg in sampler_messages(fit.diagnostics()):
            warnings.warn(msg, SamplerWarning, stacklevel=4)
    return fit


def sampler_info(result: SamplerResult, seed: int, extra: dict[str, Any] | None = None) -> dict:
    """The ``info`` of a fit: how it was sampled (``extra`` adds or overrides entries)."""
    chains, draws = result.sample_stats["diverging"].shape
    return {
        "chain_method": result.chain_method,
        "seconds": result.seconds_warmup_and_sampling,
        "compiled": result.compiled,
        "phases": dict(result.phases or {}),  # seconds: see SamplerResult.phases
        "chains": chains,
        "draws": draws,
        "warmup": result.warmup,
        "seed": seed,
        **(extra or {}),
        "jax": jax.__version__,
        "device": str(jax.devices()[0].platform),
    }


def fit_from_draws(
    spec: MMM,
    dataset: Dataset,
    draws: dict[str, Any],
    *,
    info: dict | None = None,
    lift_tests=None,
) -> Fit:
    """A :class:`Fit` from given parameter draws, without sampling.

    For tests with hand-computable answers, and for draws made elsewhere. ``draws`` maps every
    sampled site of ``spec`` (see :func:`mmmjax.model.sampled_sites`) to an array ``(S, ...)``
    (one chain of ``S`` draws) or ``(chains, draws, ...)``; scalars per draw are ``(S,)``.
    """
    scales, axis, design = training_design(spec, dataset)
    shapes = site_shapes(spec, design)
    missing = [k for k in shapes if k not in draws]
    if missing:
        raise ValueError(f"fit_from_draws: draws for {missing} are missing")
    posterior = {}
    for k, shape in shapes.items():
        a = np.asarray(draws[k], dtype=np.float32)
        posterior[k] = a[None] if a.ndim == len(shape) + 1 else a
    coords, dims = _coords_dims(spec, dataset, design)
    shape = next(iter(posterior.values())).shape[:2]
    groups = {
        "posterior": posterior,
        "sample_stats": {"diverging": np.zeros(shape, dtype=bool)},
        **_data_groups(dataset),
    }
    idata = from_dict(groups, coords=coords, dims=dims)
    return Fit(spec=spec, dataset=dataset, scales=scales, axis=axis, idata=idata,
               info=dict(info or {}),
               lift_tests=check_lift_tests(lift_tests, dataset))  # fmt: skip
