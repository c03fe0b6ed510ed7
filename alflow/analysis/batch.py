"""The paper's batch learning: a fresh model trained on exactly the images labeled up to a round."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from alflow.loop import AcquisitionLoop, GroundTruthOracle, auroc


@dataclass(frozen=True)
class BatchResult:
    n_labeled: int     # images trained on
    val_auroc: float
    test_auroc: float  # simulation only (NaN without a ground-truth oracle)


def retrain_batch(loop: AcquisitionLoop, upto_round: int, epochs: int) -> BatchResult:
    """Train a fresh model (the loop's initialisation) on the images ``loop`` labeled in rounds
    0..``upto_round``, with their revealed labels, for at least ``epochs`` epochs (a round's budget
    would leave a model trained once on all of them undertrained), and evaluate it like a round.
    The loop's own state is not touched."""
    indices = loop.pool.labeled_up_to(upto_round)
    model = loop.fresh_model()
    # epochs decide here: a round's step cap (trainer.max_steps) bounds a round's time, not this one-off fit
    budget = replace(loop.train, epochs=max(epochs, loop.train.epochs), max_steps=None)
    loop.train_model(model, indices, loop.seeds.batch_retrain(), budget, calibration=indices)
    val_probs, test_probs = loop.predict_val_test(loop.new_version(model))
    truth = loop.oracle if isinstance(loop.oracle, GroundTruthOracle) else None
    return BatchResult(n_labeled=len(indices),
                       val_auroc=auroc(val_probs, loop.dataset.labels[loop.split.val]),
                       test_auroc=truth.test_auroc(loop.split.test, test_probs) if truth else math.nan)
