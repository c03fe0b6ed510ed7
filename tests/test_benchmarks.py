"""The benchmarks run and report what they promise (their timings are not asserted: tests never assert a time)."""
import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _run(script, *args):
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_acquisition_benchmark_reports_its_ratios_and_agrees_with_the_paper():
    # A tiny pool and no peers (the grad-cam package is an optional extra); bf16 runs too.
    out = _run("acquisition.py", "--pool", "120", "--size", "64", "--repeats", "1", "--skip-peers", "--bf16")
    result = json.loads(out.strip().splitlines()[-1])
    for key in ("speedup_vs_paper", "overhead_vs_inference", "overhead_vs_plain_inference", "bf16_speedup_vs_fp32"):
        assert result[key] > 0
    assert result["pool"] == 120 and result["size"] == 64
    assert result["same_selection_as_paper"] is True
    assert result["ssim_max_abs_diff_vs_skimage"] <= 1e-6
    assert result["score_max_abs_diff_vs_paper"] <= 1e-4
    assert 0 <= result["bf16_picks_shared_with_paper"] <= 32
    if result["bf16_same_selection_as_paper"]:  # same picks in the same order
        assert result["bf16_picks_shared_with_paper"] == 32
    assert "a_paper" in out and "e_inference" in out


def test_round_benchmark_splits_a_round_into_its_parts():
    out = _run("round.py", "--images", "300", "--labeled", "64", "--min-steps", "2", "--sizes", "32")
    parts = json.loads(out.strip().splitlines()[-1])["32"]
    assert set(parts) == {"train_incremental", "train_batch", "score_uncertainty", "score_gradcam_avg",
                          "select_gradcam_avg", "select_uncertainty", "evaluate"}
    assert all(seconds >= 0 for seconds in parts.values())  # rounded to ms: a selection may show 0
    assert parts["train_incremental"] > 0 and parts["score_gradcam_avg"] > 0
