"""The benchmarks run and report what they promise (their timings are not asserted: tests never assert a time)."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import checkout_env

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _run(script, *args):
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                          timeout=600, env=checkout_env())
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_acquisition_benchmark_reports_its_ratios_and_agrees_with_the_paper():
    # A tiny pool and no peers (the grad-cam package is an optional extra); bf16 runs too.
    out = _run("acquisition.py", "--pool", "120", "--size", "64", "--repeats", "1", "--skip-peers", "--bf16")
    result = json.loads(out.strip().splitlines()[-1])
    seconds = result["seconds"]
    # each ratio is the quotient of the two methods it names (a swapped or wrong method would differ)
    for key, (num, den) in {"speedup_vs_paper": ("a_paper", "d_alflow"),
                            "overhead_vs_inference": ("d_alflow", "e_inference"),
                            "overhead_vs_plain_inference": ("d_alflow", "e_inference_plain"),
                            "bf16_speedup_vs_fp32": ("d_alflow", "d_alflow_bf16")}.items():
        assert result[key] == pytest.approx(seconds[num] / seconds[den], rel=1e-12)
        assert math.isfinite(result[key]) and result[key] > 0
    assert result["pool"] == 120 and result["size"] == 64
    assert result["same_selection_as_paper"] is True
    assert result["ssim_max_abs_diff_vs_skimage"] <= 1e-6
    assert result["score_max_abs_diff_vs_paper"] <= 1e-4
    paper, bf16 = result["paper_picks"], result["bf16_picks"]
    assert len(paper) == len(set(paper)) == 32 and len(bf16) == len(set(bf16)) == 32
    assert result["bf16_picks_shared_with_paper"] == len(set(paper) & set(bf16))
    assert result["bf16_same_selection_as_paper"] == (paper == bf16)
    assert "a_paper" in out and "e_inference" in out


def test_round_benchmark_splits_a_round_into_its_parts():
    out = _run("round.py", "--images", "300", "--labeled", "64", "--min-steps", "2", "--sizes", "32")
    result = json.loads(out.strip().splitlines()[-1])
    parts, shares = result["32"], result["32_shares"]
    assert set(parts) == {"train_incremental", "train_batch", "score_uncertainty", "score_gradcam_avg",
                          "select_gradcam_avg", "select_uncertainty", "evaluate"}
    # a GradCAM_avg round is exactly its four parts: their shares add up to the whole
    assert set(shares) == {"train_incremental", "score_gradcam_avg", "select_gradcam_avg", "evaluate"}
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-12)
    assert all(0.0 <= share <= 1.0 for share in shares.values())
    round_seconds = sum(parts[k] for k in shares)
    for name in ("train_incremental", "score_gradcam_avg"):  # the big parts: ms rounding is far below 5%
        assert shares[name] == pytest.approx(parts[name] / round_seconds, abs=0.05)


def test_learning_table_reads_the_shares_of_the_pool_from_the_store(smoke_sweep):
    # docs/results.md's learner tables: one row per strategy, the full-pool reference beside it
    out = _run("learning_table.py", "--tracking-uri", smoke_sweep.uri, "--experiments", "alflow")
    header, _, *lines = out.strip().splitlines()
    assert header.split(" | ")[3:8] == ["5 %", "10 %", "25 %", "50 %", "100 %"]
    cells = {line.split(" | ")[1]: line.strip("| ").split(" | ") for line in lines}
    assert sorted(cells) == ["gradcam_avg", "random", "uncertainty"]
    assert all(row[2] == "2" for row in cells.values())  # folds 0 and 1
    assert all("±" in row[9] for row in cells.values())  # the 2 upper-bound runs
    assert all(row[-1] == "–" for row in cells.values())  # no model.pretrained=ssl here
    # the 5 % cell: each random run's first test AUROC at >= 5 % of its pool, averaged over the folds
    from mlflow.tracking import MlflowClient
    client = MlflowClient(smoke_sweep.uri)
    runs = [r for r in client.search_runs([client.get_experiment_by_name("alflow").experiment_id])
            if r.data.tags.get("strategy") == "random"]
    firsts, thirds = [], []
    for run in runs:
        pool = int(run.data.tags["pool_size"])
        curve = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, "test/auroc"))
        firsts.append(next(v for step, v in curve if step >= 0.05 * pool))
        thirds.append(curve[2][0])
    assert len(firsts) == 2
    assert cells["random"][3].startswith(f"{sum(firsts) / 2:.3f} ± ")
    # --area-up-to ends the area's range early, so rows that ran to different ends compare
    short = _run("learning_table.py", "--tracking-uri", smoke_sweep.uri, "--experiments", "alflow",
                 "--area-up-to", str(min(thirds)))
    row = next(line for line in short.splitlines() if "| random |" in line).strip("| ").split(" | ")
    assert row[8].endswith(f"–{min(thirds)})") and row[8] != cells["random"][8]


def test_head_round_benchmark_prints_the_ratio_of_the_rounds_it_timed():
    out = _run("head_round.py", "--synthetic", "120", "--size", "64", "--labeled", "32", "--strategies", "random",
               "uncertainty")
    result = json.loads(out.strip().splitlines()[-1])
    assert result["pool"] == 96 and result["image_size"] == 64
    assert set(result) >= {"feature_pass_s", "head_round_s_random", "head_round_s_uncertainty", "all_round_s_random",
                           "last_block_round_s_random"}
    # the ratio is the fine-tuning round over the head round of the same strategy, as printed
    assert result["head_speedup_vs_all"] == pytest.approx(result["all_round_s_random"] / result["head_round_s_random"],
                                                          abs=0.051)
    assert "head_speedup_vs_all" in out.splitlines()[-2]
