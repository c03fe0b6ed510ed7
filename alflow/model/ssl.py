"""Self-supervised pretraining of the ResNet-18 backbone on unlabeled images, with lightly.

Two methods (``model.ssl.method``):

* ``simclr``: Chen, Kornblith, Norouzi and Hinton, "A Simple Framework for Contrastive
  Learning of Visual Representations", ICML 2020 — two views per image, a 2-layer projection
  head and the NT-Xent loss over the batch (lightly's ``SimCLRProjectionHead``, ``NTXentLoss``).
* ``byol``: Grill et al., "Bootstrap Your Own Latent: A New Approach to Self-Supervised
  Learning", NeurIPS 2020 — an online network with a predictor regresses a momentum (EMA)
  target network's projection; no negatives (lightly's ``BYOLProjectionHead``,
  ``BYOLPredictionHead``, ``NegativeCosineSimilarity``, ``update_momentum``,
  ``cosine_schedule``).

Only images go in: this module never sees a label. The views are ``alflow.model.ssl_views``.
"""
from __future__ import annotations

import copy
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass

import torch
from lightly.loss import NegativeCosineSimilarity, NTXentLoss
from lightly.models.modules import BYOLPredictionHead, BYOLProjectionHead, SimCLRProjectionHead
from lightly.models.utils import deactivate_requires_grad, update_momentum
from lightly.utils.scheduler import cosine_schedule
from torch import nn
from tqdm import tqdm

from alflow.model.classifier import build_net
from alflow.model.ssl_views import random_view

log = logging.getLogger("alflow")

METHODS = ("simclr", "byol")
FEATURES = 512  # ResNet-18's penultimate width


