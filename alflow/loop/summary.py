"""What a finished run says about stopping: the paper's cut-offs and where every online criterion
would have stopped, as flat metric names (so one sweep compares them all)."""
from __future__ import annotations

import math
from collections.abc import Sequence

from alflow.loop.acquisition import RoundRecord
from alflow.stopping import CRITERIA, CUTOFFS, cutoffs, where_each_would_stop

# The label-free and label-using online criteria compared in every run, at their defaults.
COMPARED_CRITERIA = ("plateau", "knee", "predicted_defects", "stabilizing")


def cutoff_metrics(history: Sequence[RoundRecord], knee_sensitivity: float = 1.0) -> tuple[dict[str, float], dict]:
    """``cutoff/<name>/{n_labeled,val_auroc,test_auroc,found}`` and the raw cut-offs."""
    found = cutoffs([r.n_labeled for r in history], [r.val_auroc for r in history],
                    [r.test_auroc for r in history], [r.defects_left for r in history], knee_sensitivity)
    metrics: dict[str, float] = {}
    for name in CUTOFFS:
        c = found[name]
        if c["n_labeled"] is None:
            continue
        metrics[f"cutoff/{name}/n_labeled"] = float(c["n_labeled"])
        metrics[f"cutoff/{name}/found"] = float(c["found"])
        for key in ("val_auroc", "test_auroc"):
            if not math.isnan(c[key]):
                metrics[f"cutoff/{name}/{key}"] = float(c[key])
    return metrics, found


def stop_metrics(history: Sequence[RoundRecord]) -> dict[str, float]:
    """``stop/<criterion>/{stopped,n_labeled,test_auroc}``: a criterion that never fires is read as
    labeling the whole run (``stopped`` = 0)."""
    if not history:
        return {}
    criteria = {name: CRITERIA[name]() for name in COMPARED_CRITERIA}
    at = {r.n_labeled: r for r in history}
    metrics: dict[str, float] = {}
    for name, n_labeled in where_each_would_stop(history, criteria).items():
        record = at[n_labeled] if n_labeled is not None else history[-1]
        metrics[f"stop/{name}/stopped"] = float(n_labeled is not None)
        metrics[f"stop/{name}/n_labeled"] = float(record.n_labeled)
        if not math.isnan(record.test_auroc):
            metrics[f"stop/{name}/test_auroc"] = float(record.test_auroc)
    return metrics
