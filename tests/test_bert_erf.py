"""The vectorised erf behind exact GELU (BERT's "gelu"): accuracy against math.erf on dense grids, and the
GELU built on it (forward, both backward paths, dtypes)."""
import math

import numpy as np
import pytest

from transformer_np.layers import GELU
from transformer_np.layers.erf import erf, normal_cdf_and_pdf

# Dense over the range where erf is not yet +-1, and geometric down to tiny magnitudes (relative error
# near 0 is where 1 - erfc(x) would cancel).
GRID = np.concatenate([np.linspace(-6.0, 6.0, 240001), np.geomspace(1e-30, 6.0, 20001),
                       -np.geomspace(1e-30, 6.0, 20001), [0.0, 10.0, -10.0, 30.0, -30.0]])


def reference_erf(x):
    return np.array([math.erf(float(v)) for v in x])


def test_float32_erf_is_within_2e7_relative():
    x = GRID.astype(np.float32)
    got = erf(x)
    assert got.dtype == np.float32
    ref = reference_erf(x)                          # of the float32 inputs themselves, in float64
    nonzero = ref != 0
    assert np.all(got[~nonzero] == 0)
    assert (np.abs(got[nonzero] - ref[nonzero]) / np.abs(ref[nonzero])).max() <= 2e-7


def test_float64_erf_is_within_1e12_absolute():
    got = erf(GRID)
    assert got.dtype == np.float64
    assert np.abs(got - reference_erf(GRID)).max() <= 1e-12


def test_normal_cdf_tail_is_accurate_relative_to_itself():
    """Phi(x) for x << 0 comes from erfc, not 1 + erf(x/sqrt 2) (which would be 0 or noise there)."""
    x = np.linspace(-30.0, 8.0, 3801)
    cdf, pdf = normal_cdf_and_pdf(x)
    ref = np.array([0.5 * math.erfc(-v / math.sqrt(2.0)) for v in x])
    np.testing.assert_allclose(cdf, ref, rtol=2e-12, atol=0)
    np.testing.assert_allclose(pdf, np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi), rtol=1e-15)


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 3e-7), (np.float64, 1e-12)])
def test_exact_gelu_matches_x_times_cdf(dtype, rtol):
    x = np.linspace(-5.0, 5.0, 10001).astype(dtype)
    expected = np.array([v * 0.5 * math.erfc(-v / math.sqrt(2.0)) for v in x.astype(np.float64)])
    got = GELU("none").forward(x)
    assert got.dtype == dtype
    # float32: relative to |x| (the exponent's rounding, x^2 / 2 in float32, dominates for x << 0)
    assert (np.abs(got - expected) / np.maximum(np.abs(x), 1e-30)).max() <= rtol


def test_eval_mode_backward_equals_training_mode_backward():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 70)).astype(np.float32) * 3
    dy = rng.standard_normal(x.shape).astype(np.float32)
    train, infer = GELU("none"), GELU("none").eval()
    # The two forward formulas (x Phi(x); relu(x) - |x| Phi(-|x|)) agree to rounding.
    np.testing.assert_allclose(train.forward(x), infer.forward(x), rtol=1e-6, atol=1e-7)
    assert infer.dydx is None                                     # inference keeps no derivative
    np.testing.assert_array_equal(train.backward(dy), infer.backward(dy))


def test_float16_stays_float16():
    x = np.linspace(-3, 3, 7).astype(np.float16)
    assert GELU("none").forward(x).dtype == np.float16
    assert erf(x).dtype == np.float32


def test_float32_gelu_derivative_matches_float64():
    """float32 takes Phi from (1 + tanh(x P(x^2))) / 2, float64 from erfc: dY/dX = Phi + x phi agrees to
    float32 rounding, and P stays positive far out (huge |x| saturates instead of flipping sign)."""
    x64 = np.concatenate([np.linspace(-14.0, 14.0, 28001), [-1e30, 1e30, -50.0, 50.0]])
    dy = np.ones_like(x64)
    layers = {dtype: GELU("none") for dtype in (np.float32, np.float64)}
    y = {dtype: layers[dtype].forward(x64.astype(dtype)) for dtype in layers}
    grad = {dtype: layers[dtype].backward(dy.astype(dtype)) for dtype in layers}
    assert grad[np.float32].dtype == np.float32
    np.testing.assert_allclose(grad[np.float32], grad[np.float64], rtol=0, atol=3e-7)
    scale = np.maximum(np.abs(x64), 1.0)                                     # relative to |x|, as above
    np.testing.assert_allclose(y[np.float32] / scale, y[np.float64] / scale, rtol=0, atol=3e-7)
