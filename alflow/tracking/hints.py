"""Hydra callback: at the end of a job or sweep, say how to open the MLflow UI on the store written."""
from __future__ import annotations

from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from alflow.tracking.store import resolve_uri, ui_command


class MlflowUiHint(Callback):
    def __init__(self, uri: str = "", experiment: str = "alflow"):
        self.uri, self.experiment = uri, experiment

    def _print(self) -> None:
        uri = resolve_uri(self.uri)
        print(f"\nRuns are in MLflow experiment {self.experiment!r} at {uri}\n"
              f"Compare the strategies' AUC curves: {ui_command(uri)}  (then open http://127.0.0.1:5000)",
              flush=True)

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._print()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._print()
