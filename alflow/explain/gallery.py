"""Pictures for the inspector: a round's first picks, drawn from the source image at a size where a
defect is visible, with what the strategy saw (a GradCAM heat map where it used one), the score it
ranked by and what that score means, and the label the oracle revealed."""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from alflow.data.decode import decode_image  # noqa: E402

DISPLAY_SIZE = 192  # pixels a side: a crack a few pixels wide at 64 px is visible here
HEAT_ALPHA = 0.4
JPEG_QUALITY = 85

# What the gallery says under each strategy's picks: the score's meaning, and whether the heat map is
# what the strategy ranked by ("used"), only the model's view of the image ("view"), or not drawn (None).
SCORE_MEANING = {
    "random": ("s = the random key of the seeded draw (it says nothing about the image)", None),
    "uncertainty": ("s = uncertainty, 1 − the top softmax probability (highest picked first)", "view"),
    "gradcam_avg": ("s = SSIM between the image's GradCAM map and the average map of the images labeled so far "
                    "(lowest, i.e. least alike, picked first)", "used"),
}
FIRST_ROUND = ("round 1 is a seeded random draw, the same for every strategy: no score", None)


def gallery_legend(strategy: str, round_number: int) -> tuple[str, str | None]:
    """(what ``s`` means, the heat map's role: "used" | "view" | None) for ``strategy``'s picks in
    ``round_number`` (1-based, as logged); unknown strategies get a neutral reading."""
    if round_number == 1:
        return FIRST_ROUND
    return SCORE_MEANING.get(strategy, (f"s = {strategy}'s score (the ranking it picked by)", "view"))


def display_images(training_copy: torch.Tensor, files: Sequence[str] | None, size: int = DISPLAY_SIZE) -> np.ndarray:
    """N x size x size x 3 uint8 pictures to show: each image decoded again from its source file (stretched
    to a square like the training copy, so the GradCAM map lines up), or, without files (synthetic data),
    the N x 3 x h x w uint8 training copy enlarged with nearest-neighbour pixels (no invented detail)."""
    if files:
        return np.stack([decode_image(f, size).transpose(1, 2, 0) for f in files])
    big = F.interpolate(training_copy.float(), size=(size, size), mode="nearest")
    return big.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def save_gallery(path: str | Path, images: torch.Tensor, cams: torch.Tensor, scores: Sequence[float],
                 labels: Sequence[int], classes: Sequence[str], title: str, strategy: str, round_number: int,
                 files: Sequence[str] | None = None, columns: int = 4, size: int = DISPLAY_SIZE) -> Path:
    """One picture (JPEG; ``path`` should end in .jpg) of a round's picks, best first: ``images``
    (N x 3 x h x w uint8, the training copy),
    ``cams`` (N x 1 x h' x w' in [0, 1], the picking model's GradCAM), the strategy's ``scores``,
    the revealed ``labels`` (1 = defect) and fine-grained ``classes``; ``files`` the source images.

    Each picture is ``size`` px a side (from ``files`` when given); a heat map (jet, shared colour
    bar) is drawn where the strategy ranked by it, or labeled as the model's view where it did not, and
    left out for random sampling and round 1's random draw. A footer says what ``s`` means."""
    n = len(images)
    meaning, heat_role = gallery_legend(strategy, round_number)
    pictures = display_images(images, files, size)
    heat = F.interpolate(cams.float(), size=(size, size), mode="bilinear", align_corners=False)[:, 0].numpy()
    cols = min(columns, max(n, 1))
    rows = max(1, math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols + (0.9 if heat_role else 0), 3.1 * rows + 1.0),
                             squeeze=False)
    mappable = None
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(pictures[i], interpolation="lanczos" if files else "nearest")
        if heat_role:
            mappable = ax.imshow(heat[i], cmap="jet", alpha=HEAT_ALPHA, vmin=0, vmax=1)
        verdict = "DEFECT" if labels[i] else "good"
        score = "" if math.isnan(scores[i]) else f"  s={scores[i]:.3f}"
        ax.set_title(f"#{i + 1} {verdict} ({classes[i]}){score}", fontsize=8, color="red" if labels[i] else "black")
    source = "source images" if files else f"training copy ({images.shape[-1]} px) enlarged"
    footer = f"{meaning}. Title: pick rank, label revealed by the oracle (fine class). Pictures: {source}, {size} px."
    if heat_role == "used":
        footer += " Heat map: the GradCAM map the strategy compared."
    elif heat_role == "view":
        footer += " Heat map: the model's view (its GradCAM), not what the strategy ranked by."
    fig.suptitle(title, fontsize=10)
    fig.text(0.01, 0.005, footer, fontsize=7, wrap=True, ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.06, 0.9 if heat_role else 1, 0.95))
    if mappable is not None:
        bar = fig.add_axes((0.92, 0.15, 0.015, 0.7))
        fig.colorbar(mappable, cax=bar).set_label("GradCAM activation (0 = none, 1 = the map's maximum)", fontsize=7)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # JPEG: photographs with a heat map compress about 4x better than PNG (16 picks a round, every round)
    fig.savefig(path, dpi=80, pil_kwargs={"quality": JPEG_QUALITY})
    plt.close(fig)
    return path
