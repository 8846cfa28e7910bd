"""The error function without `math.erf` per element: NumPy has no erf, and a Python call per element is
many times slower than the tanh GELU. Exact GELU (BERT's "gelu") needs the normal CDF, Phi(x) = erfc(-x/sqrt 2)/2.

float32, one formula for all a >= 0 (Abramowitz & Stegun 7.1.26's form, refitted by tools/fit_erf.py:
error 2e-8 relative where erfc(a) >= 0.01, 2e-10 absolute beyond):
    erfc(a) = t * exp(-a^2) * R(t),   t = 1 / (1 + 0.45 a),   R a degree-6 polynomial
float64 (the gradient checks; speed not targeted), accurate to ~1e-15 absolute:
    a < 2:   erf(a) = 2/sqrt(pi) * sum_k (-1)^k a^(2k+1) / (k! (2k+1))      (Taylor, 40 terms)
    a >= 2:  erfc(a) = exp(-a^2) / (sqrt(pi) K),  K = a + (1/2)/(a + 1/(a + (3/2)/(a + ...)))   (continued
             fraction, 60 levels evaluated from the bottom up)
erf itself near 0 is x * (2/sqrt pi) * (1 - x^2/3 + ...): 1 - erfc(x) would cancel there, so |x| < 1 uses
the Taylor sum in both precisions (float32: 12 terms).

float32 exact GELU needs Phi(x) only to ~1e-7 absolute (y = x Phi(x)), and takes a cheaper form with no
division, also fitted by tools/fit_erf.py (max |error| 3e-8 in float64 arithmetic, 1e-7 in float32):
    Phi(x) = (1 + tanh(x P(x^2))) / 2,   P a degree-6 polynomial
P's first two coefficients are close to the tanh GELU's sqrt(2/pi) and 0.044715 sqrt(2/pi): that form is
the degree-1 member of this family.
"""
import math

import numpy as np

_ERFC_P = 0.45
_ERFC_R = (2.584918474522e-01, 2.051601366525e-01, 4.459167005305e-01, -3.499875842219e-01,
           8.311521186010e-01, -4.802668484967e-01, 8.953360878152e-02)   # t^0 .. t^6
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_PHI_TANH_P = (7.978849414944e-01, 3.633308438525e-02, -3.259471488781e-05, -5.530633081387e-05,
               3.964776012817e-06, -1.322665290110e-07, 1.756285030760e-09)   # u^0 .. u^6, u = x^2
