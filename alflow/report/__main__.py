"""``python -m alflow.report``: the paper's tables and figures from the runs in an MLflow store.

    python -m alflow.report --tracking-uri sqlite:///mlflow.db --out report/

One run per dataset x strategy x fold x seed (the latest finished); a report never overwrites another.

Needs no torch: it reads ``alflow.records`` names and MLflow, nothing of the loop.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import yaml
from mlflow.tracking import MlflowClient

from alflow.records import REPORTS_EXPERIMENT_SUFFIX, TAG_SUMMARY
from alflow.report.figures import figures
from alflow.report.runs import LoadedRuns, load_runs
from alflow.report.tables import TABLES
from alflow.report.write import caption, to_markdown, write_table
from alflow.tracking.store import get_or_create_experiment, resolve_uri

# The tracking group's YAML is the one home of the default store; the report reads it from there.
TRACKING_CONF = Path(__file__).resolve().parents[2] / "conf" / "tracking" / "mlflow.yaml"


def configured_uri(path: Path = TRACKING_CONF) -> str:
    """``uri`` of the tracking config group (``conf/tracking/mlflow.yaml``); ValueError naming the file
    when it is missing or has no ``uri``."""
    try:
        uri = (yaml.safe_load(path.read_text()) or {}).get("uri")
    except OSError as exc:
        raise ValueError(f"cannot read the default store from {path}: {exc}; pass --tracking-uri") from exc
    if not uri:
        raise ValueError(f"{path} has no 'uri'; pass --tracking-uri")
    return str(uri)


def build_report(tracking_uri: str, out: Path, experiments: list[str] | None = None,
                 log_summary: bool = True) -> tuple[dict[str, list], LoadedRuns, list[str]]:
    """Write every table (CSV + Markdown) and figure into ``out``; log them to a run named ``report`` in
    ``<experiment>-reports`` per experiment (out of the jobs' list). Returns the tables' rows by name, the
    runs they were built from and the names of the experiments the report runs went to (sorted; empty
    without ``log_summary``). SystemExit when the store holds no finished alflow run."""
    client = MlflowClient(tracking_uri=tracking_uri)
    loaded = load_runs(client, experiments)
    runs = loaded.runs
    if not runs:
        raise SystemExit(f"no finished alflow runs at {tracking_uri}"
                         + (f" in experiment(s) {experiments}" if experiments else ""))
    out.mkdir(parents=True, exist_ok=True)
    tables = {name: build(runs) for name, build in TABLES.items()}
    files = [p for name, rows in tables.items() for p in write_table(name, rows, out)]
    files += figures(runs, out)
    logged_to = []
    if log_summary:
        by_experiment = defaultdict(list)
        for run in runs:
            by_experiment[run.experiment_id].append(run)
        for experiment_id, group in by_experiment.items():
            name = client.get_experiment(experiment_id).name + REPORTS_EXPERIMENT_SUFFIX
            logged_to.append(name)
            summary = client.create_run(get_or_create_experiment(client, name), run_name="report",
                                        tags={TAG_SUMMARY: "true", "runs": str(len(group)), "out": str(out.resolve())})
            for path in files:
                client.log_artifact(summary.info.run_id, str(path))
            client.set_terminated(summary.info.run_id)
    return tables, loaded, sorted(logged_to)


def fresh_folder(out: str | None, now: datetime | None = None) -> Path:
    """Where a report goes: ``out``, which must not already hold a report, or else a new
    ``reports/YYYY-MM-DD_HH-MM-SS`` folder. ValueError naming ``--out`` when it holds one: a report never
    overwrites another."""
    if out is None:
        stamp = (now or datetime.now()).strftime("%Y-%m-%d_%H-%M-%S")
        path = Path("reports") / stamp
        suffix = 1
        while path.exists():
            path = Path("reports") / f"{stamp}_{suffix}"
            suffix += 1
        return path
    path = Path(out)
    if path.is_dir() and any(path.glob("table*.csv")):
        raise ValueError(f"--out {out}: that folder already holds a report; pass a new folder (a report never "
                         "overwrites another)")
    return path


def health_summary(runs: list) -> str:
    """The sweep's learner health in plain words: which jobs look untrained and why ("" when all are ok)."""
    sick = [r for r in runs if r.health != "ok"]
    if not sick:
        return ""
    lines = [f"Health: {len(sick)} of {len(runs)} jobs look untrained; their curves say little about the strategies."]
    lines += [f"  {r.dataset} {r.strategy} fold {r.fold} seed {r.seed}: {r.health}" for r in sick]
    lines.append("  Each job's log says which settings to change (docs/design.md, \"How a round learns\").")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="alflow-report", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tracking-uri", default=None,
                    help="MLflow store (default: tracking.uri of conf/tracking/mlflow.yaml, in the current folder)")
    ap.add_argument("--experiment", action="append", help="experiment name (repeatable; default: all)")
    ap.add_argument("--out", default=None,
                    help="output folder, which must not hold a report yet (default: a new reports/DATE_TIME/)")
    ap.add_argument("--no-summary-run", action="store_true", help="do not log the files to a summary run")
    args = ap.parse_args(argv)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one summary.json per run: no bars
    try:
        out = fresh_folder(args.out)
        uri = resolve_uri(args.tracking_uri or configured_uri())
        tables, loaded, logged_to = build_report(uri, out, args.experiment, log_summary=not args.no_summary_run)
    except ValueError as exc:
        raise SystemExit(f"alflow-report: {exc}") from None
    runs = loaded.runs
    print(f"{len(runs)} runs, one per dataset x strategy x fold x seed (the latest finished)"
          + (f"; {loaded.dropped} older finished run(s) of the same jobs dropped" if loaded.dropped else "") + ".\n")
    print(caption("table1") + "\n")
    print(to_markdown("table1", tables["table1"]))
    if tables.get("stop_at_recall"):  # the stopping question in one table: which rule buys 95 % recall cheapest
        print(caption("stop_at_recall") + "\n")
        print(to_markdown("stop_at_recall", tables["stop_at_recall"]))
    where = f" and logged to a 'report' run in the experiment(s) {', '.join(map(repr, logged_to))}" if logged_to else ""
    print(f"Tables and figures written to {out.resolve()}/{where}.")
    health = health_summary(runs)
    if health:
        print("\n" + health)


if __name__ == "__main__":
    sys.exit(main())
