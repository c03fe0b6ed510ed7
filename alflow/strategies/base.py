"""What a strategy sees (the model's outputs for the pool) and what it returns.

Two kinds of strategy share one contract, ``select(pool, n, generator) -> Selection``:

* a *scoring* strategy gives every unlabeled image a priority (``priority``); ``select`` takes the
  ``n`` highest, or samples ``n`` in proportion to them (``BatchSampling``: ``strategy.sampling``);
* a *batch* strategy (core-set, BADGE, TypiClust) chooses a set whose members depend on each
  other, so it overrides ``select`` itself; every random draw it makes comes from ``generator``,
  so its picks repeat for the same inputs and seed.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from alflow.explain import CamSettings
from alflow.strategies.sampling import BatchSampling

log = logging.getLogger(__name__)


@dataclass
class ModelOutputs:
    """One scoring pass's outputs for a set of images, row i for dataset index ``indices[i]``."""

    indices: torch.Tensor
    probs: torch.Tensor | None = None  # N x 2 softmax
    embeddings: torch.Tensor | None = None  # N x D penultimate features
    cams: torch.Tensor | None = None  # N x 1 x S x S GradCAM maps
    mc_probs: torch.Tensor | None = None  # T x N x 2 softmax under T MC-dropout masks of the head (McDropout)

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


@dataclass(frozen=True)
class McDropout:
    """Monte Carlo dropout on the classification head, switched on only for scoring (Gal & Ghahramani,
    ICML 2016; Gal, Islam & Ghahramani, ICML 2017 for BALD on images).

    The scoring pass applies ``samples`` dropout masks (keep probability 1 - ``p``, inverted scaling) to
    the penultimate features before the final linear layer and returns the ``samples x N x 2``
    softmax (``ModelOutputs.mc_probs``). The masks are drawn once per pass from ``seed`` and shared by
    every image ("consistent MC dropout", Kirsch et al., NeurIPS 2019): sample t is one model of the
    approximate posterior, and the result does not depend on how the pool is cut into batches.
    The model trains without dropout; only the scoring pass uses it. ValueError names
    ``strategy.mc_samples`` or ``strategy.dropout``.
    """

    samples: int
    p: float
    seed: int

    def __post_init__(self) -> None:
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples < 2:
            raise ValueError(f"strategy.mc_samples must be an integer >= 2, got {self.samples!r}")
        if not 0.0 < self.p < 1.0:
            raise ValueError(f"strategy.dropout must be in (0, 1), got {self.p!r}")

    def masks(self, features: int) -> torch.Tensor:
        """``samples x features`` float32 masks: 0 or 1 / (1 - p)."""
        generator = torch.Generator().manual_seed(self.seed)
        keep = torch.rand(self.samples, features, generator=generator) >= self.p
        return keep.float() / (1.0 - self.p)


class Strategy:
    """A choice of ``n`` unlabeled images from what the model said about the pool.

    Subclasses set ``name`` and ``needs`` (a subset of probs, embeddings, cams, mc_probs). A scoring
    strategy implements ``priority``: one value per unlabeled image, higher = labeled sooner, plus
    the score recorded in the selection log; it takes ``sampling`` (a ``BatchSampling``, or None
    for plain top-k). A batch strategy overrides ``select``. ``cold_start``: the strategy can pick
    the first batch, with nothing labeled, from embeddings alone (``al.initial_strategy``).
    """

    name = "base"
    needs: frozenset[str] = frozenset()
    cam_settings: CamSettings | None = None
    mc_dropout: McDropout | None = None
    sampling: BatchSampling | None = None
    cold_start = False

    def priority(self, pool: ScoredPool, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError(f"strategy {self.name} chooses a set: call select()")

    def select(self, pool: ScoredPool, n: int, generator: torch.Generator) -> Selection:
        """The ``n`` unlabeled images of highest priority, best first (``sampling`` None or ``topk``),
        or ``n`` drawn without replacement in proportion to a function of the priority, in the order
        drawn (the other ``sampling`` modes; see ``BatchSampling``), with ``generator``.

        Top-k ties go to the image that comes first in the pool (a stable sort, so runs repeat
        exactly), except when *every* unlabeled image has the same priority and only some are taken:
        the strategy has not ranked anything, and the pool's index order would pass for a ranking.
        Then a warning names the strategy and the value, and the ``n`` images are drawn at random with
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
        elif self.sampling is None:
            order = torch.sort(priority, descending=True, stable=True).indices[:n]
        else:
            order = self.sampling.order(priority, n, generator, self.name)
        return Selection(pool.unlabeled.indices[order], scores[order].double())


def empty_selection() -> Selection:
    return Selection(torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.float64))
