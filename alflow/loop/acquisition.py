"""The acquisition loop: a plain Python loop; training inside a round is Lightning's.

Each round: score the pool in one pass, ask the strategy, reveal the chosen labels
through the oracle, update the model, evaluate, record. The first batch of a run
with nothing labeled is drawn at random (seeded, the same for every strategy),
since no strategy has a model worth asking yet.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torchmetrics.functional.classification import binary_auroc

from alflow.data import FoldSplit, InspectionDataset, Pool
from alflow.loop.oracle import Oracle, SimulatedOracle
from alflow.loop.scoring import score_images
from alflow.loop.training import TrainSettings, train_round
from alflow.model import DefectClassifier
from alflow.strategies import ModelOutputs, ScoredPool, Selection, Strategy

log = logging.getLogger("alflow")

LEARNING_MODES = ("incremental", "batch")


@dataclass(frozen=True)
class LoopSettings:
    """``learning``: ``incremental`` keeps one model across rounds and trains it on the new
    batch (or on every labeled image with ``replay``); ``batch`` trains a fresh model each
    round on every labeled image."""

    batch_size: int = 32
    initial_size: int | None = None
    learning: str = "incremental"
    replay: bool = False
    score_batch_size: int = 256
    max_rounds: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.learning not in LEARNING_MODES:
            raise ValueError(f"al.learning must be one of {LEARNING_MODES}, got {self.learning!r}")
        if self.batch_size < 1:
            raise ValueError(f"al.batch_size must be >= 1, got {self.batch_size}")
        if self.initial_size is not None and self.initial_size < 1:
            raise ValueError(f"al.initial_size must be >= 1 or null, got {self.initial_size}")


@dataclass
class RoundRecord:
    round: int
    n_labeled: int
    n_selected: int
    defects_found: int
    defects_left: int
    val_auroc: float
    test_auroc: float
    train_loss: float
    seconds: float


@dataclass
class SelectionRow:
    round: int
    rank: int
    index: int
    score: float
    label: int
    image_class: str


class RoundListener(Protocol):
    def on_round(self, record: RoundRecord, rows: list[SelectionRow]) -> None: ...


def auroc(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """AUROC of the defect probability; NaN when only one class is present."""
    if labels.unique().numel() < 2:
        return float("nan")
    return float(binary_auroc(probs[:, 1], labels))


def scoring_device(settings: TrainSettings) -> torch.device:
    wants_gpu = settings.accelerator in ("auto", "gpu", "cuda")
    return torch.device("cuda" if wants_gpu and torch.cuda.is_available() else "cpu")


class AcquisitionLoop:
    def __init__(self, dataset: InspectionDataset, split: FoldSplit, strategy: Strategy,
                 model_factory: Callable[[], DefectClassifier], train: TrainSettings, settings: LoopSettings,
                 stopping=None, oracle: Oracle | None = None, listeners: Sequence[RoundListener] = (),
                 label: str = ""):
        self.dataset, self.split, self.strategy = dataset, split, strategy
        self.model_factory, self.train, self.settings = model_factory, train, settings
        self.stopping = stopping
        self.oracle = oracle or SimulatedOracle(dataset.labels)
        self.listeners = list(listeners)
        self.label = label or strategy.name
        self.pool = Pool(split.pool)
        self.revealed: dict[int, int] = {}
        self.history: list[RoundRecord] = []
        self.stop_reason = ""
        self.device = scoring_device(train)
        self.model = self._fresh_model()

    def _fresh_model(self) -> DefectClassifier:
        # Same init for every strategy and round-0 model, so strategies differ only by what they pick.
        torch.manual_seed(self.settings.seed)
        return self.model_factory()

    @property
    def total_rounds(self) -> int:
        first = self.settings.initial_size or self.settings.batch_size
        rest = max(len(self.split.pool) - first, 0)
        return 1 + math.ceil(rest / self.settings.batch_size)

    def run(self) -> list[RoundRecord]:
        while True:
            reason = self._why_stop()
            if reason:
                self.stop_reason = reason
                log.info("[%s] stopped after %d rounds: %s", self.label, len(self.history), reason)
                return self.history
            self.step()

    def _why_stop(self) -> str:
        if self.pool.n_unlabeled == 0:
            return "pool exhausted"
        if self.settings.max_rounds is not None and len(self.history) >= self.settings.max_rounds:
            return f"al.max_rounds={self.settings.max_rounds} reached"
        if self.stopping is not None and self.stopping.should_stop(self.history):
            return f"stopping criterion {getattr(self.stopping, 'name', type(self.stopping).__name__)}"
        return ""

    def _batch_size_now(self) -> int:
        n = self.settings.batch_size
        if not self.history:
            n = self.settings.initial_size or n
        remaining = getattr(self.stopping, "remaining", None)
        if remaining is not None:
            n = min(n, remaining(self.pool.n_labeled))
        return min(n, self.pool.n_unlabeled)

    def _select(self, round_index: int, n: int) -> Selection:
        generator = torch.Generator().manual_seed(self.settings.seed * 100_003 + round_index)
        if self.pool.n_labeled == 0:
            order = torch.randperm(self.pool.n_unlabeled, generator=generator)[:n]
            return Selection(self.pool.unlabeled[order], torch.full((n,), float("nan"), dtype=torch.float64))
        needs = self.strategy.needs
        labeled_needed = "cams" in needs or "embeddings" in needs
        unlabeled = self.pool.unlabeled
        labeled = self.pool.labeled if labeled_needed else torch.empty(0, dtype=torch.long)
        outputs = score_images(self.model.net.to(self.device), self.dataset.images,
                               torch.cat([unlabeled, labeled]), needs, self.strategy.cam_settings,
                               self.settings.score_batch_size, self.device)
        n_u = len(unlabeled)
        scored = ScoredPool(unlabeled=_rows(outputs, slice(0, n_u)), labeled=_rows(outputs, slice(n_u, None)))
        return self.strategy.select(scored, n, generator)

    def step(self) -> RoundRecord:
        start = time.perf_counter()
        r = len(self.history)
        selection = self._select(r, self._batch_size_now())
        revealed = self.oracle.reveal(selection.indices)
        for idx, y in zip(selection.indices.tolist(), revealed.tolist()):
            self.revealed[idx] = int(y)
        self.pool.mark_labeled(selection.indices, r)

        if self.settings.learning == "batch":
            self.model = self._fresh_model()
        train_idx = self.pool.labeled if (self.settings.learning == "batch" or self.settings.replay) \
            else selection.indices
        train_labels = torch.tensor([self.revealed[i] for i in train_idx.tolist()], dtype=torch.long)
        loss = train_round(self.model, self.dataset.images[train_idx], train_labels, self.train,
                           seed=self.settings.seed * 1_000 + r)

        val_auroc, test_auroc = self._evaluate()
        labels = self.dataset.labels
        record = RoundRecord(
            round=r, n_labeled=self.pool.n_labeled, n_selected=len(selection.indices),
            defects_found=int(labels[self.pool.labeled].sum()), defects_left=int(labels[self.pool.unlabeled].sum()),
            val_auroc=val_auroc, test_auroc=test_auroc, train_loss=loss, seconds=time.perf_counter() - start,
        )
        self.history.append(record)
        rows = [SelectionRow(r, rank, int(i), float(s), int(y), self.dataset.classes[int(i)])
                for rank, (i, s, y) in enumerate(zip(selection.indices.tolist(), selection.scores.tolist(),
                                                     revealed.tolist()))]
        log.info("[%s] round %d/%d | labeled %d/%d | val AUROC %.3f | test AUROC %.3f | defects left %d | %.1f s",
                 self.label, r + 1, self.total_rounds, record.n_labeled, len(self.split.pool), val_auroc,
                 test_auroc, record.defects_left, record.seconds)
        for listener in self.listeners:
            listener.on_round(record, rows)
        return record

    def _evaluate(self) -> tuple[float, float]:
        both = torch.cat([self.split.val, self.split.test])
        out = score_images(self.model.net.to(self.device), self.dataset.images, both, frozenset({"probs"}),
                           batch_size=self.settings.score_batch_size, device=self.device)
        n_val = len(self.split.val)
        labels = self.dataset.labels
        return (auroc(out.probs[:n_val], labels[self.split.val]), auroc(out.probs[n_val:], labels[self.split.test]))


def _rows(outputs: ModelOutputs, rows: slice) -> ModelOutputs:
    def pick(t):
        return None if t is None else t[rows]

    return ModelOutputs(indices=outputs.indices[rows], probs=pick(outputs.probs),
                        embeddings=pick(outputs.embeddings), cams=pick(outputs.cams))
