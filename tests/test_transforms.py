"""Conformance suite for the adstock and saturation kernels (``mmmjax.transforms``).

One table of kernels (``CASES``), each with an independent float64 NumPy reference (Weibull:
50-digit ``decimal``) written with explicit loops, and one set of parameterised tests run over
every entry: values against the reference (float64 to 1e-9, float32 to ~1e-5), dtype
preservation, jit / vmap / jit(vmap) against eager, gradients against central finite
differences, no retracing. Then geometric scan vs associative scan, hypothesis properties, and
the numerical edges (zero spend, alpha at 0 and near 1, Hill slope < 1 at 0, very large spend,
extreme Weibull parameters).

float64 runs inside ``jax.enable_x64(True)`` blocks so the flag never leaks into other test files.
"""

from __future__ import annotations

import dataclasses
import decimal
import doctest
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mmmjax
from mmmjax import transforms as tr

# --------------------------------------------------------------------------------------------
# float64 references, one series (one channel of one batch element) at a time, with loops
# --------------------------------------------------------------------------------------------


def ref_geometric(xs, alpha, normalize):
    out, y = np.zeros(len(xs)), 0.0
    for t in range(len(xs)):
        y = xs[t] + alpha * y
        out[t] = y * (1 - alpha) if normalize else y
    return out


def ref_convolve(xs, w):
    out = np.zeros(len(xs))
    for t in range(len(xs)):
        for lag in range(len(w)):
            if t - lag >= 0:
                out[t] += w[lag] * xs[t - lag]
    return out


def ref_geometric_weights(alpha, l_max, normalize):
    w = np.array([alpha**lag for lag in range(l_max)])
    return w * (1 - alpha) if normalize else w


def ref_delayed_weights(alpha, theta, l_max, normalize):
    w = np.array([alpha ** ((lag - theta) ** 2) for lag in range(l_max)])
    return w / w.sum() if normalize else w


def ref_weibull_weights(shape, scale, l_max, kind, normalize):
    """Weibull weights in 50-digit decimal arithmetic (no cancellation in S(l) - S(l+1))."""
    with decimal.localcontext() as ctx:
        ctx.prec = 50
        k, lam = decimal.Decimal(float(shape)), decimal.Decimal(float(scale))

        def survival(u):  # S(u) = exp(-(u / scale) ** shape)
            return (-((decimal.Decimal(u) / lam) ** k)).exp() if u > 0 else decimal.Decimal(1)

        if kind == "pdf":  # P(l <= U < l + 1)
            w = [survival(lag) - survival(lag + 1) for lag in range(l_max)]
        else:  # survival S(l)
            w = [survival(lag) for lag in range(l_max)]
        if normalize:
            total = sum(w)
            w = [v / total for v in w]
        return np.array([float(v) for v in w])


def ref_hill(xs, k, s):
    return np.array([v**s / (v**s + k**s) for v in xs])


def ref_logistic(xs, lam):
    return np.array([(1 - np.exp(-lam * v)) / (1 + np.exp(-lam * v)) for v in xs])


def ref_michaelis_menten(xs, k):
    return np.array([v / (v + k) for v in xs])


def ref_tanh(xs, c):
    return np.array([np.tanh(v / c) for v in xs])


def apply_ref(ref1: Callable, x, params) -> np.ndarray:
    """Apply a one-series reference over every batch element and channel of ``x`` (..., T, C)."""
    x = np.asarray(x, np.float64)
    params = [np.asarray(p, np.float64) for p in params]
    batch = np.broadcast_shapes(x.shape[:-2], *(p.shape[:-1] for p in params))
    n_ch = np.broadcast_shapes(x.shape[-1:], *(p.shape[-1:] for p in params))[0]
    xb = np.broadcast_to(x, (*batch, x.shape[-2], n_ch))
    pb = [np.broadcast_to(p, (*batch, n_ch)) for p in params]
    out = np.zeros(xb.shape)
    for idx in np.ndindex(*batch):
        for c in range(n_ch):
            out[(*idx, slice(None), c)] = ref1(xb[(*idx, slice(None), c)], *(p[idx][c] for p in pb))
    return out


# --------------------------------------------------------------------------------------------
# the kernel table
# --------------------------------------------------------------------------------------------

L_MAX = 6


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    fn: Callable  # fn(x, *params) -> (..., T, C)
    ref1: Callable  # ref1(series, *scalar params) -> series
    ranges: tuple[tuple[float, float], ...]  # uniform sampling range per parameter

    def sample(self, rng, shape):
        return [rng.uniform(lo, hi, shape) for lo, hi in self.ranges]


