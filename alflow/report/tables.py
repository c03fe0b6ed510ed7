"""The paper's tables and the comparison tables as tidy rows, over folds x seeds per dataset x strategy.

Every summary is ``mean``, ``std``, a 95 % interval (``ci95_low``, ``ci95_high``: Student's t over the runs,
Wilson's for shares) and ``n`` (the runs measured): :mod:`alflow.report.stats`. The comparison tables
add paired tests of each strategy against ``random`` over the same (fold, seed) pairs: Wilcoxon's
signed-rank and the paired t test, with ``n_pairs``.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable

import numpy as np

from alflow.records import (
    COMPARED_CRITERIA, CUTOFF_NAMES, DEFECTS_LEFT, POOL_SHARES, RUN_KIND_ACTIVE, RUN_KIND_FULL_POOL, TEST_AUROC,
    batch_metric, cutoff_metric, pool_metric, stop_metric,
)
from alflow.report.runs import RunData
from alflow.report.stats import describe, paired, share

Row = dict[str, object]
BASELINE = "random"  # the strategy every other is tested against
RECALL_TARGET = 0.95  # a stopping rule is reliable in a run when its defect recall at the stop reaches this
FULL_POOL_SHARE = 0.95  # labels needed to reach this share of the full-pool reference's test AUROC


SHARE_MEASURES = frozenset({"reliability", "share_of_runs_stopped", "best_before_knee"})  # shares of runs: Wilson
UNIT = (0.0, 1.0)  # AUROC, recall and shares
COUNT = (0.0, math.inf)  # labels and defects
MEASURE_BOUNDS = {"defect_recall": UNIT, "pool_saved": UNIT, "test_auroc": UNIT, "aulc": UNIT,
                  "share_of_runs_stopped": UNIT, "auroc_loss_vs_best": (-1.0, 1.0),
                  # the knee table's differences (best round minus knee) may be negative
                  "labels_best_minus_knee": (-math.inf, math.inf), "auroc_best_minus_knee": (-1.0, 1.0),
                  "auroc_best_minus_best_until_knee": (-1.0, 1.0)}  # any other measure: COUNT


def mean_std(values: Iterable[float]) -> tuple[float, float, int]:
    """Mean, standard deviation (ddof=1; NaN for one value: no spread, printed "n/a") and count of the
    finite values."""
    d = describe(values)
    return d["mean"], d["std"], d["n"]


def _grouped(runs: list[RunData]) -> dict[tuple[str, str], list[RunData]]:
    groups: dict[tuple[str, str], list[RunData]] = defaultdict(list)
    for run in runs:
        if run.kind == RUN_KIND_ACTIVE:
            groups[(run.dataset, run.strategy)].append(run)
    return dict(sorted(groups.items()))


def _row(base: Row, values: Iterable[float]) -> Row:
    """A test-AUROC row of Table 1: its interval within [0, 1]."""
    return {**base, **describe(values, UNIT)}


def _final_test_auroc(run: RunData) -> float:
    curve = run.curves.get(TEST_AUROC) or []
    return curve[-1][1] if curve else float("nan")


def table1(runs: list[RunData]) -> list[Row]:
    """Test AUROC, incremental (the best-validation round) vs batch learning, and the upper bound
    (the full-pool reference runs: ``run_kind`` = full_pool)."""
    rows = []
    for (dataset, strategy), group in _grouped(runs).items():
        rows.append(_row({"dataset": dataset, "learning": "incremental", "strategy": strategy},
                         (r.metrics.get(cutoff_metric("best", "test_auroc"), math.nan) for r in group)))
        rows.append(_row({"dataset": dataset, "learning": "batch", "strategy": strategy},
                         (r.metrics.get(batch_metric("test_auroc"), math.nan) for r in group)))
    for dataset, group in sorted(_full_pool(runs).items()):
        rows.append(_row({"dataset": dataset, "learning": "upper bound (whole pool)", "strategy": "upper_bound"},
                         (_final_test_auroc(r) for r in group)))
    return rows


def _full_pool(runs: list[RunData]) -> dict[str, list[RunData]]:
    bounds: dict[str, list[RunData]] = defaultdict(list)
    for run in runs:
        if run.kind == RUN_KIND_FULL_POOL:
            bounds[run.dataset].append(run)
    return bounds


def _cutoff_table(runs: list[RunData], key: str) -> list[Row]:
    bounds = COUNT if key == "n_labeled" else UNIT  # Table 2's interval is one of counts, not clipped to [0, 1]
    return [{"dataset": dataset, "cutoff": cutoff, "strategy": strategy,
             **describe((r.metrics.get(cutoff_metric(cutoff, key), math.nan) for r in group), bounds)}
            for (dataset, strategy), group in _grouped(runs).items() for cutoff in CUTOFF_NAMES]


def table2(runs: list[RunData]) -> list[Row]:
    """Images labeled at each cut-off: best overall, the knee, best until the knee."""
    return _cutoff_table(runs, "n_labeled")


def table3(runs: list[RunData]) -> list[Row]:
    """Test AUROC at each cut-off."""
    return _cutoff_table(runs, "test_auroc")


def _key(run: RunData) -> tuple[str, str]:
    return (run.fold, run.seed)


def _measure_rows(base: Row, per_run: dict[str, dict[tuple[str, str], float]],
                  baseline: dict[str, dict[tuple[str, str], float]] | None, shares: frozenset[str] = frozenset(),
                  notes: dict[str, str] | None = None) -> list[Row]:
    """One row per measure: its summary over the runs and, given the baseline's values, the paired tests."""
    rows = []
    for measure, values in per_run.items():
        if measure in shares:
            summary = share(None if math.isnan(v) else bool(v) for v in values.values())
        else:
            summary = describe(values.values(), MEASURE_BOUNDS.get(measure, COUNT))
        row: Row = {**base, "measure": measure, **summary}
        test = paired(values, baseline[measure]) if baseline is not None else paired({}, {})
        row.update({"vs": BASELINE, **test})
        row["note"] = (notes or {}).get(measure, "")
        rows.append(row)
    return rows


