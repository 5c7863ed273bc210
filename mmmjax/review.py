"""Can this data and this fit be trusted? A data review before sampling, a health score after.

:func:`review_data` reads a :class:`~mmmjax.Dataset` (or a :class:`~mmmjax.GeoDataset`) and
returns a :class:`DataReview`: findings with a severity ("error", "warning", "info"), the number
behind each, and one sentence on what to do. Findings of severity "error" stop
:meth:`mmmjax.MMM.fit` unless it is called with ``review="warn"`` (or ``"off"``); the CLI's
``--ignore-data-errors`` does the same.

:func:`review_fit` (``Fit.review()``) reads a fitted model and returns a :class:`FitReview`:
named checks, each ``pass`` / ``warn`` / ``fail`` with its value, threshold and advice, and a
0-100 health score::

    score = 100 * sum_i w_i s_i / sum_i w_i,   s_i = 1 (pass), 0.5 (warn), 0 (fail)

over the checks that apply (ROI-prior and lift-test agreement only for a calibrated fit), with
the weights in :data:`WEIGHTS` (a check group's weight is split evenly over its channels). When a
convergence check fails the other numbers are read from unreliable draws, so the score is then
capped at :data:`CAP_UNCONVERGED`. Verdicts: ``score >= 80`` "good", ``>= 50`` "usable with
caveats", below 50 "weak".

The checks only read a few duck-typed accessors (``fit.idata``, ``fit.diagnostics()``,
``fit.dataset``, ``fit.spec``, ``fit.channels``, ``fit.lift_tests``, and the insights'
``roi``/``contributions``), so they answer for national and geo fits alike.

Example:
    >>> data = mmmjax.datasets.load("demo")
    >>> print(mmmjax.review_data(data))
    >>> fit = mmmjax.MMM().fit(data)
    >>> r = fit.review()
    >>> r.score, r.verdict
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mmmjax import seeds
from mmmjax.data import is_panel
from mmmjax.errors import DataError
from mmmjax.inference import validation as val
from mmmjax.inference.fit import ESS_MIN, RHAT_MAX
from mmmjax.insights import INTERVAL_QUANTILES, contributions, lift_draws, roi_draws

__all__ = [
    "CAP_UNCONVERGED",
    "WEIGHTS",
    "Check",
    "DataReview",
    "Finding",
    "FitReview",
    "review_data",
    "review_fit",
]

SEVERITIES = ("error", "warning", "info")
REVIEW_MODES = ("error", "warn", "off")

#: Pairwise spend correlation above which two channels are hard to tell apart (warning), and
#: above which they are the same series for the model (error).
CORR_WARN, CORR_ERROR = 0.9, 0.999
#: VIF above which a channel is flagged (warning), and above which it is an error.
VIF_ERROR = 1000.0
#: Coefficient of variation of spend below which a channel varies too little to learn from.
CV_MIN = 0.1
#: Share of periods with spend below which a channel is flagged.
ACTIVE_MIN = 0.1
#: Observations per sampled parameter: below 1 an error, below 5 a warning.
OBS_PER_PARAM_WARN = 5.0
#: Robust z-score of the target beyond which a period is an outlier.
OUTLIER_Z = 3.5
#: Target-spend correlation below which a channel's spend moves against the target.
NEGATIVE_CORR = -0.2
#: Share of a channel's spend-per-head variation left after geo and time means, below which
#: the panel's geos add little information about that channel.
GEO_RESIDUAL_MIN = 0.05

#: Check weights of the health score (a group's weight is split over its channels).
WEIGHTS = {
    "r_hat": 15.0,
    "ess": 10.0,
    "divergences": 10.0,
    "ppc": 10.0,
    "fit_vs_ridge": 15.0,
    "baseline": 10.0,
    "roi_learned": 10.0,
    "roi_plausible": 5.0,
    "media_share": 10.0,
    "roi_prior_agreement": 5.0,
    "lift_agreement": 10.0,
}
#: Each check group in words.
LABELS = {
    "r_hat": "chains disagree (r-hat)",
    "ess": "few effective draws",
    "divergences": "divergent transitions",
    "ppc": "posterior predictive check",
    "fit_vs_ridge": "fits worse than a ridge baseline",
    "baseline": "baseline below zero",
    "roi_learned": "ROI from the prior",
    "roi_plausible": "implausible ROI",
    "media_share": "media share of sales",
    "roi_prior_agreement": "ROI prior disagrees",
    "lift_agreement": "lift test disagrees",
}
#: The score when any convergence check fails.
CAP_UNCONVERGED = 40.0
CONVERGENCE = ("r_hat", "ess", "divergences")
_LABELS = {"pass": 1.0, "warn": 0.5, "fail": 0.0}


# ----------------------------------------------------------------------------------------------
# data review
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """One finding of :func:`review_data`.

    Attributes:
      check: what was checked (e.g. "collinearity", "variation", "outliers").
      severity: "error" (stops the fit), "warning" or "info".
      value: the number behind it (a correlation, a VIF, a count...).
      message: what was found and what to do, in one or two sentences.
      column: the column (channel or target) it is about, or "" for the whole dataset.
    """

    check: str
    severity: str
    value: float
    message: str
    column: str = ""


@dataclass(frozen=True)
class DataReview:
    """The findings of :func:`review_data`, errors first."""

    findings: tuple[Finding, ...] = ()

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        """No errors (warnings allowed)."""
        return not self.errors

    def to_frame(self) -> pd.DataFrame:
        cols = ["check", "severity", "column", "value", "message"]
        return pd.DataFrame([{k: getattr(f, k) for k in cols} for f in self.findings], columns=cols)

    def enforce(self, mode: str = "error") -> None:
        """Apply a fit's ``review`` option: "error" raises :class:`~mmmjax.DataError` on the
        first error (naming its column, and how many more there are), "warn" emits every error
        as a :class:`~mmmjax.errors.DataWarning`, "off" does nothing."""
        if mode not in REVIEW_MODES:
            raise ValueError(f"review must be one of {', '.join(REVIEW_MODES)}, got {mode!r}")
        errors = self.errors
        if mode == "off" or not errors:
            return
        if mode == "warn":
            import warnings

            from mmmjax.errors import DataWarning

            for f in errors:
                warnings.warn(f.message, DataWarning, stacklevel=3)
            return
        more = f" ({len(errors) - 1} more data error(s))" if len(errors) > 1 else ""
        raise DataError(
            f"data review: {errors[0].message}{more}. To fit anyway pass review='warn' "
            "(CLI: --ignore-data-errors)"
        )

    def __str__(self) -> str:
        if not self.findings:
            return "data review: no findings"
        n_e, n_w = len(self.errors), len(self.warnings)
        lines = [f"data review: {n_e} error(s), {n_w} warning(s)"]
        lines += [f"  {f.severity}: {f.message}" for f in self.findings if f.severity != "info"]
        return "\n".join(lines)


def _is_panel(dataset) -> bool:
    return is_panel(dataset)


def _n_params(dataset, spec) -> int:
    """Number of scalar parameters NUTS samples for ``spec`` on ``dataset``."""
    if _is_panel(dataset):
        from mmmjax.inference.geo_fit import prepare_geo
        from mmmjax.model.geo import GeoMMM

        geo_spec = spec if isinstance(spec, GeoMMM) else GeoMMM.of(spec)
        shapes = prepare_geo(geo_spec, dataset).shapes
    else:
        from mmmjax.inference.fit import training_design
        from mmmjax.model import site_shapes

        shapes = site_shapes(spec, training_design(spec, dataset)[2])
    return int(sum(math.prod(s) for s in shapes.values()))


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a @ a) * (b @ b)))
    return float(a @ b) / den if den > 0 else float("nan")


def _collinearity(national) -> list[Finding]:
    out = []
    X = np.asarray(national.spend, dtype=np.float64)
    names = list(national.channels)
    C = X.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        R = np.corrcoef(X, rowvar=False) if C > 1 else np.ones((1, 1))
    for i, j in zip(*np.triu_indices(C, k=1), strict=True):
        r = float(R[i, j])
        if not abs(r) > CORR_WARN:
            continue
        pair = f"{names[i]} and {names[j]}"
        if abs(r) >= CORR_ERROR:
            out.append(
                Finding(
                    "collinearity",
                    "error",
                    r,
                    (
                        f"columns {names[i]!r} and {names[j]!r}: spend is the same series up to "
                        "scale "
                        f"(correlation {r:.3f}), so the model cannot split their effect; merge "
                        "them "
                        "into one channel"
                    ),
                    names[j],
                )
            )
        else:
            out.append(
                Finding(
                    "collinearity",
                    "warning",
                    r,
                    (
                        f"{pair}: spend correlation {r:.2f}; their ROIs will trade off against "
                        "each "
                        "other. Vary one independently (a test, flighting), merge them, or set ROI "
                        "priors"
                    ),
                    names[j],
                )
            )
    vifs = val.vif(national)
    for ch, v in vifs.items():
        if np.isnan(v) or v <= val.VIF_THRESHOLD:
            continue
        sev = "error" if v > VIF_ERROR else "warning"
        text = "∞" if np.isinf(v) else f"{v:.0f}" if v >= 100 else f"{v:.1f}"
        msg = (
            f"column {ch!r}: spend is (almost) a linear combination of the other channels "
            f"(VIF {text}); drop or merge a channel"
            if sev == "error"
            else f"{ch}: VIF {text} > {val.VIF_THRESHOLD:g}, its spend moves with the other "
            "channels; its ROI will lean on the prior. Vary its spend independently or set an "
            "ROI prior"
        )
        out.append(Finding("vif", sev, float(v), msg, str(ch)))
    return out


def _variation(national) -> list[Finding]:
    out = []
    X = np.asarray(national.spend, dtype=np.float64)
    T = X.shape[0]
    for c, ch in enumerate(national.channels):
        x = X[:, c]
        mean, sd = float(x.mean()), float(x.std())
        active = int(np.sum(x > 0))
        if sd <= 1e-12 * max(abs(mean), 1.0):
            out.append(
                Finding(
                    "variation",
                    "error",
                    0.0,
                    (
                        f"column {ch!r}: spend never changes, so its effect cannot be told from "
                        "the "
                        "baseline; drop the channel or fit with an informative ROI prior"
                    ),
                    ch,
                )
            )
            continue
        cv = sd / mean if mean > 0 else float("inf")
        if cv < CV_MIN:
            out.append(
                Finding(
                    "variation",
                    "warning",
                    cv,
                    (
                        f"{ch}: spend barely varies (coefficient of variation {cv:.2f} < "
                        f"{CV_MIN:g}); "
                        "the data say little about its ROI. Vary its spend, or set an ROI prior"
                    ),
                    ch,
                )
            )
        if active < max(ACTIVE_MIN * T, 4):
            out.append(
                Finding(
                    "activity",
                    "warning",
                    float(active),
                    (
                        f"{ch}: spend in only {active} of {T} periods; its ROI rests on those few "
                        "bursts. Check the column, or set an ROI prior"
                    ),
                    ch,
                )
            )
    return out


def _per_parameter(dataset, spec) -> list[Finding]:
    n_obs = int(np.asarray(dataset.target).size)
    n_par = _n_params(dataset, spec)
    ratio = n_obs / max(n_par, 1)
    where = f"{n_obs} observations for {n_par} sampled parameters ({ratio:.1f} per parameter)"
    if ratio < 1:
        return [
            Finding(
                "data_per_parameter",
                "error",
                ratio,
                (
                    f"column {dataset.target_name!r}: {where}; use fewer channels, controls or "
                    "Fourier terms, or more data"
                ),
                dataset.target_name,
            )
        ]
    if ratio < OBS_PER_PARAM_WARN:
        return [
            Finding(
                "data_per_parameter",
                "warning",
                ratio,
                (
                    f"{where}, fewer than {OBS_PER_PARAM_WARN:g}: the priors carry much of the "
                    "answer. "
                    "Use fewer Fourier terms or channels, informative priors, or more data"
                ),
                dataset.target_name,
            )
        ]
    return [Finding("data_per_parameter", "info", ratio, where, dataset.target_name)]


def robust_z(y: np.ndarray) -> np.ndarray:
    """Robust z-score ``0.6745 (y - median(y)) / MAD(y)`` (MAD = median absolute deviation),
    ``(T,)`` in units of a normal's standard deviation; zeros when MAD is 0."""
    y = np.asarray(y, dtype=np.float64)
    med = np.median(y)
    mad = float(np.median(np.abs(y - med)))
    return np.zeros_like(y) if mad == 0 else 0.6745 * (y - med) / mad


