"""The report's tables on small synthetic runs: every number worked out by hand in the test."""
from __future__ import annotations

import math

import pytest

from alflow.records import COMPARED_CRITERIA, RUN_KIND_ACTIVE, RUN_KIND_FULL_POOL
from alflow.report.runs import RunData
from alflow.report.stats import describe, paired, share
from alflow.report.tables import TABLES, compare_table, reliable_stops, stopping_table, strategy_table
from alflow.report.write import _mean_std

T_975_3 = 3.182446305  # Student's t, 97.5 % quantile, 3 degrees of freedom (any t table)
Z_975 = 1.959963985  # the normal 97.5 % quantile
KEYS = [("0", "0"), ("0", "1"), ("1", "0"), ("1", "1")]  # (fold, seed): 2 folds x 2 seeds
POOL = 100


def run(strategy, fold, seed, metrics=None, curve=None, kind=RUN_KIND_ACTIVE, dataset="d"):
    return RunData(run_id=f"{strategy}-{fold}-{seed}", experiment_id="1", dataset=dataset, strategy=strategy,
                   fold=fold, seed=seed, kind=kind, pool_size=POOL, metrics=dict(metrics or {}),
                   curves={"test/auroc": list(curve or [])})


# --------------------------------------------------------------------------- stats


def test_describe_is_mean_std_and_a_t_interval():
    d = describe([1.0, 2.0, 3.0, 4.0, float("nan")])
    std = math.sqrt(((1.5 ** 2) * 2 + (0.5 ** 2) * 2) / 3)  # sqrt(5/3)
    assert (d["mean"], d["n"]) == (2.5, 4) and d["std"] == pytest.approx(std)
    assert d["ci95_low"] == pytest.approx(2.5 - T_975_3 * std / 2, abs=1e-6)
    assert d["ci95_high"] == pytest.approx(2.5 + T_975_3 * std / 2, abs=1e-6)
    one = describe([0.7])
    assert one["n"] == 1 and math.isnan(one["std"]) and math.isnan(one["ci95_low"])
    assert describe([])["n"] == 0


def test_describe_clips_the_interval_to_the_quantitys_range():
    # two AUROCs, 0.5 and 0.9: t_{0.975, 1} = 12.706 stretches the interval to [-1.84, 3.24]
    wide = describe([0.5, 0.9])
    assert wide["ci95_low"] < 0 and wide["ci95_high"] > 1
    clipped = describe([0.5, 0.9], (0.0, 1.0))
    assert (clipped["ci95_low"], clipped["ci95_high"]) == (0.0, 1.0) and clipped["mean"] == pytest.approx(0.7)
    inside = describe([1.0, 2.0, 3.0, 4.0], (0.0, math.inf))  # an interval inside the range stays as it is
    low = 2.5 - T_975_3 * math.sqrt(5 / 3) / 2  # 0.446: inside [0, inf)
    assert inside["ci95_low"] == pytest.approx(low, abs=1e-6) and low > 0


def test_table_intervals_stay_within_auroc_and_count_ranges():
    runs = [run("random", "0", "0", {"cutoff/best/test_auroc": 0.5}),
            run("random", "1", "0", {"cutoff/best/test_auroc": 0.95})]
    row = next(r for r in TABLES["table1"](runs) if r["learning"] == "incremental")
    assert row["n"] == 2 and 0.0 <= row["ci95_low"] and row["ci95_high"] <= 1.0


def test_share_has_wilsons_interval():
    s = share([True] * 6)
    # Wilson: centre (k + z^2/2) / (n + z^2), half z / (n + z^2) * sqrt(k (n - k) / n + z^2 / 4)
    centre = (6 + Z_975 ** 2 / 2) / (6 + Z_975 ** 2)
    half = Z_975 / (6 + Z_975 ** 2) * math.sqrt(0 + Z_975 ** 2 / 4)
    assert s["mean"] == 1.0 and s["n"] == 6
    assert s["ci95_low"] == pytest.approx(centre - half, abs=1e-6) and s["ci95_high"] == pytest.approx(1.0)
    assert share([True, None, False])["mean"] == 0.5 and share([None])["n"] == 0


