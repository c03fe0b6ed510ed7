"""Online knee stopping: Kneedle on the defects found so far, the paper's knee made usable online.

The paper's knee is on the defects-left curve (defects still in the unlabeled pool), which
needs every label of the pool. The oracle's labels reveal the *defects found so far*, and on
a complete run ``defects_left = total - defects_found`` with a constant total, so both curves
have the same knee: min-max normalisation maps ``total - found`` and ``found`` to ``1 - f``
and ``f``, and Kneedle's ``convex``/``decreasing`` transform (``y -> max - y``) turns the
first into the second, leaving one and the same difference curve. Online, the curve is only
known up to the current round, and Kneedle on a prefix tends to find an earlier knee that
moves right as rounds are added; hence ``hold_rounds``.
"""
from __future__ import annotations

from collections.abc import Sequence

from alflow.stopping.contract import StoppingCriterion
from alflow.stopping.cutoffs import knee_point
from alflow.stopping.validators import check_int, check_real


def held_knee(x: Sequence[float], y: Sequence[float], *, sensitivity: float, curve: str, direction: str,
              hold_rounds: int, min_rounds: int = 1) -> float | None:
    """The knee of the whole curve if it has held, else None.

    Held: Kneedle finds the same knee x on each of the last ``hold_rounds + 1`` prefixes
    (``x[:m - hold_rounds]`` ... ``x[:m]``, ``m = len(x)``), i.e. the knee appeared and then
    stayed put for ``hold_rounds`` more rounds. Prefixes shorter than ``min_rounds`` count as
    no knee. Non-finite y values (not measured) are ignored by :func:`knee_point`.
    """
    m = len(x)
    first = None
    for end in range(m - hold_rounds, m + 1):
        if end < max(min_rounds, 1):
            return None
        knee = knee_point(x[:end], y[:end], sensitivity, curve=curve, direction=direction)
        if knee is None or (first is not None and knee != first):
            return None
        first = knee
    return first


class KneeStopping(StoppingCriterion):
    """Stop once the knee of defects found (against images labeled) has held for ``hold_rounds``.

    Kneedle with ``curve="concave"``, ``direction="increasing"`` on ``(n_labeled,
    defects_found)``. Nothing is decided before ``min_rounds`` rounds (Kneedle needs at least 3
    points); a run that finds no defects, or finds them at a constant rate, has no knee and
    never stops. Knees follow :func:`~alflow.stopping.cutoffs.knee_point`'s rule: an interior
    point of the curve so far where it bends past its chord, never its first or last round.
    """

    name = "knee"

    def __init__(self, sensitivity: float = 1.0, hold_rounds: int = 2, min_rounds: int = 4):
        self.sensitivity = check_real("sensitivity", sensitivity, 0.0)
        self.hold_rounds = check_int("hold_rounds", hold_rounds, 0)
        self.min_rounds = check_int("min_rounds", min_rounds, 1)

    def knee(self, history: Sequence) -> float | None:
        """The knee (images labeled) of the defects-found curve so far, held or not; for logging."""
        if len(history) < self.min_rounds:
            return None
        x, y = _curve(history)
        return knee_point(x, y, self.sensitivity, curve="concave", direction="increasing")

    def should_stop(self, history: Sequence) -> bool:
        x, y = _curve(history)
        return held_knee(x, y, sensitivity=self.sensitivity, curve="concave", direction="increasing",
                         hold_rounds=self.hold_rounds, min_rounds=self.min_rounds) is not None


def _curve(history: Sequence) -> tuple[list[float], list[float]]:
    return [float(r.n_labeled) for r in history], [float(r.defects_found) for r in history]
