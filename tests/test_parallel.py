"""Parallel sweeps (joblib launcher) into a SQLite store and into a real MLflow tracking server."""
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter

import pytest
from conftest import run_alflow
from mlflow.tracking import MlflowClient

SWEEP = ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "experiment=smoke", "strategy=random,uncertainty",
         "fold.index=0,1", "gallery_size=0", "analysis.batch_retrain=false"]


def check_four_finished_runs(uri):
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("alflow").experiment_id])
    assert Counter((r.data.tags["strategy"], r.data.tags["fold"], r.info.status) for r in runs) == Counter(
        (s, f, "FINISHED") for s in ("random", "uncertainty") for f in ("0", "1"))
    for run in runs:
        for metric in ("val/auroc", "test/auroc", "pool/defects_left", "pool/defects_found"):
            steps = [m.step for m in client.get_metric_history(run.info.run_id, metric)]
            assert steps == [16, 32, 48, 64, 72], (metric, steps)  # every round exactly once


@pytest.mark.slow
def test_joblib_sweep_into_sqlite(tmp_path, tracking_uri):
    proc = run_alflow([*SWEEP, f"tracking.uri={tracking_uri}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Joblib" in proc.stdout + proc.stderr  # really the parallel launcher
    check_four_finished_runs(tracking_uri)


@pytest.fixture
def mlflow_server(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                               "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
                               "--artifacts-destination", str(tmp_path / "artifacts"), "--workers", "1"],
                              cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(uri + "/health", timeout=2):
                break
        except OSError:
            if time.time() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail("mlflow server did not start")
            time.sleep(1)
    yield uri
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()


@pytest.mark.slow
def test_joblib_sweep_into_a_tracking_server(tmp_path, mlflow_server):
    proc = run_alflow([*SWEEP, f"tracking.uri={mlflow_server}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    check_four_finished_runs(mlflow_server)
    client = MlflowClient(mlflow_server)
    run = client.search_runs([client.get_experiment_by_name("alflow").experiment_id])[0]
    assert "selection.csv" in {a.path for a in client.list_artifacts(run.info.run_id)}
