"""The features of a frozen backbone, computed once per dataset x backbone x weights x image size and
cached on disk (``model.trainable=head``).

With the backbone frozen, every image's features are fixed: one forward pass over the dataset gives
all a round needs — the pooled embedding the head reads, and the last stage's maps GradCAM's closed
form weighs with the head's weights. The embedding is the last stage's mean over positions (what the
network's own ``fc`` reads) followed by the mean and the maximum of the stage before it
(``alflow.model.feature_maps``): on elpv that stage added 0.01 test AUROC at every share of the
pool, and on parts whose defects are a patch brighter than its surroundings, which the semantic
last stage barely sees, it added 0.05-0.07 (docs/results.md, "The learner on elpv").

The cache file (in ``model.cache_dir``: by default ``$ALFLOW_CACHE_DIR`` or ``~/.cache/alflow``,
beside the decoded images and the SSL backbones) is keyed by the sha256 of

* the dataset's uint8 image bytes and shape (so a resized, moved or edited image is a new key),
* the backbone's name and the digest of its weights (ImageNet, SSL, a weights file or a seeded random
  initialisation: each its own file),
* ``FEATURES_VERSION``,

so labels never enter it, every job of a sweep on one dataset shares one file, and parallel jobs wait
for the first one's pass instead of computing it again (``alflow.model.pretrain_cache.cached``).
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass

import torch

from alflow.model.classifier import feature_maps, normalize
from alflow.model.pretrain_cache import cached, state_digest

log = logging.getLogger("alflow")

FEATURES_VERSION = 3  # 2: the stage before the last joined the embedding; 3: its maps are kept (last_block)
PROGRESS_EVERY_SECONDS = 10.0


@dataclass(frozen=True)
class FrozenFeatures:
    """``maps``: N x C x h x w float16 last-stage maps, row i for dataset image i (GradCAM's input);
    ``pooled``: N x (C + 2 C') float32, the head's input: the maps' spatial mean taken in float32 (the
    first C columns, the ones GradCAM weighs), then the spatial mean and maximum of the C' maps of the
    stage before; ``middle``: N x C' x h' x w' float16, that stage's maps (what ``model.trainable=last_block``
    trains the last stage on); ``seconds``: the forward pass's wall time when it ran (perhaps in another
    job); ``cache_file``: "" without a cache."""

    maps: torch.Tensor
    pooled: torch.Tensor
    middle: torch.Tensor
    seconds: float
    cache_file: str
    from_cache: bool


def features_key(images: torch.Tensor, backbone: str, weights_digest: str) -> str:
    """sha256 hex of ``images`` (N x 3 x H x W uint8) bytes and shape, the backbone and its weights' digest."""
    h = hashlib.sha256()
    spec = {"version": FEATURES_VERSION, "backbone": backbone, "weights": weights_digest,
            "shape": list(images.shape), "dtype": str(images.dtype)}
    h.update(json.dumps(spec, sort_keys=True).encode())
    h.update(images.contiguous().numpy().tobytes())
    return h.hexdigest()


@torch.no_grad()  # not inference_mode: the head's fit reads these tensors under autograd
def compute_features(net: torch.nn.Module, images: torch.Tensor, batch_size: int = 64,
                     name: str = "dataset") -> dict[str, torch.Tensor | float]:
    """One eval-mode pass of ``net`` (``alflow.model.build_net``'s) over ``images`` (N x 3 x H x W uint8):
    ``{"maps": N x C x h x w float16, "pooled": N x (C + 2 C') float32, "middle": N x C' x h' x w' float16,
    "seconds": float}`` (see
    ``FrozenFeatures``). Logs its progress
    every ``PROGRESS_EVERY_SECONDS`` (the elpv pass takes tens of seconds on a CPU)."""
    net = net.eval()
    device = next(net.parameters()).device
    maps, pooled, middles = [], [], []
    start = last = time.perf_counter()
    for first in range(0, len(images), batch_size):
        x = normalize(images[first:first + batch_size].to(device)).contiguous(memory_format=torch.channels_last)
        middle, m = (t.float() for t in feature_maps(net, x))
        pooled.append(torch.cat([m.mean(dim=(2, 3)), middle.mean(dim=(2, 3)), middle.amax(dim=(2, 3))], dim=1).cpu())
        maps.append(m.half().cpu())
        middles.append(middle.half().cpu())
        now = time.perf_counter()
        done = min(first + batch_size, len(images))
        if now - last >= PROGRESS_EVERY_SECONDS and done < len(images):
            last = now
            log.info("%s: backbone features %d/%d images, %.0f s so far, about %.0f s left", name, done,
                     len(images), now - start, (now - start) / done * (len(images) - done))
    return {"maps": torch.cat(maps), "pooled": torch.cat(pooled), "middle": torch.cat(middles),
            "seconds": time.perf_counter() - start}


def frozen_features(net: torch.nn.Module, images: torch.Tensor, backbone: str, cache_dir: str | None,
                    name: str = "dataset") -> FrozenFeatures:
    """``net``'s last-stage features of every image of ``images`` (N x 3 x H x W uint8), from the cache
    when present. ``backbone`` (``model.backbone``) and the digest of ``net``'s weights name the file;
    ``cache_dir``: ``"default"`` (``$ALFLOW_CACHE_DIR`` or ``~/.cache/alflow``), a folder, or None (no cache).
    A second job asking for the same key logs that it reused them and computes none."""
    weights = {k: v for k, v in net.state_dict().items() if not k.startswith("fc.")}
    key = features_key(images, backbone, state_digest(weights))
    h, w = images.shape[-2:]
    log.info("%s: frozen %s features of %d images at %d x %d px", name, backbone, len(images), h, w)
    payload, cache_file, from_cache = cached(cache_dir, f"{name}-features-{backbone}-{h}x{w}", key,
                                             lambda: compute_features(net, images, name=name))
    result = FrozenFeatures(payload["maps"], payload["pooled"], payload["middle"], float(payload["seconds"]),
                            str(cache_file or ""), from_cache)
    if from_cache:
        log.info("%s: reused the cached %s features %s (computed once in %.1f s); none computed", name, backbone,
                 cache_file, result.seconds)
    else:
        log.info("%s: computed the %s features in %.1f s%s", name, backbone, result.seconds,
                 f"; cached in {cache_file}" if cache_file else "")
    return result
