"""Plateau stopping: early stopping on the validation AUROC, as for epochs, but over rounds."""
from __future__ import annotations

import math
from collections.abc import Sequence

from alflow.stopping.contract import StoppingCriterion
from alflow.stopping.validators import check_int, check_real


class PlateauStopping(StoppingCriterion):
    """Stop when the validation AUROC has not beaten its best by ``min_delta`` for ``patience`` rounds.

    Keras' rule: a round improves when ``val_auroc > best + min_delta``, and only such a round
    moves ``best``; a run stops after ``patience`` consecutive rounds without improvement, once
    at least ``min_labeled`` images are labeled. Rounds with a NaN validation AUROC (one class
    in the validation set) are skipped: they neither improve nor count toward the patience, so
    a run without a single finite AUROC never stops.
    """

    name = "plateau"

    def __init__(self, patience: int, min_delta: float, min_labeled: int):
        self.patience = check_int("patience", patience, 1)
        self.min_delta = check_real("min_delta", min_delta, 0.0)
        self.min_labeled = check_int("min_labeled", min_labeled, 0)

    def rounds_without_improvement(self, history: Sequence) -> int:
        best, stale = -math.inf, 0
        for record in history:
            auroc = float(record.val_auroc)
            if math.isnan(auroc):
                continue
            if auroc > best + self.min_delta:
                best, stale = auroc, 0
            else:
                stale += 1
        return stale

    def should_stop(self, history: Sequence) -> bool:
        if not history or history[-1].n_labeled < self.min_labeled:
            return False
        return self.rounds_without_improvement(history) >= self.patience
