"""The acquisition loop: a plain Python loop; training inside a round is Lightning's.

One round (``AcquisitionLoop.step``) is the paper's protocol as explicit steps, each a call
whose inputs and outputs are named in the round's body:

    score → select → reveal → label the pool → update the model → evaluate → record → commit

The first batch of a run with nothing labeled is drawn at random (seeded, the same for every
strategy), since no strategy has a model worth asking yet. What the loop keeps between rounds
is only what the next round starts from: the pool (which image was labeled in which round, and
its revealed label), the current ``ModelVersion``, the history and the selection log; all of
it is committed to disk after every round, so a killed job resumes where it stopped.
"""
from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

from alflow.data import FoldSplit, InspectionDataset, Pool
from alflow.explain import CamSettings
from alflow.explain.gallery import save_gallery
from alflow.data.fingerprint import data_fingerprint
from alflow.loop.checkpoint import LoopState, check_same_data, save_state
from alflow.loop.model_version import HeadVersion, ModelVersion, auroc, scoring_device
from alflow.loop.oracle import GroundTruthOracle, Oracle, SimulatedOracle
from alflow.loop.seeds import SeedStreams
from alflow.loop.training import TrainSettings, train_round
from alflow.model import DefectClassifier, recalibrate_batchnorm
from alflow.model.features import FrozenFeatures
from alflow.model.head import LinearHead
from alflow.model.last_block import LastBlockClassifier
from alflow.records import FULL_POOL_LEARNING, RoundRecord, SelectionRow
from alflow.stopping import NoStopping, StoppingCriterion
from alflow.stopping.calibration import calibrated, expected_calibration_error, fit_temperature, log_odds
from alflow.strategies import REGISTRY, ScoredPool, Selection, Strategy

log = logging.getLogger("alflow")

LEARNING_MODES = ("incremental", "batch", FULL_POOL_LEARNING)


@dataclass(frozen=True)
class LoopSettings:
    """The ``al.`` config group (defaults live in ``conf/config.yaml``, nowhere else).

    ``learning``: ``incremental`` keeps one model across rounds and trains it on the new batch
    (on every labeled image with ``replay``); ``batch`` trains a fresh model each round on every
    labeled image; ``full_pool`` is the reference run of the tables: round 0 labels the whole
    pool (in a seeded random order) and trains on it once. Sizes are images;
    ``initial_size`` None = ``batch_size``; ``max_rounds`` None = no limit. ``initial_strategy``:
    what picks the first batch, with nothing labeled: ``random`` (seeded, the same for every
    strategy), or a strategy that can start cold (``typiclust``, ``coreset``) on the embeddings
    of a pretrained backbone (see ``AcquisitionLoop``). ``gallery_size``
    selected images a round are drawn with their GradCAM into ``gallery_dir`` (None: none).
    ValueError names the ``al.`` key of a bad value.
    """

    batch_size: int
    initial_size: int | None
    initial_strategy: str
    learning: str
    replay: bool
    score_batch_size: int
    score_bf16: bool  # bfloat16 autocast for the scoring passes (pool, evaluation, gallery, batch retrain)
    max_rounds: int | None
    seed: int
    resume: bool  # a rerun of the same job continues from its last finished round
    state_dir: str  # where each job commits its state after every round
    gallery_size: int  # the top-level ``gallery_size``
    gallery_dir: str | None  # the job's output folder's ``gallery/`` (the entry point decides)

    def __post_init__(self) -> None:
        if self.learning not in LEARNING_MODES:
            raise ValueError(f"al.learning must be one of {LEARNING_MODES}, got {self.learning!r}")
        if self.batch_size < 1:
            raise ValueError(f"al.batch_size must be >= 1, got {self.batch_size}")
        if self.initial_size is not None and self.initial_size < 1:
            raise ValueError(f"al.initial_size must be >= 1 or null, got {self.initial_size}")
        cold = sorted(name for name, cls in REGISTRY.items() if cls.cold_start)
        if self.initial_strategy != "random" and self.initial_strategy not in cold:
            raise ValueError(f"al.initial_strategy must be random or a strategy that picks with nothing labeled "
                             f"({', '.join(cold)}), got {self.initial_strategy!r}")


class DivergedError(FloatingPointError):
    """A round's training loss, weights or probabilities are not finite: every number after it would be
    meaningless, so the job fails (its run is marked FAILED) instead of reporting them."""


