"""TypiClust (Hacohen, Dekel & Weinshall, "Active Learning on a Budget: Opposite Strategies Suit High
and Low Budgets", ICML 2022): the most typical image of each of the largest uncovered clusters.

For a batch of n with L images labeled: k-means (``kmeans``, seeded by the round's generator) splits
the embeddings of labeled and unlabeled images together into K = min(L + n, ``max_clusters``, all
images) clusters; a cluster holding a labeled image is covered. Repeatedly, the largest uncovered
cluster not yet used (ties: the lower cluster id) gives its most typical image,

    typicality(x) = k / Σ_{j ∈ kNN(x)} |x − x_j|    (k = min(``k_neighbors``, cluster size − 1);
                                                     the cluster's members only; a singleton: 1)

i.e. the inverse mean distance to its k nearest neighbours in the cluster (ties: the first in the
pool). Score: the typicality. When more picks are asked for than there are uncovered clusters
(only with ``max_clusters`` binding, or k-means leaving clusters empty), the next cluster is the one
with the fewest labeled and picked images, then the largest (the paper's code). Typicality follows
scikit-activeml's ``TypiClust`` (Euclidean, a 1e-7 guard in the sum); the paper's own code uses
squared distances, k = 20 and clusters of at least 5 images. Reference test: the same picks as
scikit-activeml's ``TypiClust`` given the same clustering; our k-means gives scikit-learn's
partition on separated clusters (``tests/test_strategies_reference.py``).

With nothing labeled it picks the first batch (``al.initial_strategy=typiclust``), on the embeddings
of the job's pretrained backbone (``model.pretrained=ssl``: the self-supervised ones); see
``AcquisitionLoop``. Later rounds use the current model's penultimate embeddings.
"""
from __future__ import annotations

import torch

from alflow.strategies.base import ScoredPool, Selection, Strategy, empty_selection
from alflow.strategies.kmeans import kmeans, sq_distances

_EPS = 1e-7  # scikit-activeml's guard against a zero distance sum (duplicates)


def typicality(x: torch.Tensor, k: int) -> torch.Tensor:
    """k / (sum of the distances to the k nearest other rows + 1e-7) (M, float64) for ``x`` (M x D);
    k is capped at M − 1; a single row has typicality 1."""
    if len(x) == 1:
        return torch.ones(1, dtype=torch.float64)
    k = min(k, len(x) - 1)
    sums = []
    for start in range(0, len(x), 1024):
        d = sq_distances(x[start:start + 1024], x).sqrt()
        sums.append(d.topk(k + 1, dim=1, largest=False).values.sum(dim=1))  # includes the row itself (0)
    return k / (torch.cat(sums) + _EPS)


def typiclust_picks(unlabeled: torch.Tensor, labeled: torch.Tensor, n: int, k_neighbors: int,
                    labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions (long) in ``unlabeled`` (N x D) of ``min(n, N)`` picks and their typicality, given the cluster
    ``labels`` (N + L, long) of ``cat([unlabeled, labeled])``."""
    x = torch.cat([unlabeled, labeled]).double()
    n_unlabeled, n_clusters = len(unlabeled), int(labels.max()) + 1
    sizes = torch.bincount(labels, minlength=n_clusters)
    taken = torch.bincount(labels[n_unlabeled:], minlength=n_clusters)  # labeled, then picked, per cluster
    open_ = torch.ones(n_clusters, dtype=torch.bool)  # uncovered and not yet used
    open_[taken > 0] = False
    picked = torch.zeros(len(x), dtype=torch.bool)
    picked[n_unlabeled:] = True  # labeled rows are never candidates
    picks, scores = [], []
    for _ in range(min(n, n_unlabeled)):
        has_candidates = torch.bincount(labels[~picked], minlength=n_clusters) > 0
        if bool((open_ & has_candidates).any()):
            size = torch.where(open_ & has_candidates, sizes, -1)
            cluster = int(torch.argmax(size))  # largest uncovered; ties: lower id
        else:  # fewest labeled + picked, then largest, then lower id
            key = torch.where(has_candidates, taken * (len(x) + 1) - sizes, torch.iinfo(torch.long).max)
            cluster = int(torch.argmin(key))
        members = torch.nonzero(labels == cluster).flatten()
        typ = typicality(x[members], k_neighbors)
        typ[picked[members]] = -float("inf")
        best = int(torch.argmax(typ))
        i = int(members[best])
        picks.append(i)
        scores.append(float(typ[best]))
        picked[i] = True
        taken[cluster] += 1
        open_[cluster] = False
    return torch.tensor(picks, dtype=torch.long), torch.tensor(scores, dtype=torch.float64)


class TypiClust(Strategy):
    name = "typiclust"
    needs = frozenset({"embeddings"})
    cold_start = True

    def __init__(self, k_neighbors: int, max_clusters: int, kmeans_iterations: int):
        """``k_neighbors``, ``max_clusters``, ``kmeans_iterations`` (Lloyd updates at most): see the module;
        defaults in ``conf/strategy/typiclust.yaml``. ValueError names the ``strategy.`` key."""
        for key, value in (("k_neighbors", k_neighbors), ("max_clusters", max_clusters),
                           ("kmeans_iterations", kmeans_iterations)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"strategy.{key} must be an integer >= 1, got {value!r}")
        self.k_neighbors, self.max_clusters, self.kmeans_iterations = k_neighbors, max_clusters, kmeans_iterations

    def select(self, pool: ScoredPool, n: int, generator: torch.Generator) -> Selection:
        """The most typical image of each of the ``n`` largest uncovered clusters (see the module)."""
        if n <= 0 or len(pool.unlabeled) == 0:
            return empty_selection()
        unlabeled = pool.unlabeled.embeddings.double()
        labeled = pool.labeled.embeddings
        labeled = torch.empty(0, unlabeled.shape[1], dtype=torch.float64) if labeled is None else labeled.double()
        total = len(unlabeled) + len(labeled)
        n_clusters = min(len(labeled) + n, self.max_clusters, total)
        labels = kmeans(torch.cat([unlabeled, labeled]), n_clusters, generator, self.kmeans_iterations)
        order, scores = typiclust_picks(unlabeled, labeled, n, self.k_neighbors, labels)
        return Selection(pool.unlabeled.indices[order], scores)
