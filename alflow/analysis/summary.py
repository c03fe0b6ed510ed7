"""The end of a finished job: the run's summary metrics and its health, from the loop's history.

The paper's cut-offs (best model, knee), the split's statistics, where each compared stopping criterion
would have stopped, how the pool was used, and (``batch_retrain``) the batch learning model retrained on
the images labeled up to the best round.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping

from alflow import records
from alflow.analysis.batch import retrain_batch
from alflow.analysis.health import health_message, learner_findings
from alflow.analysis.stopping import cutoff_metrics, pool_metrics, stop_metrics
from alflow.data.stats import statistics_metrics
from alflow.stopping import StoppingCriterion

log = logging.getLogger("alflow")


def run_summary(loop, stats: dict, criteria: Mapping[str, StoppingCriterion], knee_sensitivity: float,
                batch_retrain: bool, batch_epochs: int) -> dict[str, float]:
    """Summary metrics of ``loop`` (a finished ``alflow.loop.AcquisitionLoop``): cut-offs at Kneedle's
    ``knee_sensitivity``, ``stats`` (``alflow.data.stats.split_statistics``), each of ``criteria`` replayed
    on the history, the pool's use, and with ``batch_retrain`` a fresh model trained for at least
    ``batch_epochs`` epochs on the images labeled up to the best round (``records.batch_metric`` keys)."""
    history = loop.history
    summary, found = cutoff_metrics(history, knee_sensitivity)
    summary.update(statistics_metrics(stats))
    summary.update(stop_metrics(history, criteria))
    summary.update(pool_metrics(history, len(loop.split.pool)))
    if batch_retrain and found["best"]["round"] is not None:
        batch = retrain_batch(loop, found["best"]["round"], batch_epochs)
        summary.update({records.batch_metric("n_labeled"): batch.n_labeled,
                        records.batch_metric("val_auroc"): batch.val_auroc,
                        records.batch_metric("test_auroc"): batch.test_auroc})
        log.info("[%s] batch retrain on the %d images labeled up to the best round: test AUROC %.3f",
                 loop.log_prefix, batch.n_labeled, batch.test_auroc)
    return summary


def health_tag(loop) -> str:
    """Warn in plain words when ``loop``'s learner looks untrained; returns the run's ``health`` tag
    (``"ok"`` or the findings joined by ``"; "``)."""
    history, val_labels = loop.history, loop.dataset.labels[loop.split.val]
    full_pool = loop.settings.learning == records.FULL_POOL_LEARNING
    n_pos = int(val_labels.sum())
    findings = learner_findings([r.val_auroc for r in history], [r.train_loss for r in history], n_pos,
                                len(val_labels) - n_pos, history[-1].test_auroc if full_pool and history else None)
    message = health_message(loop.log_prefix, findings)
    if message:
        log.warning(message)
    return "; ".join(findings) if findings else "ok"
