"""The learner of ``model.trainable=last_block``: the backbone's last stage and a 2-class head, trained each round
on the cached maps of the stage before (``alflow.model.features``), the rest of the backbone frozen.

A middle ground between the head (nothing of the backbone trains) and fine-tuning (all of it trains, a pass over
the images every step): a step here runs only the last stage, on maps a sixteenth to a quarter the size of the
images' first activations. Every fresh model starts from the resolved backbone's last stage (ImageNet's, by
default) and a fresh head; each fit is ``TrainSettings.steps_for`` Adam steps (``model.lr``,
``model.weight_decay``) with ``trainer.class_weighting``, then the model is put in eval mode, so BatchNorm uses
the statistics the fit accumulated.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn


class LastBlockClassifier(nn.Module):
    """``tail`` (a copy of ``alflow.model.last_stage(net)``: C' x h' x w' maps in, C x h x w maps out), global average
    pooling and a fresh ``width`` → 2 linear head. ``lr``, ``weight_decay``: ``model.lr``, ``model.weight_decay``.
    Input: N x C' x h' x w' float maps; output: N x 2 logits. Raises ValueError naming ``model.lr``."""

    def __init__(self, tail: nn.Module, width: int, lr: float, weight_decay: float):
        super().__init__()
        if not lr > 0:
            raise ValueError(f"model.lr must be > 0, got {lr!r}")
        self.tail = copy.deepcopy(tail)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, 2)
        self.lr, self.weight_decay = float(lr), float(weight_decay)
        self.eval()

    def last_maps(self, middle: torch.Tensor) -> torch.Tensor:
        """The last stage's maps (N x C x h x w) of the stage before's maps."""
        return self.tail(middle.float())

    def forward(self, middle: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.last_maps(middle)), 1))

    def divergence_advice(self) -> tuple[str, str]:
        """(the settings in force, what to change) when training diverges (``alflow.loop.DivergedError``)."""
        return f"model.trainable=last_block, model.lr={self.lr}", "lower model.lr"

    def fit(self, middle: torch.Tensor, labels: torch.Tensor, train, seed: int) -> float:
        """Train on ``middle`` (N x C' x h' x w' cached maps) with ``labels`` (N, 0/1) for
        ``train.steps_for(N)`` steps of ``train.batch_size`` (a ``TrainSettings``); returns the mean loss of the
        last pass over the data (its last ``ceil(N / batch_size)`` steps at most). Batches of one image are
        avoided: BatchNorm in training mode needs two."""
        generator = torch.Generator().manual_seed(seed)
        n = len(labels)
        counts = torch.bincount(labels, minlength=2).double()
        weight = (n / (2 * counts)).float() if train.class_weighting == "balanced" and bool((counts > 0).all()) \
            else None
        optimizer = torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        steps, batch = train.steps_for(n), max(min(train.batch_size, n), 2)
        per_pass = -(-n // batch)
        losses: list[float] = []
        self.train()
        order = torch.randperm(n, generator=generator)
        position = 0
        for _ in range(steps):
            if position + batch > n:
                order, position = torch.randperm(n, generator=generator), 0
            chunk = order[position:position + batch]
            position += batch
            if len(chunk) < 2:
                continue
            loss = F.cross_entropy(self(middle[chunk]), labels[chunk], weight=weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        self.eval()
        last = losses[-per_pass:]
        return sum(last) / len(last) if last else float("nan")
