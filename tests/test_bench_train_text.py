"""bench/train_text.py runs: our side of the recipe always; the nanoGPT twin and the step comparison when torch
is importable (the dev venv), skipped otherwise."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n" * 40


def run_smoke(tmp_path, *flags):
    data = tmp_path / "text.txt"
    data.write_text(TEXT, encoding="utf-8")
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "train_text.py"), "--smoke", "--data", str(data), *flags],
                       capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_smoke_runs_train_toy_and_reports_its_numbers(tmp_path):
    result = run_smoke(tmp_path, "--no-torch")
    (ours,) = result["recipe"]["runs"]["ours"]
    assert ours["iterations"] == 6 and ours["heldout_examples"] > 8      # the last evaluation: all windows, not 2 x 4
    assert 0 < ours["heldout_loss"] < 10 and ours["peak_rss_mb"] > 10 and ours["ms_per_iter_median"] > 0
    assert "twin" not in result["recipe"]["median"] and "step" not in result


def test_smoke_with_the_nanogpt_twin(tmp_path):
    pytest.importorskip("torch", reason="the twins need torch (the dev venv)")
    result = run_smoke(tmp_path)
    median = result["recipe"]["median"]
    assert median["iteration_ratio_ours_over_twin"] > 0 and median["twin"]["peak_rss_mb"] > 10
    assert abs(median["twin"]["heldout_loss"] - median["ours"]["heldout_loss"]) < 1.0
    assert result["step"][0]["ratio_ours_over_twin"] > 0
