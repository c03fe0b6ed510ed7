"""What a strategy sees (the model's outputs for the pool) and what it returns."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from alflow.explain import CamSettings

log = logging.getLogger(__name__)


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
        """The ``n`` unlabeled images of highest priority, best first.

        Ties go to the image that comes first in the pool (a stable sort, so runs repeat exactly),
        except when *every* unlabeled image has the same priority and only some are taken: the
        strategy has not ranked anything, and the pool's index order would pass for a ranking. Then
        a warning names the strategy and the value, and the ``n`` images are drawn at random with
        ``generator`` (random sampling for that round); the recorded scores stay the strategy's.
        """
        if n <= 0 or len(pool.unlabeled) == 0:
            return Selection(torch.empty(0, dtype=torch.long), torch.empty(0))
        priority, scores = self.priority(pool, generator)
        priority = priority.double()
        if n < len(priority) and bool((priority == priority[0]).all()):
            log.warning("strategy %s gave all %d unlabeled images the same priority (%s): it ranks nothing this "
                        "round, so %d of them are drawn at random instead", self.name, len(priority),
                        float(priority[0]), n)
            order = torch.randperm(len(priority), generator=generator)[:n]
        else:
            order = torch.sort(priority, descending=True, stable=True).indices[:n]
        return Selection(pool.unlabeled.indices[order], scores[order].double())
