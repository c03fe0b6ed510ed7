"""A labeling session without the browser: the worker runs the experiments' rounds with a human oracle.
Round 0 is the experiments' seeded draw, the audit sample is the validation set, corrections and
imports reach the pool, the session's MLflow run records labels and audit AUROC."""
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch
from label_helpers import write_folder
from mlflow.tracking import MlflowClient

from alflow.data.folder import UNLABELED_CLASS, build_unlabeled_folder
from alflow.label.session import HumanOracle, LabelSession
from alflow.label.settings import LabelSettings
from alflow.label.store import AUDIT_ROUND
from alflow.loop import GroundTruthOracle
from alflow.loop.seeds import SeedStreams
from alflow.stopping import NoStopping
from alflow.tracking.run import MlflowRun
from conftest import (REPO, cam_settings, checkout_env, dataset_settings, folder_dataset, loop_settings,
                      plain_classifier, run_alflow, stopping_criterion, strategy, train_settings)
from PIL import Image


def label_settings(**overrides) -> LabelSettings:
    """The ``label`` section of conf/label.yaml (its one home), with ``overrides``."""
    from omegaconf import OmegaConf

    values = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "label.yaml").label, resolve=False)
    return LabelSettings(**{**values, **overrides})


def truth(path: str) -> str:
    return "defect" if path.startswith("bad/") else "good"


