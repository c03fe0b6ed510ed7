"""Read finished alflow runs back from an MLflow store: one per job, the latest."""
from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mlflow.tracking import MlflowClient

from alflow.records import (
    CURVE_METRICS, RUN_KIND_ACTIVE, RUN_KIND_FULL_POOL, SUMMARY_ARTIFACT, TAG_DATASET, TAG_FOLD,
    TAG_HEALTH, TAG_POOL_SIZE, TAG_RUN_KIND, TAG_SEED,
    TAG_STRATEGY, TAG_SUMMARY,
)

LEGACY_FULL_POOL_STRATEGY = "upper_bound"  # runs logged before the run_kind tag: known by the strategy's name


@dataclass
class RunData:
    """One finished job as the report needs it: tags, end-of-run metrics and the learning curves
    (``CURVE_METRICS``: (step = images labeled, value) pairs, in step order)."""

    run_id: str
    experiment_id: str
    dataset: str
    strategy: str
    fold: str
    seed: str
    kind: str  # RUN_KIND_FULL_POOL for the reference runs, else RUN_KIND_ACTIVE
    pool_size: int
    metrics: dict[str, float]
    health: str = "ok"  # the learner health check's findings (TAG_HEALTH), "ok" when healthy or not checked
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)


def _summary(client: MlflowClient, run) -> dict[str, float]:
    """The run's end-of-run numbers: its ``summary.json`` artifact (NaN for null), or, for runs logged
    before that artifact existed, its metrics (they were logged at step 0)."""
    if not any(a.path == SUMMARY_ARTIFACT for a in client.list_artifacts(run.info.run_id)):
        return dict(run.data.metrics)
    with tempfile.TemporaryDirectory() as tmp:
        path = client.download_artifacts(run.info.run_id, SUMMARY_ARTIFACT, tmp)
        numbers = json.loads(Path(path).read_text())
    return {k: math.nan if v is None else float(v) for k, v in numbers.items()}


@dataclass
class LoadedRuns:
    """What ``load_runs`` kept (one run per dataset x strategy x fold x seed: the latest finished) and
    how many older finished runs of the same job it dropped."""

    runs: list[RunData]
    dropped: int


def load_runs(client: MlflowClient, experiment_names: list[str] | None = None) -> LoadedRuns:
    """The FINISHED alflow job runs (not report runs) of the named experiments, or of all: for each
    dataset x strategy x fold x seed (and run kind) only the latest finished one, so a rerun sweep is
    not counted twice. ValueError naming ``--experiment`` for an experiment the store does not have."""
    if experiment_names:
        experiments = []
        for name in experiment_names:
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise ValueError(f"--experiment {name!r}: no such experiment at {client.tracking_uri}")
            experiments.append(exp)
    else:
        experiments = client.search_experiments()
    latest: dict[tuple, object] = {}
    found = 0
    for exp in experiments:
        # newest first: the first run seen of a job is the one kept
        for run in client.search_runs([exp.experiment_id], filter_string="attributes.status = 'FINISHED'",
                                      order_by=["attributes.end_time DESC"], max_results=50_000):
            tags = run.data.tags
            if tags.get(TAG_SUMMARY) == "true" or TAG_STRATEGY not in tags:
                continue
            found += 1
            key = (exp.experiment_id, tags.get(TAG_DATASET, "?"), tags[TAG_STRATEGY], tags.get(TAG_FOLD, "?"),
                   tags.get(TAG_SEED, "0"), _kind(tags))
            latest.setdefault(key, run)
    runs: list[RunData] = []
    for (experiment_id, dataset, strategy, fold, seed, kind), run in latest.items():
        tags = run.data.tags
        data = RunData(
            run_id=run.info.run_id, experiment_id=experiment_id, dataset=dataset, strategy=strategy, fold=fold,
            seed=seed, kind=kind, pool_size=int(tags.get(TAG_POOL_SIZE, "0") or 0),
            metrics=_summary(client, run), health=tags.get(TAG_HEALTH, "ok"),
        )
        for name in CURVE_METRICS:
            data.curves[name] = sorted((m.step, m.value) for m in client.get_metric_history(data.run_id, name))
        runs.append(data)
    runs.sort(key=lambda r: (r.experiment_id, r.dataset, r.strategy, r.fold, r.seed))
    return LoadedRuns(runs=runs, dropped=found - len(runs))


def _kind(tags: dict[str, str]) -> str:
    if TAG_RUN_KIND in tags:
        return tags[TAG_RUN_KIND]
    return RUN_KIND_FULL_POOL if tags[TAG_STRATEGY] == LEGACY_FULL_POOL_STRATEGY else RUN_KIND_ACTIVE