def _stop_values(run: RunData, name: str, recall_target: float) -> dict[str, float]:
    def metric(key: str) -> float:
        return run.metrics.get(stop_metric(name, key), math.nan)

    spent = metric("labels_spent")
    if math.isnan(spent):  # runs logged before labels_spent: nothing but the pool's labels was spent
        spent = metric("n_labeled")
    best = run.metrics.get(cutoff_metric("best", "test_auroc"), math.nan)
    recall = metric("recall")
    return {
        "n_labeled": metric("n_labeled"),
        "labels_spent": spent,
        "defect_recall": recall,
        "labels_saved": run.pool_size - spent if run.pool_size else math.nan,
        "pool_saved": 1 - spent / run.pool_size if run.pool_size else math.nan,
        "test_auroc": metric("test_auroc"),
        "auroc_loss_vs_best": best - metric("test_auroc"),
        "reliability": math.nan if math.isnan(recall) else float(recall >= recall_target - 1e-12),
        "share_of_runs_stopped": metric("stopped"),
    }


def stopping_table(runs: list[RunData], recall_target: float = RECALL_TARGET) -> list[Row]:
    """When may labeling stop? Per dataset x strategy x online criterion (``records.COMPARED_CRITERIA``,
    replayed on every run), one row per measure:

    ``n_labeled`` (pool images labeled at the stop), ``labels_spent`` (plus the criterion's own labels: the
    verification samples), ``defect_recall`` (defects found by the stop / defects in the pool),
    ``labels_saved`` (pool size - labels spent) and ``pool_saved`` (its share of the pool), ``test_auroc``
    at the stop and ``auroc_loss_vs_best`` (the run's best-validation round's test AUROC minus it),
    ``reliability`` (share of runs whose defect recall at the stop reached ``recall_target``; Wilson
    interval) and ``share_of_runs_stopped`` (share of runs in which the criterion fired; the others are
    read as labeling the whole run). A criterion that never fires counts as labeling the whole run.
    Paired tests against the same criterion on the ``random`` strategy's runs.
    """
    groups = _grouped(runs)
    rows = []
    for (dataset, strategy), group in groups.items():
        for name in COMPARED_CRITERIA:
            per_run = _by_measure({_key(r): _stop_values(r, name, recall_target) for r in group})
            base = groups.get((dataset, BASELINE))
            baseline = (_by_measure({_key(r): _stop_values(r, name, recall_target) for r in base})
                        if base and strategy != BASELINE else None)
            rows += _measure_rows({"dataset": dataset, "strategy": strategy, "criterion": name,
                                   "recall_target": recall_target}, per_run, baseline,
                                  shares=SHARE_MEASURES)
    return rows


