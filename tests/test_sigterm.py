"""SIGTERM (scancel, pre-emption) is a job that did not finish: non-zero exit, run KILLED, resumable."""
import signal
import subprocess
import sys
import time

import pytest
from conftest import FINE_TUNED, checkout_env, run_alflow
from mlflow.tracking import MlflowClient


def _start(args, cwd):
    return subprocess.Popen([sys.executable, "-m", "alflow", *args], cwd=cwd, env=checkout_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _terminate_after_first_round(proc) -> str:
    seen = []
    deadline = time.monotonic() + 600
    for line in proc.stdout:
        seen.append(line)
        if "round 1/" in line:
            time.sleep(1.0)  # into round 2: training or scoring
            proc.send_signal(signal.SIGTERM)
            break
        assert time.monotonic() < deadline, "".join(seen[-20:])
    out, _ = proc.communicate(timeout=300)
    return "".join(seen) + out


@pytest.mark.slow
@pytest.mark.parametrize("sweep", [False, True])
def test_sigterm_is_not_success_and_the_rerun_resumes(tmp_path, tracking_uri, sweep):
    job = ["experiment=smoke", *FINE_TUNED, "strategy=random", "fold.index=0", "al.max_rounds=4", "gallery_size=0",
           "analysis.batch_retrain=false", f"tracking.uri={tracking_uri}"]  # rounds of seconds: a signal lands mid-job
    args = (["-m"] if sweep else []) + job
    proc = _start(args, tmp_path)
    output = _terminate_after_first_round(proc)
    assert proc.returncode == 128 + signal.SIGTERM, output[-3000:]
    assert "SIGTERM received" in output
    client = MlflowClient(tracking_uri)
    (run,) = client.search_runs([client.get_experiment_by_name("alflow").experiment_id])
    assert run.info.status == "KILLED"  # never left RUNNING, never FINISHED
    if sweep:
        assert "the sweep was stopped by SIGTERM" in output
    rerun = run_alflow(args, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "resumed from" in rerun.stderr + rerun.stdout
    (again,) = client.search_runs([client.get_experiment_by_name("alflow").experiment_id])
    assert again.info.run_id == run.info.run_id and again.info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "pool/defects_found")]
    assert len(steps) == 4 and len(set(steps)) == 4  # every round once, none twice
