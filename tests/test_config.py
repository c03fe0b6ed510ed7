"""The config groups compose as documented (Hydra's compose API: no job is run)."""
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from alflow.app import job_key
from alflow.compose import CONF_DIR
from alflow.stopping import CRITERIA
from alflow.strategies import REGISTRY


def cfg(*overrides):
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        return compose("config", overrides=list(overrides))


def test_defaults_are_the_papers_protocol_on_synthetic_data():
    c = cfg()
    assert (c.dataset.name, c.fold.k, c.al.batch_size, c.al.learning) == ("synthetic", 10, 32, "incremental")
    assert c.tracking.uri == "sqlite:///mlflow.db" and c.analysis.batch_retrain


@pytest.mark.parametrize("extra", [[], ["experiment=smoke"], ["experiment=paper"]])
def test_upper_bound_overrides_the_groups_it_needs(extra):
    c = cfg("strategy=upper_bound", *extra)
    assert c.trainer.epochs == 20 and c.al.learning == "full_pool" and not c.analysis.batch_retrain
    if extra == ["experiment=smoke"]:
        assert c.trainer.min_steps == 2 and c.dataset.n_images == 120


def test_smoke_keeps_a_real_dataset_choice():
    c = cfg("experiment=smoke", "dataset=ksdd2", "dataset.root=/data")
    assert c.dataset.name == "ksdd2" and "n_images" not in c.dataset and c.fold.k == 5


@pytest.mark.parametrize("name", sorted(p.stem for p in Path(CONF_DIR, "strategy").glob("*.yaml")))
def test_every_strategy_file_instantiates(name):
    strategy = instantiate(cfg(f"strategy={name}").strategy)
    assert type(strategy) in REGISTRY.values()


@pytest.mark.parametrize("name", sorted(p.stem for p in Path(CONF_DIR, "stopping").glob("*.yaml")))
def test_every_stopping_file_instantiates(name):
    criterion = instantiate(cfg(f"stopping={name}").stopping)
    assert CRITERIA[criterion.name] is type(criterion)


def test_job_key_names_a_job_by_what_decides_its_results():
    assert job_key(cfg()) == job_key(cfg("al.resume=false"))
    assert job_key(cfg()) != job_key(cfg("fold.index=1"))
