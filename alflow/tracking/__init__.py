"""MLflow tracking: the store, one run per job. Reads ``alflow.records``, never the loop."""
from alflow.tracking.run import MlflowRun, flatten
from alflow.tracking.store import get_or_create_experiment, prepare_store, resolve_uri, ui_address, ui_command, ui_hint

__all__ = ["MlflowRun", "flatten", "get_or_create_experiment", "prepare_store", "resolve_uri", "ui_address",
           "ui_command", "ui_hint"]