def _outliers(national) -> list[Finding]:
    y = np.asarray(national.target, dtype=np.float64)
    z = robust_z(y)
    bad = np.flatnonzero(np.abs(z) > OUTLIER_Z)
    if not bad.size:
        return []
    worst = int(bad[np.argmax(np.abs(z[bad]))])
    date = national.dates[worst].date()
    return [
        Finding(
            "outliers",
            "warning",
            float(z[worst]),
            (
                f"column {national.target_name!r}: {bad.size} period(s) lie more than "
                f"{OUTLIER_Z:g} "
                f"robust standard deviations from the median (worst {date}, z = "
                f"{z[worst]:.1f}); check "
                "them, and add an event column if they are real (a promotion, an outage)"
            ),
            national.target_name,
        )
    ]


def _target_correlation(national) -> list[Finding]:
    y = np.asarray(national.target, dtype=np.float64)
    X = np.asarray(national.spend, dtype=np.float64)
    out, parts = [], []
    for c, ch in enumerate(national.channels):
        r = _corr(X[:, c], y)
        parts.append(f"{ch} {r:+.2f}")
        if r < NEGATIVE_CORR:
            out.append(
                Finding(
                    "target_correlation",
                    "warning",
                    r,
                    (
                        f"{ch}: spend moves against the target (correlation {r:.2f}); with a "
                        "positive "
                        "ROI prior the model will attribute little to it, or something else (a "
                        "season, a missing control) drives both. Add the missing control"
                    ),
                    ch,
                )
            )
    out.append(
        Finding(
            "target_correlation",
            "info",
            float("nan"),
            "correlation of spend with the target: " + ", ".join(parts),
        )
    )
    return out


