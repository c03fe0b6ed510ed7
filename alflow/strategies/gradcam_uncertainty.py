"""GradCAM_avg × uncertainty: images that are both uncertain and unlike the labeled maps first.

Studies of explanation-driven acquisition after the GradCAM_avg paper report gains only when the
explanation is combined with uncertainty. The two signals live on different scales (1 − max p in
[0, 0.5]; 1 − SSIM in [0, 2], bunched near its top), so each is replaced by its rank among the
unlabeled images before they are combined:

    priority_i = (rank_u(i) / N) · (rank_d(i) / N)        (in (0, 1], higher = sooner)

u = 1 − max_c p_c (the paper's uncertainty), d = 1 − SSIM against the mean labeled GradCAM map
(GradCAM_avg's dissimilarity), ranks 1..N ascending (N = the most uncertain / least similar),
ties given their mean rank. The product asks for both: an image top of one list and bottom of the
other scores 1/N, one in the middle of both 1/4. Score: that product.
"""
from __future__ import annotations

import torch

from alflow.explain import CamSettings, check_cam_grid
from alflow.strategies.base import ScoredPool, Strategy
from alflow.strategies.gradcam_avg import ssim_to_labeled_average
from alflow.strategies.sampling import BatchSampling
from alflow.strategies.uncertainty import least_confidence


def rank_normalise(values: torch.Tensor) -> torch.Tensor:
    """Ranks of ``values`` (N) divided by N, float64 in (0, 1]: the smallest 1/N, the largest 1;
    tied values share their mean rank."""
    unique, inverse, counts = torch.unique(values.double(), sorted=True, return_inverse=True, return_counts=True)
    below = torch.cumsum(counts, dim=0) - counts  # values strictly smaller than each unique value
    mean_rank = below.double() + (counts.double() + 1) / 2
    return mean_rank[inverse] / len(values)


class GradCamUncertainty(Strategy):
    name = "gradcam_uncertainty"
    needs = frozenset({"cams", "probs"})

    def __init__(self, target: str, map_size: int | None, normalize: str, relu: bool, layer: str,
                 image_size: int | None, sampling: str, temperature: float):
        """As ``GradCamAvg`` (``conf/strategy/gradcam_uncertainty.yaml``)."""
        self.cam_settings = CamSettings(target=target, map_size=map_size, normalize=normalize, relu=relu, layer=layer)
        if image_size is not None:
            check_cam_grid(layer, image_size)
        self.sampling = BatchSampling(sampling, temperature)

    def priority(self, pool: ScoredPool, generator: torch.Generator):
        dissimilarity = 1.0 - ssim_to_labeled_average(pool, self.cam_settings)
        uncertainty = least_confidence(pool.unlabeled.probs)
        product = rank_normalise(uncertainty) * rank_normalise(dissimilarity)
        return product, product
