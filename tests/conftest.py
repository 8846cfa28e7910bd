"""Shared test helpers: the finite-difference gradient check held to a tolerance, and a guard that no test
reads or writes the checkout's own run directories (a learner's runs live there)."""
import os
import subprocess
from pathlib import Path

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


ROOT = Path(__file__).resolve().parents[1]
CHECKOUT_RUNS = (ROOT / "runs", ROOT / "notebooks" / "runs")


def listing(directories):
    """Every file and directory under `directories` with its size and modification time."""
    found = {}
    for top in directories:
        for folder, dirs, files in os.walk(top):
            for name in dirs + files:
                path = os.path.join(folder, name)
                try:
                    info = os.lstat(path)
                except FileNotFoundError:
                    continue
                found[path] = (info.st_size, info.st_mtime_ns)
        if top.exists():
            found[str(top)] = "exists"
    return found


@pytest.fixture(scope="session", autouse=True)
def checkout_runs_untouched():
    """Fails the session if any test created, changed or deleted something in the checkout's runs/ (tests
    write into pytest's tmp_path; runs/ is the learner's)."""
    before = listing(CHECKOUT_RUNS)
    yield
    after = listing(CHECKOUT_RUNS)
    changed = sorted(set(before) ^ set(after) | {p for p in set(before) & set(after) if before[p] != after[p]})
    assert not changed, f"tests changed the checkout's run directories: {changed[:5]}"


@pytest.fixture
def small_tmpfs(tmp_path):
    """small_tmpfs("64k") -> a directory on a tmpfs of that size under tmp_path, unmounted afterwards: a disk
    that fills up for real. Skips (saying why) where mounting is not permitted."""
    mounted = []

    def mount(size, name="tmpfs"):
        point = tmp_path / name
        point.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip() or result.returncode}")
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", str(point)], check=False)
