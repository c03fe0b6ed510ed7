"""Uncertainty sampling as in the paper: 1 − top softmax probability, highest first. Score: that value."""
from __future__ import annotations

import torch

from alflow.strategies.base import ScoredPool, Strategy
from alflow.strategies.sampling import BatchSampling


def least_confidence(probs: torch.Tensor) -> torch.Tensor:
    """1 − max_c p_c (N, float64) of ``probs`` (N x C)."""
    return 1.0 - probs.double().max(dim=1).values


class UncertaintySampling(Strategy):
    name = "uncertainty"
    needs = frozenset({"probs"})

    def __init__(self, sampling: str, temperature: float):
        """``sampling``, ``temperature``: see ``BatchSampling`` (``conf/strategy/uncertainty.yaml``)."""
        self.sampling = BatchSampling(sampling, temperature)

    def priority(self, pool: ScoredPool, generator: torch.Generator):
        uncertainty = least_confidence(pool.unlabeled.probs)
        return uncertainty, uncertainty
