"""Stopping criteria: online (``should_stop(history)`` after each round, the ``StoppingCriterion``
contract) and post-hoc cut-offs over a finished curve."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from alflow.records import RoundRecord
from alflow.stopping.contract import StoppingCriterion
from alflow.stopping.calibration import expected_calibration_error, fit_temperature
from alflow.stopping.classification_change import ClassificationChangeStopping
from alflow.stopping.criteria import BudgetStopping, NoStopping
from alflow.stopping.cutoffs import CUTOFFS, cutoffs, knee_point
from alflow.stopping.knee import KneeStopping, held_knee
from alflow.stopping.plateau import PlateauStopping
from alflow.stopping.predicted_defects import PredictedDefectsStopping
from alflow.stopping.stabilizing import StabilizingPredictions, cohen_kappa
from alflow.stopping.verification import VerificationStopping, h0_p_value

CRITERIA: dict[str, type[StoppingCriterion]] = {
    cls.name: cls for cls in (NoStopping, BudgetStopping, PlateauStopping, KneeStopping, PredictedDefectsStopping,
                              StabilizingPredictions, ClassificationChangeStopping, VerificationStopping)}


Criteria = Mapping[str, StoppingCriterion] | Iterable[StoppingCriterion] | StoppingCriterion


def where_each_would_stop(history: Sequence[RoundRecord], criteria: Criteria) -> dict[str, int | None]:
    """For each criterion, the ``n_labeled`` of the first round after which it says stop; None: never.

    Replays a finished run: asks ``criterion.should_stop(history[:i + 1])`` for i = 0, 1, ...
    and reports ``history[i].n_labeled`` at the first True. ``criteria`` is a mapping
    ``{name: criterion}`` (to compare two settings of one class) or an iterable of criteria,
    keyed by their ``name`` (ValueError on a repeated name).
    """
    if isinstance(criteria, Mapping):
        named = dict(criteria)
    else:
        named = {}
        for criterion in criteria if isinstance(criteria, Iterable) else (criteria,):
            if criterion.name in named:
                raise ValueError(f"two criteria named {criterion.name!r}; pass a dict to name them apart")
            named[criterion.name] = criterion
    result: dict[str, int | None] = {}
    for name, criterion in named.items():
        result[name] = next((history[i].n_labeled for i in range(len(history))
                             if criterion.should_stop(history[:i + 1])), None)
    return result


__all__ = [
    "CRITERIA", "CUTOFFS", "BudgetStopping", "ClassificationChangeStopping", "KneeStopping", "NoStopping",
    "PlateauStopping", "PredictedDefectsStopping", "StabilizingPredictions", "StoppingCriterion",
    "VerificationStopping", "cohen_kappa", "cutoffs", "expected_calibration_error", "fit_temperature", "h0_p_value",
    "held_knee", "knee_point", "where_each_would_stop",
]
