"""Training-time augmentations for inspection images, batched on uint8 tensors.

A defect stays a defect under every transform here: flips and 90° rotations (a scratch has
no preferred orientation on a cell or a sheet), small shifts (the part is never perfectly
centred), and mild brightness/contrast changes (lighting and sensor gain drift between
shots). Colour and strong crops are left out on purpose: a crop can cut the defect away,
which would teach the model to call a defective part good.

Presets (``model.augment``):

* ``none``: no augmentation;
* ``flips``: one random horizontal and one random vertical flip for the whole batch (the
  behaviour before the ``inspection`` preset; ``experiment=paper`` keeps it);
* ``inspection``: per image, random flips, a random multiple of 90° (square images), a shift
  of up to ``SHIFT`` of the side with reflected borders, and brightness/contrast jitter of
  up to ``BRIGHTNESS`` / ``CONTRAST``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

PRESETS = ("none", "flips", "inspection")
SHIFT = 0.0625       # share of the image side
BRIGHTNESS = 0.1     # additive, share of the grey range
CONTRAST = 0.15      # multiplicative, around the image's mean


def check_preset(preset: str | bool) -> str:
    """The preset name; ``True``/``False`` mean ``flips``/``none`` (the old boolean setting).

    Raises ValueError naming ``model.augment`` and the presets.
    """
    if preset is True:
        return "flips"
    if preset is False or preset is None:
        return "none"
    if preset not in PRESETS:
        raise ValueError(f"model.augment must be one of {list(PRESETS)}, got {preset!r}")
    return str(preset)


def augment(images: torch.Tensor, preset: str) -> torch.Tensor:
    """Augmented copy of ``images`` (N x C x H x W uint8); random draws come from torch's global RNG,
    which ``train_round`` seeds, so a round's augmentations repeat with its seed."""
    if preset == "none":
        return images
    if preset == "flips":
        if torch.rand(()) < 0.5:
            images = images.flip(-1)
        if torch.rand(()) < 0.5:
            images = images.flip(-2)
        return images
    return _inspection(images)


def _inspection(images: torch.Tensor) -> torch.Tensor:
    n, _, h, w = images.shape
    x = images.float()
    flip_h = torch.rand(n) < 0.5
    flip_v = torch.rand(n) < 0.5
    x = torch.where(flip_h.view(n, 1, 1, 1), x.flip(-1), x)
    x = torch.where(flip_v.view(n, 1, 1, 1), x.flip(-2), x)
    if h == w:
        turns = torch.randint(0, 4, (n,))
        x = torch.stack([torch.rot90(img, int(k), dims=(-2, -1)) for img, k in zip(x, turns)])
    max_shift = int(round(SHIFT * min(h, w)))
    if max_shift > 0:
        pad = F.pad(x, (max_shift,) * 4, mode="reflect")
        dy = torch.randint(0, 2 * max_shift + 1, (n,))
        dx = torch.randint(0, 2 * max_shift + 1, (n,))
        x = torch.stack([p[:, int(a):int(a) + h, int(b):int(b) + w] for p, a, b in zip(pad, dy, dx)])
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    contrast = 1 + (torch.rand(n, 1, 1, 1) * 2 - 1) * CONTRAST
    brightness = (torch.rand(n, 1, 1, 1) * 2 - 1) * BRIGHTNESS * 255
    x = (x - mean) * contrast + mean + brightness
    return x.clamp_(0, 255).round_().to(torch.uint8)