def check_finite(r: int, what: str, values: torch.Tensor | float, model: DefectClassifier) -> None:
    """Raise DivergedError naming round ``r`` (0-based), ``what`` and the model's learning rate when
    ``values`` hold a NaN or an infinity."""
    finite = math.isfinite(values) if isinstance(values, float) else bool(torch.isfinite(values).all())
    if not finite:
        settings, fix = model.divergence_advice()
        raise DivergedError(f"round {r + 1}: non-finite {what} ({settings}): training diverged; {fix}")


class RoundListener(Protocol):
    """Told of every committed round. A listener may also define ``on_phase(phase: str, round_index: int)``,
    told when a round starts a long step ("scoring the pool", "training on N labels"; 0-based round)."""

    def on_round(self, record: RoundRecord, rows: list[SelectionRow]) -> None: ...


class BatchSource(Protocol):
    """Where a round's batch may already be decided (a labeling session's stored batches, shown before a
    restart), and who keeps each new one. ``stored(r)``: round ``r``'s batch (0-based) or None to select it;
    ``selected(r, selection, picker)``: a new batch, with the version that picked it (None in a round with
    nothing labeled: no model to ask for probabilities or maps)."""

    def stored(self, round_index: int) -> Selection | None: ...

    def selected(self, round_index: int, selection: Selection, picker: ModelVersion | None) -> None: ...


