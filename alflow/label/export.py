"""A session's labels as a CSV and as a class-folder tree that ``dataset=folder`` trains on."""
from __future__ import annotations

import csv
import os
from datetime import datetime, timezone
from pathlib import Path

from alflow.label.store import LabelStore

COLUMNS = ("image_id", "path", "label", "inspector", "time", "seconds", "round", "model_version", "score",
           "defect_probability", "sha256", "source", "corrected", "previous", "corrected_time")
SOURCE = {"page": "page", "undo": "page", "labelstudio": "import"}  # the history's sources, as the CSV says them
CLASS_FOLDERS = ("defect", "good")  # unsure images are in the CSV only


def export_csv(store: LabelStore, out: str | Path) -> tuple[int, Path]:
    """Write every current label to ``out`` (CSV, columns ``COLUMNS``; ``time`` in UTC ISO 8601,
    ``seconds`` spent on the image, ``round`` 1-based, -1 for the audit sample; ``source``: ``page`` or
    ``import`` (Label Studio); ``corrected``: ``yes`` when the label was changed after its batch was
    submitted, with ``previous``, the value it replaced, and ``corrected_time``, when, of the last
    such change; ``no`` and both empty otherwise) and a tree of
    symbolic links ``<out without suffix>/{defect,good}/<path with / as __>`` beside it; returns the
    number of rows and the tree's folder. The tree is rebuilt from scratch each time (links only:
    nothing but links is ever deleted there). FileNotFoundError when the session's root is gone."""
    out = Path(out)
    root = Path(store.meta("root") or "")
    if not root.is_dir():
        raise FileNotFoundError(f"the session's dataset.root {root} is not a folder any more")
    rows = store.labels()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for r in rows:
            when = _utc(r["time"])
            corrected = r["corrected_time"] is not None
            shown_round = r["round"] + 1 if r["round"] >= 0 else r["round"]
            writer.writerow([r["image_id"], r["path"], r["label"], r["inspector"], when, f"{r['seconds']:.2f}",
                             shown_round, r["model_version"] or "", "" if r["score"] is None else r["score"],
                             "" if r["prob"] is None else f"{r['prob']:.4f}", r["sha256"],
                             SOURCE.get(r["source"], r["source"] or ""), "yes" if corrected else "no",
                             r["corrected_from"] if corrected else "", _utc(r["corrected_time"]) if corrected else ""])
    tree = out.with_suffix("")
    for name in CLASS_FOLDERS:
        folder = tree / name
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            if old.is_symlink():
                old.unlink()
    for r in rows:
        if r["label"] in CLASS_FOLDERS:
            link = tree / r["label"] / r["path"].replace("/", "__")
            os.symlink(root / r["path"], link)
    return len(rows), tree


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")
