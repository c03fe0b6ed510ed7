"""Batch-aware selection for any scoring strategy: sample the batch in proportion to the score.

Kirsch, Farquhar, Atighehchian, Jesson, Branchaud-Charron & Gal, "Stochastic Batch Acquisition: A
Simple Baseline for Deep Active Learning", TMLR 2023. Taking the top k of a score fills a batch with
near-duplicates; drawing the batch without replacement with probabilities

* ``softmax``:  p_i ∝ exp(s_i / τ)
* ``power``:    p_i ∝ s_i ^ (1 / τ)      (needs s_i >= 0; s_i = 0 is drawn only after every s_i > 0)
* ``softrank``: p_i ∝ r_i ^ (-1 / τ)     (r_i = 1 for the highest score, ties in pool order)

(τ = ``strategy.temperature``, the paper's 1/β; ``topk`` takes the k highest) matches BatchBALD and
BADGE at the cost of top-k. Drawn as the paper does, with the Gumbel-top-k trick (Kool, van Hoof &
Welling, ICML 2019): the k largest of log p_i + G_i, G_i ~ Gumbel(0, 1), are a draw of k without
replacement from p, and their order is the order of the draw (the first pick has probability p_i).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

MODES = ("topk", "power", "softmax", "softrank")


@dataclass(frozen=True)
class BatchSampling:
    """``strategy.sampling`` and ``strategy.temperature``; ValueError names the key and the value."""

    mode: str
    temperature: float

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"strategy.sampling must be one of {'|'.join(MODES)}, got {self.mode!r}")
        if isinstance(self.temperature, bool) or not isinstance(self.temperature, (int, float)) \
                or not self.temperature > 0:
            raise ValueError(f"strategy.temperature must be a number > 0, got {self.temperature!r}")

    def log_weights(self, scores: torch.Tensor, strategy: str = "strategy") -> torch.Tensor:
        """log p_i up to a constant (float64, N) for ``scores`` (N, higher = sooner); ``topk``: the scores.
        ValueError for ``power`` with a negative or non-finite score, naming ``strategy``."""
        s = scores.double()
        if self.mode == "topk":
            return s
        if self.mode == "softmax":
            return s / self.temperature
        if self.mode == "power":
            if not bool(torch.isfinite(s).all()) or bool((s < 0).any()):
                raise ValueError(f"strategy.sampling=power needs finite scores >= 0, but {strategy} gave "
                                 f"min {float(s.min())}, max {float(s.max())}: use softmax or softrank")
            return torch.log(s) / self.temperature
        rank = torch.empty_like(s)
        rank[torch.sort(s, descending=True, stable=True).indices] = torch.arange(1, len(s) + 1, dtype=s.dtype)
        return -torch.log(rank) / self.temperature

    def order(self, scores: torch.Tensor, n: int, generator: torch.Generator, strategy: str = "strategy"
              ) -> torch.Tensor:
        """Positions (long, ``min(n, N)``) of the images taken from ``scores`` (N), in pick order."""
        keys = self.log_weights(scores, strategy)
        if self.mode != "topk":
            uniform = torch.rand(len(keys), generator=generator, dtype=torch.float64)
            keys = keys - torch.log(-torch.log(uniform.clamp_min(torch.finfo(torch.float64).tiny)))
        return torch.sort(keys, descending=True, stable=True).indices[:n]
