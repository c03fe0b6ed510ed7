"""Decode one image file of any Pillow mode into a 3 x S x S uint8 array.

Modes and what becomes of them:

* ``RGB`` as is; ``L`` and ``1`` repeated over the three channels;
* ``RGBA``, ``LA``, ``PA``, ``RGBa``, ``La``: the alpha channel is dropped (inspection images
  are opaque; a transparent border keeps its stored colour);
* ``P``: the palette is applied (via RGBA when the palette has transparency);
* ``CMYK``, ``YCbCr``, ``LAB``, ``HSV``: Pillow's conversion to RGB;
* 16-bit ``I;16``/``I;16L``/``I;16B``/``I;16N`` (and ``I``, 32-bit integer, e.g. 16-bit PNGs
  of older Pillows, when all values lie in 0..65535): the data's bit depth ``b`` is scaled onto
  0..255 (``round(v * 255 / (2**b - 1))``), never clipped, so the image looks like its 8-bit
  export. Machine-vision cameras (Mono10/12/14) store 10 to 14 bits in a 16-bit file: scaled by
  the container's 65535, a 12-bit frame would keep 16 of 256 grey levels and faint defects
  vanish. ``bit_depth`` (``dataset.bit_depth``) is ``b``: an integer 9..16 for every file (a
  value above ``2**b - 1`` raises BadImageError naming the file), or ``"auto"`` (default): per
  file, the smallest of 8, 10, 12, 14, 16 bits that holds its largest value. Set it to the
  camera's depth when frames may be dark (a 12-bit frame whose brightest pixel is below 1024
  is taken for 10-bit under ``auto``). ``I;16S`` (signed) is offset by 32768 and scaled by
  16 bits. ``I`` beyond 0..65535 is min-max stretched; ``F`` (float) is scaled by 255 when it
  lies in [0, 1], otherwise min-max stretched. 8-bit files ignore ``bit_depth``.

Pixels are taken as stored: EXIF orientation is ignored, so images and their masks stay
aligned. Multi-frame files (GIF, TIFF stacks) give their first frame.

Aspect ratio (``resize``):

* ``"stretch"`` (default): a plain resize to S x S; a 230 x 630 KolektorSDD2 strip is
  squeezed, but every pixel row and column stays in the picture.
* ``"pad"``: letterbox: scaled so the longer side is S, aspect kept, centred, and the
  rest padded with zeros (black).

Resampling is Pillow's bilinear filter, which widens its support when downscaling (it
averages, rather than skipping, the pixels between samples), so thin defects survive.

Every file is read in full (``Image.load()``), so a truncated or corrupt file raises
:class:`BadImageError` here, naming the file, rather than being half decoded.

Size (``max_pixels``, ``dataset.max_pixels``): an image of more pixels raises BadImageError
saying which setting admits it. ``None`` (default) is Pillow's decompression-bomb limit
(``2 * Image.MAX_IMAGE_PIXELS``, about 179 million pixels), the point where Pillow itself
refuses; line-scan frames of hundreds of megapixels are admitted by a larger value. Pillow's
own check is off while the file is opened, so the limit is this one, and it is reported.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

RESIZE_MODES = ("stretch", "pad")

# What Pillow raises on a file it cannot read: UnidentifiedImageError and "image file is
# truncated" are OSErrors; some plugins raise SyntaxError, ValueError, struct.error or EOFError.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, Image.DecompressionBombError)
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
AUTO_DEPTHS = (8, 10, 12, 14, 16)  # what bit_depth="auto" chooses from: the usual sensor depths


def check_bit_depth(bit_depth: int | str) -> int | str:
    """``bit_depth`` if it is ``"auto"`` or an integer 9..16; ValueError naming ``dataset.bit_depth`` otherwise."""
    if bit_depth == "auto" or (isinstance(bit_depth, int) and not isinstance(bit_depth, bool)
                               and 9 <= bit_depth <= 16):
        return bit_depth
    raise ValueError(f"dataset.bit_depth must be auto or an integer from 9 to 16 (the camera's bits per "
                     f"pixel, e.g. 12 for Mono12), got {bit_depth!r}")


def _high_bit_to_uint8(a: np.ndarray, bit_depth: int | str, path: str | os.PathLike) -> np.ndarray:
    """Non-negative integer pixels of a high-bit-depth file (values < 2**16) as uint8 grey."""
    top = int(a.max())
    if bit_depth == "auto":
        depth = next(d for d in AUTO_DEPTHS if top < 2 ** d)
    else:
        depth = bit_depth
        if top >= 2 ** depth:
            raise BadImageError(path, f"holds the value {top}, above the {2 ** depth - 1} of dataset.bit_depth="
                                      f"{depth}; set dataset.bit_depth to the camera's bits per pixel, or auto")
    full = 2 ** depth - 1
    return ((a.astype(np.uint32) * 255 + full // 2) // full).astype(np.uint8)


class BadImageError(ValueError):
    """An image (or mask) file that cannot be decoded; the message names the file."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot decode image {self.path}: {reason}")


