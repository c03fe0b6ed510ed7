"""MLflow tracking: the store, one run per job, the UI hint."""
from alflow.tracking.run import ROUND_METRICS, SELECTION_COLUMNS, MlflowRun, flatten
from alflow.tracking.store import DEFAULT_URI, get_or_create_experiment, resolve_uri, ui_command

__all__ = ["ROUND_METRICS", "SELECTION_COLUMNS", "MlflowRun", "flatten", "DEFAULT_URI",
           "get_or_create_experiment", "resolve_uri", "ui_command"]