def test_paired_tests_over_the_common_folds_and_seeds():
    values = {k: v for k, v in zip(KEYS, [0.9, 0.8, 0.7, 0.95])}
    base = {k: v for k, v in zip(KEYS, [0.8, 0.75, 0.5, 0.65])}  # differences .1, .05, .2, .3
    base[("2", "0")] = 0.1  # no partner: not a pair
    out = paired(values, base)
    assert out["n_pairs"] == 4 and out["mean_diff"] == pytest.approx(0.1625)
    assert out["wilcoxon_p"] == pytest.approx(2 / 2 ** 4)  # all 4 differences positive: exact p = 2 / 16
    d = [0.1, 0.05, 0.2, 0.3]
    sd = math.sqrt(sum((x - 0.1625) ** 2 for x in d) / 3)
    t_stat = 0.1625 / (sd / 2)
    from scipy.stats import t as student
    assert out["paired_t_p"] == pytest.approx(2 * student.sf(t_stat, 3))
    flat = paired({k: 1.0 for k in KEYS}, {k: 1.0 for k in KEYS})
    assert math.isnan(flat["wilcoxon_p"]) and math.isnan(flat["paired_t_p"])


# --------------------------------------------------------------------------- stopping table


def stop_metrics(n_labeled, spent, recall, test, best, stopped=1.0, name="verification"):
    return {f"stop/{name}/n_labeled": n_labeled, f"stop/{name}/labels_spent": spent, f"stop/{name}/recall": recall,
            f"stop/{name}/test_auroc": test, f"stop/{name}/stopped": stopped, "cutoff/best/test_auroc": best}


def stopping_runs():
    gc = [stop_metrics(40, 60, 0.96, 0.80, 0.85), stop_metrics(50, 70, 0.94, 0.82, 0.84),
          stop_metrics(30, 50, 0.97, 0.78, 0.80), stop_metrics(60, 80, 1.00, 0.90, 0.90)]
    rnd = [stop_metrics(80, 100, 0.95, 0.80, 0.82), stop_metrics(90, 100, 0.99, 0.81, 0.81),
           stop_metrics(70, 90, 0.90, 0.70, 0.75), stop_metrics(100, 100, 1.00, 0.85, 0.88, stopped=0.0)]
    return ([run("gradcam_avg", f, s, m) for (f, s), m in zip(KEYS, gc)]
            + [run("random", f, s, m) for (f, s), m in zip(KEYS, rnd)])


