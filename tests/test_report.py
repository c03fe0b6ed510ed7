"""The report on a real small sweep: its numbers must equal what the runs logged."""
import csv
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from conftest import run_alflow
from mlflow.tracking import MlflowClient

from alflow.records import COMPARED_CRITERIA
from alflow.report.tables import area_under_curve, mean_std

STRATEGIES = ("gradcam_avg", "random", "uncertainty")


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def report(smoke_sweep):
    out = smoke_sweep.cwd / "report"
    proc = run_alflow(["--tracking-uri", smoke_sweep.uri, "--out", str(out)], cwd=smoke_sweep.cwd,
                      module="alflow.report")
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = MlflowClient(smoke_sweep.uri)
    exp = client.get_experiment_by_name("alflow")
    runs = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("alflow.summary") != "true"]
    for run in runs:  # the end-of-run numbers each job logged, as the artifact summary.json
        path = client.download_artifacts(run.info.run_id, "summary.json", str(out.parent / run.info.run_id))
        SUMMARIES[run.info.run_id] = json.loads(Path(path).read_text())
    return out, proc.stdout, client, runs


SUMMARIES: dict[str, dict] = {}


def by_strategy(runs, metric):
    values = defaultdict(list)
    for run in runs:
        number = SUMMARIES[run.info.run_id].get(metric)
        if number is not None:
            values[run.data.tags["strategy"]].append(number)
    return values


@pytest.mark.slow
def test_report_writes_every_table_and_a_figure(report):
    out, stdout, _, _ = report
    strategies = {run.data.tags["strategy"] for run in report[3]}
    for name in ("table1", "table2", "table3", "stopping", "compare", "strategies"):
        rows = (out / f"{name}.csv").read_text().strip().splitlines()
        assert len(rows) >= 2, f"{name}.csv holds no row below its header"  # a header alone is no table
        assert len((out / f"{name}.md").read_text().strip().splitlines()) >= 3, name  # header, rule, a row
    table1 = (out / "table1.csv").read_text()
    assert all(strategy in table1 for strategy in strategies), (strategies, table1)
    assert list(out.glob("*.png"))
    assert "Table 1" in stdout and "| synthetic | incremental |" in stdout


@pytest.mark.slow
def test_table1_equals_the_logged_metrics(report):
    out, _, _, runs = report
    rows = read_csv(out / "table1.csv")
    incremental = by_strategy(runs, "cutoff/best/test_auroc")
    batch = by_strategy(runs, "batch/test_auroc")
    for strategy in STRATEGIES:
        for learning, logged in (("incremental", incremental), ("batch", batch)):
            row = next(r for r in rows if r["strategy"] == strategy and r["learning"] == learning)
            mean, std, n = mean_std(logged[strategy])
            assert n == int(row["n"]) == 2
            assert math.isclose(float(row["mean"]), mean, abs_tol=1e-12)
            assert math.isclose(float(row["std"]), std, abs_tol=1e-12)
    bound = next(r for r in rows if r["strategy"] == "upper_bound")
    assert int(bound["n"]) == 2 and 0.0 <= float(bound["mean"]) <= 1.0


@pytest.mark.slow
def test_tables2_and_3_equal_the_logged_cutoffs(report):
    out, _, _, runs = report
    for table, key in (("table2", "n_labeled"), ("table3", "test_auroc")):
        rows = read_csv(out / f"{table}.csv")
        assert {r["cutoff"] for r in rows} == {"best", "knee", "best_until_knee"}
        for row in rows:
            logged = by_strategy(runs, f"cutoff/{row['cutoff']}/{key}")[row["strategy"]]
            assert math.isclose(float(row["mean"]), float(np.mean(logged)), abs_tol=1e-12)


@pytest.mark.slow
def test_stopping_and_compare_tables(report):
    out, _, client, runs = report
    stopping = read_csv(out / "stopping.csv")
    assert {r["criterion"] for r in stopping} == set(COMPARED_CRITERIA)
    for row in stopping:
        logged = by_strategy(runs, f"stop/{row['criterion']}/labels_spent")[row["strategy"]]
        if row["measure"] == "labels_spent":
            assert math.isclose(float(row["mean"]), float(np.mean(logged)), abs_tol=1e-9)
        if row["measure"] == "pool_saved":
            assert math.isclose(float(row["mean"]), float(np.mean([1 - v / 72 for v in logged])), abs_tol=1e-9)
    compare = read_csv(out / "compare.csv")
    for row in compare:
        areas = [area_under_curve([(m.step, m.value) for m in client.get_metric_history(r.info.run_id, "test/auroc")])
                 for r in runs if r.data.tags["strategy"] == row["strategy"]]
        assert math.isclose(float(row["mean"]), float(np.mean(areas)), abs_tol=1e-12)
    assert next(r for r in compare if r["strategy"] == "random")["wilcoxon_p"] in ("", "nan")


@pytest.mark.slow
def test_report_is_logged_to_a_summary_run(report):
    _, _, client, _ = report
    jobs = client.get_experiment_by_name("alflow")
    assert not [r for r in client.search_runs([jobs.experiment_id]) if r.data.tags.get("alflow.summary") == "true"]
    exp = client.get_experiment_by_name("alflow-reports")  # out of the jobs' list
    summaries = client.search_runs([exp.experiment_id])
    assert len(summaries) == 1 and summaries[0].data.tags["alflow.summary"] == "true"
    names = {a.path for a in client.list_artifacts(summaries[0].info.run_id)}
    assert {"table1.csv", "table1.md", "stopping.csv", "compare.csv"} <= names
    assert any(n.endswith(".png") for n in names)


def test_area_under_curve_and_mean_std():
    assert area_under_curve([(0, 0.5), (10, 1.0)]) == pytest.approx(0.75)
    assert area_under_curve([(0, 0.5), (10, 0.5), (30, 1.0)]) == pytest.approx((5 + 15) / 30)
    assert math.isnan(area_under_curve([]))
    assert mean_std([0.5, float("nan"), 0.7]) == pytest.approx((0.6, math.sqrt(0.02), 2))


def test_report_on_an_empty_store_says_so(tmp_path):
    proc = run_alflow(["--tracking-uri", f"sqlite:///{tmp_path / 'empty.db'}", "--out", str(tmp_path / "r")],
                      cwd=tmp_path, module="alflow.report")
    assert proc.returncode != 0 and "no finished alflow runs" in proc.stderr


def test_one_value_has_no_spread_and_prints_n_a():
    import math

    from alflow.report.tables import mean_std
    from alflow.report.write import _mean_std

    mean, std, n = mean_std([0.8123])
    assert mean == 0.8123 and n == 1 and math.isnan(std)
    assert _mean_std({"mean": mean, "std": std, "n": n}, 4) == "0.8123 ± n/a"
    assert _mean_std({"mean": 0.5, "std": 0.25, "n": 2}, 2) == "0.50 ± 0.25"
