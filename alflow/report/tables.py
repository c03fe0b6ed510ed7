"""The paper's tables (and two more) as tidy rows: mean ± std over folds per dataset × strategy."""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable

import numpy as np
from scipy.stats import wilcoxon

from alflow.records import (
    COMPARED_CRITERIA, CUTOFF_NAMES, RUN_KIND_ACTIVE, RUN_KIND_FULL_POOL, TEST_AUROC, batch_metric, cutoff_metric,
    stop_metric,
)
from alflow.report.runs import RunData

Row = dict[str, object]


def mean_std(values: Iterable[float]) -> tuple[float, float, int]:
    v = np.array([x for x in values if x is not None and not math.isnan(x)], dtype=float)
    if len(v) == 0:
        return float("nan"), float("nan"), 0
    # one value has no spread: NaN (printed "n/a"), not a standard deviation of 0
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan"), len(v)


def _grouped(runs: list[RunData]) -> dict[tuple[str, str], list[RunData]]:
    groups: dict[tuple[str, str], list[RunData]] = defaultdict(list)
    for run in runs:
        if run.kind == RUN_KIND_ACTIVE:
            groups[(run.dataset, run.strategy)].append(run)
    return dict(sorted(groups.items()))


def _row(base: Row, values: Iterable[float]) -> Row:
    mean, std, n = mean_std(values)
    return {**base, "mean": mean, "std": std, "n": n}


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
    bounds: dict[str, list[RunData]] = defaultdict(list)
    for run in runs:
        if run.kind == RUN_KIND_FULL_POOL:
            bounds[run.dataset].append(run)
    for dataset, group in sorted(bounds.items()):
        rows.append(_row({"dataset": dataset, "learning": "upper bound (whole pool)", "strategy": "upper_bound"},
                         (_final_test_auroc(r) for r in group)))
    return rows


def _cutoff_table(runs: list[RunData], key: str) -> list[Row]:
    return [_row({"dataset": dataset, "cutoff": cutoff, "strategy": strategy},
                 (r.metrics.get(cutoff_metric(cutoff, key), math.nan) for r in group))
            for (dataset, strategy), group in _grouped(runs).items() for cutoff in CUTOFF_NAMES]


def table2(runs: list[RunData]) -> list[Row]:
    """Images labeled at each cut-off: best overall, the knee, best until the knee."""
    return _cutoff_table(runs, "n_labeled")


def table3(runs: list[RunData]) -> list[Row]:
    """Test AUROC at each cut-off."""
    return _cutoff_table(runs, "test_auroc")


def stopping_table(runs: list[RunData]) -> list[Row]:
    """When may labeling stop? Per online criterion: images labeled, pool share saved, test AUROC
    at the stop, and its loss against the best model of the run."""
    rows = []
    for (dataset, strategy), group in _grouped(runs).items():
        for name in COMPARED_CRITERIA:
            def metric(r: RunData, key: str, name: str = name) -> float:
                return r.metrics.get(stop_metric(name, key), math.nan)

            labeled = [metric(r, "n_labeled") for r in group]
            saved = [1 - metric(r, "n_labeled") / r.pool_size if r.pool_size else math.nan for r in group]
            test = [metric(r, "test_auroc") for r in group]
            best = [r.metrics.get(cutoff_metric("best", "test_auroc"), math.nan) for r in group]
            loss = [b - t for b, t in zip(best, test)]
            fired = [metric(r, "stopped") for r in group]
            row: Row = {"dataset": dataset, "strategy": strategy, "criterion": name}
            for key, values in (("n_labeled", labeled), ("pool_saved", saved), ("test_auroc", test),
                                ("auroc_loss_vs_best", loss), ("share_of_runs_stopped", fired)):
                mean, std, n = mean_std(values)
                row[f"{key}_mean"], row[f"{key}_std"] = mean, std
            row["n"] = len(group)
            rows.append(row)
    return rows


def area_under_curve(curve: list[tuple[int, float]]) -> float:
    """Mean test AUROC over the labeling run: the trapezoid area divided by the x range."""
    points = [(x, y) for x, y in curve if not math.isnan(y)]
    if len(points) < 2:
        return points[0][1] if points else math.nan
    x, y = np.array(points, dtype=float).T
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2) / (x[-1] - x[0]))


def compare_table(runs: list[RunData], baseline: str = "random") -> list[Row]:
    """Area under the test-AUROC learning curve per strategy, and a Wilcoxon signed-rank test of each
    strategy against the baseline, paired by (fold, seed)."""
    groups = _grouped(runs)
    rows = []
    for (dataset, strategy), group in groups.items():
        aulc = {(r.fold, r.seed): area_under_curve(r.curves.get(TEST_AUROC, [])) for r in group}
        row = _row({"dataset": dataset, "strategy": strategy}, aulc.values())
        base = {(r.fold, r.seed): area_under_curve(r.curves.get(TEST_AUROC, []))
                for r in groups.get((dataset, baseline), [])}
        pairs = [(aulc[k], base[k]) for k in sorted(aulc.keys() & base.keys())
                 if not (math.isnan(aulc[k]) or math.isnan(base[k]))]
        diffs = [a - b for a, b in pairs]
        row["vs"] = baseline
        row["n_pairs"] = len(pairs)
        row["mean_diff_vs_baseline"] = float(np.mean(diffs)) if diffs else math.nan
        row["wilcoxon_p"] = _wilcoxon(diffs) if strategy != baseline else math.nan
        rows.append(row)
    return rows


def _wilcoxon(diffs: list[float]) -> float:
    """p-value, NaN where the test is undefined (fewer than 2 pairs, or all differences zero)."""
    if len(diffs) < 2 or all(d == 0 for d in diffs):
        return math.nan
    return float(wilcoxon(diffs).pvalue)


TABLES: dict[str, Callable[[list[RunData]], list[Row]]] = {
    "table1": table1, "table2": table2, "table3": table3, "stopping": stopping_table, "compare": compare_table,
}
