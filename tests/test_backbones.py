"""model.pretrained=none|imagenet|ssl: the offline error, the cached ImageNet file, the SSL cache and its lock."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torchvision
from conftest import classifier, two_jobs_meeting_a_lock
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from alflow.compose import CONF_DIR
from alflow.loop import score_images
from alflow.model import build_resnet18
from alflow.model import backbones
from alflow.model.pretrain_cache import pretraining_key
from alflow.model.ssl import SSLSettings

REPO = Path(CONF_DIR).parent
# A closed port as the proxy: every download attempt fails at once, with or without internet.
OFFLINE = {"HTTPS_PROXY": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "NO_PROXY": "", "no_proxy": ""}


def ssl_config(cache_dir, **over) -> dict:
    """The YAML's model.ssl with a budget of seconds: 1 epoch of 3 steps of 8 images at 32 px."""
    conf = OmegaConf.to_container(OmegaConf.load(Path(CONF_DIR) / "model" / "default.yaml").ssl)
    return {**conf, "epochs": 1, "batch_size": 8, "cache_dir": None if cache_dir is None else str(cache_dir), **over}


def pool(n=24, size=32, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    grey = torch.randint(0, 256, (n, 1, size, size), generator=g, dtype=torch.uint8)
    return grey.expand(-1, 3, -1, -1).contiguous()


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """An empty torch hub (TORCH_HOME) and no network."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for k, v in OFFLINE.items():
        monkeypatch.setenv(k, v)
    return tmp_path / "torch"


def test_bad_pretrained_value_names_the_key_and_the_allowed_values():
    with pytest.raises(ValueError, match=r"model.pretrained must be one of none\|imagenet\|ssl, got 'imgnet'"):
        backbones.resolve("imgnet", None, None, None)


def test_bad_ssl_setting_names_its_key(tmp_path):
    with pytest.raises(ValueError, match=r"model.ssl.method must be one of \['simclr', 'byol'\], got 'swav'"):
        backbones.resolve("ssl", None, ssl_config(tmp_path, method="swav"), pool())
    with pytest.raises(ValueError, match="model.ssl: .*unexpected keyword argument 'epoch'"):
        backbones.resolve("ssl", None, {**ssl_config(tmp_path), "epoch": 1}, pool())


def test_imagenet_offline_fails_at_once_naming_the_cache_file_and_weights_path(offline):
    expected = offline / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    assert backbones.imagenet_cache_file() == expected
    start = time.monotonic()
    with pytest.raises(RuntimeError) as err:
        backbones.resolve("imagenet", None, None, None)
    assert str(expected) in str(err.value) and "model.weights_path" in str(err.value)
    assert time.monotonic() - start < 3 * backbones.DOWNLOAD_TIMEOUT_S


def test_imagenet_uses_torchvisions_cached_file_without_network(offline):
    torch.manual_seed(3)
    saved = torchvision.models.resnet18().state_dict()
    cache_file = backbones.imagenet_cache_file()
    cache_file.parent.mkdir(parents=True)
    torch.save(saved, cache_file)
    state = backbones.resolve("imagenet", None, None, None)
    assert sorted(state) == sorted(k for k in saved if not k.startswith("fc."))
    assert all(torch.equal(state[k], saved[k]) for k in state)


def test_imagenet_with_weights_path_reads_the_file_and_downloads_nothing(offline, tmp_path):
    torch.manual_seed(4)
    saved = torchvision.models.resnet18().state_dict()
    torch.save(saved, tmp_path / "w.pth")
    state = backbones.resolve("imagenet", str(tmp_path / "w.pth"), None, None)
    assert torch.equal(state["conv1.weight"], saved["conv1.weight"]) and "fc.weight" not in state


def test_cli_imagenet_offline_exits_non_zero_naming_weights_path(tmp_path):
    env = {**os.environ, **OFFLINE, "TORCH_HOME": str(tmp_path / "torch"), "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "alflow", "experiment=smoke", "model.backbone=resnet18",
                           "model.pretrained=imagenet", f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"],
                          cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert "model.weights_path" in proc.stderr
    assert str(tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in proc.stderr
    assert "round 1/" not in proc.stdout + proc.stderr  # failed before any training


def test_ssl_second_resolution_loads_the_cached_weights(tmp_path, caplog):
    images = pool()
    caplog.set_level("INFO", logger="alflow")
    first = backbones.resolve("ssl", None, ssl_config(tmp_path), images)
    (cache_file,) = tmp_path.glob("*-ssl-simclr-*.pt")
    mtime = cache_file.stat().st_mtime_ns
    caplog.clear()
    second = backbones.resolve("ssl", None, ssl_config(tmp_path), images)
    assert "backbone from cache" in caplog.text and "pretraining on" not in caplog.text
    assert cache_file.stat().st_mtime_ns == mtime
    assert sorted(first) == sorted(second) and all(torch.equal(first[k], second[k]) for k in first)
    assert not torch.equal(first["conv1.weight"], build_resnet18(2).state_dict()["conv1.weight"])


def test_ssl_record_says_where_the_backbone_came_from(tmp_path):
    images = pool()  # 24 images, batches of 8, 1 epoch: 3 planned steps
    _, fresh = backbones.resolve_with_record("ssl", None, ssl_config(tmp_path), images)
    _, again = backbones.resolve_with_record("ssl", None, ssl_config(tmp_path), images)
    (cache_file,) = tmp_path.glob("*-ssl-simclr-*.pt")
    assert (fresh.from_cache, again.from_cache) == (False, True)
    assert (again.steps, again.planned_steps, again.capped) == (3, 3, False)
    assert again.minutes == fresh.minutes  # the pretraining's own time, kept in the cache, not the reading's
    tags = again.tags()
    assert tags["ssl_cache"] == str(cache_file)
    assert tags["ssl_pretraining"].startswith("simclr: 3/3 steps (1 epochs)")
    assert "max_minutes" not in tags["ssl_pretraining"]
    assert backbones.resolve_with_record("none", None, None, None) == (None, None)


def test_ssl_record_flags_a_pretraining_cut_short_by_max_minutes():
    # a cap far below one step's time: pretrain stops after its first step, so the weights depend on the clock
    _, record = backbones.resolve_with_record("ssl", None, ssl_config(None, max_minutes=1e-6), pool())
    assert (record.steps, record.planned_steps, record.capped) == (1, 3, True)
    assert record.tags()["ssl_pretraining"].endswith("stopped by model.ssl.max_minutes")
    assert record.tags()["ssl_cache"] == ""


def test_a_capped_pretraining_is_warned_about_when_made_and_when_read_from_the_cache(tmp_path, caplog):
    caplog.set_level("INFO", logger="alflow")
    for _ in range(2):  # made, then read from the cache by a later job
        caplog.clear()
        backbones.resolve_with_record("ssl", None, ssl_config(tmp_path, max_minutes=1e-6), pool())
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert len(warnings) == 1 and "raise model.ssl.max_minutes" in warnings[0], warnings
    assert "backbone from cache" in caplog.text


def test_ssl_cache_key_is_the_pool_images_and_settings():
    images = pool()
    settings = SSLSettings(**ssl_config(None)).result_settings()
    key = pretraining_key(images, settings, None)
    changed = images.clone()
    changed[5, :, 3, 3] += 1
    assert pretraining_key(changed, settings, None) != key
    assert pretraining_key(images, {**settings, "epochs": 2}, None) != key
    assert pretraining_key(images.clone(), dict(settings), None) == key


@pytest.mark.parametrize("method", ["simclr", "byol"])
def test_pretraining_repeats_exactly_and_never_sees_labels(method):
    # pretrain's only data argument is the images: two runs on the same images give the same weights,
    # whatever labels the dataset holds, so one cached result serves every strategy of a fold.
    settings = SSLSettings(**ssl_config(None, method=method))
    from alflow.model.ssl import pretrain
    a, b = pretrain(pool(), settings), pretrain(pool(), settings)
    assert a.steps == 3 and a.epochs == 1 and len(a.losses) == 1
    assert all(torch.equal(a.state[k], b.state[k]) for k in a.state)


def test_job_pretrains_on_exactly_the_pool_images(tmp_path, monkeypatch):
    from hydra import compose, initialize_config_dir

    from hydra.utils import instantiate

    from alflow.app import run_job

    seen = {}

    class Stop(Exception):
        pass

    def spy(images, settings, init_state=None, name="ssl", backbone="resnet18"):
        seen["images"] = images.clone()
        raise Stop

    monkeypatch.setattr(backbones, "pretrain", spy)
    monkeypatch.chdir(tmp_path)
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        cfg = compose("config", overrides=["experiment=smoke", "model.pretrained=ssl", "gallery_size=0",
                                           f"model.ssl.cache_dir={tmp_path}",
                                           f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"])
    with pytest.raises(Stop):
        run_job(cfg, out_dir=tmp_path)
    ds = instantiate(cfg.dataset)
    split = instantiate(cfg.fold).split(ds.labels)
    assert torch.equal(seen["images"], ds.images[split.pool])


def test_every_fresh_model_starts_from_the_backbone_and_scoring_embeds_with_it(tmp_path):
    state = backbones.resolve("ssl", None, ssl_config(tmp_path), pool())
    torch.manual_seed(0)
    a = classifier(pretrained="ssl", backbone_state=state)
    torch.manual_seed(1)
    b = classifier(pretrained="ssl", backbone_state=state)
    assert all(torch.equal(a.net.state_dict()[k], state[k]) for k in state)
    assert all(torch.equal(b.net.state_dict()[k], state[k]) for k in state)
    assert not torch.equal(a.net.fc.weight, b.net.fc.weight)  # the head stays fresh
    backbone = build_resnet18(2, backbone_state=state)
    backbone.fc = torch.nn.Identity()
    images = pool(6, seed=1)
    from alflow.model import normalize
    with torch.no_grad():
        expected = backbone.eval()(normalize(images))
    got = score_images(a.net, images, torch.arange(6), frozenset({"embeddings"})).embeddings
    torch.testing.assert_close(got, expected, rtol=1e-3, atol=1e-3)


def test_classifier_refuses_a_pretrained_name_without_its_backbone():
    with pytest.raises(ValueError, match="model.pretrained=ssl: resolve the backbone once"):
        classifier(pretrained="ssl")


LOCK_SCRIPT = """
import hashlib, logging, sys, torch
sys.path.insert(0, {repo!r})
logging.basicConfig(level=logging.INFO)
from alflow.model import backbones
g = torch.Generator().manual_seed(0)
pool = torch.randint(0, 256, (24, 1, 32, 32), generator=g, dtype=torch.uint8).expand(-1, 3, -1, -1).contiguous()
state = backbones.resolve("ssl", None, {settings!r}, pool)
print("digest", hashlib.sha256(b"".join(state[k].numpy().tobytes() for k in sorted(state))).hexdigest())
"""


@pytest.mark.slow
def test_two_jobs_started_together_pretrain_once(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    settings = SSLSettings(**ssl_config(cache, epochs=2))
    key = pretraining_key(pool(), settings.result_settings(), None)
    lock_file = cache / f"pool-ssl-simclr-{key[:24]}.pt.lock"
    script = LOCK_SCRIPT.format(repo=str(REPO), settings=ssl_config(cache, epochs=2))
    texts = two_jobs_meeting_a_lock(lock_file, script, tmp_path)
    assert sum("pretraining on 24 unlabeled pool images" in t for t in texts) == 1, texts
    assert sum("backbone from cache" in t for t in texts) == 1, texts
    digests = {line for t in texts for line in t.splitlines() if line.startswith("digest")}
    assert len(digests) == 1


@pytest.mark.slow
def test_cli_second_ssl_job_of_the_same_fold_reuses_the_pretraining(tmp_path):
    env = {**os.environ, "ALFLOW_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(REPO)}
    args = [sys.executable, "-m", "alflow", "experiment=smoke", "model.pretrained=ssl", "al.max_rounds=1",
            "gallery_size=0", "analysis.batch_retrain=false", f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"]
    first = subprocess.run([*args, "strategy=random"], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "simclr pretraining took" in first.stdout + first.stderr  # Hydra logs to stdout
    (cache_file,) = (tmp_path / "cache").glob("synthetic-ssl-simclr-*.pt")
    mtime = cache_file.stat().st_mtime_ns
    second = subprocess.run([*args, "strategy=uncertainty"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    log = second.stdout + second.stderr
    assert f"simclr backbone from cache {cache_file}" in log
    assert "pretraining on" not in log
    assert cache_file.stat().st_mtime_ns == mtime  # read, not rewritten (identical weights: see above)
    # both runs say in MLflow which pretraining their backbone came from
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) == 2
    assert {r.data.tags.get("ssl_cache") for r in runs} == {str(cache_file)}
    assert all(r.data.tags["ssl_pretraining"].startswith("simclr: ") for r in runs)
    # ... and the learner table (docs/results.md, "The learner on elpv") reads its SSL minutes from there
    (experiment,) = {client.get_experiment(r.info.experiment_id).name for r in runs}
    table = subprocess.run([sys.executable, str(REPO / "benchmarks" / "learning_table.py"), "--tracking-uri",
                            f"sqlite:///{tmp_path / 'mlflow.db'}", "--experiments", experiment],
                           env=env, capture_output=True, text=True, timeout=300)
    assert table.returncode == 0, table.stderr[-3000:]
    minutes = runs[0].data.tags["ssl_minutes"]
    assert all(line.endswith(f"| {float(minutes):.3f} (n=1) |") for line in table.stdout.splitlines()[2:])


def test_ssl_pretrains_efficientnet_lite0_into_its_own_cache_file(tmp_path, caplog):
    caplog.set_level("INFO", logger="alflow")
    state = backbones.resolve("ssl", None, ssl_config(tmp_path), pool(), backbone="efficientnet_lite0")
    (cache_file,) = tmp_path.glob("*-ssl-simclr-efficientnet_lite0-*.pt")  # never a ResNet-18 pretraining's file
    from alflow.model import build_net

    net = build_net("efficientnet_lite0", 2, backbone_state=state)
    assert torch.equal(net.layer4[0].weight, state["layer4.0.weight"])
    torch.manual_seed(0)
    assert not torch.equal(state["layer4.0.weight"], build_net("efficientnet_lite0", 2).state_dict()["layer4.0.weight"])
    resnet = backbones.resolve("ssl", None, ssl_config(tmp_path), pool())
    assert "conv1.weight" in resnet and len(list(tmp_path.glob("*-ssl-simclr-*.pt"))) == 2
