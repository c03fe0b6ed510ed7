"""Training inside a round: a fresh Lightning ``Trainer`` per round over the images given."""
from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

from alflow.loop.batches import PairedBatchSampler
from alflow.model import DefectClassifier


@dataclass(frozen=True)
class TrainSettings:
    """A round's training budget is epochs *and* a minimum number of optimizer steps.

    32 new images are one step an epoch: a budget of epochs alone leaves a
    from-scratch ResNet-18 undertrained, so each round runs at least ``min_steps``.
    ``recalibrate_bn``: after training, BatchNorm statistics are recomputed over every labeled
    image (see ``alflow.model.recalibrate_batchnorm``).
    """

    epochs: int = 1
    min_steps: int = 10
    batch_size: int = 32
    accelerator: str = "auto"
    devices: int | str = 1
    precision: str = "32-true"
    recalibrate_bn: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.min_steps < 0 or self.batch_size < 1:
            raise ValueError(
                f"trainer.epochs >= 1, trainer.min_steps >= 0 and trainer.batch_size >= 1 are required, "
                f"got {self.epochs}, {self.min_steps}, {self.batch_size}"
            )

    def epochs_for(self, n_images: int) -> int:
        steps_per_epoch = math.ceil(n_images / self.batch_size)
        return max(self.epochs, math.ceil(self.min_steps / steps_per_epoch))


def quiet_lightning() -> None:
    """Lightning's per-fit banners would bury the per-round progress lines."""
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*number of training batches.*")
    warnings.filterwarnings("ignore", ".*smaller than the logging interval.*")
    warnings.filterwarnings("ignore", ".*LeafSpec.*is deprecated.*")
    warnings.filterwarnings("ignore", ".*no `val_dataloader`.*")
    # A round's new batch may hold no defect; its training AUROC is then undefined, not an error.
    warnings.filterwarnings("ignore", ".*No positive samples in targets.*")
    warnings.filterwarnings("ignore", ".*No negative samples in targets.*")


def train_round(model: DefectClassifier, images: torch.Tensor, labels: torch.Tensor,
                settings: TrainSettings, seed: int) -> float:
    """Fit ``model`` on the given images; returns the last epoch's mean training loss."""
    quiet_lightning()
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # augmentation draws
    data = TensorDataset(images, labels)
    # Never a batch of one image (BatchNorm in training mode needs two): see alflow.loop.batches.
    batches = PairedBatchSampler(RandomSampler(data, generator=generator), settings.batch_size, drop_last=False)
    loader = DataLoader(data, batch_sampler=batches)
    trainer = pl.Trainer(
        max_epochs=settings.epochs_for(len(images)),
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
