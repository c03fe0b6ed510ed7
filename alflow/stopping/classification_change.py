"""Classification change (Zhu, Wang & Hovy, "Learning a stopping criterion for active learning for word
sense disambiguation and text classification", IJCNLP 2008; as compared by Pullar-Strecker, Dost,
Frank & Wicker, "Hitting the target: stopping active learning at the cost-based optimum", Machine
Learning 2022): stop once no image of the unlabeled pool changed its predicted class between two
consecutive rounds.

The predicted class of an image is its defect log-odds' sign (``z > 0``: defect, the argmax of the
two-class softmax). The comparison is over the images unlabeled in both rounds (``unlabeled_index``):
the later round's unlabeled images, all of them unlabeled the round before too.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from alflow.stopping.contract import StoppingCriterion
from alflow.stopping.validators import check_int, check_real


def changed_share(before, after) -> float:
    """Share of the images unlabeled in both records whose predicted class changed; NaN when either
    record lacks the pool's log-odds or they share no image."""
    if any(getattr(r, key, None) is None for r in (before, after) for key in ("unlabeled_index", "unlabeled_logits")):
        return math.nan
    previous = {i: z > 0 for i, z in zip(before.unlabeled_index, before.unlabeled_logits)}
    common = [(previous[i], z > 0) for i, z in zip(after.unlabeled_index, after.unlabeled_logits) if i in previous]
    if not common:
        return math.nan
    return sum(a != b for a, b in common) / len(common)


class ClassificationChangeStopping(StoppingCriterion):
    """Stop when at most a ``tolerance`` share of the unlabeled pool's predictions changed since the previous
    round (``tolerance = 0``: Zhu et al.'s "no change"), once ``min_rounds`` rounds are done. Rounds
    without the pool's log-odds do not stop. Every key is required (defaults: the YAML)."""

    name = "classification_change"

    def __init__(self, tolerance: float, min_rounds: int):
        self.tolerance = check_real("tolerance", tolerance, 0.0, 1.0)
        self.min_rounds = check_int("min_rounds", min_rounds, 2)

    def should_stop(self, history: Sequence) -> bool:
        if len(history) < self.min_rounds:
            return False
        share = changed_share(history[-2], history[-1])
        return math.isfinite(share) and share <= self.tolerance