ALPHA = (0.05, 0.95)
CASES = [
    Case(
        "geometric_scan",
        lambda x, a: tr.geometric_adstock(x, a, normalize=True),
        lambda xs, a: ref_geometric(xs, a, True),
        (ALPHA,),
    ),
    Case(
        "geometric_scan_raw",
        lambda x, a: tr.geometric_adstock(x, a),
        lambda xs, a: ref_geometric(xs, a, False),
        (ALPHA,),
    ),
    Case(
        "geometric_associative",
        lambda x, a: tr.geometric_adstock(x, a, normalize=True, method="associative"),
        lambda xs, a: ref_geometric(xs, a, True),
        (ALPHA,),
    ),
    Case(
        "geometric_convolve",
        lambda x, a: tr.convolve_adstock(x, tr.geometric_weights(a, L_MAX, normalize=True)),
        lambda xs, a: ref_convolve(xs, ref_geometric_weights(a, L_MAX, True)),
        (ALPHA,),
    ),
    Case(
        "delayed",
        lambda x, a, th: tr.delayed_adstock(x, a, th, L_MAX),
        lambda xs, a, th: ref_convolve(xs, ref_delayed_weights(a, th, L_MAX, True)),
        (ALPHA, (0.0, L_MAX - 1.0)),
    ),
    Case(
        "delayed_raw",
        lambda x, a, th: tr.delayed_adstock(x, a, th, L_MAX, normalize=False),
        lambda xs, a, th: ref_convolve(xs, ref_delayed_weights(a, th, L_MAX, False)),
        (ALPHA, (0.0, L_MAX - 1.0)),
    ),
    Case(
        "weibull_pdf",
        lambda x, k, lam: tr.weibull_adstock(x, k, lam, L_MAX, kind="pdf"),
        lambda xs, k, lam: ref_convolve(xs, ref_weibull_weights(k, lam, L_MAX, "pdf", True)),
        ((0.3, 5.0), (0.5, 6.0)),
    ),
    Case(
        "weibull_pdf_raw",
        lambda x, k, lam: tr.weibull_adstock(x, k, lam, L_MAX, kind="pdf", normalize=False),
        lambda xs, k, lam: ref_convolve(xs, ref_weibull_weights(k, lam, L_MAX, "pdf", False)),
        ((0.3, 5.0), (0.5, 6.0)),
    ),
    Case(
        "weibull_cdf",
        lambda x, k, lam: tr.weibull_adstock(x, k, lam, L_MAX, kind="cdf"),
        lambda xs, k, lam: ref_convolve(xs, ref_weibull_weights(k, lam, L_MAX, "cdf", True)),
        ((0.3, 5.0), (0.5, 6.0)),
    ),
    Case("hill", tr.hill, ref_hill, ((0.2, 2.0), (0.3, 4.0))),
    Case("logistic", tr.logistic, ref_logistic, ((0.1, 5.0),)),
    Case("michaelis_menten", tr.michaelis_menten, ref_michaelis_menten, ((0.2, 2.0),)),
    Case("tanh", tr.tanh_saturation, ref_tanh, ((0.2, 3.0),)),
]
# the normalize=False variants run through the reference and gradient tests only (their code
# differs from the normalised kernels in one branch); everything else runs over CASES
RAW_CASES = [c for c in CASES if c.name.endswith("_raw")]
CASES = [c for c in CASES if c not in RAW_CASES]
ADSTOCK_CASES = [c for c in CASES if c.name.startswith(("geometric", "delayed", "weibull"))]
SATURATION_CASES = [c for c in CASES if c not in ADSTOCK_CASES]
by_name = pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
by_name_with_raw = pytest.mark.parametrize("case", CASES + RAW_CASES, ids=lambda c: c.name)

# (x shape, parameter shape): shared x, batched x, params batched over a leading axis
SHAPES = [((1, 1), (1,)), ((9, 3), (4, 3)), ((2, 7, 2), (2, 2))]


def _inputs(case: Case, x_shape, p_shape, seed=0, low=0.0):
    rng = np.random.default_rng(seed)
    return rng.uniform(low, 3.0, x_shape), case.sample(rng, p_shape)


def _out_shape(x_shape, p_shape):
    batch = np.broadcast_shapes(x_shape[:-2], p_shape[:-1])
    return (*batch, *x_shape[-2:])


# --------------------------------------------------------------------------------------------
# values, dtypes, transformations
# --------------------------------------------------------------------------------------------


@by_name_with_raw
@pytest.mark.parametrize(("x_shape", "p_shape"), SHAPES)
def test_matches_reference_float64(case, x_shape, p_shape):
    x, params = _inputs(case, x_shape, p_shape, seed=len(x_shape) + len(p_shape))
    with jax.enable_x64(True):
        y = case.fn(jnp.asarray(x), *map(jnp.asarray, params))
        assert y.dtype == jnp.float64
        y = np.asarray(y)
    assert y.shape == _out_shape(x_shape, p_shape)
    np.testing.assert_allclose(y, apply_ref(case.ref1, x, params), rtol=1e-9, atol=1e-12)


@by_name
@pytest.mark.parametrize(("x_shape", "p_shape"), SHAPES[2:3])
def test_matches_reference_float32(case, x_shape, p_shape):
    x, params = _inputs(case, x_shape, p_shape, seed=1)
    x32, p32 = x.astype(np.float32), [p.astype(np.float32) for p in params]
    y = case.fn(jnp.asarray(x32), *map(jnp.asarray, p32))
    assert y.dtype == jnp.float32
    # the reference sees the same float32-rounded inputs
    np.testing.assert_allclose(np.asarray(y), apply_ref(case.ref1, x32, p32), rtol=2e-5, atol=1e-6)


@by_name
def test_dtype_follows_media_not_parameters(case):
    # (float64 media with float64 params and float32 with float32 are the reference tests)
    x, params = _inputs(case, (5, 2), (2,))
    with jax.enable_x64(True):
        p32 = [jnp.asarray(p, jnp.float32) for p in params]
        p64 = [jnp.asarray(p, jnp.float64) for p in params]
        assert case.fn(jnp.asarray(x, jnp.float64), *p32).dtype == jnp.float64
        assert case.fn(jnp.asarray(x, jnp.float32), *p64).dtype == jnp.float32


@by_name
def test_jit_vmap_agree_with_eager_and_reference(case):
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.uniform(0, 3, (4, 11, 3)), jnp.float32)
    params = [jnp.asarray(p, jnp.float32) for p in case.sample(rng, (4, 3))]
    expected = apply_ref(case.ref1, x, params)
    in_axes = (None, *[0] * len(params))  # x shared across parameter draws

    @jax.jit
    def transformed(x, *params):  # one compile for every transformation
        return (
            case.fn(x, *params),  # jit
            jax.vmap(case.fn)(x, *params),  # jit(vmap), x and params batched
            jax.vmap(case.fn, in_axes=in_axes)(x[0], *params),  # x shared, as the model uses it
        )

    eager = case.fn(x, *params)
    jitted, jit_vmapped, shared = transformed(x, *params)
    vmapped = jax.vmap(case.fn)(x, *params)  # vmap outside jit
    for got in (eager, jitted, vmapped, jit_vmapped):
        np.testing.assert_allclose(np.asarray(got), expected, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(shared), np.asarray(case.fn(x[0], *params)), rtol=1e-6)


