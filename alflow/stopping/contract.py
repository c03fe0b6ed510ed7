"""The stopping contract the loop is typed against (after small-text's ``StoppingCriterion``).

A criterion is stateless: ``should_stop(history)`` reads only the rounds recorded so far
(``alflow.records.RoundRecord``), so a finished run can be replayed and a resumed job asks the
same question as an uninterrupted one. A criterion with a label budget also says how many
images it still allows, so the loop trims the last batch to it.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from alflow.records import RoundRecord


class StoppingCriterion(ABC):
    """Subclasses set ``name`` (the ``stopping=`` config name) and implement ``should_stop``."""

    name: ClassVar[str]

    @abstractmethod
    def should_stop(self, history: Sequence[RoundRecord]) -> bool:
        """True once labeling may stop, judged after the last round of ``history`` (oldest first)."""

    def extra_labels(self, history: Sequence[RoundRecord]) -> int:
        """Labels the criterion itself has asked the oracle for over ``history`` (a verification sample),
        beyond the pool's ``n_labeled``; they count as labels spent. 0 for most criteria."""
        return 0

    def remaining(self, n_labeled: int) -> int | None:
        """Images that may still be labeled with ``n_labeled`` labeled; None: no budget."""
        return None
