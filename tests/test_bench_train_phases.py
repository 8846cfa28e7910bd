"""bench/train_phases.py runs train_toy.py's own main() with every phase timed, beside the bare step."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_smoke_times_every_phase_of_a_train_toy_run(tmp_path):
    data = tmp_path / "text.txt"
    data.write_text("To be, or not to be, that is the question:\n" * 200, encoding="utf-8")
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "train_phases.py"), "--smoke", "--data", str(data)],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    phases = result["train_toy"]["phases_ms_per_step"]
    for name in ("forward", "backward", "optimizer", "evaluation_estimate", "evaluation_final", "checkpoint"):
        assert phases[name] > 0, name                # each ran: evaluations at steps 3 (estimate) and 6 (all)
    assert all(result["bare"]["phases_ms_per_step"][k] > 0 for k in ("forward", "backward", "optimizer"))
    assert "evaluation_final" in r.stderr            # the table
