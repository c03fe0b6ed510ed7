"""Batched GradCAM: a closed form for GAP + linear heads, Captum ``LayerGradCam`` otherwise.

For a network whose head is global average pooling followed by a linear layer
(ResNet), the logit of class c is  sum_k W[c, k] * mean_hw(A_k) + b_c, so the
gradient of that logit with respect to feature map A_k is W[c, k] / (h * w) at
every position. GradCAM's channel weights (the spatial mean of those gradients)
are therefore W[c, k] / (h * w), and the map is relu(sum_k weight_k * A_k): no
backward pass is needed, only the features the forward pass already computed.
Captum's ``LayerGradCam`` is the reference (tests prove the two equal) and the
general path for any other model or layer.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

TARGETS = ("predicted", "defect", "good")
NORMALIZATIONS = ("minmax", "none")
# How many times each ResNet-18 stage downsamples the input (torchvision's stride-2 convolutions
# and max pooling, each ceil(n / 2) with their padding): a layer's grid is ceil(size / stride).
RESNET_STRIDES = {"layer1": 4, "layer2": 8, "layer3": 16, "layer4": 32}


def cam_grid(layer: str, image_size: int) -> int:
    """Side of ResNet-18's ``layer`` feature grid (the GradCAM map before upsampling) for a square
    ``image_size`` x ``image_size`` input: ceil(image_size / stride), e.g. 1 for layer4 at 32 px,
    2 at 33 to 64 px. Raises ValueError for a layer not in ``RESNET_STRIDES``."""
    if layer not in RESNET_STRIDES:
        raise ValueError(f"strategy.layer must be one of {sorted(RESNET_STRIDES)}, got {layer!r}")
    return -(-image_size // RESNET_STRIDES[layer])


def check_cam_grid(layer: str, image_size: int) -> None:
    """Raise ValueError when ``layer`` sees ``image_size`` px images as a 1 x 1 grid.

    A 1 x 1 map upsampled is flat: every map of the pool is the same, every SSIM against the
    average is 1, and a ranking by maps is the pool in index order. The message names the
    smallest ``dataset.image_size`` (stride + 1 px: a 2 x 2 grid) and the deepest layer that work.
    """
    if cam_grid(layer, image_size) >= 2:
        return
    fits = [name for name in RESNET_STRIDES if cam_grid(name, image_size) >= 2]
    other = f", or strategy.layer={fits[-1]} ({cam_grid(fits[-1], image_size)} x " \
            f"{cam_grid(fits[-1], image_size)} at {image_size} px)" if fits else ""
    raise ValueError(
        f"strategy.layer={layer} sees dataset.image_size={image_size} as a 1 x 1 grid (ResNet-18 downsamples "
        f"it {RESNET_STRIDES[layer]} times): every GradCAM map is flat and maps cannot rank the pool. Use "
        f"dataset.image_size>={RESNET_STRIDES[layer] + 1} (a 2 x 2 grid){other}"
    )


@dataclass(frozen=True)
class CamSettings:
    """What the paper leaves open, made explicit. The values' one home is ``conf/cam/default.yaml`` (the
    GradCAM strategies take it into their group); every field is required here. ValueError names the key.

    target: class the map explains — ``predicted`` (the model's top class per image,
        the usual GradCAM choice and the default), ``defect`` (class 1) or ``good`` (class 0).
    map_size: side of the square map SSIM is taken on; ``None`` = the input image size
        (maps are upsampled bilinearly from the layer's resolution, as GradCAM overlays are).
    normalize: ``minmax`` scales each map to [0, 1] (SSIM data_range = 1, so maps are
        compared by shape, not by activation strength); ``none`` keeps raw values
        (data_range = the range over all maps of the round).
    relu: keep only positive evidence, as in the GradCAM paper.
    """

    target: str
    map_size: int | None
    normalize: str
    relu: bool
    layer: str

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"strategy.target must be one of {TARGETS}, got {self.target!r}")
        if self.normalize not in NORMALIZATIONS:
            raise ValueError(f"strategy.normalize must be one of {NORMALIZATIONS}, got {self.normalize!r}")
        if self.map_size is not None and self.map_size < 7:
            raise ValueError(f"strategy.map_size must be >= 7 (the SSIM window) or null, got {self.map_size}")
        if self.layer not in RESNET_STRIDES:
            raise ValueError(f"strategy.layer must be one of {sorted(RESNET_STRIDES)}, got {self.layer!r}")


def resolve_targets(target: str, logits: torch.Tensor) -> torch.Tensor:
    if target == "predicted":
        return logits.argmax(dim=1)
    fixed = 1 if target == "defect" else 0
    return torch.full((len(logits),), fixed, dtype=torch.long, device=logits.device)


def gradcam_closed_form(features: torch.Tensor, fc_weight: torch.Tensor, targets: torch.Tensor,
                        relu: bool = True) -> torch.Tensor:
    """GradCAM of a GAP + linear head from the last features: N x C x h x w → N x 1 x h x w."""
    h, w = features.shape[-2:]
    channel_weights = fc_weight[targets] / (h * w)
    cams = torch.einsum("nc,nchw->nhw", channel_weights.to(features.dtype), features).unsqueeze(1)
    return F.relu(cams) if relu else cams


def gradcam_captum(net: torch.nn.Module, layer: torch.nn.Module, inputs: torch.Tensor,
                   targets: torch.Tensor, relu: bool = True) -> torch.Tensor:
    """Captum ``LayerGradCam`` with one target per sample (the reference, and the general path)."""
    from captum.attr import LayerGradCam

    with torch.enable_grad():
        cams = LayerGradCam(net, layer).attribute(inputs, target=targets, relu_attributions=relu)
    return cams.detach()


def has_gap_linear_head(net: torch.nn.Module, layer_name: str) -> bool:
    """True when ``layer_name`` feeds global average pooling and a linear classifier (torchvision ResNet)."""
    avgpool, fc = getattr(net, "avgpool", None), getattr(net, "fc", None)
    is_gap = isinstance(avgpool, torch.nn.AdaptiveAvgPool2d) and avgpool.output_size in (1, (1, 1))
    return layer_name == "layer4" and is_gap and isinstance(fc, torch.nn.Linear)


def resize_and_normalize(cams: torch.Tensor, size: int | None, input_size: int, normalize: str) -> torch.Tensor:
    """Upsample maps to the SSIM resolution and scale them as ``CamSettings.normalize`` says."""
    side = size or input_size
    resized = cams.shape[-1] != side or cams.shape[-2] != side
    if resized:
        cams = F.interpolate(cams, size=(side, side), mode="bilinear", align_corners=False)
    if normalize == "minmax":
        flat = cams.flatten(1)
        lo = flat.min(dim=1).values.view(-1, 1, 1, 1)
        hi = flat.max(dim=1).values.view(-1, 1, 1, 1)
        # A flat map carries no spatial pattern: it becomes all zero. "Flat" is relative, since
        # upsampling a 1 x 1 map leaves float rounding ripples that min-max would blow up to [0, 1].
        span = hi - lo
        flat_map = span <= 1e-5 * torch.maximum(hi.abs(), lo.abs()) + 1e-12
        # In place where the maps are ours already (the upsampling made a new tensor): one pass fewer.
        cams = cams.sub_(lo) if resized else cams - lo
        cams = cams.div_(span.clamp_min(1e-12)).masked_fill_(flat_map, 0.0)
    return cams
