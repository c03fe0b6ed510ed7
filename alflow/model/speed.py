"""CPU levers for the forward passes, measured in ``benchmarks/`` and kept where they help.

- glibc's allocator: buffers over its mmap threshold (32 MB at most) are mmapped and
  page-faulted afresh on every batch; ``mallopt`` keeps them on the heap instead.
- channels-last memory format: oneDNN's convolutions prefer NHWC on CPU.
- BatchNorm folded into the convolution before it, for the eval-mode scoring pass: in eval
  mode BN is a fixed per-channel affine map, so folding it is exact up to float rounding
  (logits differ by ~1e-6) and saves one pass over every activation.
"""
from __future__ import annotations

import copy
import ctypes
import ctypes.util
import logging

import torch
import torchvision
from torch.nn.utils.fusion import fuse_conv_bn_eval

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
log = logging.getLogger("alflow")
_tuned = False


def keep_large_buffers_on_heap() -> bool:
    """Stop glibc from mmapping (and returning) large buffers; True where it took effect."""
    global _tuned
    if _tuned:
        return True
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        ok = libc.mallopt(M_MMAP_MAX, 0) == 1 and libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False
    _tuned = ok
    return ok


def scoring_copy(net: torch.nn.Module, channels_last: bool = True, fold_bn: bool = True) -> torch.nn.Module:
    """An eval-mode copy of ``net`` for inference, with the levers above applied.

    The copy shares nothing with ``net``: training goes on with the original untouched
    (its mode, memory format and BN statistics). Only torchvision ResNets get their BN
    folded, since folding by position needs to know which BN follows which conv.
    """
    scorer = copy.deepcopy(net).eval()
    if fold_bn and isinstance(scorer, torchvision.models.ResNet):
        _fold_resnet_batchnorm(scorer)
    if channels_last:
        scorer.to(memory_format=torch.channels_last)
    return scorer


# In torchvision's ResNet, its BasicBlock and its Bottleneck, convN feeds bnN directly.
_CONV_BN_PAIRS = (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"))


def _fold_resnet_batchnorm(net: torchvision.models.ResNet) -> None:
    for module in list(net.modules()):
        for conv_name, bn_name in _CONV_BN_PAIRS:
            conv, bn = getattr(module, conv_name, None), getattr(module, bn_name, None)
            if isinstance(conv, torch.nn.Conv2d) and isinstance(bn, torch.nn.BatchNorm2d):
                setattr(module, conv_name, fuse_conv_bn_eval(conv, bn))
                setattr(module, bn_name, torch.nn.Identity())
        downsample = getattr(module, "downsample", None)
        if (isinstance(downsample, torch.nn.Sequential) and len(downsample) == 2
                and isinstance(downsample[0], torch.nn.Conv2d) and isinstance(downsample[1], torch.nn.BatchNorm2d)):
            module.downsample = torch.nn.Sequential(fuse_conv_bn_eval(downsample[0], downsample[1]))
