"""Decode a list of image files once: a progress bar, an on-disk cache and bad-file handling.

The cache is one ``torch.save`` file per (files, settings): the decoded uint8 tensor, the
mask labels, which files were kept and which were skipped. Its name is a hash of

* every image (and mask) file's absolute path, size and modification time, in order
  (the builders list files sorted, so the order is the sorted one),
* ``image_size``, ``resize``, ``on_bad_image`` and the builder's own settings,
* a format version,

so touching, replacing, adding or removing a file, or changing a setting, decodes again;
stale cache files are simply never read again (delete the folder to reclaim the space).

``cache_dir``: the folder, ``"default"`` for ``$ALFLOW_CACHE_DIR`` or else ``~/.cache/alflow``,
``None`` (Hydra ``null``) for no cache. A cache file that cannot be read is decoded again; one
that cannot be written only costs a warning.

``bit_depth``: how high-bit-depth files are scaled to 8 bits; ``max_pixels``: the largest image
admitted (see alflow.data.decode). Both are part of the cache key.

Every decoded file gets a digest of its pixels as stored (mode, size and bytes, before any
conversion or resizing), so files copied under other names are found whatever their name or
container. ``duplicates`` (``dataset.duplicates``): ``"keep_one"`` keeps the first file of each
group of copies (in sorted order) and lists the others as skipped; ``"warn"`` (default) and
``"error"`` keep them all, for ``alflow.data.stats`` to report once fold roles are known.

``on_bad_image``: ``"error"`` (default) stops at the first unreadable or truncated file with a
BadImageError naming it; ``"skip"`` leaves such files out, logs a warning listing them on the
``alflow`` logger and returns them (the datasets keep them as ``InspectionDataset.skipped``).
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from alflow.data.dataset import InspectionDataset
from alflow.data.decode import (
    BadImageError, check_bit_depth, check_max_pixels, check_resize, fit, open_image, read_mask, to_chw, to_rgb8,
)

log = logging.getLogger("alflow")

CACHE_VERSION = 2  # 2: high-bit-depth files scaled by their bit depth (dataset.bit_depth)
DEFAULT_CACHE_DIR = "default"
ON_BAD_IMAGE = ("error", "skip")
DUPLICATES = ("error", "warn", "keep_one")


class MaskSizeError(ValueError):
    """A mask whose size differs from its image's: the pairing is wrong, never skipped."""


@dataclass
class DecodedFiles:
    images: torch.Tensor          # K x 3 x S x S uint8, one per kept file
    kept: list[int]               # positions in the input list of the K decoded files
    skipped: list[str]            # bad files left out (on_bad_image="skip"); a bad mask is listed itself
    labels: torch.Tensor | None   # int64 per kept file, 1 = its mask has a non-zero pixel; None without masks
    digests: list[str]            # per kept file: a hash of its pixels as stored (see pixel_digest)
    cache_file: Path | None       # where the result is cached; None when caching is off
    from_cache: bool              # True when nothing was decoded


def default_cache_dir() -> Path:
    return Path(os.environ.get("ALFLOW_CACHE_DIR") or "~/.cache/alflow").expanduser()


def resolve_cache_dir(cache_dir: str | os.PathLike | None) -> Path | None:
    if cache_dir is None or str(cache_dir) == "":
        return None
    if str(cache_dir) == DEFAULT_CACHE_DIR:
        return default_cache_dir()
    return Path(cache_dir).expanduser()


def check_duplicates(duplicates: str) -> None:
    """ValueError naming ``dataset.duplicates`` when it is not one of DUPLICATES."""
    if duplicates not in DUPLICATES:
        raise ValueError(f"dataset.duplicates must be one of {list(DUPLICATES)}, got {duplicates!r}")


