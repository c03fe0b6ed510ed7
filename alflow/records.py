"""What a run records, and the names it records them under: the floor every part stands on.

Torch-free on purpose (standard library only): ``tracking`` writes these records and names,
``analysis`` reads them, and ``report`` reads them back from MLflow without loading torch.
Metric names follow ``train/…``, ``val/…``, ``test/…``, ``pool/…``, ``al/…``; every per-round
metric is logged at step = images labeled.
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
ROUND_METRICS = {
    "val/auroc": "val_auroc",
    "test/auroc": "test_auroc",
    "pool/defects_left": "defects_left",
    "pool/defects_found": "defects_found",
    "al/n_labeled": "n_labeled",
    "al/round": "round",
    "al/round_seconds": "seconds",
    "train/loss": "train_loss",
}
VAL_AUROC, TEST_AUROC, DEFECTS_LEFT = "val/auroc", "test/auroc", "pool/defects_left"
CURVE_METRICS = (VAL_AUROC, TEST_AUROC, DEFECTS_LEFT)  # the learning curves the report draws

# End of run, step 0 (written by ``alflow.analysis``):
CUTOFF_NAMES = ("best", "knee", "best_until_knee")  # the paper's cut-offs (``alflow.stopping.CUTOFFS``)
COMPARED_CRITERIA = ("plateau", "knee", "predicted_defects", "stabilizing")  # replayed on every run


def cutoff_metric(cutoff: str, key: str) -> str:
    """``cutoff/<cutoff>/<key>``, key one of n_labeled, val_auroc, test_auroc, found."""
    return f"cutoff/{cutoff}/{key}"


def stop_metric(criterion: str, key: str) -> str:
    """``stop/<criterion>/<key>``, key one of stopped, n_labeled, test_auroc."""
    return f"stop/{criterion}/{key}"


def batch_metric(key: str) -> str:
    """``batch/<key>``, key one of n_labeled, val_auroc, test_auroc (the paper's batch learning)."""
    return f"batch/{key}"


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

# What a job is: an active-learning run, or the full-pool reference (every pool image labeled in
# round 0: the tables' upper bound). Set from ``al.learning``; the report reads it.
RUN_KIND_ACTIVE = "active_learning"
RUN_KIND_FULL_POOL = "full_pool"
FULL_POOL_LEARNING = "full_pool"  # the al.learning value of the full-pool reference


def run_kind(learning: str) -> str:
    """The ``run_kind`` tag of a job with ``al.learning=learning``."""
    return RUN_KIND_FULL_POOL if learning == FULL_POOL_LEARNING else RUN_KIND_ACTIVE
