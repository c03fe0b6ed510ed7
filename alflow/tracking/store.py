"""Where runs go: tracking URIs and experiments, made safe for the first job of a sweep."""
from __future__ import annotations

import shlex
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from alflow.records import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG


def resolve_uri(uri: str, base: str | Path | None = None) -> str:
    """Make a relative ``sqlite:///file`` or plain path absolute, so every job and the UI hint agree."""
    base = Path(base) if base else Path.cwd()
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str((base / uri[len("sqlite:///"):]).resolve())
    if "://" not in uri:
        return (base / uri).resolve().as_uri()
    return uri


UI_PORT = 5000  # ``mlflow ui``'s own default port
# MLflow 3.17's UI opens every experiment in its GenAI view (an empty traces overview) unless the link
# asks for the model-training view; compareRunsMode=CHART opens the runs' charts.
RUNS_VIEW = "runs?workflowType=machine_learning&compareRunsMode=CHART"


def experiment_url(server: str, experiment_id: str) -> str:
    """The address that opens an experiment's runs in the MLflow UI's model-training chart view:
    ``http://127.0.0.1:5000/#/experiments/1/runs?workflowType=machine_learning&compareRunsMode=CHART``."""
    return f"{server.rstrip('/')}/#/experiments/{experiment_id}/{RUNS_VIEW}"


def ui_command(uri: str, port: int = UI_PORT) -> str | None:
    """The command that starts the MLflow UI on a store on disk, shell-quoted so a path with spaces or
    quotes pastes as it is; None for an ``http(s)://`` tracking server, which serves the UI itself."""
    if uri.startswith(("http://", "https://")):
        return None
    return f"mlflow ui --backend-store-uri {shlex.quote(uri)} --port {port}"


def ui_address(uri: str, experiment_id: str, port: int = UI_PORT) -> str:
    """Where the experiment's runs open: on the tracking server itself, or on the local ``mlflow ui``."""
    server = uri if uri.startswith(("http://", "https://")) else f"http://127.0.0.1:{port}"
    return experiment_url(server, experiment_id)


def store_exists(uri: str) -> bool:
    """Whether anything was written to ``uri``: the SQLite file or the ``file:`` folder exists, or the
    tracking server answers. A store that was never created gets no "open the UI" hint."""
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///"):]).is_file()
    if uri.startswith("file:"):
        return Path(urllib.parse.urlparse(uri).path).exists()
    try:
        check_reachable(uri)
    except ConnectionError:
        return False
    return True


def ui_hint(uri: str, experiment: str) -> str | None:
    """The lines that tell a user where the runs are and how to open them in the MLflow UI, or None
    when the store or the experiment does not exist (a job that failed before writing anything)."""
    if not store_exists(uri):
        return None
    try:
        found = MlflowClient(tracking_uri=uri).get_experiment_by_name(experiment)
    except MlflowException:
        return None
    if found is None:
        return None
    command = ui_command(uri)
    address = shlex.quote(ui_address(uri, found.experiment_id))  # '&' and '#' would split a pasted line
    how = f"{command}   then open {address}" if command else f"open {address}"
    return f"Runs are in MLflow experiment {experiment!r} at {uri}\nCompare the strategies' AUC curves: {how}"


def get_or_create_experiment(client: MlflowClient, name: str, attempts: int = 5) -> str:
    """Experiment id for ``name``, created as a model-training experiment (``EXPERIMENT_KIND_TAG``; set on
    an existing experiment that lacks it); tolerates a parallel job creating it at the same moment."""
    for attempt in range(attempts):
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            if experiment.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
                client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
            return experiment.experiment_id
        try:
            return client.create_experiment(name, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
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
