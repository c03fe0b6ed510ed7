"""Real Hydra multiruns into a real MLflow SQLite store, as a user launches them."""
import csv
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import checkout_env, run_alflow
from mlflow.tracking import MlflowClient

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_smoke_sweep_logs_every_job_and_round(smoke_sweep, tmp_path):
    tracking_uri = smoke_sweep.uri
    output = smoke_sweep.output
    assert "round 5/5 | labeled 72/72" in output
    assert f"mlflow ui --backend-store-uri {tracking_uri} --port 5000" in output

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("alflow")
    runs = [r for r in client.search_runs([experiment.experiment_id])
            if r.data.tags.get("strategy") not in (None, "upper_bound")]  # not the bound, not the report
    assert len(runs) == 6
    assert Counter((r.data.tags["strategy"], r.data.tags["fold"]) for r in runs) == Counter(
        (s, f) for s in ("random", "uncertainty", "gradcam_avg") for f in ("0", "1"))
    for run in runs:
        assert run.info.status == "FINISHED"
        assert run.info.run_name == f"{run.data.tags['strategy']} fold{run.data.tags['fold']} seed0"
        assert run.data.tags["dataset"] == "synthetic" and run.data.tags["seed"] == "0"
        assert run.data.params["al.batch_size"] == "16" and run.data.params["fold.k"] == "5"
        for metric in ("val/auroc", "test/auroc", "pool/defects_left", "pool/defects_found"):
            steps = [m.step for m in client.get_metric_history(run.info.run_id, metric)]
            assert steps == [16, 32, 48, 64, 72], (metric, steps)
        left = client.get_metric_history(run.info.run_id, "pool/defects_left")
        assert left[-1].value == 0
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"selection.csv", "config.yaml"} <= artifacts
        local = client.download_artifacts(run.info.run_id, "selection.csv", str(tmp_path / run.info.run_id))
        with open(local) as f:
            rows = list(csv.DictReader(f))
        assert {"round", "index", "score", "label"} <= set(rows[0])
        assert len(rows) == 72 and len({r["index"] for r in rows}) == 72
        assert sum(int(r["label"]) for r in rows) == int(left[0].value) + sum(
            int(r["label"]) for r in rows if r["round"] == "0")

    # Same first (random) batch for every strategy of a fold; other folds, other pools.
    def first_batch(run):
        local = client.download_artifacts(run.info.run_id, "selection.csv", str(tmp_path / ("f" + run.info.run_id)))
        with open(local) as f:
            return sorted(r["index"] for r in csv.DictReader(f) if r["round"] == "0")

    by_fold = {}
    for run in runs:
        by_fold.setdefault(run.data.tags["fold"], set()).add(tuple(first_batch(run)))
    assert len(by_fold["0"]) == 1 and len(by_fold["1"]) == 1 and by_fold["0"] != by_fold["1"]


@pytest.mark.slow
def test_multirun_script_forwards_overrides_and_reports(tmp_path, tracking_uri):
    proc = subprocess.run(["bash", str(REPO / "multirun.sh"), "experiment=smoke", "strategy=uncertainty",
                           "fold.index=2", "al.max_rounds=2", f"tracking.uri={tracking_uri}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**checkout_env(), "ALFLOW_PYTHON": sys.executable})
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = MlflowClient(tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name("alflow").experiment_id])
    jobs = [r for r in runs if r.data.tags.get("alflow.summary") != "true"]
    assert [(r.data.tags["strategy"], r.data.tags["fold"], r.data.tags["rounds"]) for r in jobs] == [
        ("uncertainty", "2", "2")]
    # the sweep ends with the report: Table 1 printed, files written, a summary run logged
    assert "Table 1" in proc.stdout and "| synthetic | incremental |" in proc.stdout
    # the report sits in the sweep's own folder, beside its jobs' outputs; its run in '<experiment>-reports'
    reports = list(tmp_path.glob("multirun/*/*/report/table1.csv"))
    assert len(reports) == 1 and not (tmp_path / "report").exists()
    assert len(runs) == 1
    assert len(client.search_runs([client.get_experiment_by_name("alflow-reports").experiment_id])) == 1


@pytest.mark.parametrize("override,message", [
    ("strategy.target=both", "strategy.target"),
    ("fold.k=40", "fold.k<="),
    ("al.learning=online", "al.learning"),
    ("strategy=least_typical", "least_typical"),
])
def test_bad_config_fails_before_any_run_with_a_clear_error(tmp_path, tracking_uri, override, message):
    args = ["experiment=smoke", override, f"tracking.uri={tracking_uri}"]
    if override.startswith("strategy.target"):
        args.insert(0, "strategy=gradcam_avg")
    proc = run_alflow(args, cwd=tmp_path)
    assert proc.returncode != 0
    assert message in proc.stderr
    db = Path(tracking_uri.removeprefix("sqlite:///"))
    if db.exists():  # nothing half-done was recorded
        client = MlflowClient(tracking_uri)
        assert all(not client.search_runs([e.experiment_id]) for e in client.search_experiments())


@pytest.mark.slow
def test_hydra_job_chdir_keeps_relative_paths_at_the_launch_folder(tmp_path):
    """hydra.job.chdir=true (Hydra's old default) starts each job in its own folder: the default relative store
    (sqlite:///mlflow.db), a relative dataset.root and the state folder still mean the folder the sweep was
    launched from, every job lands in one store and multirun.sh reports on all of them (issue 23, item 2)."""
    from label_helpers import write_folder

    write_folder(tmp_path / "photos", n_good=16, n_bad=8, size=32)
    proc = subprocess.run(["bash", str(REPO / "multirun.sh"), "experiment=smoke", "hydra.job.chdir=true",
                           "dataset=folder", "dataset.root=photos", "dataset.image_size=48", "fold.k=4",
                           "strategy=random,uncertainty", "fold.index=0", "al.max_rounds=1"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**checkout_env(), "ALFLOW_PYTHON": sys.executable})
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert not list((tmp_path / "multirun").rglob("mlflow.db")) and not list((tmp_path / "multirun").rglob(".alflow"))
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("alflow").experiment_id])
    assert sorted((r.data.tags["strategy"], r.info.status) for r in runs) == [("random", "FINISHED"),
                                                                              ("uncertainty", "FINISHED")]
    assert "Table 1" in proc.stdout and "| folder | incremental |" in proc.stdout
