from pathlib import Path

import numpy as np
import pytest
import torch
from captum.attr import LayerGradCam
from conftest import strategy as make
from skimage.metrics import structural_similarity

from alflow.loop import score_images
from alflow.model import build_resnet18, normalize
from alflow.strategies import (
    GradCamAvg, ModelOutputs, RandomSampling, ScoredPool, make_strategy,
)


def _pool(probs, unlabeled_idx, cams_u=None, cams_l=None):
    return ScoredPool(unlabeled=ModelOutputs(indices=torch.tensor(unlabeled_idx), probs=torch.tensor(probs),
                                             cams=cams_u),
                      labeled=ModelOutputs(indices=torch.tensor([0]), cams=cams_l))


def test_uncertainty_picks_least_confident_first():
    pool = _pool([[0.9, 0.1], [0.55, 0.45], [0.2, 0.8], [0.5, 0.5]], [10, 11, 12, 13])
    sel = make("uncertainty").select(pool, 3, torch.Generator().manual_seed(0))
    assert sel.indices.tolist() == [13, 11, 12]
    assert torch.allclose(sel.scores, torch.tensor([0.5, 0.45, 0.2], dtype=torch.float64))


def test_random_is_seeded_and_covers_the_pool():
    pool = _pool([[0.5, 0.5]] * 50, list(range(100, 150)))
    a = RandomSampling().select(pool, 10, torch.Generator().manual_seed(1)).indices
    b = RandomSampling().select(pool, 10, torch.Generator().manual_seed(1)).indices
    c = RandomSampling().select(pool, 10, torch.Generator().manual_seed(2)).indices
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert len(set(a.tolist())) == 10 and set(a.tolist()) <= set(range(100, 150))


def test_selection_never_exceeds_the_pool():
    pool = _pool([[0.5, 0.5]] * 3, [1, 2, 3])
    assert len(make("uncertainty").select(pool, 10, torch.Generator()).indices) == 3


def test_registry_and_unknown_name():
    assert isinstance(make("gradcam_avg", map_size=16), GradCamAvg)
    with pytest.raises(ValueError, match="unknown strategy 'entropie'"):
        make_strategy("entropie")
    with pytest.raises(TypeError, match="temperature"):  # no defaults of its own: conf/strategy/ holds them
        make_strategy("uncertainty", sampling="topk")


