"""Predicted-defects stopping: the paper's soft-label idea for its defects-left plot, and its recall-targeted
form, Quant/QuantCI (Yang, Lewis & Frieder, "Heuristic stopping rules for technology-assisted review",
DocEng 2021; reference implementation: ``tarexp.component.stopping.QuantStoppingRule``).

The defects left in the unlabeled pool are unknown online, but the model's defect probabilities over the
pool give their expectation: ``expected_defects_left = sum of p(defect)`` over the still-unlabeled images
(``record.expected_defects_left``, measured after the round's training; NaN when not measured).

Quant estimates the recall reached so far from the same probabilities over the whole pool: with ``p_i``
the (calibrated) defect probability of pool image ``i``, ``L`` the labeled and ``U`` the unlabeled images,
``S_L = sum_L p_i``, ``S_U = sum_U p_i``, ``S = S_L + S_U``::

    recall_hat = S_L / S
    var_hat    = S_L^2 / S^4 * sum_all p(1-p)  +  1 / S^2 * sum_L p(1-p)

(each image a Bernoulli variable, the variance by the delta method: Yang et al. 2021, section 4; the
formula as ``QuantStoppingRule`` computes it). QuantCI stops once ``recall_hat - nstd * sqrt(var_hat) >=
recall_target`` (they use ``nstd = 2``, about a 95 % lower bound). The ``p_i`` are ``sigmoid(z_i / T)``:
the round's log-odds with the temperature ``T`` fitted on the round's validation fold
(:mod:`alflow.stopping.calibration`), since the rule is only as good as the probabilities are calibrated.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from alflow.stopping.calibration import calibrated, fit_temperature
from alflow.stopping.contract import StoppingCriterion
from alflow.stopping.knee import held_knee
from alflow.stopping.validators import check_choice, check_int, check_real

MODES = ("threshold", "knee", "recall")


def quant_recall(p_labeled: Sequence[float], p_unlabeled: Sequence[float]) -> tuple[float, float]:
    """Quant's recall estimate and its variance from defect probabilities of the labeled (L) and the
    unlabeled (U) pool images (see the module docstring). NaN, NaN when ``S = 0`` (no defect expected
    anywhere: recall undefined)."""
    pl = np.asarray(p_labeled, dtype=float)
    pu = np.asarray(p_unlabeled, dtype=float)
    known, unknown = float(pl.sum()), float(pu.sum())
    total = known + unknown
    if total <= 0:
        return math.nan, math.nan
    var_labeled = float((pl * (1 - pl)).sum())
    var_all = var_labeled + float((pu * (1 - pu)).sum())
    recall = known / total
    var = known ** 2 / total ** 4 * var_all + var_labeled / total ** 2
    return recall, var


def round_temperature(record) -> float:
    """The temperature of ``record``'s validation fold (1.0 where the fold was not recorded)."""
    if getattr(record, "val_logits", None) is None or getattr(record, "val_labels", None) is None:
        return 1.0
    return fit_temperature(record.val_logits, record.val_labels)


def recall_bound(record, nstd: float) -> float:
    """QuantCI's lower bound ``recall_hat - nstd * sqrt(var_hat)`` after ``record``'s round; NaN when the
    round did not record the pool's log-odds."""
    if getattr(record, "labeled_logits", None) is None or getattr(record, "unlabeled_logits", None) is None:
        return math.nan
    t = round_temperature(record)
    recall, var = quant_recall(calibrated(record.labeled_logits, t), calibrated(record.unlabeled_logits, t))
    return recall - nstd * math.sqrt(var) if math.isfinite(recall) else math.nan


class PredictedDefectsStopping(StoppingCriterion):
    """Stop when the expected defects left fall below ``threshold``, at their knee, or (``mode="recall"``,
    QuantCI) once the estimated recall's lower bound reaches ``recall_target``.

    ``threshold``: stop when the latest round's ``expected_defects_left`` is finite and
    ``< threshold``; a latest round without the measurement (NaN) does not stop.
    ``knee``: Kneedle (``curve="convex"``, ``direction="decreasing"``) on ``(n_labeled,
    expected_defects_left)`` over the measured rounds only (rounds with NaN are dropped, and do
    not count toward the hold); stop once the same knee has been found on each of the last
    ``hold_rounds + 1`` prefixes of the measured curve. Fewer than 3 measured rounds, a flat or
    straight curve: no knee, no stop.
    ``recall``: stop when the latest round's :func:`recall_bound` with ``nstd`` is ``>= recall_target``;
    a round without the pool's log-odds does not stop. Every key is required (defaults: the YAML).
    """

    name = "predicted_defects"

    def __init__(self, threshold: float, mode: str, sensitivity: float, hold_rounds: int, recall_target: float,
                 nstd: float):
        self.mode = check_choice("mode", mode, MODES)
        self.threshold = check_real("threshold", threshold, 0.0)
        self.sensitivity = check_real("sensitivity", sensitivity, 0.0)
        self.hold_rounds = check_int("hold_rounds", hold_rounds, 0)
        self.recall_target = check_real("recall_target", recall_target, 0.0, 1.0)
        self.nstd = check_real("nstd", nstd, 0.0)

    def should_stop(self, history: Sequence) -> bool:
        if not history:
            return False
        if self.mode == "threshold":
            expected = _expected(history[-1])
            return not math.isnan(expected) and expected < self.threshold
        if self.mode == "recall":
            bound = recall_bound(history[-1], self.nstd)
            return math.isfinite(bound) and bound >= self.recall_target
        measured = [(float(r.n_labeled), _expected(r)) for r in history if math.isfinite(_expected(r))]
        x = [n for n, _ in measured]
        y = [e for _, e in measured]
        return held_knee(x, y, sensitivity=self.sensitivity, curve="convex", direction="decreasing",
                         hold_rounds=self.hold_rounds) is not None


def _expected(record) -> float:
    value = getattr(record, "expected_defects_left", None)
    return math.nan if value is None else float(value)
