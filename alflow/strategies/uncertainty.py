"""Uncertainty sampling as in the paper: 1 − top softmax probability, highest first. Score: that value."""
from __future__ import annotations

import torch

from alflow.strategies.base import ScoredPool, Strategy


class UncertaintySampling(Strategy):
    name = "uncertainty"
    needs = frozenset({"probs"})

    def priority(self, pool: ScoredPool, generator: torch.Generator):
        uncertainty = 1.0 - pool.unlabeled.probs.double().max(dim=1).values
        return uncertainty, uncertainty
