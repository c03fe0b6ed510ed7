"""Pool state: for every pool image, the round it was labeled in (-1 = still unlabeled)."""
from __future__ import annotations

import torch


class Pool:
    def __init__(self, indices: torch.Tensor):
        self.indices = indices.clone()
        self.labeled_round = torch.full((len(indices),), -1, dtype=torch.int64)

    @property
    def labeled(self) -> torch.Tensor:
        """Dataset indices of labeled images, in the order they were labeled within rounds."""
        return self.indices[self.labeled_round >= 0]

    @property
    def unlabeled(self) -> torch.Tensor:
        return self.indices[self.labeled_round < 0]

    @property
    def n_labeled(self) -> int:
        return int((self.labeled_round >= 0).sum())

    @property
    def n_unlabeled(self) -> int:
        return len(self.indices) - self.n_labeled

    def labeled_in(self, round_index: int) -> torch.Tensor:
        return self.indices[self.labeled_round == round_index]

    def mark_labeled(self, dataset_indices: torch.Tensor, round_index: int) -> None:
        position = {int(v): i for i, v in enumerate(self.indices.tolist())}
        for idx in dataset_indices.tolist():
            p = position.get(int(idx))
            if p is None:
                raise ValueError(f"index {idx} is not in the pool")
            if self.labeled_round[p] >= 0:
                raise ValueError(f"index {idx} was already labeled in round {int(self.labeled_round[p])}")
            self.labeled_round[p] = round_index
