"""Stabilizing predictions (Bloodgood & Vijay-Shanker, 2009).

A fixed, unlabeled *stop set* is predicted after every round; once the model's predictions on
it stop changing -- Cohen's kappa between consecutive rounds at or above a threshold for a
few comparisons in a row -- further labels are unlikely to change the model much.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alflow.stopping.contract import StoppingCriterion
from alflow.stopping.validators import check_int, check_real


def cohen_kappa(a: Sequence, b: Sequence) -> float:
    """Cohen's kappa between two label vectors of one length: ``(p_o - p_e) / (1 - p_e)``.

    ``p_o`` is the fraction of equal labels, ``p_e = sum_k p_a(k) p_b(k)`` the agreement
    expected by chance from each vector's label frequencies. Where the formula divides by zero
    (``p_e = 1``: both vectors constant and equal) kappa is defined as 1. Raises ValueError for
    vectors of different lengths, empty or not 1-D.
    """
    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    if a.shape != b.shape:
        raise ValueError(f"prediction vectors must have one length, got {a.size} and {b.size}")
    if a.size == 0:
        raise ValueError("prediction vectors must not be empty")
    p_o = float(np.mean(a == b))
    labels = np.union1d(a, b)
    p_a = (a[:, None] == labels[None, :]).mean(axis=0)
    p_b = (b[:, None] == labels[None, :]).mean(axis=0)
    p_e = float(np.dot(p_a, p_b))
    if p_e >= 1.0:
        return 1.0
    return (p_o - p_e) / (1.0 - p_e)


class StabilizingPredictions(StoppingCriterion):
    """Stop when kappa between consecutive stop-set predictions is ``>= kappa`` ``window`` times in a row.

    Rounds whose ``stop_set_predictions`` is None (not measured) are skipped: comparisons are
    between consecutive *measured* rounds, so ``window`` comparisons need ``window + 1``
    measured rounds; a run that never measures never stops.
    """

    name = "stabilizing"

    def __init__(self, kappa: float, window: int):
        self.kappa = check_real("kappa", kappa, -1.0, 1.0)
        self.window = check_int("window", window, 1)

    def kappas(self, history: Sequence) -> list[float]:
        """Kappa of each measured round against the previous measured round."""
        measured = _measured(history)
        return [cohen_kappa(prev, cur) for prev, cur in zip(measured, measured[1:])]

    def should_stop(self, history: Sequence) -> bool:
        # Only the last window + 1 measured rounds matter.
        recent = _measured(history)[-(self.window + 1):]
        if len(recent) < self.window + 1:
            return False
        return all(cohen_kappa(prev, cur) >= self.kappa for prev, cur in zip(recent, recent[1:]))


def _measured(history: Sequence) -> list:
    return [p for p in (getattr(r, "stop_set_predictions", None) for r in history) if p is not None]
