"""``python -m alflow.report``: the paper's tables and figures from the runs in an MLflow store.

    python -m alflow.report --tracking-uri sqlite:///mlflow.db --out report/

Needs no torch: it reads ``alflow.records`` names and MLflow, nothing of the loop.
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import yaml
from mlflow.tracking import MlflowClient

from alflow.records import TAG_SUMMARY
from alflow.report.figures import figures
from alflow.report.runs import load_runs
from alflow.report.tables import TABLES
from alflow.report.write import to_markdown, write_table
from alflow.tracking.store import resolve_uri

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
                 log_summary: bool = True) -> tuple[dict[str, list], list]:
    """Write every table (CSV + Markdown) and figure into ``out``; log them to a summary run per experiment.
    Returns the tables' rows by name and the runs they were built from."""
    client = MlflowClient(tracking_uri=tracking_uri)
    runs = load_runs(client, experiments)
    if not runs:
        raise SystemExit(f"no finished alflow runs at {tracking_uri}"
                         + (f" in experiment(s) {experiments}" if experiments else ""))
    out.mkdir(parents=True, exist_ok=True)
    tables = {name: build(runs) for name, build in TABLES.items()}
    files = [p for name, rows in tables.items() for p in write_table(name, rows, out)]
    files += figures(runs, out)
    if log_summary:
        by_experiment = defaultdict(list)
        for run in runs:
            by_experiment[run.experiment_id].append(run)
        for experiment_id in by_experiment:
            summary = client.create_run(experiment_id, run_name="report",
                                        tags={TAG_SUMMARY: "true", "runs": str(len(by_experiment[experiment_id]))})
            for path in files:
                client.log_artifact(summary.info.run_id, str(path))
            client.set_terminated(summary.info.run_id)
    return tables, runs


def health_summary(runs: list) -> str:
    """The sweep's learner health in plain words: which jobs look untrained and why ("" when all are ok)."""
    sick = [r for r in runs if r.health != "ok"]
    if not sick:
        return ""
    lines = [f"Health: {len(sick)} of {len(runs)} jobs look untrained; their curves say little about the strategies."]
    lines += [f"  {r.dataset} {r.strategy} fold {r.fold} seed {r.seed}: {r.health}" for r in sick]
    lines.append("  Each job's log says which settings to change (README, \"How a round learns\").")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="alflow-report", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tracking-uri", default=None,
                    help="MLflow store (default: tracking.uri of conf/tracking/mlflow.yaml, in the current folder)")
    ap.add_argument("--experiment", action="append", help="experiment name (repeatable; default: all)")
    ap.add_argument("--out", default="report", help="output folder (default: %(default)s)")
    ap.add_argument("--no-summary-run", action="store_true", help="do not log the files to a summary run")
    args = ap.parse_args(argv)
    uri = resolve_uri(args.tracking_uri or configured_uri())
    out = Path(args.out)
    tables, runs = build_report(uri, out, args.experiment, log_summary=not args.no_summary_run)
    print("Table 1 — test AUROC, incremental vs batch learning (mean ± std over folds):\n")
    print(to_markdown("table1", tables["table1"]))
    print(f"Tables and figures written to {out.resolve()}/ and logged to a 'report' run in MLflow.")
    health = health_summary(runs)
    if health:
        print("\n" + health)


if __name__ == "__main__":
    sys.exit(main())