def wait_for(condition, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def answer(session, round_index, tab="t", override=None):
    store = session.store
    wait_for(lambda: store.has_batch(round_index))
    items = store.batch(round_index)
    for item in items:
        label = (override or {}).get(item.path, truth(item.path))
        store.set_label(item.image_id, label, item.version, inspector="unit", tab=tab, seconds=2.0)
    store.submit(round_index, tab, [item.image_id for item in items])
    session.notify()
    return items


def test_a_session_starts_cold_with_the_initial_strategy(tmp_path, caplog):
    """al.initial_strategy in a session: round 0 is the cold-start strategy's pick on the pretrained embeddings
    (the loop's public cold-start path; a session that re-implemented scoring could not pass the strategy)."""
    root = write_folder(tmp_path / "data", n_good=14, n_bad=6)
    dataset = folder_dataset(root, ["good"], image_size=32, cache_dir=None)
    al = loop_settings(batch_size=4, initial_strategy="coreset", state_dir=str(tmp_path / "session"))
    session = LabelSession(dataset, root, strategy("uncertainty"), plain_classifier,
                           train_settings(min_steps=1, max_steps=2), al, NoStopping(), {},
                           label_settings(session_dir=str(tmp_path / "session"), audit_size=0),
                           initial_strategy=strategy("coreset"), pretrained_backbone="imagenet",
                           cam_settings=cam_settings())
    caplog.set_level("INFO", logger="alflow")
    session.start()
    try:
        wait_for(lambda: session.store.has_batch(0) or session.error)
        assert session.error is None, session.error
        first = session.store.batch(0)
        assert len(first) == 4
        assert "picked by coreset on the embeddings of the imagenet backbone" in caplog.text
        # the seeded random draw would have picked these instead
        generator = torch.Generator().manual_seed(SeedStreams(al.seed).selection(0))
        random_pick = torch.randperm(len(dataset), generator=generator)[:4].tolist()
        assert sorted(session.index_of[i.image_id] for i in first) != sorted(random_pick)
    finally:
        session.close()
        session.thread.join(30)


@pytest.mark.slow  # three rounds of real training: about a minute on two shared cores
def test_a_session_runs_the_experiments_rounds_with_a_person_as_oracle(tmp_path, tracking_uri):
    root = write_folder(tmp_path / "data", n_good=30, n_bad=12)
    dataset = folder_dataset(root, ["good"], image_size=32, cache_dir=None)
    settings = label_settings(session_dir=str(tmp_path / "session"), audit_size=12, inspector="unit")
    tracker = MlflowRun(tracking_uri, "alflow-label", "label-test", tmp_path / "mlflow")
    al = loop_settings(batch_size=8, state_dir=str(tmp_path / "session"))
    session = LabelSession(dataset, root, strategy("uncertainty"),
                           plain_classifier, train_settings(max_steps=4, min_steps=2), al, NoStopping(),
                           {"knee": stopping_criterion("knee"), "stabilizing": stopping_criterion("stabilizing")},
                           settings,
                           listeners=[tracker], tracker=tracker, cam_settings=cam_settings())
    assert not isinstance(HumanOracle(session), GroundTruthOracle)  # no hidden labels to measure with
    assert int(session.dataset.labels.sum()) == 0  # the class folders are not read as labels
    session.start()
    try:
        audit = answer(session, AUDIT_ROUND)
        assert len(audit) == 12
        wait_for(lambda: session.store.has_batch(0))
        # round 0 is the experiments' seeded draw over the pool (everything but the audit sample)
        audit_idx = {session.index_of[i.image_id] for i in audit}
        pool = torch.tensor([i for i in range(len(dataset)) if i not in audit_idx])
        generator = torch.Generator().manual_seed(SeedStreams(al.seed).selection(0))
        expected = pool[torch.randperm(len(pool), generator=generator)[:8]].tolist()
        first = answer(session, 0, override=None)
        assert [session.index_of[i.image_id] for i in first] == expected
        # a correction of a submitted label, and a label imported for an image no batch holds
        corrected = first[0]
        flipped = "good" if truth(corrected.path) == "defect" else "defect"
        session.store.set_label(corrected.image_id, flipped, corrected.version + 1, inspector="unit", tab="t2",
                                seconds=1.0)
        shown = {i.image_id for r in (AUDIT_ROUND, 0) for i in session.store.batch(r)}
        outsider = next(i for i in session.image_id if i not in shown)
        session.store.import_label(outsider, "defect", 0, inspector="ls", seconds=1.0)
        second = answer(session, 1)
        assert all(i.prob is not None for i in second)           # picked by a trained model
        assert session.cam(second[0].image_id) is not None       # with its GradCAM map
        wait_for(lambda: session.store.has_batch(2))
        loop = session.loop
        position = {int(v): p for p, v in enumerate(loop.pool.indices.tolist())}
        assert int(loop.pool.revealed[position[session.index_of[corrected.image_id]]]) == int(flipped == "defect")
        assert int(loop.pool.revealed[position[session.index_of[outsider]]]) == 1
        audit_labels = torch.tensor([int(truth(i.path) == "defect") for i in audit])
        assert torch.equal(session.dataset.labels[loop.split.val], audit_labels[audit_labels >= 0])
        record = session.history[-1]
        both = audit_labels.unique().numel() == 2
        assert (record.val_auroc == record.val_auroc) == both   # the audit AUROC, NaN with one class only
        assert record.defects_found == int(loop.pool.defects_found)
        status = session.status()
        assert status["labeled"] == 12 + 8 + 8 + 1 and status["rounds"] == 2
        assert status["labels_per_hour"] == round(3600 * 29 / (28 * 2.0 + 1.0))  # 28 labels at 2 s, one at 1 s
        assert len(status["seconds_to_next_batch"]) == 2
        assert [v["name"] for v in status["verdicts"]] == ["knee", "stabilizing"]
    finally:
        session.close()
        session.thread.join(30)
    metrics = MlflowClient(tracking_uri).get_run(tracker.run_id).data.metrics
    assert metrics["label/labeled"] == 12 + 8 + 8 + 1 and "label/labels_per_hour" in metrics


def test_criteria_that_read_the_validation_set_wait_for_an_audit_sample(tmp_path):
    import math

    from alflow.records import RoundRecord

    root = write_folder(tmp_path / "data", n_good=6, n_bad=2)
    dataset = folder_dataset(root, ["good"], image_size=32, cache_dir=None)
    session = LabelSession(dataset, root, strategy("uncertainty"), plain_classifier, train_settings(),
                           loop_settings(batch_size=2), NoStopping(),
                           {"knee": stopping_criterion("knee"), "stabilizing": stopping_criterion("stabilizing")},
                           label_settings(session_dir=str(tmp_path / "session")))
    session.history = [RoundRecord(round=r, n_labeled=2 * (r + 1), n_selected=2, defects_found=1,
                                   defects_left=math.nan, val_auroc=math.nan, test_auroc=math.nan, train_loss=0.5,
                                   seconds=1.0, expected_defects_left=1.0, stop_set_predictions=[], gallery=None)
                       for r in range(5)]
    verdicts = {v["name"]: v for v in session.status()["verdicts"]}
    assert "audit sample" in verdicts["stabilizing"]["never"] and not verdicts["stabilizing"]["stop"]
    assert "label.audit_size=0" in verdicts["stabilizing"]["never"]
    assert verdicts["knee"]["why"].startswith("go on: stops at the knee of the defects-found curve")
    assert session.status()["may_stop"]["answer"] == "not yet known"  # no recall-targeted rule among these


def test_a_session_takes_a_flat_or_nested_folder_of_unlabeled_images(tmp_path):
    flat, nested = tmp_path / "flat", tmp_path / "nested"
    for i in range(6):
        (nested / f"line{i % 2}" / "day1").mkdir(parents=True, exist_ok=True)
        flat.mkdir(exist_ok=True)
        pixels = Image.new("L", (20, 20), color=40 * i)
        pixels.save(flat / f"{i}.png")
        pixels.save(nested / f"line{i % 2}" / "day1" / f"{i}.png")
    (flat / "notes.txt").write_text("not an image")
    (flat / "0_mask.png").write_bytes((flat / "0.png").read_bytes())
    settings = dataset_settings("folder", image_size=16, cache_dir=None, exclude=["*_mask.png"])
    for root, n in ((flat, 6), (nested, 6)):
        ds = build_unlabeled_folder(**{**settings, "root": root})
        assert len(ds) == n and ds.labels.tolist() == [0] * n and set(ds.classes) == {UNLABELED_CLASS}
        assert sorted(Path(f).name for f in ds.files) == [f"{i}.png" for i in range(n)]
    with pytest.raises(ValueError, match="dataset.root=.* holds no image file matching dataset.pattern"):
        build_unlabeled_folder(**{**settings, "root": flat, "pattern": "**/*.jpg"})


@pytest.mark.slow
def test_alflow_label_serves_a_flat_folder_and_names_a_missing_root(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(12):
        Image.new("L", (24, 24), color=20 * i).save(root / f"{i:02d}.png")
    with socket.socket() as sock:  # a free port on the loopback
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "alflow", "label", "dataset=folder", f"dataset.root={root}",
                             "experiment=smoke", "dataset.image_size=32", "dataset.cache_dir=null", "gallery_size=0",
                             f"label.session_dir={tmp_path / 'session'}", f"label.port={port}", "al.batch_size=4",
                             f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"], cwd=tmp_path, env=checkout_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url, lines = f"http://127.0.0.1:{port}/", []
        while url not in (lines[-1] if lines else ""):
            lines.append(proc.stdout.readline())
            assert lines[-1] or proc.poll() is None, "".join(lines)
        for _ in range(100):
            try:
                status = json.load(urllib.request.urlopen(url + "api/status", timeout=5))
                break
            except OSError:
                time.sleep(0.2)
        assert status["pool"] == 12 and status["labeled"] == 0
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    missing = run_alflow(["label", "dataset=folder", f"dataset.root={tmp_path / 'nope'}",
                          f"label.session_dir={tmp_path / 's2'}"], cwd=tmp_path)
    assert missing.returncode == 2
    assert (missing.stdout + missing.stderr).strip().splitlines()[-1].endswith(
        f"alflow label: FileNotFoundError: dataset.root {tmp_path / 'nope'} does not exist "
        "(expected a folder of images (any depth))")
