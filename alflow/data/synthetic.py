"""Procedurally generated inspection images: textured surfaces, some with defects.

Every image is drawn from its own random stream ``default_rng([seed, index])``, so
image ``i`` is the same whatever the pool size, and a dataset is fully determined
by its settings. Defects vary in kind (scratch, pit, crack, stain), size, contrast
and position; the faintest ones are close to the texture's own variation, which is
what keeps the task learnable but not trivial.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

DEFECT_KINDS = ("scratch", "pit", "crack", "stain")


@dataclass(frozen=True)
class SyntheticSpec:
    """The procedural surfaces' settings, from ``conf/dataset/synthetic.yaml`` (their one home)."""

    n_images: int
    image_size: int
    defect_fraction: float
    min_contrast: float
    max_contrast: float
    seed: int

    def __post_init__(self) -> None:
        if self.n_images < 2:
            raise ValueError(f"dataset.n_images must be >= 2, got {self.n_images}")
        if self.image_size < 16:
            raise ValueError(f"dataset.image_size must be >= 16, got {self.image_size}")
        if not 0.0 < self.defect_fraction < 1.0:
            raise ValueError(f"dataset.defect_fraction must be in (0, 1), got {self.defect_fraction}")
        if not 0.0 < self.min_contrast <= self.max_contrast:
            raise ValueError(
                f"dataset.min_contrast/max_contrast must satisfy 0 < min <= max, "
                f"got {self.min_contrast}, {self.max_contrast}"
            )


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Value noise: a coarse random grid bilinearly upsampled to ``size``."""
    grid = rng.standard_normal((cells + 1, cells + 1))
    pos = np.linspace(0, cells, size, endpoint=False)
    i = pos.astype(int)
    f = pos - i
    top = grid[i][:, i] * (1 - f)[None, :] + grid[i][:, i + 1] * f[None, :]
    bottom = grid[i + 1][:, i] * (1 - f)[None, :] + grid[i + 1][:, i + 1] * f[None, :]
    return top * (1 - f)[:, None] + bottom * f[:, None]


def _surface(rng: np.random.Generator, size: int) -> np.ndarray:
    """A grey-level surface in [0, 1]: mottling, brushed grain and sensor noise."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = 0.45 + 0.2 * rng.random()
    mottling = 0.05 * _smooth_noise(rng, size, int(rng.integers(2, 6)))
    angle = rng.uniform(0, np.pi)
    freq = rng.uniform(6, 20)
    grain = 0.04 * np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)) + rng.uniform(0, 6.3))
    noise = 0.03 * rng.standard_normal((size, size))
    return base + mottling + grain + noise


def _line_mask(size: int, points: np.ndarray, width: float) -> np.ndarray:
    """Soft mask of a polyline through ``points`` (k x 2, pixel coords)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    dist = np.full((size, size), np.inf)
    for (y0, x0), (y1, x1) in zip(points[:-1], points[1:]):
        dy, dx = y1 - y0, x1 - x0
        t = ((yy - y0) * dy + (xx - x0) * dx) / max(dy * dy + dx * dx, 1e-9)
        t = np.clip(t, 0, 1)
        dist = np.minimum(dist, np.hypot(yy - (y0 + t * dy), xx - (x0 + t * dx)))
    return np.clip(1.0 - dist / width, 0, 1)


def _defect_mask(rng: np.random.Generator, size: int, kind: str) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    cy, cx = rng.uniform(0.15, 0.85, 2) * size
    if kind == "scratch":
        length = rng.uniform(0.2, 0.6) * size
        a = rng.uniform(0, np.pi)
        d = np.array([np.sin(a), np.cos(a)]) * length / 2
        pts = np.array([[cy, cx] - d, [cy, cx] + d])
        return _line_mask(size, pts, rng.uniform(0.8, 1.6) * size / 64)
    if kind == "crack":
        steps = int(rng.integers(4, 8))
        a = rng.uniform(0, 2 * np.pi)
        pts = [np.array([cy, cx])]
        for _ in range(steps):
            a += rng.normal(0, 0.7)
            pts.append(pts[-1] + np.array([np.sin(a), np.cos(a)]) * size * rng.uniform(0.04, 0.09))
        return _line_mask(size, np.array(pts), rng.uniform(0.7, 1.2) * size / 64)
    if kind == "pit":
        r = rng.uniform(1.2, 3.5) * size / 64
        return np.clip(1.0 - (np.hypot(yy - cy, xx - cx) - r), 0, 1)
    # stain: a soft irregular blob
    r = rng.uniform(4, 10) * size / 64
    wobble = 1 + 0.3 * _smooth_noise(rng, size, 3)
    return np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (r * wobble) ** 2))


def render_image(spec: SyntheticSpec, index: int) -> tuple[np.ndarray, int, str]:
    """Image ``index`` of the dataset: (H x W x 3 uint8, label, kind) — kind is 'good' or a defect kind."""
    rng = np.random.default_rng([spec.seed, index])
    size = spec.image_size
    defective = rng.random() < spec.defect_fraction
    grey = _surface(rng, size)
    kind = "good"
    if defective:
        kind = DEFECT_KINDS[int(rng.integers(len(DEFECT_KINDS)))]
        mask = _defect_mask(rng, size, kind)
        sign = -1.0 if rng.random() < 0.7 else 1.0
        grey = grey + sign * rng.uniform(spec.min_contrast, spec.max_contrast) * mask
    tint = 1.0 + rng.uniform(-0.06, 0.06, 3)
    rgb = np.clip(grey[..., None] * tint[None, None, :], 0, 1)
    return (rgb * 255 + 0.5).astype(np.uint8), int(defective), kind


def make_synthetic(spec: SyntheticSpec) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """All images as an N x 3 x H x W uint8 tensor, binary labels and fine-grained kinds."""
    images = np.empty((spec.n_images, 3, spec.image_size, spec.image_size), dtype=np.uint8)
    labels = np.empty(spec.n_images, dtype=np.int64)
    kinds: list[str] = []
    for i in range(spec.n_images):
        img, label, kind = render_image(spec, i)
        images[i] = img.transpose(2, 0, 1)
        labels[i] = label
        kinds.append(kind)
    return torch.from_numpy(images), torch.from_numpy(labels), kinds
