"""Tiny synthetic image folders for the labeling tests: PNGs written with Pillow."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_folder(root: Path, n_good: int = 30, n_bad: int = 10, size: int = 40, seed: int = 0) -> Path:
    """``root/good/NNN.png`` (a grey surface, a little noise) and ``root/bad/NNN.png`` (the same with a bright
    square: the defect)."""
    rng = np.random.default_rng(seed)
    for cls, n in (("good", n_good), ("bad", n_bad)):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            shade = rng.integers(90, 150)
            pixels = (rng.random((size, size, 1)) * 12 + shade).repeat(3, axis=2).astype(np.uint8)
            if cls == "bad":
                x, y = rng.integers(0, size - size // 4, 2)
                pixels[y:y + size // 4, x:x + size // 4] = 250
            Image.fromarray(pixels).save(root / cls / f"{i:03d}.png")
    return root
