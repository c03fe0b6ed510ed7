"""Batched SSIM with scikit-image's definition, on tensors.

Matches ``skimage.metrics.structural_similarity(x, y, data_range=R)`` with its
defaults: a 7 x 7 uniform window, K1 = 0.01, K2 = 0.03, sample covariance
(N / (N - 1)), and the mean taken after cropping (win_size - 1) / 2 pixels from
each border. Because of that crop, scikit-image's reflect padding never reaches
the mean, so a *valid* (unpadded) box filter gives exactly the same numbers.
torchmetrics' SSIM is a different function (padding, population variance) and
ranks maps differently; it is not used here.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def ssim_batch(x: torch.Tensor, y: torch.Tensor, data_range: float, win_size: int = 7,
               k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """Mean SSIM of each pair of single-channel maps.

    ``x`` and ``y`` are N x 1 x H x W (or H x W / 1 x 1 x H x W, broadcast against
    the other); returns N values in the inputs' dtype.
    """
    if win_size < 3 or win_size % 2 == 0:
        raise ValueError(f"win_size must be odd and >= 3, got {win_size}")
    if data_range <= 0:
        raise ValueError(f"data_range must be > 0, got {data_range}")
    x, y = _as_batch(x), _as_batch(y)
    h, w = x.shape[-2:]
    if y.shape[-2:] != (h, w):
        raise ValueError(f"SSIM needs maps of one size, got {tuple(x.shape[-2:])} and {tuple(y.shape[-2:])}")
    if min(h, w) < win_size:
        raise ValueError(
            f"maps of {h} x {w} are smaller than the SSIM window ({win_size}); "
            f"upsample them first (strategy.map_size >= {win_size})"
        )
    x, y = torch.broadcast_tensors(x, y)
    n_pixels = win_size * win_size
    cov_norm = n_pixels / (n_pixels - 1)
    # One pooling call for the five local moments instead of five.
    stacked = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    moments = F.avg_pool2d(stacked, win_size, stride=1)
    ux, uy, uxx, uyy, uxy = moments.unbind(dim=1)
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.mean(dim=(-2, -1))


def _as_batch(t: torch.Tensor) -> torch.Tensor:
    if t.ndim == 2:
        return t[None, None]
    if t.ndim == 3:
        return t[:, None]
    if t.ndim == 4 and t.shape[1] == 1:
        return t
    raise ValueError(f"expected H x W, N x H x W or N x 1 x H x W maps, got shape {tuple(t.shape)}")