def _geo_time(panel) -> list[Finding]:
    """Per channel, the share of spend-per-head variation left after geo and time means."""
    x = np.asarray(panel.spend, dtype=np.float64) / np.asarray(panel.population)[:, None, None]
    grand = x.mean(axis=(0, 1), keepdims=True)
    fitted = x.mean(axis=1, keepdims=True) + x.mean(axis=0, keepdims=True) - grand
    total = ((x - grand) ** 2).sum(axis=(0, 1))
    resid = ((x - fitted) ** 2).sum(axis=(0, 1))
    out = []
    for c, ch in enumerate(panel.channels):
        share = float(resid[c] / total[c]) if total[c] > 0 else 0.0
        if share < GEO_RESIDUAL_MIN:
            out.append(
                Finding(
                    "geo_time",
                    "warning",
                    share,
                    (
                        f"{ch}: spend per head follows the same pattern in every geo (only "
                        f"{100 * share:.1f}% of its variation is not a geo level or a national "
                        "time "
                        "pattern), so the geos add little evidence on its ROI. Vary it across geos "
                        "(a geo test)"
                    ),
                    ch,
                )
            )
    return out


def review_data(dataset, spec=None) -> DataReview:
    """Review ``dataset`` before fitting: what will make the fit weak or impossible.

    Checks (each gives a :class:`Finding`; thresholds are the module constants):

    - collinearity: pairwise correlation of channel spend (warning above ``CORR_WARN``, error at
      ``CORR_ERROR``) and VIF (:func:`mmmjax.inference.validation.vif`; warning above 10, error
      above ``VIF_ERROR``);
    - variation: constant spend (error), coefficient of variation ``sd/mean < CV_MIN`` and spend
      in fewer than ``max(ACTIVE_MIN * T, 4)`` periods (warnings);
    - data per parameter: observations (``T``, or ``G * T`` for a panel) per sampled parameter
      of ``spec`` (error below 1, warning below ``OBS_PER_PARAM_WARN``);
    - outliers: periods whose robust z-score of the target (:func:`robust_z`) exceeds
      ``OUTLIER_Z``;
    - target-spend correlation per channel (warning below ``NEGATIVE_CORR``);
    - for a panel, geo x time collinearity: the share of each channel's spend-per-head variation
      (``G x T``) not explained by additive geo and time means (warning below
      ``GEO_RESIDUAL_MIN``).

    Panel checks other than the last run on the national totals (sum over geos).

    Args:
      dataset: a :class:`~mmmjax.Dataset` or :class:`~mmmjax.GeoDataset`.
      spec: the :class:`~mmmjax.MMM` to be fitted (default ``MMM()``), for the parameter count.

    Returns:
      :class:`DataReview`, errors first, then warnings, then information.
    """
    from mmmjax.model import MMM

    spec = MMM() if spec is None else spec
    panel = _is_panel(dataset)
    national = dataset.national() if panel else dataset
    found = [
        *_collinearity(national),
        *_variation(national),
        *_per_parameter(dataset, spec),
        *_outliers(national),
        *_target_correlation(national),
        *(_geo_time(dataset) if panel else []),
    ]
    found.sort(key=lambda f: SEVERITIES.index(f.severity))
    return DataReview(tuple(found))


