"""What a user reads and opens: the MLflow store's layout (real SQLite stores), the "open the UI" hint,
the report's choice of runs and folders, the figure, and config errors as one clean line."""
import json
import math
import shlex
import time

import matplotlib
import pytest
from conftest import run_alflow
from mlflow.tracking import MlflowClient

from alflow import records
from alflow.report.__main__ import fresh_folder, main as report_main
from alflow.report.figures import _fit_auroc_axis, band, dataset_figure
from alflow.report.runs import RunData, load_runs
from alflow.tracking import MlflowRun, get_or_create_experiment, ui_command, ui_hint
from alflow.tracking.store import experiment_url


def test_experiments_are_created_as_model_training_and_old_ones_get_the_tag(tracking_uri):
    client = MlflowClient(tracking_uri)
    new = get_or_create_experiment(client, "fresh")
    assert client.get_experiment(new).tags[records.EXPERIMENT_KIND_TAG] == records.EXPERIMENT_KIND
    old = client.create_experiment("made-elsewhere")  # e.g. by an older alflow
    assert records.EXPERIMENT_KIND_TAG not in client.get_experiment(old).tags
    assert get_or_create_experiment(client, "made-elsewhere") == old
    assert client.get_experiment(old).tags[records.EXPERIMENT_KIND_TAG] == records.EXPERIMENT_KIND


def test_end_of_run_numbers_are_a_summary_artifact_and_key_tags_not_metrics(tmp_path, tracking_uri):
    run = MlflowRun(tracking_uri, "alflow", records.run_name("random", 0, 0), tmp_path, tags={"strategy": "random"})
    numbers = {records.cutoff_metric("best", "test_auroc"): 0.81234, records.batch_metric("test_auroc"): math.nan,
               records.cutoff_metric("knee", "n_labeled"): 96.0, "data/pool/images": 480.0}
    run.log_summary(numbers)
    run.finish()
    client = MlflowClient(tracking_uri)
    logged = client.get_run(run.run_id)
    assert logged.info.run_name == "random fold0 seed0"
    assert logged.data.metrics == {}  # nothing for the chart view to draw as a bar chart
    path = client.download_artifacts(run.run_id, records.SUMMARY_ARTIFACT, str(tmp_path / "dl"))
    summary = json.loads(open(path).read())
    assert summary == {records.cutoff_metric("best", "test_auroc"): 0.81234, records.batch_metric("test_auroc"): None,
                       records.cutoff_metric("knee", "n_labeled"): 96.0, "data/pool/images": 480.0}
    assert logged.data.tags[records.cutoff_metric("best", "test_auroc")] == "0.8123"
    assert logged.data.tags[records.cutoff_metric("knee", "n_labeled")] == "96"
    assert records.batch_metric("test_auroc") not in logged.data.tags  # NaN: no tag


def test_ui_hint_only_for_a_store_that_exists_and_shell_quoted(tmp_path):
    missing = f"sqlite:///{tmp_path / 'never.db'}"
    assert ui_hint(missing, "alflow") is None
    assert not (tmp_path / "never.db").exists()  # asking did not create it
    uri = f"sqlite:///{tmp_path / 'my runs' / 'mlflow.db'}"
    (tmp_path / "my runs").mkdir()
    experiment_id = get_or_create_experiment(MlflowClient(uri), "alflow")
    assert ui_hint(uri, "other") is None  # no such experiment there
    hint = ui_hint(uri, "alflow")
    command, address = hint.splitlines()[1].split(": ", 1)[1].split("   then open ")
    assert shlex.split(command) == ["mlflow", "ui", "--backend-store-uri", uri, "--port", "5000"]
    assert shlex.split(address) == [experiment_url("http://127.0.0.1:5000", experiment_id)]
    assert shlex.split(address)[0].endswith(
        f"/#/experiments/{experiment_id}/runs?workflowType=machine_learning&compareRunsMode=CHART")
    assert ui_command("http://tracking:5000") is None  # a server is the UI: nothing to start
    assert ui_hint("http://127.0.0.1:9", "alflow") is None  # nothing answers there


