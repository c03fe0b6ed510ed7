"""Read finished alflow runs back from an MLflow store."""
from __future__ import annotations

from dataclasses import dataclass, field

from mlflow.tracking import MlflowClient

from alflow.records import (
    CURVE_METRICS, RUN_KIND_ACTIVE, RUN_KIND_FULL_POOL, TAG_DATASET, TAG_FOLD,
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


def load_runs(client: MlflowClient, experiment_names: list[str] | None = None) -> list[RunData]:
    """Every FINISHED alflow job run (not report runs) of the named experiments, or of all.
    ValueError naming ``--experiment`` for an experiment the store does not have."""
    if experiment_names:
        experiments = []
        for name in experiment_names:
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise ValueError(f"--experiment {name!r}: no such experiment at {client.tracking_uri}")
            experiments.append(exp)
    else:
        experiments = client.search_experiments()
    runs: list[RunData] = []
    for exp in experiments:
        for run in client.search_runs([exp.experiment_id], filter_string="attributes.status = 'FINISHED'",
                                      max_results=50_000):
            tags = run.data.tags
            if tags.get(TAG_SUMMARY) == "true" or TAG_STRATEGY not in tags:
                continue
            data = RunData(
                run_id=run.info.run_id, experiment_id=exp.experiment_id, dataset=tags.get(TAG_DATASET, "?"),
                strategy=tags[TAG_STRATEGY], fold=tags.get(TAG_FOLD, "?"), seed=tags.get(TAG_SEED, "0"),
                kind=_kind(tags), pool_size=int(tags.get(TAG_POOL_SIZE, "0") or 0), metrics=dict(run.data.metrics),
                health=tags.get(TAG_HEALTH, "ok"),
            )
            for name in CURVE_METRICS:
                data.curves[name] = sorted((m.step, m.value) for m in client.get_metric_history(data.run_id, name))
            runs.append(data)
    return runs


def _kind(tags: dict[str, str]) -> str:
    if TAG_RUN_KIND in tags:
        return tags[TAG_RUN_KIND]
    return RUN_KIND_FULL_POOL if tags[TAG_STRATEGY] == LEGACY_FULL_POOL_STRATEGY else RUN_KIND_ACTIVE