# ----------------------------------------------------------------------------------------------
# fit review
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    """One named check of :func:`review_fit`.

    Attributes:
      name: e.g. "r_hat", "roi_learned[tv]".
      group: the key of :data:`WEIGHTS` it counts under.
      status: "pass", "warn" or "fail".
      value: the measured number.
      threshold: the rule in words (e.g. "<= 1.01 pass, <= 1.05 warn").
      message: what the value means and, unless it passes, what to do.
    """

    name: str
    group: str
    status: str
    value: float
    threshold: str
    message: str

    @property
    def label(self) -> str:
        """The check in words, e.g. "ROI from the prior (tv)"."""
        text = LABELS[self.group]
        inside = self.name.partition("[")[2].rstrip("]")
        return f"{text} ({inside})" if inside else text


@dataclass(frozen=True)
class FitReview:
    """Named checks of a fit and its 0-100 health score (formula in :mod:`mmmjax.review`)."""

    checks: tuple[Check, ...]
    score: float
    notes: tuple[str, ...] = field(default=())

    @property
    def verdict(self) -> str:
        """ "good" (score >= 80), "usable with caveats" (>= 50) or "weak"."""
        return "good" if self.score >= 80 else "usable with caveats" if self.score >= 50 else "weak"

    @property
    def failing(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]

    @property
    def warned(self) -> list[Check]:
        return [c for c in self.checks if c.status == "warn"]

    def reasons(self) -> list[str]:
        """The messages of failed then warned checks (model checks before convergence ones)."""
        order = sorted(
            self.failing + self.warned, key=lambda c: (c.status != "fail", c.group in CONVERGENCE)
        )
        return [c.message for c in order]

    def to_frame(self) -> pd.DataFrame:
        cols = ["name", "status", "value", "threshold", "message"]
        rows = [{k: getattr(c, k) for k in cols} for c in self.checks]
        return pd.DataFrame(rows, columns=cols).set_index("name")

    def summary(self) -> str:
        """One line: score, verdict and the names of the failing and warned checks."""
        text = f"health {self.score:.0f}/100 ({self.verdict})"
        if self.failing:
            text += "; fails: " + ", ".join(c.label for c in self.failing)
        if self.warned:
            text += "; warnings: " + ", ".join(c.label for c in self.warned)
        return text

    def __str__(self) -> str:
        lines = [self.summary()]
        lines += [f"  {c.status}: {c.message}" for c in self.failing + self.warned]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def score_checks(checks: Sequence[Check]) -> float:
    """The health score of ``checks`` (see the module docstring)."""
    per_group: dict[str, int] = {}
    for c in checks:
        per_group[c.group] = per_group.get(c.group, 0) + 1
    w = np.array([WEIGHTS[c.group] / per_group[c.group] for c in checks])
    s = np.array([_LABELS[c.status] for c in checks])
    score = 100.0 * float(w @ s / w.sum()) if len(checks) else 0.0
    if any(c.group in CONVERGENCE and c.status == "fail" for c in checks):
        score = min(score, CAP_UNCONVERGED)
    return round(score, 1)


