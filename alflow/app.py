"""The Hydra entry point: builds the pieces from config and runs one job.

Hydra stays here (and in ``alflow.sweep``, the sweep's callback); everything below takes plain
arguments and works without it. Config defaults live in ``conf/`` only: the constructors called
from here take every value from the composed config.
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
from hydra.errors import InstantiationException
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from alflow import records
from alflow.analysis import cutoff_metrics, pool_metrics, retrain_batch, stop_metrics
from alflow.data import BadImageError
from alflow.data.cache import MaskSizeError
from alflow.data.stats import split_statistics, statistics_metrics
from alflow.analysis.health import health_message, learner_findings
from alflow.loop import AcquisitionLoop, LoopSettings
from alflow.loop.acquisition import DivergedError
from alflow.loop.checkpoint import load_state
from alflow.model.learner import build_learner, check_model_settings
from alflow.model.speed import keep_large_buffers_on_heap
from alflow.stopping import StoppingCriterion
from alflow.sweep import record_failed_job
from alflow.tracking import flatten

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")
log = logging.getLogger("alflow")


def compared_criteria() -> dict[str, StoppingCriterion]:
    """The online criteria every run is replayed against, at the settings of their ``conf/stopping`` files
    with ``records.COMPARED_SETTINGS``' overrides (a second setting of one criterion, e.g. the other knee)."""
    return {name: instantiate(OmegaConf.merge(OmegaConf.load(Path(CONF_DIR) / "stopping" / f"{conf}.yaml"),
                                              overrides))
            for name, (conf, overrides) in records.COMPARED_SETTINGS.items()}


def _choices() -> dict[str, str]:
    if HydraConfig.initialized():
        return {k: str(v) for k, v in HydraConfig.get().runtime.choices.items() if "hydra/" not in k}
    return {}


class Terminated(BaseException):
    """SIGTERM (SLURM's scancel, a pre-emption, ``kill``) reached a job. A BaseException, like
    KeyboardInterrupt, so that no ``except Exception`` on the way swallows it; Lightning's own
    handler would turn it into an exit with status 0, as if the job had finished."""

    exit_code = 128 + signal.SIGTERM


class ConfigError(ValueError):
    """A setting (or the data it points at) that no job can run with: one line naming key and value.

    ``kind`` says whose fault it is: ``"config"`` (a setting) or ``"data"`` (a file the dataset reads:
    an unreadable image, a mask of another size, a missing folder), so the line names the right thing."""

    def __init__(self, message: str, kind: str = "config"):
        super().__init__(message)
        self.kind = kind


DATA_ERRORS = (BadImageError, MaskSizeError, FileNotFoundError)


def error_kind(exc: BaseException) -> str:
    """``"data"`` when the error inside a Hydra ``instantiate`` call is one of DATA_ERRORS, else ``"config"``."""
    while isinstance(exc, InstantiationException) and exc.__cause__ is not None:
        exc = exc.__cause__
    return "data" if isinstance(exc, DATA_ERRORS) else "config"


def config_message(exc: BaseException) -> str:
    """The one-line reason of a config error: the error raised inside a Hydra ``instantiate`` call (whose
    own message adds the target and the full key), else the error itself."""
    while isinstance(exc, InstantiationException) and exc.__cause__ is not None:
        exc = exc.__cause__
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, InstantiationException):  # no cause kept: its first line names the target
        text = text.splitlines()[0]
    if isinstance(exc, DATA_ERRORS):  # the type says what went wrong with the file (e.g. BadImageError)
        text = f"{type(exc).__name__}: {text}"
    return " ".join(text.split()) if len(text.splitlines()) <= 1 else text


def _raise_terminated(signum, frame) -> None:
    raise Terminated(f"signal {signal.Signals(signum).name} received: the job did not finish; rerun the same "
                     "command to resume it from its last finished round")


