"""The Hydra entry point of experiments: one job (or each job of a sweep) from a composed config.

The parts come from the composition root (``alflow.compose``); the error vocabulary from
``alflow.errors``; the end-of-run analysis from ``alflow.analysis``. Hydra stays at the entry points;
everything below takes plain arguments and works without it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import signal
import sys
import threading
import traceback
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from alflow import records
from alflow.analysis import health_tag, run_summary
from alflow.compose import CONF_DIR, back_to_launch_folder, compared_criteria, compose
from alflow.data.fingerprint import data_fingerprint
from alflow.data.stats import split_statistics
from alflow.errors import ConfigError, Interrupted, Terminated, as_config_error
from alflow.loop import AcquisitionLoop
from alflow.loop.acquisition import DivergedError
from alflow.loop.checkpoint import check_same_data, load_state
from alflow.model.speed import keep_large_buffers_on_heap
from alflow.sweep import record_failed_job
from alflow.tracking import flatten

log = logging.getLogger("alflow")


def _choices() -> dict[str, str]:
    if HydraConfig.initialized():
        return {k: str(v) for k, v in HydraConfig.get().runtime.choices.items() if "hydra/" not in k}
    return {}


def _raise_terminated(signum, frame) -> None:
    if signum == signal.SIGINT:  # Ctrl+C: a second one is a plain KeyboardInterrupt, should closing the run hang
        signal.signal(signal.SIGINT, signal.default_int_handler)
        raise Interrupted("interrupted (Ctrl+C): the job did not finish; rerun the same command to resume it from "
                          "its last finished round")
    raise Terminated(f"signal {signal.Signals(signum).name} received: the job did not finish; rerun the same "
                     "command to resume it from its last finished round")


def run_job(cfg: DictConfig, out_dir: str | Path | None = None) -> float:
    """Run one experiment job; returns the best validation AUROC (what a Hydra sweeper would optimise).

    Raises ConfigError (before a run is opened) for a setting or file no job can run with, Terminated when
    SIGTERM arrives, Interrupted (a Terminated) on Ctrl+C; the run is then marked KILLED (FAILED for any
    other error) and the last finished round's state stays on disk for the rerun."""
    keep_large_buffers_on_heap()
    if threading.current_thread() is threading.main_thread():
        # Lightning composes an existing handler into its own during fit, so ours still raises there.
        signal.signal(signal.SIGTERM, _raise_terminated)
        # Ctrl+C as well: Lightning turns a KeyboardInterrupt in fit into exit 1, the run left FAILED.
        signal.signal(signal.SIGINT, _raise_terminated)
    choices = _choices()
    if out_dir is None:
        out_dir = HydraConfig.get().runtime.output_dir if HydraConfig.initialized() else "."
    # Everything that can fail on bad config is built before a run is opened (one ConfigError line).
    exp = compose(cfg, Path(out_dir) / "gallery")
    try:
        stats = split_statistics(exp.dataset, exp.split)
    except (ValueError, FileNotFoundError) as exc:
        raise as_config_error(exc) from exc
    strategy_name = choices.get("strategy", "strategy")
    log_prefix = f"{strategy_name} fold{cfg.fold.index}"
    split = exp.split
    log.info("[%s] %s: %d images (%d defects); pool %d, val %d, test %d", log_prefix, exp.name, len(exp.dataset),
             int(exp.dataset.labels.sum()), len(split.pool), len(split.val), len(split.test))

    tags = {records.TAG_DATASET: exp.name, records.TAG_STRATEGY: strategy_name,
            records.TAG_FOLD: str(cfg.fold.index), records.TAG_POOL_SIZE: str(len(split.pool)),
            records.TAG_SEED: str(cfg.seed), records.TAG_LEARNING: exp.settings.learning,
            records.TAG_RUN_KIND: records.run_kind(exp.settings.learning),
            records.TAG_EXPERIMENT: choices.get("experiment", "none") or "none"}
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        tags[records.TAG_SWEEP] = str(Path(HydraConfig.get().sweep.dir).resolve())
    run_name = records.run_name(strategy_name, cfg.fold.index, cfg.seed)
    job_name = f"{exp.name}-{strategy_name}-fold{cfg.fold.index}-seed{cfg.seed}"  # file-name safe
    state_path = Path(exp.settings.state_dir) / f"{job_name}-{job_key(cfg)}.pt"
    try:  # before the run is reopened: an unreadable state, or one saved for other data, refuses in one line
        state = load_state(state_path) if exp.settings.resume else None
        if state is not None:
            check_same_data(state_path, state, data_fingerprint(exp.dataset))
    except ValueError as exc:
        raise ConfigError(str(exc), "data") from None
    tracker = instantiate(cfg.tracking, run_name=run_name, out_dir=out_dir, tags=tags,
                          run_id=state.extra.get("run_id") if state else None)
    resuming = state is not None and tracker.resumed
    try:
        if not resuming:  # recorded first, so even a run that fails at once says what it was
            tracker.log_params(flatten(OmegaConf.to_container(cfg, resolve=True)))
            tracker.log_json(stats, "dataset_stats.json")
            config_path = Path(out_dir) / "config.yaml"
            config_path.write_text(OmegaConf.to_yaml(cfg, resolve=True))
            tracker.log_artifact(config_path)
        # Once per job, before any training and inside the run, so a sweep records a job whose weights are
        # unavailable as FAILED: an SSL pretraining or a head learner's frozen features (cached, shared).
        learner = exp.learner(split.pool)
        if learner.pretraining is not None:  # a capped one has been warned about where it was made or read
            tracker.set_tags(learner.pretraining.tags())
        if learner.features is not None:
            tracker.set_tags({records.TAG_FEATURE_SECONDS: f"{learner.features.seconds:.1f}",
                              records.TAG_FEATURE_CACHE: f"{'reused' if learner.features.from_cache else 'computed'} "
                                                         f"{learner.features.cache_file}".strip()})
        loop = AcquisitionLoop(exp.dataset, split, exp.strategy, learner.model_factory, exp.train, exp.settings,
                               stopping=exp.stopping, listeners=[tracker], log_prefix=log_prefix,
                               state_path=state_path, state_extra={"run_id": tracker.run_id},
                               initial_strategy=exp.initial_strategy, pretrained_backbone=learner.pretrained_backbone,
                               features=learner.features, cam_settings=exp.cam_settings)
        if resuming:
            loop.restore(state)
            relogged = tracker.sync(loop.history, loop.rows)
            log.info("[%s] resumed from %s after round %d (%d images labeled; %d rounds logged late)", log_prefix,
                     state_path, len(loop.history), loop.pool.n_labeled, relogged)
        history = loop.run()
        best = max((r.val_auroc for r in history if not math.isnan(r.val_auroc)), default=float("nan"))
        tracker.set_tags({records.TAG_STOP_REASON: loop.stop_reason, records.TAG_ROUNDS: len(history),
                          records.TAG_HEALTH: health_tag(loop)})
        tracker.log_summary(run_summary(loop, stats, compared_criteria(), cfg.analysis.knee_sensitivity,
                                        cfg.analysis.batch_retrain, cfg.analysis.batch_epochs))
        tracker.finish("FINISHED")
    except BaseException as exc:
        # The state of the last finished round stays on disk: rerunning the job resumes there.
        status = "KILLED" if isinstance(exc, (Terminated, KeyboardInterrupt)) else "FAILED"
        tracker.finish(status, error="".join(traceback.format_exception_only(type(exc), exc)).strip())
        raise
    state_path.unlink(missing_ok=True)  # finished: a rerun of the same job starts a new run
    log.info("[%s] done: best val AUROC %.3f, MLflow run %s", log_prefix, best, tracker.run_id)
    return best


