import pytest
import torch
import torchvision

from conftest import cam_settings

from alflow.explain import gradcam_captum, gradcam_closed_form, has_gap_linear_head, resolve_targets
from alflow.loop import score_images
from alflow.model import build_resnet18, normalize


@pytest.fixture(scope="module")
def net_and_batch():
    torch.manual_seed(0)
    net = build_resnet18(2).eval()
    # Make the net less symmetric than at init, so the maps have structure to compare.
    with torch.no_grad():
        net.fc.weight.mul_(5)
    images = torch.randint(0, 256, (12, 3, 64, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    return net, images


@pytest.mark.parametrize("target", ["predicted", "defect", "good"])
def test_closed_form_equals_captum(net_and_batch, target):
    net, images = net_and_batch
    x = normalize(images)
    features = {}
    hook = net.layer4.register_forward_hook(lambda m, i, o: features.__setitem__("a", o))
    with torch.no_grad():
        logits = net(x)
    hook.remove()
    targets = resolve_targets(target, logits)
    ours = gradcam_closed_form(features["a"], net.fc.weight, targets)
    reference = gradcam_captum(net, net.layer4, x, targets)
    assert ours.shape == reference.shape == (12, 1, 2, 2)
    assert (ours - reference).abs().max().item() <= 1e-5
    assert reference.abs().max() > 0  # not a trivial all-zero comparison


def test_head_detection():
    net = build_resnet18(2)
    assert has_gap_linear_head(net, "layer4")
    assert not has_gap_linear_head(net, "layer3")
    assert not has_gap_linear_head(torchvision.models.vgg11(weights=None), "layer4")


def test_scoring_pass_uses_captum_for_other_layers_and_matches_shapes(net_and_batch, monkeypatch):
    from captum.attr import LayerGradCam

    net, images = net_and_batch
    idx = torch.arange(len(images))
    settings = cam_settings(layer="layer3", map_size=16)
    calls = []
    attribute = LayerGradCam.attribute

    def spy(self, inputs, *args, **kwargs):
        calls.append((self.layer, len(inputs)))
        return attribute(self, inputs, *args, **kwargs)

    monkeypatch.setattr(LayerGradCam, "attribute", spy)
    out = score_images(net, images, idx, frozenset({"cams", "probs", "embeddings"}), settings, batch_size=5)
    # Captum computed the maps: once per batch of 5, on the scoring copy's layer3
    assert [n for _, n in calls] == [5, 5, 2]
    assert all(type(layer).__name__ == "Sequential" and layer is not net.layer3 for layer, _ in calls)
    assert out.cams.shape == (12, 1, 16, 16)
    assert out.embeddings.shape == (12, 512)
    assert torch.allclose(out.probs.sum(dim=1), torch.ones(12))
    # min-max normalised: each non-flat map spans [0, 1]
    flat = out.cams.flatten(1)
    spans = flat.max(dim=1).values - flat.min(dim=1).values
    assert ((spans - 1).abs() < 1e-5).sum() >= 1


def test_scoring_closed_form_matches_captum_path(net_and_batch):
    net, images = net_and_batch
    idx = torch.arange(len(images))
    fast = score_images(net, images, idx, frozenset({"cams"}), cam_settings(map_size=32))
    slow = score_images(net, images, idx, frozenset({"cams"}), cam_settings(map_size=32), allow_closed_form=False)
    assert (fast.cams - slow.cams).abs().max().item() <= 1e-5


def test_bad_cam_settings():
    with pytest.raises(ValueError, match="strategy.target"):
        cam_settings(target="both")
    with pytest.raises(ValueError, match="strategy.map_size"):
        cam_settings(map_size=4)


def test_flat_maps_stay_flat_after_upsampling():
    from alflow.explain import resize_and_normalize

    one_by_one = torch.full((3, 1, 1, 1), 0.7310586)  # a 32 px input gives layer4 maps of 1 x 1
    maps = resize_and_normalize(one_by_one, 32, 32, "minmax")
    assert maps.shape == (3, 1, 32, 32) and torch.count_nonzero(maps) == 0
    varied = resize_and_normalize(torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]]), 16, 16, "minmax")
    assert varied.min() == 0 and varied.max() == 1


def test_bf16_scoring_pass_is_an_approximation_of_fp32(net_and_batch):
    net, images = net_and_batch
    idx = torch.arange(len(images))
    settings = cam_settings(map_size=16)
    exact = score_images(net, images, idx, frozenset({"cams", "probs"}), settings)
    rough = score_images(net, images, idx, frozenset({"cams", "probs"}), settings, bf16=True)
    assert rough.probs.dtype == rough.cams.dtype == torch.float32
    assert rough.cams.shape == exact.cams.shape
    assert torch.allclose(rough.probs.sum(dim=1), torch.ones(len(idx)))
    assert 0 < (rough.probs - exact.probs).abs().max().item() < 0.05  # bf16 really ran, and stayed close
