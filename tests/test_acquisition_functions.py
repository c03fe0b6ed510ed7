"""Margin, entropy, BALD, the GradCAM × uncertainty hybrid, the batch sampling modes and the MC-dropout
scoring pass, on hand-computed cases."""
import math

import numpy as np
import pytest
import torch
from conftest import strategy as make

from alflow.loop import score_images
from alflow.model import build_resnet18
from alflow.strategies import BatchSampling, McDropout, ModelOutputs, ScoredPool
from alflow.strategies.bald import bald
from alflow.strategies.gradcam_uncertainty import rank_normalise
from alflow.strategies.typiclust import typicality, typiclust_picks


def H(*p):
    """Entropy in nats, by hand."""
    return -sum(x * math.log(x) for x in p if x > 0)


def pool(probs=None, idx=None, mc=None, cams_u=None, cams_l=None):
    n = len(probs) if probs is not None else (mc.shape[1] if mc is not None else len(cams_u))
    idx = list(range(10, 10 + n)) if idx is None else idx
    t = None if probs is None else torch.tensor(probs, dtype=torch.float64)
    return ScoredPool(unlabeled=ModelOutputs(indices=torch.tensor(idx), probs=t, mc_probs=mc, cams=cams_u),
                      labeled=ModelOutputs(indices=torch.tensor([0]), cams=cams_l))


PROBS = [[0.9, 0.1], [0.55, 0.45], [0.2, 0.8], [0.5, 0.5], [1.0, 0.0]]


def test_margin_smallest_gap_first():
    sel = make("margin").select(pool(PROBS), 5, torch.Generator())
    assert sel.indices.tolist() == [13, 11, 12, 10, 14]  # margins 0, 0.1, 0.6, 0.8, 1
    assert np.allclose(sel.scores.numpy(), [0.0, 0.1, 0.6, 0.8, 1.0])


def test_entropy_in_nats_most_uncertain_first():
    sel = make("entropy").select(pool(PROBS), 5, torch.Generator())
    assert sel.indices.tolist() == [13, 11, 12, 10, 14]
    expected = [math.log(2), H(0.55, 0.45), H(0.2, 0.8), H(0.9, 0.1), 0.0]  # 0 ln 0 = 0: no NaN
    assert np.allclose(sel.scores.numpy(), expected, rtol=1e-12, atol=0)


def test_bald_is_the_mutual_information_of_the_mc_samples():
    # T = 2 samples for 4 images: certain but contradicting, agreeing at 0.5, contradicting 0.9/0.1, close
    mc = torch.tensor([[[1.0, 0.0], [0.5, 0.5], [0.9, 0.1], [0.8, 0.2]],
                       [[0.0, 1.0], [0.5, 0.5], [0.1, 0.9], [0.6, 0.4]]], dtype=torch.float64)
    expected = [math.log(2) - 0.0, math.log(2) - math.log(2), math.log(2) - H(0.9, 0.1),
                H(0.7, 0.3) - (H(0.8, 0.2) + H(0.6, 0.4)) / 2]
    assert np.allclose(bald(mc).numpy(), expected, rtol=1e-12, atol=1e-15)
    sel = make("bald").select(pool(mc=mc), 4, torch.Generator())
    assert sel.indices.tolist() == [10, 12, 13, 11]
    with pytest.raises(ValueError, match="mc_probs"):
        make("bald").select(pool(PROBS), 2, torch.Generator())