@dataclass(frozen=True)
class SSLSettings:
    """``model.ssl.*``; the defaults live in ``conf/model/default.yaml``.

    ``epochs``: passes over the images (each image gives two views a pass); ``batch_size``:
    images a step; ``lr``: AdamW's peak learning rate, decayed to 0 by a cosine over the run's
    progress (the fraction of steps done, or of ``max_minutes`` used once the steps so far say
    that the planned ones would overrun it);
    ``temperature``: NT-Xent's (simclr only); ``image_size``: the views' side in pixels (None = the
    images' own); ``max_minutes``: wall-clock cap, checked after every step (the weights reached
    by then are the result); ``seed``: initialisation, views and batch order; ``cache_dir``: see
    ``alflow.model.pretrain_cache``.
    """

    method: str
    epochs: int
    batch_size: int
    lr: float
    temperature: float
    image_size: int | None
    max_minutes: float
    seed: int
    cache_dir: str | None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"model.ssl.method must be one of {list(METHODS)}, got {self.method!r}")
        for key in ("epochs", "batch_size"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"model.ssl.{key} must be an integer >= 1, got {value!r}")
        if self.batch_size < 2:
            raise ValueError(f"model.ssl.batch_size must be >= 2 (a batch norm and the loss need two images), "
                             f"got {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"model.ssl.lr must be > 0, got {self.lr!r}")
        if not self.temperature > 0:
            raise ValueError(f"model.ssl.temperature must be > 0, got {self.temperature!r}")
        if not self.max_minutes > 0:
            raise ValueError(f"model.ssl.max_minutes must be > 0, got {self.max_minutes!r}")
        if self.image_size is not None and (not isinstance(self.image_size, int) or self.image_size < 16):
            raise ValueError(f"model.ssl.image_size must be an integer >= 16 or null, got {self.image_size!r}")

    def result_settings(self) -> dict:
        """The settings that decide the weights (the cache key's part); ``cache_dir`` does not."""
        out = asdict(self)
        out.pop("cache_dir")
        return out


@dataclass
class PretrainResult:
    state: dict[str, torch.Tensor]  # the backbone's state dict (torchvision ResNet-18 names, no fc.*), on the CPU
    epochs: int                     # epochs run (fewer than asked when max_minutes stopped it)
    steps: int
    seconds: float
    losses: list[float]             # mean loss of each epoch run


class _SimCLR(nn.Module):
    def __init__(self, backbone: nn.Module, temperature: float, features: int = FEATURES):
        super().__init__()
        self.backbone = backbone
        self.head = SimCLRProjectionHead(features, features, 128)
        self.criterion = NTXentLoss(temperature=temperature)

    def loss(self, v1: torch.Tensor, v2: torch.Tensor, progress: float) -> torch.Tensor:
        return self.criterion(self.head(self.backbone(v1)), self.head(self.backbone(v2)))


class _BYOL(nn.Module):
    # BYOL's 4096-wide heads are sized for ImageNet; 1024 keeps a CPU step cheap at 512 features.
    def __init__(self, backbone: nn.Module, features: int = FEATURES):
        super().__init__()
        self.backbone = backbone
        self.projection = BYOLProjectionHead(features, 1024, 256)
        self.prediction = BYOLPredictionHead(256, 1024, 256)
        self.backbone_momentum = copy.deepcopy(backbone)
        self.projection_momentum = copy.deepcopy(self.projection)
        deactivate_requires_grad(self.backbone_momentum)
        deactivate_requires_grad(self.projection_momentum)
        self.criterion = NegativeCosineSimilarity()

    def _online(self, x: torch.Tensor) -> torch.Tensor:
        return self.prediction(self.projection(self.backbone(x)))

    @torch.no_grad()
    def _target(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection_momentum(self.backbone_momentum(x))

    def loss(self, v1: torch.Tensor, v2: torch.Tensor, progress: float) -> torch.Tensor:
        # the target's momentum rises from 0.99 to 1 over the run (BYOL, section 3.2)
        m = cosine_schedule(int(progress * 1000), 1000, 0.99, 1.0)
        update_momentum(self.backbone, self.backbone_momentum, m)
        update_momentum(self.projection, self.projection_momentum, m)
        return 0.5 * (self.criterion(self._online(v1), self._target(v2))
                      + self.criterion(self._online(v2), self._target(v1)))


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# Said wherever a capped pretraining is used (here, and when a later job reads it from the cache).
CAPPED_ADVICE = ("Its weights depend on the machine's speed and load, and a few epochs may be no better than "
                 "random initialisation (docs/design.md, Backbones): raise model.ssl.max_minutes or lower "
                 "model.ssl.epochs")


def planned_steps(n_images: int, settings: SSLSettings) -> int:
    """The optimizer steps ``pretrain`` plans for ``n_images`` images: ``settings.epochs`` passes of
    ``n_images // min(batch_size, n_images)`` full batches (the partial last batch is dropped)."""
    return n_images // min(settings.batch_size, n_images) * settings.epochs


def pretrain(images: torch.Tensor, settings: SSLSettings, init_state: dict | None = None,
             name: str = "ssl", backbone: str = "resnet18") -> PretrainResult:
    """Pretrain a ``backbone`` (``model.backbone``: ResNet-18 by default) on ``images`` (N x 3 x H x W uint8,
    N >= 2) without labels.

    Starts from a random initialisation seeded by ``settings.seed``, or from ``init_state`` (a
    backbone state dict) when given. Runs ``settings.epochs`` passes of shuffled batches
    (``min(batch_size, N)`` images; the last, partial batch is dropped when N allows a full one),
    stopping early after the step that passes ``settings.max_minutes``. Logs a line per epoch
    (loss, elapsed seconds) on the ``alflow`` logger and shows a tqdm bar on a terminal. Uses
    the GPU when there is one. Raises ValueError for fewer than 2 images.
    """
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"pretrain needs N x 3 x H x W uint8 images, got {tuple(images.shape)} {images.dtype}")
    n = len(images)
    if n < 2:
        raise ValueError(f"{name}: self-supervised pretraining needs at least 2 pool images, got {n}")
    size = settings.image_size or images.shape[-1]
    batch = min(settings.batch_size, n)
    per_epoch = n // batch
    total = planned_steps(n, settings)
    device = _device()

    torch.manual_seed(settings.seed)  # the backbone's and heads' initialisation
    net = build_net(backbone, 2, backbone_state=init_state)
    width = net.fc.in_features
    net.fc = nn.Identity()
    model = (_SimCLR(net, settings.temperature, width) if settings.method == "simclr"
             else _BYOL(net, width)).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(settings.seed)

    log.info("%s: %s pretraining on %d unlabeled pool images at %d px: %d epochs x %d steps of %d images "
             "(cap %.1f min, %s)", name, settings.method, n, size, settings.epochs, per_epoch, batch,
             settings.max_minutes, device)
    cap_s = settings.max_minutes * 60
    start = time.perf_counter()
    losses: list[float] = []
    step = 0
    capped = False
    model.train()
    with tqdm(total=total, desc=f"{name}: {settings.method}", unit="step", file=sys.stderr,
              disable=not sys.stderr.isatty(), leave=False) as bar:
        for epoch in range(settings.epochs):
            order = torch.randperm(n, generator=gen)
            running = 0.0
            for b in range(per_epoch):
                chunk = images[order[b * batch:(b + 1) * batch]].to(device)
                v1, v2 = random_view(chunk, size, gen), random_view(chunk, size, gen)
                # When the planned steps will not fit in max_minutes, the schedules follow the clock, so
                # the cosine still ends at the cap instead of being cut off halfway; otherwise they follow
                # the steps alone, and a seeded run repeats exactly.
                elapsed = time.perf_counter() - start
                progress = step / total
                if step and elapsed / step * total > cap_s:
                    progress = min(1.0, max(progress, elapsed / cap_s))
                for group in optimizer.param_groups:
                    group["lr"] = settings.lr * 0.5 * (1 + math.cos(math.pi * progress))
                loss = model.loss(v1, v2, progress)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                running += loss.item()
                bar.update(1)
                if time.perf_counter() - start > cap_s:
                    capped = True
                    break
            losses.append(running / (b + 1))
            elapsed = time.perf_counter() - start
            log.info("%s: %s epoch %d/%d loss %.4f (%.0f s)", name, settings.method, epoch + 1, settings.epochs,
                     losses[-1], elapsed)
            if capped:
                log.warning("%s: model.ssl.max_minutes=%s reached after %d of %d steps (%d epochs begun); the "
                            "learning rate was annealed to the cap, the backbone is what these steps made. %s",
                            name, settings.max_minutes, step, total, epoch + 1, CAPPED_ADVICE)
                break
    state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    return PretrainResult(state, len(losses), step, time.perf_counter() - start, losses)
