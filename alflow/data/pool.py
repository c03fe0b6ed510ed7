"""Pool state: for every pool image, the round it was labeled in and the label the oracle revealed.

As baal's ``labelled_map``: one array of "labeled in round r" (-1 = still unlabeled), and beside it
the revealed label (-1 = not revealed). Everything label-based after a query (training targets,
defects found, label-using stopping signals) reads the revealed labels here, never ground truth.
"""
from __future__ import annotations

import torch

UNLABELED = -1


class Pool:
    """The unlabeled pool of one fold and what has been learned about it.

    ``indices``: dataset indices of the pool images (int64, length P), in pool order.
    ``labeled_round``: P int64, the round each image was labeled in, -1 if not yet.
    ``revealed``: P int64, the label the oracle revealed (0 good, 1 defect), -1 if not yet.
    """

    def __init__(self, indices: torch.Tensor):
        self.indices = indices.clone()
        self.labeled_round = torch.full((len(indices),), UNLABELED, dtype=torch.int64)
        self.revealed = torch.full((len(indices),), UNLABELED, dtype=torch.int64)
        self._position = {int(v): i for i, v in enumerate(self.indices.tolist())}

    @property
    def labeled(self) -> torch.Tensor:
        """Dataset indices of the labeled images, in pool order (not the order they were labeled in)."""
        return self.indices[self.labeled_round >= 0]

    @property
    def unlabeled(self) -> torch.Tensor:
        """Dataset indices of the images still unlabeled, in pool order."""
        return self.indices[self.labeled_round < 0]

    @property
    def n_labeled(self) -> int:
        return int((self.labeled_round >= 0).sum())

    @property
    def n_unlabeled(self) -> int:
        return len(self.indices) - self.n_labeled

    @property
    def defects_found(self) -> int:
        """Defects among the revealed labels."""
        return int((self.revealed == 1).sum())

    def labeled_up_to(self, round_index: int) -> torch.Tensor:
        """Dataset indices labeled in rounds 0..``round_index``, in pool order."""
        return self.indices[(self.labeled_round >= 0) & (self.labeled_round <= round_index)]

    def labels_of(self, dataset_indices: torch.Tensor) -> torch.Tensor:
        """The revealed labels (int64) of ``dataset_indices``; ValueError for an index outside the pool
        or one whose label was never revealed."""
        positions = self._positions(dataset_indices)
        labels = self.revealed[positions]
        if (labels < 0).any():
            missing = dataset_indices[labels < 0][:5].tolist()
            raise ValueError(f"no label revealed for pool image(s) {missing}")
        return labels

    def mark_labeled(self, dataset_indices: torch.Tensor, round_index: int, labels: torch.Tensor) -> None:
        """Record that ``dataset_indices`` (K) were labeled in ``round_index`` with ``labels`` (K, 0 or 1).

        ValueError, naming the index, for an image outside the pool or labeled before, or a
        label count that does not match.
        """
        if len(labels) != len(dataset_indices):
            raise ValueError(f"{len(dataset_indices)} images but {len(labels)} labels for round {round_index}")
        positions = self._positions(dataset_indices)
        if len(set(positions.tolist())) != len(positions):
            raise ValueError(f"round {round_index} names an image twice: {dataset_indices.tolist()}")
        for idx, p in zip(dataset_indices.tolist(), positions.tolist()):
            if self.labeled_round[p] >= 0:
                raise ValueError(f"index {idx} was already labeled in round {int(self.labeled_round[p])}")
        self.labeled_round[positions] = round_index
        self.revealed[positions] = labels.to(torch.int64)

    def relabel(self, dataset_indices: torch.Tensor, labels: torch.Tensor) -> None:
        """Replace the revealed labels of already labeled ``dataset_indices`` with ``labels`` (0 or 1): an
        oracle's correction (a person who changed their mind). ValueError for an image never labeled."""
        positions = self._positions(dataset_indices)
        if (self.labeled_round[positions] < 0).any():
            raise ValueError(f"cannot correct images never labeled: {dataset_indices.tolist()}")
        self.revealed[positions] = labels.to(torch.int64)

    def _positions(self, dataset_indices: torch.Tensor) -> torch.Tensor:
        positions = []
        for idx in dataset_indices.tolist():
            p = self._position.get(int(idx))
            if p is None:
                raise ValueError(f"index {idx} is not in the pool")
            positions.append(p)
        return torch.tensor(positions, dtype=torch.int64)
