"""One folder per fine-grained class: ``ROOT/<class>/**/<image>`` (MVTec-AD style test folders, etc.).

Classes listed in ``negative_classes`` are defect-free (label 0), every other class folder is a
defect (label 1); ``classes`` keeps each image's folder name.

Which files are images, per class folder (walked at any depth, following links to folders):

* ``pattern``: a glob relative to the class folder, matched case-insensitively; the default
  ``**/*`` takes every file at any depth, ``*.png`` only the top level (``.PNG`` too),
  ``**/*.png`` PNGs at any depth;
* ``exclude``: globs (one or a list) matched against the path relative to the class folder
  from the right (as ``PurePosixPath.match``, case-insensitively), so ``*_GT.png`` or
  ``*_mask.*`` drop masks kept beside the images at any depth, and ``masks/*`` drops a
  ``masks`` sub-folder's files;
* ``extensions``: only files with one of these suffixes (any case) count, so stray notes or
  ``Thumbs.db`` are never decoded; hidden files and folders (``.name``) are always left out.

Every file under the root that looks like an image (alflow.data.listing) and is not taken --
hidden, outside the pattern, excluded, an image extension not listed, outside any class
folder -- is named in one warning with its reason and kept in ``InspectionDataset.left_out``
(and the run's ``dataset_stats.json``). Files that cannot be decoded are alflow.data.files's.
"""
from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from alflow.data.files import build_dataset, check_duplicates, check_root, check_settings
from alflow.data.dataset import InspectionDataset
from alflow.data.listing import glob_regex, looks_like_image, report_left_out, unused_images, walk_files

log = logging.getLogger("alflow")

LAYOUT = "one folder per class: ROOT/<class>/**/<image>"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".pgm", ".ppm")


def _as_list(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        return [str(value)]
    return [str(v) for v in value]


def _suffixes(extensions: Sequence[str]) -> set[str]:
    """``extensions`` as lower-case suffixes with their dot (``PNG`` and ``.png`` are both ``.png``)."""
    return {e.lower() if e.startswith(".") else f".{e.lower()}" for e in _as_list(extensions)}


def folder_files(root: Path, pattern: str = "**/*", exclude: str | Sequence[str] | None = None,
                 extensions: Sequence[str] = IMAGE_EXTENSIONS) -> tuple[dict[str, list[Path]], dict[str, str], int]:
    """Image files per class folder (sorted; classes without any are left out with a warning), every
    image-looking file under ``root`` that is not used with the reason, and the number of other files.

    Class folders and their sub-folders are walked following links (see alflow.data.listing);
    ``pattern`` and ``exclude`` match case-insensitively, so ``*.png`` takes ``.PNG`` too.
    """
    excludes = _as_list(exclude)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise ValueError(f"no class folders in {root}: expected {LAYOUT}")
    select = _file_filter(pattern, exclude, extensions)
    found: dict[str, list[Path]] = {}
    left_out: dict[str, str] = {}
    for folder in folders:
        files = select(folder, left_out)
        if files:
            found[folder.name] = files
    outside, others = unused_images(root, [p for fs in found.values() for p in fs] + [Path(p) for p in left_out],
                                    f"not inside a class folder ({LAYOUT})")
    left_out.update(outside)
    empty = [f.name for f in folders if f.name not in found]
    if found and empty:
        log.warning("folder: class folders %s of %s have no files matching pattern %r (exclude %s); left out",
                    empty, root, pattern, excludes)
    if not found:
        raise ValueError(f"no image files match pattern {pattern!r} (exclude {excludes}, extensions "
                         f"{sorted(_suffixes(extensions))}) in the class folders {[f.name for f in folders]} of {root}")
    return found, left_out, others


def _file_filter(pattern: str, exclude: str | Sequence[str] | None, extensions: Sequence[str]):
    """``select(base, left_out)``: the image files under ``base`` (any depth) that ``pattern`` (relative to
    ``base``), ``exclude`` and ``extensions`` admit, sorted; the others that look like images go to
    ``left_out`` with the reason. ValueError naming ``dataset.pattern`` when it is not a relative glob."""
    suffixes = _suffixes(extensions)
    try:
        wanted = glob_regex(pattern)
    except (re.error, ValueError) as exc:
        raise ValueError(f"dataset.pattern {pattern!r} is not a relative glob: {exc}") from exc
    if not pattern.strip("/") or Path(pattern).is_absolute() or ".." in PurePosixPath(pattern).parts:
        raise ValueError(f"dataset.pattern {pattern!r} is not a relative glob naming files inside a class folder, "
                         f"e.g. **/* or **/*.png")
    dropped = [(x, glob_regex(x, from_right=True)) for x in _as_list(exclude)]

    def select(base: Path, left_out: dict[str, str]) -> list[Path]:
        files = []
        for p in walk_files(base):
            reason = _why_not(p.relative_to(base).as_posix(), p, wanted, pattern, dropped, suffixes)
            if reason is None:
                files.append(p)
            elif reason:
                left_out[str(p)] = reason
        return files

    return select


def _why_not(rel: str, path: Path, wanted: re.Pattern, pattern: str, dropped: list[tuple[str, re.Pattern]],
             suffixes: set[str]) -> str | None:
    """None when the file is used; the reason it is not, or "" for a file that is no image at all."""
    if any(part.startswith(".") for part in rel.split("/")):
        return "hidden (a name starting with '.')" if looks_like_image(path) else ""
    if path.suffix.lower() not in suffixes:
        if not looks_like_image(path):
            return ""
        return f"an image, but its extension {path.suffix or '(none)'!r} is not in dataset.extensions"
    if not wanted.match(rel):
        return f"not matched by dataset.pattern {pattern!r}"
    for text, regex in dropped:
        if regex.match(rel):
            return f"excluded by dataset.exclude {text!r}"
    return None


def build_folder(*, root: str | os.PathLike, negative_classes: str | Sequence[str], pattern: str,
                 exclude: str | Sequence[str] | None, name: str, image_size: int, extensions: Sequence[str],
                 resize: str, cache_dir: str | os.PathLike | None, on_bad_image: str, bit_depth: int | str,
                 duplicates: str, max_pixels: int | None) -> InspectionDataset:
    """Hydra target of ``dataset=folder``: label 0 for ``negative_classes``' folders, 1 for the others.

    Every setting comes from ``conf/dataset/folder.yaml`` (their one home, documented there)."""
    check_settings(image_size, resize, on_bad_image, bit_depth, max_pixels)
    check_duplicates(duplicates)
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
    by_class, left_out, others = folder_files(root_path, pattern, exclude, extensions)
    report_left_out(name, left_out, others)
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
                         duplicates=duplicates, max_pixels=max_pixels, settings=settings, left_out=left_out)


