"""Core-set, BADGE and TypiClust against scikit-activeml (``skactiveml.pool``), the reference implementation,
on fixed embeddings and probabilities. Where the definitions differ, the test says how and asserts the
part that agrees:

* CoreSet: the same algorithm (greedy k-center, labeled images as first centers, Euclidean); both take
  the first of equal maxima except scikit-activeml breaks ties at random (``rand_argmax``): none occur
  on continuous data. With nothing labeled scikit-activeml's first center is a random draw, ours a draw
  from the round's torch generator: given the same first center the rest agree.
* Badge: the same gradient embedding and the same first pick (the longest); later picks are D² draws,
  scikit-activeml's from numpy, ours from torch. The D² differ in one point: scikit-activeml starts its
  running minimum from the squared norms |g|² (``_d_2`` of the first step), so the origin acts as one
  more center; ours, as Ash et al.'s ``init_centers``, measures the distance to the picks only. Given
  the same earlier picks, our D² with the origin added is scikit-activeml's distribution at every
  step (and our draws follow ours, checked by frequency).
* TypiClust: the same cluster choice (largest uncovered) and typicality (k / Σ kNN distances within the
  cluster, 1e-7 guard); k-means is scikit-learn's in scikit-activeml (greedy k-means++), ours plain
  k-means++ in torch: on separated clusters both find the same partition and then the same picks; on
  any data, given our clustering, scikit-activeml picks what we pick.
"""
import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans

skactiveml = pytest.importorskip("skactiveml")
from skactiveml.base import SkactivemlClassifier  # noqa: E402
from skactiveml.pool import Badge as SkBadge  # noqa: E402
from skactiveml.pool import CoreSet as SkCoreSet  # noqa: E402
from skactiveml.pool import TypiClust as SkTypiClust  # noqa: E402

from alflow.strategies import Badge, CoreSet, ModelOutputs, ScoredPool, TypiClust  # noqa: E402
from alflow.strategies.badge import gradient_embeddings  # noqa: E402
from alflow.strategies.kmeans import kmeans, min_sq_distance  # noqa: E402
from alflow.strategies.typiclust import typiclust_picks  # noqa: E402


def pool_of(unlabeled, labeled, probs=None):
    n, m = len(unlabeled), len(labeled)
    return ScoredPool(
        unlabeled=ModelOutputs(indices=torch.arange(100, 100 + n), embeddings=torch.as_tensor(unlabeled),
                               probs=None if probs is None else torch.as_tensor(probs)),
        labeled=ModelOutputs(indices=torch.arange(m),
                             embeddings=torch.as_tensor(labeled).reshape(m, np.shape(unlabeled)[1])))


def sk_y(n_unlabeled, n_labeled):
    """scikit-activeml's label vector for X = [unlabeled; labeled]: NaN = unlabeled."""
    return np.concatenate([np.full(n_unlabeled, np.nan), np.arange(n_labeled) % 2.0])


# ------------------------------------------------------------------------------------------------ core-set

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_coreset_picks_what_scikit_activeml_picks(seed):
    rng = np.random.default_rng(seed)
    unlabeled, labeled = rng.normal(size=(80, 16)), rng.normal(size=(12, 16))
    X = np.concatenate([unlabeled, labeled])
    expected, utilities = SkCoreSet(random_state=seed).query(X, sk_y(80, 12), batch_size=10, return_utilities=True)
    sel = CoreSet().select(pool_of(unlabeled, labeled), 10, torch.Generator().manual_seed(seed))
    assert (sel.indices - 100).tolist() == expected.tolist()
    # our score is the distance at the pick: scikit-activeml's utility of the picked image at that step
    assert np.allclose(sel.scores.numpy(), utilities[np.arange(10), expected], rtol=1e-9)


def test_coreset_cold_start_agrees_given_the_same_first_center():
    rng = np.random.default_rng(7)
    unlabeled = rng.normal(size=(50, 8))
    expected = SkCoreSet(random_state=3).query(unlabeled, np.full(50, np.nan), batch_size=6)
    first = int(expected[0])  # scikit-activeml: a random first center (all distances are 0)
    rest = CoreSet().select(pool_of(np.delete(unlabeled, first, axis=0), unlabeled[first:first + 1]), 5,
                            torch.Generator().manual_seed(0))
    positions = [p if p < first else p + 1 for p in (rest.indices - 100).tolist()]  # back to unlabeled's rows
    assert positions == expected[1:].tolist()
    # ours draws the first center from the generator: repeatable, and every pick distinct
    a = CoreSet().select(pool_of(unlabeled, np.empty((0, 8))), 6, torch.Generator().manual_seed(5)).indices
    b = CoreSet().select(pool_of(unlabeled, np.empty((0, 8))), 6, torch.Generator().manual_seed(5)).indices
    assert torch.equal(a, b) and len(set(a.tolist())) == 6