def _grade(value: float, pass_if, warn_if) -> str:
    if math.isnan(value):
        return "warn"
    return "pass" if pass_if(value) else "warn" if warn_if(value) else "fail"


def _model(fit):
    """The national :class:`~mmmjax.MMM` behind a fit (a geo spec wraps one as ``.model``)."""
    return getattr(fit.spec, "model", fit.spec)


def _is_geo_fit(fit) -> bool:
    return _is_panel(fit.dataset)


def _roi_draws(fit) -> np.ndarray:
    """``(S, C)`` national window ROI per posterior draw."""
    if _is_geo_fit(fit):
        from mmmjax.insights.geo import roi_draws as geo_roi_draws

        return geo_roi_draws(fit, by="national")
    return roi_draws(fit)


def _lift_draws(fit) -> np.ndarray:
    if _is_geo_fit(fit):
        from mmmjax.insights.geo import lift_draws as geo_lift_draws

        return geo_lift_draws(fit)
    return lift_draws(fit)


def _national_truth_and_mean(fit) -> tuple[Any, np.ndarray]:
    """The national dataset and ``(S, T)`` mean-function draws of its target (money)."""
    mean = np.asarray(fit.predict(kind="mean"), dtype=np.float64)
    if _is_geo_fit(fit):
        return fit.dataset.national(), mean.sum(axis=1)
    return fit.dataset, mean