def run_job(cfg: DictConfig, out_dir: str | Path | None = None) -> float:
    """Run one experiment job; returns the best validation AUROC (what a Hydra sweeper would optimise).

    Raises Terminated when SIGTERM arrives; the run is then marked KILLED (FAILED for any other error)
    and the last finished round's state stays on disk for the rerun."""
    keep_large_buffers_on_heap()
    if threading.current_thread() is threading.main_thread():
        # Lightning composes an existing handler into its own during fit, so ours still raises there.
        signal.signal(signal.SIGTERM, _raise_terminated)
    choices = _choices()
    strategy_name = choices.get("strategy", "strategy")
    dataset_name = cfg.dataset.get("name", choices.get("dataset", "dataset"))
    log_prefix = f"{strategy_name} fold{cfg.fold.index}"
    if out_dir is None:
        out_dir = HydraConfig.get().runtime.output_dir if HydraConfig.initialized() else "."

    # Build everything that can fail on bad config before a run is opened; what fails here is the
    # config's (or the data's) fault, and says so in one line (ConfigError), without a traceback.
    try:
        dataset = instantiate(cfg.dataset)
        split = instantiate(cfg.fold).split(dataset.labels)
        strategy = instantiate(cfg.strategy)
        stopping = instantiate(cfg.stopping)
        model_settings = OmegaConf.to_container(cfg.model, resolve=True)
        check_model_settings(model_settings)
        check_cam_layer(model_settings, strategy)
        train = instantiate(cfg.trainer)
        settings = LoopSettings(**OmegaConf.to_container(cfg.al, resolve=True),
                                gallery_dir=str(Path(out_dir) / "gallery") if cfg.gallery_size > 0 else None,
                                gallery_size=cfg.gallery_size)
        initial_strategy = cold_start_strategy(settings.initial_strategy, strategy)
        stats = split_statistics(dataset, split)
    except (ValueError, TypeError, FileNotFoundError, InstantiationException) as exc:
        raise ConfigError(config_message(exc), error_kind(exc)) from exc
    log.info("[%s] %s: %d images (%d defects); pool %d, val %d, test %d", log_prefix, dataset_name, len(dataset),
             int(dataset.labels.sum()), len(split.pool), len(split.val), len(split.test))

    tags = {records.TAG_DATASET: dataset_name, records.TAG_STRATEGY: strategy_name,
            records.TAG_FOLD: str(cfg.fold.index), records.TAG_POOL_SIZE: str(len(split.pool)),
            records.TAG_SEED: str(cfg.seed), records.TAG_LEARNING: settings.learning,
            records.TAG_RUN_KIND: records.run_kind(settings.learning),
            records.TAG_EXPERIMENT: choices.get("experiment", "none") or "none"}
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        tags[records.TAG_SWEEP] = str(Path(HydraConfig.get().sweep.dir).resolve())
    run_name = records.run_name(strategy_name, cfg.fold.index, cfg.seed)
    job_name = f"{dataset_name}-{strategy_name}-fold{cfg.fold.index}-seed{cfg.seed}"  # file-name safe
    state_path = Path(settings.state_dir) / f"{job_name}-{job_key(cfg)}.pt"
    state = load_state(state_path) if settings.resume else None
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
        # Once per job, before any training (an SSL pretraining is cached and shared by the sweep's jobs);
        # inside the run, so a sweep records a job whose weights are unavailable as FAILED.
        # A head learner's frozen features likewise: computed once per dataset x backbone x weights x size.
        learner = build_learner(model_settings, dataset.images, split.pool, dataset_name, cfg.seed)
        if learner.pretraining is not None:  # a capped one has been warned about where it was made or read
            tracker.set_tags(learner.pretraining.tags())
        if learner.features is not None:
            tracker.set_tags({records.TAG_FEATURE_SECONDS: f"{learner.features.seconds:.1f}",
                              records.TAG_FEATURE_CACHE: f"{'reused' if learner.features.from_cache else 'computed'} "
                                                         f"{learner.features.cache_file}".strip()})
        loop = AcquisitionLoop(dataset, split, strategy, learner.model_factory, train, settings, stopping=stopping,
                               listeners=[tracker], log_prefix=log_prefix, state_path=state_path,
                               state_extra={"run_id": tracker.run_id}, initial_strategy=initial_strategy,
                               pretrained_backbone=learner.pretrained_backbone, features=learner.features)
        if resuming:
            loop.restore(state)
            relogged = tracker.sync(loop.history, loop.rows)
            log.info("[%s] resumed from %s after round %d (%d images labeled; %d rounds logged late)", log_prefix,
                     state_path, len(loop.history), loop.pool.n_labeled, relogged)
        history = loop.run()
        best = max((r.val_auroc for r in history if not math.isnan(r.val_auroc)), default=float("nan"))
        tracker.set_tags({records.TAG_STOP_REASON: loop.stop_reason, records.TAG_ROUNDS: len(history)})
        _check_health(log_prefix, history, dataset.labels[split.val], settings.learning == records.FULL_POOL_LEARNING,
                      tracker)
        summary, found = cutoff_metrics(history, cfg.analysis.knee_sensitivity)
        summary.update(statistics_metrics(stats))
        summary.update(stop_metrics(history, compared_criteria()))
        summary.update(pool_metrics(history, len(split.pool)))
        if cfg.analysis.batch_retrain and found["best"]["round"] is not None:
            batch = retrain_batch(loop, found["best"]["round"], cfg.analysis.batch_epochs)
            summary.update({records.batch_metric("n_labeled"): batch.n_labeled,
                            records.batch_metric("val_auroc"): batch.val_auroc,
                            records.batch_metric("test_auroc"): batch.test_auroc})
            log.info("[%s] batch retrain on the %d images labeled up to the best round: test AUROC %.3f",
                     log_prefix, batch.n_labeled, batch.test_auroc)
        tracker.log_summary(summary)
        tracker.finish("FINISHED")
    except BaseException as exc:
        # The state of the last finished round stays on disk: rerunning the job resumes there.
        status = "KILLED" if isinstance(exc, (Terminated, KeyboardInterrupt)) else "FAILED"
        tracker.finish(status, error="".join(traceback.format_exception_only(type(exc), exc)).strip())
        raise
    state_path.unlink(missing_ok=True)  # finished: a rerun of the same job starts a new run
    log.info("[%s] done: best val AUROC %.3f, MLflow run %s", log_prefix, best, tracker.run_id)
    return best


