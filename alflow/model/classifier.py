"""The LightningModule: ResNet-18 (or EfficientNet-Lite0) with a 2-class head and (class-weighted) cross-entropy."""
from __future__ import annotations

import math
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
import torchvision

from alflow.model.augment import augment, check_preset
from alflow.model.efficientnet import EfficientNetLite0
from alflow.model.efficientnet import load_backbone as load_efficientnet_backbone

# ImageNet statistics: harmless for random init, and right for user-supplied pretrained weights.
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 N x 3 x H x W → normalized float, on the images' device."""
    x = images.float().div_(255.0)
    return (x - MEAN.to(x.device)) / STD.to(x.device)


def read_backbone_file(weights_path: str) -> dict[str, torch.Tensor]:
    """A ResNet-18 backbone state dict from a local ``.pth`` (a bare state dict or ``{"state_dict": ...}``).

    The ``fc.*`` head is dropped. Raises FileNotFoundError naming ``model.weights_path``.
    """
    path = Path(weights_path)
    if not path.is_file():
        raise FileNotFoundError(f"model.weights_path: no such file {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    return {k: v for k, v in state.items() if not k.startswith("fc.")}


def load_backbone(net: torchvision.models.ResNet, state: dict[str, torch.Tensor], source: str) -> None:
    """Load every backbone tensor of ``state`` into ``net`` (the ``fc.*`` head is left as it is).

    Raises ValueError naming ``source`` (a config key and file) when the tensors do not fit ResNet-18.
    """
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise ValueError(f"{source} does not fit ResNet-18: {exc}") from exc
    missing = [m for m in missing if not m.startswith("fc.")]
    if missing or unexpected:
        raise ValueError(f"{source} does not fit ResNet-18: missing {missing[:5]}, unexpected {unexpected[:5]}")


def build_resnet18(num_classes: int = 2, weights_path: str | None = None,
                   backbone_state: dict[str, torch.Tensor] | None = None) -> torchvision.models.ResNet:
    """ResNet-18 with a fresh ``num_classes`` head; the backbone is random, or ``backbone_state``, or read
    from the local file ``weights_path`` (nothing is downloaded here; see ``alflow.model.backbones``)."""
    net = torchvision.models.resnet18(weights=None)
    if backbone_state is not None:
        load_backbone(net, backbone_state, "the resolved backbone (model.pretrained)")
    elif weights_path:
        load_backbone(net, read_backbone_file(weights_path), f"model.weights_path {weights_path}")
    net.fc = torch.nn.Linear(net.fc.in_features, num_classes)
    return net


BACKBONES = ("resnet18", "efficientnet_lite0")
TRAINABLE = ("all", "last_block", "head")


def check_backbone(backbone: str) -> None:
    """Raises ValueError naming ``model.backbone`` and its allowed values for anything else."""
    if backbone not in BACKBONES:
        raise ValueError(f"model.backbone must be one of {'|'.join(BACKBONES)}, got {backbone!r}")


def build_net(backbone: str = "resnet18", num_classes: int = 2, weights_path: str | None = None,
              backbone_state: dict[str, torch.Tensor] | None = None) -> torch.nn.Module:
    """``model.backbone``'s network with a fresh ``num_classes`` head: a torchvision ResNet-18 or
    ``EfficientNetLite0``, both with ``layer4`` (last stage), ``avgpool`` and ``fc``. The backbone is random,
    or ``backbone_state``, or read from the local file ``weights_path``. Raises ValueError for an unknown
    ``backbone`` or weights that do not fit it, FileNotFoundError for a missing ``weights_path``."""
    check_backbone(backbone)
    if backbone == "resnet18":
        return build_resnet18(num_classes, weights_path, backbone_state)
    net = EfficientNetLite0(num_classes)
    if backbone_state is not None:
        load_efficientnet_backbone(net, backbone_state, "the resolved backbone (model.pretrained)")
    elif weights_path:
        load_efficientnet_backbone(net, read_backbone_file(weights_path), f"model.weights_path {weights_path}")
    return net


def feature_maps(net: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(the maps of the stage before the last, N x C' x h' x w'; the last stage's maps, N x C x h x w) of
    ``build_net``'s ``net`` for normalised images ``x``. The last stage is what GradCAM's closed form
    weighs (``avgpool`` then ``fc`` turn it into the network's logits); the one before it sees finer,
    less semantic patterns (a patch brighter than its surroundings), which the head reads too
    (``alflow.model.features``). EfficientNet-Lite0: its 6th block group (192 channels, stride 32) and
    the 1 x 1 head convolution (1280); ResNet-18: ``layer3`` (256, stride 16) and ``layer4`` (512)."""
    if isinstance(net, EfficientNetLite0):
        x = x * net.input_scale + net.input_shift
        stem, bn, blocks = net.body
        middle = blocks[:6](bn(stem(x)))
        return middle, net.layer4(blocks[6](middle))
    x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    middle = net.layer3(net.layer2(net.layer1(x)))
    return middle, net.layer4(middle)


def last_stage(net: torch.nn.Module) -> torch.nn.Module:
    """The part of ``build_net``'s ``net`` between ``feature_maps``' two outputs: the stage before the last's
    maps in, the last stage's maps out (ResNet-18: ``layer4``; EfficientNet-Lite0: its 7th block group and
    the 1 x 1 head convolution). The same modules, not a copy."""
    if isinstance(net, EfficientNetLite0):
        return torch.nn.Sequential(net.body[2][6], net.layer4)
    return net.layer4


LR_SCHEDULES = ("constant", "cosine")


class DefectClassifier(pl.LightningModule):
    """ResNet-18 (torchvision; or ``backbone="efficientnet_lite0"``) with a 2-class head; one round's ``fit``
    trains the whole network on uint8 images (``model.trainable=all``).

    Input: N x 3 x H x W uint8 images (normalised here with ImageNet statistics); output:
    N x 2 logits, class 1 = defect. Loss: cross-entropy, weighted per class by
    ``class_weights`` (a length-2 tensor that ``train_round`` sets for each fit; ``None`` =
    unweighted). ``lr_schedule``: ``constant``, or ``cosine`` = linear warm-up over
    ``warmup_fraction`` of the fit's optimizer steps, then cosine decay to zero (Loshchilov &
    Hutter, SGDR, ICLR 2017: each round is one restart). ``augment``: a preset of
    ``alflow.model.augment``. ``backbone_state``: the starting backbone that
    ``alflow.model.backbones.resolve`` made from ``pretrained``, ``weights_path`` and ``ssl`` once
    per job (the head stays fresh); without it, ``pretrained`` must be ``none`` (``weights_path``
    is then read here). ``trainable``, ``head`` and ``cache_dir`` belong to the head learner
    (``alflow.model.learner``): this class is the ``all`` one. Defaults live in ``conf/model/default.yaml``.
    Raises ValueError naming ``model.optimizer``, ``model.lr_schedule``, ``model.augment``,
    ``model.backbone``, ``model.trainable`` or ``model.pretrained``.
    """

    def __init__(self, optimizer: str, lr: float, weight_decay: float, momentum: float,
                 weights_path: str | None, augment: str | bool, lr_schedule: str, warmup_fraction: float,
                 pretrained: str = "none", ssl: dict | None = None,
                 backbone_state: dict[str, torch.Tensor] | None = None, backbone: str = "resnet18",
                 trainable: str = "all", head: dict | None = None, cache_dir: str | None = None):
        super().__init__()
        check_backbone(backbone)
        if trainable != "all":
            raise ValueError(f"model.trainable={trainable}: DefectClassifier fine-tunes the whole network "
                             "(model.trainable=all); alflow.model.learner.build_learner builds the others")
        if optimizer not in ("adam", "adamw", "sgd"):
            raise ValueError(f"model.optimizer must be one of adam, adamw, sgd; got {optimizer!r}")
        if lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"model.lr_schedule must be one of {list(LR_SCHEDULES)}; got {lr_schedule!r}")
        if not 0.0 <= warmup_fraction < 1.0:
            raise ValueError(f"model.warmup_fraction must be in [0, 1); got {warmup_fraction!r}")
        augment = check_preset(augment)
        if backbone_state is None and pretrained != "none":
            raise ValueError(f"model.pretrained={pretrained}: resolve the backbone once with "
                             "alflow.model.backbones.resolve(...) and pass it as backbone_state= "
                             "(python -m alflow does this)")
        self.save_hyperparameters(ignore=["backbone_state"])
        self.net = build_net(backbone, 2, weights_path, backbone_state)
        self.class_weights: torch.Tensor | None = None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (N x 2) for uint8 images (N x 3 x H x W)."""
        return self.net(normalize(images))

    def divergence_advice(self) -> tuple[str, str]:
        """(the settings in force, what to change) when training diverges (``alflow.loop.DivergedError``)."""
        return f"model.optimizer={self.hparams.optimizer}, model.lr={self.hparams.lr}", "lower model.lr"

    def training_step(self, batch, batch_idx):
        images, labels = batch
        logits = self(augment(images, self.hparams.augment))
        weight = None if self.class_weights is None else self.class_weights.to(logits.device)
        loss = F.cross_entropy(logits, labels, weight=weight)
        self.log("train/loss", loss, on_epoch=True, on_step=False, batch_size=len(labels))
        return loss

    def configure_optimizers(self):
        hp = self.hparams
        if hp.optimizer == "sgd":
            opt = torch.optim.SGD(self.parameters(), lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay)
        else:
            cls = torch.optim.AdamW if hp.optimizer == "adamw" else torch.optim.Adam
            opt = cls(self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
        if hp.lr_schedule == "constant":
            return opt
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        warmup = int(hp.warmup_fraction * total)

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / (warmup + 1)
            progress = (step - warmup) / max(total - warmup, 1)
            return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

        scheduler = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


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