def _predictive(fit) -> np.ndarray:
    """``(S, N)`` posterior predictive target draws (money), flattened over geos and dates."""
    pp = getattr(fit.idata, "posterior_predictive", None)
    if pp is not None and "target" in pp:
        arr = np.asarray(pp["target"].values, dtype=np.float64)
    else:
        arr = np.asarray(fit.predict(), dtype=np.float64)[None]
    return arr.reshape(arr.shape[0] * arr.shape[1], -1)


def _convergence(fit) -> list[Check]:
    d = fit.diagnostics()
    rhat, ess, div, n = d["max_r_hat"], d["min_ess_bulk"], d["divergences"], d["draws"]
    div_share = div / max(n, 1)
    return [
        Check(
            "r_hat",
            "r_hat",
            _grade(rhat, lambda v: v <= RHAT_MAX, lambda v: v <= 1.05),
            rhat,
            f"<= {RHAT_MAX} pass, <= 1.05 warn",
            f"chains agree (max r-hat {rhat:.3f})"
            if rhat <= RHAT_MAX
            else f"chains disagree (max r-hat {rhat:.3f} at {d['worst_r_hat']}); run longer "
            "(more warmup and draws)",
        ),
        Check(
            "ess",
            "ess",
            _grade(ess, lambda v: v >= ESS_MIN, lambda v: v >= 100),
            ess,
            f">= {ESS_MIN} pass, >= 100 warn",
            f"enough effective draws (min bulk ESS {ess:.0f})"
            if ess >= ESS_MIN
            else f"few effective draws (min bulk ESS {ess:.0f} at {d['worst_ess_bulk']}); "
            "intervals are noisy: run more draws or chains",
        ),
        Check(
            "divergences",
            "divergences",
            _grade(div_share, lambda v: v == 0, lambda v: v <= 0.01),
            float(div),
            "0 pass, <= 1% of draws warn",
            "no divergent transitions"
            if div == 0
            else f"{div} divergent transitions ({100 * div_share:.1f}% of draws): the posterior "
            "may be biased; raise target_accept or tighten the carryover/saturation priors",
        ),
    ]


def _ppc(fit) -> Check:
    """Posterior predictive p-values of the target's mean and standard deviation."""
    yrep = _predictive(fit)
    y = np.asarray(fit.dataset.target, dtype=np.float64).reshape(-1)
    ps = {
        "mean": float(np.mean(yrep.mean(axis=1) >= y.mean())),
        "sd": float(np.mean(yrep.std(axis=1) >= y.std())),
    }
    name, p = min(ps.items(), key=lambda kv: min(kv[1], 1 - kv[1]))
    tail = min(p, 1 - p)
    status = _grade(tail, lambda v: v >= 0.05, lambda v: v >= 0.01)
    msg = (
        f"replicated data look like the observed (p-values: mean {ps['mean']:.2f}, "
        f"sd {ps['sd']:.2f})"
        if status == "pass"
        else f"the observed target's {name} is extreme under the model (posterior predictive "
        f"p-value {p:.3f}); the model misses structure: add controls, seasonality or a "
        "student_t likelihood"
    )
    return Check("ppc", "ppc", status, p, "p in [0.05, 0.95] pass, [0.01, 0.99] warn", msg)


def _fit_vs_ridge(fit, holdout) -> tuple[Check, str | None]:
    national, mean = _national_truth_and_mean(fit)
    model = _model(fit)
    kwargs = {"seasonality": model.seasonality, "trend": model.trend != "none"}
    note = None
    if holdout is not None:
        ridge = val.ridge_baseline(national, n_test=holdout.n_test, **kwargs)
        mine, theirs, where = (
            holdout.metrics.r2,
            ridge.r2_out,
            f"out of sample (last {holdout.n_test})",
        )
    else:
        ridge = val.ridge_baseline(national, **kwargs)
        y = np.asarray(national.target, dtype=np.float64)
        mine, theirs, where = val.r2(y, mean.mean(axis=0)), ridge.r2_in, "in sample"
        note = (
            "the model is compared with the ridge baseline in sample (no holdout given; "
            "pass holdout=mmmjax.inference.validation.holdout(...) for an out-of-sample check)"
        )
    gap = mine - theirs
    status = _grade(gap, lambda v: v >= -0.01, lambda v: v >= -0.1)
    msg = f"R² {where} {mine:.3f} against the ridge baseline's {theirs:.3f}" + (
        ""
        if status == "pass"
        else ": a ridge regression on adstocked spend fits better, so the model's structure (or "
        "its priors) costs accuracy; check the priors, controls and seasonality"
    )
    thr = "R² gap >= -0.01 pass, >= -0.1 warn"
    return Check("fit_vs_ridge", "fit_vs_ridge", status, gap, thr, msg), note


