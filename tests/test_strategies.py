import numpy as np
import pytest
import torch
from captum.attr import LayerGradCam
from skimage.metrics import structural_similarity

from alflow.loop import score_images
from alflow.model import build_resnet18, normalize
from alflow.strategies import (
    GradCamAvg, ModelOutputs, RandomSampling, ScoredPool, UncertaintySampling, make_strategy,
)


def _pool(probs, unlabeled_idx, cams_u=None, cams_l=None):
    return ScoredPool(unlabeled=ModelOutputs(indices=torch.tensor(unlabeled_idx), probs=torch.tensor(probs),
                                             cams=cams_u),
                      labeled=ModelOutputs(indices=torch.tensor([0]), cams=cams_l))


def test_uncertainty_picks_least_confident_first():
    pool = _pool([[0.9, 0.1], [0.55, 0.45], [0.2, 0.8], [0.5, 0.5]], [10, 11, 12, 13])
    sel = UncertaintySampling().select(pool, 3, torch.Generator().manual_seed(0))
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
    assert len(UncertaintySampling().select(pool, 10, torch.Generator()).indices) == 3


def test_registry_and_unknown_name():
    assert isinstance(make_strategy("gradcam_avg", map_size=16), GradCamAvg)
    with pytest.raises(ValueError, match="unknown strategy 'entropy'"):
        make_strategy("entropy")


def test_gradcam_avg_selects_what_the_papers_algorithm_selects():
    """Algorithm 1 done literally: Captum per image, the average labeled map, a scikit-image SSIM loop."""
    torch.manual_seed(3)
    net = build_resnet18(2).eval()
    with torch.no_grad():
        net.fc.weight.mul_(5)
    images = torch.randint(0, 256, (60, 3, 64, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(4))
    labeled, unlabeled = torch.arange(0, 20), torch.arange(20, 60)
    strategy = GradCamAvg(map_size=32)

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
        GradCamAvg().select(pool, 2, torch.Generator())
