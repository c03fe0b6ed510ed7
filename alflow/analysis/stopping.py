"""What a finished run says about stopping: the paper's cut-offs and where every online criterion
would have stopped, as flat metric names (``alflow.records``), so one sweep compares them all."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from alflow.records import CUTOFF_NAMES, RoundRecord, cutoff_metric, stop_metric
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


def stop_metrics(history: Sequence[RoundRecord], criteria: Mapping[str, StoppingCriterion]) -> dict[str, float]:
    """``stop/<name>/{stopped,n_labeled,test_auroc}`` for each of ``criteria`` replayed over ``history``:
    a criterion that never fires is read as labeling the whole run (``stopped`` = 0)."""
    if not history:
        return {}
    at = {r.n_labeled: r for r in history}
    metrics: dict[str, float] = {}
    for name, n_labeled in where_each_would_stop(history, criteria).items():
        record = at[n_labeled] if n_labeled is not None else history[-1]
        metrics[stop_metric(name, "stopped")] = float(n_labeled is not None)
        metrics[stop_metric(name, "n_labeled")] = float(record.n_labeled)
        if not math.isnan(record.test_auroc):
            metrics[stop_metric(name, "test_auroc")] = float(record.test_auroc)
    return metrics
