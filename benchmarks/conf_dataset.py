"""The benchmarks' datasets, built as a job builds them: Hydra composes ``conf/`` (the one home of every
dataset default) with the given overrides and instantiates ``dataset``."""
from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")


def dataset_from_conf(*overrides: str):
    """``instantiate(cfg.dataset)`` for ``python -m alflow OVERRIDES``' config, e.g. ``"dataset=elpv"``."""
    with initialize_config_dir(CONF_DIR, version_base=None):
        cfg = compose("config", overrides=list(overrides))
    return instantiate(cfg.dataset)