def _baseline(parts) -> Check:
    totals = parts.sel(component="baseline").values.sum(axis=1)  # (S,) over the window
    p = float(np.mean(totals < 0))
    status = _grade(p, lambda v: v < 0.01, lambda v: v < INTERVAL_QUANTILES[0])
    msg = (
        f"the baseline (sales without media, trend or season) is positive (P(< 0) = {p:.2f})"
        if status == "pass"
        else f"the baseline's total over the window is negative with probability {p:.2f}: "
        "media and trend are credited with more than all the sales. Tighten the ROI priors or "
        "add the controls that drive sales"
    )
    return Check("baseline", "baseline", status, p, "P(baseline < 0) < 0.01 pass, < 0.03 warn", msg)


def _media_share(parts, channels) -> Check:
    totals = parts.sum("date")
    media = totals.sel(component=list(channels)).values.sum(axis=-1)
    share = float(np.mean(media / totals.values.sum(axis=-1)))
    status = _grade(share, lambda v: v <= 0.5, lambda v: v <= 0.9)
    msg = f"media drive {100 * share:.0f}% of the prediction" + (
        ""
        if status == "pass"
        else ", more than is usual for a marketing mix (10-50%); check that the baseline, "
        "trend and controls are not being absorbed by media, and consider tighter ROI priors"
    )
    return Check("media_share", "media_share", status, share, "<= 50% pass, <= 90% warn", msg)


def _roi_prior_sd(fit, n: int = 4000, seed: int = 0) -> np.ndarray:
    """``(C,)`` prior standard deviation of ``media_roi`` from the model's priors."""
    prior = _model(fit).resolved_priors(fit.channels)["media_roi"]
    draws = prior.sample_numpy(seeds.numpy_rng(seed, "prior_roi"), (n, len(fit.channels)))
    return np.asarray(draws, dtype=np.float64).std(axis=0)


def _roi_checks(fit, r: np.ndarray) -> list[Check]:
    out = []
    prior_sd = _roi_prior_sd(fit)
    post_sd = r.std(axis=0)
    mean = r.mean(axis=0)
    for c, ch in enumerate(fit.channels):
        contraction = 1.0 - (post_sd[c] / prior_sd[c]) ** 2 if prior_sd[c] > 0 else float("nan")
        status = _grade(contraction, lambda v: v >= 0.5, lambda v: v >= 0.2)
        msg = (
            f"{ch}: the data narrowed its ROI (posterior variance {100 * (1 - contraction):.0f}% "
            "of the prior's)"
            if status == "pass"
            else f"{ch}: its ROI comes mostly from the prior (posterior sd {post_sd[c]:.2g} vs "
            f"prior sd {prior_sd[c]:.2g}); run a lift test or vary its spend to learn it"
        )
        out.append(
            Check(
                f"roi_learned[{ch}]",
                "roi_learned",
                status,
                contraction,
                "contraction 1 - var_post/var_prior >= 0.5 pass, >= 0.2 warn",
                msg,
            )
        )
    for c, ch in enumerate(fit.channels):
        status = _grade(mean[c], lambda v: v <= 20, lambda v: v <= 50)
        msg = (
            f"{ch}: ROI {mean[c]:.2f} is plausible"
            if status == "pass"
            else f"{ch}: ROI {mean[c]:.1f} per unit of spend is implausibly high; check its "
            "spend column (units, missing periods) and its prior"
        )
        out.append(
            Check(
                f"roi_plausible[{ch}]",
                "roi_plausible",
                status,
                float(mean[c]),
                "mean ROI <= 20 pass, <= 50 warn",
                msg,
            )
        )
    return out


def _custom_roi_priors(fit) -> dict[str, Any]:
    given = (_model(fit).priors or {}).get("media_roi")
    if given is None:
        return {}
    if hasattr(given, "dist"):
        return {ch: given for ch in fit.channels}
    return {ch: p for ch, p in given.items() if ch in fit.channels}