@by_name_with_raw
def test_gradients_match_central_differences_float64(case):
    rng = np.random.default_rng(4)
    # x away from 0 (Hill's kink) and params inside their ranges
    x = rng.uniform(0.2, 3.0, (2, 8, 2))
    params = case.sample(rng, (2, 2))
    cot = rng.normal(size=(2, 8, 2))
    n_dir, h = 3, 1e-6
    with jax.enable_x64(True):
        args = tuple(jnp.asarray(a) for a in (x, *params))
        # n_dir random directions per argument, each moving only that argument: (n_args * n_dir)
        # perturbations, evaluated in one vmapped call so the check compiles once
        n = len(args) * n_dir
        dirs = [np.zeros((n, *a.shape)) for a in args]
        for i, d in enumerate(dirs):
            d[i * n_dir : (i + 1) * n_dir] = rng.normal(size=(n_dir, *args[i].shape))
        dirs = [jnp.asarray(d) for d in dirs]

        def loss(*a):
            return jnp.sum(case.fn(*a) * cot)

        @jax.jit
        def check(args, dirs):
            grads = jax.grad(loss, argnums=tuple(range(len(args))))(*args)

            def central(*v):
                up = [a + h * vi for a, vi in zip(args, v, strict=True)]
                down = [a - h * vi for a, vi in zip(args, v, strict=True)]
                return (loss(*up) - loss(*down)) / (2 * h)

            return grads, jax.vmap(central)(*dirs)

        grads, fd = check(args, dirs)
        analytic = sum(jnp.tensordot(d, g, axes=g.ndim) for d, g in zip(dirs, grads, strict=True))
        for g, a in zip(grads, args, strict=True):
            assert g.shape == a.shape and g.dtype == jnp.float64
            assert bool(jnp.all(jnp.isfinite(g)))
        np.testing.assert_allclose(np.asarray(analytic), np.asarray(fd), rtol=1e-6, atol=1e-8)


@by_name
def test_jit_does_not_retrace_same_shapes(case):
    traces = []

    def counted(x, *params):
        traces.append(None)  # runs only while tracing
        return case.fn(x, *params)

    f = jax.jit(counted)
    for seed in range(3):
        x, params = _inputs(case, (6, 2), (2,), seed=seed)
        f(jnp.asarray(x, jnp.float32), *(jnp.asarray(p, jnp.float32) for p in params))
    assert len(traces) == 1


def test_retrace_counter_sees_new_shapes():
    traces = []

    @jax.jit
    def counted(x, alpha):
        traces.append(None)
        return tr.geometric_adstock(x, alpha)

    counted(jnp.ones((6, 2)), jnp.full(2, 0.5))
    counted(jnp.zeros((6, 2)), jnp.full(2, 0.2))
    counted(jnp.ones((7, 2)), jnp.full(2, 0.5))
    assert len(traces) == 2


# --------------------------------------------------------------------------------------------
# weight helpers, geometric paths, registry
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("normalize", [False, True])
def test_weight_helpers_match_reference(normalize):
    rng = np.random.default_rng(5)
    alpha, theta = rng.uniform(0.05, 0.95, (3, 2)), rng.uniform(0, 5, (3, 2))
    shape, scale = rng.uniform(0.3, 5, (3, 2)), rng.uniform(0.5, 6, (3, 2))
    L = 7
    with jax.enable_x64(True):
        got = {
            "geometric": tr.geometric_weights(jnp.asarray(alpha), L, normalize),
            "delayed": tr.delayed_weights(jnp.asarray(alpha), jnp.asarray(theta), L, normalize),
            "pdf": tr.weibull_weights(jnp.asarray(shape), jnp.asarray(scale), L, "pdf", normalize),
            "cdf": tr.weibull_weights(jnp.asarray(shape), jnp.asarray(scale), L, "cdf", normalize),
        }
    refs = {
        "geometric": lambda i, c: ref_geometric_weights(alpha[i, c], L, normalize),
        "delayed": lambda i, c: ref_delayed_weights(alpha[i, c], theta[i, c], L, normalize),
        "pdf": lambda i, c: ref_weibull_weights(shape[i, c], scale[i, c], L, "pdf", normalize),
        "cdf": lambda i, c: ref_weibull_weights(shape[i, c], scale[i, c], L, "cdf", normalize),
    }
    for name, w in got.items():
        assert w.shape == (3, L, 2), name
        for i in range(3):
            for c in range(2):
                np.testing.assert_allclose(np.asarray(w[i, :, c]), refs[name](i, c), rtol=1e-9)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_geometric_scan_and_associative_agree(dtype):
    rng = np.random.default_rng(6)

    @jax.jit
    def both(x, alpha):
        out = []
        for normalize in (False, True):
            for method in ("scan", "associative"):

                def total(a, normalize=normalize, method=method):
                    return tr.geometric_adstock(x, a, normalize, method=method).sum()

                y = tr.geometric_adstock(x, alpha, normalize, method=method)
                out.append((y, jax.grad(total)(alpha)))
        return out

    with jax.enable_x64(dtype == jnp.float64):
        x = jnp.asarray(rng.uniform(0, 3, (3, 37, 4)), dtype)
        alpha = jnp.asarray(rng.uniform(0, 0.99, (3, 4)), dtype)
        (s0, gs0), (a0, ga0), (s1, gs1), (a1, ga1) = both(x, alpha)
    rtol = 1e-12 if dtype == jnp.float64 else 2e-5
    for scan, assoc in ((s0, a0), (gs0, ga0), (s1, a1), (gs1, ga1)):
        assert scan.dtype == assoc.dtype == dtype
        scan, assoc = np.asarray(scan), np.asarray(assoc)
        # gradients of the normalised sum cancel terms: compare on the scale of the largest
        np.testing.assert_allclose(assoc, scan, rtol=rtol, atol=rtol * np.abs(scan).max())


