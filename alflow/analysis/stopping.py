"""What a finished run says about stopping: the paper's cut-offs and where every online criterion
would have stopped, as flat metric names (``alflow.records``), so one sweep compares them all."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from alflow.records import POOL_SHARES, CUTOFF_NAMES, RoundRecord, cutoff_metric, pool_metric, stop_metric
from alflow.stopping import StoppingCriterion, cutoffs, where_each_would_stop


def cutoff_metrics(history: Sequence[RoundRecord], knee_sensitivity: float) -> tuple[dict[str, float], dict]:
    """``cutoff/<name>/{n_labeled,val_auroc,test_auroc,found}`` and the raw cut-offs
    (``alflow.stopping.cutoffs``; the knee on the simulation-only defects-left curve, Kneedle's
    S = ``knee_sensitivity``). ValueError from ``cutoffs`` for a bad sensitivity."""
    found = cutoffs([r.n_labeled for r in history], [r.val_auroc for r in history],
                    [r.test_auroc for r in history], [r.defects_left for r in history], knee_sensitivity)
    metrics: dict[str, float] = {}
    for name in CUTOFF_NAMES:
        c = found[name]
        if c["n_labeled"] is None:
            continue
        metrics[cutoff_metric(name, "n_labeled")] = float(c["n_labeled"])
        metrics[cutoff_metric(name, "found")] = float(c["found"])
        for key in ("val_auroc", "test_auroc"):
            if not math.isnan(c[key]):
                metrics[cutoff_metric(name, key)] = float(c[key])
    return metrics, found


def defects_total(history: Sequence[RoundRecord]) -> float:
    """Defects in the pool: found + left after the last round (simulation only; NaN without ``defects_left``)."""
    if not history:
        return math.nan
    last = history[-1]
    return float(last.defects_found) + float(last.defects_left)


def stop_metrics(history: Sequence[RoundRecord], criteria: Mapping[str, StoppingCriterion]) -> dict[str, float]:
    """``stop/<name>/{stopped,n_labeled,labels_spent,test_auroc,recall}`` for each of ``criteria`` replayed over
    ``history``: a criterion that never fires is read as labeling the whole run (``stopped`` = 0).
    ``labels_spent`` adds the labels the criterion asked for itself up to its stop
    (``StoppingCriterion.extra_labels``: the verification samples); ``recall`` is the defects found by the
    stop over the defects in the pool (simulation only: absent where ``defects_left`` is NaN or the pool
    holds no defect)."""
    if not history:
        return {}
    position = {r.n_labeled: i for i, r in enumerate(history)}
    total = defects_total(history)
    metrics: dict[str, float] = {}
    for name, n_labeled in where_each_would_stop(history, criteria).items():
        i = position[n_labeled] if n_labeled is not None else len(history) - 1
        record = history[i]
        metrics[stop_metric(name, "stopped")] = float(n_labeled is not None)
        metrics[stop_metric(name, "n_labeled")] = float(record.n_labeled)
        spent = record.n_labeled + criteria[name].extra_labels(history[:i + 1])
        metrics[stop_metric(name, "labels_spent")] = float(spent)
        if not math.isnan(record.test_auroc):
            metrics[stop_metric(name, "test_auroc")] = float(record.test_auroc)
        if math.isfinite(total) and total > 0:
            metrics[stop_metric(name, "recall")] = float(record.defects_found) / total
    return metrics


def pool_metrics(history: Sequence[RoundRecord], pool_size: int) -> dict[str, float]:
    """``pool/defects_total`` and ``pool/found_at_<pct>`` for each of ``records.POOL_SHARES``: the defects
    found once pct % of the ``pool_size`` images are labeled, linearly interpolated on the defects-found
    curve from (0, 0) through each round's (n_labeled, defects_found); absent where the run stopped
    before that share. Empty for an empty run or ``pool_size`` < 1."""
    if not history or pool_size < 1:
        return {}
    metrics: dict[str, float] = {}
    total = defects_total(history)
    if math.isfinite(total):
        metrics[pool_metric("defects_total")] = total
    x = [0.0] + [float(r.n_labeled) for r in history]
    y = [0.0] + [float(r.defects_found) for r in history]
    for pct in POOL_SHARES:
        at = pct / 100 * pool_size
        if at <= x[-1]:
            metrics[pool_metric(f"found_at_{pct}")] = float(np.interp(at, x, y))
    return metrics
