"""Distances, k-means++ seeding and Lloyd's k-means on embeddings, in float64 and seeded by a torch
generator: the batch strategies' shared geometry (core-set, BADGE, TypiClust).

k-means++ is the plain D² seeding of Arthur & Vassilvitskii (SODA 2007): each next center is drawn
with probability proportional to its squared distance to the nearest center chosen so far.
(scikit-learn's ``KMeans`` seeds with the *greedy* variant, 2 + ln k trials per center, so its
centers differ from these draw by draw; on separated clusters both reach the same partition.)
"""
from __future__ import annotations

import torch

_CHUNK = 2048  # rows per block of a distance matrix: bounds memory at _CHUNK x M float64


def sq_distances(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances (N x M, float64, >= 0) between the rows of ``x`` (N x D) and ``c`` (M x D),
    as ||x||² + ||c||² − 2 x·c (scikit-learn's ``euclidean_distances``)."""
    x, c = x.double(), c.double()
    return ((x * x).sum(1)[:, None] + (c * c).sum(1)[None, :] - 2.0 * x @ c.T).clamp_min_(0.0)


def min_sq_distance(x: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Squared distance (N, float64) of each row of ``x`` to its nearest row of ``centers``; +inf without centers."""
    if len(centers) == 0:
        return torch.full((len(x),), float("inf"), dtype=torch.float64)
    return torch.cat([sq_distances(x[i:i + _CHUNK], centers).min(dim=1).values
                      for i in range(0, len(x), _CHUNK)]) if len(x) else torch.empty(0, dtype=torch.float64)


def nearest_center(x: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Index (N, long) of each row's nearest center (ties: the lower index)."""
    return torch.cat([sq_distances(x[i:i + _CHUNK], centers).argmin(dim=1) for i in range(0, len(x), _CHUNK)])


def kmeans_pp(x: torch.Tensor, k: int, generator: torch.Generator, first: int | None
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """k-means++ seeding: ``k`` distinct row positions of ``x`` (N x D) in the order drawn, and the squared
    distance of each to the centers before it (float64; the first: its squared norm).

    ``first``: the first center's position (None: uniform with ``generator``). Each next one is drawn with
    probability D²(i) / Σ D²; when every unchosen row lies on a center (Σ D² = 0) it is drawn uniformly
    among the unchosen rows (scikit-activeml's ``Badge`` does the same).
    """
    x = x.double()
    k = min(k, len(x))
    chosen: list[int] = []
    d2_at_pick: list[float] = []
    d2 = torch.full((len(x),), float("inf"), dtype=torch.float64)
    for step in range(k):
        if step == 0:
            i = int(torch.randint(len(x), (1,), generator=generator)) if first is None else int(first)
            d2_at_pick.append(float((x[i] * x[i]).sum()))
        else:
            weights = d2.clone()
            weights[chosen] = 0.0
            if not float(weights.sum()) > 0.0:
                weights = torch.ones_like(weights)
                weights[chosen] = 0.0
            i = int(torch.multinomial(weights, 1, generator=generator))
            d2_at_pick.append(float(d2[i]))
        chosen.append(i)
        d2 = torch.minimum(d2, sq_distances(x, x[i:i + 1])[:, 0])
    return torch.tensor(chosen, dtype=torch.long), torch.tensor(d2_at_pick, dtype=torch.float64)


def kmeans(x: torch.Tensor, k: int, generator: torch.Generator, max_iterations: int) -> torch.Tensor:
    """Cluster labels (N, long, in 0..k−1) of the rows of ``x`` (N x D): Lloyd's algorithm from a k-means++
    seeding (first center uniform), until no label changes or ``max_iterations`` updates. A cluster that
    empties keeps its last center (it may stay empty). ValueError for k < 1 or k > N."""
    if not 1 <= k <= len(x):
        raise ValueError(f"k-means needs 1 <= k <= {len(x)} (the rows), got k={k}")
    x = x.double()
    seeds, _ = kmeans_pp(x, k, generator, None)
    centers = x[seeds].clone()
    labels = nearest_center(x, centers)
    for _ in range(max_iterations):
        counts = torch.bincount(labels, minlength=k)
        sums = torch.zeros_like(centers).index_add_(0, labels, x)
        filled = counts > 0
        centers[filled] = sums[filled] / counts[filled, None].double()
        new = nearest_center(x, centers)
        if torch.equal(new, labels):
            break
        labels = new
    return labels
