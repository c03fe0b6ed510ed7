"""Stratified k-fold roles: test = fold f, validation = fold (f + 1) mod k, pool = the rest."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class FoldSplit:
    test: torch.Tensor
    val: torch.Tensor
    pool: torch.Tensor


def stratified_fold_ids(labels: torch.Tensor, k: int, seed: int) -> np.ndarray:
    """Fold id of every sample; each fold holds floor or ceil of n_c / k of each class c.

    Classes are dealt round-robin after a seeded shuffle. Each class starts dealing
    where the previous one stopped, so fold sizes also differ by at most one.
    """
    y = np.asarray(labels)
    if k < 3:
        raise ValueError(f"fold.k must be >= 3 (test, validation and pool folds), got {k}")
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError(f"stratified folds need both classes, the labels hold only {classes.tolist()}")
    for c, n in zip(classes.tolist(), counts.tolist()):
        if n < k:
            which = {0: "the defect-free class (label 0)", 1: "the defect class (label 1)"}.get(c, f"class {c}")
            raise ValueError(
                f"{which} has {n} images, too few for fold.k={k}: every fold needs one of each class; "
                f"use fold.k<={n} or more data"
            )
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(y), dtype=np.int64)
    start = 0
    for c in classes:
        members = rng.permutation(np.flatnonzero(y == c))
        fold_of[members] = (start + np.arange(len(members))) % k
        start = (start + len(members)) % k
    return fold_of


def fold_split(labels: torch.Tensor, k: int, index: int, seed: int) -> FoldSplit:
    """The roles of fold ``index``; identical for every strategy given labels, k and seed."""
    if not 0 <= index < k:
        raise ValueError(f"fold.index must be in [0, {k - 1}] for fold.k={k}, got {index}")
    ids = torch.from_numpy(stratified_fold_ids(labels, k, seed))
    val_fold = (index + 1) % k
    test = torch.nonzero(ids == index).flatten()
    val = torch.nonzero(ids == val_fold).flatten()
    pool = torch.nonzero((ids != index) & (ids != val_fold)).flatten()
    return FoldSplit(test=test, val=val, pool=pool)
