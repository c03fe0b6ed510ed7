"""The head learner of ``model.trainable=head``: L2-regularised logistic regression on the standardised
pooled features of a frozen backbone, fitted to convergence each round.

The objective is scikit-learn's ``LogisticRegression(C=c, class_weight="balanced")`` (binary, lbfgs):

    minimise  C * sum_i s_i * BCE(w . z_i + b, y_i)  +  1/2 ||w||^2,     z_i = (x_i - mean) / std

with s_i = n / (2 n_{y_i}) (each class carries half the loss; 1 with ``class_weighting="none"``) and the
bias unpenalised; ``tests/test_head.py`` checks the fitted weights against scikit-learn's. A convex fit
of a few thousand rows takes milliseconds, so a round costs milliseconds; its optimum does not depend
on the start, so incremental and batch learning agree on the same labels.

The fitted logit is written into a 2-class ``fc`` as rows -w/2 and +w/2 (softmax of those is the
logistic sigmoid), so the head has the shape of the network heads alflow scores with: defect
probability ``softmax(fc(z))[:, 1]``, MC-dropout on ``z``, and GradCAM channel weights
``fc.weight[target] / std`` (``cam_weight``: the standardisation is linear in the pooled maps).
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.functional.classification import binary_auroc


class LinearHead(nn.Module):
    """Logistic regression on ``(pooled - mean) / std`` of ``dim`` features.

    ``mean``, ``std``: length-``dim`` float tensors, the pooled features' statistics over the dataset's
    images (label-free); ``c``: ``model.head.c``, the inverse L2 strength (scikit-learn's ``C``);
    ``c_grid``: ``model.head.c_grid``, candidate values of ``c`` of which each fit keeps the one with the
    highest validation AUROC (when ``fit`` is given a validation set holding both classes; else ``c``);
    ``max_iter``: L-BFGS iterations at most. Raises ValueError naming ``model.head.c``,
    ``model.head.c_grid`` or ``model.head.max_iter``."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, c: float = 0.01, max_iter: int = 200,
                 c_grid: list[float] | tuple[float, ...] | None = None):
        super().__init__()
        if not c > 0:
            raise ValueError(f"model.head.c must be > 0, got {c!r}")
        if max_iter < 1:
            raise ValueError(f"model.head.max_iter must be >= 1, got {max_iter!r}")
        if c_grid is not None and (len(c_grid) == 0 or not all(v > 0 for v in c_grid)):
            raise ValueError(f"model.head.c_grid must be null or a non-empty list of numbers > 0, got {c_grid!r}")
        self.c, self.max_iter = float(c), int(max_iter)
        self.c_grid = tuple(sorted(float(v) for v in c_grid)) if c_grid else ()
        self.register_buffer("mean", mean.float().clone())
        self.register_buffer("std", std.float().clamp_min(1e-6).clone())
        self.fc = nn.Linear(len(mean), 2)
        nn.init.zeros_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

    def standardize(self, pooled: torch.Tensor) -> torch.Tensor:
        """N x dim pooled features → the standardised features the head reads (N x dim float32)."""
        return (pooled.float() - self.mean) / self.std

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        """Logits (N x 2) of pooled features (N x dim)."""
        return self.fc(self.standardize(pooled))

    def cam_weight(self) -> torch.Tensor:
        """2 x dim: d logit_c / d pooled_k, GradCAM's channel weights before the 1/(h w) of the pooling."""
        return self.fc.weight / self.std

    def divergence_advice(self) -> tuple[str, str]:
        """(the settings in force, what to change) when the fit is not finite (``alflow.loop.DivergedError``)."""
        return f"model.trainable=head, model.head.c={self.c}", "lower model.head.c"

    def fit(self, pooled: torch.Tensor, labels: torch.Tensor, class_weighting: str = "balanced",
            val_pooled: torch.Tensor | None = None, val_labels: torch.Tensor | None = None) -> float:
        """Fit to convergence on ``pooled`` (N x dim) with ``labels`` (N, 0/1), starting from the current
        weights; returns the weighted mean cross-entropy at the optimum (the round's training loss).

        With ``c_grid`` and a validation set (``val_pooled`` M x dim, ``val_labels`` M) holding both classes,
        one fit per candidate, and the one of the highest validation AUROC is kept (the smallest ``c``, the
        strongest regularisation, on ties); ``self.c`` becomes it."""
        if self.c_grid and val_labels is not None and val_labels.unique().numel() == 2:
            best = None
            for c in self.c_grid:
                trial = copy.deepcopy(self)
                trial.c, trial.c_grid = c, ()
                loss = trial.fit(pooled, labels, class_weighting)
                with torch.no_grad():
                    logits = trial(val_pooled)
                    score = float(binary_auroc(logits[:, 1] - logits[:, 0], val_labels))
                if best is None or score > best[0]:
                    best = (score, c, trial, loss)
            _, self.c, trial, loss = best
            self.load_state_dict(trial.state_dict())
            return loss
        return self._fit(pooled, labels, class_weighting)

    def _fit(self, pooled: torch.Tensor, labels: torch.Tensor, class_weighting: str) -> float:
        z = self.standardize(pooled).double()
        y = labels.double()
        counts = torch.bincount(labels.long(), minlength=2).double()
        if class_weighting == "balanced" and bool((counts > 0).all()):
            sample_weight = (len(y) / (2 * counts))[labels.long()]
        else:
            sample_weight = torch.ones_like(y)
        w = (self.fc.weight[1] - self.fc.weight[0]).detach().double().clone().requires_grad_(True)
        b = (self.fc.bias[1] - self.fc.bias[0]).detach().double().clone().reshape(1).requires_grad_(True)
        n = len(y)
        optimizer = torch.optim.LBFGS([w, b], lr=1.0, max_iter=self.max_iter, tolerance_grad=1e-9,
                                      tolerance_change=1e-12, history_size=20, line_search_fn="strong_wolfe")

        def objective() -> torch.Tensor:  # scikit-learn's objective divided by C * n (same optimum)
            optimizer.zero_grad()
            loss = (sample_weight * F.binary_cross_entropy_with_logits(z @ w + b, y, reduction="none")).sum() / n
            loss = loss + 0.5 * (w @ w) / (self.c * n)
            loss.backward()
            return loss

        with torch.enable_grad():
            optimizer.step(objective)
        with torch.no_grad():
            self.fc.weight.copy_(torch.stack([-w / 2, w / 2]).float())
            self.fc.bias.copy_(torch.cat([-b / 2, b / 2]).float())
            data = (sample_weight * F.binary_cross_entropy_with_logits(z @ w + b, y, reduction="none")).sum() / n
        return float(data)
