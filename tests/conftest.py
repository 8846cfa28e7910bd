"""Shared test helper: run the finite-difference gradient check and hold every tensor to the tolerance."""
import pytest
from hypothesis import settings

# The same examples on every run and machine: a CI failure reproduces here, and no run is a lottery.
settings.register_profile("deterministic", derandomize=True)
settings.load_profile("deterministic")

from transformer_np.gradcheck import gradient_check

GRAD_TOL = 1e-6   # relative error, float64 central differences


@pytest.fixture(scope="session")   # stateless, so hypothesis may reuse it across examples
def assert_gradients():
    """assert_gradients(module, inputs, expect=(names...), **gradient_check kwargs) -> errors dict.

    Fails if any checked tensor's relative error exceeds GRAD_TOL, or if a tensor named in `expect`
    (e.g. "input0", "weight") was not checked at all (a silently skipped tensor proves nothing)."""
    def check(module, inputs, expect=(), **kwargs):
        errors = gradient_check(module, inputs, **kwargs)
        missing = [name for name in expect if name not in errors]
        assert not missing, f"not checked: {missing}; checked: {sorted(errors)}"
        bad = {name: err for name, err in errors.items() if not err <= GRAD_TOL}
        assert not bad, f"relative error above {GRAD_TOL}: {bad}"
        return errors
    return check
