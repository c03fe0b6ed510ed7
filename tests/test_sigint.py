"""Ctrl+C (SIGINT) is a job that did not finish, as SIGTERM is: exit 130, the run KILLED, one line saying so and
that the same command resumes it, no traceback; the rerun resumes. Sent once while Lightning trains (which
turns a KeyboardInterrupt into exit 1) and once while the pool is scored."""
import signal
import subprocess
import sys
import time

import pytest
from conftest import FINE_TUNED, checkout_env, run_alflow
from mlflow.tracking import MlflowClient

# The job as `python -m alflow` runs it, with each of the loop's phases printed as it starts (what the
# labeling page shows), so the signal lands in the phase named: the job itself is the real one.
WATCHED = """
import sys
from alflow.loop.acquisition import AcquisitionLoop
phase = AcquisitionLoop._phase
def watched(self, name):
    print(f"PHASE {len(self.history)} {name}", flush=True)
    phase(self, name)
AcquisitionLoop._phase = watched
sys.argv = ["alflow", *sys.argv[1:]]
from alflow.cli import main
main()
"""


def _interrupt_after(proc, markers: list[str], delay: float) -> str:
    """SIGINT ``delay`` s after the job printed each of ``markers`` in turn; its whole standard output."""
    seen, waiting = [], list(markers)
    deadline = time.monotonic() + 600
    for line in proc.stdout:
        seen.append(line)
        if line.startswith(waiting[0]):
            waiting.pop(0)
            if not waiting:
                time.sleep(delay)
                proc.send_signal(signal.SIGINT)
                break
        assert time.monotonic() < deadline, "".join(seen[-20:])
    out, _ = proc.communicate(timeout=300)
    return "".join(seen) + out


@pytest.mark.slow
@pytest.mark.parametrize("strategy,markers,delay", [
    # round 2's training: inside Lightning's fit (10 steps of a fine-tuned ResNet-18)
    ("random", ["PHASE 1 training"], 1.5),
    # round 2's pass over the pool with the model it just trained: GradCAM of every pool image, 4 at a time
    # (the round's first "scoring the pool" reuses the scores of the round before)
    ("gradcam_avg", ["PHASE 1 training", "PHASE 1 scoring the pool"], 0.3),
], ids=["training", "scoring"])
def test_ctrl_c_kills_the_run_in_one_line_and_the_rerun_resumes(tmp_path, tracking_uri, strategy, markers, delay):
    job = ["experiment=smoke", *FINE_TUNED, f"strategy={strategy}", "fold.index=0", "al.max_rounds=3",
           "trainer.min_steps=10", "trainer.max_steps=10", "al.score_batch_size=4", "gallery_size=0",
           "analysis.batch_retrain=false", f"tracking.uri={tracking_uri}"]
    with open(tmp_path / "stderr.txt", "w") as err:
        proc = subprocess.Popen([sys.executable, "-c", WATCHED, *job], cwd=tmp_path, env=checkout_env(),
                                stdout=subprocess.PIPE, stderr=err, text=True)
        stdout = _interrupt_after(proc, markers, delay)
    output = stdout + (tmp_path / "stderr.txt").read_text()
    assert proc.returncode == 128 + signal.SIGINT, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    said = [line for line in output.splitlines() if "interrupted" in line.lower()]
    assert len(said) == 1 and "rerun the same command to resume" in said[0], output[-3000:]
    logs = list(tmp_path.glob("outputs/**/*.log"))  # the job's own log says it too (it said nothing before)
    assert logs and any("interrupted" in log.read_text() for log in logs)

    client = MlflowClient(tracking_uri)
    (run,) = client.search_runs([client.get_experiment_by_name("alflow").experiment_id])
    assert run.info.status == "KILLED"  # never FAILED with "SystemExit: 1", never left RUNNING

    rerun = run_alflow(job, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "resumed from" in rerun.stderr + rerun.stdout
    (again,) = client.search_runs([client.get_experiment_by_name("alflow").experiment_id])
    assert again.info.run_id == run.info.run_id and again.info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "pool/defects_found")]
    assert len(steps) == 3 and len(set(steps)) == 3  # every round once, none twice


def test_interrupted_is_a_stop_lightning_does_not_swallow():
    """Lightning turns a KeyboardInterrupt in fit into sys.exit(1) and re-raises any other BaseException: what
    SIGINT raises in a job is the latter, and no ``except Exception`` catches it either."""
    from alflow.errors import Interrupted, Terminated

    assert Interrupted.exit_code == 130 and Terminated.exit_code == 143
    assert issubclass(Interrupted, BaseException)
    assert not issubclass(Interrupted, (Exception, KeyboardInterrupt))
