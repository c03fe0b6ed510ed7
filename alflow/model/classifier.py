"""The LightningModule: ResNet-18 with a 2-class head, cross-entropy, AUROC per stage."""
from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
import torchmetrics
import torchvision

# ImageNet statistics: harmless for random init, and right for user-supplied pretrained weights.
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 N x 3 x H x W → normalized float, on the images' device."""
    x = images.float().div_(255.0)
    return (x - MEAN.to(x.device)) / STD.to(x.device)


def build_resnet18(num_classes: int = 2, weights_path: str | None = None) -> torchvision.models.ResNet:
    """Random-init ResNet-18; backbone weights from a local file when given (nothing is downloaded)."""
    net = torchvision.models.resnet18(weights=None)
    if weights_path:
        path = Path(weights_path)
        if not path.is_file():
            raise FileNotFoundError(f"model.weights_path: no such file {path}")
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state)
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        try:
            missing, unexpected = net.load_state_dict(state, strict=False)
        except RuntimeError as exc:  # shape mismatches
            raise ValueError(f"model.weights_path {path} does not fit ResNet-18: {exc}") from exc
        missing = [m for m in missing if not m.startswith("fc.")]
        if missing or unexpected:
            raise ValueError(
                f"model.weights_path {path} does not fit ResNet-18: missing {missing[:5]}, unexpected {unexpected[:5]}"
            )
    net.fc = torch.nn.Linear(net.fc.in_features, num_classes)
    return net


class DefectClassifier(pl.LightningModule):
    def __init__(self, optimizer: str = "adam", lr: float = 1e-3, weight_decay: float = 1e-4,
                 momentum: float = 0.9, weights_path: str | None = None, augment: bool = True):
        super().__init__()
        if optimizer not in ("adam", "adamw", "sgd"):
            raise ValueError(f"model.optimizer must be one of adam, adamw, sgd; got {optimizer!r}")
        self.save_hyperparameters()
        self.net = build_resnet18(2, weights_path)
        self.metrics = torch.nn.ModuleDict(
            {stage: torchmetrics.classification.BinaryAUROC() for stage in ("train_", "val_", "test_")}
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits for uint8 images."""
        return self.net(normalize(images))

    def _augment(self, images: torch.Tensor) -> torch.Tensor:
        # Flips keep a defect a defect; cheap, on tensors, no PIL round trip.
        if torch.rand(()) < 0.5:
            images = images.flip(-1)
        if torch.rand(()) < 0.5:
            images = images.flip(-2)
        return images

    def _shared_step(self, batch, stage: str) -> torch.Tensor:
        images, labels = batch
        if stage == "train" and self.hparams.augment:
            images = self._augment(images)
        logits = self(images)
        loss = F.cross_entropy(logits, labels)
        metric = self.metrics[stage + "_"]
        metric.update(logits.softmax(-1)[:, 1], labels)
        self.log(f"{stage}/loss", loss, prog_bar=False, on_epoch=True, on_step=False, batch_size=len(labels))
        self.log(f"{stage}/auroc", metric, on_epoch=True, on_step=False, batch_size=len(labels))
        return loss

    def training_step(self, batch, batch_idx):
        return self._shared_step(batch, "train")

    def validation_step(self, batch, batch_idx):
        return self._shared_step(batch, "val")

    def test_step(self, batch, batch_idx):
        return self._shared_step(batch, "test")

    def configure_optimizers(self):
        hp = self.hparams
        if hp.optimizer == "sgd":
            return torch.optim.SGD(self.parameters(), lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay)
        cls = torch.optim.AdamW if hp.optimizer == "adamw" else torch.optim.Adam
        return cls(self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)


@torch.no_grad()
def recalibrate_batchnorm(net: torch.nn.Module, images: torch.Tensor, batch_size: int = 128) -> None:
    """Recompute BatchNorm running statistics from ``images`` (N x 3 x H x W uint8), in place.

    A round trains only a few steps, and BatchNorm's running averages (momentum 0.1) lag far
    behind the weights they must match: evaluation in eval mode is then mostly noise. One
    forward pass over the labeled images fixes that without changing any weight.

    The images go through in chunks of ``batch_size``; a last chunk of one image joins the
    chunk before it, because a training-mode pass needs more than one value per channel (at
    32 px ResNet-18's ``layer4`` is 1 x 1, and one image raises "Expected more than 1 value per
    channel"). Each chunk's statistics count in proportion to its size, so ``running_mean`` is
    the mean over all N images whatever the chunking; ``running_var`` is the size-weighted mean
    of the chunks' (unbiased) variances. With fewer than 2 images there are no batch statistics
    to take: the running statistics are left as they are. Raises ValueError for ``batch_size < 1``.
    """
    if batch_size < 1:
        raise ValueError(f"recalibrate_batchnorm: batch_size must be >= 1, got {batch_size}")
    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms or len(images) < 2:
        return
    device = next(net.parameters()).device
    was_training = net.training
    momenta = [m.momentum for m in norms]
    starts = list(range(0, len(images), max(batch_size, 2)))
    if len(images) - starts[-1] == 1:
        starts.pop()  # merge a trailing single image into the chunk before it
    ends = starts[1:] + [len(images)]
    for m in norms:
        m.reset_running_stats()
    net.train()
    seen = 0
    for start, end in zip(starts, ends):
        seen += end - start
        for m in norms:  # running = running + (size / seen) * (chunk - running): a size-weighted mean
            m.momentum = (end - start) / seen
        net(normalize(images[start:end].to(device)))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    net.train(was_training)
