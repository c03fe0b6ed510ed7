"""Does the learner learn? A plain-words check of a finished job's curves (torch-free).

An active-learning comparison means nothing on a learner that never gets off the ground: the
curves are noise and every strategy "wins" by chance. After every job alflow checks three
symptoms and says which settings to change:

* **chance-level AUROC**: the last round's validation AUROC is within two standard errors of
  0.5, the standard error of an AUROC of 0.5 on the validation fold's positives and negatives
  (Hanley & McNeil, Radiology 143, 1982, eq. 2);
* **training loss not falling**: the median training loss of the last third of the rounds (at
  least ``MIN_ROUNDS`` rounds) is still at least ``LOSS_RATIO`` x ln 2, the cross-entropy of a
  coin toss: the model fits its own training images no better than chance. (The first round is
  no reference: with replay it trains on a few images and the set grows harder every round.)
  It counts only while the last validation AUROC is not clearly above chance (below 0.5 +
  ``LOSS_NEEDS_SE`` standard errors): uncertainty-type strategies label the ambiguous images by
  design, so their training loss stays near ln 2 while the model ranks well (elpv, uncertainty
  sampling with class balancing: loss 0.66, validation AUROC 0.81).
* **weak full-pool reference**: a full-pool run (the tables' reference row) whose test AUROC is
  below ``WEAK_REFERENCE``.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

LOSS_RATIO = 0.95
LOSS_NEEDS_SE = 4  # a flat loss is a symptom only below 0.5 + this many standard errors of validation AUROC
MIN_ROUNDS = 3
WEAK_REFERENCE = 0.8
ADVICE = ("start from a pretrained backbone (model.pretrained=imagenet, ssl, or model.weights_path), use a larger "
          "dataset.image_size, keep al.replay=true; with model.trainable=head try another model.head.c (or "
          "model.head.c_grid); with model.trainable=all train longer (trainer.epochs, trainer.max_steps)")


def auroc_standard_error(auroc: float, n_pos: int, n_neg: int) -> float:
    """Hanley & McNeil (1982) standard error of an AUROC on ``n_pos`` defects and ``n_neg`` good images.

    Returns NaN when either count is zero.
    """
    if n_pos <= 0 or n_neg <= 0:
        return float("nan")
    a = auroc
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) / (n_pos * n_neg)
    return math.sqrt(max(var, 0.0))


def learner_findings(val_auroc: Sequence[float], train_loss: Sequence[float], n_val_pos: int, n_val_neg: int,
                     full_pool_test_auroc: float | None = None) -> list[str]:
    """The symptoms found, one sentence each (empty = healthy).

    ``val_auroc`` and ``train_loss``: one value per round, in round order (NaN allowed).
    ``full_pool_test_auroc``: the test AUROC of a full-pool reference run, when this is one.
    """
    findings = []
    last_val = next((v for v in reversed(val_auroc) if not math.isnan(v)), float("nan"))
    noise = 2 * auroc_standard_error(0.5, n_val_pos, n_val_neg)
    if not math.isnan(last_val) and not math.isnan(noise) and last_val < 0.5 + noise:
        findings.append(f"the last round's validation AUROC {last_val:.3f} is within noise of chance "
                        f"(0.5 + 2 SE = {0.5 + noise:.3f} on {n_val_pos} defects / {n_val_neg} good images)")
    losses = [v for v in train_loss if not math.isnan(v)]
    clearly_ranks = not math.isnan(last_val) and not math.isnan(noise) and last_val >= 0.5 + noise * LOSS_NEEDS_SE / 2
    if len(losses) >= MIN_ROUNDS and not clearly_ranks:
        late = statistics.median(losses[-max(len(losses) // 3, 1):])
        if late >= LOSS_RATIO * math.log(2):
            findings.append(f"the training loss is not falling below chance (median {late:.3f} over the last "
                            f"rounds, a coin toss scores ln 2 = {math.log(2):.3f})")
    if full_pool_test_auroc is not None and not math.isnan(full_pool_test_auroc) \
            and full_pool_test_auroc < WEAK_REFERENCE:
        findings.append(f"the full-pool reference reaches only {full_pool_test_auroc:.3f} test AUROC "
                        f"(< {WEAK_REFERENCE}): the learner, not the strategy, limits every curve")
    return findings


def health_message(label: str, findings: Sequence[str]) -> str:
    """One warning paragraph for a job's log, or "" when healthy."""
    if not findings:
        return ""
    return (f"[{label}] the learner looks untrained: " + "; ".join(findings)
            + f". Its curves say little about the strategy. Try: {ADVICE}.")
