"""GradCAM_avg (the paper's Algorithm 1): least similar to the average labeled GradCAM map first.

Score: the SSIM of the image's map against the average labeled map (lower = picked sooner);
priority 1 − SSIM (in [0, 2]: ``strategy.sampling=power`` may use it as a weight).
A layer that sees the images as a 1 x 1 grid (``layer4`` at 32 px) makes every map flat and
every SSIM 1: such a job is refused when the strategy is built (``image_size`` given, as the
Hydra config does), naming the sizes and layers that work. Maps that are flat for the whole
pool for any other reason leave every score equal, and ``Strategy.select`` says so and picks at
random for that round.
"""
from __future__ import annotations

import torch

from alflow.explain import CamSettings, check_cam_grid, ssim_batch
from alflow.strategies.base import ScoredPool, Strategy
from alflow.strategies.sampling import BatchSampling


def ssim_to_labeled_average(pool: ScoredPool, settings: CamSettings) -> torch.Tensor:
    """SSIM (N, float64) of each unlabeled map against the mean labeled map (``pool``'s ``cams``).
    ValueError when no labeled map is there (the first batch is random)."""
    unlabeled, labeled = pool.unlabeled.cams, pool.labeled.cams
    if labeled is None or len(labeled) == 0:
        raise ValueError("gradcam_avg needs at least one labeled image (the first batch is random)")
    # SSIM in float64, as scikit-image computes it: the ranking must not depend on rounding.
    # (ssim_batch takes its moments in float64 chunk by chunk, so the maps need no copy here.)
    average = labeled.double().mean(dim=0, keepdim=True)
    if settings.normalize == "minmax":
        data_range = 1.0
    else:
        both = torch.cat([unlabeled.flatten(), average.flatten()])
        data_range = float(both.max() - both.min()) or 1.0
    return ssim_batch(average, unlabeled, data_range=data_range)


class GradCamAvg(Strategy):
    name = "gradcam_avg"
    needs = frozenset({"cams"})

    def __init__(self, target: str, map_size: int | None, normalize: str, relu: bool, layer: str,
                 image_size: int | None, sampling: str, temperature: float):
        """Settings as in ``CamSettings``; ``image_size`` (pixels, ``dataset.image_size``), when given, is
        checked against ``layer``: ValueError if the layer's grid is 1 x 1 (see ``check_cam_grid``);
        ``sampling``, ``temperature``: see ``BatchSampling``. Defaults: ``conf/strategy/gradcam_avg.yaml``."""
        self.cam_settings = CamSettings(target=target, map_size=map_size, normalize=normalize, relu=relu, layer=layer)
        if image_size is not None:
            check_cam_grid(layer, image_size)
        self.sampling = BatchSampling(sampling, temperature)

    def priority(self, pool: ScoredPool, generator: torch.Generator):
        ssim = ssim_to_labeled_average(pool, self.cam_settings)
        return 1.0 - ssim, ssim
