"""Pictures for the inspector: a round's selected images with their GradCAM overlay, score and label."""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def save_gallery(path: str | Path, images: torch.Tensor, cams: torch.Tensor, scores: Sequence[float],
                 labels: Sequence[int], classes: Sequence[str], title: str, columns: int = 8) -> Path:
    """One PNG: each uint8 image with its [0, 1] GradCAM map as a translucent heat map on top."""
    n = len(images)
    rows = max(1, math.ceil(n / columns))
    cols = min(columns, max(n, 1))
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols, 2.15 * rows + 0.4), squeeze=False)
    side = images.shape[-1]
    heat = F.interpolate(cams.float(), size=(side, side), mode="bilinear", align_corners=False)[:, 0]
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i].permute(1, 2, 0).numpy())
        ax.imshow(heat[i].numpy(), cmap="jet", alpha=0.35, vmin=0, vmax=1)
        verdict = "DEFECT" if labels[i] else "good"
        score = "" if math.isnan(scores[i]) else f" s={scores[i]:.3f}"
        ax.set_title(f"{verdict} ({classes[i]}){score}", fontsize=7, color="red" if labels[i] else "black")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
