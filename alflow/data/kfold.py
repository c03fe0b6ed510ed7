"""Hydra target of the ``fold`` group: which fold of a stratified k-fold split this job uses."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from alflow.data.folds import FoldSplit, fold_split


@dataclass(frozen=True)
class KFold:
    """Stratified k-fold: test = fold ``index``, validation = ``(index + 1) mod k``, pool = the rest.

    Settings from ``conf/fold/kfold.yaml`` (their one home)."""

    k: int
    index: int
    seed: int

    def split(self, labels: torch.Tensor) -> FoldSplit:
        return fold_split(labels, self.k, self.index, self.seed)
