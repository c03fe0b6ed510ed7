"""Every new strategy runs end to end (``python -m alflow experiment=smoke strategy=NAME al.max_rounds=2``),
and the cold start (``al.initial_strategy``) picks round 1 on pretrained embeddings, or at random without."""
import csv

import pytest
import torch
from conftest import loop_settings, plain_classifier, run_alflow, train_settings
from conftest import strategy as make
from mlflow.tracking import MlflowClient

from alflow.data import KFold
from alflow.loop import AcquisitionLoop, ModelVersion, SeedStreams
from alflow.loop.model_version import scoring_device

NEW = ["margin", "entropy", "bald", "coreset", "badge", "typiclust", "gradcam_uncertainty"]
TRAIN = train_settings(epochs=1, min_steps=1, max_steps=1, batch_size=16, class_weighting="none", accelerator="cpu")


def first_round(dataset, initial, pretrained):
    split = KFold(k=5, index=0, seed=0).split(dataset.labels)
    loop = AcquisitionLoop(dataset, split, make("uncertainty"), plain_classifier, TRAIN,
                           loop_settings(batch_size=16, max_rounds=1, initial_strategy=initial),
                           initial_strategy=None if initial == "random" else make(initial),
                           pretrained_backbone=pretrained)
    fresh = ModelVersion(loop.fresh_model(), loop.cam_settings, scoring_device("cpu"), False)
    loop.run()
    return loop, split, fresh


@pytest.mark.parametrize("initial", ["typiclust", "coreset"])
def test_cold_start_picks_round_one_on_the_pretrained_embeddings(tiny_dataset, initial, caplog):
    with caplog.at_level("INFO", logger="alflow"):
        loop, split, fresh = first_round(tiny_dataset, initial, "model.pretrained=ssl")
    assert f"16 images picked by {initial} on the embeddings of the model.pretrained=ssl backbone" in caplog.text
    # what the strategy picks on the fresh model's embeddings, with round 0's generator
    scored = fresh.score_pool(tiny_dataset.images, split.pool, torch.empty(0, dtype=torch.long),
                              frozenset({"embeddings", "probs"}), 256)
    expected = make(initial).select(scored, 16, torch.Generator().manual_seed(SeedStreams(0).selection(0)))
    assert [row.index for row in loop.rows] == expected.indices.tolist()
    assert [row.score for row in loop.rows] == pytest.approx(expected.scores.tolist())
    random_loop, _, _ = first_round(tiny_dataset, "random", None)
    assert [row.index for row in loop.rows] != [row.index for row in random_loop.rows]


def test_cold_start_without_pretrained_embeddings_is_the_random_first_batch(tiny_dataset, caplog):
    with caplog.at_level("WARNING", logger="alflow"):
        cold, _, _ = first_round(tiny_dataset, "typiclust", None)
    assert "al.initial_strategy=typiclust needs pretrained embeddings" in caplog.text
    plain, _, _ = first_round(tiny_dataset, "random", None)
    assert [row.index for row in cold.rows] == [row.index for row in plain.rows]


def test_initial_strategy_must_start_cold():
    with pytest.raises(ValueError, match=r"al.initial_strategy must be random or .*coreset, typiclust.*'badge'"):
        loop_settings(initial_strategy="badge")


def selection_rows(client, run_id, tmp_path):
    path = client.download_artifacts(run_id, "selection.csv", str(tmp_path))
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
@pytest.mark.parametrize("name", NEW)
def test_new_strategy_runs_two_smoke_rounds(name, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = run_alflow(["experiment=smoke", f"strategy={name}", "al.max_rounds=2", "gallery_size=0",
                       "analysis.batch_retrain=false", f"tracking.uri={uri}"], cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("alflow").experiment_id])
    assert run.info.status == "FINISHED" and run.data.tags["strategy"] == name
    rows = selection_rows(client, run.info.run_id, tmp_path)
    assert [int(r["round"]) for r in rows] == [0] * 16 + [1] * 16
    assert len({r["index"] for r in rows}) == 32
    picked = [float(r["score"]) for r in rows if r["round"] == "1"]
    assert all(s == s for s in picked)  # the strategy's scores (round 0 is the random batch: NaN)


@pytest.mark.slow
def test_typiclust_cold_start_on_ssl_embeddings_from_the_command_line(tmp_path, monkeypatch):
    monkeypatch.setenv("ALFLOW_CACHE_DIR", str(tmp_path / "cache"))  # run_alflow passes the environment on
    proc = run_alflow(["experiment=smoke", "strategy=uncertainty", "model.pretrained=ssl",
                       "al.initial_strategy=typiclust", "al.max_rounds=1", "gallery_size=0",
                       "analysis.batch_retrain=false", f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"],
                      cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "16 images picked by typiclust on the embeddings of the model.pretrained=ssl backbone" in \
        proc.stdout + proc.stderr
