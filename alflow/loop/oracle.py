"""Who reveals labels: simulated from ground truth here; a human labeling loop fits the same call."""
from __future__ import annotations

from typing import Protocol

import torch


class Oracle(Protocol):
    def reveal(self, indices: torch.Tensor) -> torch.Tensor: ...


class SimulatedOracle:
    def __init__(self, labels: torch.Tensor):
        self.labels = labels
        self.queries = 0

    def reveal(self, indices: torch.Tensor) -> torch.Tensor:
        self.queries += len(indices)
        return self.labels[indices]
