"""Entropy sampling (Shannon entropy of the predicted class distribution, Settles 2009 §3.1): the most
uncertain first. Priority and score: H(p) = −Σ_c p_c ln p_c in nats (0 ln 0 = 0), in [0, ln 2]."""
from __future__ import annotations

import torch

from alflow.strategies.base import ScoredPool, Strategy
from alflow.strategies.sampling import BatchSampling


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy in nats over the last axis of ``probs`` (... x C), float64; 0 ln 0 = 0."""
    p = probs.double()
    return -torch.special.xlogy(p, p).sum(dim=-1)


class EntropySampling(Strategy):
    name = "entropy"
    needs = frozenset({"probs"})

    def __init__(self, sampling: str, temperature: float):
        """``sampling``, ``temperature``: see ``BatchSampling`` (``conf/strategy/entropy.yaml``)."""
        self.sampling = BatchSampling(sampling, temperature)

    def priority(self, pool: ScoredPool, generator: torch.Generator):
        h = entropy(pool.unlabeled.probs)
        return h, h
