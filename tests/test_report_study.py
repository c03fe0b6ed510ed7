"""The report's parts for the paper's study (alflow.report.tables: table1_paired, knee, stop_at_recall) on
hand-made runs: every expected number worked out by hand below."""
from __future__ import annotations

import math

import pytest

from alflow.records import RUN_KIND_ACTIVE
from alflow.report.runs import RunData
from alflow.report.stats import share
from alflow.report.tables import (
    TABLES, knee_table, knee_values, labels_to_recall, stop_at_recall_table, table1_paired,
)
from alflow.report.write import to_markdown, write_table

Z = 1.959963985  # the normal 97.5 % quantile
KEYS = [("0", "0"), ("0", "1"), ("1", "0"), ("1", "1")]  # (fold, seed): 2 folds x 2 seeds
POOL = 100


def run(strategy, fold, seed, metrics=None, test=None, left=None):
    curves = {"test/auroc": list(test or []), "pool/defects_left": list(left or [])}
    return RunData(run_id=f"{strategy}-{fold}-{seed}", experiment_id="1", dataset="d", strategy=strategy,
                   fold=fold, seed=seed, kind=RUN_KIND_ACTIVE, pool_size=POOL, metrics=dict(metrics or {}),
                   curves=curves)


def cell(rows, **match):
    found = [r for r in rows if all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, match
    return found[0]


def wilson(k, n):
    """Wilson's score interval by its textbook formula."""
    centre = (k + Z ** 2 / 2) / (n + Z ** 2)
    half = Z / (n + Z ** 2) * math.sqrt(k * (n - k) / n + Z ** 2 / 4)
    return centre - half, centre + half


def test_share_is_wilsons_interval_between_the_ends():
    for k, n in ((3, 4), (1, 6), (19, 20)):
        s = share([True] * k + [False] * (n - k))
        low, high = wilson(k, n)
        assert s["mean"] == k / n and s["ci95_low"] == pytest.approx(low, abs=1e-9)
        assert s["ci95_high"] == pytest.approx(high, abs=1e-9)


# --------------------------------------------------------------------------- Table 1 against random


def test_table1_paired_against_random_by_fold_and_seed():
    inc = {"gradcam_avg": [0.8, 0.9, 0.7, 0.85], "random": [0.7, 0.85, 0.6, 0.8]}
    bat = {"gradcam_avg": [0.8, 0.8, 0.8, 0.8], "random": [0.8, 0.9, 0.7, 0.8]}
    runs = [run(s, f, sd, {"cutoff/best/test_auroc": i, "batch/test_auroc": b})
            for s in inc for (f, sd), i, b in zip(KEYS, inc[s], bat[s])]
    rows = table1_paired(runs)
    assert {(r["strategy"], r["learning"]) for r in rows} == {("gradcam_avg", "incremental"), ("gradcam_avg", "batch")}
    incremental = cell(rows, learning="incremental")
    # differences .1, .05, .1, .05: mean .075, all positive -> exact Wilcoxon p = 2 / 2^4
    assert incremental["mean_diff"] == pytest.approx(0.075) and incremental["n_pairs"] == 4
    assert incremental["wilcoxon_p"] == pytest.approx(0.125)
    # paired t: std of the differences .025 sqrt(4/3), t = .075 / (std / 2) = 3 sqrt(3) on 3 degrees of freedom
    from scipy.stats import t as student
    assert incremental["paired_t_p"] == pytest.approx(2 * student.sf(3 * math.sqrt(3), 3))  # 0.0138
    # batch: differences 0, -.1, +.1, 0 -> mean 0; t = 0 -> p = 1
    batch = cell(rows, learning="batch")
    assert batch["mean_diff"] == pytest.approx(0.0, abs=1e-12) and batch["paired_t_p"] == pytest.approx(1.0)
    md = to_markdown("table1_paired", rows).splitlines()
    assert md[2] == "| d | incremental | gradcam_avg | +0.0750 | 4 | 0.014 | 0.125 |"


# --------------------------------------------------------------------------- best round against the knee


def knee_run(strategy, key, best, knee, found, best_test, knee_test, until_test):
    return run(strategy, *key, {"cutoff/best/n_labeled": best, "cutoff/knee/n_labeled": knee,
                                "cutoff/knee/found": found, "cutoff/best/test_auroc": best_test,
                                "cutoff/knee/test_auroc": knee_test, "cutoff/best_until_knee/test_auroc": until_test})


def knee_runs():
    gc = [(30, 40, 1.0, 0.90, 0.85, 0.88), (50, 40, 1.0, 0.80, 0.85, 0.80), (20, 40, 1.0, 0.85, 0.80, 0.85),
          (40, 40, 0.0, 0.70, 0.60, 0.70)]  # the last run found no knee: left out
    rnd = [(60, 40, 1.0, 0.9, 0.8, 0.85), (60, 40, 1.0, 0.9, 0.8, 0.85), (60, 40, 1.0, 0.9, 0.8, 0.85),
           (60, 40, 1.0, 0.9, 0.8, 0.85)]
    return ([knee_run("gradcam_avg", k, *v) for k, v in zip(KEYS, gc)]
            + [knee_run("random", k, *v) for k, v in zip(KEYS, rnd)])


def test_knee_values_of_one_run():
    v = knee_values(knee_runs()[0])
    assert v == pytest.approx({"best_before_knee": 1.0, "labels_best_minus_knee": -10.0,
                               "auroc_best_minus_knee": 0.05, "auroc_best_minus_best_until_knee": 0.02})
    assert all(math.isnan(x) for x in knee_values(knee_runs()[3]).values())  # no knee found
    assert knee_values(knee_runs()[5])["best_before_knee"] == 0.0  # best at 60, knee at 40: after it


def test_knee_table_by_hand():
    rows = knee_table(knee_runs())
    g = dict(strategy="gradcam_avg")
    before = cell(rows, measure="best_before_knee", **g)
    low, high = wilson(2, 3)  # 30 < 40 and 20 < 40 are before the knee, 50 is after; the 4th run has no knee
    assert before["mean"] == pytest.approx(2 / 3) and before["n"] == 3
    assert before["ci95_low"] == pytest.approx(low, abs=1e-9) and before["ci95_high"] == pytest.approx(high, abs=1e-9)
    labels = cell(rows, measure="labels_best_minus_knee", **g)  # -10, +10, -20
    assert labels["mean"] == pytest.approx(-20 / 3) and labels["std"] == pytest.approx(math.sqrt(700 / 3))
    assert labels["ci95_low"] < -20 / 3 - 10  # a difference: its interval is not clipped at 0
    assert cell(rows, measure="auroc_best_minus_knee", **g)["mean"] == pytest.approx(0.05 / 3)  # .05, -.05, .05
    assert cell(rows, measure="auroc_best_minus_best_until_knee", **g)["mean"] == pytest.approx(0.02 / 3)
    # paired with random's -> +20 labels, over the 3 runs with a knee: differences -30, -10, -40
    assert labels["n_pairs"] == 3 and labels["mean_diff"] == pytest.approx(-80 / 3)
    assert cell(rows, measure="best_before_knee", strategy="random")["mean"] == 0.0
    md = to_markdown("knee", rows).splitlines()
    assert md[0] == ("| dataset | strategy | best round before the knee | labels: best - knee | "
                     "test AUROC: best - knee | test AUROC: best - best until knee |")
    lo, hi = wilson(0, 4)
    assert md[2].startswith(f"| d | gradcam_avg | 2/3 [{low:.2f}, {high:.2f}] | -7 ± 15 (p ")  # labels: whole numbers
    assert md[3].startswith(f"| d | random | 0/4 [{lo:.2f}, {hi:.2f}] | 20 ± 0 |")  # >= 10: whole labels


# --------------------------------------------------------------------------- the stop at 95 % defect recall


def left_curve(stop):
    """Defects left (10 in the pool) reaching 0 at ``stop`` images labeled: recall .5, .9, then 1."""
    return [(10, 5.0), (stop - 10, 1.0), (stop, 0.0), (POOL, 0.0)]


def test_labels_to_recall_is_the_first_round_at_the_target():
    r = run("random", "0", "0", {"pool/defects_total": 10.0}, test=[(10, 0.6), (30, 0.7), (40, 0.75)],
            left=left_curve(40))
    assert labels_to_recall(r) == (40.0, 0.75)  # at 30 images recall is 0.9 < 0.95
    assert labels_to_recall(r, 0.9) == (30.0, 0.7)
    exact = run("random", "0", "0", {"data/pool/defects": 20.0}, left=[(10, 1.0)])  # recall 1 - 1/20 = 0.95
    assert labels_to_recall(exact)[0] == 10.0  # reaching the target exactly counts; data/pool/defects as total
    assert math.isnan(labels_to_recall(run("random", "0", "0", left=[(10, 0.0)]))[0])  # no defect count


def stop(name, spent, recall):
    return {f"stop/{name}/n_labeled": spent, f"stop/{name}/labels_spent": spent, f"stop/{name}/recall": recall,
            f"stop/{name}/stopped": 1.0, f"stop/{name}/test_auroc": 0.8}


def recall_runs():
    runs = []
    oracle = {"gradcam_avg": [50, 60, 40, 70], "random": [90, 90, 100, 100]}
    for i, key in enumerate(KEYS):
        gc = {"pool/defects_total": 10.0, "cutoff/best/test_auroc": 0.85,
              **stop("verification", [60, 70, 50, 80][i], [0.96, 0.97, 0.99, 1.0][i]),  # reliable, 65 labels
              **stop("knee", 40, [0.96, 0.5, 0.96, 0.96][i]),                           # fewer labels, misses once
              **stop("plateau", 90, 1.0),                                                # reliable, 90 labels
              **stop("stabilizing", 100, 1.0)}                      # never fired: reliable, but saves nothing
        rnd = {"pool/defects_total": 10.0, **stop("verification", 80, [0.96, 0.9, 0.99, 0.99][i]),
               **stop("stabilizing", 100, 1.0)}
        runs.append(run("gradcam_avg", *key, gc, left=left_curve(oracle["gradcam_avg"][i])))
        runs.append(run("random", *key, rnd, left=left_curve(oracle["random"][i])))
    return runs


def test_stop_at_recall_by_hand():
    rows = stop_at_recall_table(recall_runs())
    g = cell(rows, strategy="gradcam_avg")
    # the oracle's stops: 50, 60, 40, 70 -> mean 55, std sqrt(500/3); saved 100 - 55
    assert g["oracle_labels_mean"] == 55 and g["oracle_labels_std"] == pytest.approx(math.sqrt(500 / 3))
    assert g["oracle_labels_saved"] == 45 and g["runs"] == 4
    # verification (65 labels) and plateau (90) reach 95 % in all 4 runs; the knee misses once
    # (stabilizing reaches it too, by labeling the whole pool: reliable, but it saves no label)
    assert (g["rule"], g["reliable_rules"], g["reliable_rules_saving"]) == ("verification", 3, 2)
    assert g["rule_labels_spent_mean"] == 65 and g["rule_labels_spent_std"] == pytest.approx(math.sqrt(500 / 3))
    assert g["rule_labels_saved_mean"] == 35 and g["rule_extra_vs_oracle"] == 10  # 60-50, 70-60, 50-40, 80-70
    assert g["rule_runs_low"] == pytest.approx(4 / (4 + Z ** 2)) and g["rule_runs_high"] == pytest.approx(1.0)
    r = cell(rows, strategy="random")
    assert (r["rule"], r["reliable_rules"], r["reliable_rules_saving"], r["oracle_labels_mean"]) == ("none", 1, 0, 95)
    assert math.isnan(r["rule_labels_spent_mean"])
    md = to_markdown("stop_at_recall", rows).splitlines()
    assert md[0].startswith("| dataset | strategy | runs | labels to 95% recall (oracle) |")
    assert md[2] == ("| d | gradcam_avg | 4 | 55 ± 13 | 45 | verification | 65 ± 13 | 35 | 10 | 4/4 [0.51, 1.00] "
                     "| 3 (2) |")
    assert md[3] == "| d | random | 4 | 95 ± 6 | 5 | none | – | – | – | – | 1 (0) |"


def test_table2_interval_is_one_of_counts():
    from alflow.report.tables import table2

    runs = [run("random", f, sd, {"cutoff/best/n_labeled": v})
            for (f, sd), v in zip(KEYS, [100.0, 200.0, 300.0, 400.0])]
    best = cell(table2(runs), cutoff="best")
    half = 3.182446305 * math.sqrt(50000 / 3) / 2  # t(0.975, 3) x std / sqrt(4)
    assert best["mean"] == 250 and best["ci95_low"] == pytest.approx(250 - half, abs=1e-4)
    assert best["ci95_high"] == pytest.approx(250 + half, abs=1e-4)  # not clipped to 1 as an AUROC's would be


def test_new_tables_are_in_the_report_and_written(tmp_path):
    runs = recall_runs() + knee_runs()
    for name in ("table1_paired", "knee", "stop_at_recall"):
        assert name in TABLES
        paths = write_table(name, TABLES[name](runs), tmp_path)
        text = paths[1].read_text()
        assert text.startswith("**") and "| dataset |" in text, name


def test_grid_figure_has_a_column_per_strategy(tmp_path):
    import matplotlib.image

    from alflow.records import RUN_KIND_FULL_POOL
    from alflow.report.figures import figures

    runs = [run(s, f, sd, {"cutoff/best/n_labeled": 20.0, "cutoff/knee/n_labeled": 30.0, "cutoff/knee/found": 1.0},
                test=[(10, 0.6), (20, 0.8), (30, 0.75)], left=[(10, 8.0), (20, 5.0), (30, 1.0)])
            for s in ("random", "gradcam_avg", "uncertainty") for f, sd in KEYS]
    runs.append(RunData(run_id="ub", experiment_id="1", dataset="d", strategy="upper_bound", fold="0", seed="0",
                        kind=RUN_KIND_FULL_POOL, pool_size=POOL, metrics={}, curves={"test/auroc": [(100, 0.9)]}))
    paths = figures(runs, tmp_path)
    assert [p.name for p in paths] == ["figure_d.png", "figure_d_grid.png"]
    height, width = matplotlib.image.imread(paths[1]).shape[:2]
    assert (height, width) == (512, 1008)  # 6.4 in high, 4.2 in a strategy: 3 columns, at 80 dpi
