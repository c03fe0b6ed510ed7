"""Hydra target of the ``fold`` group: which fold of a stratified k-fold split this job uses."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from alflow.data.folds import FoldSplit, fold_split


@dataclass(frozen=True)
class KFold:
    k: int = 10
    index: int = 0
    seed: int = 0

    def split(self, labels: torch.Tensor) -> FoldSplit:
        return fold_split(labels, self.k, self.index, self.seed)