class AcquisitionLoop:
    """Pool-based active learning on one fold of ``dataset``.

    ``dataset``: N images (uint8, N x 3 x H x W) with binary labels; ``split``: the fold's pool,
    validation and test indices; ``strategy`` ranks the unlabeled pool; ``model_factory()``
    returns a fresh ``DefectClassifier`` (called under ``SeedStreams.model_init``); ``train``: a
    round's training budget; ``stopping``: asked after every round (default: never stop);
    ``oracle`` reveals labels (default: simulated from ``dataset.labels``); ``listeners`` are told
    of every committed round; ``log_prefix`` starts each progress line; the state goes to
    ``state_path`` after every round (None: not saved), with ``state_extra`` beside it.

    Cold start: with ``al.initial_strategy`` other than ``random``, ``initial_strategy`` (that
    strategy, built from its config) picks the first batch from the embeddings of the fresh model,
    which are meaningful only when it starts from a pretrained backbone: ``pretrained_backbone``
    names it (``model.pretrained=ssl`` gives the self-supervised embeddings TypiClust was made for;
    ``imagenet`` or a weights file also count). Without one (None) round 0 is drawn at random, and
    the log says so. ValueError when ``initial_strategy`` is missing or not the one configured.

    Head learning (``model.trainable=head``, and ``last_block``): ``features`` holds the frozen backbone's
    cached features of every dataset image and ``model_factory()`` returns a ``LinearHead`` (or a
    ``LastBlockClassifier``); a round then trains it on the labeled images' cached features and scores the
    pool from the cache (``HeadVersion``), without a pass over the images.
    """

    def __init__(self, dataset: InspectionDataset, split: FoldSplit, strategy: Strategy,
                 model_factory: Callable[[], DefectClassifier], train: TrainSettings, settings: LoopSettings,
                 stopping: StoppingCriterion | None = None, oracle: Oracle | None = None,
                 listeners: Sequence[RoundListener] = (), log_prefix: str = "",
                 state_path: str | Path | None = None, state_extra: dict | None = None,
                 initial_strategy: Strategy | None = None, pretrained_backbone: str | None = None,
                 features: FrozenFeatures | None = None, cam_settings: CamSettings | None = None,
                 batches: BatchSource | None = None):
        wanted, given = settings.initial_strategy, getattr(initial_strategy, "name", None)
        if wanted != "random" and given != wanted:
            raise ValueError(f"al.initial_strategy={wanted}: pass that strategy as initial_strategy= (got {given})")
        self.initial_strategy = initial_strategy if settings.initial_strategy != "random" else None
        self.pretrained_backbone = pretrained_backbone
        self.features = features
        self.dataset, self.split, self.strategy = dataset, split, strategy
        self.model_factory, self.train, self.settings = model_factory, train, settings
        self.stopping = stopping or NoStopping()
        self.oracle = oracle or SimulatedOracle(dataset.labels)
        self.listeners = list(listeners)
        self.log_prefix = log_prefix or strategy.name
        self.seeds = SeedStreams(settings.seed)
        self.device = scoring_device(train.accelerator)
        # Galleries draw GradCAM for every strategy: those without maps of their own get cam_settings (cam.*).
        self.cam_settings = strategy.cam_settings or cam_settings
        if self.cam_settings is None and settings.gallery_dir and settings.gallery_size > 0:
            raise ValueError(f"gallery_size={settings.gallery_size}: strategy {strategy.name} draws no GradCAM of "
                             "its own; pass cam_settings= (the cam.* settings) or use gallery_size=0")
        self.batches = batches
        self.state_path = Path(state_path) if state_path else None
        self.state_extra = dict(state_extra or {})
        self.pool = Pool(split.pool)
        self.history: list[RoundRecord] = []
        self.rows: list[SelectionRow] = []
        self.stop_reason = ""
        self.version = self.new_version(self.fresh_model())

    @functools.cached_property
    def data_fingerprint(self) -> dict:
        """What the saved state is made from, so a rerun on other data refuses to resume (labels only in a
        simulation: a person's labels live in the labeling session's store). Hashed once, at the first
        commit or restore: a loop that saves no state never pays for it."""
        return data_fingerprint(self.dataset, with_labels=isinstance(self.oracle, GroundTruthOracle))

    @property
    def model(self) -> DefectClassifier:
        return self.version.model

    def fresh_model(self) -> DefectClassifier:
        """A model from the same seeded initialisation for every strategy and round."""
        torch.manual_seed(self.seeds.model_init())
        return self.model_factory()

    def new_version(self, model: DefectClassifier | LinearHead | LastBlockClassifier) -> ModelVersion:
        """``model`` as it is now, with its own scoring copy (a head scores from the cached features)."""
        if isinstance(model, (LinearHead, LastBlockClassifier)):
            if self.features is None:
                raise ValueError(f"a {type(model).__name__} needs the backbone's cached features (features=)")
            return HeadVersion(model, self.features, self.cam_settings)
        return ModelVersion(model, self.cam_settings, self.device, self.settings.score_bf16)

    def train_model(self, model: DefectClassifier | LinearHead | LastBlockClassifier, indices: torch.Tensor, seed: int,
                    train: TrainSettings | None = None, calibration: torch.Tensor | None = None) -> float:
        """Train ``model`` on the pool images ``indices`` with their revealed labels under ``train`` (default:
        the round's budget); returns the training loss. A head fits to convergence on their cached
        features; a last block trains ``train``'s steps on the cached maps of the stage before it; a
        network trains ``train``'s steps on the images, then recalibrates BatchNorm over the images
        ``calibration`` (default: every labeled image)."""
        train = train or self.train
        labels = self.pool.labels_of(indices)
        if isinstance(model, LinearHead):  # model.head.c_grid chooses its regularisation on the validation fold
            val = self.split.val
            return model.fit(self.features.pooled[indices], labels, train.class_weighting,
                             self.features.pooled[val], self.dataset.labels[val])
        if isinstance(model, LastBlockClassifier):  # the last stage trains on the cached maps of the stage before
            return model.fit(self.features.middle[indices], labels, train, seed)
        calibration = self.pool.labeled if calibration is None else calibration
        return fit(model, self.dataset.images[indices], labels, train, seed, self.dataset.images[calibration],
                   self.device)

    @property
    def total_rounds(self) -> int:
        """Rounds until the pool is exhausted or ``al.max_rounds`` is reached, whichever comes first
        (stopping criteria may end a run earlier): the "of N" of the progress lines."""
        first = self._first_batch_size()
        rest = max(len(self.split.pool) - first, 0)
        to_exhaustion = 1 + math.ceil(rest / self.settings.batch_size)
        if self.settings.max_rounds is None:
            return to_exhaustion
        return min(to_exhaustion, self.settings.max_rounds)

    def run(self) -> list[RoundRecord]:
        """Rounds until the pool is exhausted, ``al.max_rounds``, or the stopping criterion says so."""
        while True:
            reason = self.why_stop()
            if reason:
                self.stop_reason = reason
                log.info("[%s] stopped after %d rounds: %s", self.log_prefix, len(self.history), reason)
                return self.history
            self.step()

    def step(self) -> RoundRecord:
        """One round; returns its record (also appended to ``history``) once it is committed."""
        start = time.perf_counter()
        r = len(self.history)
        picker = self.version  # the model that picks this round's batch
        selection = self.batches.stored(r) if self.batches is not None else None
        if selection is None:
            scored = self._score(picker) if self.pool.n_labeled else None
            selection = self._select(r, self._batch_size_now(), scored, picker)
            if self.batches is not None:
                self.batches.selected(r, selection, picker if scored is not None else None)
        selection, revealed = answered(selection, self.oracle.reveal(selection.indices))
        gallery = self._gallery(picker, r, selection, revealed)
        self.pool.mark_labeled(selection.indices, r, revealed)
        self.version, loss = self._update_model(r, picker.model, selection)
        val_probs, test_probs = self.predict_val_test(self.version)
        check_finite(r, "validation and test probabilities", torch.cat([val_probs, test_probs]), self.model)
        record = self._record(r, selection, val_probs, test_probs, loss, gallery, start)
        rows = self._selection_rows(r, selection, revealed)
        self.history.append(record)
        self.rows.extend(rows)
        self._commit()  # the round is on disk before anyone is told of it: a kill from here on loses nothing
        log.info("[%s] round %d/%d | labeled %d/%d | val AUROC %.3f | test AUROC %.3f | defects left %s | %.1f s",
                 self.log_prefix, r + 1, self.total_rounds, record.n_labeled, len(self.split.pool), record.val_auroc,
                 record.test_auroc, _count(record.defects_left), record.seconds)
        for listener in self.listeners:
            listener.on_round(record, rows)
        return record

    # ---- the steps of a round ----

    def _score(self, version: ModelVersion, strategy: Strategy | None = None) -> ScoredPool:
        """Score: one pass over the pool with ``version``, for what ``strategy`` (default: the run's) needs
        plus probabilities (the label-free stopping signals use them); labeled images only when the
        strategy compares against them (maps, embeddings)."""
        strategy = strategy or self.strategy
        self._phase("scoring the pool")
        needs = strategy.needs | {"probs"}
        labeled_needed = "cams" in needs or "embeddings" in needs
        labeled = self.pool.labeled if labeled_needed else torch.empty(0, dtype=torch.long)
        return version.score_pool(self.dataset.images, self.pool.unlabeled, labeled, needs,
                                  self.settings.score_batch_size, strategy.mc_dropout)

    def _select(self, r: int, n: int, scored: ScoredPool | None, picker: ModelVersion) -> Selection:
        """Select: the strategy's ``n`` picks; while nothing is labeled, the cold-start strategy's on the
        pretrained embeddings, or a seeded random draw."""
        generator = torch.Generator().manual_seed(self.seeds.selection(r))
        if scored is None and self.initial_strategy is not None and self.settings.learning != FULL_POOL_LEARNING:
            if self.pretrained_backbone:
                log.info("[%s] round 1: %d images picked by %s on the embeddings of the %s backbone", self.log_prefix,
                         n, self.initial_strategy.name, self.pretrained_backbone)
                return self.initial_strategy.select(self._score(picker, self.initial_strategy), n, generator)
            log.warning("[%s] al.initial_strategy=%s needs pretrained embeddings (model.pretrained=ssl), and this "
                        "job's model starts from random weights: round 1 is drawn at random", self.log_prefix,
                        self.initial_strategy.name)
        if scored is None:
            order = torch.randperm(self.pool.n_unlabeled, generator=generator)[:n]
            return Selection(self.pool.unlabeled[order], torch.full((n,), float("nan"), dtype=torch.float64))
        return self.strategy.select(scored, n, generator)

    def _update_model(self, r: int, model: DefectClassifier, selection: Selection) -> tuple[ModelVersion, float]:
        """Update the model on the revealed labels; returns the new version and the training loss."""
        if self.settings.learning == "batch":
            model = self.fresh_model()
        on_all = self.settings.learning == "batch" or self.settings.replay
        train_idx = self.pool.labeled if on_all else selection.indices
        self._phase(f"training on {len(train_idx)} labels")
        loss = self.train_model(model, train_idx, self.seeds.training(r))
        check_finite(r, "training loss", loss, model)
        for weights in model.parameters():  # no concatenated copy of 11 M weights, one check per tensor
            check_finite(r, "model weights", weights.detach(), model)
        return self.new_version(model), loss

    def predict_val_test(self, version: ModelVersion) -> tuple[torch.Tensor, torch.Tensor]:
        """Evaluate: probabilities (n x 2) on the validation and the test fold, in one pass."""
        both = torch.cat([self.split.val, self.split.test])
        probs = version.probs(self.dataset.images, both, self.settings.score_batch_size)
        n_val = len(self.split.val)
        return probs[:n_val], probs[n_val:]

    def _record(self, r: int, selection: Selection, val_probs: torch.Tensor, test_probs: torch.Tensor,
                loss: float, gallery: str | None, start: float) -> RoundRecord:
        """Record: what the round measured. The expected defects left come from the pool scored with the
        new version, which the next round's selection reuses (``ModelVersion.score_pool``). For the
        calibrated and recall-targeted stopping criteria it also records the defect log-odds on the
        validation fold and the pool, the temperature fitted on the validation fold with its ECE, and (in a
        simulation) the unlabeled pool's labels in the job's seeded random order, the verification sample."""
        expected_left = float("nan")
        unlabeled_logits: list[float] = []
        if self.pool.n_unlabeled > 0:
            pool_probs = self._score(self.version).unlabeled.probs
            check_finite(r, "pool's defect probabilities", pool_probs, self.model)
            expected_left = float(pool_probs[:, 1].sum())
            unlabeled_logits = _log_odds(pool_probs)
        labeled_probs = self.version.probs(self.dataset.images, self.pool.labeled, self.settings.score_batch_size)
        val_labels = self.dataset.labels[self.split.val]
        val_logits = _log_odds(val_probs)
        temperature = fit_temperature(val_logits, val_labels.tolist())
        ece = expected_calibration_error(calibrated(val_logits, temperature), val_labels.numpy())
        truth = self.oracle if isinstance(self.oracle, GroundTruthOracle) else None
        sample = sample_index = None
        if truth is not None:
            # One random order of the whole pool per job: each round's sample is its first still-unlabeled
            # images, so later tests reuse the images earlier ones paid for.
            generator = torch.Generator().manual_seed(self.seeds.verification())
            order = self.pool.indices[torch.randperm(len(self.pool.indices), generator=generator)]
            order = order[torch.isin(order, self.pool.unlabeled)]
            sample_index = order.tolist()
            sample = self.dataset.labels[order].tolist()  # simulation only: the ground truth the oracle holds
        return RoundRecord(
            round=r, n_labeled=self.pool.n_labeled, n_selected=len(selection.indices),
            defects_found=self.pool.defects_found,
            defects_left=truth.defects_left(self.pool) if truth else float("nan"),
            val_auroc=auroc(val_probs, val_labels),
            test_auroc=truth.test_auroc(self.split.test, test_probs) if truth else float("nan"),
            train_loss=loss, seconds=time.perf_counter() - start, expected_defects_left=expected_left,
            stop_set_predictions=val_probs.argmax(dim=1).tolist(), gallery=gallery,
            val_logits=val_logits, val_labels=val_labels.tolist(), labeled_logits=_log_odds(labeled_probs),
            unlabeled_logits=unlabeled_logits, unlabeled_index=self.pool.unlabeled.tolist(),
            temperature=temperature, val_ece=ece, remaining_sample_labels=sample,
            remaining_sample_index=sample_index,
        )

    def _selection_rows(self, r: int, selection: Selection, revealed: torch.Tensor) -> list[SelectionRow]:
        return [SelectionRow(r, rank, int(i), float(s), int(y), self.dataset.classes[int(i)])
                for rank, (i, s, y) in enumerate(zip(selection.indices.tolist(), selection.scores.tolist(),
                                                     revealed.tolist()))]

    def _commit(self) -> None:
        """Commit: the state the next round starts from, atomically on disk."""
        if self.state_path is not None:
            save_state(self.state_path, LoopState(
                labeled_round=self.pool.labeled_round.clone(), revealed=self.pool.revealed.clone(),
                history=list(self.history), rows=list(self.rows), model_state=self.model.state_dict(),
                extra=self.state_extra, data=self.data_fingerprint))

    # ---- around the rounds ----

    def restore(self, state: LoopState, keep_pool: bool = False) -> None:
        """Continue from a committed state: the rounds it holds are not run again. ValueError (naming
        the file) for a state saved for another pool, OtherDataError (a ValueError) for one saved for other
        data (``check_same_data``). ``keep_pool``: keep the pool as it is (a labeling session rebuilds it from
        its label store, which may hold labels newer than the state)."""
        check_same_data(self.state_path, state, self.data_fingerprint)
        if len(state.labeled_round) != len(self.pool.indices):
            raise ValueError(f"saved state {self.state_path} is for a pool of {len(state.labeled_round)} images, "
                             f"this job's pool has {len(self.pool.indices)}; use al.resume=false")
        if not keep_pool:
            self.pool.labeled_round = state.labeled_round.clone()
            self.pool.revealed = state.revealed.clone()
        self.history = list(state.history)
        self.rows = list(state.rows)
        model = self.model
        model.load_state_dict(state.model_state)
        # A new version from the restored weights: it rescores the pool to the same numbers the lost process had.
        self.version = self.new_version(model)

    def why_stop(self) -> str:
        """Why the loop stops before its next round ("" = it goes on): the pool is exhausted,
        ``al.max_rounds`` is reached, or the stopping criterion says so."""
        if self.pool.n_unlabeled == 0:
            return "pool exhausted"
        if self.settings.max_rounds is not None and len(self.history) >= self.settings.max_rounds:
            return f"al.max_rounds={self.settings.max_rounds} reached"
        if self.stopping.should_stop(self.history):
            return f"stopping criterion {self.stopping.name}"
        return ""

    def _phase(self, phase: str) -> None:
        for listener in self.listeners:
            if hasattr(listener, "on_phase"):
                listener.on_phase(phase, len(self.history))

    def _first_batch_size(self) -> int:
        if self.settings.learning == FULL_POOL_LEARNING:
            return len(self.split.pool)
        return self.settings.initial_size or self.settings.batch_size

    def _batch_size_now(self) -> int:
        n = self._first_batch_size() if not self.history else self.settings.batch_size
        remaining = self.stopping.remaining(self.pool.n_labeled)
        if remaining is not None:
            n = min(n, remaining)
        return min(n, self.pool.n_unlabeled)

    def _gallery(self, version: ModelVersion, r: int, selection: Selection, revealed: torch.Tensor) -> str | None:
        """Draw the first ``gallery_size`` picks with the GradCAM of the model that picked them."""
        n = min(self.settings.gallery_size, len(selection.indices))
        if not self.settings.gallery_dir or n == 0:
            return None
        picked = selection.indices[:n]
        cams = version.score(self.dataset.images, picked, frozenset({"cams"})).cams
        number = r + 1  # 1-based, as the progress line counts rounds (selection.csv's round column is r)
        path = Path(self.settings.gallery_dir) / f"round_{number:03d}.jpg"
        files = [self.dataset.files[i] for i in picked.tolist()] if self.dataset.files else None
        save_gallery(path, self.dataset.images[picked], cams, selection.scores[:n].tolist(), revealed[:n].tolist(),
                     [self.dataset.classes[i] for i in picked.tolist()],
                     f"{self.log_prefix} round {number}/{self.total_rounds}: the first {n} of {len(selection.indices)} "
                     f"picks, best first", strategy=self.strategy.name, round_number=number, files=files)
        return str(path)


