"""Batched SSIM with scikit-image's definition, on tensors.

Matches ``skimage.metrics.structural_similarity(x, y, data_range=R)`` with its
defaults: a 7 x 7 uniform window, K1 = 0.01, K2 = 0.03, sample covariance
(N / (N - 1)), and the mean taken after cropping (win_size - 1) / 2 pixels from
each border. Because of that crop, scikit-image's reflect padding never reaches
the mean, so a *valid* (unpadded) box filter gives exactly the same numbers.
torchmetrics' SSIM is a different function (padding, population variance) and
ranks maps differently; it is not used here.

Speed (``benchmarks/acquisition.py``; GradCAM_avg compares ~2,000 maps a round):
- the window sums come from an integral image (two cumulative sums and a
  difference), a few operations a pixel instead of the 49 of a 7 x 7 pooling;
  moments are accumulated in float64 whatever the input dtype, so the
  integral image loses nothing that matters (max diff from scikit-image ~1e-15);
- when one side is a single map (the average labeled map against every pool
  map), its moments are computed once, not once per pair;
- pairs are processed in chunks small enough to stay in cache.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

# Pixels a chunk may hold (per moment): 16 maps of 64 x 64, 4 of 128 x 128.
_CHUNK_PIXELS = 1 << 16


def ssim_batch(x: torch.Tensor, y: torch.Tensor, data_range: float, win_size: int = 7,
               k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """Mean SSIM of each pair of single-channel maps.

    ``x`` and ``y`` are N x 1 x H x W (or H x W / 1 x 1 x H x W, broadcast against
    the other); returns N values in the inputs' (promoted floating) dtype.
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
    if len(x) != len(y) and 1 not in (len(x), len(y)):
        raise ValueError(f"cannot pair {len(x)} maps with {len(y)} maps")
    out_dtype = torch.promote_types(torch.promote_types(x.dtype, y.dtype), torch.float32)
    n_pixels = win_size * win_size
    constants = _Constants(cov_norm=n_pixels / (n_pixels - 1), c1=(k1 * data_range) ** 2,
                           c2=(k2 * data_range) ** 2, win=win_size)
    chunk = max(1, _CHUNK_PIXELS // (h * w))
    # SSIM is symmetric in its two arguments: put a lone map (if any) first and share its moments.
    if len(y) == 1 and len(x) > 1:
        x, y = y, x
    if len(x) == 1:
        ref = x.double()
        ref_mean, ref_sq = _window_means(torch.cat([ref, ref * ref], dim=1), win_size).unbind(dim=1)
        shared = (ref, ref_mean, ref_sq - ref_mean * ref_mean)
        parts = [_ssim_against(shared, y[s:s + chunk].double(), constants) for s in range(0, len(y), chunk)]
    else:
        parts = [_ssim_pairs(x[s:s + chunk].double(), y[s:s + chunk].double(), constants)
                 for s in range(0, len(y), chunk)]
    return torch.cat(parts).to(out_dtype)


@dataclass(frozen=True)
class _Constants:
    cov_norm: float
    c1: float
    c2: float
    win: int


def _window_means(t: torch.Tensor, win: int) -> torch.Tensor:
    """Mean over every valid win x win window of the last two dims (an integral image)."""
    c = t.cumsum(dim=-1)
    t = torch.cat([c[..., win - 1:win], c[..., win:] - c[..., :-win]], dim=-1)
    c = t.cumsum(dim=-2)
    t = torch.cat([c[..., win - 1:win, :], c[..., win:, :] - c[..., :-win, :]], dim=-2)
    return t.div_(win * win)


def _ssim_against(shared: tuple[torch.Tensor, torch.Tensor, torch.Tensor], y: torch.Tensor,
                  k: _Constants) -> torch.Tensor:
    """SSIM of one reference map (moments precomputed) against each map of ``y``."""
    ref, ux, ref_var = shared
    uy, uyy, uxy = _window_means(torch.cat([y, y * y, ref * y], dim=1), k.win).unbind(dim=1)
    return _combine(ux, uy, ref_var, uyy - uy * uy, uxy - ux * uy, k)


def _ssim_pairs(x: torch.Tensor, y: torch.Tensor, k: _Constants) -> torch.Tensor:
    x, y = torch.broadcast_tensors(x, y)
    ux, uy, uxx, uyy, uxy = _window_means(torch.cat([x, y, x * x, y * y, x * y], dim=1), k.win).unbind(dim=1)
    return _combine(ux, uy, uxx - ux * ux, uyy - uy * uy, uxy - ux * uy, k)


def _combine(ux, uy, var_x, var_y, cov, k: _Constants) -> torch.Tensor:
    """The SSIM map from local means and (population) moments, averaged per map."""
    vx, vy, vxy = k.cov_norm * var_x, k.cov_norm * var_y, k.cov_norm * cov
    s = ((2 * ux * uy + k.c1) * (2 * vxy + k.c2)) / ((ux * ux + uy * uy + k.c1) * (vx + vy + k.c2))
    return s.mean(dim=(-2, -1))


def _as_batch(t: torch.Tensor) -> torch.Tensor:
    if t.ndim == 2:
        return t[None, None]
    if t.ndim == 3:
        return t[:, None]
    if t.ndim == 4 and t.shape[1] == 1:
        return t
    raise ValueError(f"expected H x W, N x H x W or N x 1 x H x W maps, got shape {tuple(t.shape)}")
