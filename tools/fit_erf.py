"""Dev-only: fit the float32 polynomials behind transformer_np.layers.erf (needs mpmath).

1. erf / erfc (the public `erf`):

    erfc(a) = t * exp(-a^2) * R(t),   t = 1 / (1 + p a),   a >= 0,   R a polynomial of degree 6

(the form of Abramowitz & Stegun 7.1.26, refitted). The error minimised is relative to max(erfc(a), 0.01):
relative where erfc >= 0.01 (a <= 1.8: the normal CDF's tail down to Phi = 0.005 keeps its digits) and
absolute, at most 2e-10, beyond (where erf = 1 - erfc only needs that). Degree 8 with purely relative error
reaches 2e-8 too, at two more passes over the array. R is fitted by weighted least squares on Chebyshev
nodes of t over a in [0, 9.5] (beyond, exp(-a^2) underflows float32), with Lawson re-weighting towards the
minimax solution; mpmath gives the reference values at 40 digits.

2. The normal CDF of float32 exact GELU (y = x Phi(x), which needs Phi to ~1e-7 absolute, not relative):

    Phi(x) = (1 + tanh(x * P(x^2))) / 2,   P a polynomial of degree 6

P(u) is atanh(erf(x / sqrt 2)) / x: smooth and even, so a polynomial in u = x^2 fits it. tanh is one
vectorised NumPy pass and needs no division, so this takes 16 passes where the erfc form takes ~22. The
error minimised is Phi's absolute error, over x in (0, 6] (beyond, tanh is 1 in float32: P only has to stay
positive, which the fit checks up to x = 14).

    .dev/bin/python tools/fit_erf.py        # prints both sets of coefficients and their max errors
"""
import mpmath
import numpy as np

P, DEGREE, A_MAX, FLOOR, NODES, ITERATIONS = 0.45, 6, 9.5, 1e-2, 2000, 60
GELU_DEGREE, GELU_X_MAX = 6, 6.0


def fit(p=P, degree=DEGREE, a_max=A_MAX):
    mpmath.mp.dps = 40
    t_min = 1.0 / (1.0 + p * a_max)
    k = np.arange(NODES)
    t = t_min + (1.0 - t_min) * (0.5 - 0.5 * np.cos(np.pi * (k + 0.5) / NODES))
    a = (1.0 / t - 1.0) / p
    erfc = np.array([float(mpmath.erfc(mpmath.mpf(ai))) for ai in a])
    target = erfc / (t * np.exp(-a * a))                 # R(t) exactly
    scale = t * np.exp(-a * a) / np.maximum(erfc, FLOOR)  # error of erfc / max(erfc, FLOOR) per unit error of R
    basis = np.vander(t, degree + 1, increasing=True)
    weights = np.ones(NODES)
    for _ in range(ITERATIONS):
        coef = np.linalg.lstsq(basis * (weights * scale)[:, None], weights * scale * target, rcond=None)[0]
        err = np.abs(scale * (basis @ coef - target))
        weights *= np.sqrt(err / err.max() + 1e-4)
    return coef, err.max()


def fit_gelu_cdf(degree=GELU_DEGREE, x_max=GELU_X_MAX):
    """P with Phi(x) = (1 + tanh(x P(x^2))) / 2; returns (coefficients of u^0.., max |error of Phi|)."""
    mpmath.mp.dps = 40
    x = np.linspace(1e-3, x_max, NODES * 5)
    erf = [mpmath.erf(mpmath.mpf(v) / mpmath.sqrt(2)) for v in x]
    tanh_target = np.array([float(e) for e in erf])
    target = np.array([float(mpmath.atanh(e) / mpmath.mpf(v)) for e, v in zip(erf, x)])   # P(x^2) exactly
    scale = 0.5 * (1.0 - tanh_target ** 2) * x            # error of Phi per unit error of P
    basis = np.vander(x * x, degree + 1, increasing=True)
    weights = np.ones(len(x))
    for _ in range(ITERATIONS * 2):
        coef = np.linalg.lstsq(basis * (weights * scale)[:, None], weights * scale * target, rcond=None)[0]
        err = np.abs(0.5 * (np.tanh(x * (basis @ coef)) - tanh_target))
        weights *= np.sqrt(err / err.max() + 1e-3)
        weights /= weights.max()
    u = np.linspace(0.0, 14.0 ** 2, 10001)
    assert np.polyval(coef[::-1], u).min() > 0, "P must stay positive beyond the fitted range"
    return coef, err.max()


if __name__ == "__main__":
    coef, err = fit()
    print(f"1. erfc: p = {P}; max error of erfc relative to max(erfc, {FLOOR}), float64 arithmetic: {err:.2e}")
    print("coefficients of t^0 .. t^%d:" % DEGREE)
    print("(" + ", ".join(f"{c:.12e}" for c in coef) + ")")
    coef, err = fit_gelu_cdf()
    print(f"2. GELU's Phi: max |error| over (0, {GELU_X_MAX}], float64 arithmetic: {err:.2e}")
    print("coefficients of u^0 .. u^%d:" % GELU_DEGREE)
    print("(" + ", ".join(f"{c:.12e}" for c in coef) + ")")
