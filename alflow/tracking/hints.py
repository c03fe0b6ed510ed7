"""Hydra callback around a sweep: prepare the store once, then report failures and how to open the UI."""
from __future__ import annotations

import fcntl
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig

from alflow.tracking.store import check_reachable, get_or_create_experiment, resolve_uri, ui_command

FAILED_JOBS = "failed_jobs.txt"


def record_failed_job(sweep_dir: str, job: str, error: BaseException) -> None:
    """Append a failed job to the sweep's list (jobs may run in parallel processes: lock the file)."""
    path = Path(sweep_dir) / FAILED_JOBS
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(f"{job or '(no overrides)'}: {type(error).__name__}: {error}\n".replace("\n", " ").strip() + "\n")


class MlflowUiHint(Callback):
    def __init__(self, uri: str = "", experiment: str = "alflow"):
        self.uri, self.experiment = uri, experiment

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Parallel jobs on a fresh SQLite store would race to create its schema and the experiment:
        # do both once, here, before any job starts. A dead server fails the sweep at once.
        uri = resolve_uri(self.uri)
        check_reachable(uri)
        get_or_create_experiment(MlflowClient(tracking_uri=uri), self.experiment)

    def _print(self) -> None:
        uri = resolve_uri(self.uri)
        print(f"\nRuns are in MLflow experiment {self.experiment!r} at {uri}\n"
              f"Compare the strategies' AUC curves: {ui_command(uri)}  (then open http://127.0.0.1:5000)",
              flush=True)

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._print()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._print()
        failed = Path(config.hydra.sweep.dir) / FAILED_JOBS
        if failed.exists():
            lines = failed.read_text().strip().splitlines()
            print(f"{len(lines)} job(s) of the sweep failed (their MLflow runs are FAILED; rerun them to resume):\n  "
                  + "\n  ".join(lines), file=sys.stderr, flush=True)
            # Hydra turns a callback's exceptions into warnings; the sweep's exit status must say it.
            raise SystemExit(1)