def test_convolution_equals_recursion_within_l_max_and_weibull_shape_one_is_geometric():
    rng = np.random.default_rng(7)
    with jax.enable_x64(True):
        x = jnp.asarray(rng.uniform(0, 3, (10, 3)))
        alpha = jnp.asarray([0.2, 0.5, 0.9])
        for normalize in (False, True):
            conv = tr.convolve_adstock(x, tr.geometric_weights(alpha, 10, normalize))
            rec = tr.geometric_adstock(x, alpha, normalize)
            np.testing.assert_allclose(np.asarray(conv), np.asarray(rec), rtol=1e-12)
        # shape 1: S(l) = exp(-l/scale), i.e. geometric with alpha = exp(-1/scale)
        scale = -1 / jnp.log(alpha)
        cdf = tr.weibull_weights(jnp.ones(3), scale, 10, "cdf", normalize=False)
        pdf = tr.weibull_weights(jnp.ones(3), scale, 10, "pdf", normalize=False)
        np.testing.assert_allclose(np.asarray(cdf), np.asarray(tr.geometric_weights(alpha, 10)))
        np.testing.assert_allclose(
            np.asarray(pdf), np.asarray(tr.geometric_weights(alpha, 10, normalize=True))
        )


def test_broadcasting_draws_against_shared_media():
    def shape_of(fn, *args):
        return jax.eval_shape(fn, *args).shape

    x = jnp.ones((12, 3))
    alpha = jnp.full((5, 3), 0.5)
    for method in ("scan", "associative"):

        def geometric(x, a, method=method):
            return tr.geometric_adstock(x, a, method=method)

        assert shape_of(geometric, x, alpha) == (5, 12, 3)
    assert shape_of(lambda x, a: tr.delayed_adstock(x, a, jnp.ones(3), 4), x, alpha) == (5, 12, 3)
    assert shape_of(lambda x, s: tr.weibull_adstock(x, jnp.ones(3), s, 4), x, alpha) == (5, 12, 3)
    assert shape_of(lambda x, k: tr.hill(x, k, jnp.ones(3)), x, alpha) == (5, 12, 3)
    assert shape_of(lambda a: tr.geometric_weights(a, 4), alpha) == (5, 4, 3)
    assert tr.weibull_weights(2.0, 3.0, 4).shape == (4, 1)
    x4 = jnp.ones((2, 5, 12, 3))  # geos x draws x T x C with (draws, C) params
    assert shape_of(lambda x, a: tr.delayed_adstock(x, a, 1.0, 4), x4, alpha) == (2, 5, 12, 3)
    assert shape_of(lambda x, a: tr.geometric_adstock(x, a), x4, alpha) == (2, 5, 12, 3)


def test_invalid_arguments_raise():
    x = jnp.ones((5, 2))
    with pytest.raises(ValueError, match="method"):
        tr.geometric_adstock(x, 0.5, method="fft")
    with pytest.raises(ValueError, match="kind"):
        tr.weibull_adstock(x, 1.0, 1.0, 3, kind="sf")
    with pytest.raises(ValueError, match="l_max"):
        tr.delayed_adstock(x, 0.5, 1.0, 0)
    with pytest.raises(ValueError, match="T, C"):
        tr.geometric_adstock(jnp.ones(5), 0.5)


def test_registry_names_kernels_and_rejects_unknown_names():
    assert set(tr.ADSTOCKS) == {"geometric", "delayed", "weibull_pdf", "weibull_cdf"}
    assert set(tr.SATURATIONS) == {"hill", "logistic", "michaelis_menten", "tanh"}
    x = jnp.asarray(np.random.default_rng(8).uniform(0, 2, (9, 2)), jnp.float32)
    values = {"alpha": 0.6, "theta": 1.5, "weibull_shape": 2.0, "weibull_scale": 2.5}
    for spec in tr.ADSTOCKS.values():
        p = [jnp.full(2, values[n]) for n in spec.params]
        y = spec.apply(x, *p, l_max=5, normalize=spec.normalize)
        w = spec.weights(*p, l_max=5, normalize=spec.normalize)
        assert y.shape == x.shape and w.shape == (5, 2)
    with pytest.raises(ValueError, match="geometric"):
        tr.get_adstock("adstock")
    with pytest.raises(ValueError, match="hill"):
        tr.get_saturation("sigmoid")