def test_mc_dropout_scoring_pass_matches_the_head_by_hand_and_ignores_batching():
    torch.manual_seed(0)
    net = build_resnet18(2).eval()
    images = torch.randint(0, 256, (7, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    mc = McDropout(samples=5, p=0.5, seed=3)
    needs = frozenset({"mc_probs", "embeddings"})
    out = score_images(net, images, torch.arange(7), needs, batch_size=3, mc_dropout=mc)
    assert out.mc_probs.shape == (5, 7, 2)
    masks = mc.masks(512)
    assert set(masks.unique().tolist()) == {0.0, 2.0}  # inverted dropout: kept features doubled
    by_hand = torch.softmax((out.embeddings[None] * masks[:, None, :]) @ net.fc.weight.T + net.fc.bias, dim=-1)
    assert torch.allclose(out.mc_probs, by_hand, atol=1e-5)
    whole = score_images(net, images, torch.arange(7), needs, batch_size=7, mc_dropout=mc)
    assert torch.allclose(out.mc_probs, whole.mc_probs, atol=1e-6)  # one set of masks per pass, not per batch
    other = score_images(net, images, torch.arange(7), needs, mc_dropout=McDropout(samples=5, p=0.5, seed=4))
    assert not torch.allclose(other.mc_probs, out.mc_probs)
    assert not torch.allclose(out.mc_probs[0], out.probs)  # dropout is on for these, off for probs
    with pytest.raises(ValueError, match="without McDropout"):
        score_images(net, images, torch.arange(7), needs)


@pytest.mark.parametrize("kwargs, match", [({"samples": 1, "p": 0.5, "seed": 0}, "strategy.mc_samples"),
                                           ({"samples": 4, "p": 1.0, "seed": 0}, "strategy.dropout")])
def test_mc_dropout_settings_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        McDropout(**kwargs)


# ------------------------------------------------------------------------------------------------ hybrid

def test_rank_normalise_shares_ties():
    assert rank_normalise(torch.tensor([0.3, 0.1, 0.3, 0.5])).tolist() == [0.625, 0.25, 0.625, 1.0]


def test_gradcam_uncertainty_wants_both_signals():
    """Three images: 0 is the most uncertain but its map is the labeled average (SSIM 1); 1 is certain with
    the opposite map; 2 is in the middle of both. Ranks /3: uncertainty (3, 1, 2), dissimilarity (1, 3, 2):
    products 3/9, 3/9, 4/9, so 2 comes first, then 0 and 1 in pool order."""
    g = torch.Generator().manual_seed(0)
    average = torch.rand(1, 1, 16, 16, generator=g)
    middle = (average + 0.3 * torch.rand(1, 1, 16, 16, generator=g)).clamp(0, 1)
    cams = torch.cat([average, 1 - average, middle])
    p = pool([[0.5, 0.5], [0.99, 0.01], [0.7, 0.3]], cams_u=cams, cams_l=average.repeat(2, 1, 1, 1))
    hybrid = make("gradcam_uncertainty", map_size=16)
    sel = hybrid.select(p, 3, torch.Generator())
    assert sel.indices.tolist() == [12, 10, 11]
    assert np.allclose(sel.scores.numpy(), [4 / 9, 3 / 9, 3 / 9])
    # the dissimilarity is GradCAM_avg's own: 1 - its SSIM scores, ranked the same way
    ssim = make("gradcam_avg", map_size=16).select(p, 3, torch.Generator())
    assert ssim.indices.tolist() == [11, 12, 10]


# ------------------------------------------------------------------------------------------------ sampling

SCORES = torch.tensor([0.1, 0.4, 0.2, 0.3], dtype=torch.float64)


def expected_p(mode, tau):
    s = SCORES.numpy()
    if mode == "softmax":
        w = np.exp(s / tau)
    elif mode == "power":
        w = s ** (1 / tau)
    else:
        rank = np.array([4, 1, 3, 2])  # by hand: 0.4 is rank 1, 0.3 rank 2, ...
        w = rank ** (-1 / tau)
    return w / w.sum()


@pytest.mark.parametrize("mode, tau", [("power", 1.0), ("power", 0.5), ("softmax", 0.1), ("softrank", 1.0),
                                       ("softrank", 2.0)])
def test_sampling_draws_in_proportion_first_and_without_replacement_second(mode, tau):
    """Over M draws from one fixed generator, the first pick's frequencies and the frequencies of each ordered
    pair (i, j) against p_i and p_i p_j / (1 - p_i) (a draw without replacement): within 5 binomial standard
    deviations sqrt(q (1 - q) / M) each (a false alarm per cell has probability < 1e-6)."""
    sampler, p, draws = BatchSampling(mode, tau), expected_p(mode, tau), 8000
    g = torch.Generator().manual_seed(42)
    picks = np.array([sampler.order(SCORES, 2, g).tolist() for _ in range(draws)])
    first = np.bincount(picks[:, 0], minlength=4) / draws
    assert np.all(np.abs(first - p) <= 5 * np.sqrt(p * (1 - p) / draws)), (first, p)
    pairs = np.zeros((4, 4))
    np.add.at(pairs, (picks[:, 0], picks[:, 1]), 1)
    q = p[:, None] * p[None, :] / (1 - p[:, None])
    np.fill_diagonal(q, 0)
    assert np.all(np.abs(pairs / draws - q) <= 5 * np.sqrt(q * (1 - q) / draws) + 1e-12)


def test_sampling_weights_by_hand_and_topk():
    assert BatchSampling("topk", 1.0).order(SCORES, 3, torch.Generator()).tolist() == [1, 3, 2]
    assert torch.allclose(BatchSampling("softrank", 0.5).log_weights(torch.tensor([0.2, 0.2, 0.9])),
                          torch.tensor([-2 * math.log(2), -2 * math.log(3), 0.0], dtype=torch.float64))
    assert torch.allclose(BatchSampling("power", 2.0).log_weights(torch.tensor([4.0, 0.0])),
                          torch.tensor([math.log(2.0), -math.inf], dtype=torch.float64))


def test_sampled_selection_is_seeded_and_uses_the_strategys_scores():
    probs = torch.rand(40, 1, generator=torch.Generator().manual_seed(0))
    p = pool(torch.cat([probs, 1 - probs], 1).tolist())
    soft = make("uncertainty", sampling="softmax", temperature=0.05)
    a = soft.select(p, 10, torch.Generator().manual_seed(1))
    b = soft.select(p, 10, torch.Generator().manual_seed(1))
    c = soft.select(p, 10, torch.Generator().manual_seed(2))
    assert torch.equal(a.indices, b.indices) and not torch.equal(a.indices, c.indices)
    assert len(set(a.indices.tolist())) == 10
    unc = 1 - torch.maximum(probs, 1 - probs).flatten().double()
    assert torch.allclose(a.scores, unc[a.indices - 10])
    # a topk of the same strategy: the 10 highest, in order
    top = make("uncertainty").select(p, 10, torch.Generator())
    assert top.indices.tolist() == (torch.sort(unc, descending=True, stable=True).indices[:10] + 10).tolist()


def test_bad_sampling_settings_name_the_key():
    with pytest.raises(ValueError, match="strategy.sampling must be one of topk|power|softmax|softrank"):
        make("margin", sampling="gumbel")
    with pytest.raises(ValueError, match="strategy.temperature must be a number > 0"):
        make("entropy", sampling="softmax", temperature=0)
    with pytest.raises(ValueError, match="sampling=power needs finite scores >= 0"):
        BatchSampling("power", 1.0).order(torch.tensor([0.5, -0.1]), 1, torch.Generator(), "x")


# ------------------------------------------------------------------------------------------------ batch picks

def test_coreset_greedy_k_center_by_hand():
    """1-D: labeled {0}; unlabeled 1, 5, 6, 10 → 10 (distance 10), then 5 (5), then 1 and 6 tie at 1: 1,
    the first in the pool."""
    p = ScoredPool(unlabeled=ModelOutputs(indices=torch.tensor([21, 25, 26, 30]),
                                          embeddings=torch.tensor([[1.0], [5.0], [6.0], [10.0]])),
                   labeled=ModelOutputs(indices=torch.tensor([0]), embeddings=torch.tensor([[0.0]])))
    sel = make("coreset").select(p, 3, torch.Generator())
    assert sel.indices.tolist() == [30, 25, 21] and sel.scores.tolist() == [10.0, 5.0, 1.0]


def test_badge_gradient_embedding_by_hand():
    from alflow.strategies.badge import gradient_embeddings

    g = gradient_embeddings(torch.tensor([[0.7, 0.3], [0.2, 0.8]]), torch.tensor([[1.0, 2.0], [3.0, 0.0]]))
    assert torch.allclose(g, torch.tensor([[-0.3, -0.6, 0.3, 0.6], [0.6, 0.0, -0.6, 0.0]], dtype=torch.float64))


def test_badge_first_pick_is_the_longest_gradient():
    probs = torch.tensor([[0.99, 0.01], [0.6, 0.4], [0.9, 0.1]])
    p = ScoredPool(unlabeled=ModelOutputs(indices=torch.tensor([5, 6, 7]), probs=probs, embeddings=torch.ones(3, 4)),
                   labeled=ModelOutputs(indices=torch.empty(0, dtype=torch.long)))
    sel = make("badge").select(p, 1, torch.Generator())
    assert sel.indices.tolist() == [6]
    assert sel.scores.item() == pytest.approx(2 * 0.4 ** 2 * 4)  # |g|² = 2 (1 - p_max)² |e|²


def test_typicality_by_hand():
    # cluster {0, 1, 3}, k = min(20, 2): sums 1+3, 1+2, 2+3 → 2/4, 2/3, 2/5; a single image: 1
    typ = typicality(torch.tensor([[0.0], [1.0], [3.0]]), 20)
    assert np.allclose(typ.numpy(), [2 / (4 + 1e-7), 2 / (3 + 1e-7), 2 / (5 + 1e-7)])
    assert typicality(torch.tensor([[7.0]]), 20).tolist() == [1.0]


def test_typiclust_largest_uncovered_cluster_first_then_fewest_labeled():
    x = torch.tensor([[0.0], [1.0], [3.0], [10.0], [11.0], [20.0], [21.0], [22.0], [23.0]])
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])  # rows 0-7 unlabeled, row 8 (23.0) labeled: covers 2
    order, typ = typiclust_picks(x[:8], x[8:], 4, 20, labels)
    # uncovered first, largest first: cluster 0 (3 images: typicalities 2/4, 2/3, 2/5 → 1.0), then 1 (2 images,
    # 1/1 each → 10.0, the first). Then every cluster holds one labeled or picked image: the largest, 2 (4
    # images, the labeled 23 among them: sums 20: 1+2+3, 21: 1+1+2, 22: 1+1+2 → 21, the first of the tie),
    # then 0 again (fewest taken, larger than 1): its most typical image not yet picked, 0.0.
    assert order.tolist() == [1, 3, 6, 0]
    assert typ.tolist()[:2] == [pytest.approx(2 / (3 + 1e-7)), pytest.approx(1 / (1 + 1e-7))]


def test_typiclust_is_seeded():
    emb = torch.randn(60, 4, generator=torch.Generator().manual_seed(0))
    p = ScoredPool(unlabeled=ModelOutputs(indices=torch.arange(50), embeddings=emb[:50]),
                   labeled=ModelOutputs(indices=torch.arange(50, 60), embeddings=emb[50:]))
    picks = [make("typiclust").select(p, 8, torch.Generator().manual_seed(s)).indices.tolist() for s in (1, 1)]
    assert picks[0] == picks[1] and len(set(picks[0])) == 8
