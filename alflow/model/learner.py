"""What a job's models are, from the ``model.`` settings: the one place both entry points (an experiment
job, a labeling session) turn them into a model factory, resolving the backbone once per job.

``model.trainable`` chooses what a round trains:

* ``all``: the whole network (``DefectClassifier``, Lightning): the paper's protocol, and ``experiment=paper``;
* ``head``: the backbone stays frozen (eval mode); its last-stage features of every image are computed once
  and cached (``alflow.model.features``), and a round fits a ``LinearHead`` on the labeled images' pooled
  features in milliseconds. Every strategy's inputs come from the cache (``alflow.loop.HeadVersion``).
* ``last_block``: the same cache; a round trains the backbone's last stage and a 2-class head
  (``LastBlockClassifier``) on the cached maps of the stage before.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from alflow.model import backbones
from alflow.model.backbones import PretrainingRecord
from alflow.model.classifier import BACKBONES, TRAINABLE, DefectClassifier, build_net, check_backbone, last_stage
from alflow.model.features import FrozenFeatures, frozen_features
from alflow.model.head import LinearHead
from alflow.model.last_block import LastBlockClassifier

log = logging.getLogger("alflow")


@dataclass(frozen=True)
class Learner:
    """``model_factory()`` makes a fresh model (``DefectClassifier`` or ``LinearHead``); ``features``: the
    frozen backbone's cached features (head learning only); ``pretraining``: the SSL record, when any;
    ``pretrained_backbone``: what the models start from when it is not a random initialisation (the
    cold-start strategies need it), e.g. ``model.pretrained=imagenet``."""

    model_factory: Callable[[], torch.nn.Module]
    features: FrozenFeatures | None
    pretraining: PretrainingRecord | None
    pretrained_backbone: str | None


def check_model_settings(model: Mapping) -> None:
    """Raises ValueError naming the ``model.`` key whose value no job can run with (backbone, trainable,
    head), before anything is computed."""
    check_backbone(model.get("backbone", "resnet18"))
    trainable = model.get("trainable", "all")
    if trainable not in TRAINABLE:
        raise ValueError(f"model.trainable must be one of {'|'.join(TRAINABLE)}, got {trainable!r}")
    head = dict(model.get("head") or {})
    unknown = sorted(set(head) - {"c", "c_grid", "max_iter"})
    if unknown:
        raise ValueError(f"model.head has unknown key(s) {unknown}; the keys are c, c_grid, max_iter")
    c = head.get("c", 0.01)
    if not isinstance(c, (int, float)) or isinstance(c, bool) or not c > 0:
        raise ValueError(f"model.head.c must be a number > 0, got {c!r}")
    grid = head.get("c_grid")
    if grid is not None and (not isinstance(grid, (list, tuple)) or not grid
                             or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
                                        for v in grid)):
        raise ValueError(f"model.head.c_grid must be null or a non-empty list of numbers > 0, got {grid!r}")


def build_learner(model: Mapping, images: torch.Tensor, pool: torch.Tensor | None, name: str,
                  seed: int = 0) -> Learner:
    """The job's ``Learner`` from ``model`` (the ``model.`` settings as a plain mapping; keys starting with
    ``_`` are Hydra's and ignored), the dataset's ``images`` (N x 3 x H x W uint8: head learning caches
    the features of all of them; labels are never read) and the ``pool`` indices (SSL pretrains on
    those images only; None = all). ``name`` (the dataset's) names cache files and log lines; ``seed``
    draws a random frozen backbone (``pretrained=none`` with ``trainable=head``).

    Raises ValueError for a bad ``model.`` value, FileNotFoundError for a missing ``model.weights_path``,
    RuntimeError when ImageNet weights are unavailable (naming the file or the extra to install)."""
    settings = {k: v for k, v in model.items() if not str(k).startswith("_")}
    check_model_settings(settings)
    backbone, trainable = settings.get("backbone", "resnet18"), settings.get("trainable", "all")
    # only a self-supervised pretraining reads the pool's images (a copy: 100 MB for elpv at 128 px)
    pool_images = None if settings["pretrained"] != "ssl" else images if pool is None else images[pool]
    state, record = backbones.resolve_with_record(settings["pretrained"], settings.get("weights_path"),
                                                  settings.get("ssl"), pool_images, name, backbone)
    started_from = _started_from(settings) if state is not None else None
    if trainable == "all":
        return Learner(functools.partial(DefectClassifier, **settings, backbone_state=state), None, record,
                       started_from)
    torch.manual_seed(seed)  # a random frozen backbone is the same for every job of one seed
    net = build_net(backbone, 2, backbone_state=state)
    features = frozen_features(net, images, backbone, settings.get("cache_dir", "default"), name)
    if trainable == "last_block":
        factory = functools.partial(LastBlockClassifier, last_stage(net), net.fc.in_features, settings["lr"],
                                    settings["weight_decay"])
        return Learner(factory, features, record, started_from)
    pooled = features.pooled
    head = dict(settings.get("head") or {})
    factory = functools.partial(LinearHead, pooled.mean(dim=0), pooled.std(dim=0), **head)
    return Learner(factory, features, record, started_from)


def _started_from(settings: Mapping) -> str:
    if settings["pretrained"] != "none":
        return f"model.pretrained={settings['pretrained']}"
    return f"model.weights_path={settings.get('weights_path')}"


__all__ = ["BACKBONES", "TRAINABLE", "Learner", "build_learner", "check_model_settings"]