def _finished_run(client, experiment_id, strategy, fold, value, seed="0"):
    run = client.create_run(experiment_id, run_name=records.run_name(strategy, fold, seed),
                            tags={records.TAG_STRATEGY: strategy, records.TAG_FOLD: str(fold), records.TAG_SEED: seed,
                                  records.TAG_DATASET: "synthetic", records.TAG_RUN_KIND: records.RUN_KIND_ACTIVE})
    for step, auroc in ((16, value - 0.1), (32, value)):
        client.log_metric(run.info.run_id, records.TEST_AUROC, auroc, step=step)
        client.log_metric(run.info.run_id, records.VAL_AUROC, auroc, step=step)
        client.log_metric(run.info.run_id, records.DEFECTS_LEFT, 48 - step, step=step)
    client.log_dict(run.info.run_id, {records.cutoff_metric("best", "test_auroc"): value}, records.SUMMARY_ARTIFACT)
    time.sleep(0.01)  # distinct end times
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def test_report_keeps_the_latest_finished_run_per_job_and_says_how_many_it_dropped(tmp_path, tracking_uri, capsys):
    client = MlflowClient(tracking_uri)
    exp = get_or_create_experiment(client, "alflow")
    _finished_run(client, exp, "random", 0, 0.6)
    latest = _finished_run(client, exp, "random", 0, 0.8)  # the sweep rerun
    other = _finished_run(client, exp, "random", 1, 0.7)
    loaded = load_runs(client, ["alflow"])
    assert sorted(r.run_id for r in loaded.runs) == sorted([latest, other]) and loaded.dropped == 1
    assert next(r for r in loaded.runs if r.fold == "0").metrics[records.cutoff_metric("best", "test_auroc")] == 0.8

    out = tmp_path / "rep"
    report_main(["--tracking-uri", tracking_uri, "--out", str(out)])
    printed = capsys.readouterr().out
    assert "2 runs, one per dataset x strategy x fold x seed (the latest finished); 1 older finished run(s)" in printed
    assert (out / "figure_synthetic.png").exists()
    # the report's run is in its own experiment, out of the jobs' list
    assert {r.info.run_name for r in client.search_runs([exp])} == {"random fold0 seed0", "random fold1 seed0"}
    reports = client.get_experiment_by_name("alflow" + records.REPORTS_EXPERIMENT_SUFFIX)
    assert [r.info.run_name for r in client.search_runs([reports.experiment_id])] == ["report"]
    # a second report never overwrites the first
    with pytest.raises(SystemExit, match="already holds a report"):
        report_main(["--tracking-uri", tracking_uri, "--out", str(out)])


def test_default_report_folders_are_new_each_time(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = fresh_folder(None)
    first.mkdir(parents=True)
    second = fresh_folder(None)
    assert first.parent == second.parent == tmp_path.joinpath("reports").relative_to(tmp_path) and first != second


def _run(strategy, fold, curve, knee=None):
    steps = [16 * (i + 1) for i in range(len(curve))]
    metrics = {} if knee is None else {records.cutoff_metric("knee", "n_labeled"): float(knee),
                                       records.cutoff_metric("knee", "found"): 1.0}
    return RunData(run_id=f"{strategy}{fold}", experiment_id="1", dataset="d", strategy=strategy, fold=str(fold),
                   seed="0", kind=records.RUN_KIND_ACTIVE, pool_size=64, metrics=metrics,
                   curves={records.TEST_AUROC: list(zip(steps, curve)), records.VAL_AUROC: list(zip(steps, curve)),
                           records.DEFECTS_LEFT: list(zip(steps, [12.0, 6.0, 3.0, 2.0][:len(curve)]))})


def test_band_is_mean_and_std_over_folds_at_each_step():
    x, mean, std, count = band([_run("random", 0, [0.6, 0.7]), _run("random", 1, [0.8, math.nan])],
                               records.TEST_AUROC)
    assert x.tolist() == [16, 32] and count.tolist() == [2, 1]
    assert mean.tolist() == pytest.approx([0.7, 0.7]) and std.tolist() == pytest.approx([0.1, 0.0])


def test_auroc_axis_fits_the_data():
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    _fit_auroc_axis(ax, [0.2], [0.55])  # below the old fixed 0.3 floor
    low, high = ax.get_ylim()
    assert low < 0.2 and 0.55 < high < 0.6
    _fit_auroc_axis(ax, [0.9], [0.999])
    assert ax.get_ylim()[1] == 1.0
    plt.close(fig)


def test_figure_overlays_the_strategies_and_marks_each_folds_knee(tmp_path):
    runs = [_run("random", 0, [0.6, 0.7, 0.72], knee=32), _run("random", 1, [0.5, 0.6, 0.7], knee=48),
            _run("uncertainty", 0, [0.6, 0.8, 0.85], knee=32)]
    path = dataset_figure("d", runs, tmp_path)
    import matplotlib.image

    assert path.name == "figure_d.png" and matplotlib.image.imread(path).shape[0] > 300


@pytest.mark.parametrize("override,says", [
    ("fold.index=10", "fold.index must be an integer in [0, 4] (fold.k=5), got 10"),
    ("al.batch_size=0", "al.batch_size must be an integer >= 1, got 0"),
])
def test_config_errors_end_in_one_clean_line(tmp_path, override, says):
    proc = run_alflow(["experiment=smoke", override, f"tracking.uri=sqlite:///{tmp_path / 'm.db'}"], cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f"alflow: config error: {says}"
    assert "Compare the strategies' AUC curves" not in proc.stdout  # no hint for a job that did not run


def test_help_says_what_alflow_is_and_how_to_run_the_default_sweep(tmp_path):
    proc = run_alflow(["--help"], cwd=tmp_path)
    assert proc.returncode == 0
    assert "active learning" in proc.stdout and "./multirun.sh" in proc.stdout
