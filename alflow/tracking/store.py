"""Where runs go: tracking URIs and experiments, made safe for the first job of a sweep."""
from __future__ import annotations

import shlex

import time
import urllib.error
import urllib.request
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

def resolve_uri(uri: str, base: str | Path | None = None) -> str:
    """Make a relative ``sqlite:///file`` or plain path absolute, so every job and the UI hint agree."""
    base = Path(base) if base else Path.cwd()
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str((base / uri[len("sqlite:///"):]).resolve())
    if "://" not in uri:
        return (base / uri).resolve().as_uri()
    return uri


def ui_command(uri: str) -> str:
    """The command (or the address) that opens the MLflow UI on ``uri``; shell-quoted, so a path with
    spaces pastes as it is."""
    if uri.startswith(("http://", "https://")):
        return f"open {uri} in a browser"
    return f"mlflow ui --backend-store-uri {shlex.quote(uri)}"


def get_or_create_experiment(client: MlflowClient, name: str, attempts: int = 5) -> str:
    """Experiment id for ``name``; tolerates a parallel job creating it at the same moment."""
    for attempt in range(attempts):
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        try:
            return client.create_experiment(name)
        except MlflowException:
            time.sleep(0.2 * (attempt + 1))  # another job won the race; read it back
    raise RuntimeError(f"could not get or create MLflow experiment {name!r} at {client.tracking_uri}")


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail fast on a tracking server that does not answer, instead of MLflow's minutes of retries."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as response:
            if response.status >= 400:
                raise ConnectionError(f"HTTP {response.status}")
    except (OSError, urllib.error.URLError, ConnectionError) as exc:
        raise ConnectionError(
            f"tracking.uri {uri} is unreachable ({exc}); start the MLflow server or fix the URI") from exc


def prepare_store(uri: str, experiment: str) -> str:
    """Before parallel jobs start: fail fast on a dead server, create the store's schema and the
    experiment once (parallel jobs on a fresh SQLite store would race to); returns the resolved URI."""
    uri = resolve_uri(uri)
    check_reachable(uri)
    get_or_create_experiment(MlflowClient(tracking_uri=uri), experiment)
    return uri