UNLABELED_CLASS = "unlabeled"


def build_unlabeled_folder(*, root: str | os.PathLike, negative_classes: str | Sequence[str] | None, pattern: str,
                           exclude: str | Sequence[str] | None, name: str, image_size: int,
                           extensions: Sequence[str], resize: str, cache_dir: str | os.PathLike | None,
                           on_bad_image: str, bit_depth: int | str, duplicates: str,
                           max_pixels: int | None) -> InspectionDataset:
    """``dataset=folder`` in a labeling session (``alflow label``): every image under ``root`` at any
    depth, flat or in sub-folders, that ``pattern`` (relative to ``root``), ``exclude`` and
    ``extensions`` admit. Nothing is read as a label: the person is the oracle, so every image gets
    label 0 and the class ``"unlabeled"`` as placeholders the session never reads, and
    ``negative_classes`` is ignored. The other settings are ``conf/dataset/folder.yaml``'s.
    ValueError naming ``dataset.root`` when it holds no image file the settings admit."""
    check_settings(image_size, resize, on_bad_image, bit_depth, max_pixels)
    check_duplicates(duplicates)
    root_path = check_root(root, "a folder of images (any depth)")
    left_out: dict[str, str] = {}
    paths = _file_filter(pattern, exclude, extensions)(root_path, left_out)
    if not paths:
        raise ValueError(f"dataset.root={root_path} holds no image file matching dataset.pattern {pattern!r} "
                         f"(exclude {_as_list(exclude)}, extensions {list(extensions)})")
    report_left_out(name, left_out, 0)
    return build_dataset(name, paths, labels=[0] * len(paths), classes=[UNLABELED_CLASS] * len(paths),
                         image_size=image_size, resize=resize, cache_dir=cache_dir, on_bad_image=on_bad_image,
                         bit_depth=bit_depth, duplicates=duplicates, max_pixels=max_pixels,
                         settings={"layout": "unlabeled", "pattern": pattern, "exclude": _as_list(exclude)},
                         left_out=left_out)
