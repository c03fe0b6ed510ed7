"""What a run records, and the names it records them under: the floor every part stands on.

Torch-free on purpose (standard library only): ``tracking`` writes these records and names,
``analysis`` reads them, and ``report`` reads them back from MLflow without loading torch.
The learning curves are ``val/…``, ``test/…``, ``pool/…``; the round's diagnostics carry no
namespace (see ``ROUND_METRICS``); every per-round metric is logged at step = images labeled.
End-of-run numbers go to the ``summary.json`` artifact, not to metrics.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

# ---- what one round produces ----


@dataclass
class RoundRecord:
    """One finished round, as the loop records it.

    ``defects_found`` counts defects among the labels the oracle revealed (``Pool.revealed``),
    so it is known in a labeling session too. ``defects_left`` and ``test_auroc`` are
    *simulation-only*: measured by the simulated oracle against labels nobody revealed
    (the unlabeled pool's, the test fold's); NaN where no simulation stands behind the oracle.
    Counts are images; ``seconds`` is wall-clock time of the whole round.
    """

    round: int
    n_labeled: int
    n_selected: int
    defects_found: int
    defects_left: float  # simulation only: ground-truth defects still in the unlabeled pool
    val_auroc: float
    test_auroc: float  # simulation only: AUROC against the test fold's hidden labels
    train_loss: float
    seconds: float
    # Label-free signals for stopping criteria, measured after the round's training:
    expected_defects_left: float = float("nan")  # sum of p(defect) over the unlabeled pool
    stop_set_predictions: list[int] | None = None  # predicted labels on the stop set (the validation fold)
    gallery: str | None = None  # PNG of the round's selected images with their GradCAM overlay
    # For calibrated and recall-targeted stopping (``alflow.stopping``), measured after the round's training.
    # Log-odds are log p(defect) - log p(good) of the round's model (softmax probabilities, clipped: |z| <= 27.6).
    val_logits: list[float] | None = None  # defect log-odds on the validation fold, in fold order
    val_labels: list[int] | None = None  # the validation fold's labels (known), in fold order
    labeled_logits: list[float] | None = None  # defect log-odds on the labeled pool images
    unlabeled_logits: list[float] | None = None  # defect log-odds on the unlabeled pool, in unlabeled_index order
    unlabeled_index: list[int] | None = None  # dataset indices of the unlabeled pool images
    temperature: float = float("nan")  # temperature scaling fitted on the validation fold (Guo et al. 2017)
    val_ece: float = float("nan")  # expected calibration error on the validation fold, after temperature scaling
    # Simulation only: the unlabeled pool images (dataset indices) in the job's seeded random order of the pool,
    # and the oracle's labels of them; the verification criterion labels a prefix at a candidate stop (and
    # counts those labels as spent). None in a labeling session, where no oracle knows the unlabeled labels.
    remaining_sample_index: list[int] | None = None
    remaining_sample_labels: list[int] | None = None


@dataclass
class SelectionRow:
    """One queried image: ``index`` into the dataset, its ``rank`` in the round's batch (0 = first
    pick), the strategy's ``score`` (the random key, the uncertainty, the SSIM; NaN for round 0's
    random draw) and the ``label`` the oracle revealed (1 = defect)."""

    round: int
    rank: int
    index: int
    score: float
    label: int
    image_class: str


SELECTION_COLUMNS = tuple(f.name for f in fields(SelectionRow))  # selection.csv's header

# ---- metric names ----

# Per round, step = images labeled: MLflow name -> RoundRecord attribute.
# The four learning curves carry a ``/`` namespace; the round's diagnostics carry none. MLflow's chart
# view draws one section per namespace in alphabetical order and puts un-namespaced metrics ("Model
# metrics") last, so a user opening it sees the learning curves first (checked in a real browser by
# tests/test_mlflow_ui.py). The number of images labeled is the step itself, not a metric of its own.
VAL_AUROC, TEST_AUROC = "val/auroc", "test/auroc"
DEFECTS_LEFT, DEFECTS_FOUND = "pool/defects_left", "pool/defects_found"
ROUND, ROUND_SECONDS, TRAIN_LOSS = "round", "round_seconds", "train_loss"
ROUND_METRICS = {
    VAL_AUROC: "val_auroc",
    TEST_AUROC: "test_auroc",
    DEFECTS_LEFT: "defects_left",
    DEFECTS_FOUND: "defects_found",
    ROUND: "round",
    ROUND_SECONDS: "seconds",
    TRAIN_LOSS: "train_loss",
    "val/ece": "val_ece",            # calibration (alflow.stopping.calibration): diagnostics beside val/auroc
    "val/temperature": "temperature",
}
LEARNING_CURVES = (VAL_AUROC, TEST_AUROC, DEFECTS_LEFT, DEFECTS_FOUND)  # what the MLflow chart view shows first
CURVE_METRICS = (VAL_AUROC, TEST_AUROC, DEFECTS_LEFT)  # the learning curves the report draws

# End of run (written by ``alflow.analysis``): not MLflow metrics, which the chart view would draw as
# ~30 bar charts burying the curves, but one JSON artifact per run, ``summary.json`` ({name: number},
# the names below), which the report reads; a few key ones are also run tags (``SUMMARY_TAGS``), so the
# runs table can show them as columns. Runs logged before this change have them as metrics at step 0.
SUMMARY_ARTIFACT = "summary.json"
CUTOFF_NAMES = ("best", "knee", "best_until_knee")  # the paper's cut-offs (``alflow.stopping.CUTOFFS``)
# Replayed on every run: name -> (its conf/stopping file, settings overriding that file's). The second knee
# and the threshold form of predicted_defects are the same criteria at other settings of their one YAML.
COMPARED_SETTINGS: dict[str, tuple[str, dict]] = {
    "plateau": ("plateau", {}),
    "knee": ("knee", {}),
    "knee_cormack_grossman": ("knee", {"method": "cormack_grossman"}),
    "predicted_defects": ("predicted_defects", {}),
    "predicted_defects_threshold": ("predicted_defects", {"mode": "threshold"}),
    "stabilizing": ("stabilizing", {}),
    "classification_change": ("classification_change", {}),
    "verification": ("verification", {}),
}
COMPARED_CRITERIA = tuple(COMPARED_SETTINGS)


def cutoff_metric(cutoff: str, key: str) -> str:
    """``cutoff/<cutoff>/<key>``, key one of n_labeled, val_auroc, test_auroc, found."""
    return f"cutoff/{cutoff}/{key}"


def stop_metric(criterion: str, key: str) -> str:
    """``stop/<criterion>/<key>``, key one of stopped, n_labeled, labels_spent (n_labeled plus the labels the
    criterion itself asked for, e.g. verification samples), test_auroc, recall (defects found / defects in the
    pool at the stop; simulation only)."""
    return f"stop/{criterion}/{key}"


def pool_metric(key: str) -> str:
    """``pool/<key>`` at step 0, end of run: ``defects_total`` (defects in the pool, simulation only) and
    ``found_at_<pct>`` (defects found once pct % of the pool is labeled, read off the defects-found curve)."""
    return f"pool/{key}"


POOL_SHARES = (10, 25)  # the pool shares (%) at which the report compares the defects found


def batch_metric(key: str) -> str:
    """``batch/<key>``, key one of n_labeled, val_auroc, test_auroc (the paper's batch learning)."""
    return f"batch/{key}"


# Key end-of-run numbers also set as run tags (the runs table can show them as columns).
SUMMARY_TAGS = (cutoff_metric("best", "test_auroc"), batch_metric("test_auroc"), cutoff_metric("knee", "n_labeled"))


# ---- tag keys and values ----

TAG_DATASET = "dataset"
TAG_STRATEGY = "strategy"
TAG_FOLD = "fold"
TAG_SEED = "seed"
TAG_POOL_SIZE = "pool_size"
TAG_LEARNING = "learning"
TAG_EXPERIMENT = "experiment"
TAG_STOP_REASON = "stop_reason"
TAG_ROUNDS = "rounds"
TAG_ERROR = "error"
TAG_RUN_KIND = "run_kind"
TAG_HEALTH = "health"  # "ok", or the learner health check's findings (alflow.analysis.health)
TAG_SUMMARY = "alflow.summary"  # "true" on the report's own runs
TAG_SWEEP = "sweep"  # the Hydra sweep folder a job ran in ("" for a single job)
# model.pretrained=ssl runs: where the backbone came from (alflow.model.backbones.PretrainingRecord)
TAG_SSL_PRETRAINING = "ssl_pretraining"  # "simclr: 320/320 steps (20 epochs), 7.3 min"
TAG_SSL_MINUTES = "ssl_minutes"          # the pretraining's own wall-clock minutes
TAG_SSL_CACHE = "ssl_cache"              # its cache file ("" without a cache)
# model.trainable=head: the frozen backbone's features of every image, computed once (alflow.model.features)
TAG_FEATURE_SECONDS = "feature_pass_seconds"  # the one forward pass's wall-clock seconds (perhaps in another job)
TAG_FEATURE_CACHE = "feature_cache"            # "computed" or "reused", and the cache file

# MLflow 3 opens an experiment in the view of its kind (experiment tag ``mlflow.experimentKind``):
# alflow's are classic model training. (MLflow 3.17's UI follows its global GenAI / Model training
# switch instead, so the links alflow prints also carry ``workflowType=machine_learning``.)
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
REPORTS_EXPERIMENT_SUFFIX = "-reports"  # the report's runs go to "<experiment>-reports", out of the jobs' list


def run_name(strategy: str, fold: object, seed: object) -> str:
    """The MLflow run name of a job, short enough that the runs table shows it whole:
    ``"random fold0 seed0"`` (the dataset is a tag, and usually its own experiment)."""
    return f"{strategy} fold{fold} seed{seed}"

# What a job is: an active-learning run, or the full-pool reference (every pool image labeled in
# round 0: the tables' upper bound). Set from ``al.learning``; the report reads it.
RUN_KIND_ACTIVE = "active_learning"
RUN_KIND_FULL_POOL = "full_pool"
FULL_POOL_LEARNING = "full_pool"  # the al.learning value of the full-pool reference


def run_kind(learning: str) -> str:
    """The ``run_kind`` tag of a job with ``al.learning=learning``."""
    return RUN_KIND_FULL_POOL if learning == FULL_POOL_LEARNING else RUN_KIND_ACTIVE
