"""Dataset statistics per fold role and fine-grained class, for the run's record."""
from __future__ import annotations

from alflow.data.dataset import InspectionDataset
from alflow.data.folds import FoldSplit


def split_statistics(dataset: InspectionDataset, split: FoldSplit) -> dict:
    """{role: {"images", "defects", "classes": {class: count}}} for pool, val and test, and the whole set."""
    roles = {"pool": split.pool, "val": split.val, "test": split.test, "all": None}
    stats = {}
    for role, indices in roles.items():
        labels = dataset.labels if indices is None else dataset.labels[indices]
        stats[role] = {"images": int(len(labels)), "defects": int(labels.sum()),
                       "classes": dataset.class_counts(indices)}
    stats["skipped_files"] = list(dataset.skipped)
    return stats


def statistics_metrics(stats: dict) -> dict[str, float]:
    """``data/<role>/images`` and ``data/<role>/defects`` as flat numbers."""
    return {f"data/{role}/{key}": float(stats[role][key])
            for role in ("pool", "val", "test", "all") for key in ("images", "defects")}
