"""Fitting a :class:`~mmmjax.geo.GeoMMM` and the :class:`GeoFit` that holds the result.

``GeoFit`` mirrors :class:`mmmjax.Fit`: an immutable record (specification, panel, scales, time
axis, ArviZ's data object :data:`mmmjax.inference.idata.IData` with dims ``geo``, ``date``,
``channel``,
...) whose methods derive diagnostics, predictions in money and a lossless netCDF + JSON save
(no pickle). Sampling goes through :func:`mmmjax.inference.sampling.run_nuts`, with the panel's
arrays as *arguments* of the compiled program, so a second fit of the same shape does not compile
again.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from mmmjax import seeds
from mmmjax.data import GeoDataset, GeoScales
from mmmjax.errors import DataError, SamplerWarning
from mmmjax.inference.fit import (
    Fit,
    check_draws,
    check_fit_options,
    coords_match,
    diagnose,
    finite_values,
    lift_tests_of,
    observation_log_density,
    provenance_of,
    sampler_info,
    sampler_messages,
    time_axis,
)
from mmmjax.inference.idata import (
    IData,
    add_groups,
    from_datasets,
    from_dict,
    summary,
)
from mmmjax.inference.sampling import SamplerResult, map_initial_values, run_nuts
from mmmjax.inference.store import DATA, Meta, is_fit_dir, jsonable, load_fit_dir, save_fit
from mmmjax.model.calibration import LiftTest, check_lift_tests
from mmmjax.model.design import TimeAxis
from mmmjax.model.geo import (
    GeoComponents,
    GeoDesign,
    GeoLiftData,
    GeoMMM,
    build_geo_design,
    choose_centring,
    decentre,
    derived,
    geo_components,
    geo_numpyro_model,
    no_geo_lift_data,
    site_shapes,
)

__all__ = ["GeoFit", "fit_geo", "is_geo_fit_dir", "load_geo_fit"]

KIND = "geo"
CHUNK = 256  # draws per batch when evaluating the mean function (keeps memory flat)


# ----------------------------------------------------------------------------------------------
# batched evaluation over draws
# ----------------------------------------------------------------------------------------------
def _parts(spec, params, design: GeoDesign) -> GeoComponents:
    return geo_components(spec, params, design)


def _mu(spec, params, design: GeoDesign) -> jax.Array:
    return geo_components(spec, params, design).mu


def _parts_after(spec, params, designs: tuple[GeoDesign, GeoDesign]) -> GeoComponents:
    """:func:`_parts` of ``designs = (periods, training)``: other periods, measured against the
    training window."""
    return geo_components(spec, params, designs[0], designs[1])


@functools.partial(jax.jit, static_argnums=(0, 1))
def _batched(fn, spec, params: dict[str, jax.Array], design: GeoDesign):
    return jax.vmap(lambda p: fn(spec, p, design))(params)


def over_draws(fn, spec, params: dict[str, np.ndarray], design: GeoDesign):
    """``fn(spec, draw, design)`` for every draw (a pytree of ``(S, ...)`` NumPy arrays).

    ``vmap`` over ``CHUNK`` draws at a time (the last chunk padded, so one compilation): the
    memory stays flat however many draws there are. ``fn`` must be a module-level function
    (it is a static argument of the compiled program).
    """
    n = next(iter(params.values())).shape[0]
    design = jax.tree.map(jnp.asarray, design)
    parts = []
    for start in range(0, n, CHUNK):
        idx = np.minimum(np.arange(start, start + CHUNK), n - 1)
        chunk = {k: jnp.asarray(v[idx]) for k, v in params.items()}
        keep = min(CHUNK, n - start)
        parts.append(jax.tree.map(lambda a, k=keep: np.asarray(a)[:k],
                                  _batched(fn, spec, chunk, design)))  # fmt: skip
    return jax.tree.map(lambda *a: np.concatenate(a, axis=0), *parts)


# ----------------------------------------------------------------------------------------------
# the result
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GeoFit(Fit):
    """A fitted geo MMM: specification, panel, scales and posterior draws. A :class:`Fit` (one
    type for every fit): the methods that differ for a panel are its own.

    Attributes:
      spec: the :class:`~mmmjax.geo.GeoMMM` that was fitted.
      dataset: the training :class:`~mmmjax.geo.GeoDataset` (original units).
      scales: its :class:`~mmmjax.geo.GeoScales`.
      axis: the time axis (origin, period) of trend and seasonality.
      idata: ArviZ's data object (:data:`mmmjax.inference.idata.IData`) with ``posterior`` (sampled
        sites plus the derived per-geo ``media_roi`` ``(geo, channel)``, ``trend_slope``,
        ``season``, ``control_coef``),
        ``sample_stats``, ``observed_data`` (``target`` ``(geo, date)``, money),
        ``constant_data`` (``spend``, ``controls``, ``population``),
        ``posterior_predictive`` (``target`` in money) and ``log_likelihood`` (``target``
        ``(geo, date)``: pointwise log-likelihood of the observed target in money, lift-test
        terms not included).
      info: how it was sampled.
      lift_tests: the lift tests it was calibrated with.
      provenance: ``None``, or for a fit made by :meth:`refresh` the previous fit's window,
        ``widen`` and national ROI (:func:`mmmjax.inference.refresh.refresh_provenance`); saved as
        the optional ``refresh`` key of ``fit.json``.
    """

    spec: GeoMMM
    dataset: GeoDataset
    scales: GeoScales
    axis: TimeAxis
    idata: IData
    info: dict[str, Any] = field(default_factory=dict, compare=False)
    lift_tests: tuple[LiftTest, ...] = ()
    provenance: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def channels(self) -> list[str]:
        return list(self.dataset.channels)

    @property
    def sites(self) -> list[str]:
        """Names of the sampled parameters (the per-geo values derived from them left out)."""
        return [k for k in site_shapes(self.spec.model, self.design()) if k in self.idata.posterior]

    @property
    def n_draws(self) -> int:
        post = self.idata.posterior
        return int(post.sizes["chain"] * post.sizes["draw"])

    def draws(self, group: str = "posterior") -> dict[str, np.ndarray]:
        """Draws flattened over chains: ``{name: (S, ...)}`` float32."""
        out = {}
        for name, da in getattr(self.idata, group).data_vars.items():
            arr = np.asarray(da.values)
            out[name] = arr.reshape((-1, *arr.shape[2:])).astype(np.float32)
        return out

    def design(self, dataset: GeoDataset | None = None) -> GeoDesign:
        """Scaled model inputs of ``dataset`` (default: the training panel), in the training
        scales and time axis."""
        m = self.spec.model
        return build_geo_design(
            self.dataset if dataset is None else dataset, self.scales, self.axis,
            seasonality=m.seasonality, changepoints=m.n_changepoints,
        )  # fmt: skip

    def components(self, dataset: GeoDataset | None = None) -> GeoComponents:
        """Mean-function parts for every draw, each geo's scaled units: ``(S, G, T)``, media
        ``(S, G, T, C)``. Multiply by ``scales.target[:, None]`` for money.

        ``dataset``: other periods of the same geos, channels and controls (default the
        training ones); when its first date directly follows the training data, the training
        spend is prepended so carryover from the last training periods reaches the new ones
        (as :meth:`mmmjax.Fit.components`).
        """
        if dataset is None:
            return over_draws(_parts, self.spec.model, self.draws(), self.design())
        ds, skip = self._with_history(dataset)
        designs = (self.design(ds), self.design())
        comp = over_draws(_parts_after, self.spec.model, self.draws(), designs)
        return GeoComponents(*(np.asarray(c)[:, :, skip:] for c in comp))

    def _with_history(self, panel: GeoDataset) -> tuple[GeoDataset, int]:
        if not isinstance(panel, GeoDataset):
            raise TypeError(f"a geo fit predicts a GeoDataset, got {type(panel).__name__}")
        train = self.dataset
        for what, a, b in (("geos", train.geos, panel.geos), ("channels", train.channels,
                           panel.channels), ("controls", train.control_names,
                           panel.control_names), ("events", train.event_names,
                           panel.event_names)):  # fmt: skip
            if list(a) != list(b):
                raise DataError(f"{what} {list(b)} must match the fitted ones {list(a)}")
        if panel.dates[0] != train.dates[-1] + train.period:
            return panel, 0
        joined = dataclasses.replace(
            train,
            dates=train.dates.append(panel.dates),
            spend=np.concatenate([train.spend, panel.spend], axis=1),
            target=np.concatenate([train.target, panel.target], axis=1),
            controls=np.concatenate([train.controls, panel.controls], axis=1),
            events=np.concatenate([train.events, panel.events], axis=1),
        )
        return joined, train.n_periods

    def predict(
        self, dataset: GeoDataset | None = None, *, kind: str = "predictive", seed: int = 0
    ) -> np.ndarray:
        """Posterior predictive target in money, ``(S, G, T)``.

        Args:
          dataset: periods to predict (default the training ones): a panel of the same geos,
            channels and controls; directly after the training data it is a forecast that
            carries the training spend's carryover in (trend and seasonality continue).
          kind: "predictive" (with observation noise) or "mean" (the mean function).
          seed: seed of the observation noise (NumPy).
        """
        if kind not in ("predictive", "mean"):
            raise ValueError(f"kind must be 'predictive' or 'mean', got {kind!r}")
        if dataset is None:
            mu = self._mean_scaled()
        else:
            mu = np.asarray(self.components(dataset).mu, np.float64)
        return self._in_money(mu, kind, seed)

    def _mean_scaled(self) -> np.ndarray:
        """The mean function for every draw, ``(S, G, T)``, each geo's scaled units, float64."""
        return over_draws(_mu, self.spec.model, self.draws(), self.design()).astype(np.float64)

    def _in_money(self, mu: np.ndarray, kind: str, seed: int) -> np.ndarray:
        if kind == "predictive":
            mu = mu + _noise(self.spec, self.draws(), seed, mu.shape)
        return mu * self.scales.target[:, None]

    def refresh(self, panel: GeoDataset, *, widen: float = 2.0, **fit_kwargs: Any) -> GeoFit:
        """Refit on ``panel`` (this fit's panel plus new periods) with this fit's scales and its
        posterior as the prior: :func:`mmmjax.inference.geo_refresh.refresh_geo_fit`."""
        from mmmjax.inference.geo_refresh import refresh_geo_fit

        return refresh_geo_fit(self, panel, widen=widen, **fit_kwargs)

    def review(self, *, holdout=None):
        """Health checks and a 0-100 score: :func:`mmmjax.review.review_fit` (``FitReview``)."""
        from mmmjax.review import review_fit

        return review_fit(self, holdout=holdout)

    def _log_likelihood(self, mu: np.ndarray) -> np.ndarray:
        """Pointwise log-likelihood ``(S, G, T)`` of the observed target in money, float64,
        from the mean function ``mu`` ``(S, G, T)`` (each geo's scaled units): the density of
        ``y / s_g`` minus ``log s_g`` (the Jacobian to money)."""
        draws, s = self.draws(), self.scales.target[:, None]
        nu = draws["nu"][:, None, None] if self.spec.model.likelihood == "student_t" else None
        z = np.asarray(self.dataset.target, np.float64) / s
        sigma = draws["sigma"][:, :, None]
        return observation_log_density(self.spec.model.likelihood, z, mu, sigma, nu) - np.log(s)

    def diagnostics(self) -> dict[str, Any]:
        """``max_r_hat``, ``min_ess_bulk``, ``min_ess_tail``, ``divergences`` (as
        :meth:`mmmjax.Fit.diagnostics`) over the *sampled* parameters, as for national data
        (the per-geo values derived from them, e.g. ``media_roi``, are left out). Computed once
        per fit and copied on each call."""
        cached = self.__dict__.get("_diagnostics")
        if cached is None:  # a frozen dataclass: the cache goes straight into __dict__
            sampled = [k for k in site_shapes(self.spec.model, self.design())
                       if k in self.idata.posterior]  # fmt: skip
            cached = self.__dict__["_diagnostics"] = diagnose(_one_dim(self.idata, sampled))
        return dict(cached)

    def summary(self, **kwargs: Any) -> pd.DataFrame:
        """``arviz.summary`` of the posterior."""
        return summary(self.idata, **kwargs)

    def save(self, path: str | os.PathLike) -> Path:
        """Write to directory ``path`` as ``fit.nc`` and ``fit.json`` (``"kind": "geo"``);
        :func:`load_geo_fit` reads it back exactly. Written as :meth:`mmmjax.Fit.save` writes:
        both files in one atomic step, ``fit.json`` with the SHA-256 of ``fit.nc``, other files
        in ``path`` kept."""
        path = Path(path)
        if path.exists() and not is_fit_dir(path) and any(path.iterdir()):
            raise FileExistsError(f"{path} exists and is not a saved mmmjax fit; not overwriting")
        ds = self.dataset
        meta = {
            "kind": KIND,
            "spec": self.spec.to_dict(),
            "scales": self.scales.to_dict(),
            "axis": self.axis.to_dict(),
            "dataset": {
                "geos": ds.geos,
                "channels": ds.channels,
                "control_names": ds.control_names,
                "event_names": ds.event_names,
                "target_name": ds.target_name,
                "date_name": ds.date_name,
                "geo_name": ds.geo_name,
                "population_name": ds.population_name,
                "freq": ds.freq,
            },
            "info": jsonable(self.info),
            "lift_tests": [t.to_dict() for t in self.lift_tests],
        }
        return save_fit(path, self.idata, meta, self.provenance)