def _prior_agreement(fit, r: np.ndarray) -> list[Check]:
    custom = _custom_roi_priors(fit)
    if not custom:
        return []
    prior = _model(fit).resolved_priors(fit.channels)["media_roi"]
    pd_ = np.asarray(
        prior.sample_numpy(seeds.numpy_rng(0, "prior_agreement"), (4000, len(fit.channels)))
    )
    out = []
    for c, ch in enumerate(fit.channels):
        if ch not in custom:
            continue
        q = float(np.mean(pd_[:, c] <= r[:, c].mean()))
        tail = min(q, 1 - q)
        status = _grade(tail, lambda v: v >= INTERVAL_QUANTILES[0], lambda v: v >= 0.005)
        msg = (
            f"{ch}: the posterior ROI agrees with its prior (at the prior's {100 * q:.0f}th "
            "percentile)"
            if status == "pass"
            else f"{ch}: the posterior ROI ({r[:, c].mean():.2f}) sits in the prior's tail (its "
            f"{100 * q:.1f}th percentile): data and prior disagree; recheck the prior's source"
        )
        out.append(
            Check(
                f"roi_prior[{ch}]",
                "roi_prior_agreement",
                status,
                q,
                "posterior mean inside the prior's 94% interval pass, 99% warn",
                msg,
            )
        )
    return out


def _lift_agreement(fit) -> list[Check]:
    tests = tuple(getattr(fit, "lift_tests", ()) or ())
    if not tests:
        return []
    implied = _lift_draws(fit)
    out = []
    for k, t in enumerate(tests):
        m, s = float(implied[:, k].mean()), float(implied[:, k].std())
        z = (m - t.lift) / math.sqrt(t.lift_se**2 + s**2)
        status = _grade(abs(z), lambda v: v <= 2, lambda v: v <= 3)
        label = f"{t.channel} {t.start.date()}" + (f" in {t.geo}" if t.geo else "")
        msg = (
            f"lift test {label}: the model's lift {m:,.0f} agrees with the measured {t.lift:,.0f}"
            if status == "pass"
            else f"lift test {label}: the model implies {m:,.0f} against the measured "
            f"{t.lift:,.0f} ± {t.lift_se:,.0f} (z = {z:.1f}); the test and the rest of the data "
            "disagree: check the test's window and spend change"
        )
        out.append(
            Check(f"lift[{k}]", "lift_agreement", status, z, "|z| <= 2 pass, <= 3 warn", msg)
        )
    return out


def review_fit(fit, *, holdout=None) -> FitReview:
    """Health checks of a fit and their 0-100 score (see the module docstring for the formula).

    Checks: ``r_hat``, ``ess`` and ``divergences`` (convergence); ``ppc``, the posterior
    predictive p-value ``P(T(y_rep) >= T(y))`` of the target's mean and standard deviation (the
    more extreme one is kept); ``fit_vs_ridge``, R² against
    :func:`mmmjax.inference.validation.ridge_baseline` (out of sample when ``holdout`` is given,
    else in
    sample, which is said in ``notes``); ``baseline``, the probability that the baseline's total
    over the window is negative; ``media_share``, the posterior mean share of the prediction due
    to media; per channel ``roi_learned[c]``, the contraction ``1 - var_post / var_prior`` of
    the ROI (prior variance from the model's ``media_roi`` prior), and ``roi_plausible[c]``
    (mean ROI); for calibrated fits ``roi_prior[c]`` (where the posterior mean ROI falls in a
    user prior) and ``lift[k]`` (``z = (implied - measured) / sqrt(se² + sd_implied²)``).

    Args:
      fit: a :class:`~mmmjax.Fit` or :class:`~mmmjax.GeoFit`.
      holdout: an optional :class:`mmmjax.inference.validation.Holdout` of the same data (a refit),
      to
        compare with the ridge baseline out of sample.

    Returns:
      :class:`FitReview`.
    """
    r = _roi_draws(fit)
    parts = contributions(fit)
    checks = [*_convergence(fit), _ppc(fit)]
    ridge_check, note = _fit_vs_ridge(fit, holdout)
    checks += [ridge_check, _baseline(parts), _media_share(parts, fit.channels)]
    checks += [*_roi_checks(fit, r), *_prior_agreement(fit, r), *_lift_agreement(fit)]
    return FitReview(tuple(checks), score_checks(checks), notes=(note,) if note else ())