_X = np.random.default_rng(9).uniform(0, 2, (11, 2))
_PARAMS = {
    "alpha": np.array([0.6, 0.3]),
    "theta": np.array([1.5, 0.5]),
    "weibull_shape": np.array([2.0, 1.2]),
    "weibull_scale": np.array([2.5, 1.5]),
    "half_saturation": np.array([0.8, 1.4]),
    "slope": np.array([1.5, 2.5]),
    "lam": np.array([1.1, 0.4]),
    "tanh_scale": np.array([0.9, 2.0]),
}
_DIRECT_ADSTOCK = {
    "geometric": lambda x, p: tr.geometric_adstock(x, p["alpha"], normalize=True),
    "delayed": lambda x, p: tr.delayed_adstock(x, p["alpha"], p["theta"], 5, normalize=True),
    "weibull_pdf": lambda x, p: tr.weibull_adstock(
        x, p["weibull_shape"], p["weibull_scale"], 5, kind="pdf", normalize=True
    ),
    "weibull_cdf": lambda x, p: tr.weibull_adstock(
        x, p["weibull_shape"], p["weibull_scale"], 5, kind="cdf", normalize=True
    ),
}
_DIRECT_SATURATION = {
    "hill": lambda x, p: tr.hill(x, p["half_saturation"], p["slope"]),
    "logistic": lambda x, p: tr.logistic(x, p["lam"]),
    "michaelis_menten": lambda x, p: tr.michaelis_menten(x, p["half_saturation"]),
    "tanh": lambda x, p: tr.tanh_saturation(x, p["tanh_scale"]),
}


_REF_ADSTOCK = {  # one series, normalised, float64 NumPy (l_max lags)
    "geometric": lambda xs, p, L: ref_geometric(xs, p["alpha"], True),
    "delayed": lambda xs, p, L: ref_convolve(xs, ref_delayed_weights(p["alpha"], p["theta"], L,
                                                                     True)),
    "weibull_pdf": lambda xs, p, L: ref_convolve(
        xs, ref_weibull_weights(p["weibull_shape"], p["weibull_scale"], L, "pdf", True)),
    "weibull_cdf": lambda xs, p, L: ref_convolve(
        xs, ref_weibull_weights(p["weibull_shape"], p["weibull_scale"], L, "cdf", True)),
}  # fmt: skip
_REF_SATURATION = {
    "hill": lambda xs, p: ref_hill(xs, p["half_saturation"], p["slope"]),
    "logistic": lambda xs, p: ref_logistic(xs, p["lam"]),
    "michaelis_menten": lambda xs, p: ref_michaelis_menten(xs, p["half_saturation"]),
    "tanh": lambda xs, p: ref_tanh(xs, p["tanh_scale"]),
}


def _per_channel(ref, x, p, *extra):
    """A one-series reference over every channel of ``x`` ``(T, C)`` (``p`` ``{name: (C,)}``)."""
    x = np.asarray(x, np.float64)
    cols = []
    for c in range(x.shape[1]):
        pc = {k: float(np.asarray(v, np.float64).reshape(-1)[c]) for k, v in p.items()}
        cols.append(ref(x[:, c], pc, *extra))
    return np.stack(cols, axis=1)


def _response_params(p, C):
    """Insights' per-draw parameters for one draw with unit effect, spend scale and money."""
    from mmmjax.insights import ResponseParams

    channel = {k: jnp.asarray(np.asarray(v, np.float64)[None, :]) for k, v in p.items()}
    channel["effect"] = jnp.ones((1, C))
    return ResponseParams(channel, jnp.ones(C), jnp.ones((1, C)))


@pytest.mark.parametrize("name", sorted(tr.ADSTOCKS))
def test_registry_adstock_is_what_the_model_the_insights_and_the_simulator_compute(name):
    """For every registered adstock, the model's mean function, the insights and the simulator
    (national and panel) all compute the independent float64 NumPy reference of that kernel:
    a registry entry pointing at the wrong function fails here."""
    from mmmjax import insights
    from mmmjax import model as model_mod

    ref = _REF_ADSTOCK[name]  # a new kernel needs a reference here
    spec = mmmjax.MMM(adstock=name, l_max=5)
    assert set(tr.ADSTOCKS[name].params) <= set(spec.channel_params)
    assert set(tr.ADSTOCKS[name].truth) == set(tr.ADSTOCKS[name].params)
    expected = _per_channel(ref, _X, _PARAMS, 5)
    with jax.enable_x64(True):
        p64 = {k: jnp.asarray(v) for k, v in _PARAMS.items()}
        got = model_mod.adstock(spec, p64, jnp.asarray(_X))
        levels = insights.adstocked_levels(spec, _response_params(_PARAMS, 2), jnp.asarray(_X))
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.asarray(levels)[0], expected, rtol=1e-9, atol=1e-12)
    # float32, as the sampler runs it
    got32 = model_mod.adstock(spec, {k: jnp.asarray(v, jnp.float32) for k, v in _PARAMS.items()},
                              jnp.asarray(_X, jnp.float32))  # fmt: skip
    np.testing.assert_allclose(np.asarray(got32), expected, rtol=2e-5, atol=1e-6)
    # the simulator: national (money parameters) and a panel (parameters per head)
    ds, truth = mmmjax.simulate(n_periods=30, n_channels=2, adstock=name, saturation="tanh",
                                l_max=5, seed=4)  # fmt: skip
    p = truth.params
    level = _per_channel(ref, ds.spend, {k: p[k] for k in tr.ADSTOCKS[name].params}, 5)
    contrib = p["beta"] * _per_channel(
        _REF_SATURATION["tanh"], level, {"tanh_scale": p["tanh_scale"]}
    )
    np.testing.assert_allclose(truth.contributions.to_numpy(), contrib, rtol=1e-9)
    panel, gt = mmmjax.simulate(n_periods=30, n_channels=2, n_geos=2, adstock=name,
                                saturation="tanh", l_max=5, n_controls=1, seed=4)  # fmt: skip
    q = gt.params
    for g in range(2):
        x = panel.spend[g] / (q["population"][g] * q["unit"])
        level = _per_channel(ref, x, {k: q[k] for k in tr.ADSTOCKS[name].params}, 5)
        shape = _per_channel(_REF_SATURATION["tanh"], level, {"tanh_scale": q["tanh_scale"]})
        np.testing.assert_allclose(gt.contributions[g], q["beta"][g] * shape, rtol=1e-9)


