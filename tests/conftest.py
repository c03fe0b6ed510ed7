import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

# Two cores here: keep every test's torch to the same, so runs are comparable and CI is not oversubscribed.
torch.set_num_threads(min(2, os.cpu_count() or 1))


REPO = Path(__file__).resolve().parent.parent
# The paper's learner, fine-tuned whole (model.trainable=all): for tests of what only it has (an optimizer that
# can diverge) or that need a round to last seconds (a signal sent mid-round); the default head takes milliseconds.
FINE_TUNED = ["model.trainable=all", "model.backbone=resnet18", "model.pretrained=none"]


def loop_settings(**overrides):
    """``LoopSettings`` from ``conf/config.yaml``'s ``al`` section (its one home), with ``overrides``;
    no galleries unless asked for."""
    from omegaconf import OmegaConf

    from alflow.loop import LoopSettings

    config = OmegaConf.load(REPO / "conf" / "config.yaml")
    values = {**OmegaConf.to_container(config.al, resolve=True), "gallery_size": 0, "gallery_dir": None}
    return LoopSettings(**{**values, **overrides})


def group_defaults(group: str, option: str, **overrides) -> dict:
    """The values of ``conf/<group>/<option>.yaml`` (their one home) with the group files it takes in (the
    GradCAM strategies: ``conf/cam``), unresolved, without Hydra keys, updated."""
    from alflow.compose import composed_group

    return {**composed_group(group, option), **overrides}


def cam_settings(**overrides):
    """``CamSettings`` at ``conf/cam/default.yaml`` (their one home), ``overrides`` on top."""
    from alflow.explain import CamSettings

    return CamSettings(**group_defaults("cam", "default", **overrides))


def dataset_settings(option: str, **overrides) -> dict:
    """``conf/dataset/<option>.yaml`` resolved as a job would see it (seed 0; the cache folder from
    ALFLOW_CACHE_DIR at call time), without Hydra keys, ``overrides`` on top."""
    from omegaconf import OmegaConf

    raw = OmegaConf.load(REPO / "conf" / "dataset" / f"{option}.yaml")
    values = OmegaConf.to_container(OmegaConf.create({"seed": 0, "dataset": raw}).dataset, resolve=True)
    values = {k: v for k, v in values.items() if not k.startswith("_")}
    values.update(overrides)
    return values


def synthetic_dataset(**overrides):
    from alflow.data import build_synthetic

    return build_synthetic(**dataset_settings("synthetic", **overrides))


def folder_dataset(root, negative_classes, **overrides):
    from alflow.data import build_folder

    return build_folder(**dataset_settings("folder", root=root, negative_classes=negative_classes, **overrides))


def ksdd_dataset(root, **overrides):
    from alflow.data import build_ksdd

    return build_ksdd(**dataset_settings("ksdd", root=root, **overrides))


def ksdd2_dataset(root, **overrides):
    from alflow.data import build_ksdd2

    return build_ksdd2(**dataset_settings("ksdd2", root=root, **overrides))


def elpv_dataset(**overrides):
    from alflow.data.elpv import build_elpv

    return build_elpv(**dataset_settings("elpv", **overrides))


def strategy(name: str, **overrides):
    """The strategy ``name`` at the settings of ``conf/strategy/<name>.yaml`` (their one home), ``overrides`` on
    top; interpolations into other groups resolve against ``seed: 0`` and ``dataset.image_size: null`` (no
    GradCAM grid check) unless overridden."""
    from omegaconf import OmegaConf

    from alflow.strategies import make_strategy

    root = OmegaConf.create({"seed": 0, "dataset": {"image_size": None},
                             "strategy": group_defaults("strategy", name, **overrides)})
    return make_strategy(name, **OmegaConf.to_container(root.strategy, resolve=True))


def stopping_criterion(name: str, **overrides):
    """The criterion of ``conf/stopping/<name>.yaml`` (the one home of its defaults), ``overrides`` on top."""
    from hydra.utils import get_class
    from omegaconf import OmegaConf

    cfg = OmegaConf.to_container(OmegaConf.merge(OmegaConf.load(REPO / "conf" / "stopping" / f"{name}.yaml"),
                                                 overrides))
    return get_class(cfg.pop("_target_"))(**cfg)


