"""The SLURM path, run here through submitit's local executor (``hydra/launcher=slurm_local``): a job
pre-empted mid-round (SIGTERM, as SLURM sends before it kills) is marked KILLED, and rerunning the sweep
resumes it to the same selection log as a job that was never interrupted."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FINE_TUNED, checkout_env, run_alflow
from mlflow.tracking import MlflowClient

pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="the dev extra brings the submitit launcher")


def sweep_args(uri):
    # the fine-tuned learner: a head round lasts milliseconds, so a job would finish before the SIGTERM lands
    return ["-m", "hydra/launcher=slurm_local", "experiment=smoke", *FINE_TUNED, "strategy=uncertainty",
            "fold.index=0,1", "al.max_rounds=3", "gallery_size=0", "analysis.batch_retrain=false",
            f"tracking.uri={uri}", "hydra.sweep.dir=sweep"]


def selections(uri, tmp_path):
    """fold -> selection.csv text of each FINISHED run."""
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("alflow").experiment_id],
                              "attributes.status = 'FINISHED'")
    out = {}
    for run in runs:
        path = client.download_artifacts(run.info.run_id, "selection.csv", str(tmp_path / run.info.run_id))
        out[run.data.tags["fold"]] = Path(path).read_text()
    return out


def preempt_one_job(cwd: Path, proc: subprocess.Popen) -> str:
    """SIGTERM the first job that has finished a round (its submitit log names it); returns its log."""
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the sweep ended before a job could be pre-empted"
        for log in (cwd / "sweep" / ".submitit").glob("*/*_log.out"):
            text = log.read_text(errors="replace")
            if "round 1/" in text:
                job_pid = int(log.name.split("_")[0])  # submitit's local job id is the job's pid
                os.kill(job_pid, signal.SIGTERM)
                return text
        time.sleep(0.5)
    raise AssertionError("no job finished a round in time")


@pytest.mark.slow
def test_a_preempted_slurm_job_resumes_to_the_uninterrupted_selection(tmp_path):
    reference = tmp_path / "reference"
    reference.mkdir()
    ref_uri = f"sqlite:///{reference / 'mlflow.db'}"
    done = run_alflow(sweep_args(ref_uri), cwd=reference)
    assert done.returncode == 0, done.stderr[-3000:]
    expected = selections(ref_uri, tmp_path / "ref-artifacts")
    assert set(expected) == {"0", "1"}

    work = tmp_path / "preempted"
    work.mkdir()
    uri = f"sqlite:///{work / 'mlflow.db'}"
    proc = subprocess.Popen([sys.executable, "-m", "alflow", *sweep_args(uri)], cwd=work, env=checkout_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = preempt_one_job(work, proc)
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode != 0, out[-3000:]  # a sweep with a pre-empted job is no success
    client = MlflowClient(uri)
    statuses = [r.info.status for r in client.search_runs([client.get_experiment_by_name("alflow").experiment_id])]
    assert "KILLED" in statuses and "RUNNING" not in statuses, (statuses, log[-2000:])

    rerun = run_alflow(sweep_args(uri), cwd=work)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    logs = "".join(p.read_text(errors="replace") for p in (work / "sweep").glob("*/app.log"))
    assert "resumed from" in logs
    assert selections(uri, tmp_path / "artifacts") == expected
