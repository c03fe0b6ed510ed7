"""Images and GradCAM overlays as PNG bytes for the page."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from matplotlib import colormaps
from PIL import Image, ImageOps


def image_png(path: str | Path, max_side: int) -> bytes:
    """The image file at ``path`` as an 8-bit RGB PNG, its longest side at most ``max_side`` pixels
    (browsers show no TIFF or 16-bit PGM; the page needs no more than the screen shows).
    16-bit files are scaled by their brightest pixel; EXIF orientation is applied."""
    with Image.open(path) as img:
        img = ImageOps.exif_transpose(img)
        if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            pixels = np.asarray(img, dtype=np.float64)
            top = pixels.max() or 1.0
            img = Image.fromarray((pixels / top * 255).astype(np.uint8))
        img = img.convert("RGB")
        img.thumbnail((max_side, max_side))
        return _png(img)


def cam_png(cam: torch.Tensor) -> bytes:
    """A GradCAM map (S x S, values in [0, 1]) as an RGBA PNG to lay over the image: jet colours,
    transparent where the map is zero, at most 70 % opaque where it is one."""
    values = cam.float().clamp(0, 1).numpy()
    rgba = colormaps["jet"](values)
    rgba[..., 3] = 0.7 * values
    return _png(Image.fromarray((rgba * 255).astype(np.uint8), "RGBA"))


def _png(img: Image.Image) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    return buffer.getvalue()