def check_resize(resize: str) -> str:
    if resize not in RESIZE_MODES:
        raise ValueError(f"dataset.resize must be one of {list(RESIZE_MODES)}, got {resize!r}")
    return resize


def default_max_pixels() -> int:
    """Pillow's own refusal point: twice ``Image.MAX_IMAGE_PIXELS`` (it raises DecompressionBombError beyond)."""
    return 2 * int(Image.MAX_IMAGE_PIXELS or 89_478_485)


def check_max_pixels(max_pixels: int | None) -> int | None:
    """``max_pixels`` if None or a positive integer; ValueError naming ``dataset.max_pixels`` otherwise."""
    if max_pixels is None or (isinstance(max_pixels, int) and not isinstance(max_pixels, bool) and max_pixels > 0):
        return max_pixels
    raise ValueError(f"dataset.max_pixels must be null (Pillow's limit, {default_max_pixels()} pixels) or a "
                     f"positive integer, got {max_pixels!r}")


def open_image(path: str | os.PathLike, max_pixels: int | None = None) -> Image.Image:
    """The fully decoded image at ``path``; BadImageError when it is truncated, unreadable or has more
    than ``max_pixels`` pixels (None: :func:`default_max_pixels`).

    A missing file raises FileNotFoundError (it is not a bad image: the listing is stale).
    """
    limit = default_max_pixels() if max_pixels is None else max_pixels
    data = Path(path).read_bytes()
    pillow_limit = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = None  # our limit below, with a message that says how to raise it
        img = Image.open(io.BytesIO(data))
        if img.width * img.height > limit:
            setting = "dataset.max_pixels" + ("" if max_pixels is None else f"={max_pixels}")
            raise BadImageError(path, f"{img.width} x {img.height} = {img.width * img.height} pixels, more than "
                                      f"{setting} ({limit}, Pillow's decompression-bomb limit unless set); set "
                                      f"dataset.max_pixels={img.width * img.height} or more to admit it")
        img.load()  # decode everything now: a truncated file fails here, not later
    except UnidentifiedImageError as exc:
        what = "empty file" if not data else f"not an image format Pillow can identify ({len(data)} bytes)"
        raise BadImageError(path, what) from exc
    except BadImageError:
        raise
    except _DECODE_ERRORS as exc:
        raise BadImageError(path, f"{type(exc).__name__}: {exc}") from exc
    finally:
        Image.MAX_IMAGE_PIXELS = pillow_limit
    if img.width < 1 or img.height < 1:
        raise BadImageError(path, f"empty image ({img.width}x{img.height})")
    return img


