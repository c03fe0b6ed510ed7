"""Predicted-defects stopping: the paper's soft-label idea for its defects-left plot.

The defects left in the unlabeled pool are unknown online, but the model's defect
probabilities over the pool give their expectation: ``expected_defects_left = sum of
p(defect)`` over the still-unlabeled images (``record.expected_defects_left``, measured after
the round's training; NaN when not measured).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from alflow.stopping.contract import StoppingCriterion
from alflow.stopping.knee import held_knee
from alflow.stopping.validators import check_int, check_real

MODES = ("threshold", "knee")


class PredictedDefectsStopping(StoppingCriterion):
    """Stop when the expected defects left fall below ``threshold``, or (``mode="knee"``) at their knee.

    ``threshold``: stop when the latest round's ``expected_defects_left`` is finite and
    ``< threshold``; a latest round without the measurement (NaN) does not stop.
    ``knee``: Kneedle (``curve="convex"``, ``direction="decreasing"``) on ``(n_labeled,
    expected_defects_left)`` over the measured rounds only (rounds with NaN are dropped, and do
    not count toward the hold); stop once the same knee has been found on each of the last
    ``hold_rounds + 1`` prefixes of the measured curve. Fewer than 3 measured rounds, a flat or
    straight curve: no knee, no stop.
    """

    name = "predicted_defects"

    def __init__(self, threshold: float = 1.0, mode: str = "threshold", sensitivity: float = 1.0,
                 hold_rounds: int = 2):
        if mode not in MODES:
            raise ValueError(f"stopping.mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.threshold = check_real("threshold", threshold, 0.0)
        self.sensitivity = check_real("sensitivity", sensitivity, 0.0)
        self.hold_rounds = check_int("hold_rounds", hold_rounds, 0)

    def should_stop(self, history: Sequence) -> bool:
        if not history:
            return False
        if self.mode == "threshold":
            expected = _expected(history[-1])
            return not math.isnan(expected) and expected < self.threshold
        measured = [(float(r.n_labeled), _expected(r)) for r in history if math.isfinite(_expected(r))]
        x = [n for n, _ in measured]
        y = [e for _, e in measured]
        return held_knee(x, y, sensitivity=self.sensitivity, curve="convex", direction="decreasing",
                         hold_rounds=self.hold_rounds) is not None


def _expected(record) -> float:
    value = getattr(record, "expected_defects_left", None)
    return math.nan if value is None else float(value)
