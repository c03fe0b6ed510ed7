"""One folder per fine-grained class: ``ROOT/<class>/**/<image>`` (MVTec-AD style test folders, etc.).

Classes listed in ``negative_classes`` are defect-free (label 0), every other class folder is a
defect (label 1); ``classes`` keeps each image's folder name.

Which files are images, per class folder:

* ``pattern``: a glob relative to the class folder (``Path.glob``); the default ``**/*`` takes
  every file at any depth, ``*.png`` only the top level, ``**/*.png`` PNGs at any depth;
* ``exclude``: globs (one or a list) matched against the path relative to the class folder
  from the right (``PurePosixPath.match``), so ``*_GT.png`` or ``*_mask.*`` drop masks kept
  beside the images at any depth, and ``masks/*`` drops a ``masks`` sub-folder's files;
* ``extensions``: only files with one of these suffixes (any case) count, so stray notes or
  ``Thumbs.db`` are never decoded; hidden files and folders (``.name``) are always left out.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from alflow.data.cache import DEFAULT_CACHE_DIR, build_dataset, check_root, check_settings
from alflow.data.dataset import InspectionDataset

log = logging.getLogger("alflow")

LAYOUT = "one folder per class: ROOT/<class>/**/<image>"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".pgm", ".ppm")


def _as_list(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        return [str(value)]
    return [str(v) for v in value]


def folder_files(root: Path, pattern: str = "**/*", exclude: str | Sequence[str] | None = None,
                 extensions: Sequence[str] = IMAGE_EXTENSIONS) -> dict[str, list[Path]]:
    """Image files per class folder (sorted; classes without any are left out with a warning)."""
    excludes = _as_list(exclude)
    suffixes = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in _as_list(extensions)}
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise ValueError(f"no class folders in {root}: expected {LAYOUT}")
    found: dict[str, list[Path]] = {}
    for folder in folders:
        try:
            candidates = list(folder.glob(pattern))
        except (ValueError, NotImplementedError) as exc:
            raise ValueError(f"dataset.pattern {pattern!r} is not a relative glob: {exc}") from exc
        files = []
        for p in candidates:
            rel = PurePosixPath(p.relative_to(folder).as_posix())
            if (p.suffix.lower() in suffixes and not any(part.startswith(".") for part in rel.parts)
                    and not any(rel.match(x) for x in excludes) and p.is_file()):
                files.append(p)
        if files:
            found[folder.name] = sorted(files)
    empty = [f.name for f in folders if f.name not in found]
    if found and empty:
        log.warning("folder: class folders %s of %s have no files matching pattern %r (exclude %s); left out",
                    empty, root, pattern, excludes)
    if not found:
        raise ValueError(f"no image files match pattern {pattern!r} (exclude {excludes}, extensions "
                         f"{sorted(suffixes)}) in the class folders {[f.name for f in folders]} of {root}")
    return found


def build_folder(root: str | os.PathLike, negative_classes: str | Sequence[str], pattern: str = "**/*",
                 exclude: str | Sequence[str] | None = None, name: str = "folder", image_size: int = 64,
                 extensions: Sequence[str] = IMAGE_EXTENSIONS, resize: str = "stretch",
                 cache_dir: str | os.PathLike | None = DEFAULT_CACHE_DIR,
                 on_bad_image: str = "error", bit_depth: int | str = "auto",
                 duplicates: str = "warn") -> InspectionDataset:
    """Hydra target of ``dataset=folder``: label 0 for ``negative_classes``' folders, 1 for the others."""
    check_settings(image_size, resize, on_bad_image, bit_depth, duplicates)
    root_path = check_root(root, LAYOUT)
    negatives = _as_list(negative_classes)
    known = sorted(p.name for p in root_path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not known:
        raise ValueError(f"no class folders in {root_path}: expected {LAYOUT}")
    if not negatives:
        raise ValueError(f"dataset.negative_classes is empty: name the defect-free class folder(s) "
                         f"among {known}, e.g. [good]")
    for c in negatives:
        if c not in known:
            raise ValueError(f"dataset.negative_classes names unknown class {c!r}: the class folders of "
                             f"{root_path} are {known}")
    by_class = folder_files(root_path, pattern, exclude, extensions)
    present = sorted(by_class)
    good = [c for c in present if c in negatives]
    bad = [c for c in present if c not in negatives]
    if not good or not bad:
        which = "negative (defect-free)" if not bad else "defect"
        raise ValueError(f"only one binary class in {root_path}: the classes with images {present} are all "
                         f"{which} given dataset.negative_classes={negatives}; both good and defect images are needed")
    paths: list[Path] = []
    classes: list[str] = []
    for c in present:
        paths += by_class[c]
        classes += [c] * len(by_class[c])
    labels = [0 if c in negatives else 1 for c in classes]
    settings = {"layout": "folder", "pattern": pattern, "exclude": _as_list(exclude)}
    return build_dataset(name, paths, labels=labels, classes=classes, image_size=image_size, resize=resize,
                         cache_dir=cache_dir, on_bad_image=on_bad_image, bit_depth=bit_depth,
                         duplicates=duplicates, settings=settings)
