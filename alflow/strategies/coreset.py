"""Core-set (Sener & Savarese, ICLR 2018, Algorithm 1 "k-Center-Greedy"): cover the pool in embedding space.

The labeled images are the initial centers; each pick is the unlabeled image farthest (Euclidean, on
the penultimate embeddings, N x D) from its nearest center, which then becomes a center. Score: that
distance at the moment of the pick (non-increasing along the batch). Ties go to the image that
comes first in the pool. With nothing labeled (``al.initial_strategy=coreset``) the first center is
drawn uniformly with the round's generator. Reference: scikit-activeml's ``CoreSet`` (same picks;
``tests/test_strategies_reference.py``).
"""
from __future__ import annotations

import torch

from alflow.strategies.base import ScoredPool, Selection, Strategy, empty_selection
from alflow.strategies.kmeans import min_sq_distance, sq_distances


def k_center_greedy(unlabeled: torch.Tensor, labeled: torch.Tensor, n: int, generator: torch.Generator
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions (long) of ``min(n, N)`` rows of ``unlabeled`` (N x D) in pick order, and their distance
    (float64) to the nearest center at the pick; ``labeled`` (L x D, L may be 0) are the first centers."""
    x = unlabeled.double()
    d2 = min_sq_distance(x, labeled.double())
    picks, distances = [], []
    for step in range(min(n, len(x))):
        if step == 0 and len(labeled) == 0:
            i = int(torch.randint(len(x), (1,), generator=generator))
        else:
            i = int(torch.argmax(d2))  # the first of equal maxima
        picks.append(i)
        distances.append(float(d2[i].clamp_min(0.0).sqrt()) if torch.isfinite(d2[i]) else float("inf"))
        d2 = torch.minimum(d2, sq_distances(x, x[i:i + 1])[:, 0])
        d2[picks] = -1.0  # chosen: never again
    return torch.tensor(picks, dtype=torch.long), torch.tensor(distances, dtype=torch.float64)


class CoreSet(Strategy):
    name = "coreset"
    needs = frozenset({"embeddings"})
    cold_start = True

    def select(self, pool: ScoredPool, n: int, generator: torch.Generator) -> Selection:
        """The greedy k-center batch (see the module); nothing is sampled unless nothing is labeled."""
        if n <= 0 or len(pool.unlabeled) == 0:
            return empty_selection()
        labeled = pool.labeled.embeddings
        if labeled is None:
            labeled = torch.empty(0, pool.unlabeled.embeddings.shape[1])
        order, distances = k_center_greedy(pool.unlabeled.embeddings, labeled, n, generator)
        return Selection(pool.unlabeled.indices[order], distances)