def fit(model: DefectClassifier, images: torch.Tensor, labels: torch.Tensor, train: TrainSettings, seed: int,
        calibration_images: torch.Tensor, device: torch.device) -> float:
    """Train ``model`` on ``images`` (uint8, N x 3 x H x W) with ``labels`` (N, revealed), then (with
    ``trainer.recalibrate_bn``) recompute its BatchNorm statistics over ``calibration_images``.
    Returns the last epoch's mean training loss. The one training path of the loop and the analysis."""
    loss = train_round(model, images, labels, train, seed=seed)
    if train.recalibrate_bn:
        recalibrate_batchnorm(model.net.to(device), calibration_images)
    return loss


def _log_odds(probs: torch.Tensor) -> list[float]:
    """Defect log-odds of N x 2 softmax probabilities (``alflow.stopping.calibration.log_odds``)."""
    p = probs.detach().double().cpu().numpy()
    return log_odds(p[:, 0], p[:, 1]).tolist()


def answered(selection: Selection, revealed: torch.Tensor) -> tuple[Selection, torch.Tensor]:
    """The picks the oracle answered (label 0 or 1) and their labels. A person may leave an image
    unanswered (-1: unsure); it stays in the unlabeled pool. A simulated oracle answers every pick,
    so its selection comes back as it was."""
    keep = revealed >= 0
    if bool(keep.all()):
        return selection, revealed
    return Selection(selection.indices[keep], selection.scores[keep]), revealed[keep]


def _count(value: float) -> str:
    return "–" if math.isnan(value) else str(int(value))