def check_settings(image_size: int, resize: str, on_bad_image: str, bit_depth: int | str,
                   max_pixels: int | None) -> None:
    """ValueError naming the ``dataset.`` key of the first invalid decoding setting."""
    check_bit_depth(bit_depth)
    check_max_pixels(max_pixels)
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 16:
        raise ValueError(f"dataset.image_size must be an integer >= 16, got {image_size!r}")
    check_resize(resize)
    if on_bad_image not in ON_BAD_IMAGE:
        raise ValueError(f"dataset.on_bad_image must be one of {list(ON_BAD_IMAGE)}, got {on_bad_image!r}")


def check_root(root: str | os.PathLike, layout: str) -> Path:
    """``root`` as an absolute Path; FileNotFoundError / ValueError naming it when missing or empty."""
    if root is None or str(root) in ("", "???"):
        raise ValueError(f"dataset.root is not set; point it at the dataset folder ({layout})")
    path = Path(root).expanduser().absolute()
    if not path.exists():
        raise FileNotFoundError(f"dataset.root {path} does not exist (expected {layout})")
    if not path.is_dir():
        raise NotADirectoryError(f"dataset.root {path} is not a folder (expected {layout})")
    if not any(path.iterdir()):
        raise ValueError(f"dataset.root {path} is empty (expected {layout})")
    return path


def _fingerprint(paths: Sequence[Path]) -> list[list]:
    out = []
    for p in paths:
        st = os.stat(p)  # FileNotFoundError names the path
        out.append([str(p), st.st_size, st.st_mtime_ns])
    return out