_INV_SQRT_PI = 1.0 / math.sqrt(math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TAYLOR_TERMS = {np.dtype(np.float32): 12, np.dtype(np.float64): 40}
_TAYLOR_BELOW = {np.dtype(np.float32): 1.0, np.dtype(np.float64): 2.0}   # |x| below: Taylor sum for erf
_CF_LEVELS = 60


def _horner(coefficients, t, out=None):
    """sum_k c_k t^k in t's dtype (Python float coefficients keep float32 float32), highest power first."""
    out = np.multiply(t, coefficients[-1], out=out)
    out += coefficients[-2]
    for c in coefficients[-3::-1]:
        out *= t
        out += c
    return out


def _erf_taylor(x):
    """erf(x) by its Taylor series (accurate for |x| < _TAYLOR_BELOW)."""
    n = _TAYLOR_TERMS[x.dtype]
    coefficients = [(-1) ** k / (math.factorial(k) * (2 * k + 1)) for k in range(n)]
    s = _horner(coefficients, x * x)
    s *= x
    s *= _TWO_OVER_SQRT_PI
    return s


def erfc_nonnegative(b, exp_minus_a2, scale=1.0, b_scale=1.0, out=None, scratch=None):
    """scale * erfc(a), a = b_scale * b >= 0, given exp(-a^2) (callers need it anyway: it is the normal pdf);
    float32: within ~1e-7 relative while erfc(a) >= 0.01, ~2e-10 absolute beyond; float64: ~1e-13
    relative wherever erfc(a) is a normal number.
    The two scales are folded into constants, saving a pass each over the array. float32 writes into
    `out` and uses `scratch` (arrays of b's shape) when given: fresh arrays cost page faults."""
    if b.dtype == np.float32:
        k = 1.0 / (_ERFC_P * b_scale)
        t = np.add(b, k, out=scratch)
        np.divide(k, t, out=t)                                     # t = k / (b + k) = 1 / (1 + p a): two passes
        r = _horner([scale * c for c in _ERFC_R], t, out=out)      # the scale folded into R: no extra pass
        r *= t
        r *= exp_minus_a2
        return r
    a = b * b_scale
    small = a < _TAYLOR_BELOW[a.dtype]
    k = a.copy()                                               # the continued fraction K, bottom up
    with np.errstate(divide="ignore", invalid="ignore"):       # a = 0 rows are taken from the Taylor side
        for level in range(_CF_LEVELS, 0, -1):
            k = a + (level / 2) / k
        from_fraction = exp_minus_a2 * (scale * _INV_SQRT_PI) / k
    return np.where(small, scale * (1.0 - _erf_taylor(np.where(small, a, 0.0))), from_fraction)


def _as_computed(x):
    """float32 and float64 are computed in place; other dtypes (float16, ints) via float32."""
    x = np.asarray(x)
    return x if x.dtype in (np.float32, np.float64) else x.astype(np.float32)


def erf(x):
    """erf(x) elementwise, vectorised: float32 within 2e-7 relative, float64 within 1e-15 absolute of
    math.erf. Returns x's dtype for float32/float64, float32 otherwise."""
    x = _as_computed(x)
    a = np.abs(x)
    tail = 1.0 - erfc_nonnegative(a, np.exp(-(a * a)))
    near_zero = a < _TAYLOR_BELOW[x.dtype]
    return np.where(near_zero, _erf_taylor(np.where(near_zero, x, 0)), np.copysign(tail, x))


def normal_tail(x, abs_x, out=None, exp_out=None, scratch=None):
    """(Phi(-|x|), exp(-x^2/2)) elementwise in x's dtype, given |x|: the lower tail of the standard normal,
    erfc(|x|/sqrt 2) / 2, without the cancellation of 1 - Phi(|x|) (float32: relative accuracy down to
    Phi = 0.005, absolute below; float64: relative throughout), and the pdf's exponential (the
    erfc formula needs it anyway, so callers get the pdf for one multiply). Optional buffers as above."""
    e = np.multiply(x, x, out=exp_out)
    e *= -0.5
    np.exp(e, out=e)                                           # exp(-x^2 / 2) = exp(-a^2), a = |x|/sqrt 2
    return erfc_nonnegative(abs_x, e, 0.5, _INV_SQRT_2, out, scratch), e


def cdf_from_tail(tail, x, out=None, mask=None):
    """Phi(x) = Phi(-|x|) + [x >= 0] (1 - 2 Phi(-|x|)): never 1 - (something near 1), so no cancellation."""
    cdf = np.multiply(tail, -2.0, out=out)
    cdf += 1.0
    cdf *= np.greater_equal(x, 0, out=mask)                    # (cheaper than np.where: docs/PERFORMANCE.md)
    cdf += tail
    return cdf


def normal_cdf_and_pdf(x):
    """(Phi(x), phi(x)) of the standard normal, elementwise, in x's dtype; phi = exp(-x^2/2) / sqrt(2 pi)."""
    x = _as_computed(x)
    tail, e = normal_tail(x, np.abs(x))
    e *= _INV_SQRT_2PI
    return cdf_from_tail(tail, x), e


def normal_cdf_tanh_form(x, x_squared, out=None):
    """Phi(x) = (1 + tanh(x P(x^2))) / 2, float32 (within 1e-7 absolute), given x^2; writes into `out`.
    Huge |x| overflows P to inf, and tanh(+-inf) = +-1 is the right limit."""
    with np.errstate(over="ignore"):
        p = _horner(_PHI_TANH_P, x_squared, out=out)             # (N, C): 12 passes
        p *= x
    np.tanh(p, out=p)
    p *= 0.5
    p += 0.5
    return p