def cold_start_strategy(name: str, strategy):
    """The strategy that picks round 0 (``al.initial_strategy``): None for ``random``; the run's own strategy
    when it is the one named (with its overrides); else that strategy at the settings of its
    ``conf/strategy`` file."""
    if name == "random":
        return None
    if getattr(strategy, "name", None) == name:
        return strategy
    return instantiate(OmegaConf.load(Path(CONF_DIR) / "strategy" / f"{name}.yaml"))


def check_cam_layer(model_settings: dict, strategy) -> None:
    """ValueError naming ``strategy.layer`` when the learner cannot give GradCAM maps of that layer: a head
    learner caches the backbone's last stage only, and EfficientNet-Lite0 names only its last stage
    (``layer4``, as ResNet's)."""
    layer = getattr(getattr(strategy, "cam_settings", None), "layer", "layer4")
    if layer == "layer4":
        return
    if model_settings.get("trainable") in ("head", "last_block"):
        raise ValueError(f"strategy.layer={layer}: model.trainable={model_settings['trainable']} explains the "
                         "backbone's last stage only; use strategy.layer=layer4 or model.trainable=all")
    if model_settings.get("backbone") == "efficientnet_lite0":
        raise ValueError(f"strategy.layer={layer}: model.backbone=efficientnet_lite0 has GradCAM on its last stage "
                         "only (strategy.layer=layer4); other layers need model.backbone=resnet18")


def _check_health(log_prefix: str, history, val_labels, full_pool: bool, tracker) -> None:
    """Warn in plain words when the learner looks untrained; tag the run ``health``."""
    n_pos = int(val_labels.sum())
    findings = learner_findings([r.val_auroc for r in history], [r.train_loss for r in history], n_pos,
                                len(val_labels) - n_pos, history[-1].test_auroc if full_pool and history else None)
    message = health_message(log_prefix, findings)
    if message:
        log.warning(message)
    tracker.set_tags({records.TAG_HEALTH: "; ".join(findings) if findings else "ok"})


def job_key(cfg: DictConfig) -> str:
    """Names a job by everything that decides its results, so the same overrides find the same state."""
    config = OmegaConf.to_container(cfg, resolve=True)
    config.get("al", {}).pop("resume", None)
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]


def main() -> float | None:
    """``alflow ...`` / ``python -m alflow ...``: one job or a sweep; ``alflow label ...``: a labeling
    session (alflow.label_app)."""
    if len(sys.argv) > 1 and sys.argv[1] == "label":
        from alflow.label_app import main as label_main

        sys.argv.pop(1)
        return label_main()
    return experiment_main()


@hydra.main(version_base=None, config_path=CONF_DIR, config_name="config")
def experiment_main(cfg: DictConfig) -> float:
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
            log.error("the sweep was stopped by SIGTERM during job %r, so it is incomplete (multirun.sh builds no "
                      "report); rerun the same command to resume it", HydraConfig.get().job.override_dirname)
        log.error("%s", exc)
        raise SystemExit(Terminated.exit_code) from None


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
