"""Two random views of a batch of grey inspection images, for self-supervised pretraining.

Batched tensor operations, no PIL round trip: on a 2-core CPU the per-image PIL pipelines of
SimCLR-style recipes cost more than the network. The choices suit grey industrial surfaces:

* random resized crop with a mild scale range (``CROP_SCALE``): a defect of a few pixels must
  survive in most crops, so no 8% crops as on ImageNet;
* horizontal and vertical flips and 90° rotations: a surface has no up or down;
* brightness and contrast jitter: exposure and sensor gain vary between shots;
* a slight Gaussian blur: focus varies; strong blur would erase thin cracks.

No hue, saturation or grayscale steps: the images are grey already (three equal channels), so
colour jitter would only teach invariance to something that never varies.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

from alflow.model.classifier import MEAN, STD

CROP_SCALE = (0.5, 1.0)      # fraction of the image's area a crop keeps
CROP_RATIO = (3 / 4, 4 / 3)  # crop aspect ratios (width / height)
JITTER_P = 0.8               # probability of the brightness/contrast step
BRIGHTNESS = 0.2             # added offset in [-0.2, 0.2] of the full range
CONTRAST = 0.3               # contrast factor in [0.7, 1.3], around each image's mean
BLUR_P = 0.3                 # probability of the blur step
BLUR_SIGMA = (0.1, 1.0)      # pixels at the output size
VIEWS_VERSION = 1            # bump when anything above changes: it is part of the pretraining cache key


def _uniform(n: int, low: float, high: float, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=gen) * (high - low) + low


def random_resized_crop(x: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    """N x C x H x W float → N x C x size x size: one random crop per image, resized bilinearly."""
    n, _, h, w = x.shape
    area = _uniform(n, *CROP_SCALE, gen) * h * w
    ratio = torch.exp(_uniform(n, math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1]), gen))
    cw = torch.sqrt(area * ratio).clamp(max=w)
    ch = torch.sqrt(area / ratio).clamp(max=h)
    x0 = torch.rand(n, generator=gen) * (w - cw)
    y0 = torch.rand(n, generator=gen) * (h - ch)
    boxes = torch.stack([torch.arange(n, dtype=torch.float32), x0, y0, x0 + cw, y0 + ch], 1).to(x.device)
    return roi_align(x, boxes, output_size=size, spatial_scale=1.0, sampling_ratio=2, aligned=True)


def flip_rotate(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal/vertical flips and 90° rotations per image (square N x C x S x S)."""
    n = len(x)
    flip_h = (torch.rand(n, generator=gen) < 0.5).to(x.device)
    flip_v = (torch.rand(n, generator=gen) < 0.5).to(x.device)
    x = torch.where(flip_h.view(-1, 1, 1, 1), x.flip(-1), x)
    x = torch.where(flip_v.view(-1, 1, 1, 1), x.flip(-2), x)
    # flips + a 0/90° rotation already give all 8 symmetries of the square
    rot = (torch.rand(n, generator=gen) < 0.5).to(x.device)
    return torch.where(rot.view(-1, 1, 1, 1), x.rot90(1, dims=(-2, -1)), x)


def brightness_contrast(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """x in [0, 1]: contrast around each image's mean, then a brightness offset; clamped to [0, 1]."""
    n = len(x)
    on = (torch.rand(n, generator=gen) < JITTER_P).float()
    c = 1 + on * _uniform(n, -CONTRAST, CONTRAST, gen)
    b = on * _uniform(n, -BRIGHTNESS, BRIGHTNESS, gen)
    c, b = c.view(-1, 1, 1, 1).to(x.device), b.view(-1, 1, 1, 1).to(x.device)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * c + mean + b).clamp_(0, 1)


def slight_blur(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A Gaussian blur of random sigma (``BLUR_SIGMA``) on a random ``BLUR_P`` of the images."""
    n, c, h, w = x.shape
    on = torch.rand(n, generator=gen) < BLUR_P
    if not on.any():
        return x
    sigma = _uniform(n, *BLUR_SIGMA, gen)
    radius = 2  # a 5-tap kernel covers 2 sigma of the largest sigma
    taps = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-taps.view(1, -1) ** 2 / (2 * sigma.view(-1, 1) ** 2))
    kernel = kernel / kernel.sum(1, keepdim=True)
    kernel[~on] = 0
    kernel[~on, radius] = 1  # identity for the images left sharp
    k = kernel.repeat_interleave(c, 0).to(x.device)  # one separable kernel per (image, channel)
    y = x.reshape(1, n * c, h, w)
    y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode="reflect"), k.view(n * c, 1, 1, -1), groups=n * c)
    y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="reflect"), k.view(n * c, 1, -1, 1), groups=n * c)
    return y.view(n, c, h, w)


def random_view(images: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    """One augmented view of N x 3 x H x W uint8 images: N x 3 x size x size float, normalized as the classifier does.

    ``gen`` (a CPU generator) draws every random choice, so a seeded pretraining repeats exactly.
    """
    x = images.float().div_(255.0)
    x = random_resized_crop(x, size, gen)
    x = flip_rotate(x, gen)
    x = brightness_contrast(x, gen)
    x = slight_blur(x, gen)
    return (x - MEAN.to(x.device)) / STD.to(x.device)
