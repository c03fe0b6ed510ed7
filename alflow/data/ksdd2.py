"""KolektorSDD2 as distributed: ``ROOT/train`` and ``ROOT/test``, each image ``ID.png`` beside its mask ``ID_GT.png``.

An image is a defect (label 1, class ``defect``) when its mask has any non-zero pixel,
otherwise ``good``. Images are colour, about 230 x 630 px; see alflow.data.decode for
how they are brought to ``image_size`` and alflow.data.files for the cache.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from alflow.data.files import build_dataset, check_duplicates, check_root, check_settings
from alflow.data.dataset import InspectionDataset
from alflow.data.listing import report_left_out, unused_images

log = logging.getLogger("alflow")

SPLITS = ("all", "train", "test")
LAYOUT = "KolektorSDD2: ROOT/train/ID.png + ROOT/train/ID_GT.png, ROOT/test/ likewise"
MASK_SUFFIX = "_GT"


def ksdd2_files(root: Path, split: str) -> tuple[list[Path], list[Path]]:
    """(images, masks) of ``split``, sorted; errors name the folder or the file at fault."""
    if split not in SPLITS:
        raise ValueError(f"dataset.split must be one of {list(SPLITS)}, got {split!r}")
    images: list[Path] = []
    masks: list[Path] = []
    folders = [root / part for part in (("train", "test") if split == "all" else (split,))]
    for folder in folders:
        if not folder.is_dir():
            other = " (or dataset.split=train / test for a root holding only one of them)" if split == "all" else ""
            raise FileNotFoundError(f"{folder} not found: expected {LAYOUT}{other}")
    for folder in folders:
        pngs = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png" and p.is_file())
        found = [p for p in pngs if not p.stem.endswith(MASK_SUFFIX)]
        if not found:
            raise ValueError(f"no images (ID.png beside ID_GT.png) in {folder}: expected {LAYOUT}")
        mask_names = {p.name for p in pngs if p.stem.endswith(MASK_SUFFIX)}
        for p in found:
            mask = p.with_name(f"{p.stem}{MASK_SUFFIX}{p.suffix}")
            if mask.name not in mask_names:
                raise FileNotFoundError(f"missing mask for {p}: expected {mask}")
            images.append(p)
            masks.append(mask)
        orphans = mask_names - {m.name for m in masks if m.parent == folder}
        if orphans:
            log.warning("ksdd2: %d masks in %s have no image, e.g. %s", len(orphans), folder, sorted(orphans)[0])
    return images, masks


def build_ksdd2(*, root: str | os.PathLike, name: str, image_size: int, split: str, resize: str,
                cache_dir: str | os.PathLike | None, on_bad_image: str, bit_depth: int | str, duplicates: str,
                max_pixels: int | None) -> InspectionDataset:
    """Hydra target of ``dataset=ksdd2``; ``split="all"`` pools train and test (folds are made later).

    Every setting comes from ``conf/dataset/ksdd2.yaml`` (their one home, documented there)."""
    check_settings(image_size, resize, on_bad_image, bit_depth, max_pixels)
    check_duplicates(duplicates)
    root_path = check_root(root, LAYOUT)
    images, masks = ksdd2_files(root_path, split)
    left_out, others = unused_images(root_path, images + masks, f"not an image or mask of {LAYOUT} "
                                                                f"(dataset.split={split})")
    report_left_out(name, left_out, others)
    return build_dataset(name, images, masks=masks, image_size=image_size, resize=resize, cache_dir=cache_dir,
                         on_bad_image=on_bad_image, bit_depth=bit_depth, duplicates=duplicates, max_pixels=max_pixels,
                         settings={"layout": "ksdd2", "split": split}, left_out=left_out)
