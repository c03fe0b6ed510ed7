import pytest
import torch
from conftest import loop_settings, plain_classifier, train_settings
from conftest import strategy as make

from alflow.analysis import retrain_batch
from alflow.data import KFold
from alflow.loop import AcquisitionLoop, auroc, score_images
from alflow.stopping import BudgetStopping

TRAIN = train_settings(epochs=1, min_steps=1, max_steps=None, batch_size=16, class_weighting="none", accelerator="cpu")


class Recorder:
    def __init__(self):
        self.records, self.rows = [], []

    def on_round(self, record, rows):
        self.records.append(record)
        self.rows.extend(rows)


def make_loop(dataset, strategy="random", stopping=None, **settings):
    split = KFold(k=5, index=0, seed=0).split(dataset.labels)
    recorder = Recorder()
    # layer3: the tiny dataset's 32 px images are a 1 x 1 grid at layer4, where GradCAM_avg cannot rank
    options = {"layer": "layer3", "image_size": 32} if strategy == "gradcam_avg" else {}
    loop = AcquisitionLoop(dataset, split, make(strategy, **options), plain_classifier, TRAIN,
                           loop_settings(batch_size=16, **settings), stopping=stopping, listeners=[recorder])
    return loop, split, recorder


@pytest.mark.parametrize("strategy", ["random", "uncertainty", "gradcam_avg"])
def test_runs_until_the_pool_is_exhausted(tiny_dataset, strategy):
    loop, split, recorder = make_loop(tiny_dataset, strategy)
    history = loop.run()
    assert loop.stop_reason == "pool exhausted"
    assert len(history) == loop.total_rounds == 5  # 72 pool images in batches of 16
    chosen = [row.index for row in recorder.rows]
    assert sorted(chosen) == sorted(split.pool.tolist())  # every pool image exactly once
    assert [r.n_labeled for r in history] == [16, 32, 48, 64, 72]
    labels = tiny_dataset.labels
    assert history[-1].defects_left == 0
    assert history[0].defects_left == int(labels[split.pool].sum()) - sum(row.label for row in recorder.rows[:16])
    assert all(a.defects_left >= b.defects_left for a, b in zip(history, history[1:]))
    assert all(row.label == int(labels[row.index]) for row in recorder.rows)
    assert all(0.0 <= r.val_auroc <= 1.0 and 0.0 <= r.test_auroc <= 1.0 for r in history)
    # no test or validation image ever enters the pool
    assert not set(chosen) & (set(split.val.tolist()) | set(split.test.tolist()))


def test_progress_counts_rounds_up_to_max_rounds(tiny_dataset, caplog):
    # "round 1/2", not "round 1/5": the pool would last 5 rounds, al.max_rounds ends the run after 2
    loop, _, _ = make_loop(tiny_dataset, max_rounds=2)
    assert loop.total_rounds == 2
    with caplog.at_level("INFO", logger="alflow"):
        history = loop.run()
    assert len(history) == 2 and loop.stop_reason == "al.max_rounds=2 reached"
    progress = [r.getMessage() for r in caplog.records if "| labeled" in r.getMessage()]
    assert any("round 2/2 " in m for m in progress), progress
    assert make_loop(tiny_dataset, max_rounds=9)[0].total_rounds == 5  # the pool runs out first


def test_first_batch_is_the_same_random_batch_for_every_strategy(tiny_dataset):
    firsts = []
    for strategy in ("random", "uncertainty", "gradcam_avg"):
        loop, _, recorder = make_loop(tiny_dataset, strategy, max_rounds=1)
        loop.run()
        firsts.append([row.index for row in recorder.rows])
    assert firsts[0] == firsts[1] == firsts[2]


@pytest.mark.parametrize("strategy", ["random", "uncertainty", "gradcam_avg"])
def test_same_seed_same_selections_other_seed_other(tiny_dataset, strategy):
    runs = []
    for seed in (0, 0, 1):
        loop, _, recorder = make_loop(tiny_dataset, strategy, max_rounds=3, seed=seed)
        loop.run()
        runs.append(([row.index for row in recorder.rows], [r.val_auroc for r in recorder.records]))
    assert runs[0] == runs[1]
    assert runs[0][0] != runs[2][0]


def test_budget_trims_the_last_batch(tiny_dataset):
    loop, _, recorder = make_loop(tiny_dataset, "random", stopping=BudgetStopping(40))
    history = loop.run()
    assert [r.n_labeled for r in history] == [16, 32, 40]
    assert loop.stop_reason.startswith("stopping criterion budget")


def test_batch_learning_starts_each_round_from_a_fresh_model(tiny_dataset):
    loop, _, _ = make_loop(tiny_dataset, "random", max_rounds=2, learning="batch")
    loop.step()
    first = loop.model
    loop.step()
    assert loop.model is not first


def test_incremental_keeps_training_the_same_model(tiny_dataset):
    loop, _, _ = make_loop(tiny_dataset, "random", max_rounds=2)
    loop.step()
    first = loop.model
    before = [p.detach().clone() for p in first.parameters()]
    loop.step()
    assert loop.model is first
    assert any(not torch.equal(a, b) for a, b in zip(before, first.parameters()))


