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

    def __len__(self) -> int:
        return len(self.images)

    def class_counts(self, indices: torch.Tensor | None = None) -> dict[str, int]:
        idx = range(len(self)) if indices is None else indices.tolist()
        return dict(sorted(Counter(self.classes[i] for i in idx).items()))


def build_synthetic(name: str = "synthetic", **spec) -> InspectionDataset:
    """Hydra target of ``dataset=synthetic``: the embedded default, no files needed.

    ``spec`` holds ``SyntheticSpec``'s fields (n_images, image_size, defect_fraction, ...).
    """
    from alflow.data.synthetic import SyntheticSpec, make_synthetic

    images, labels, kinds = make_synthetic(SyntheticSpec(**spec))
    return InspectionDataset(name, images, labels, kinds)