def reliable_stops(rows: list[Row]) -> list[Row]:
    """From :func:`stopping_table`'s rows: per dataset x strategy, the criteria that reached the recall target
    in every run measured (``reliability`` = 1), fewest labels spent first: ``dataset``, ``strategy``,
    ``criterion``, ``labels_spent`` (mean), ``n`` (runs). The issue's question, "which rule reaches 95 %
    defect recall in every run with the fewest labels", is the first row of each group."""
    cells = {(r["dataset"], r["strategy"], r["criterion"], r["measure"]): r for r in rows}
    out = []
    for (dataset, strategy, criterion, measure), row in cells.items():
        if measure != "reliability" or row["n"] == 0 or row["mean"] != 1.0:
            continue
        spent = cells[(dataset, strategy, criterion, "labels_spent")]
        out.append({"dataset": dataset, "strategy": strategy, "criterion": criterion,
                    "labels_spent": spent["mean"], "n": row["n"]})
    return sorted(out, key=lambda r: (r["dataset"], r["strategy"], r["labels_spent"]))


def _by_measure(per_run: dict[tuple[str, str], dict[str, float]]) -> dict[str, dict[tuple[str, str], float]]:
    measures: dict[str, dict[tuple[str, str], float]] = defaultdict(dict)
    for key, values in per_run.items():
        for measure, value in values.items():
            measures[measure][key] = value
    return dict(measures)


def area_under_curve(curve: list[tuple[int, float]]) -> float:
    """Mean test AUROC over the labeling run: the trapezoid area divided by the x range."""
    points = [(x, y) for x, y in curve if not math.isnan(y)]
    if len(points) < 2:
        return points[0][1] if points else math.nan
    x, y = np.array(points, dtype=float).T
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2) / (x[-1] - x[0]))


def labels_to_reach(curve: list[tuple[int, float]], target: float) -> float:
    """Images labeled at the first round whose test AUROC is ``>= target``; NaN if none reaches it."""
    return next((float(x) for x, y in curve if not math.isnan(y) and y >= target), math.nan)


def full_pool_reference(runs: list[RunData]) -> dict[tuple[str, str], float]:
    """Mean final test AUROC of the full-pool runs per (dataset, fold), over their seeds."""
    values: dict[tuple[str, str], list[float]] = defaultdict(list)
    for run in runs:
        if run.kind == RUN_KIND_FULL_POOL:
            values[(run.dataset, run.fold)].append(_final_test_auroc(run))
    return {key: describe(v)["mean"] for key, v in values.items()}


def _strategy_values(run: RunData, reference: float) -> dict[str, float]:
    curve = run.curves.get(TEST_AUROC, [])
    values = {"aulc": area_under_curve(curve),
              f"labels_to_{round(FULL_POOL_SHARE * 100)}pct_full_pool_auroc":
                  labels_to_reach(curve, FULL_POOL_SHARE * reference) if math.isfinite(reference) else math.nan}
    for pct in POOL_SHARES:
        values[f"defects_found_at_{pct}pct"] = run.metrics.get(pool_metric(f"found_at_{pct}"), math.nan)
    return values


def strategy_table(runs: list[RunData]) -> list[Row]:
    """Per dataset x strategy, one row per measure: ``aulc`` (area under the test-AUROC learning curve,
    divided by its x range: :func:`area_under_curve`), ``labels_to_95pct_full_pool_auroc`` (images labeled
    at the first round reaching 95 % of the full-pool reference's test AUROC on the same fold, averaged
    over its seeds; runs that never reach it are not in ``n``; the ``note`` says when no full-pool run
    exists), ``defects_found_at_10pct`` and ``_25pct`` (defects found once 10 % / 25 % of the pool is
    labeled: ``pool/found_at_<pct>``). Paired tests against ``random`` over the same folds and seeds."""
    reference = full_pool_reference(runs)
    groups = _grouped(runs)
    to_full = f"labels_to_{round(FULL_POOL_SHARE * 100)}pct_full_pool_auroc"

    def values(group: list[RunData]) -> dict[str, dict[tuple[str, str], float]]:
        return _by_measure({_key(r): _strategy_values(r, reference.get((r.dataset, r.fold), math.nan))
                            for r in group})

    rows = []
    for (dataset, strategy), group in groups.items():
        notes = {}
        if not any(d == dataset for d, _ in reference):
            notes[to_full] = "no full_pool run for this dataset: run strategy=upper_bound (al.learning=full_pool)"
        else:
            reached = sum(math.isfinite(v) for v in values(group)[to_full].values())
            notes[to_full] = f"{reached} of {len(group)} runs reach it"
        base = groups.get((dataset, BASELINE))
        rows += _measure_rows({"dataset": dataset, "strategy": strategy}, values(group),
                              values(base) if base and strategy != BASELINE else None, notes=notes)
    return rows