def _one_dim(idata: IData, names: list[str] | None = None) -> IData:
    """``posterior`` (its variables ``names``, default all) and ``sample_stats`` with each
    variable's dims flattened into one, whose labels name every coordinate (``"geo_01, tv"``):
    :func:`mmmjax.inference.fit.diagnose` names the worst parameter from a single dim."""
    import xarray as xr

    flat = {}
    for name, da in idata.posterior.data_vars.items():
        if names is not None and name not in names:
            continue
        dims = [d for d in da.dims if d not in ("chain", "draw")]
        if len(dims) > 1:
            labels = [", ".join(str(v) for v in t) for t in da.stack(_k=dims)["_k"].values]
            da = da.stack(_k=dims).drop_vars(["_k", *dims]).rename(_k="__".join(dims))
            da = da.assign_coords({"__".join(dims): labels})
        flat[name] = da
    return from_datasets({"posterior": xr.Dataset(flat), "sample_stats": idata.sample_stats})


def _noise(spec: GeoMMM, draws, seed: int, shape) -> np.ndarray:
    """Observation noise draws ``(S, G, T)`` in scaled units (NumPy: nothing to compile), from
    the ``observation_noise`` stream of ``seed`` (:mod:`mmmjax.seeds`)."""
    rng = seeds.numpy_rng(seed, "observation_noise")
    sigma = np.asarray(draws["sigma"], np.float64)[:, :, None]
    if spec.model.likelihood == "student_t":
        nu = np.asarray(draws["nu"], np.float64)[:, None, None]
        return sigma * rng.standard_t(nu, shape)
    return sigma * rng.standard_normal(shape)