@pytest.mark.parametrize("bad,match", [(dict(learning="online"), "al.learning"), (dict(batch_size=0), "al.batch_size")])
def test_bad_loop_settings(bad, match):
    with pytest.raises(ValueError, match=match):
        loop_settings(**bad)


def test_batch_retrain_uses_exactly_the_images_up_to_the_round(tiny_dataset):
    loop, _, recorder = make_loop(tiny_dataset, "uncertainty", max_rounds=3)
    loop.run()
    batch = retrain_batch(loop, 1, epochs=2)
    assert batch.n_labeled == 32 == len([row for row in recorder.rows if row.round <= 1])
    assert 0.0 <= batch.val_auroc <= 1.0 and 0.0 <= batch.test_auroc <= 1.0
    assert loop.pool.n_labeled == 48  # the incremental run's own state is untouched


@pytest.mark.parametrize("learning", ["incremental", "batch"])
def test_each_round_scores_with_the_model_it_just_trained(tiny_dataset, learning):
    # The loop keeps one scoring copy per model version: a stale copy would score with last round's weights.
    loop, split, _ = make_loop(tiny_dataset, "gradcam_avg", learning=learning, max_rounds=2)
    for _ in range(2):
        record = loop.step()
        fresh = score_images(loop.model.net, tiny_dataset.images, split.val, frozenset({"probs"})).probs
        assert record.val_auroc == auroc(fresh, tiny_dataset.labels[split.val])
        assert record.stop_set_predictions == fresh.argmax(dim=1).tolist()
    # the pool the next round selects from is scored by the version just trained
    next_scored = loop._score(loop.version)
    assert torch.allclose(next_scored.unlabeled.probs,
                          score_images(loop.model.net, tiny_dataset.images, loop.pool.unlabeled,
                                       frozenset({"probs"})).probs, atol=1e-6)


def test_smoke_overlay_runs_gradcam_avg_for_real():
    # Issue 14, item 2: experiment=smoke used 32 px, where layer4 is 1 x 1: every SSIM was 1.0 and
    # the picks were the pool in index order. At the smoke size the maps must rank the pool.
    from pathlib import Path

    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    with initialize_config_dir(str(Path(__file__).resolve().parents[1] / "conf"), version_base=None):
        cfg = compose("config", overrides=["experiment=smoke", "strategy=gradcam_avg"])
    dataset = instantiate(cfg.dataset)
    split = instantiate(cfg.fold).split(dataset.labels)
    recorder = Recorder()
    loop = AcquisitionLoop(dataset, split, instantiate(cfg.strategy), plain_classifier, TRAIN,
                           loop_settings(batch_size=16, max_rounds=2), listeners=[recorder])
    loop.run()
    ranked = [row for row in recorder.rows if row.round == 1]
    scores = [row.score for row in ranked]
    assert len(ranked) == 16 and len(set(scores)) == 16 and max(scores) < 1.0
    assert scores == sorted(scores)  # lowest SSIM first
    assert [row.index for row in ranked] != sorted(row.index for row in ranked)


def test_each_round_records_what_the_recall_targeted_criteria_need(tiny_dataset):
    from alflow.stopping.calibration import calibrated, expected_calibration_error, fit_temperature

    loop, split, _ = make_loop(tiny_dataset, "uncertainty", max_rounds=2)
    records = [loop.step() for _ in range(2)]
    labels = tiny_dataset.labels
    fresh = score_images(loop.model.net, tiny_dataset.images, split.val, frozenset({"probs"})).probs
    # log-odds of the round's model: their sign is its prediction
    assert [z > 0 for z in records[-1].val_logits] == (fresh.argmax(dim=1) == 1).tolist()
    for record in records:
        assert record.val_labels == labels[split.val].tolist()
        assert len(record.val_logits) == len(split.val)
        assert record.temperature == fit_temperature(record.val_logits, record.val_labels) > 0
        assert record.val_ece == expected_calibration_error(calibrated(record.val_logits, record.temperature),
                                                            record.val_labels)
        assert len(record.labeled_logits) == record.n_labeled
        assert len(record.unlabeled_logits) == len(record.unlabeled_index) == len(split.pool) - record.n_labeled
        # the verification sample: every unlabeled image once, in a random order, with its true label
        assert sorted(record.remaining_sample_index) == sorted(record.unlabeled_index)
        assert record.remaining_sample_labels == labels[record.remaining_sample_index].tolist()
        assert sum(record.remaining_sample_labels) == record.defects_left
    # one order for the job: round 1's is round 0's without the images labeled in round 1
    still = set(records[1].remaining_sample_index)
    assert records[1].remaining_sample_index == [i for i in records[0].remaining_sample_index if i in still]
    assert records[0].remaining_sample_index != sorted(records[0].remaining_sample_index)
    assert set(records[1].unlabeled_index) < set(records[0].unlabeled_index)
    # seeded: the same job records the same order
    again, _, _ = make_loop(tiny_dataset, "uncertainty", max_rounds=1)
    assert again.step().remaining_sample_labels == records[0].remaining_sample_labels
