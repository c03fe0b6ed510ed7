"""A rerun resumes only the work it continues: a saved state records what its data was (names, pixels,
labels in a simulation) and a rerun on other data refuses in one line instead of mixing the two
(issue 23, item 1): in the loop, through the ``alflow`` command, and in a labeling session."""
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import (FINE_TUNED, checkout_env, folder_dataset, loop_settings, plain_classifier, run_alflow,
                      strategy, synthetic_dataset, train_settings)
from label_helpers import write_folder
from mlflow.tracking import MlflowClient

from alflow.data import FoldSplit, InspectionDataset
from alflow.data.fingerprint import data_fingerprint, fingerprint_changes
from alflow.loop import AcquisitionLoop
from alflow.loop.checkpoint import LoopState, OtherDataError, load_state, save_state


def _dataset(labels, pixels=None, files=None):
    images = torch.zeros(len(labels), 3, 4, 4, dtype=torch.uint8)
    for i, value in (pixels or {}).items():
        images[i] = value
    return InspectionDataset("d", images, torch.tensor(labels), files=files or [])


def test_fingerprint_changes_say_what_changed():
    files = ["/data/good/a.png", "/data/good/b.png", "/data/bad/c.png"]
    saved = data_fingerprint(_dataset([0, 0, 1], files=files))
    assert fingerprint_changes(saved, data_fingerprint(_dataset([0, 0, 1], files=files))) == ""
    moved = ["/data/good/a.png", "/data/bad/b.png", "/data/bad/c.png"]
    assert fingerprint_changes(saved, data_fingerprint(_dataset([0, 1, 1], files=moved))) == \
        "1 image(s) added (bad/b.png); 1 image(s) removed or moved (good/b.png)"
    assert fingerprint_changes(saved, data_fingerprint(_dataset([0, 0, 1], {1: 7}, files=files))) == \
        "1 image(s) with other pixels (good/b.png)"
    assert fingerprint_changes(saved, data_fingerprint(_dataset([1, 0, 1], files=files))) == \
        "1 label(s) changed (good/a.png: 0 -> 1)"
    # a session's fingerprint holds no labels: a label the person gives is no change of data
    assert fingerprint_changes(data_fingerprint(_dataset([0, 0, 1], files=files), with_labels=False),
                               data_fingerprint(_dataset([1, 1, 1], files=files), with_labels=False)) == ""
    synthetic = data_fingerprint(_dataset([0, 1], {0: 1, 1: 2}))
    assert fingerprint_changes(synthetic, data_fingerprint(_dataset([0, 1], {0: 2, 1: 1}))) == \
        "2 image(s) with other pixels (#0, #1)"


def test_the_loop_refuses_a_state_saved_for_other_labels(tmp_path):
    data = synthetic_dataset(n_images=40, image_size=32, defect_fraction=0.3, seed=0)
    split = FoldSplit(test=torch.arange(0, 8), val=torch.arange(8, 16), pool=torch.arange(16, 40))

    def loop(dataset):
        return AcquisitionLoop(dataset, split, strategy("random"), plain_classifier, train_settings(max_steps=2,
                               min_steps=1), loop_settings(batch_size=4), state_path=tmp_path / "state.pt")

    first = loop(data)
    first.step()
    state = load_state(tmp_path / "state.pt")
    loop(data).restore(state)  # the same data: resumes
    flipped = int(split.pool[5])
    labels = data.labels.clone()
    labels[flipped] = 1 - labels[flipped]
    other = InspectionDataset(data.name, data.images, labels, data.classes)
    with pytest.raises(OtherDataError, match=r"state\.pt was made from other data \(1 label\(s\) changed "
                                             rf"\(#{flipped}: .*al\.resume=false"):
        loop(other).restore(state)


def _interrupt_after_round_one(args, cwd) -> str:
    proc = subprocess.Popen([sys.executable, "-m", "alflow", *args], cwd=cwd, env=checkout_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen, deadline = [], time.monotonic() + 600
    for line in proc.stdout:
        seen.append(line)
        if "round 1/" in line:
            proc.send_signal(signal.SIGTERM)
            break
        assert time.monotonic() < deadline, "".join(seen[-20:])
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM, ("".join(seen) + out)[-3000:]
    return "".join(seen) + out


@pytest.mark.slow
def test_a_rerun_on_other_files_refuses_in_one_line_and_starts_over_when_asked(tmp_path, tracking_uri):
    root = write_folder(tmp_path / "photos", n_good=24, n_bad=8, size=32)
    job = ["dataset=folder", f"dataset.root={root}", "dataset.image_size=32", "dataset.cache_dir=null", *FINE_TUNED,
           "fold.k=4", "al.batch_size=4", "al.max_rounds=4", "trainer.min_steps=2", "trainer.max_steps=4",
           "gallery_size=0", "analysis.batch_retrain=false", f"tracking.uri={tracking_uri}"]
    _interrupt_after_round_one(job, tmp_path)
    client = MlflowClient(tracking_uri)
    (run,) = client.search_runs([client.get_experiment_by_name("alflow").experiment_id])
    assert run.info.status == "KILLED"
    # an inspector corrects a label: one good image moved to the defect folder, the pool's size unchanged
    shutil.move(root / "good" / "003.png", root / "bad" / "moved_003.png")
    rerun = run_alflow(job, cwd=tmp_path)
    assert rerun.returncode == 2, rerun.stderr[-3000:]
    (line,) = [ln for ln in rerun.stderr.splitlines() if ln.startswith("alflow:")]
    assert line.startswith("alflow: data error: saved job state ") and ".alflow/state/" in line
    assert "1 image(s) added (bad/moved_003.png); 1 image(s) removed or moved (good/003.png)" in line
    assert "al.resume=false" in line and "Traceback" not in rerun.stderr
    (again,) = client.search_runs([client.get_experiment_by_name("alflow").experiment_id])
    assert again.info.status == "KILLED"  # the refused rerun touched nothing recorded
    fresh = run_alflow([*job, "al.resume=false"], cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    assert "resumed from" not in fresh.stdout + fresh.stderr


def test_a_label_session_refuses_a_state_saved_for_other_images(tmp_path):
    from alflow.label.session import LabelSession
    from test_label_session import label_settings

    from alflow.stopping import NoStopping

    root = write_folder(tmp_path / "photos", n_good=6, n_bad=2, size=32)
    dataset = folder_dataset(root, ["good"], image_size=32, cache_dir=None)
    session_dir = tmp_path / "session"
    other = folder_dataset(write_folder(tmp_path / "other", n_good=6, n_bad=2, size=32, seed=1), ["good"],
                           image_size=32, cache_dir=None)
    save_state(session_dir / "loop_state.pt", LoopState(
        labeled_round=torch.full((8,), -1), revealed=torch.full((8,), -1), history=[], rows=[], model_state={},
        data=data_fingerprint(other, with_labels=False)))
    with pytest.raises(OtherDataError, match=r"loop_state\.pt was made from other data \(8 image\(s\) with other "
                                             r"pixels .*new label\.session_dir"):
        LabelSession(dataset, root, strategy("random"), plain_classifier, train_settings(), loop_settings(),
                     NoStopping(), {}, label_settings(session_dir=str(session_dir)))
