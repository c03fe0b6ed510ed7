"""KolektorSDD (v1): ``ROOT/kosNN/PartN.jpg`` beside its mask ``ROOT/kosNN/PartN_label.bmp``.

Grayscale images (about 500 x 1250 px; repeated over three channels). An image is a defect
(label 1, class ``defect``) when its label mask has any non-zero pixel, otherwise ``good``.
Every sub-folder of ROOT is read (``kos01`` ... ``kos50`` as distributed); images are the
``.jpg`` files in them (``.png``/``.bmp`` too, for re-encoded copies), masks are the
``*_label.*`` files.
"""
from __future__ import annotations

import os
from pathlib import Path

from alflow.data.files import build_dataset, check_duplicates, check_root, check_settings
from alflow.data.dataset import InspectionDataset
from alflow.data.listing import report_left_out, unused_images

LAYOUT = "KolektorSDD: ROOT/kosNN/PartN.jpg + ROOT/kosNN/PartN_label.bmp"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
MASK_SUFFIX = "_label"


def ksdd_files(root: Path) -> tuple[list[Path], list[Path]]:
    """(images, masks), sorted by folder and name; errors name the folder or the file at fault."""
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise ValueError(f"no sub-folders (kosNN) in {root}: expected {LAYOUT}")
    images: list[Path] = []
    masks: list[Path] = []
    for folder in folders:
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        by_stem = {p.stem: p for p in files if p.stem.endswith(MASK_SUFFIX)}
        for p in files:
            if p.stem.endswith(MASK_SUFFIX):
                continue
            mask = by_stem.get(p.stem + MASK_SUFFIX)
            if mask is None:
                expected = p.with_name(f"{p.stem}{MASK_SUFFIX}.bmp")
                raise FileNotFoundError(f"missing mask for {p}: expected {expected}")
            images.append(p)
            masks.append(mask)
    if not images:
        raise ValueError(f"no images (PartN.jpg beside PartN_label.bmp) in the sub-folders of {root}: "
                         f"expected {LAYOUT}")
    return images, masks


def build_ksdd(*, root: str | os.PathLike, name: str, image_size: int, resize: str,
               cache_dir: str | os.PathLike | None, on_bad_image: str, bit_depth: int | str, duplicates: str,
               max_pixels: int | None) -> InspectionDataset:
    """Hydra target of ``dataset=ksdd``: every part of every ``kosNN`` folder.

    Every setting comes from ``conf/dataset/ksdd.yaml`` (their one home, documented there)."""
    check_settings(image_size, resize, on_bad_image, bit_depth, max_pixels)
    check_duplicates(duplicates)
    root_path = check_root(root, LAYOUT)
    images, masks = ksdd_files(root_path)
    left_out, others = unused_images(root_path, images + masks, f"not a part or mask of {LAYOUT}")
    report_left_out(name, left_out, others)
    return build_dataset(name, images, masks=masks, image_size=image_size, resize=resize, cache_dir=cache_dir,
                         on_bad_image=on_bad_image, bit_depth=bit_depth, duplicates=duplicates, max_pixels=max_pixels,
                         settings={"layout": "ksdd"}, left_out=left_out)
