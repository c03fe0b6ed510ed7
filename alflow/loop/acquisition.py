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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import torch
from torchmetrics.functional.classification import binary_auroc

from alflow.data import FoldSplit, InspectionDataset, Pool
from alflow.explain import CamSettings
from alflow.explain.gallery import save_gallery
from alflow.loop.checkpoint import LoopState, save_state
from alflow.loop.oracle import Oracle, SimulatedOracle
from alflow.loop.scoring import ScoringPass
from alflow.loop.training import TrainSettings, train_round
from alflow.model import DefectClassifier, recalibrate_batchnorm
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
    score_bf16: bool = False         # bfloat16 autocast for the scoring passes (pool, evaluation, gallery, batch retrain)
    max_rounds: int | None = None
    seed: int = 0
    gallery_size: int = 16           # selected images drawn per round with their GradCAM (0 = none)
    gallery_dir: str | None = None   # where the round galleries go; None = no galleries
    resume: bool = True              # a rerun of the same job continues from its last finished round
    state_dir: str = ".alflow/state"  # where each job commits its state after every round

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
    # Label-free signals for stopping criteria, measured after the round's training:
    expected_defects_left: float = float("nan")  # sum of p(defect) over the unlabeled pool
    stop_set_predictions: list[int] | None = None  # predicted labels on the stop set (the validation fold)
    gallery: str | None = None  # PNG of the round's selected images with their GradCAM overlay


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
                 label: str = "", state_path: str | Path | None = None, state_extra: dict | None = None):
        self.dataset, self.split, self.strategy = dataset, split, strategy
        self.model_factory, self.train, self.settings = model_factory, train, settings
        self.stopping = stopping
        self.oracle = oracle or SimulatedOracle(dataset.labels)
        self.listeners = list(listeners)
        self.label = label or strategy.name
        self.pool = Pool(split.pool)
        self.revealed: dict[int, int] = {}
        self.history: list[RoundRecord] = []
        self.rows: list[SelectionRow] = []
        self.stop_reason = ""
        self.state_path = Path(state_path) if state_path else None
        self.state_extra = dict(state_extra or {})
        # The pool scored with the current model, kept from the end of the last round for the next selection.
        self._scored: ScoredPool | None = None
        # The scoring copy of the current model (a deep copy with BN folded): built once per model
        # version and shared by that model's passes (evaluation, pool, next round's gallery).
        self._scoring: ScoringPass | None = None
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

    def _score_pool(self) -> ScoredPool:
        """One pass over the pool with the current model: what the strategy needs, plus probabilities
        (the label-free stopping signals use them)."""
        needs = self.strategy.needs | {"probs"}
        labeled_needed = "cams" in needs or "embeddings" in needs
        unlabeled = self.pool.unlabeled
        labeled = self.pool.labeled if labeled_needed else torch.empty(0, dtype=torch.long)
        outputs = self._scoring_pass().score(self.dataset.images, torch.cat([unlabeled, labeled]), needs,
                                             self.settings.score_batch_size)
        n_u = len(unlabeled)
        return ScoredPool(unlabeled=_rows(outputs, slice(0, n_u)), labeled=_rows(outputs, slice(n_u, None)))

    def _select(self, round_index: int, n: int) -> Selection:
        generator = torch.Generator().manual_seed(self.settings.seed * 100_003 + round_index)
        if self.pool.n_labeled == 0:
            order = torch.randperm(self.pool.n_unlabeled, generator=generator)[:n]
            return Selection(self.pool.unlabeled[order], torch.full((n,), float("nan"), dtype=torch.float64))
        scored = self._scored if self._scored is not None else self._score_pool()
        self._scored = None
        return self.strategy.select(scored, n, generator)

    def step(self) -> RoundRecord:
        start = time.perf_counter()
        r = len(self.history)
        selection = self._select(r, self._batch_size_now())
        revealed = self.oracle.reveal(selection.indices)
        gallery = self._gallery(r, selection, revealed)
        for idx, y in zip(selection.indices.tolist(), revealed.tolist()):
            self.revealed[idx] = int(y)
        self.pool.mark_labeled(selection.indices, r)

        if self.settings.learning == "batch":
            self.model = self._fresh_model()
        train_idx = self.pool.labeled if (self.settings.learning == "batch" or self.settings.replay) \
            else selection.indices
        loss = self._train(self.model, train_idx, seed=self.settings.seed * 1_000 + r, calibrate_on=self.pool.labeled)
        self._scoring = None  # the model changed

        val_probs, test_probs = self._predict_val_test(self._scoring_pass())
        expected_left = float("nan")
        if self.pool.n_unlabeled > 0:
            # Scored now, used by the next round's selection: the model does not change in between.
            self._scored = self._score_pool()
            expected_left = float(self._scored.unlabeled.probs[:, 1].sum())
        labels = self.dataset.labels
        record = RoundRecord(
            round=r, n_labeled=self.pool.n_labeled, n_selected=len(selection.indices),
            defects_found=int(labels[self.pool.labeled].sum()), defects_left=int(labels[self.pool.unlabeled].sum()),
            val_auroc=auroc(val_probs, labels[self.split.val]), test_auroc=auroc(test_probs, labels[self.split.test]),
            train_loss=loss, seconds=time.perf_counter() - start, expected_defects_left=expected_left,
            stop_set_predictions=val_probs.argmax(dim=1).tolist(), gallery=gallery,
        )
        self.history.append(record)
        rows = [SelectionRow(r, rank, int(i), float(s), int(y), self.dataset.classes[int(i)])
                for rank, (i, s, y) in enumerate(zip(selection.indices.tolist(), selection.scores.tolist(),
                                                     revealed.tolist()))]
        self.rows.extend(rows)
        self._commit()  # the round is on disk before anyone is told of it: a kill from here on loses nothing
        log.info("[%s] round %d/%d | labeled %d/%d | val AUROC %.3f | test AUROC %.3f | defects left %d | %.1f s",
                 self.label, r + 1, self.total_rounds, record.n_labeled, len(self.split.pool), record.val_auroc,
                 record.test_auroc, record.defects_left, record.seconds)
        for listener in self.listeners:
            listener.on_round(record, rows)
        return record

    def _commit(self) -> None:
        if self.state_path is not None:
            save_state(self.state_path, LoopState(
                labeled_round=self.pool.labeled_round.clone(), revealed=dict(self.revealed), history=list(self.history),
                rows=list(self.rows), model_state=self.model.state_dict(), extra=self.state_extra))

    def restore(self, state: LoopState) -> None:
        """Continue from a committed state: the rounds it holds are not run again."""
        if len(state.labeled_round) != len(self.pool.indices):
            raise ValueError(f"saved state {self.state_path} is for a pool of {len(state.labeled_round)} images, "
                             f"this job's pool has {len(self.pool.indices)}; use al.resume=false")
        self.pool.labeled_round = state.labeled_round.clone()
        self.revealed = dict(state.revealed)
        self.history = list(state.history)
        self.rows = list(state.rows)
        self.model.load_state_dict(state.model_state)
        self._scoring = None
        self._scored = None  # rescored from the restored weights: the same numbers the lost process had

    def _gallery(self, r: int, selection: Selection, revealed: torch.Tensor) -> str | None:
        """Draw the first ``gallery_size`` picks with the GradCAM of the model that picked them."""
        n = min(self.settings.gallery_size, len(selection.indices))
        if not self.settings.gallery_dir or n == 0:
            return None
        picked = selection.indices[:n]
        cams = self._scoring_pass().score(self.dataset.images, picked, frozenset({"cams"})).cams
        path = Path(self.settings.gallery_dir) / f"round_{r:03d}.png"
        save_gallery(path, self.dataset.images[picked], cams, selection.scores[:n].tolist(), revealed[:n].tolist(),
                     [self.dataset.classes[i] for i in picked.tolist()],
                     f"{self.label} round {r + 1}: the first {n} picks (label revealed by the oracle)")
        return str(path)

    def _train(self, model: DefectClassifier, indices: torch.Tensor, seed: int,
               calibrate_on: torch.Tensor | None = None, budget: TrainSettings | None = None) -> float:
        labels = torch.tensor([self.revealed[i] for i in indices.tolist()], dtype=torch.long)
        loss = train_round(model, self.dataset.images[indices], labels, budget or self.train, seed=seed)
        if self.train.recalibrate_bn:
            images = self.dataset.images[indices if calibrate_on is None else calibrate_on]
            recalibrate_batchnorm(model.net.to(self.device), images)
        return loss

    def retrain_batch(self, upto_round: int, epochs: int | None = None) -> tuple[int, float, float]:
        """The paper's batch learning: a fresh model trained on exactly the images labeled up to
        ``upto_round`` for at least ``epochs`` epochs (a round's budget would leave a model trained once
        on all of them undertrained); returns (images, validation AUROC, test AUROC)."""
        indices = self.pool.indices[(self.pool.labeled_round >= 0) & (self.pool.labeled_round <= upto_round)]
        model = self._fresh_model()
        budget = self.train if epochs is None else replace(self.train, epochs=max(epochs, self.train.epochs))
        self._train(model, indices, seed=self.settings.seed * 1_000 + 999, budget=budget)
        val_probs, test_probs = self._predict_val_test(self._new_scoring_pass(model))
        labels = self.dataset.labels
        return len(indices), auroc(val_probs, labels[self.split.val]), auroc(test_probs, labels[self.split.test])

    def _scoring_pass(self) -> ScoringPass:
        """The current model's scoring pass, built on first use after each training."""
        if self._scoring is None:
            self._scoring = self._new_scoring_pass(self.model)
        return self._scoring

    def _new_scoring_pass(self, model: DefectClassifier) -> ScoringPass:
        # Galleries draw GradCAM for every strategy: those without maps of their own get the defaults.
        cam_settings = self.strategy.cam_settings or CamSettings()
        return ScoringPass(model.net.to(self.device), cam_settings, self.device, bf16=self.settings.score_bf16)

    def _predict_val_test(self, scoring: ScoringPass) -> tuple[torch.Tensor, torch.Tensor]:
        both = torch.cat([self.split.val, self.split.test])
        out = scoring.score(self.dataset.images, both, frozenset({"probs"}), self.settings.score_batch_size)
        n_val = len(self.split.val)
        return out.probs[:n_val], out.probs[n_val:]


def _rows(outputs: ModelOutputs, rows: slice) -> ModelOutputs:
    def pick(t):
        return None if t is None else t[rows]

    return ModelOutputs(indices=outputs.indices[rows], probs=pick(outputs.probs),
                        embeddings=pick(outputs.embeddings), cams=pick(outputs.cams))
