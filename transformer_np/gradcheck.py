"""Finite-difference gradient checking: the proof that each handwritten backward is right.

For a module with output Y and a random upstream gradient dY we check the scalar L = sum(Y * dY):
its gradient w.r.t. any input or parameter is exactly what backward(dY) must return / accumulate.
(An all-ones dY would hide bugs such as a missing transpose, hence random.) Central differences,
    dL/dz ~ (L(z + eps) - L(z - eps)) / (2 eps),
have error O(eps^2), so in float64 the relative error of a correct backward is ~1e-9 or smaller.
"""
import numpy as np


def relative_error(analytic, numeric):
    """||a - n|| / max(||a||, ||n||): scale-free, and zero gradients compare as equal."""
    analytic, numeric = np.ravel(analytic), np.ravel(numeric)
    denom = max(np.linalg.norm(analytic), np.linalg.norm(numeric), 1e-30)
    return float(np.linalg.norm(analytic - numeric) / denom)


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def _objective(module, inputs, kwargs, upstream, before_forward):
    if before_forward is not None:
        before_forward()
    outputs = _as_tuple(module.forward(*inputs, **kwargs))
    return sum(float(np.sum(o * d)) for o, d in zip(outputs, upstream))


def numeric_entries(array, indices, objective, eps):
    """Central differences (f(x + eps) - f(x - eps)) / 2 eps of the scalar objective() at array[idx] for
    each idx in indices (each entry changed in place, then restored)."""
    grads = []
    for idx in indices:
        original = array[idx]
        array[idx] = original + eps
        plus = objective()
        array[idx] = original - eps
        minus = objective()
        array[idx] = original
        grads.append((plus - minus) / (2 * eps))
    return np.array(grads)


def gradient_check(module, inputs, kwargs=None, eps=1e-6, max_entries=40, seed=0, before_forward=None):
    """Compare `module.backward` with central differences, in float64.

    inputs: the positional inputs of forward (float arrays are checked; integer arrays such as token ids
    are not differentiable and skipped). kwargs: extra keyword arguments for forward (masks, flags).
    Checks up to `max_entries` sampled entries of every float input and every parameter.
    before_forward: called before each forward (e.g. to reseed dropout so every pass uses one mask).
    Returns {"input0": err, ..., "<param name>": err}: the relative error of each tensor.
    """
    kwargs = kwargs or {}
    rng = np.random.default_rng(seed)
    inputs = [np.array(x, copy=True) for x in inputs]
    for x in inputs:
        if np.issubdtype(x.dtype, np.floating) and x.dtype != np.float64:
            raise TypeError("gradient checks run in float64; build the module and inputs with dtype=np.float64")

    if before_forward is not None:
        before_forward()
    outputs = _as_tuple(module.forward(*inputs, **kwargs))
    upstream = tuple(rng.standard_normal(o.shape) for o in outputs)
    module.zero_grad()
    input_grads = _as_tuple(module.backward(upstream if len(upstream) > 1 else upstream[0]))
    param_grads = {name: p.grad.copy() for name, p in module.named_parameters()}

    def objective():
        return _objective(module, inputs, kwargs, upstream, before_forward)

    def sample(shape):
        flat = rng.choice(int(np.prod(shape)), size=min(max_entries, int(np.prod(shape))), replace=False)
        return [np.unravel_index(i, shape) for i in flat]

    errors = {}
    for i, x in enumerate(inputs):
        if not np.issubdtype(x.dtype, np.floating):
            continue
        idx = sample(x.shape)
        analytic = np.array([input_grads[i][j] for j in idx])
        errors[f"input{i}"] = relative_error(analytic, numeric_entries(x, idx, objective, eps))
    for name, p in module.named_parameters():
        idx = sample(p.data.shape)
        analytic = np.array([param_grads[name][j] for j in idx])
        errors[name] = relative_error(analytic, numeric_entries(p.data, idx, objective, eps))
    return errors