def is_geo_fit_dir(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a saved geo fit."""
    path = Path(path)
    if not is_fit_dir(path):
        return False
    try:
        meta = json.loads((path / "fit.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("kind") == KIND


def load_geo_fit(path: str | os.PathLike) -> GeoFit:
    """Load a fit written by :meth:`GeoFit.save` (exact round trip, no pickle).

    Checked as :func:`mmmjax.load_fit` checks a national fit (keys, types, finite scales of the
    right shapes, distinct names, the time axis, the checksum of ``fit.nc``, the draws).

    Raises:
      FileNotFoundError: ``path`` holds no ``fit.json`` and ``fit.nc``.
      DataError: the files are damaged, inconsistent or not a geo fit; the message names the
        file and the problem.
    """
    return load_fit_dir(path, geo=True, build=_geo_fit_from_files)


def _geo_fit_from_files(meta: Meta, idata: IData) -> GeoFit:
    """The :class:`GeoFit` of a checked ``fit.json`` and ``fit.nc``."""
    nc = meta.file.with_name(DATA)
    geos = meta.names("dataset.geos", nonempty=True)
    channels = meta.names("dataset.channels", nonempty=True)
    controls = meta.names("dataset.control_names")
    events = meta.get("dataset.event_names", list, default=[])  # fits saved before events: none
    coords_match(meta, idata, {"geo": geos, "channel": channels, "control": controls})
    cd = idata.constant_data
    population_name = meta.get("dataset.population_name", (str, type(None)))
    panel = GeoDataset(
        geos=geos,
        dates=pd.DatetimeIndex(cd["date"].values),
        channels=channels,
        spend=finite_values(nc, cd, "spend"),
        target=finite_values(nc, idata.observed_data, "target"),
        target_name=meta.get("dataset.target_name", str),
        controls=finite_values(nc, cd, "controls"),
        control_names=controls,
        events=finite_values(nc, cd, "events") if events else None,
        event_names=[str(e) for e in events],
        population=finite_values(nc, cd, "population"),
        population_name=population_name,
        geo_name=meta.get("dataset.geo_name", str),
        freq=meta.get("dataset.freq", (str, type(None))),
        date_name=meta.get("dataset.date_name", str),
    )
    g, c, k = len(geos), len(channels), len(controls)
    scales = GeoScales(
        target=meta.numbers("scales.target", (g,), nonzero=True),
        spend=meta.numbers("scales.spend", (g, c), nonnegative=True),
        size=meta.numbers("scales.size", (g,), nonzero=True),
        unit=meta.numbers("scales.unit", (c,), positive=True),
        controls_mean=meta.numbers("scales.controls_mean", (g, k)),
        controls_std=meta.numbers("scales.controls_std", (g, k), positive=True),
    )
    axis = time_axis(meta, panel.dates)
    try:
        spec = GeoMMM.from_dict(meta.get("spec", dict))
    except (KeyError, TypeError, ValueError) as exc:
        raise meta.error("spec", str(exc)) from None
    m = spec.model
    design = build_geo_design(panel, scales, axis, seasonality=m.seasonality,
                              changepoints=m.n_changepoints)  # fmt: skip
    check_draws(nc, idata.posterior, site_shapes(m, design))
    return GeoFit(
        spec=spec,
        dataset=panel,
        scales=scales,
        axis=axis,
        idata=idata,
        info=meta.get("info", dict, default={}),
        lift_tests=lift_tests_of(meta, panel),
        provenance=provenance_of(meta, channels),
    )


# ----------------------------------------------------------------------------------------------
# fitting
# ----------------------------------------------------------------------------------------------
class GeoProblem(NamedTuple):
    """Everything NUTS needs for one (specification, panel) pair, before sampling."""

    spec: GeoMMM
    dataset: GeoDataset
    scales: GeoScales
    axis: TimeAxis
    design: GeoDesign
    priors: dict[str, Any]
    shapes: dict[str, tuple[int, ...]]
    model_key: str
    model: Any
    model_args: tuple[Any, ...]  # (design, scaled target, lift data, centring)
    lift_tests: tuple[LiftTest, ...] = ()


def lift_weights(tests, panel: GeoDataset) -> np.ndarray:
    """``(K, G)`` how each test's spend change falls on the geos: all on its geo, or for a
    national test (``geo=None``) shared out as the channel's spend over the window is."""
    spend = np.asarray(panel.spend, np.float64).sum(axis=1)  # (G, C)
    total = spend.sum(axis=0)
    shares = np.where(total > 0, spend / np.where(total > 0, total, 1.0), 1.0 / panel.n_geos)
    w = np.zeros((len(tests), panel.n_geos))
    for k, t in enumerate(tests):
        c = panel.channels.index(t.channel)
        if t.geo is None:
            w[k] = shares[:, c]
        else:
            w[k, panel.geos.index(t.geo)] = 1.0
    return w


def lift_units(tests, panel: GeoDataset, scales: GeoScales) -> np.ndarray:
    """``(K,)`` money per unit of each test's scaled lift: its geo's mean target, or the sum of
    the geos' mean targets for a national test."""
    target = np.asarray(scales.target, np.float64)
    return np.asarray([target.sum() if t.geo is None else target[panel.geos.index(t.geo)]
                       for t in tests])  # fmt: skip


def geo_lift_data(tests, panel: GeoDataset, scales: GeoScales) -> GeoLiftData:
    """Checked lift tests of a panel (each in one geo, or national) as model inputs
    (:class:`~mmmjax.model.geo.GeoLiftData`)."""
    if not tests:
        return no_geo_lift_data(panel.n_periods, panel.n_geos)
    c = np.asarray([panel.channels.index(t.channel) for t in tests], np.int32)
    w = lift_weights(tests, panel)
    unit = lift_units(tests, panel, scales)
    change = np.asarray([t.spend_change for t in tests], np.float64)
    f32 = np.float32
    return GeoLiftData(
        channel=c,
        mask=np.stack([t.periods(panel.dates) for t in tests]).astype(f32),
        delta=(change[:, None] * w / scales.spend_unit[:, c].T).astype(f32),
        to_unit=(np.asarray(scales.target, np.float64)[None, :] / unit[:, None]).astype(f32),
        lift=(np.asarray([t.lift for t in tests]) / unit).astype(f32),
        lift_se=(np.asarray([t.lift_se for t in tests]) / unit).astype(f32),
    )


def prepare_geo(
    spec: GeoMMM, panel: GeoDataset, lift_tests=None, *, scales: GeoScales | None = None
) -> GeoProblem:
    """Check ``panel`` (and ``lift_tests``, each naming its geo) against ``spec`` and build
    the model's arguments (no sampling).

    ``scales`` default to ``panel.scales`` (its own means); a refresh passes the previous
    fit's (:func:`mmmjax.inference.geo_refresh.refresh_geo_fit`), which must have the panel's geos,
    channels and controls."""
    if not isinstance(panel, GeoDataset):
        raise TypeError(f"a geo fit needs an mmmjax.GeoDataset, got {type(panel).__name__}")
    m = spec.model
    if scales is None:
        scales = panel.scales
    elif not isinstance(scales, GeoScales):
        raise TypeError(f"scales must be mmmjax.geo.GeoScales, got {type(scales).__name__}")
    else:
        want = (panel.n_geos, panel.n_channels, len(panel.control_names))
        have = (scales.target.shape[0], scales.spend.shape[1], scales.controls_mean.shape[1])
        if scales.spend.shape[0] != want[0] or have != want:
            raise ValueError(
                f"scales are for {have[0]} geos, {have[1]} channels and {have[2]} controls; the "
                f"panel has {want[0]}, {want[1]} and {want[2]}"
            )
    axis = TimeAxis(panel.dates[0], panel.period / pd.Timedelta(days=1), panel.n_periods,
                    float(panel.periods_per_year))  # fmt: skip
    design = build_geo_design(panel, scales, axis, seasonality=m.seasonality,
                              changepoints=m.n_changepoints)  # fmt: skip
    shapes = site_shapes(m, design)
    per_geo = 3 + design.fourier.shape[1] + design.controls.shape[2]
    if panel.n_periods < per_geo + panel.n_channels:
        raise DataError(
            f"column {panel.date_name!r}: {panel.n_periods} periods are too few for "
            f"{per_geo + panel.n_channels} parameters per geo; use fewer channels, controls or "
            "Fourier terms, or more data"
        )
    priors = spec.resolved_priors(panel.channels)
    priors = {k: priors[k] for k in shapes}
    y = (panel.target / scales.target[:, None]).astype(np.float32)
    model_key = json.dumps(
        ["geo", spec.model.to_dict(), {k: p.to_dict() for k, p in sorted(priors.items())}],
        sort_keys=True,
    )
    model = functools.partial(geo_numpyro_model, spec.model, priors)
    tests = check_lift_tests(lift_tests, panel)
    lift = geo_lift_data(tests, panel, scales)
    centring = choose_centring(spec, priors, design, y)
    args = tuple(jax.tree.map(jnp.asarray, (design, y, lift, centring)))
    return GeoProblem(spec, panel, scales, axis, design, priors, shapes, model_key, model, args,
                      tests)  # fmt: skip


def fit_geo(
    spec: GeoMMM,
    panel: GeoDataset,
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
    warn: bool = True,
    lift_tests=None,
    scales: GeoScales | None = None,
    init: str = "prior",
    map_steps: int = 2000,
) -> GeoFit:
    """Fit the hierarchical geo model ``spec`` to ``panel`` with NUTS.

    Args:
      spec: the :class:`~mmmjax.geo.GeoMMM`.
      panel: a :class:`~mmmjax.geo.GeoDataset`.
      chains, draws, warmup: NUTS chains, kept draws and warm-up steps per chain.
      seed: PRNG seed; the same seed gives the same fit.
      target_accept, max_tree_depth, dense_mass, progress: as in
        :func:`mmmjax.inference.sampling.run_nuts`.
      chain_method: as in :func:`mmmjax.inference.sampling.run_nuts`, except that "auto" vectorises
        the chains on CPU too. Measured on this 2-core box with a 50-geo x 156-week x 8-channel
        panel: 4 chains ``pmap``-ed over host devices grew the process by about 65 MB per
        second of sampling (12 GB after 6 minutes, not yet understood; 2 parallel chains or
        20 geos stayed flat), while 4 vectorised chains stayed flat at 1.4 GB.
      warn: emit a :class:`~mmmjax.errors.SamplerWarning` per sampler problem.
      lift_tests: :class:`~mmmjax.LiftTest` s, each naming its geo: each adds
        ``lift ~ Normal(implied lift, lift_se)`` (:func:`mmmjax.model.geo.implied_geo_lift`).
        Kept in the fit (``GeoFit.lift_tests``) and its saved files.
      scales: the :class:`~mmmjax.geo.GeoScales` to use; default ``panel.scales``.
        :meth:`GeoFit.refresh` passes the previous fit's.
      init, map_steps: "prior" (median of prior draws per chain) or "map" (a quick MAP fit,
        jittered per chain, :func:`mmmjax.inference.sampling.map_initial_values`), as for national
        data.

    Returns:
      A :class:`GeoFit`.
    """
    check_fit_options(chains, draws, warmup, init)
    problem = prepare_geo(spec, panel, lift_tests=lift_tests, scales=scales)
    if chain_method == "auto" and jax.default_backend() == "cpu" and chains > 1:
        chain_method = "vectorized"
    init_values = None
    if init == "map":
        init_values = map_initial_values(
            problem.model, problem.model_args, priors=problem.priors, shapes=problem.shapes,
            chains=chains, seed=seed, steps=map_steps,
        )  # fmt: skip
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
    centring = problem.model_args[3]
    info = {
        "target_accept": target_accept,
        "init": init,
        "centred": {z: np.asarray(w).tolist() for z, w in centring._asdict().items()},
    }
    return assemble_geo(problem, result, seed=seed, warn=warn, info=info)


def _coords_dims(spec: GeoMMM, panel: GeoDataset, design: GeoDesign):
    order = spec.model.seasonality
    coords = {
        "geo": panel.geos,
        "date": panel.dates,
        "channel": panel.channels,
        "control": panel.control_names,
        "event": panel.event_names,
        "fourier": [f"{fn}_{k}" for fn in ("sin", "cos") for k in range(1, order + 1)],
        "changepoint": [float(c) for c in design.changepoints],
    }
    dims = {name: ["channel"] for name in spec.kernel_params}
    dims.update({
        "intercept": ["geo"], "sigma": ["geo"], "trend_z": ["geo"], "trend_slope": ["geo"],
        "trend_delta": ["changepoint"],
        "season_mu": ["fourier"], "season_z": ["geo", "fourier"], "season": ["geo", "fourier"],
        "control_mu": ["control"], "control_tau": ["control"],
        "control_z": ["geo", "control"], "control_coef": ["geo", "control"],
        "roi_mu": ["channel"], "roi_tau": ["channel"], "roi_z": ["geo", "channel"],
        "media_roi": ["geo", "channel"],
        "target": ["geo", "date"], "spend": ["geo", "date", "channel"],
        "controls": ["geo", "date", "control"], "population": ["geo"],
        "event_coef": ["event"], "events": ["geo", "date", "event"],
    })  # fmt: skip
    return coords, dims


def assemble_geo(
    problem: GeoProblem,
    result: SamplerResult,
    *,
    seed: int,
    warn: bool = True,
    info: dict[str, Any] | None = None,
) -> GeoFit:
    """The :class:`GeoFit` of ``problem`` from the sampler's ``result``."""
    spec, panel = problem.spec, problem.dataset
    sampled = {k: np.asarray(result.posterior[k], np.float64) for k in problem.shapes}
    posterior = derived(decentre(sampled, jax.tree.map(np.asarray, problem.model_args[3])))
    posterior = {k: v.astype(np.float32) for k, v in posterior.items()}
    chains, draws = result.sample_stats["diverging"].shape
    coords, dims = _coords_dims(spec, panel, problem.design)
    groups = {
        "posterior": posterior,
        "sample_stats": result.sample_stats,
        "observed_data": {"target": np.asarray(panel.target, np.float64)},
        "constant_data": {
            "spend": np.asarray(panel.spend, np.float64),
            "controls": np.asarray(panel.controls, np.float64),
            "population": np.asarray(panel.population, np.float64),
            **({"events": np.asarray(panel.events, np.float64)} if panel.event_names else {}),
        },
    }
    idata = from_dict(groups, coords=coords, dims=dims)
    info = sampler_info(result, seed, info)
    fit = GeoFit(spec=spec, dataset=panel, scales=problem.scales, axis=problem.axis,
                 idata=idata, info=info, lift_tests=problem.lift_tests)  # fmt: skip
    mu = fit._mean_scaled()
    y_pp = fit._in_money(mu, "predictive", seed)  # as fit.predict(seed=seed)
    new = {"posterior_predictive": y_pp, "log_likelihood": fit._log_likelihood(mu)}
    new = {g: {"target": v.reshape(chains, draws, *panel.target.shape)} for g, v in new.items()}
    add_groups(idata, new, coords=coords, dims=dims)
    if warn:
        for msg in sampler_messages(fit.diagnostics()):
            warnings.warn(msg, SamplerWarning, stacklevel=3)
    return fit