def cache_key(paths: Sequence[Path], masks: Sequence[Path] | None, image_size: int, resize: str,
              on_bad_image: str, settings: Mapping | None = None, bit_depth: int | str = "auto",
              max_pixels: int | None = None) -> str:
    """A hash of the files (paths, sizes, mtimes) and every setting that changes the decoded result."""
    spec = {
        "version": CACHE_VERSION,
        "image_size": image_size,
        "resize": resize,
        "on_bad_image": on_bad_image,
        "bit_depth": bit_depth,
        "max_pixels": max_pixels,
        "settings": dict(settings or {}),
        "files": _fingerprint(paths),
        "masks": None if masks is None else _fingerprint(masks),
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


def pixel_digest(img) -> str:
    """A hex digest of a decoded PIL image's pixels as stored: equal for exact copies of one picture
    (whatever the file name, or a lossless re-encoding into another container), different otherwise."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{img.mode}:{img.width}x{img.height}:".encode())
    if img.mode in ("P", "PA"):  # the same indices under another palette are another picture
        h.update(bytes(img.getpalette() or []))
    h.update(img.tobytes())
    return h.hexdigest()


def _decode_one(path: Path, mask: Path | None, image_size: int, resize: str, bit_depth: int | str,
                max_pixels: int | None) -> tuple[np.ndarray, int, str]:
    img = open_image(path, max_pixels)
    label = -1
    if mask is not None:
        mask_size, defective = read_mask(mask, max_pixels)
        if mask_size != img.size:
            raise MaskSizeError(f"mask {mask} is {mask_size[0]}x{mask_size[1]} but image is "
                                f"{img.width}x{img.height} ({path})")
        label = int(defective)
    return to_chw(fit(to_rgb8(img, path, bit_depth), image_size, resize)), label, pixel_digest(img)


def _warn_skipped(name: str, skipped: Sequence[str], reasons: Sequence[str], total: int) -> None:
    if skipped:
        log.warning("%s: skipped %d of %d files that cannot be decoded (dataset.on_bad_image=skip):\n  %s",
                    name, len(skipped), total, "\n  ".join(reasons))


def _read_cache(cache_file: Path, key: str, paths: list[str]) -> dict | None:
    if not cache_file.is_file():
        return None
    try:
        payload = torch.load(cache_file, map_location="cpu", weights_only=True)
        if payload.get("key") != key or payload.get("paths") != paths:
            raise ValueError("it belongs to other files")
        return payload
    except Exception as exc:  # a damaged or foreign cache file: decode again
        log.warning("ignoring unreadable cache file %s (%s); decoding again", cache_file, exc)
        return None


def _write_cache(cache_file: Path, payload: dict) -> bool:
    tmp = cache_file.with_name(f".{cache_file.name}.{os.getpid()}.tmp")
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        torch.save(payload, tmp)
        os.replace(tmp, cache_file)  # atomic: a concurrent job never reads half a file
        return True
    except OSError as exc:
        log.warning("could not write the image cache %s (%s); continuing without it", cache_file, exc)
        tmp.unlink(missing_ok=True)
        return False


def load_images(paths: Sequence[str | os.PathLike], image_size: int, resize: str, *,
                cache_dir: str | os.PathLike | None, on_bad_image: str, bit_depth: int | str, max_pixels: int | None,
                masks: Sequence[str | os.PathLike] | None = None, name: str = "images",
                settings: Mapping | None = None) -> DecodedFiles:
    """Decode ``paths`` (each with its defect mask when ``masks`` is given) once, or read them from the cache.

    Raises BadImageError naming the file (on_bad_image="error"), MaskSizeError for a mask of
    another size than its image, ValueError when no file at all could be decoded.
    """
    check_settings(image_size, resize, on_bad_image, bit_depth, max_pixels)
    files = [Path(p).absolute() for p in paths]
    mask_files = None if masks is None else [Path(m).absolute() for m in masks]
    if mask_files is not None and len(mask_files) != len(files):
        raise ValueError(f"{len(files)} images but {len(mask_files)} masks")
    if not files:
        raise ValueError(f"{name}: no image files to decode")

    cache_root = resolve_cache_dir(cache_dir)
    cache_file = None
    if cache_root is not None:
        key = cache_key(files, mask_files, image_size, resize, on_bad_image, settings, bit_depth, max_pixels)
        cache_file = cache_root / f"{name}-{image_size}px-{key[:24]}.pt"
        payload = _read_cache(cache_file, key, [str(f) for f in files])
        if payload is not None:
            log.info("%s: %d images from cache %s", name, len(payload["images"]), cache_file)
            _warn_skipped(name, payload["skipped"], payload["reasons"], len(files))
            return DecodedFiles(payload["images"], payload["kept"].tolist(), list(payload["skipped"]),
                                payload["labels"], list(payload["digests"]), cache_file, True)

    n = len(files)
    images = torch.empty((n, 3, image_size, image_size), dtype=torch.uint8)
    labels = np.full(n, -1, dtype=np.int64)
    kept: list[int] = []
    digests: list[str] = []
    skipped: list[str] = []
    reasons: list[str] = []
    where = f"{files[0].parent}" if n == 1 else os.path.commonpath([str(f.parent) for f in files])
    log.info("%s: decoding %d images from %s at %d px (%s)%s", name, n, where, image_size, resize,
             "" if cache_file is None else f"; caching to {cache_file}")
    start = time.perf_counter()
    show_bar = sys.stderr.isatty()
    step = max(1, math.ceil(n / 10))
    with tqdm(total=n, desc=f"{name}: decoding", unit="img", file=sys.stderr, disable=not show_bar,
              leave=False) as bar:
        for i, path in enumerate(files):
            mask = None if mask_files is None else mask_files[i]
            try:
                array, label, digest = _decode_one(path, mask, image_size, resize, bit_depth, max_pixels)
            except BadImageError as exc:
                if on_bad_image == "error":
                    hint = " (set dataset.on_bad_image=skip to leave such files out)"
                    if mask is not None and exc.path == str(mask):
                        raise BadImageError(exc.path, f"{exc.reason}; it is the mask of {path}{hint}") from exc
                    raise BadImageError(exc.path, exc.reason + hint) from exc
                skipped.append(exc.path)
                reasons.append(str(exc) if exc.path == str(path) else f"{exc} (mask of {path})")
            else:
                images[len(kept)] = torch.from_numpy(array)
                labels[len(kept)] = label
                kept.append(i)
                digests.append(digest)
            bar.update(1)
            if not show_bar and n >= 100 and ((i + 1) % step == 0 or i + 1 == n):
                log.info("%s: decoded %d/%d images (%d%%)", name, i + 1, n, round(100 * (i + 1) / n))
    if not kept:
        raise ValueError(f"{name}: none of the {n} image files under {where} could be decoded; first: {reasons[0]}")
    images = images[: len(kept)].clone() if len(kept) < n else images
    label_tensor = torch.from_numpy(labels[: len(kept)].copy()) if mask_files is not None else None
    log.info("%s: decoded %d images in %.1f s", name, len(kept), time.perf_counter() - start)
    _warn_skipped(name, skipped, reasons, n)

    if cache_file is not None:
        _write_cache(cache_file, {
            "version": CACHE_VERSION, "key": key, "paths": [str(f) for f in files], "images": images,
            "labels": label_tensor, "kept": torch.tensor(kept, dtype=torch.int64), "skipped": skipped,
            "digests": digests,
            "reasons": reasons, "image_size": image_size, "resize": resize,
        })
    return DecodedFiles(images, kept, skipped, label_tensor, digests, cache_file, False)


def build_dataset(name: str, paths: Sequence[Path], *, image_size: int, resize: str,
                  cache_dir: str | os.PathLike | None, on_bad_image: str, masks: Sequence[Path] | None = None,
                  labels: Sequence[int] | None = None, classes: Sequence[str] | None = None,
                  settings: Mapping | None = None, bit_depth: int | str, duplicates: str,
                  left_out: Mapping[str, str] | None = None, max_pixels: int | None) -> InspectionDataset:
    """An InspectionDataset of ``paths``: labelled by their masks, or by the given ``labels``/``classes``.

    ``left_out``: image files the builder did not take, with the reason (kept for the statistics).
    ``duplicates="keep_one"`` drops all but the first file of each group of exact copies (listed
    in ``skipped``, with a warning naming the file each one copies)."""
    check_duplicates(duplicates)
    decoded = load_images(paths, image_size, resize, masks=masks, cache_dir=cache_dir,
                          on_bad_image=on_bad_image, name=name, settings=settings, bit_depth=bit_depth,
                          max_pixels=max_pixels)
    if decoded.labels is not None:
        y = decoded.labels
        fine = ["defect" if v else "good" for v in y.tolist()]
    else:
        if labels is None:
            raise ValueError("build_dataset needs masks or labels")
        y = torch.tensor([int(labels[i]) for i in decoded.kept], dtype=torch.int64)
        fine = [str(classes[i]) for i in decoded.kept] if classes is not None else []
    files = [str(Path(paths[i]).absolute()) for i in decoded.kept]
    dataset = InspectionDataset(name, decoded.images, y, fine, skipped=list(decoded.skipped), files=files,
                                digests=list(decoded.digests), duplicates=duplicates, left_out=dict(left_out or {}))
    return _keep_one(dataset) if duplicates == "keep_one" else dataset


def _keep_one(dataset: InspectionDataset) -> InspectionDataset:
    """``dataset`` without the second and later copies of each group of identical images."""
    drop = {i: group[0] for group in dataset.duplicate_groups() for i in group[1:]}
    if not drop:
        return dataset
    log.warning("%s: left out %d exact copies of other images (dataset.duplicates=keep_one):\n  %s", dataset.name,
                len(drop), "\n  ".join(f"{dataset.files[i]} (copy of {dataset.files[j]}"
                                       f"{', labelled differently' if dataset.labels[i] != dataset.labels[j] else ''})"
                                       for i, j in sorted(drop.items())))
    keep = [i for i in range(len(dataset)) if i not in drop]
    return InspectionDataset(dataset.name, dataset.images[keep].clone(), dataset.labels[keep],
                             [dataset.classes[i] for i in keep],
                             skipped=dataset.skipped + [dataset.files[i] for i in sorted(drop)],
                             files=[dataset.files[i] for i in keep], digests=[dataset.digests[i] for i in keep],
                             duplicates=dataset.duplicates, left_out=dataset.left_out)
