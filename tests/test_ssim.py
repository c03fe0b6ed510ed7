import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from alflow.explain import ssim_batch


def _maps(n, size, seed):
    g = torch.Generator().manual_seed(seed)
    # smooth-ish maps in [0, 1], like upsampled GradCAM maps
    coarse = torch.rand(n, 1, max(size // 4, 2), max(size // 4, 2), generator=g, dtype=torch.float64)
    maps = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    return (maps + 0.1 * torch.rand(n, 1, size, size, generator=g, dtype=torch.float64)).clamp(0, 1)


@pytest.mark.parametrize("size", [7, 8, 16, 32, 64, 128])
def test_equals_skimage_float64_and_float32(size):
    maps = _maps(12, size, seed=size)
    ref_map = maps.mean(dim=0, keepdim=True)
    expected = np.array([structural_similarity(ref_map[0, 0].numpy(), m[0].numpy(), data_range=1.0) for m in maps])
    got64 = ssim_batch(ref_map, maps, data_range=1.0).numpy()
    got32 = ssim_batch(ref_map.float(), maps.float(), data_range=1.0).numpy()
    assert np.abs(got64 - expected).max() <= 1e-6
    assert np.abs(got32 - expected).max() <= 1e-4


def test_non_square_and_other_data_range():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 1, 20, 33, generator=g, dtype=torch.float64) * 5
    y = torch.rand(3, 1, 20, 33, generator=g, dtype=torch.float64) * 5
    expected = [structural_similarity(a[0].numpy(), b[0].numpy(), data_range=5.0) for a, b in zip(x, y)]
    assert np.allclose(ssim_batch(x, y, data_range=5.0).numpy(), expected, atol=1e-9, rtol=0)


def test_same_selection_as_skimage_ranking():
    maps = _maps(200, 32, seed=1)
    avg = maps[:40].mean(dim=0, keepdim=True)
    unlabeled = maps[40:]
    expected = np.array([structural_similarity(avg[0, 0].numpy(), m[0].numpy(), data_range=1.0) for m in unlabeled])
    assert len(np.unique(expected)) == len(expected)
    got = ssim_batch(avg, unlabeled, data_range=1.0).numpy()
    assert np.argsort(got, kind="stable")[:32].tolist() == np.argsort(expected, kind="stable")[:32].tolist()


def test_identical_maps_score_one():
    maps = _maps(4, 16, seed=2)
    assert torch.allclose(ssim_batch(maps, maps, data_range=1.0), torch.ones(4, dtype=torch.float64))


def test_too_small_maps_get_a_clear_error():
    with pytest.raises(ValueError, match=r"smaller than the SSIM window.*strategy.map_size"):
        ssim_batch(torch.rand(2, 1, 4, 4), torch.rand(2, 1, 4, 4), data_range=1.0)
    with pytest.raises(ValueError, match="data_range"):
        ssim_batch(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8), data_range=0)


def test_lone_map_on_either_side_and_pairs_agree():
    # A lone map on either side takes the shared-moments path; N x N pairs take the other.
    maps = _maps(40, 64, seed=3)  # 40 maps of 64 x 64 span three chunks
    ref = maps[:1]
    against = ssim_batch(ref, maps, data_range=1.0)
    assert torch.allclose(ssim_batch(maps, ref, data_range=1.0), against, atol=1e-14, rtol=0)
    assert torch.allclose(ssim_batch(ref.expand_as(maps).contiguous(), maps, data_range=1.0), against,
                          atol=1e-14, rtol=0)
    assert against[0] == pytest.approx(1.0)


def test_unpairable_batches_are_refused():
    with pytest.raises(ValueError, match="cannot pair 3 maps with 2"):
        ssim_batch(torch.rand(3, 1, 8, 8), torch.rand(2, 1, 8, 8), data_range=1.0)