def classifier(**overrides):
    """A DefectClassifier (the fine-tuned ResNet-18 from random weights: model.trainable=all) with
    conf/model/default.yaml's other values, ``overrides`` on top."""
    from alflow.model import DefectClassifier

    return DefectClassifier(**group_defaults("model", "default", **{
        "backbone": "resnet18", "pretrained": "none", "trainable": "all", **overrides}))


def head_learner(dataset, backbone="efficientnet_lite0", pretrained="imagenet", trainable="head", **overrides):
    """``alflow.model.learner.build_learner`` at conf/model/default.yaml's values (the head learner on
    ``backbone``, or ``trainable="last_block"``), ``overrides`` on top; the features are cached in
    $ALFLOW_CACHE_DIR."""
    from alflow.model.learner import build_learner

    settings = group_defaults("model", "default", backbone=backbone, pretrained=pretrained, trainable=trainable,
                              **overrides)
    return build_learner(settings, dataset.images, None, dataset.name)


def plain_classifier():
    """A DefectClassifier without augmentation and with a constant learning rate: the loop tests' model."""
    return classifier(augment="none", lr_schedule="constant")


def train_settings(**overrides):
    """TrainSettings with conf/trainer/default.yaml's values, ``overrides`` on top."""
    from alflow.loop import TrainSettings

    return TrainSettings(**group_defaults("trainer", "default", **overrides))


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """What jobs cache by default (decoded images, SSL backbones, backbone features) goes to one folder of
    the test session, never ~/.cache; a test that needs its own sets ALFLOW_CACHE_DIR itself."""
    os.environ["ALFLOW_CACHE_DIR"] = str(tmp_path_factory.mktemp("alflow-cache"))


@pytest.fixture
def tracking_uri(tmp_path):
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture(scope="session")
def tiny_dataset():
    return synthetic_dataset(n_images=120, image_size=32, defect_fraction=0.25, seed=0)


@dataclass
class Sweep:
    cwd: Path
    uri: str
    output: str


def checkout_env() -> dict[str, str]:
    """The environment for a subprocess that must import this checkout's ``alflow`` (not whichever
    checkout the venv's editable install points at)."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(REPO) + (os.pathsep + path if path else "")}


def two_jobs_meeting_a_lock(lock_file: Path, script: str, log_dir: Path) -> list[str]:
    """Start two ``python -c script`` jobs while holding ``lock_file`` (the cache's ``fcntl`` lock), so both
    meet it whatever their timing; release it once both say they wait; return both jobs' logs."""
    import fcntl
    import time

    with open(lock_file, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        logs = [log_dir / f"job{i}.log" for i in range(2)]
        procs = [subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=open(log, "w"),
                                  stderr=subprocess.STDOUT) for log in logs]
        deadline = time.monotonic() + 300
        while not all("waiting for another job computing" in log.read_text() for log in logs):
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs), \
                [log.read_text()[-2000:] for log in logs]
            time.sleep(0.3)
        fcntl.flock(held, fcntl.LOCK_UN)
    for p in procs:
        assert p.wait(timeout=300) == 0
    return [log.read_text() for log in logs]


def run_alflow(args, cwd, timeout=900, module="alflow"):
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=checkout_env())


@pytest.fixture(scope="session")
def smoke_sweep(tmp_path_factory):
    """The issue's reference sweep, run once: 3 strategies x folds 0,1 of the smoke pool, plus the upper bound."""
    cwd = tmp_path_factory.mktemp("sweep")
    uri = f"sqlite:///{cwd / 'mlflow.db'}"
    proc = run_alflow(["-m", "experiment=smoke", "strategy=random,uncertainty,gradcam_avg", "fold.index=0,1",
                       f"tracking.uri={uri}"], cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    bound = run_alflow(["-m", "experiment=smoke", "strategy=upper_bound", "fold.index=0,1", "trainer.epochs=3",
                        f"tracking.uri={uri}"], cwd=cwd)
    assert bound.returncode == 0, bound.stderr[-3000:]
    return Sweep(cwd=cwd, uri=uri, output=proc.stdout + proc.stderr)
