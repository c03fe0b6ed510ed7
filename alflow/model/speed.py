"""CPU levers for the forward passes, measured in ``benchmarks/`` and kept where they help.

- glibc's allocator: buffers over its mmap threshold (32 MB at most) are mmapped and
  page-faulted afresh on every batch; ``mallopt`` keeps them on the heap instead.
- channels-last memory format: oneDNN's convolutions prefer NHWC on CPU.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging

import torch

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


def channels_last(net: torch.nn.Module) -> torch.nn.Module:
    return net.to(memory_format=torch.channels_last)
