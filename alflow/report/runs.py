"""Read finished alflow runs back from an MLflow store."""
from __future__ import annotations

from dataclasses import dataclass, field

from mlflow.tracking import MlflowClient

SUMMARY_TAG = "alflow.summary"
CURVE_METRICS = ("val/auroc", "test/auroc", "pool/defects_left")


@dataclass
class RunData:
    run_id: str
    experiment_id: str
    dataset: str
    strategy: str
    fold: str
    seed: str
    kind: str  # "upper_bound" for the reference runs, else "al"
    pool_size: int
    metrics: dict[str, float]
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)


def load_runs(client: MlflowClient, experiment_names: list[str] | None = None) -> list[RunData]:
    """Every FINISHED alflow job run (not report runs) of the named experiments, or of all."""
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
            if tags.get(SUMMARY_TAG) == "true" or "strategy" not in tags:
                continue
            data = RunData(
                run_id=run.info.run_id, experiment_id=exp.experiment_id, dataset=tags.get("dataset", "?"),
                strategy=tags["strategy"], fold=tags.get("fold", "?"), seed=tags.get("seed", "0"),
                kind="upper_bound" if tags["strategy"] == "upper_bound" else "al",
                pool_size=int(tags.get("pool_size", "0") or 0), metrics=dict(run.data.metrics),
            )
            for name in CURVE_METRICS:
                data.curves[name] = sorted((m.step, m.value) for m in client.get_metric_history(data.run_id, name))
            runs.append(data)
    return runs
