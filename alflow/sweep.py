"""Hydra callback around a sweep (an entry-point piece: Hydra stays out of the modules below).

Before the jobs: prepare the MLflow store once. After them: say once how to open the UI (only when
the store exists), write the store the sweep used and the sweep's folder to ``$ALFLOW_STORE_FILE``
(``multirun.sh`` reports on it, into that folder), list failed jobs and make the sweep's exit status
say that some failed.
"""
from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path
from typing import Any

from hydra.core.utils import JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from alflow.tracking import prepare_store, resolve_uri, ui_hint

FAILED_JOBS = "failed_jobs.txt"
STORE_FILE_ENV = "ALFLOW_STORE_FILE"


def record_failed_job(sweep_dir: str, job: str, error: BaseException) -> None:
    """Append a failed job to the sweep's list (jobs may run in parallel processes: lock the file)."""
    path = Path(sweep_dir) / FAILED_JOBS
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(f"{job or '(no overrides)'}: {type(error).__name__}: {error}\n".replace("\n", " ").strip() + "\n")


class SweepStoreCallback(Callback):
    """``uri`` and ``experiment``: the ``tracking`` group's values (``conf/config.yaml`` passes them)."""

    def __init__(self, uri: str, experiment: str):
        self.uri, self.experiment = uri, experiment

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        prepare_store(self.uri, self.experiment)
        # A rerun into the same sweep folder (hydra.sweep.dir) resumes the jobs that failed there before:
        # their old failures are not this sweep's.
        (Path(config.hydra.sweep.dir) / FAILED_JOBS).unlink(missing_ok=True)

    def _announce(self, sweep_dir: str = "") -> None:
        """Once per job or sweep: where the runs are and how to open them, only if the store exists."""
        uri = resolve_uri(self.uri)
        hint = ui_hint(uri, self.experiment)
        if hint:
            print("\n" + hint, flush=True)
        store_file = os.environ.get(STORE_FILE_ENV)
        if store_file:  # the store as the sweep resolved it (overlays and YAML included), and the sweep's folder
            Path(store_file).write_text(f"{uri}\n{self.experiment}\n{sweep_dir}\n")

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        # A single job (not a sweep). Hydra calls this before it raises a failed job's error: no hint then.
        job_return = kwargs.get("job_return")
        if job_return is None or job_return.status == JobStatus.COMPLETED:
            self._announce()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._announce(str(Path(config.hydra.sweep.dir).resolve()))
        failed = Path(config.hydra.sweep.dir) / FAILED_JOBS
        if failed.exists():
            lines = failed.read_text().strip().splitlines()
            print(f"{len(lines)} job(s) of the sweep failed (their MLflow runs are FAILED; rerun them to resume):\n  "
                  + "\n  ".join(lines), file=sys.stderr, flush=True)
            # Hydra turns a callback's exceptions into warnings; the sweep's exit status must say it.
            raise SystemExit(1)