def compare_table(runs: list[RunData], baseline: str = BASELINE) -> list[Row]:
    """Area under the test-AUROC learning curve per strategy, and paired tests of each strategy against the
    baseline over the same (fold, seed) pairs: Wilcoxon's signed-rank (``wilcoxon_p``) and the paired t test
    (``paired_t_p``), ``mean_diff_vs_baseline`` and ``n_pairs``."""
    groups = _grouped(runs)
    rows = []
    for (dataset, strategy), group in groups.items():
        aulc = {_key(r): area_under_curve(r.curves.get(TEST_AUROC, [])) for r in group}
        row = _row({"dataset": dataset, "strategy": strategy}, aulc.values())
        base = {_key(r): area_under_curve(r.curves.get(TEST_AUROC, [])) for r in groups.get((dataset, baseline), [])}
        test = paired(aulc, base)
        row["vs"] = baseline
        row["n_pairs"] = test["n_pairs"]
        row["mean_diff_vs_baseline"] = test["mean_diff"]
        row["wilcoxon_p"] = test["wilcoxon_p"] if strategy != baseline else math.nan
        row["paired_t_p"] = test["paired_t_p"] if strategy != baseline else math.nan
        rows.append(row)
    return rows


# ---- the paper's questions, answered per run (docs/paper-study-elpv.md reads these) ----


def table1_paired(runs: list[RunData]) -> list[Row]:
    """Table 1's cells against ``random``, paired over the same (fold, seed): per dataset x learning
    (incremental, batch) x strategy, ``mean_diff`` (strategy - random, test AUROC), ``n_pairs``, the paired
    t test's and Wilcoxon's p. The paper's claim "random leads uncertainty and GradCAM_avg in incremental
    learning, less so in batch learning" is a sign and a size here, per learning mode."""
    groups = _grouped(runs)
    keys = {"incremental": cutoff_metric("best", "test_auroc"), "batch": batch_metric("test_auroc")}
    rows = []
    for (dataset, strategy), group in groups.items():
        if strategy == BASELINE:
            continue
        base = groups.get((dataset, BASELINE), [])
        for learning, metric in keys.items():
            values = {_key(r): r.metrics.get(metric, math.nan) for r in group}
            test = paired(values, {_key(r): r.metrics.get(metric, math.nan) for r in base})
            rows.append({"dataset": dataset, "learning": learning, "strategy": strategy, "vs": BASELINE, **test})
    return rows


def knee_values(run: RunData) -> dict[str, float]:
    """Where the run's best model came from against its knee (the paper's Tables 2–3 question, per run):
    ``best_before_knee`` (1 when the best-validation round labeled fewer images than the knee of the
    defects-left curve, 0 when as many or more; NaN when no knee was found, ``cutoff/knee/found`` = 0),
    ``labels_best_minus_knee`` and ``auroc_best_minus_knee`` (test AUROC at the best round minus at the
    knee), ``auroc_best_minus_best_until_knee`` (the best model overall against the best up to the knee;
    the knee's NaN when none was found)."""
    def metric(cutoff: str, key: str) -> float:
        return run.metrics.get(cutoff_metric(cutoff, key), math.nan)

    if metric("knee", "found") != 1.0:
        return dict.fromkeys(("best_before_knee", "labels_best_minus_knee", "auroc_best_minus_knee",
                              "auroc_best_minus_best_until_knee"), math.nan)
    best, knee = metric("best", "n_labeled"), metric("knee", "n_labeled")
    return {"best_before_knee": math.nan if math.isnan(best) or math.isnan(knee) else float(best < knee),
            "labels_best_minus_knee": best - knee,
            "auroc_best_minus_knee": metric("best", "test_auroc") - metric("knee", "test_auroc"),
            "auroc_best_minus_best_until_knee": metric("best", "test_auroc") - metric("best_until_knee", "test_auroc")}


def knee_table(runs: list[RunData]) -> list[Row]:
    """Per dataset x strategy, one row per measure of :func:`knee_values` over its runs (``best_before_knee``
    a share of the runs with a knee, with Wilson's interval; the others mean, std, t interval), paired
    against ``random``."""
    groups = _grouped(runs)
    rows = []
    for (dataset, strategy), group in groups.items():
        per_run = _by_measure({_key(r): knee_values(r) for r in group})
        base = groups.get((dataset, BASELINE))
        baseline = (_by_measure({_key(r): knee_values(r) for r in base}) if base and strategy != BASELINE else None)
        rows += _measure_rows({"dataset": dataset, "strategy": strategy}, per_run, baseline,
                              shares=frozenset({"best_before_knee"}))
    return rows


