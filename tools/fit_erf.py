"""Dev-only: fit the float32 erfc polynomial used by transformer_np.layers.activations (needs mpmath).

    erfc(a) = t * exp(-a^2) * R(t),   t = 1 / (1 + p a),   a >= 0,   R a polynomial of degree 6

(the form of Abramowitz & Stegun 7.1.26, refitted). The error minimised is relative to max(erfc(a), 0.01):
relative where erfc >= 0.01 (a <= 1.8: the normal CDF's tail down to Phi = 0.005 keeps its digits) and
absolute, at most 2e-10, beyond (where erf = 1 - erfc only needs that). Degree 8 with purely relative error
reaches 2e-8 too, at two more passes over the array. R is fitted by weighted least squares on Chebyshev
nodes of t over a in [0, 9.5] (beyond, exp(-a^2) underflows float32), with Lawson re-weighting towards the
minimax solution; mpmath gives the reference values at 40 digits.

    .dev/bin/python tools/fit_erf.py        # prints p, the coefficients and the max rel. error
"""
import mpmath
import numpy as np

P, DEGREE, A_MAX, FLOOR, NODES, ITERATIONS = 0.45, 6, 9.5, 1e-2, 2000, 60


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


if __name__ == "__main__":
    coef, err = fit()
    print(f"p = {P}; max error of erfc relative to max(erfc, {FLOOR}), float64 arithmetic: {err:.2e}")
    print("coefficients of t^0 .. t^%d:" % DEGREE)
    print("(" + ", ".join(f"{c:.12e}" for c in coef) + ")")
