"""BALD with MC dropout (Houlsby et al. 2011, "Bayesian Active Learning by Disagreement"; Gal, Islam &
Ghahramani, ICML 2017, eq. 4): the images on which the sampled models disagree most first.

Priority and score: the mutual information between the label and the model,

    I(y; ω | x) = H( mean_t p_t(y|x) ) − mean_t H( p_t(y|x) )        (nats, in [0, ln 2])

over T = ``strategy.mc_samples`` softmax outputs p_t from dropout masks on the head (``McDropout``,
switched on only for scoring; ``ModelOutputs.mc_probs``, T x N x 2). Values below 0 by rounding
are clamped to 0.
"""
from __future__ import annotations

import torch

from alflow.strategies.base import McDropout, ScoredPool, Strategy
from alflow.strategies.entropy import entropy
from alflow.strategies.sampling import BatchSampling


def bald(mc_probs: torch.Tensor) -> torch.Tensor:
    """BALD (N, float64, nats) of ``mc_probs`` (T x N x C softmax samples)."""
    p = mc_probs.double()
    return (entropy(p.mean(dim=0)) - entropy(p).mean(dim=0)).clamp_min(0.0)


class BaldSampling(Strategy):
    name = "bald"
    needs = frozenset({"mc_probs"})

    def __init__(self, mc_samples: int, dropout: float, seed: int, sampling: str, temperature: float):
        """``mc_samples`` masks with drop probability ``dropout``, drawn from ``seed`` (see ``McDropout``);
        ``sampling``, ``temperature``: see ``BatchSampling`` (``conf/strategy/bald.yaml``)."""
        self.mc_dropout = McDropout(mc_samples, dropout, seed)
        self.sampling = BatchSampling(sampling, temperature)

    def priority(self, pool: ScoredPool, generator: torch.Generator):
        mc = pool.unlabeled.mc_probs
        if mc is None:
            raise ValueError("bald needs the MC-dropout probabilities (mc_probs) of the scoring pass")
        score = bald(mc)
        return score, score
