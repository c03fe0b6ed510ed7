"""benchmarks/paper_study.py runs a fraction of the paper's study and prints its ratios (no time is asserted)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import checkout_env

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "paper_study.py"


@pytest.mark.slow
def test_paper_study_benchmark_prints_the_study_against_a_head_fit():
    done = subprocess.run([sys.executable, str(SCRIPT), "--synthetic", "160", "--strategies", "random,upper_bound"],
                          capture_output=True, text=True, timeout=900, env=checkout_env())
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert (result["jobs"], result["fraction_of_study"]) == (2, 2 / 80)
    # the pool of fold 0 (k = 10 of 160: 128 images) in rounds of 32: 4 rounds of random sampling
    assert result["rounds"] == 4 and result["head_fit_images"] == 64
    assert result["round_over_head_fit"] == pytest.approx(result["round_s_mean"] / result["head_fit_s"], rel=0.02)
    assert result["study_estimate_s"] == pytest.approx(result["study_wall_s"] * 40, abs=1)
    assert "study_wall_s" in done.stdout.splitlines()[2]
