"""The composition root: a composed Hydra config turned into an experiment's parts, for both entry points
(``alflow`` jobs in ``alflow.app``, labeling sessions in ``alflow.label_app``).

Everything that can fail on a bad setting is built here, before a run is opened, and fails as one
``ConfigError`` line (``alflow.errors``). Config defaults live in ``conf/`` only: every constructor called
here takes each value from the composed config.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from alflow import records
from alflow.data import FoldSplit, InspectionDataset
from alflow.errors import as_config_error
from alflow.explain import CamSettings
from alflow.loop import LoopSettings, TrainSettings
from alflow.model.learner import Learner, build_learner, check_model_settings
from alflow.settings_check import check_settings
from alflow.stopping import StoppingCriterion
from alflow.strategies import Strategy

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")
FOLDER_TARGET = "alflow.data.folder.build_folder"
UNLABELED_FOLDER_TARGET = "alflow.data.folder.build_unlabeled_folder"


@dataclass
class Experiment:
    """One job's parts. ``split`` is None in a labeling session (the session makes its own from the audit
    sample); ``initial_strategy`` picks round 0 (None: a seeded random draw); ``cam_settings``: the GradCAM
    of galleries and the labeling page for a strategy without maps of its own; ``model_settings``: the
    ``model.`` section as a plain dict, turned into models by ``learner``."""

    name: str
    dataset: InspectionDataset
    split: FoldSplit | None
    strategy: Strategy
    stopping: StoppingCriterion
    initial_strategy: Strategy | None
    train: TrainSettings
    settings: LoopSettings
    cam_settings: CamSettings
    model_settings: dict
    seed: int

    def learner(self, pool=None) -> Learner:
        """The job's models (``alflow.model.learner.build_learner``): run inside the job's run, since an SSL
        pretraining or the frozen features' pass is the first long work and may fail on missing weights.
        ``pool``: the indices SSL pretrains on (None: every image)."""
        return build_learner(self.model_settings, self.dataset.images, pool, self.name, self.seed)


def compose(cfg: DictConfig, gallery_dir: str | Path | None, *, session: bool = False,
            state_dir: str | Path | None = None) -> Experiment:
    """The parts of the job ``cfg`` describes. ``gallery_dir``: where galleries go (used only when
    ``gallery_size`` > 0); ``session``: a labeling session's (``dataset=folder`` read unlabeled, no split);
    ``state_dir`` replaces ``al.state_dir``. Raises ConfigError naming the key (or file) at fault."""
    try:
        check_settings(cfg)  # every number's type and range, in one line (alflow.settings_check)
        dataset = instantiate(session_dataset(cfg.dataset) if session else cfg.dataset)
        split = None if session else instantiate(cfg.fold).split(dataset.labels)
        strategy = instantiate(cfg.strategy)
        stopping = instantiate(cfg.stopping)
        model_settings = OmegaConf.to_container(cfg.model, resolve=True)
        check_model_settings(model_settings)
        check_cam_layer(model_settings, strategy)
        train = instantiate(cfg.trainer)
        al = OmegaConf.to_container(cfg.al, resolve=True)
        if state_dir is not None:
            al["state_dir"] = str(state_dir)
        settings = LoopSettings(**al, gallery_dir=str(gallery_dir) if cfg.gallery_size > 0 and gallery_dir else None,
                                gallery_size=cfg.gallery_size)
        initial_strategy = cold_start_strategy(settings.initial_strategy, strategy)
        cam_settings = CamSettings(**OmegaConf.to_container(cfg.cam, resolve=True))
    except (ValueError, TypeError, FileNotFoundError, InstantiationException) as exc:
        raise as_config_error(exc) from exc
    name = cfg.dataset.get("name") or dataset.name
    return Experiment(name, dataset, split, strategy, stopping, initial_strategy, train, settings, cam_settings,
                      model_settings, int(cfg.seed))


def back_to_launch_folder() -> None:
    """With ``hydra.job.chdir=true`` Hydra starts each job in its output folder; alflow's relative paths (the
    MLflow store, ``dataset.root``, the caches, ``al.state_dir``) mean the folder the command was run from,
    so the job goes back there: every job of a sweep lands in one store. Outputs still go to the job's
    folder (``hydra.runtime.output_dir``, an absolute path)."""
    if HydraConfig.initialized() and HydraConfig.get().job.chdir:
        os.chdir(HydraConfig.get().runtime.cwd)


def composed_group(group: str, option: str) -> dict:
    """The ``group`` section of a job composed with ``group=option``, unresolved (interpolations into other
    groups stay ``${...}``), without Hydra's keys: the values of ``conf/<group>/<option>.yaml`` with the
    group files it takes in (the GradCAM strategies take ``conf/cam/default.yaml``). For code that builds a
    part without a job (benchmarks, tests). Raises hydra's errors for an unknown group or option."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(CONF_DIR, version_base=None):
        section = hydra_compose("config", overrides=[f"{group}={option}"])[group]
    values = OmegaConf.to_container(section, resolve=False)
    return {k: v for k, v in values.items() if not str(k).startswith("_")}


def session_dataset(dataset_cfg: DictConfig) -> DictConfig:
    """The dataset config a session builds: ``dataset=folder`` becomes a folder of unlabeled images (flat or
    in sub-folders, class names never read: the person is the oracle); any other dataset is kept as is."""
    if dataset_cfg.get("_target_") == FOLDER_TARGET:
        return OmegaConf.merge(dataset_cfg, {"_target_": UNLABELED_FOLDER_TARGET})
    return dataset_cfg


def compared_criteria() -> dict[str, StoppingCriterion]:
    """The online criteria every run is replayed against, at the settings of their ``conf/stopping`` files
    with ``records.COMPARED_SETTINGS``' overrides (a second setting of one criterion, e.g. the other knee)."""
    return {name: instantiate(OmegaConf.merge(OmegaConf.load(Path(CONF_DIR) / "stopping" / f"{conf}.yaml"),
                                              overrides))
            for name, (conf, overrides) in records.COMPARED_SETTINGS.items()}


def cold_start_strategy(name: str, strategy: Strategy) -> Strategy | None:
    """The strategy that picks round 0 (``al.initial_strategy``): None for ``random``; the run's own strategy
    when it is the one named (with its overrides); else that strategy at the settings of its
    ``conf/strategy`` file."""
    if name == "random":
        return None
    if getattr(strategy, "name", None) == name:
        return strategy
    return instantiate(OmegaConf.load(Path(CONF_DIR) / "strategy" / f"{name}.yaml"))


def check_cam_layer(model_settings: dict, strategy: Strategy) -> None:
    """ValueError naming ``strategy.layer`` when the learner cannot give GradCAM maps of that layer: a head
    learner caches the backbone's last stage only, and EfficientNet-Lite0 names only its last stage
    (``layer4``, as ResNet's)."""
    layer = getattr(getattr(strategy, "cam_settings", None), "layer", "layer4")
    if layer == "layer4":
        return
    if model_settings.get("trainable") in ("head", "last_block"):
        raise ValueError(f"strategy.layer={layer}: model.trainable={model_settings['trainable']} explains the "
                         "backbone's last stage only; use strategy.layer=layer4 or model.trainable=all")
    if model_settings.get("backbone") == "efficientnet_lite0":
        raise ValueError(f"strategy.layer={layer}: model.backbone=efficientnet_lite0 has GradCAM on its last stage "
                         "only (strategy.layer=layer4); other layers need model.backbone=resnet18")