def test_gradcam_avg_selects_what_the_papers_algorithm_selects():
    """Algorithm 1 done literally: Captum per image, the average labeled map, a scikit-image SSIM loop."""
    torch.manual_seed(3)
    net = build_resnet18(2).eval()
    with torch.no_grad():
        net.fc.weight.mul_(5)
    images = torch.randint(0, 256, (60, 3, 64, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(4))
    labeled, unlabeled = torch.arange(0, 20), torch.arange(20, 60)
    strategy = make("gradcam_avg", map_size=32)

    def literal_map(i):
        x = normalize(images[i:i + 1])
        target = int(net(x).argmax())
        cam = LayerGradCam(net, net.layer4).attribute(x, target=target, relu_attributions=True).detach()
        cam = torch.nn.functional.interpolate(cam, size=(32, 32), mode="bilinear", align_corners=False)[0, 0]
        cam = cam.double()
        return ((cam - cam.min()) / (cam.max() - cam.min()).clamp_min(1e-12)).numpy()

    average = np.mean([literal_map(i) for i in labeled.tolist()], axis=0)
    expected_ssim = np.array([structural_similarity(average, literal_map(i), data_range=1.0)
                              for i in unlabeled.tolist()])
    assert len(np.unique(expected_ssim.round(8))) == len(expected_ssim)
    expected = unlabeled[np.argsort(expected_ssim, kind="stable")[:10]].tolist()

    outputs = score_images(net, images, torch.cat([unlabeled, labeled]), strategy.needs, strategy.cam_settings)
    pool = ScoredPool(
        unlabeled=ModelOutputs(indices=unlabeled, cams=outputs.cams[:40]),
        labeled=ModelOutputs(indices=labeled, cams=outputs.cams[40:]),
    )
    sel = strategy.select(pool, 10, torch.Generator())
    assert sel.indices.tolist() == expected
    assert np.allclose(sel.scores.numpy(), np.sort(expected_ssim)[:10], atol=1e-4)


def test_gradcam_avg_needs_labeled_maps():
    cams = torch.rand(3, 1, 8, 8)
    pool = ScoredPool(unlabeled=ModelOutputs(indices=torch.arange(3), cams=cams),
                      labeled=ModelOutputs(indices=torch.empty(0, dtype=torch.long), cams=cams[:0]))
    with pytest.raises(ValueError, match="at least one labeled image"):
        make("gradcam_avg").select(pool, 2, torch.Generator())


# --------------------------------------------------------------------------- issue 14, item 2
# GradCAM_avg at a size where its layer's grid is 1 x 1 (layer4 at 32 px, what experiment=smoke used)
# scored every image 1.0 and picked the pool in index order, without a word.


@pytest.mark.parametrize("layer, size, smallest", [("layer4", 32, 33), ("layer4", 16, 33), ("layer3", 16, 17)])
def test_gradcam_avg_refuses_a_one_by_one_grid_naming_what_works(layer, size, smallest):
    with pytest.raises(ValueError, match=rf"strategy.layer={layer} sees dataset.image_size={size} as a 1 x 1 grid.*"
                                         rf"dataset.image_size>={smallest}"):
        make("gradcam_avg", layer=layer, image_size=size)


@pytest.mark.parametrize("layer, size", [("layer4", 33), ("layer4", 48), ("layer3", 32), ("layer1", 16)])
def test_gradcam_avg_accepts_a_grid_of_two_or_more(layer, size):
    make("gradcam_avg", layer=layer, image_size=size)


@pytest.mark.parametrize("size", [16, 32, 33, 48, 64, 65, 100])
def test_cam_grid_is_the_resnet_feature_grid(size):
    from alflow.explain import RESNET_STRIDES, cam_grid

    net = build_resnet18(2).eval()
    sides = {}
    for name in RESNET_STRIDES:
        getattr(net, name).register_forward_hook(lambda m, i, o, name=name: sides.__setitem__(name, o.shape[-1]))
    with torch.no_grad():
        net(torch.zeros(1, 3, size, size))
    assert sides == {name: cam_grid(name, size) for name in RESNET_STRIDES}


def test_unknown_cam_layer_is_refused():
    with pytest.raises(ValueError, match="strategy.layer must be one of"):
        make("gradcam_avg", layer="layer5")


def test_the_hydra_config_refuses_gradcam_avg_at_32_px_and_smoke_runs_it():
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    conf = str(Path(__file__).resolve().parents[1] / "conf")
    with initialize_config_dir(conf, version_base=None):
        smoke = compose("config", overrides=["experiment=smoke", "strategy=gradcam_avg"])
        small = compose("config", overrides=["experiment=smoke", "strategy=gradcam_avg", "dataset.image_size=32"])
    assert isinstance(instantiate(smoke.strategy), GradCamAvg)
    with pytest.raises(Exception, match="dataset.image_size>=33"):
        instantiate(small.strategy)


def test_all_equal_priorities_are_drawn_at_random_with_a_warning(caplog):
    flat = torch.zeros(6, 1, 8, 8)  # every map flat: every SSIM against the average is 1
    pool = ScoredPool(unlabeled=ModelOutputs(indices=torch.arange(10, 16), cams=flat),
                      labeled=ModelOutputs(indices=torch.arange(2), cams=flat[:2]))
    with caplog.at_level("WARNING"):
        strategy = make("gradcam_avg")
        picks = [strategy.select(pool, 3, torch.Generator().manual_seed(s)).indices.tolist() for s in range(5)]
    assert "gradcam_avg gave all 6 unlabeled images the same priority" in caplog.text
    assert len({tuple(p) for p in picks}) > 1  # not the pool's index order every time
    expected = (torch.randperm(6, generator=torch.Generator().manual_seed(0))[:3] + 10).tolist()
    assert picks[0] == expected
    # taking the whole pool needs no ranking: no warning, index order
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert make("gradcam_avg").select(pool, 6, torch.Generator()).indices.tolist() == list(range(10, 16))
    assert not caplog.text
