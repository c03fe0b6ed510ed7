"""Nothing lost: each round is committed; a killed job resumes there and ends as if never killed."""
import csv
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import FINE_TUNED, checkout_env, loop_settings, plain_classifier, run_alflow, train_settings
from conftest import strategy as make
from mlflow.tracking import MlflowClient

from alflow.data import KFold
from alflow.loop import AcquisitionLoop
from alflow.loop.checkpoint import load_state

TRAIN = train_settings(epochs=1, min_steps=1, max_steps=None, batch_size=16, class_weighting="none", accelerator="cpu")


def make_loop(dataset, state_path, strategy="gradcam_avg"):
    split = KFold(k=5, index=0, seed=0).split(dataset.labels)
    # layer3: the tiny dataset's 32 px images are a 1 x 1 grid at layer4, where GradCAM_avg cannot rank
    options = {"layer": "layer3", "image_size": 32} if strategy == "gradcam_avg" else {}
    return AcquisitionLoop(dataset, split, make(strategy, **options), plain_classifier, TRAIN,
                           loop_settings(batch_size=16), state_path=state_path)


def test_restored_loop_repeats_the_uninterrupted_one(tiny_dataset, tmp_path):
    whole = make_loop(tiny_dataset, None)
    whole.run()
    first = make_loop(tiny_dataset, tmp_path / "state.pt")
    first.step()
    first.step()
    state = load_state(tmp_path / "state.pt")
    assert len(state.history) == 2 and int((state.labeled_round >= 0).sum()) == 32
    resumed = make_loop(tiny_dataset, tmp_path / "state.pt")
    resumed.restore(state)
    resumed.run()
    assert [(r.round, r.index) for r in resumed.rows] == [(r.round, r.index) for r in whole.rows]
    assert [r.val_auroc for r in resumed.history] == [r.val_auroc for r in whole.history]


@pytest.mark.parametrize("strategy", ["gradcam_avg", "uncertainty"])
def test_a_restored_head_learner_repeats_the_uninterrupted_one(tmp_path, strategy):
    """The default learner (a head on cached features): the head's weights and standardisation are the state."""
    from conftest import head_learner, synthetic_dataset

    dataset = synthetic_dataset(n_images=120, image_size=64, defect_fraction=0.25, seed=0)
    learner = head_learner(dataset)
    split = KFold(k=5, index=0, seed=0).split(dataset.labels)

    def loop(state_path):
        return AcquisitionLoop(dataset, split, make(strategy, image_size=64) if strategy == "gradcam_avg"
                               else make(strategy), learner.model_factory, TRAIN, loop_settings(batch_size=16),
                               state_path=state_path, features=learner.features)

    whole = loop(None)
    whole.run()
    first = loop(tmp_path / "state.pt")
    first.step()
    first.step()
    resumed = loop(tmp_path / "state.pt")
    resumed.restore(load_state(tmp_path / "state.pt"))
    resumed.run()
    assert [(r.round, r.index) for r in resumed.rows] == [(r.round, r.index) for r in whole.rows]
    assert [r.test_auroc for r in resumed.history] == [r.test_auroc for r in whole.history]


def test_a_state_from_another_pool_is_refused(tiny_dataset, tmp_path):
    loop = make_loop(tiny_dataset, tmp_path / "s.pt")
    loop.step()
    state = load_state(tmp_path / "s.pt")
    state.labeled_round = state.labeled_round[:10]
    with pytest.raises(ValueError, match="al.resume=false"):
        make_loop(tiny_dataset, None).restore(state)
    (tmp_path / "bad.pt").write_bytes(b"not a state")
    with pytest.raises(ValueError, match="bad.pt"):
        load_state(tmp_path / "bad.pt")


def selection(client, run_id, dest):
    path = client.download_artifacts(run_id, "selection.csv", str(dest))
    with open(path) as f:
        return [(r["round"], r["index"], r["score"]) for r in csv.DictReader(f)]


