"""Online stopping criteria: ``should_stop(history)`` after each round."""
from __future__ import annotations

from collections.abc import Sequence

from alflow.records import RoundRecord
from alflow.stopping.contract import StoppingCriterion


class NoStopping(StoppingCriterion):
    """Label until the pool is exhausted (the paper's protocol)."""

    name = "none"

    def should_stop(self, history: Sequence[RoundRecord]) -> bool:
        return False


class BudgetStopping(StoppingCriterion):
    """Stop once ``max_labeled`` images are labeled; the last batch is trimmed to the budget."""

    name = "budget"

    def __init__(self, max_labeled: int):
        if max_labeled < 1:
            raise ValueError(f"stopping.max_labeled must be >= 1, got {max_labeled}")
        self.max_labeled = max_labeled

    def should_stop(self, history: Sequence[RoundRecord]) -> bool:
        return bool(history) and history[-1].n_labeled >= self.max_labeled

    def remaining(self, n_labeled: int) -> int:
        return max(self.max_labeled - n_labeled, 0)