@pytest.mark.parametrize("name", sorted(tr.SATURATIONS))
def test_registry_saturation_is_what_the_model_the_insights_and_the_simulator_compute(name):
    from mmmjax import insights
    from mmmjax import model as model_mod

    ref = _REF_SATURATION[name]
    spec = mmmjax.MMM(saturation=name)
    assert set(tr.SATURATIONS[name].params) <= set(spec.channel_params)
    assert set(tr.SATURATIONS[name].truth) == set(tr.SATURATIONS[name].params)
    expected = _per_channel(ref, _X, _PARAMS)
    with jax.enable_x64(True):
        p64 = {k: jnp.asarray(v) for k, v in _PARAMS.items()}
        got = model_mod.saturation(spec, p64, jnp.asarray(_X))
        curve = insights.steady_state_response(spec, _response_params(_PARAMS, 2),
                                               jnp.asarray(_X))  # fmt: skip
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.asarray(curve)[0], expected, rtol=1e-9, atol=1e-12)
    got32 = model_mod.saturation(spec, {k: jnp.asarray(v, jnp.float32) for k, v in
                                        _PARAMS.items()}, jnp.asarray(_X, jnp.float32))  # fmt: skip
    np.testing.assert_allclose(np.asarray(got32), expected, rtol=2e-5, atol=1e-6)
    names = tr.SATURATIONS[name].params
    ds, truth = mmmjax.simulate(n_periods=30, n_channels=2, saturation=name, seed=5)
    p = truth.params
    level = _per_channel(_REF_ADSTOCK["geometric"], ds.spend, {"alpha": p["alpha"]}, 8)
    contrib = p["beta"] * _per_channel(ref, level, {k: p[k] for k in names})
    np.testing.assert_allclose(truth.contributions.to_numpy(), contrib, rtol=1e-9)
    np.testing.assert_allclose(truth.response(ds.spend[:3]), p["beta"] * _per_channel(
        ref, ds.spend[:3], {k: p[k] for k in names}), rtol=1e-9)  # fmt: skip
    panel, gt = mmmjax.simulate(n_periods=30, n_channels=2, n_geos=2, saturation=name,
                                n_controls=1, seed=5)  # fmt: skip
    q = gt.params
    for g in range(2):
        x = panel.spend[g] / (q["population"][g] * q["unit"])
        level = _per_channel(_REF_ADSTOCK["geometric"], x, {"alpha": q["alpha"]}, 8)
        shape = _per_channel(ref, level, {k: q[k] for k in names})
        np.testing.assert_allclose(gt.contributions[g], q["beta"][g] * shape, rtol=1e-9)


def test_model_dispatch_goes_through_the_registry(monkeypatch):
    """Replacing a registered kernel changes what the model and the insights compute: there is
    no second dispatch by name anywhere."""
    from mmmjax import model as model_mod

    marker = tr.Adstock(
        ("alpha",), lambda x, a, **kw: jnp.zeros_like(x) + 7.0, lambda a, **kw: a * 0 + 3.0, True
    )
    monkeypatch.setitem(tr.ADSTOCKS, "geometric", marker)
    spec = mmmjax.MMM(adstock="geometric")
    out = model_mod.adstock(spec, {"alpha": jnp.full(2, 0.5)}, jnp.ones((4, 2)))
    np.testing.assert_array_equal(np.asarray(out), 7.0)
    w = tr.adstock_lag_weights("geometric", {"alpha": jnp.full(2, 0.5)}, l_max=4)
    np.testing.assert_array_equal(np.asarray(w), 3.0)
    sat = tr.Saturation(("lam",), lambda x, lam: x * 0 - 1.0)
    monkeypatch.setitem(tr.SATURATIONS, "logistic", sat)
    out = model_mod.saturation(mmmjax.MMM(saturation="logistic"), {"lam": 1.0}, jnp.ones((3, 2)))
    np.testing.assert_array_equal(np.asarray(out), -1.0)
    # the simulator too: a constant adstocked level makes each channel's contribution flat
    flat = tr.ADSTOCKS["delayed"]._replace(apply=lambda x, *a, **kw: jnp.zeros_like(x) + 2.0)
    monkeypatch.setitem(tr.ADSTOCKS, "delayed", flat)
    _, truth = mmmjax.simulate(n_periods=20, n_channels=2, adstock="delayed", seed=0)
    c = truth.contributions.to_numpy()
    np.testing.assert_allclose(c, np.broadcast_to(c[:1], c.shape), rtol=1e-12)


def test_public_names_and_docstring_examples():
    from mmmjax.transforms import adstock, saturation

    for name in tr.__all__:
        assert hasattr(tr, name), name
    for module in (adstock, saturation):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0, module.__name__


# --------------------------------------------------------------------------------------------
# hypothesis properties
# --------------------------------------------------------------------------------------------

unit = st.floats(0.0, 1.0)


def _params(case: Case, fractions):
    """Map fractions in [0, 1] into the case's parameter ranges, shape (C,) = (2,)."""
    return [
        jnp.asarray([lo + f * (hi - lo)] * 2)
        for (lo, hi), f in zip(case.ranges, fractions, strict=False)
    ]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@settings(max_examples=15, deadline=None)
@given(fractions=st.lists(unit, min_size=2, max_size=2))
def test_property_zero_in_zero_out(case, fractions):
    y = case.fn(jnp.zeros((9, 2)), *_params(case, fractions))
    assert bool(jnp.all(y == 0))