# ------------------------------------------------------------------------------------------------ BADGE

class FixedOutputs(SkactivemlClassifier):
    """A fitted classifier whose probabilities and embeddings are given: row id in X's first column."""

    def __init__(self, probs=None, embeddings=None, classes=None, missing_label=np.nan):
        super().__init__(classes=classes, missing_label=missing_label)
        self.probs, self.embeddings = probs, embeddings

    def fit(self, X, y, sample_weight=None):
        return self

    def predict_proba(self, X, return_embeddings=False):
        rows = X[:, 0].astype(int)
        probs = self.probs[rows]
        return (probs, self.embeddings[rows]) if return_embeddings else probs


def badge_inputs(seed, n=60, d=12):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(n, 2))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return probs, np.abs(rng.normal(size=(n, d)))  # ReLU features are non-negative


@pytest.mark.parametrize("seed", [0, 1])
def test_badge_agrees_with_scikit_activeml_pick_by_pick(seed):
    probs, emb = badge_inputs(seed)
    n = len(probs)
    clf = FixedOutputs(probs=probs, embeddings=emb, classes=[0, 1])
    X = np.arange(n, dtype=float)[:, None]
    sk_picks, utilities = SkBadge(clf_embedding_flag_name="return_embeddings", random_state=seed).query(
        X, np.full(n, np.nan), clf, fit_clf=False, batch_size=8, return_utilities=True)
    sel = Badge().select(pool_of(emb, np.empty((0, emb.shape[1])), probs), 8, torch.Generator().manual_seed(seed))
    g = gradient_embeddings(torch.as_tensor(probs), torch.as_tensor(emb))
    # the same gradient embedding: (p - onehot(argmax p)) x e, class-major
    factor = probs - np.eye(2)[probs.argmax(axis=1)]
    assert np.allclose(g.numpy(), (factor[:, :, None] * emb[:, None, :]).reshape(n, -1))
    # the same first pick: the longest gradient embedding
    assert int(sel.indices[0]) - 100 == sk_picks[0]
    assert float(sel.scores[0]) == pytest.approx(float((g[sk_picks[0]] ** 2).sum()))
    # at every later step, given scikit-activeml's earlier picks: our D² (to the picks), with the origin as
    # one more center, is scikit-activeml's distribution; without it, it is not (the difference is real)
    norms = (g * g).sum(dim=1)
    for step in range(1, 8):
        d2 = min_sq_distance(g, g[list(sk_picks[:step])])
        d2[list(sk_picks[:step])] = 0.0
        with_origin = torch.minimum(d2, norms)
        theirs = np.nan_to_num(utilities[step], nan=0.0)
        assert np.allclose((with_origin / with_origin.sum()).numpy(), theirs, rtol=1e-9, atol=1e-15), step
        if step == 1:
            assert not np.allclose((d2 / d2.sum()).numpy(), theirs, rtol=1e-3)
    # our picks are distinct and repeat with the seed
    again = Badge().select(pool_of(emb, np.empty((0, emb.shape[1])), probs), 8, torch.Generator().manual_seed(seed))
    assert torch.equal(sel.indices, again.indices) and len(set(sel.indices.tolist())) == 8


def test_badge_second_pick_follows_the_d2_distribution():
    """Frequencies of our second pick over many seeds against D²(i)/ΣD² from the first pick: each within
    5 binomial standard deviations (a false alarm has probability < 1e-5 per image)."""
    probs, emb = badge_inputs(3, n=6, d=3)
    pool = pool_of(emb, np.empty((0, 3)), probs)
    g = gradient_embeddings(torch.as_tensor(probs), torch.as_tensor(emb))
    first = int(torch.argmax((g * g).sum(1)))
    d2 = min_sq_distance(g, g[[first]])
    d2[first] = 0
    p = (d2 / d2.sum()).numpy()
    draws = 3000
    seconds = [int(Badge().select(pool, 2, torch.Generator().manual_seed(s)).indices[1]) - 100 for s in range(draws)]
    freq = np.bincount(seconds, minlength=6) / draws
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / draws) + 1e-12), (freq, p)


