"""The Hydra entry point of ``alflow label``: a labeling session, its export and its import.

``alflow label OVERRIDES`` serves the page; ``alflow label export label.session_dir=S label.out=F``
writes the labels (CSV and a class-folder tree, or Label Studio tasks for ``.json``);
``alflow label import label.session_dir=S label.input=F`` reads a Label Studio JSON export.
The config is ``conf/label.yaml``: the experiment's config plus the ``label`` section.
Hydra stays here; everything in ``alflow.label`` takes plain arguments. ``export`` and ``import`` need
only the label store: they compose the config with Hydra's compose API (no job, no run folder, no
callbacks: no MLflow hint) and import neither torch nor MLflow, so they answer in about a second.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("alflow")
COMMANDS = ("serve", "export", "import")
CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")  # alflow.compose.CONF_DIR, without its imports


def label_settings(cfg: DictConfig):
    from alflow.label.settings import LabelSettings

    return LabelSettings(**OmegaConf.to_container(cfg.label, resolve=True))


def serve(cfg: DictConfig) -> None:
    from hydra.utils import instantiate

    from alflow import records
    from alflow.compose import compared_criteria, compose
    from alflow.label.lock import hold_session
    from alflow.label.server import bind
    from alflow.label.server import serve as serve_page
    from alflow.label.session import LabelSession
    from alflow.label.store import LabelStore
    from alflow.model.speed import keep_large_buffers_on_heap
    from alflow.tracking import flatten

    keep_large_buffers_on_heap()
    settings = label_settings(cfg)
    session_dir = Path(settings.session_dir)
    lock = hold_session(session_dir)  # first: a second alflow label on this folder refuses here
    try:  # the port next, before any part is built or any run opened: a taken port refuses in one line
        sock = bind(settings.host, settings.port)
    except ValueError:
        lock.release()
        raise
    exp = compose(cfg, session_dir / "gallery", session=True, state_dir=session_dir)
    dataset = exp.dataset
    root = cfg.dataset.get("root") or _common_root(dataset.files)
    learner = exp.learner()
    store = LabelStore(session_dir / "labels.sqlite3")
    tracker = instantiate(cfg.tracking, run_name=f"label-{dataset.name}-{Path(settings.session_dir).name}",
                          out_dir=session_dir / "mlflow", run_id=store.meta("mlflow_run_id"),
                          tags={records.TAG_DATASET: dataset.name, records.TAG_RUN_KIND: "labeling_session",
                                records.TAG_STRATEGY: str(cfg.strategy.get("name", cfg.strategy._target_))})
    if not tracker.resumed:
        tracker.log_params(flatten(OmegaConf.to_container(cfg, resolve=True)))
        store.set_meta("mlflow_run_id", tracker.run_id)
    session = LabelSession(dataset, root, exp.strategy, learner.model_factory, exp.train, exp.settings, exp.stopping,
                           compared_criteria(), settings, listeners=[tracker], tracker=tracker,
                           features=learner.features, initial_strategy=exp.initial_strategy,
                           pretrained_backbone=learner.pretrained_backbone, cam_settings=exp.cam_settings)
    try:
        serve_page(session, sock)
    finally:
        tracker.set_tags({records.TAG_ROUNDS: len(session.history)})
        tracker.finish("FINISHED" if session.done else "KILLED")
        lock.release()


def export(cfg: DictConfig) -> None:
    from alflow.label.export import export_csv
    from alflow.label.labelstudio import write_tasks

    settings = label_settings(cfg)
    if not settings.out:
        raise ValueError("alflow label export needs label.out=FILE.csv (labels) or FILE.json (Label Studio tasks)")
    store = _existing_store(settings.session_dir)
    if settings.out.endswith(".json"):
        n = write_tasks(store, settings.out)
        print(f"alflow label export: {n} Label Studio task(s) of the open batch -> {settings.out}")
    else:
        n, tree = export_csv(store, settings.out)
        print(f"alflow label export: {n} label(s) -> {settings.out}; class folders of links -> {tree} "
              f"(train on them: dataset=folder dataset.root={tree})")


def import_(cfg: DictConfig) -> None:
    from alflow.label.labelstudio import import_export

    settings = label_settings(cfg)
    if not settings.input:
        raise ValueError("alflow label import needs label.input=FILE.json (a Label Studio JSON export)")
    counts = import_export(_existing_store(settings.session_dir), settings.input, settings.inspector)
    # all or nothing: one transaction wrote every label above, or an error wrote none
    print("alflow label import: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


def _existing_store(session_dir: str):
    from alflow.label.store import LabelStore

    path = Path(session_dir) / "labels.sqlite3"
    if not path.exists():
        raise FileNotFoundError(f"label.session_dir={session_dir} holds no session (no {path.name})")
    return LabelStore(path)


def _common_root(files: list[str]) -> str:
    import os

    if not files:
        raise ValueError("the dataset is not read from image files: a session labels files (use dataset=folder)")
    return os.path.commonpath([str(Path(f).parent) for f in files])


def _run(command: str, cfg: DictConfig) -> None:
    from alflow.label.store import Conflict

    try:
        {"serve": serve, "export": export, "import": import_}[command](cfg)
    except (ValueError, FileNotFoundError, InstantiationException, Conflict) as exc:
        _one_line(command, exc)
    except Exception as exc:
        from alflow.errors import ConfigError

        if not isinstance(exc, ConfigError):
            raise
        _one_line(command, exc)


def _one_line(command: str, exc: BaseException) -> None:
    """One line naming the key or file at fault (the error inside a Hydra instantiate call, not its wrapper)."""
    if command == "serve":
        from alflow.errors import config_message

        text = config_message(exc)
    else:  # alflow.errors imports torch (through alflow.data): the store's errors say it all
        text = str(exc)
    log.error("alflow label%s: %s", "" if command == "serve" else f" {command}", text)
    raise SystemExit(2) from None


@hydra.main(version_base=None, config_path=CONF_DIR, config_name="label")
def _hydra_main(cfg: DictConfig) -> None:
    from alflow.compose import back_to_launch_folder

    back_to_launch_folder()  # hydra.job.chdir=true: relative paths still mean the launch folder
    _run(_hydra_main.command, cfg)


def _store_command(command: str, overrides: list[str]) -> None:
    """``export``/``import``: the config composed (user overrides and all), nothing else of a job."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
            cfg = hydra_compose(config_name="label", overrides=overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        _one_line(command, exc)
    _run(command, cfg)


def main() -> None:
    """``alflow label [export|import] OVERRIDES`` (sys.argv holds what follows ``label``)."""
    command = "serve"
    if len(sys.argv) > 1 and sys.argv[1] in COMMANDS:
        command = sys.argv.pop(1)
    if command != "serve":
        return _store_command(command, sys.argv[1:])
    _hydra_main.command = command
    _hydra_main()