@pytest.mark.parametrize(
    "case", [c for c in ADSTOCK_CASES if c.name != "geometric_convolve"], ids=lambda c: c.name
)  # (the L-tap truncated geometric keeps 1 - alpha**L of the mass, tested by construction)
@settings(max_examples=15, deadline=None)
@given(fractions=st.lists(unit, min_size=2, max_size=2), mass=st.floats(1e-3, 1e6))
def test_property_normalized_adstock_conserves_pulse_mass(case, fractions, mass):
    params = _params(case, fractions)
    # geometric: alpha <= 0.95 over 600 periods leaves < 1e-13 of the mass behind
    horizon = 600 if case.name.startswith("geometric") else L_MAX
    with jax.enable_x64(True):
        x = jnp.zeros((horizon, 2)).at[0].set(mass)
        y = case.fn(x, *[p.astype(jnp.float64) for p in params])
        np.testing.assert_allclose(np.asarray(y.sum(axis=0)), mass, rtol=1e-10)
        assert bool(jnp.all(y >= 0))


@pytest.mark.parametrize("case", SATURATION_CASES, ids=lambda c: c.name)
@settings(max_examples=20, deadline=None)
@given(
    fractions=st.lists(unit, min_size=2, max_size=2),
    xs=st.lists(st.floats(0.0, 1e12), min_size=16, max_size=16),
    x64=st.booleans(),
)
def test_property_saturation_monotone_and_bounded(case, fractions, xs, x64):
    with jax.enable_x64(x64):
        dtype = jnp.float64 if x64 else jnp.float32
        x = jnp.sort(jnp.asarray(xs, dtype))[:, None] * jnp.ones(2, dtype)
        params = [p.astype(dtype) for p in _params(case, fractions)]
        y = np.asarray(case.fn(x, *params))
    assert np.all(np.isfinite(y))
    assert np.all(y >= 0) and np.all(y <= 1)
    eps = np.finfo(y.dtype).eps
    assert np.all(np.diff(y, axis=0) >= -4 * eps)  # non-decreasing up to rounding
    # strictly below 1 wherever the exact value is clearly below 1 (1 only by rounding)
    exact = apply_ref(case.ref1, np.asarray(x, np.float64), [np.asarray(p) for p in params])
    clearly_below = (1 - exact) > 1e3 * eps
    assert np.all(y[clearly_below] < 1)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@settings(max_examples=15, deadline=None)
@given(
    fractions=st.lists(unit, min_size=2, max_size=2),
    xs=st.lists(st.floats(0.0, 1e12), min_size=12, max_size=12),
)
def test_property_outputs_finite_float32(case, fractions, xs):
    x = jnp.asarray(xs, jnp.float32)[:, None] * jnp.ones(2, jnp.float32)
    y = case.fn(x, *[p.astype(jnp.float32) for p in _params(case, fractions)])
    assert y.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(y)))


# --------------------------------------------------------------------------------------------
# numerical edges: values and gradients
# --------------------------------------------------------------------------------------------


def _all_grads_finite(fn, *args):
    grads = jax.jit(jax.grad(lambda *a: jnp.sum(fn(*a)), argnums=tuple(range(len(args)))))(*args)
    return all(bool(jnp.all(jnp.isfinite(g))) for g in grads)


EDGE_X = jnp.asarray([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [2.5, 1e-30], [0.0, 3.0]], jnp.float32)


@pytest.mark.parametrize("normalize", [False, True])
def test_edge_delayed_alpha_theta(normalize):
    # every (alpha, theta) pair on the grid is one channel
    alphas, thetas = np.meshgrid([0.0, 1e-30, 0.5, 0.999999, 1.0], [0.0, 0.3, 0.5, 2.0, 20.0])
    a, th = jnp.asarray(alphas.ravel(), jnp.float32), jnp.asarray(thetas.ravel(), jnp.float32)
    x = jnp.tile(EDGE_X[:, :1], (1, a.shape[0]))

    def fn(x, a, th):
        return tr.delayed_adstock(x, a, th, 4, normalize)

    y = fn(x, a, th)
    assert bool(jnp.all(jnp.isfinite(y))) and _all_grads_finite(fn, x, a, th)
    w = tr.delayed_weights(a, th, 4, normalize)
    assert bool(jnp.all(jnp.isfinite(w)))
    if normalize:
        np.testing.assert_allclose(np.asarray(w.sum(axis=-2)), 1.0, rtol=1e-6)


def test_edge_delayed_alpha_zero_limits():
    # raw weights follow 0**0 = 1 and 0**e = 0; normalised ones are the alpha -> 0+ limit
    raw = tr.delayed_weights(jnp.zeros(1), jnp.asarray([2.0]), 4, normalize=False)
    np.testing.assert_array_equal(np.asarray(raw[:, 0]), [0, 0, 1, 0])
    norm = tr.delayed_weights(jnp.zeros(1), jnp.asarray([1.3]), 4)
    np.testing.assert_array_equal(np.asarray(norm[:, 0]), [0, 1, 0, 0])
    tie = tr.delayed_weights(jnp.zeros(1), jnp.asarray([1.5]), 4)
    np.testing.assert_allclose(np.asarray(tie[:, 0]), [0, 0.5, 0.5, 0])
    near = tr.delayed_weights(jnp.asarray([1e-30]), jnp.asarray([1.3]), 4)
    np.testing.assert_allclose(np.asarray(near[:, 0]), [0, 1, 0, 0], atol=1e-6)
    flat = tr.delayed_weights(jnp.ones(1), jnp.asarray([1.3]), 4)  # alpha = 1: uniform
    np.testing.assert_allclose(np.asarray(flat[:, 0]), 0.25)


