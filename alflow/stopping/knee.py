"""Online knee stopping: Kneedle on the defects found so far, the paper's knee made usable online, and
Cormack & Grossman's slope-ratio knee (SIGIR 2016) beside it.

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

import numpy as np

from alflow.stopping.contract import StoppingCriterion
from alflow.stopping.cutoffs import knee_point
from alflow.stopping.validators import check_choice, check_int, check_real


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


def slope_ratio(x: Sequence[float], y: Sequence[float]) -> tuple[float, float] | None:
    """Cormack & Grossman's knee and slope ratio on a gain curve: ``(s, rho)``, or None without a knee.

    ``x``: images labeled after each round (strictly increasing), ``y``: defects found by then; the
    curve starts at the origin. With ``l = x[-1]`` and ``rel(.)`` the defects found, the knee ``s`` is
    the ``x`` of the round farthest above the line from ``(0, 0)`` to ``(l, rel(l))`` (ties: the earliest
    round; the last round is never the knee). That is the maximum of Kneedle's difference curve
    (Satopaa et al. 2011) on the curve from the origin, which C&G use to find the knee: min-max
    normalisation makes it ``rel(x)/rel(l) - x/l``, proportional to the height above that line.
    ``auto-stop-tar``'s knee method smooths the curve first and takes the last of Kneedle's knees. Then

        rho = (rel(s) / s) / ((1 + rel(l) - rel(s)) / (l - s))

    (Cormack & Grossman, "Engineering quality and reliability in technology-assisted review", SIGIR
    2016, the knee method; the 1 keeps the ratio finite when nothing was found after the knee).
    ``tarexp``'s ``KneeStoppingRule`` takes the largest ratio over all rounds instead of the ratio at
    the knee: on a concave curve both pick the same round. None: fewer than 2 rounds, no defect found,
    or no round above the line (a straight or convex curve).
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    if len(xs) < 2 or ys[-1] <= 0:
        return None
    last_x, last_y = xs[-1], ys[-1]
    above = ys[:-1] * last_x - xs[:-1] * last_y  # proportional to the distance above the chord
    i = int(np.argmax(above))
    if above[i] <= 0 or xs[i] <= 0:
        return None
    s, found = xs[i], ys[i]
    return float(s), float((found / s) / ((1.0 + last_y - found) / (last_x - s)))


class KneeStopping(StoppingCriterion):
    """Stop at the knee of defects found against images labeled: Kneedle held for ``hold_rounds``, or
    (``method="cormack_grossman"``) Cormack & Grossman's slope ratio with a minimum of evidence.

    ``kneedle``: Kneedle with ``curve="concave"``, ``direction="increasing"`` on ``(n_labeled,
    defects_found)``. Nothing is decided before ``min_rounds`` rounds (Kneedle needs at least 3
    points); a run that finds no defects, or finds them at a constant rate, has no knee and
    never stops. Knees follow :func:`~alflow.stopping.cutoffs.knee_point`'s rule: an interior
    point of the curve so far where it bends past its chord, never its first or last round.

    ``cormack_grossman``: stop once :func:`slope_ratio`'s ``rho >= slope_ratio + max(min_defects -
    found, 0)``, ``found`` the defects found so far, and at least ``min_labeled`` images are labeled:
    C&G's ``rho >= 156 - min(relret, 150)`` after 150 documents is ``slope_ratio = 6``, ``min_defects
    = 150``, ``min_labeled = 150`` -- with fewer defects found the rule demands a steeper knee, one more
    unit of ratio per missing defect. Also waits ``min_rounds`` rounds. Every key is required
    (defaults: the YAML).
    """

    name = "knee"
    METHODS = ("kneedle", "cormack_grossman")

    def __init__(self, method: str, sensitivity: float, hold_rounds: int, min_rounds: int, slope_ratio: float,
                 min_defects: int, min_labeled: int):
        self.method = check_choice("method", method, self.METHODS)
        self.sensitivity = check_real("sensitivity", sensitivity, 0.0)
        self.hold_rounds = check_int("hold_rounds", hold_rounds, 0)
        self.min_rounds = check_int("min_rounds", min_rounds, 1)
        self.slope_ratio = check_real("slope_ratio", slope_ratio, 0.0)
        self.min_defects = check_int("min_defects", min_defects, 0)
        self.min_labeled = check_int("min_labeled", min_labeled, 0)

    def knee(self, history: Sequence) -> float | None:
        """The knee (images labeled) of the defects-found curve so far, held or not; for logging."""
        if len(history) < self.min_rounds:
            return None
        x, y = _curve(history)
        if self.method == "cormack_grossman":
            found = slope_ratio(x, y)
            return None if found is None else found[0]
        return knee_point(x, y, self.sensitivity, curve="concave", direction="increasing")

    def required_ratio(self, defects_found: float) -> float:
        """The slope ratio C&G's rule demands with ``defects_found`` found."""
        return self.slope_ratio + max(self.min_defects - defects_found, 0.0)

    def should_stop(self, history: Sequence) -> bool:
        x, y = _curve(history)
        if self.method == "cormack_grossman":
            if len(history) < self.min_rounds or x[-1] < self.min_labeled:
                return False
            found = slope_ratio(x, y)
            return found is not None and found[1] >= self.required_ratio(y[-1])
        return held_knee(x, y, sensitivity=self.sensitivity, curve="concave", direction="increasing",
                         hold_rounds=self.hold_rounds, min_rounds=self.min_rounds) is not None


def _curve(history: Sequence) -> tuple[list[float], list[float]]:
    return [float(r.n_labeled) for r in history], [float(r.defects_found) for r in history]