# ------------------------------------------------------------------------------------------------ TypiClust

class FixedClusters:
    """A clustering 'algorithm' that returns given labels: scikit-activeml's TypiClust on our clustering."""

    labels = None

    def __init__(self, n_clusters):
        self.n_clusters = n_clusters

    def fit_predict(self, X):
        assert self.n_clusters == int(self.labels.max()) + 1
        return self.labels


def blobs(seed, sizes, d=6):
    """Separated clusters of the given sizes (centers 1000 apart, unit spread), rows in a shuffled order."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(len(sizes), d)) * 1000
    x = np.concatenate([c + rng.normal(size=(s, d)) for c, s in zip(centers, sizes)])
    return x[rng.permutation(len(x))]


@pytest.mark.parametrize("seed", [0, 2, 4])  # seeds whose clusterings have no equal sizes where picks are made
def test_typiclust_picks_what_scikit_activeml_picks_given_our_clustering(seed):
    rng = np.random.default_rng(seed)
    unlabeled, labeled = rng.normal(size=(200, 5)), rng.normal(size=(3, 5))
    X = np.concatenate([unlabeled, labeled])
    n = 5
    labels = kmeans(torch.as_tensor(X), len(labeled) + n, torch.Generator().manual_seed(seed), 100)
    FixedClusters.labels = labels.numpy()
    sizes = np.bincount(FixedClusters.labels)
    covered = set(FixedClusters.labels[200:].tolist())
    uncovered_sizes = sorted((s for c, s in enumerate(sizes) if c not in covered), reverse=True)[:n + 1]
    # equal sizes: scikit-activeml breaks that tie at random, we take the lower id; these seeds have none
    assert len(set(uncovered_sizes)) == len(uncovered_sizes)
    expected, utilities = SkTypiClust(cluster_algo=FixedClusters, k=5, random_state=seed).query(
        X, sk_y(200, 3), candidates=np.arange(200), batch_size=n, return_utilities=True)
    order, typ = typiclust_picks(torch.as_tensor(unlabeled), torch.as_tensor(labeled), n, 5, labels)
    assert order.tolist() == expected.tolist()
    assert np.allclose(typ.numpy(), utilities[np.arange(n), expected], rtol=1e-9)


def test_typiclust_with_kmeans_picks_what_scikit_activeml_with_scikit_learn_picks():
    sizes = [30, 5, 8, 11, 14, 17, 20, 23, 26, 12, 7, 9]  # distinct where it matters: the uncovered blobs
    x = blobs(4, sizes)
    ours_km = kmeans(torch.as_tensor(x), len(sizes), torch.Generator().manual_seed(0), 100).numpy()
    sk_km = KMeans(n_clusters=len(sizes), random_state=0, n_init=1).fit_predict(x)
    # the same partition (cluster ids may differ): a one-to-one contingency table
    table = np.zeros((len(sizes), len(sizes)), dtype=int)
    np.add.at(table, (ours_km, sk_km), 1)
    assert ((table > 0).sum(axis=0) == 1).all() and ((table > 0).sum(axis=1) == 1).all()

    # label one image in each of 4 blobs (4 labeled + batch 8 = the 12 clusters): 8 blobs uncovered
    firsts = [int(np.flatnonzero(sk_km == c)[0]) for c in range(4)]
    labeled_rows = np.array(firsts)
    unlabeled_rows = np.setdiff1d(np.arange(len(x)), labeled_rows)
    X = np.concatenate([x[unlabeled_rows], x[labeled_rows]])
    n_u = len(unlabeled_rows)
    expected = SkTypiClust(k=20, random_state=0, cluster_algo_dict={"n_init": 1}).query(
        X, sk_y(n_u, 4), batch_size=8)
    sel = TypiClust(k_neighbors=20, max_clusters=500, kmeans_iterations=100).select(
        pool_of(X[:n_u], X[n_u:]), 8, torch.Generator().manual_seed(11))
    assert (sel.indices - 100).tolist() == expected.tolist()
