"""Random sampling, the paper's baseline. Score: the random key the image drew."""
from __future__ import annotations

import torch

from alflow.strategies.base import ScoredPool, Strategy


class RandomSampling(Strategy):
    name = "random"
    needs = frozenset()

    def priority(self, pool: ScoredPool, generator: torch.Generator):
        keys = torch.rand(len(pool.unlabeled), generator=generator, dtype=torch.float64)
        return keys, keys