def labels_to_recall(run: RunData, target: float = RECALL_TARGET) -> tuple[float, float]:
    """(images labeled, test AUROC) at the first round whose defect recall (1 - defects left / defects in
    the pool) reaches ``target``: the fewest labels any stopping rule that stops at a round could spend for
    that recall in this run (the oracle's stop). Defects in the pool: ``pool/defects_total``, else
    ``data/pool/defects``. (NaN, NaN) without a defects-left curve or defects, or when no round reaches it."""
    total = run.metrics.get(pool_metric("defects_total"), run.metrics.get("data/pool/defects", math.nan))
    left = run.curves.get(DEFECTS_LEFT) or []
    if not (math.isfinite(total) and total > 0):
        return math.nan, math.nan
    auroc = dict(run.curves.get(TEST_AUROC) or [])
    for step, value in left:
        if math.isfinite(value) and 1 - value / total >= target - 1e-12:
            return float(step), float(auroc.get(step, math.nan))
    return math.nan, math.nan


def stop_at_recall_table(runs: list[RunData], recall_target: float = RECALL_TARGET) -> list[Row]:
    """The issue's question, "which stopping rule reaches 95 % defect recall in every run with the fewest
    labels, and how many labels does it save against labeling the whole pool", one row per dataset x
    strategy: ``runs``; the oracle's stop (:func:`labels_to_recall`: the first round at the target, which
    no rule can beat) as ``oracle_labels_mean``/``_std`` and ``oracle_labels_saved`` (pool - it, mean);
    ``rule``: the criterion of :func:`reliable_stops` that reached the target in every run with the fewest
    labels spent and saved labels (mean labels saved > 0: a criterion that never fires reaches the target by
    labeling the whole run); "none" when no criterion did, with ``rule_labels_spent_mean``/``_std``,
    ``rule_labels_saved_mean`` (pool - labels spent), ``rule_extra_vs_oracle`` (its labels spent minus the
    oracle's, mean over runs) and ``rule_runs_low``/``_high`` (Wilson's interval of n of n runs); and
    ``reliable_rules`` (how many criteria were reliable in every run) and ``reliable_rules_saving`` (how many
    of them saved labels)."""
    rows_all = stopping_table(runs, recall_target)
    reliable: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in reliable_stops(rows_all):
        reliable[(row["dataset"], row["strategy"])].append(row)
    out = []
    for (dataset, strategy), group in _grouped(runs).items():
        oracle = {_key(r): labels_to_recall(r, recall_target)[0] for r in group}
        pools = {_key(r): float(r.pool_size) if r.pool_size else math.nan for r in group}
        labels = describe(oracle.values(), COUNT)
        row: Row = {"dataset": dataset, "strategy": strategy, "recall_target": recall_target, "runs": len(group),
                    "oracle_labels_mean": labels["mean"], "oracle_labels_std": labels["std"],
                    "oracle_labels_saved": describe(pools[k] - oracle[k] for k in oracle)["mean"],
                    "reliable_rules": len(reliable[(dataset, strategy)])}
        # a rule that never fired "reaches" the target by labeling the whole run: it saves nothing
        saving = [r for r in reliable[(dataset, strategy)] if
                  describe(pools[_key(g)] - _stop_values(g, str(r["criterion"]), recall_target)["labels_spent"]
                           for g in group)["mean"] > 0]
        row["reliable_rules_saving"] = len(saving)
        best = saving[0] if saving else None
        if best is None:
            row.update({"rule": "none", "rule_labels_spent_mean": math.nan, "rule_labels_spent_std": math.nan,
                        "rule_labels_saved_mean": math.nan, "rule_extra_vs_oracle": math.nan,
                        "rule_runs_low": math.nan, "rule_runs_high": math.nan})
        else:
            spent = {_key(r): _stop_values(r, str(best["criterion"]), recall_target)["labels_spent"] for r in group}
            d = describe(spent.values(), COUNT)
            runs_share = share([True] * int(best["n"]))
            row.update({"rule": best["criterion"], "rule_labels_spent_mean": d["mean"],
                        "rule_labels_spent_std": d["std"],
                        "rule_labels_saved_mean": describe(pools[k] - spent[k] for k in spent)["mean"],
                        "rule_extra_vs_oracle": describe(spent[k] - oracle[k] for k in spent)["mean"],
                        "rule_runs_low": runs_share["ci95_low"], "rule_runs_high": runs_share["ci95_high"]})
        out.append(row)
    return out


TABLES: dict[str, Callable[[list[RunData]], list[Row]]] = {
    "table1": table1, "table2": table2, "table3": table3, "stopping": stopping_table, "compare": compare_table,
    "strategies": strategy_table, "table1_paired": table1_paired, "knee": knee_table,
    "stop_at_recall": stop_at_recall_table,
}
