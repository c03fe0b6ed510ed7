"""Who reveals labels: the only source of labels the loop has.

``SimulatedOracle`` answers from the dataset's ground truth, and because it holds every label it
can also measure what only a simulation can know: the defects still hidden
in the unlabeled pool and the test AUROC (``GroundTruthOracle``). A person answering through the
labeling app is an ``Oracle`` without that side; the loop then records those two numbers as NaN.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from alflow.data import Pool
from alflow.loop.model_version import auroc


class Oracle(Protocol):
    def reveal(self, indices: torch.Tensor) -> torch.Tensor:
        """Labels (int64, 0 good / 1 defect) of the dataset images ``indices`` (K), in that order; -1 for
        an image the oracle leaves unanswered (a person unsure: it stays in the pool)."""
        ...


@runtime_checkable
class GroundTruthOracle(Oracle, Protocol):
    """An oracle that knows every label, so it can also measure what only a simulation can know."""

    def defects_left(self, pool: Pool) -> int: ...

    def test_auroc(self, test: torch.Tensor, test_probs: torch.Tensor) -> float: ...


class SimulatedOracle:
    """Reveals ``labels[indices]`` (``labels``: N int64 ground truth of the whole dataset)."""

    def __init__(self, labels: torch.Tensor):
        self.labels = labels

    def reveal(self, indices: torch.Tensor) -> torch.Tensor:
        return self.labels[indices]

    def defects_left(self, pool: Pool) -> int:
        """Simulation only: ground-truth defects among ``pool``'s unlabeled images."""
        return int(self.labels[pool.unlabeled].sum())

    def test_auroc(self, test: torch.Tensor, test_probs: torch.Tensor) -> float:
        """Simulation only: AUROC of ``test_probs`` (len(test) x 2 softmax) against ``labels[test]``."""
        return auroc(test_probs, self.labels[test])
