"""What a strategy sees (the model's outputs for the pool) and what it returns."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from alflow.explain import CamSettings


@dataclass
class ModelOutputs:
    """One scoring pass's outputs for a set of images, row i for dataset index ``indices[i]``."""

    indices: torch.Tensor
    probs: torch.Tensor | None = None  # N x 2 softmax
    embeddings: torch.Tensor | None = None  # N x D penultimate features
    cams: torch.Tensor | None = None  # N x 1 x S x S GradCAM maps

    def __len__(self) -> int:
        return len(self.indices)


@dataclass
class ScoredPool:
    unlabeled: ModelOutputs
    labeled: ModelOutputs


@dataclass
class Selection:
    """Chosen dataset indices, best first, with the strategy's score for each (see each strategy)."""

    indices: torch.Tensor
    scores: torch.Tensor


class Strategy:
    """A ranking of the unlabeled pool from what the model said about it.

    Subclasses set ``name`` and ``needs`` (a subset of probs, embeddings, cams) and
    implement ``priority``: one value per unlabeled image, higher = labeled sooner,
    plus the score recorded in the selection log.
    """

    name = "base"
    needs: frozenset[str] = frozenset()
    cam_settings: CamSettings | None = None

    def priority(self, pool: ScoredPool, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def select(self, pool: ScoredPool, n: int, generator: torch.Generator) -> Selection:
        if n <= 0 or len(pool.unlabeled) == 0:
            return Selection(torch.empty(0, dtype=torch.long), torch.empty(0))
        priority, scores = self.priority(pool, generator)
        # Stable sort: ties go to the image that comes first in the pool, so runs repeat exactly.
        order = torch.sort(priority.double(), descending=True, stable=True).indices[:n]
        return Selection(pool.unlabeled.indices[order], scores[order].double())
