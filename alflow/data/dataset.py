"""The in-memory dataset every job works on: images decoded once, kept as uint8."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import torch


@dataclass
class InspectionDataset:
    """N x 3 x H x W uint8 images with binary labels (1 = defect) and fine-grained classes."""

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # files left out as undecodable (on_bad_image=skip)
    # Image i's file and a digest of its pixels as stored (alflow.data.files); empty when not from files.
    files: list[str] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)
    duplicates: str = "warn"  # dataset.duplicates: what fold statistics do with copies across roles
    left_out: dict[str, str] = field(default_factory=dict)  # image files under the root not used: path -> why

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4 or self.images.shape[1] != 3:
            raise ValueError(
                f"dataset {self.name!r}: images must be an N x 3 x H x W uint8 tensor, "
                f"got {tuple(self.images.shape)} {self.images.dtype}"
            )
        if len(self.labels) != len(self.images):
            raise ValueError(f"dataset {self.name!r}: {len(self.images)} images but {len(self.labels)} labels")
        if not self.classes:
            self.classes = ["defect" if y else "good" for y in self.labels.tolist()]
        for key in ("files", "digests"):
            if getattr(self, key) and len(getattr(self, key)) != len(self.images):
                raise ValueError(f"dataset {self.name!r}: {len(self.images)} images but "
                                 f"{len(getattr(self, key))} {key}")

    def duplicate_groups(self) -> list[list[int]]:
        """Indices of images whose files hold exactly the same pixels, one list per group of 2 or more,
        in index order; empty when the dataset has no digests (e.g. synthetic)."""
        groups: dict[str, list[int]] = {}
        for i, digest in enumerate(self.digests):
            groups.setdefault(digest, []).append(i)
        return [g for g in groups.values() if len(g) > 1]

    def __len__(self) -> int:
        return len(self.images)

    def class_counts(self, indices: torch.Tensor | None = None) -> dict[str, int]:
        idx = range(len(self)) if indices is None else indices.tolist()
        return dict(sorted(Counter(self.classes[i] for i in idx).items()))


def build_synthetic(*, name: str, **spec) -> InspectionDataset:
    """Hydra target of ``dataset=synthetic``: the embedded default, no files needed.

    ``spec`` holds ``SyntheticSpec``'s fields (n_images, image_size, defect_fraction, ...).
    """
    from alflow.data.synthetic import SyntheticSpec, make_synthetic

    images, labels, kinds = make_synthetic(SyntheticSpec(**spec))
    return InspectionDataset(name, images, labels, kinds)
