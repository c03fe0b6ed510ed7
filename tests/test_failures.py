"""A failed job is recorded as FAILED and does not stop the sweep; a dead server fails fast."""
import socket
import time

import pytest
from conftest import FINE_TUNED, run_alflow
from mlflow.tracking import MlflowClient


@pytest.mark.slow
def test_failed_job_is_marked_and_the_sweep_goes_on(tmp_path, tracking_uri):
    proc = run_alflow(["-m", "experiment=smoke", "strategy=random", "fold.index=0", "al.max_rounds=1", "gallery_size=0",
                       "model.weights_path=null,/no/such/weights.pth", f"tracking.uri={tracking_uri}"], cwd=tmp_path)
    assert proc.returncode != 0  # the sweep says that a job failed ...
    assert "1 job(s) of the sweep failed" in proc.stderr
    client = MlflowClient(tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name("alflow").experiment_id])
    status = sorted((r.info.status, r.data.params.get("model.weights_path")) for r in runs)
    assert status == [("FAILED", "/no/such/weights.pth"), ("FINISHED", "None")]  # ... after running the other
    failed = next(r for r in runs if r.info.status == "FAILED")
    assert "/no/such/weights.pth" in failed.data.tags["error"]


def test_unreachable_server_fails_fast_naming_the_uri(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nobody listens there
    uri = f"http://127.0.0.1:{port}"
    start = time.monotonic()
    proc = run_alflow(["experiment=smoke", f"tracking.uri={uri}"], cwd=tmp_path, timeout=300)
    assert proc.returncode != 0
    assert f"tracking.uri {uri} is unreachable" in proc.stderr
    assert time.monotonic() - start < 120  # not MLflow's minutes of retries


def test_a_diverged_model_fails_the_job_instead_of_reporting_a_plausible_auroc(tmp_path, tracking_uri):
    # issue 14 case 1: SGD at lr 1e8 blows the weights up in the first round
    proc = run_alflow(["experiment=smoke", "strategy=gradcam_avg", *FINE_TUNED, "model.optimizer=sgd", "model.lr=1e8",
                       "al.max_rounds=3", "gallery_size=0", f"tracking.uri={tracking_uri}"], cwd=tmp_path)
    assert proc.returncode != 0
    assert "round 1: non-finite" in proc.stderr  # the loss, the weights or the probabilities, whichever breaks first
    assert "model.lr=100000000.0" in proc.stderr and "lower model.lr" in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]  # one line, like a config error, without a traceback
    assert last.startswith("alflow: training error: round 1: non-finite") and "Traceback" not in proc.stderr
    assert proc.returncode == 1
    client = MlflowClient(tracking_uri)
    (run,) = client.search_runs([client.get_experiment_by_name("alflow").experiment_id])
    assert run.info.status == "FAILED"
    assert "non-finite" in run.data.tags["error"]
    assert not client.get_metric_history(run.info.run_id, "test/auroc")  # no round's numbers were recorded


def test_auroc_of_non_finite_probabilities_is_nan():
    import math

    import torch

    from alflow.loop import auroc

    labels = torch.tensor([0, 1, 0, 1, 1])
    nan = torch.full((5, 2), float("nan"))
    assert math.isnan(auroc(nan, labels))  # torchmetrics alone says 0.944-like numbers here
    one_inf = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.1, float("inf")], [0.3, 0.7]])
    assert math.isnan(auroc(one_inf, labels))
    fine = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.1, 0.9], [0.3, 0.7]])
    assert auroc(fine, labels) == 1.0
