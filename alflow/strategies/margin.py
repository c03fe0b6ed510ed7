"""Margin sampling (Scheffer, Decomain & Wrobel, IDA 2001): the smallest gap between the two most
probable classes first. Priority 1 − margin (in [0, 1]); score: the margin p_(1) − p_(2)."""
from __future__ import annotations

import torch

from alflow.strategies.base import ScoredPool, Strategy
from alflow.strategies.sampling import BatchSampling


class MarginSampling(Strategy):
    name = "margin"
    needs = frozenset({"probs"})

    def __init__(self, sampling: str, temperature: float):
        """``sampling``, ``temperature``: see ``BatchSampling`` (``conf/strategy/margin.yaml``)."""
        self.sampling = BatchSampling(sampling, temperature)

    def priority(self, pool: ScoredPool, generator: torch.Generator):
        top2 = pool.unlabeled.probs.double().topk(2, dim=1).values
        margin = top2[:, 0] - top2[:, 1]
        return 1.0 - margin, margin
