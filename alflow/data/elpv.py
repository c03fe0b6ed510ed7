"""ELPV: 2,624 electroluminescence images of solar cells, as installed by the ``elpv-dataset`` package.

Buerhop-Lutz et al., "A benchmark for visual identification of defective solar cells in
electroluminescence imagery", EU PVSEC 2018; Deitsch et al., "Automatic classification of
defective photovoltaic module cells in electroluminescence images", Solar Energy 185 (2019).
CC BY-NC-SA 4.0: alflow reads the package's files where pip put them and never copies them.

Each image is a 300 x 300 8-bit grey PNG with an expert's defect probability (0, 1/3, 2/3 or
1) and the module type (``mono`` / ``poly``). The binary label is ``probability >=
defect_threshold``; the fine-grained class keeps both, e.g. ``poly-p0.67``, so per-class counts
show what a threshold folded together.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

from alflow.data.files import build_dataset, check_settings
from alflow.data.dataset import InspectionDataset

INSTALL_HINT = "pip install elpv-dataset (or pip install -e '.[elpv]')"
# Fixed for elpv, so not keys of conf/dataset/elpv.yaml: its cells are 8-bit PNGs of 300 x 300 px
# (bit depth and size limits never apply); exact copies across fold roles are reported, not dropped.
ELPV_BIT_DEPTH = "auto"
ELPV_MAX_PIXELS = None
ELPV_DUPLICATES = "warn"


def elpv_root() -> Path:
    """The folder holding ``labels.csv`` and ``images/`` of the installed package.

    Raises ModuleNotFoundError naming the package when it is not installed.
    """
    try:
        import elpv_dataset
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(f"dataset=elpv needs the elpv-dataset package, which is not installed: "
                                  f"{INSTALL_HINT}") from exc
    return Path(elpv_dataset.__file__).resolve().parent / "data"


def read_labels(labels_csv: Path) -> list[tuple[Path, float, str]]:
    """(image file, defect probability in [0, 1], module type) per line of the package's ``labels.csv``.

    The file is whitespace-separated: ``images/cell0001.png  1.0  mono``. Raises ValueError
    naming the file and line for anything else.
    """
    rows = []
    with open(labels_csv, newline="") as f:
        for line_no, parts in enumerate(csv.reader(f, delimiter=" ", skipinitialspace=True), start=1):
            if not parts:
                continue
            try:
                name, prob, kind = parts
                p = float(prob)
            except ValueError as exc:
                raise ValueError(f"{labels_csv}:{line_no}: expected 'PATH PROBABILITY TYPE', got {parts}") from exc
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{labels_csv}:{line_no}: defect probability {p} is outside [0, 1]")
            rows.append((labels_csv.parent / name, p, kind))
    if not rows:
        raise ValueError(f"{labels_csv} lists no images")
    return rows


def build_elpv(*, name: str, image_size: int, defect_threshold: float, resize: str,
               cache_dir: str | os.PathLike | None, on_bad_image: str, limit: int | None,
               root: str | os.PathLike | None) -> InspectionDataset:
    """Hydra target of ``dataset=elpv``: images N x 3 x S x S uint8 (grey repeated), label 1 = defect.

    Settings from ``conf/dataset/elpv.yaml`` (their one home). ``defect_threshold``: a cell is a
    defect when its expert probability is >= this (0.5 there: 2/3 and 1 are defects). ``limit``:
    keep only the first ``limit`` images of each fine-grained class (tests and quick trials;
    ``null`` = all 2,624). ``root``: another copy of the package's
    ``data`` folder (``labels.csv`` + ``images/``); ``null`` = the installed package.
    Raises ModuleNotFoundError naming the package, ValueError for a threshold outside (0, 1].
    """
    check_settings(image_size, resize, on_bad_image, ELPV_BIT_DEPTH, ELPV_MAX_PIXELS)
    if not 0.0 < float(defect_threshold) <= 1.0:
        raise ValueError(f"dataset.defect_threshold must be in (0, 1], got {defect_threshold!r}")
    if limit is not None and (isinstance(limit, bool) or int(limit) < 1):
        raise ValueError(f"dataset.limit must be a positive number of images per class or null, got {limit!r}")
    folder = Path(root).expanduser() if root else elpv_root()
    labels_csv = folder / "labels.csv"
    if not labels_csv.is_file():
        raise FileNotFoundError(f"{labels_csv} not found: dataset.root must hold the elpv labels.csv and images/")
    rows = read_labels(labels_csv)
    classes = [f"{kind}-p{p:.2f}" for _, p, kind in rows]
    if limit is not None:
        taken: dict[str, int] = {}
        keep = []
        for i, c in enumerate(classes):
            if taken.get(c, 0) < int(limit):
                taken[c] = taken.get(c, 0) + 1
                keep.append(i)
        rows, classes = [rows[i] for i in keep], [classes[i] for i in keep]
    labels = [int(p >= float(defect_threshold)) for _, p, _ in rows]
    return build_dataset(name, [path for path, _, _ in rows], image_size=image_size, resize=resize,
                         cache_dir=cache_dir, on_bad_image=on_bad_image, labels=labels, classes=classes,
                         bit_depth=ELPV_BIT_DEPTH, duplicates=ELPV_DUPLICATES, max_pixels=ELPV_MAX_PIXELS,
                         settings={"layout": "elpv", "threshold": float(defect_threshold), "limit": limit})
