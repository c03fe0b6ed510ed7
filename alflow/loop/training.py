"""Training inside a round: a fresh Lightning ``Trainer`` per round over the images given."""
from __future__ import annotations

import logging
import math
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

from alflow.loop.batches import PairedBatchSampler
from alflow.model import DefectClassifier

CLASS_WEIGHTING = ("none", "balanced")
PROGRESS_EVERY_SECONDS = 30.0  # a fit that runs longer says how far it is (the full-pool reference: minutes)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSettings:
    """A round's training budget, in optimizer steps: ``epochs`` passes over the round's training
    images, at least ``min_steps`` and at most ``max_steps`` (``None``: no cap).

    With replay the training images are every labeled image, so the budget grows with the
    labeled set: the model is trained to convergence on what it has, not given a few steps on
    32 new images. ``class_weighting``: ``balanced`` weights the cross-entropy by the inverse
    frequency of each class among the round's labels (defects are the minority),
    ``none`` leaves it unweighted. ``recalibrate_bn``: after training, BatchNorm statistics are
    recomputed over every labeled image (see ``alflow.model.recalibrate_batchnorm``).
    Defaults live in ``conf/trainer/default.yaml``.
    """

    epochs: float
    min_steps: int
    max_steps: int | None
    batch_size: int
    class_weighting: str
    accelerator: str
    devices: int | str
    precision: str
    recalibrate_bn: bool

    def __post_init__(self) -> None:
        if self.epochs <= 0 or self.min_steps < 0 or self.batch_size < 1:
            raise ValueError(
                f"trainer.epochs > 0, trainer.min_steps >= 0 and trainer.batch_size >= 1 are required, "
                f"got {self.epochs}, {self.min_steps}, {self.batch_size}"
            )
        if self.max_steps is not None and self.max_steps < max(self.min_steps, 1):
            raise ValueError(f"trainer.max_steps must be null or >= trainer.min_steps (and >= 1), "
                             f"got {self.max_steps} with min_steps {self.min_steps}")
        if self.class_weighting not in CLASS_WEIGHTING:
            raise ValueError(f"trainer.class_weighting must be one of {list(CLASS_WEIGHTING)}, "
                             f"got {self.class_weighting!r}")

    def steps_for(self, n_images: int) -> int:
        """Optimizer steps for a round over ``n_images``: ceil(epochs x batches), clamped to
        [min_steps, max_steps], and at least 1."""
        steps = max(math.ceil(self.epochs * math.ceil(n_images / self.batch_size)), self.min_steps, 1)
        return steps if self.max_steps is None else min(steps, self.max_steps)


def balanced_class_weights(labels: torch.Tensor) -> torch.Tensor:
    """Length-2 float tensor n / (2 n_c) for class c of ``labels`` (int64, 0/1): each class carries
    half the loss, as scikit-learn's ``compute_class_weight("balanced")`` does. Ones when a class
    is absent: there is nothing to balance then."""
    counts = torch.bincount(labels, minlength=2).double()
    if (counts == 0).any():
        return torch.ones(2)
    return (len(labels) / (2 * counts)).float()


@contextmanager
def quiet_lightning():
    """Lightning's per-fit banners and small-data warnings would bury the per-round progress lines;
    silenced for the one fit, not for the process."""
    loggers = [logging.getLogger(n) for n in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", ".*does not have many workers.*")
            warnings.filterwarnings("ignore", ".*number of training batches.*")
            warnings.filterwarnings("ignore", ".*smaller than the logging interval.*")
            warnings.filterwarnings("ignore", ".*LeafSpec.*is deprecated.*")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


class StepProgress(pl.Callback):
    """Logs ``training: step k/N (p %), s s so far, about m min left`` at most every ``every_seconds``:
    a round of a few seconds says nothing, a long fit (the full-pool reference, a batch retrain) is
    not silent for minutes."""

    def __init__(self, total_steps: int, every_seconds: float | None = None) -> None:
        self.total = total_steps
        self.every = PROGRESS_EVERY_SECONDS if every_seconds is None else every_seconds
        self.start = self.last = 0.0

    def on_train_start(self, trainer, pl_module) -> None:
        self.start = self.last = time.monotonic()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        now = time.monotonic()
        step = trainer.global_step
        if now - self.last < self.every or step >= self.total:
            return
        self.last = now
        elapsed = now - self.start
        left = elapsed / step * (self.total - step) if step else math.nan
        log.info("training: step %d/%d (%.0f %%), %.0f s so far, about %.1f min left",
                 step, self.total, 100 * step / self.total, elapsed, left / 60)


def train_round(model: DefectClassifier, images: torch.Tensor, labels: torch.Tensor,
                settings: TrainSettings, seed: int) -> float:
    """Fit ``model`` on ``images`` (N x 3 x H x W uint8) with ``labels`` (N, int64) for
    ``settings.steps_for(N)`` optimizer steps; returns the mean training loss of the last pass
    over the data (the last ``ceil(N / batch_size)`` steps at most). A fit longer than
    ``PROGRESS_EVERY_SECONDS`` logs its progress (:class:`StepProgress`)."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # augmentation draws
    model.class_weights = balanced_class_weights(labels) if settings.class_weighting == "balanced" else None
    data = TensorDataset(images, labels)
    # Never a batch of one image (BatchNorm in training mode needs two): see alflow.loop.batches.
    batches = PairedBatchSampler(RandomSampler(data, generator=generator), settings.batch_size, drop_last=False)
    loader = DataLoader(data, batch_sampler=batches)
    with quiet_lightning():
        steps = settings.steps_for(len(images))
        trainer = pl.Trainer(
            max_steps=steps,
            callbacks=[StepProgress(steps)],
            max_epochs=-1,
            accelerator=settings.accelerator,
            devices=settings.devices,
            precision=settings.precision,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            log_every_n_steps=1,
        )
        trainer.fit(model, train_dataloaders=loader)
    loss = trainer.callback_metrics.get("train/loss")
    return float(loss) if loss is not None else float("nan")
