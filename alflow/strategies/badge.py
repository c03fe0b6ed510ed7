"""BADGE (Ash, Zhang, Krishnamurthy, Langford & Agarwal, ICLR 2020): k-means++ seeding on gradient
embeddings, so the batch is both uncertain (long gradients) and diverse (far apart).

Gradient embedding of image i: the gradient of the cross-entropy at the model's own prediction
ŷ_i = argmax p_i with respect to the last layer's weights,

    g_i = (p_i − onehot(ŷ_i)) ⊗ e_i        (C·D values, class-major; e_i the penultimate embedding, D)

The first pick is the longest g_i (ties: the first in the pool); each next one is drawn with
probability D²(i) / Σ D², D(i) the distance to the nearest pick so far (k-means++, with the round's
generator). Score: D² at the pick (the first: |g|²). Reference: scikit-activeml's ``Badge`` (same
first pick, same D² distribution at every step given the same earlier picks; its draws come from
numpy, ours from torch: ``tests/test_strategies_reference.py``).
"""
from __future__ import annotations

import torch

from alflow.strategies.base import ScoredPool, Selection, Strategy, empty_selection
from alflow.strategies.kmeans import kmeans_pp


def gradient_embeddings(probs: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
    """g = (p − onehot(argmax p)) ⊗ e (N x C·D, float64) for ``probs`` (N x C) and ``embeddings`` (N x D)."""
    p = probs.double()
    factor = p - torch.nn.functional.one_hot(p.argmax(dim=1), p.shape[1]).double()
    return (factor[:, :, None] * embeddings.double()[:, None, :]).flatten(1)


class Badge(Strategy):
    name = "badge"
    needs = frozenset({"probs", "embeddings"})

    def select(self, pool: ScoredPool, n: int, generator: torch.Generator) -> Selection:
        """k-means++ seeding of ``n`` centers on the gradient embeddings (see the module)."""
        if n <= 0 or len(pool.unlabeled) == 0:
            return empty_selection()
        g = gradient_embeddings(pool.unlabeled.probs, pool.unlabeled.embeddings)
        first = int(torch.argmax((g * g).sum(dim=1)))
        order, d2 = kmeans_pp(g, n, generator, first)
        return Selection(pool.unlabeled.indices[order], d2)
