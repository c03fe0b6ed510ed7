"""One MLflow run per job: params, per-round metrics at step = images labeled, the selection log."""
from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Mapping
from pathlib import Path

from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from alflow.records import (
    DEFECTS_FOUND, ROUND_METRICS, SELECTION_COLUMNS, SUMMARY_ARTIFACT, SUMMARY_TAGS, TAG_ERROR, RoundRecord,
    SelectionRow,
)
from alflow.tracking.store import check_reachable, get_or_create_experiment, resolve_uri

MAX_PARAM_LENGTH = 500  # MLflow's portable limit across stores


def flatten(config: Mapping, prefix: str = "") -> dict[str, str]:
    """A nested config as MLflow params: ``{"al.batch_size": "32", ...}``, values cut to 500 characters."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = str(value)[:MAX_PARAM_LENGTH]
    return flat


class MlflowRun:
    """One job's MLflow run; listens to the loop, so every round is on disk and in MLflow before the
    next one starts. ``uri`` and ``experiment`` come from the ``tracking`` config group.
    ConnectionError naming the URI for a tracking server that does not answer."""

    def __init__(self, uri: str, experiment: str, run_name: str, out_dir: str | Path,
                 tags: Mapping[str, str] | None = None, run_id: str | None = None):
        """``run_id``: continue that run (a resumed job) instead of creating one; ``out_dir``: where
        ``selection.csv`` is written before it is logged."""
        self.uri = resolve_uri(uri)
        check_reachable(self.uri)
        self.client = MlflowClient(tracking_uri=self.uri)
        self.experiment_id = get_or_create_experiment(self.client, experiment)
        self.resumed = run_id is not None and self._reopen(run_id)
        if not self.resumed:
            run_id = self.client.create_run(self.experiment_id, run_name=run_name, tags=dict(tags or {})).info.run_id
        self.run_id = run_id
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.selection_path = self.out_dir / "selection.csv"
        self._write_selection([])

    def _reopen(self, run_id: str) -> bool:
        try:
            self.client.get_run(run_id)
        except MlflowException:
            return False  # the run is gone from this store: start a new one
        self.client.update_run(run_id, status="RUNNING")
        return True

    def _write_selection(self, rows: list[SelectionRow], append: bool = False) -> None:
        """Rewrite ``selection.csv`` with its header and ``rows``, or append ``rows`` to it."""
        with self.selection_path.open("a" if append else "w", newline="") as f:
            writer = csv.writer(f)
            if not append:
                writer.writerow(SELECTION_COLUMNS)
            for row in rows:
                writer.writerow([getattr(row, c) for c in SELECTION_COLUMNS])

    def sync(self, history: list[RoundRecord], rows: list[SelectionRow]) -> int:
        """After a resume: log the committed rounds this run does not have yet (a job killed between
        committing a round and logging it); returns how many. Steps already logged are not logged again."""
        # pool/defects_found is logged every round (it needs no simulation), at step = images labeled
        logged = {m.step for m in self.client.get_metric_history(self.run_id, DEFECTS_FOUND)}
        missing = [r for r in history if r.n_labeled not in logged]
        for record in missing:
            self.client.log_batch(self.run_id, metrics=self._round_metrics(record))
        self._write_selection(rows)
        self.log_artifact(self.selection_path)
        return len(missing)

    def _round_metrics(self, record: RoundRecord) -> list[Metric]:
        now = int(time.time() * 1000)  # a real timestamp: 0 would show as 1970 in the UI
        values = {attr: getattr(record, attr) for attr in ROUND_METRICS.values()}  # not asdict: no deep copies
        return [Metric(name, float(values[attr]), now, record.n_labeled)
                for name, attr in ROUND_METRICS.items() if not math.isnan(float(values[attr]))]

    def log_params(self, params: Mapping[str, str]) -> None:
        items = [Param(k, v) for k, v in params.items()]
        for start in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=items[start:start + 100])

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_artifact(self, path: str | Path) -> None:
        self.client.log_artifact(self.run_id, str(path))

    def log_json(self, data: dict, name: str) -> None:
        self.client.log_dict(self.run_id, data, name)

    def on_round(self, record: RoundRecord, rows: list[SelectionRow]) -> None:
        self._write_selection(rows, append=True)
        self.client.log_batch(self.run_id, metrics=self._round_metrics(record))
        self.log_artifact(self.selection_path)
        if record.gallery:
            # Stored once: in the run's artifacts (where the UI shows it), not also in the output folder.
            self.client.log_artifact(self.run_id, record.gallery, artifact_path="gallery")
            Path(record.gallery).unlink(missing_ok=True)

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Metrics at ``step`` (e.g. images labeled); NaN values are left out."""
        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step) for k, v in metrics.items() if not math.isnan(float(v))]
        if items:
            self.client.log_batch(self.run_id, metrics=items)

    def log_summary(self, numbers: Mapping[str, float]) -> None:
        """End-of-run numbers (data, cut-offs, stopping points, batch retrain; ``alflow.records`` names):
        written to ``summary.json`` in the output folder and logged as that artifact, with the key ones
        (``SUMMARY_TAGS``) also as run tags. Not metrics: the chart view would draw each as a bar chart
        before the learning curves. NaN is written as null (JSON has no NaN)."""
        summary = {k: (None if math.isnan(float(v)) else float(v)) for k, v in sorted(numbers.items())}
        path = self.out_dir / SUMMARY_ARTIFACT
        path.write_text(json.dumps(summary, indent=1) + "\n")
        self.log_artifact(path)
        tags = {k: f"{summary[k]:.4g}" for k in SUMMARY_TAGS if summary.get(k) is not None}
        if tags:
            self.set_tags(tags)

    def finish(self, status: str = "FINISHED", error: str | None = None) -> None:
        if error:
            self.set_tags({TAG_ERROR: error[:5000]})
        self.client.set_terminated(self.run_id, status=status)