def _scale_to_uint8(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
    if hi <= lo:
        return np.zeros(a.shape, dtype=np.uint8)
    return np.rint((a.astype(np.float64) - lo) * (255.0 / (hi - lo))).clip(0, 255).astype(np.uint8)


def to_rgb8(img: Image.Image, path: str | os.PathLike = "<image>", bit_depth: int | str = "auto") -> Image.Image:
    """``img`` as an 8-bit RGB image, following the mode rules of this module's docstring.

    Raises BadImageError naming ``path`` for pixels above ``bit_depth`` or non-finite floats.
    """
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in _SIXTEEN_BIT or mode.startswith("I;16"):
        a = np.asarray(img)
        if np.issubdtype(a.dtype, np.signedinteger):  # I;16S: signed 16 bit, the whole range is used
            grey = (((a.astype(np.int32) + 32768).astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
        else:
            grey = _high_bit_to_uint8(a, bit_depth, path)
        return Image.fromarray(grey, "L").convert("RGB")
    if mode == "I":
        a = np.asarray(img)
        lo, hi = int(a.min()), int(a.max())
        grey = _high_bit_to_uint8(a, bit_depth, path) if lo >= 0 and hi <= 65535 else _scale_to_uint8(a, lo, hi)
        return Image.fromarray(grey, "L").convert("RGB")
    if mode == "F":
        a = np.asarray(img, dtype=np.float64)
        if not np.isfinite(a).all():
            raise BadImageError(path, "float image holds NaN or infinite values")
        lo, hi = float(a.min()), float(a.max())
        grey = _scale_to_uint8(a, 0.0, 1.0) if lo >= 0.0 and hi <= 1.0 else _scale_to_uint8(a, lo, hi)
        return Image.fromarray(grey, "L").convert("RGB")
    if mode in ("P", "PA"):
        return img.convert("RGBA").convert("RGB")
    try:
        return img.convert("RGB")
    except (ValueError, OSError) as exc:
        raise BadImageError(path, f"unsupported image mode {mode!r}: {exc}") from exc


def fit(img: Image.Image, image_size: int, resize: str = "stretch") -> Image.Image:
    """``img`` at ``image_size`` x ``image_size``: stretched, or letterboxed with zero padding."""
    check_resize(resize)
    size = (image_size, image_size)
    if img.size == size:
        return img
    if resize == "stretch":
        return img.resize(size, Image.Resampling.BILINEAR)
    scale = image_size / max(img.width, img.height)
    w = min(image_size, max(1, round(img.width * scale)))
    h = min(image_size, max(1, round(img.height * scale)))
    canvas = Image.new(img.mode, size, 0)
    canvas.paste(img.resize((w, h), Image.Resampling.BILINEAR), ((image_size - w) // 2, (image_size - h) // 2))
    return canvas


def to_chw(img: Image.Image) -> np.ndarray:
    """An RGB image as a 3 x H x W uint8 array."""
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8).transpose(2, 0, 1))


def decode_image(path: str | os.PathLike, image_size: int, resize: str = "stretch",
                 bit_depth: int | str = "auto", max_pixels: int | None = None) -> np.ndarray:
    """The image file at ``path`` as a 3 x image_size x image_size uint8 array.

    Raises BadImageError (a ValueError naming ``path``) for truncated or unreadable files, for
    pixels above ``bit_depth`` and for more than ``max_pixels`` pixels (see the module docstring).
    """
    check_resize(resize)
    check_bit_depth(bit_depth)
    check_max_pixels(max_pixels)
    return to_chw(fit(to_rgb8(open_image(path, max_pixels), path, bit_depth), image_size, resize))


def read_mask(path: str | os.PathLike, max_pixels: int | None = None) -> tuple[tuple[int, int], bool]:
    """(width, height) of a defect mask and whether any of its pixels is non-zero.

    An alpha channel does not count (an opaque mask is not a defect); a palette mask counts
    its indices (index 0 is the background whatever its colour); CMYK and other colour
    spaces count their grey conversion.
    """
    img = open_image(path, max_pixels)
    bands = img.getbands()
    if img.mode in ("P", "PA"):
        a = np.asarray(img.getchannel(0) if img.mode == "PA" else img)
    elif img.mode in ("1", "L", "I", "F", "RGB") or img.mode.startswith("I;16"):
        a = np.asarray(img)
    elif set(bands) & {"A", "a"}:
        a = np.stack([np.asarray(img.getchannel(i)) for i, b in enumerate(bands) if b not in ("A", "a")])
    else:
        a = np.asarray(img.convert("L"))
    return img.size, bool(np.any(a))
