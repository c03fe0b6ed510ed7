"""Small contracts of the loop's parts: stopping criteria, seed streams, model versions, run kinds."""
import pytest
import torch
from conftest import loop_settings, plain_classifier, strategy, train_settings

from alflow.data import KFold
from alflow.loop import AcquisitionLoop, SeedStreams
from alflow.records import RUN_KIND_ACTIVE, RUN_KIND_FULL_POOL, run_kind
from alflow.stopping import CRITERIA, BudgetStopping, StoppingCriterion

TRAIN = train_settings(epochs=1, min_steps=1, max_steps=None, batch_size=16, class_weighting="none", accelerator="cpu")


def test_every_criterion_declares_the_contract():
    assert all(issubclass(cls, StoppingCriterion) for cls in CRITERIA.values())
    assert all(name == cls.name for name, cls in CRITERIA.items())
    with pytest.raises(TypeError):
        StoppingCriterion()  # abstract: should_stop must be given
    assert CRITERIA["none"]().remaining(10) is None
    assert BudgetStopping(40).remaining(32) == 8 and BudgetStopping(40).remaining(48) == 0


def test_seed_streams_keep_earlier_values_and_never_collide():
    seeds = SeedStreams(3)
    assert seeds.model_init() == 3
    assert [seeds.selection(r) for r in (0, 5)] == [3 * 100_003, 3 * 100_003 + 5]
    assert [seeds.training(r) for r in (0, 998)] == [3000, 3998]  # the values of earlier versions
    assert seeds.batch_retrain() == 3999
    training = {SeedStreams(s).training(r) for s in range(4) for r in range(1500)}
    assert len(training) == 4 * 1500  # no two (seed, round) share a training stream
    assert not training & {SeedStreams(s).batch_retrain() for s in range(4)}
    # the verification order: one per seed, apart from every other stream
    verification = {SeedStreams(s).verification() for s in range(4)}
    others = training | {SeedStreams(s).selection(r) for s in range(4) for r in range(1500)} | set(range(4))
    assert len(verification) == 4 and not verification & others


def make_loop(dataset, **settings):
    split = KFold(k=5, index=0, seed=0).split(dataset.labels)
    return AcquisitionLoop(dataset, split, strategy("uncertainty"), plain_classifier,
                           TRAIN, loop_settings(batch_size=16, **settings))


def test_a_model_version_is_a_snapshot(tiny_dataset):
    loop = make_loop(tiny_dataset, max_rounds=1)
    loop.run()
    version = loop.version
    idx = loop.pool.unlabeled
    before = version.probs(tiny_dataset.images, idx, 256)
    with torch.no_grad():  # the model trained on in place (incremental learning) ...
        for p in loop.model.parameters():
            p.add_(0.1)
    # ... leaves the version that scored it as it was
    assert torch.equal(version.probs(tiny_dataset.images, idx, 256), before)
    assert not torch.equal(loop.new_version(loop.model).probs(tiny_dataset.images, idx, 256), before)


def test_full_pool_reference_labels_the_whole_pool_in_round_zero(tiny_dataset):
    loop = make_loop(tiny_dataset, learning="full_pool")
    history = loop.run()
    assert [r.n_labeled for r in history] == [72] and loop.total_rounds == 1
    assert loop.stop_reason == "pool exhausted"
    assert run_kind("full_pool") == RUN_KIND_FULL_POOL
    assert run_kind("incremental") == run_kind("batch") == RUN_KIND_ACTIVE


def test_sweep_callback_writes_the_store_it_used(tmp_path, monkeypatch):
    from alflow.sweep import STORE_FILE_ENV, SweepStoreCallback

    store_file = tmp_path / "store.txt"
    monkeypatch.setenv(STORE_FILE_ENV, str(store_file))
    monkeypatch.chdir(tmp_path)
    SweepStoreCallback(uri="sqlite:///from-yaml.db", experiment="exp").on_run_end(config=None)
    # uri, experiment, and the sweep's folder (none for a single job)
    assert store_file.read_text().splitlines() == [f"sqlite:///{tmp_path / 'from-yaml.db'}", "exp", ""]