def job_key(cfg: DictConfig) -> str:
    """Names a job by everything that decides its results, so the same overrides find the same state."""
    config = OmegaConf.to_container(cfg, resolve=True)
    config.get("al", {}).pop("resume", None)
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]


@hydra.main(version_base=None, config_path=CONF_DIR, config_name="config")
def experiment_main(cfg: DictConfig) -> float:
    """``alflow OVERRIDES`` (through ``alflow.cli``): one job, or each job of a ``-m`` sweep."""
    back_to_launch_folder()
    try:
        return _main(cfg)
    except ConfigError as exc:
        # One clean line on stderr (the key, the value, what would work), no traceback; exit status 2
        # like a command-line usage error.
        print(f"alflow: {exc.kind} error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    except DivergedError as exc:
        # The run is already FAILED with the reason; the settings to change fit one line, a traceback adds nothing.
        print(f"alflow: training error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    except Terminated as exc:
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            record_failed_job(HydraConfig.get().sweep.dir, HydraConfig.get().job.override_dirname, exc)
            log.error("the sweep was stopped by %s during job %r, so it is incomplete (multirun.sh builds no "
                      "report); rerun the same command to resume it", exc.signal_name,
                      HydraConfig.get().job.override_dirname)
        log.error("%s", exc)
        raise SystemExit(exc.exit_code) from None


def _main(cfg: DictConfig) -> float:
    if HydraConfig.get().mode != RunMode.MULTIRUN:
        return run_job(cfg)
    # In a sweep one failed job must not stop the others: its run is already marked FAILED;
    # it is listed for the end-of-sweep callback, which makes the sweep exit non-zero.
    try:
        return run_job(cfg)
    except (ConfigError, DivergedError) as exc:
        kind = exc.kind if isinstance(exc, ConfigError) else "training"
        log.error("job %r: %s error: %s", HydraConfig.get().job.override_dirname, kind, exc)
        record_failed_job(HydraConfig.get().sweep.dir, HydraConfig.get().job.override_dirname, exc)
        return float("nan")
    except Exception as exc:  # noqa: BLE001 - every job failure is reported the same way
        log.exception("job failed: %s", exc)
        record_failed_job(HydraConfig.get().sweep.dir, HydraConfig.get().job.override_dirname, exc)
        return float("nan")
