"""Dataset statistics per fold role and fine-grained class, for the run's record."""
from __future__ import annotations

import logging

from alflow.data.dataset import InspectionDataset
from alflow.data.folds import FoldSplit

log = logging.getLogger("alflow")


def split_statistics(dataset: InspectionDataset, split: FoldSplit) -> dict:
    """{role: {"images", "defects", "classes": {class: count}}} for pool, val and test, and the whole set,
    plus ``skipped_files`` (undecodable, or copies under keep_one), ``left_out_files`` (image files
    under the root the layout did not take: path -> reason) and ``duplicates`` (see :func:`duplicate_report`).

    Applies ``dataset.duplicates`` to copies that straddle roles (a train/test leak): ``"error"``
    raises ValueError naming the files and their roles, ``"warn"`` logs the same as a warning
    (``"keep_one"`` left no copies to find).
    """
    roles = {"pool": split.pool, "val": split.val, "test": split.test, "all": None}
    stats = {}
    for role, indices in roles.items():
        labels = dataset.labels if indices is None else dataset.labels[indices]
        stats[role] = {"images": int(len(labels)), "defects": int(labels.sum()),
                       "classes": dataset.class_counts(indices)}
    stats["skipped_files"] = list(dataset.skipped)
    stats["left_out_files"] = dict(dataset.left_out)
    stats["duplicates"] = duplicate_report(dataset, split)
    _apply_duplicate_policy(dataset, stats["duplicates"])
    return stats


def duplicate_report(dataset: InspectionDataset, split: FoldSplit) -> dict:
    """Exact copies among the dataset's files: ``{"groups": n, "copies": images beyond the first of
    each group, "across_roles": n, "list": [{"files": [...], "roles": [...], "labels": [...]}]}``."""
    role_of = {}
    for role in ("pool", "val", "test"):
        for i in getattr(split, role).tolist():
            role_of[i] = role
    listed = []
    for group in dataset.duplicate_groups():
        listed.append({"files": [dataset.files[i] if dataset.files else f"#{i}" for i in group],
                       "roles": [role_of.get(i, "unused") for i in group],
                       "labels": [int(dataset.labels[i]) for i in group]})
    across = [g for g in listed if len(set(g["roles"])) > 1]
    return {"groups": len(listed), "copies": sum(len(g["files"]) - 1 for g in listed), "across_roles": len(across),
            "list": listed}


def _apply_duplicate_policy(dataset: InspectionDataset, report: dict) -> None:
    across = [g for g in report["list"] if len(set(g["roles"])) > 1]
    if not across:
        return
    shown = "\n  ".join(", ".join(f"{f} ({r})" for f, r in zip(g["files"], g["roles"])) for g in across[:20])
    more = f"\n  ... and {len(across) - 20} more groups" if len(across) > 20 else ""
    message = (f"{dataset.name}: {len(across)} groups of identical images are split across fold roles, so the "
               f"model is tested on images it was trained on:\n  {shown}{more}\n")
    if dataset.duplicates == "error":
        raise ValueError(message + "Remove the copies, or set dataset.duplicates=keep_one to keep the first of each "
                                   "(or dataset.duplicates=warn to go on regardless)")
    log.warning("%s(dataset.duplicates=warn; keep_one keeps the first of each, error stops here)", message)


def statistics_metrics(stats: dict) -> dict[str, float]:
    """``data/<role>/images`` and ``data/<role>/defects`` as flat numbers, and ``data/duplicates/*``."""
    metrics = {f"data/{role}/{key}": float(stats[role][key])
               for role in ("pool", "val", "test", "all") for key in ("images", "defects")}
    if "duplicates" in stats:
        metrics.update({f"data/duplicates/{key}": float(stats["duplicates"][key])
                        for key in ("groups", "copies", "across_roles")})
    return metrics