@pytest.mark.parametrize("method", ["scan", "associative", "convolve"])
@pytest.mark.parametrize("normalize", [False, True])
def test_edge_geometric_alpha(method, normalize):
    a = jnp.asarray([0.0, 1e-30, 0.999999, 1.0], jnp.float32)  # one channel each
    x = jnp.tile(EDGE_X[:, :1], (1, 4))

    def fn(x, a):
        if method == "convolve":
            return tr.convolve_adstock(x, tr.geometric_weights(a, 4, normalize))
        return tr.geometric_adstock(x, a, normalize, method=method)

    y = fn(x, a)
    assert bool(jnp.all(jnp.isfinite(y))) and _all_grads_finite(fn, x, a)
    # alpha = 0: no carry-over, the identity (times 1 - 0 when normalised)
    np.testing.assert_array_equal(np.asarray(y[:, 0]), np.asarray(x[:, 0]))


def test_edge_geometric_alpha_near_one_float32_long_series():
    a = jnp.full(2, 0.999999, jnp.float32)
    for method, n_time in (("scan", 5200), ("associative", 1024)):
        x = jnp.ones((n_time, 2), jnp.float32) * 1e6
        y = tr.geometric_adstock(x, a, normalize=True, method=method)
        assert bool(jnp.all(jnp.isfinite(y)))
        assert _all_grads_finite(
            jax.jit(lambda x, a, m=method: tr.geometric_adstock(x, a, True, method=m)), x, a
        )


@pytest.mark.parametrize("kind", ["pdf", "cdf"])
@pytest.mark.parametrize("normalize", [False, True])
def test_edge_weibull_extreme_parameters(kind, normalize):
    # every (shape, scale) pair on the grid is one channel
    shapes, scales = np.meshgrid([0.05, 0.5, 1.0, 3.0, 20.0], [1e-3, 0.5, 2.0, 100.0, 1e6, 1e12])
    k, lam = jnp.asarray(shapes.ravel(), jnp.float32), jnp.asarray(scales.ravel(), jnp.float32)
    x = jnp.tile(EDGE_X[:, :1], (1, k.shape[0]))

    def fn(x, k, lam):
        return tr.weibull_adstock(x, k, lam, 13, kind, normalize)

    assert bool(jnp.all(jnp.isfinite(fn(x, k, lam))))
    assert _all_grads_finite(fn, x, k, lam)
    w = tr.weibull_weights(k, lam, 13, kind, normalize)
    assert bool(jnp.all(w >= 0)) and bool(jnp.all(jnp.isfinite(w)))
    if normalize:
        np.testing.assert_allclose(np.asarray(w.sum(axis=-2)), 1.0, rtol=1e-5)


def test_edge_weibull_extremes_match_reference_float64():
    # tiny and huge scales, small and large shapes: log-space weights stay accurate
    with jax.enable_x64(True):
        for shape, scale in [(0.2, 1e-2), (0.2, 1e4), (8.0, 3.0), (1.5, 1e3), (3.0, 0.3)]:
            for kind in ("pdf", "cdf"):
                w = tr.weibull_weights(jnp.asarray([shape]), jnp.asarray([scale]), 10, kind)
                ref = ref_weibull_weights(shape, scale, 10, kind, True)
                np.testing.assert_allclose(np.asarray(w[:, 0]), ref, rtol=1e-8, atol=1e-300)


def test_edge_hill_at_zero():
    slopes = jnp.asarray([0.3, 0.999, 1.0, 1.5, 4.0], jnp.float32)  # one channel each
    k = jnp.full(5, 0.7, jnp.float32)
    zero = jnp.zeros((1, 5), jnp.float32)
    np.testing.assert_array_equal(np.asarray(tr.hill(zero, k, slopes)), 0.0)
    assert _all_grads_finite(tr.hill, zero, k, slopes)
    gx, gk, gs = jax.grad(lambda *a: tr.hill(*a).sum(), argnums=(0, 1, 2))(zero, k, slopes)
    np.testing.assert_array_equal(np.asarray(gk), 0.0)  # exact: f is flat in K, s at x = 0
    np.testing.assert_array_equal(np.asarray(gs), 0.0)
    np.testing.assert_allclose(float(gx[0, 2]), 1 / 0.7, rtol=1e-6)  # slope 1: exact one-sided
    np.testing.assert_array_equal(np.asarray(gx[0, 3:]), 0.0)  # slope > 1: exact
    # slope < 1: the true derivative is +inf; a finite stand-in (1/K) is returned
    assert bool(jnp.all(jnp.isfinite(gx)))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_edge_zero_spend_and_huge_spend_float32(case):
    rng = np.random.default_rng(9)
    params = [jnp.asarray(p, jnp.float32) for p in case.sample(rng, (2,))]
    x = jnp.stack([jnp.zeros((6, 2)), jnp.full((6, 2), 1e12)]).astype(jnp.float32)

    @jax.jit
    def values_and_grads(x, *params):  # one compile for both inputs
        def one(x):
            grads = jax.grad(lambda *a: case.fn(*a).sum(), argnums=tuple(range(len(params) + 1)))
            return case.fn(x, *params), grads(x, *params)

        return jax.vmap(one)(x)

    y, grads = values_and_grads(x, *params)
    assert y.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(y)))
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in grads)
    np.testing.assert_array_equal(np.asarray(y[0]), 0.0)
    if case in SATURATION_CASES:
        np.testing.assert_allclose(np.asarray(y[1]), 1.0, rtol=1e-6)


def test_edge_logistic_huge_argument_is_one():
    y = tr.logistic(jnp.asarray([[1e12, 3e38]], jnp.float32), jnp.asarray([1e30, 1e30]))
    np.testing.assert_array_equal(np.asarray(y), 1.0)
    g = jax.grad(lambda lam: tr.logistic(jnp.full((1, 1), 1e12), lam).sum())(jnp.ones(1) * 1e30)
    assert bool(jnp.all(jnp.isfinite(g)))