@pytest.mark.slow
def test_sigkill_mid_round_then_rerun_equals_an_uninterrupted_run(tmp_path):
    # the fine-tuned learner: its rounds last seconds, so the kill lands mid-round
    job = ["experiment=smoke", *FINE_TUNED, "strategy=gradcam_avg", "gallery_size=0", "analysis.batch_retrain=false"]
    killed_uri, clean_uri = f"sqlite:///{tmp_path / 'killed.db'}", f"sqlite:///{tmp_path / 'clean.db'}"

    proc = subprocess.Popen([sys.executable, "-m", "alflow", *job, f"tracking.uri={killed_uri}"], cwd=tmp_path,
                            env=checkout_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 600
    for line in proc.stdout:
        if "round 2/5" in line or time.time() > deadline:
            break
    time.sleep(0.5)  # into round 3: selection or training
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL

    client = MlflowClient(killed_uri)
    run = client.search_runs([client.get_experiment_by_name("alflow").experiment_id])[0]
    assert run.info.status == "RUNNING"  # nobody could mark it: the process was killed
    assert len(client.get_metric_history(run.info.run_id, "val/auroc")) in (2, 3)

    rerun = run_alflow([*job, f"tracking.uri={killed_uri}"], cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "resumed from" in rerun.stdout + rerun.stderr
    clean = run_alflow([*job, f"tracking.uri={clean_uri}"], cwd=tmp_path)
    assert clean.returncode == 0, clean.stderr[-3000:]

    runs = client.search_runs([client.get_experiment_by_name("alflow").experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"  # the same run, continued
    clean_client = MlflowClient(clean_uri)
    clean_run = clean_client.search_runs([clean_client.get_experiment_by_name("alflow").experiment_id])[0]
    assert selection(client, run.info.run_id, tmp_path / "a") == selection(clean_client, clean_run.info.run_id,
                                                                           tmp_path / "b")
    for metric in ("val/auroc", "test/auroc", "pool/defects_left"):
        resumed_history = [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, metric)]
        assert [s for s, _ in resumed_history] == [16, 32, 48, 64, 72]  # every round exactly once
        assert sorted(resumed_history) == [(m.step, m.value) for m in
                                           clean_client.get_metric_history(clean_run.info.run_id, metric)]
    assert not list((tmp_path / ".alflow" / "state").glob("*.pt"))  # finished jobs leave no state behind


# The alflow command with its end-of-run analysis failing: a job that fails after its rounds. (Every setting
# is checked before a run opens, so no setting can make the analysis fail any more.)
FAILING_ANALYSIS = ("import sys\n"
                    "import alflow.app\n"
                    "def fail(*args, **kwargs):\n"
                    "    raise RuntimeError('end-of-run analysis failed (injected by the test)')\n"
                    "alflow.app.run_summary = fail\n"
                    "from alflow.cli import main\n"
                    "sys.argv[0] = 'alflow'\n"
                    "main()\n")


def _run_failing(args, cwd):
    return subprocess.run([sys.executable, "-c", FAILING_ANALYSIS, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900, env=checkout_env())


@pytest.mark.slow
def test_a_failed_job_resumes_unless_resume_is_false(tmp_path):
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    job = ["experiment=smoke", "strategy=random", "gallery_size=0", "al.max_rounds=2", f"tracking.uri={uri}"]
    first = _run_failing(job, cwd=tmp_path)
    assert first.returncode != 0 and "end-of-run analysis failed" in first.stderr
    assert len(list((tmp_path / ".alflow" / "state").glob("*.pt"))) == 1  # the finished rounds are kept

    fresh = _run_failing([*job, "al.resume=false"], cwd=tmp_path)
    assert fresh.returncode != 0 and "resumed from" not in fresh.stdout + fresh.stderr
    again = _run_failing(job, cwd=tmp_path)
    assert "resumed from" in again.stdout + again.stderr

    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("alflow").experiment_id])
    assert len(runs) == 2 and {r.info.status for r in runs} == {"FAILED"}
    for run in runs:  # neither the fresh start nor the resume logged a round twice
        assert [m.step for m in client.get_metric_history(run.info.run_id, "pool/defects_found")] == [16, 32]