def cell(rows, **match):
    found = [r for r in rows if all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, match
    return found[0]


def test_stopping_table_per_criterion_by_hand():
    rows = stopping_table(stopping_runs())
    assert {r["criterion"] for r in rows} == set(COMPARED_CRITERIA)
    v = dict(strategy="gradcam_avg", criterion="verification")
    spent = cell(rows, measure="labels_spent", **v)
    assert spent["mean"] == 65 and spent["n"] == 4 and spent["std"] == pytest.approx(math.sqrt(500 / 3))
    assert cell(rows, measure="n_labeled", **v)["mean"] == 45
    assert cell(rows, measure="labels_saved", **v)["mean"] == 100 - 65
    assert cell(rows, measure="pool_saved", **v)["mean"] == pytest.approx(0.35)
    assert cell(rows, measure="defect_recall", **v)["mean"] == pytest.approx((0.96 + 0.94 + 0.97 + 1.0) / 4)
    # AUROC lost: .05, .02, .02, 0
    assert cell(rows, measure="auroc_loss_vs_best", **v)["mean"] == pytest.approx(0.0225)
    # 3 of 4 runs reach recall 0.95 (0.94 does not)
    reliability = cell(rows, measure="reliability", **v)
    assert reliability["mean"] == 0.75 and reliability["n"] == 4 and reliability["ci95_high"] < 1
    # paired against random's verification stop: spent differences -40, -30, -40, -20
    assert spent["n_pairs"] == 4 and spent["mean_diff"] == pytest.approx(-32.5)
    assert spent["wilcoxon_p"] == pytest.approx(2 / 16)
    rnd = cell(rows, strategy="random", criterion="verification", measure="share_of_runs_stopped")
    assert rnd["mean"] == 0.75 and rnd["n_pairs"] == 0
    # a criterion the runs never logged: nothing measured, n = 0
    assert cell(rows, measure="labels_spent", strategy="gradcam_avg", criterion="knee")["n"] == 0


def test_reliable_stops_fewest_labels_first():
    runs = stopping_runs()
    for r, recall in zip(runs, [0.96, 0.97, 0.99, 1.0, 0.5, 0.99, 0.99, 1.0]):  # knee: reliable on gradcam only
        r.metrics.update({"stop/knee/labels_spent": 90.0, "stop/knee/n_labeled": 90.0, "stop/knee/recall": recall})
    rows = stopping_table(runs)
    found = reliable_stops(rows)
    # gradcam_avg: verification misses 0.95 once (0.94); knee reaches it in all 4 runs
    assert [(r["strategy"], r["criterion"], r["labels_spent"]) for r in found] == [("gradcam_avg", "knee", 90.0)]
    assert reliable_stops(stopping_table(runs, recall_target=0.9)) == [
        {"dataset": "d", "strategy": "gradcam_avg", "criterion": "verification", "labels_spent": 65.0, "n": 4},
        {"dataset": "d", "strategy": "gradcam_avg", "criterion": "knee", "labels_spent": 90.0, "n": 4},
        {"dataset": "d", "strategy": "random", "criterion": "verification", "labels_spent": 97.5, "n": 4}]


def test_reliability_uses_the_recall_target():
    rows = stopping_table(stopping_runs(), recall_target=0.9)
    assert cell(rows, measure="reliability", strategy="gradcam_avg", criterion="verification")["mean"] == 1.0


def test_old_runs_without_labels_spent_count_their_pool_labels():
    old = run("random", "0", "0", {"stop/knee/n_labeled": 40.0, "stop/knee/stopped": 1.0})
    rows = stopping_table([old])
    assert cell(rows, measure="labels_spent", criterion="knee")["mean"] == 40


# --------------------------------------------------------------------------- strategies table


def test_strategy_table_by_hand():
    curves = {  # test AUROC against images labeled
        "gradcam_avg": [[(10, 0.6), (20, 0.8), (30, 0.9)], [(10, 0.7), (20, 0.9), (30, 0.9)],
                        [(10, 0.5), (20, 0.6), (30, 0.95)], [(10, 0.6), (20, 0.7), (30, 0.8)]],
        "random": [[(10, 0.5), (20, 0.7), (30, 0.8)], [(10, 0.6), (20, 0.7), (30, 0.85)],
                   [(10, 0.5), (20, 0.5), (30, 0.9)], [(10, 0.5), (20, 0.6), (30, 0.7)]],
    }
    found = {"gradcam_avg": [(6, 12), (5, 11), (7, 13), (6, 10)], "random": [(3, 6), (2, 7), (3, 8), (2, 5)]}
    runs = [run(s, f, sd, {"pool/found_at_10": a, "pool/found_at_25": b}, c)
            for s in curves for (f, sd), c, (a, b) in zip(KEYS, curves[s], found[s])]
    # full-pool reference: fold 0 reaches 0.9 and 0.8 (mean .85 -> target .8075); fold 1: 0.96 (target .912)
    runs += [run("upper_bound", "0", "0", curve=[(100, 0.9)], kind=RUN_KIND_FULL_POOL),
             run("upper_bound", "0", "1", curve=[(100, 0.8)], kind=RUN_KIND_FULL_POOL),
             run("upper_bound", "1", "0", curve=[(100, 0.96)], kind=RUN_KIND_FULL_POOL)]
    rows = strategy_table(runs)
    g = dict(strategy="gradcam_avg")
    # AULC = trapezoids / 20: (.7 + .85) / 2 = .775, (.8 + .9) / 2 = .85, (.55 + .775) / 2 = .6625,
    # (.65 + .75) / 2 = .7
    aulc = cell(rows, measure="aulc", **g)
    assert aulc["mean"] == pytest.approx((0.775 + 0.85 + 0.6625 + 0.7) / 4)
    # random: .675, .7125, .6, .6 -> differences .1, .1375, .0625, .1
    assert aulc["mean_diff"] == pytest.approx((0.1 + 0.1375 + 0.0625 + 0.1) / 4) and aulc["n_pairs"] == 4
    # to 95 % of the fold's full-pool AUROC: fold 0 (>= .8075): 30 (.9), 20 (.9); fold 1 (>= .912): 30 (.95), never
    labels = cell(rows, measure="labels_to_95pct_full_pool_auroc", **g)
    assert labels["mean"] == pytest.approx((30 + 20 + 30) / 3) and labels["n"] == 3
    assert labels["note"] == "3 of 4 runs reach it"
    assert cell(rows, measure="defects_found_at_10pct", **g)["mean"] == 6
    assert cell(rows, measure="defects_found_at_25pct", **g)["mean"] == 11.5
    at10 = cell(rows, measure="defects_found_at_10pct", **g)
    assert at10["mean_diff"] == pytest.approx(3.5) and at10["wilcoxon_p"] == pytest.approx(2 / 16)
    # without a full-pool run the table says so
    lone = strategy_table([r for r in runs if r.kind == RUN_KIND_ACTIVE])
    row = cell(lone, measure="labels_to_95pct_full_pool_auroc", strategy="random")
    assert row["n"] == 0 and "no full_pool run" in row["note"]


def test_compare_table_pairs_by_fold_and_seed():
    curve = {"gradcam_avg": [0.8, 0.9, 0.7, 0.85], "random": [0.7, 0.85, 0.6, 0.8]}
    runs = [run(s, f, sd, curve=[(10, v), (20, v)]) for s in curve for (f, sd), v in zip(KEYS, curve[s])]
    row = cell(compare_table(runs), strategy="gradcam_avg")
    assert row["mean"] == pytest.approx(0.8125) and row["n_pairs"] == 4
    assert row["mean_diff_vs_baseline"] == pytest.approx(0.075) and row["wilcoxon_p"] == pytest.approx(0.125)
    assert row["ci95_low"] < 0.8125 < row["ci95_high"]


def test_every_table_runs_on_the_same_runs_and_cells_show_the_interval():
    runs = stopping_runs()
    for name, build in TABLES.items():
        assert isinstance(build(runs), list), name
    assert _mean_std({"mean": 0.5, "std": 0.25, "n": 2, "ci95_low": 0.1, "ci95_high": 0.9}, 2) == \
        "0.50 ± 0.25 [0.10, 0.90]"


def test_stopping_markdown_is_one_row_per_strategy_and_criterion():
    from alflow.report.write import to_markdown

    rows = stopping_table(stopping_runs())
    lines = to_markdown("stopping", rows).splitlines()
    assert lines[0].startswith("| dataset | strategy | criterion | fired | labels spent |")
    body = {tuple(c.strip() for c in line.strip("|").split("|")[:3]): line for line in lines[2:]}
    assert len(body) == 2 * len(COMPARED_CRITERIA)  # 2 strategies x each criterion, measures as columns
    gradcam = body[("d", "gradcam_avg", "verification")]
    # fired in 4 of 4 runs; 65 ± 13 labels spent, paired t against random; 3 of 4 runs reach recall 0.95
    assert "| 4/4 [" in gradcam and "| 65 ± 13 (p " in gradcam and "| 3/4 [" in gradcam
    assert "(p " not in body[("d", "random", "verification")]  # random is the baseline itself
    assert "| 3/4 [" in body[("d", "random", "verification")]  # fired in 3 of its 4 runs


def test_strategies_markdown_has_a_column_per_measure():
    from alflow.report.write import to_markdown

    curve = [(10, 0.6), (20, 0.7), (30, 0.8)]
    runs = [run(s, f, seed, {"pool/found_at_10": 5.0 + (s == "uncertainty")}, curve)
            for s in ("random", "uncertainty") for f, seed in KEYS]
    lines = to_markdown("strategies", strategy_table(runs)).splitlines()
    assert lines[0] == ("| dataset | strategy | area under the curve | labels to 95 % of full pool "
                        "| defects found at 10 % | defects found at 25 % |")
    assert lines[3] == "| d | uncertainty | 0.700 ± 0.000 | – | 6.000 ± 0.000 | – |"
