""""May I stop?" in words: one line from the recall-targeted rule, then every criterion in a sentence.

The default verdict is QuantCI's (``PredictedDefectsStopping`` with ``mode="recall"``): the model's defect
probabilities over the pool estimate how many defects are still unlabeled; the rule stops when the
estimated recall's lower bound (``nstd`` standard deviations below) reaches ``recall_target``. The line
says the estimate, a 90 % interval of the defects left (normal approximation of a sum of independent
Bernoulli variables with the calibrated probabilities), the defects found (one number: the labels
stored) and when it will say stop. Estimates are rounded to what they can claim. Every other criterion
gets a sentence in words, with the condition under which it can never fire on this pool.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from alflow.stopping import StoppingCriterion
from alflow.stopping.predicted_defects import PredictedDefectsStopping, calibrated, round_temperature

Z90 = 1.6449  # two-sided 90 % interval of a normal variable


def about(value: float) -> str:
    """A count estimate rounded to what it can claim: whole below 100, two significant digits above."""
    value = max(value, 0.0)
    if value < 100:
        return f"{value:.0f}"
    digits = 10 ** (len(str(int(round(value)))) - 2)
    return f"{int(round(value / digits) * digits)}"


def confidence(nstd: float) -> int:
    """The one-sided confidence of a bound ``nstd`` standard deviations below an estimate, in %."""
    return int(round(100 * 0.5 * (1 + math.erf(nstd / math.sqrt(2)))))


def recall_rule(stopping: StoppingCriterion | None, criteria: Mapping[str, StoppingCriterion]):
    """The recall-targeted rule that gives the default verdict: the session's own when it is one, else the
    compared criteria's; None when there is none."""
    for rule in (stopping, *criteria.values()):
        if isinstance(rule, PredictedDefectsStopping) and rule.mode == "recall":
            return rule
    return None


def stop_line(history: Sequence, rule: PredictedDefectsStopping | None, found: int, done: str) -> dict:
    """``{"answer": "yes"|"no"|"not yet known", "line": ...}``: the one-line answer to "may I stop?"."""
    if rule is None or (done and not history):
        if done:
            return {"answer": "yes", "line": f"Yes — the session is finished: {done}."}
        return {"answer": "not yet known", "line": "No recall-targeted rule is set (stopping=predicted_defects): "
                                                   "see each rule below."}
    target = f"{rule.recall_target:.0%}"
    when = (f"Stop when the estimated recall reaches {target} with {confidence(rule.nstd)} % confidence.")
    last = history[-1] if history else None
    if last is None or last.unlabeled_logits is None or last.labeled_logits is None:
        return {"answer": "not yet known", "line": "Not yet known — the model has not been trained: the answer "
                                                   f"comes after the first submitted batch. {when}"}
    t = round_temperature(last)
    p_unlabeled = np.asarray(calibrated(last.unlabeled_logits, t), dtype=float)
    left = float(p_unlabeled.sum())
    sd = math.sqrt(float((p_unlabeled * (1 - p_unlabeled)).sum()))
    low, high = max(left - Z90 * sd, 0.0), left + Z90 * sd
    total = found + left
    share = f" ({found / total:.0%})" if total > 0 else ""
    stop = rule.should_stop(history)  # the rule's own verdict (QuantCI's bound on the last round)
    interval = f"{about(low)}–{about(high)}"
    est = (f"about {about(left)} defect(s) (90 % interval {interval}) are still among the {len(p_unlabeled)} "
           f"unlabeled images; labeling so far found {found} of an estimated {about(total)}{share}.")
    if stop:
        return {"answer": "yes", "line": f"Yes — the estimated recall has reached {target} with "
                                         f"{confidence(rule.nstd)} % confidence: {est}"}
    if done:
        return {"answer": "yes", "line": f"Yes — the session is finished ({done}): {est}"}
    return {"answer": "no", "line": f"Not yet — {est} {when}"}


def criterion_words(name: str, rule: StoppingCriterion, pool: int, audited: bool,
                    audit_pending: bool) -> tuple[str, str]:
    """(what the rule does, why it can never fire on this pool or ''), in words."""
    kind = type(rule).__name__
    never = ""
    needs_audit = "" if audited else (
        "it judges once the audit sample is labeled" if audit_pending else
        "it can never fire here: it reads the audit sample's predictions, and this session has none "
        "(label.audit_size=0)")
    if kind == "KneeStopping":
        if rule.method == "cormack_grossman":
            what = (f"stops at a knee where the defects-found curve flattens {rule.slope_ratio:g}× (one more for each "
                    f"defect short of {rule.min_defects}), after {rule.min_rounds} rounds and {rule.min_labeled} "
                    "labeled images")
            if rule.min_labeled > pool:
                never = f"it can never fire here: it needs {rule.min_labeled} labeled images and the pool has {pool}"
            elif rule.min_defects > pool:
                never = (f"it can never fire here in practice: it asks for {rule.min_defects} defects' evidence and "
                         f"the pool has {pool} images")
        else:
            what = (f"stops at the knee of the defects-found curve once it has held for {rule.hold_rounds} rounds "
                    f"(not before round {rule.min_rounds})")
    elif kind == "PredictedDefectsStopping":
        if rule.mode == "recall":
            what = (f"stops when the estimated recall reaches {rule.recall_target:.0%} with "
                    f"{confidence(rule.nstd)} % confidence (the line above)")
        elif rule.mode == "threshold":
            what = f"stops when the model expects fewer than {rule.threshold:g} defect(s) left among the unlabeled"
        else:
            what = f"stops at the knee of the model's expected defects left, held for {rule.hold_rounds} rounds"
    elif kind == "PlateauStopping":
        what = (f"stops when the audit sample's AUROC has not improved by {rule.min_delta:g} for {rule.patience} "
                "rounds" + (f", after {rule.min_labeled} labeled images" if rule.min_labeled else ""))
        never = needs_audit or (f"it can never fire here: it needs {rule.min_labeled} labeled images and the pool "
                                f"has {pool}" if rule.min_labeled > pool else "")
    elif kind == "StabilizingPredictions":
        what = (f"stops when the model's answers on the audit sample agree (kappa ≥ {rule.kappa:g}) over "
                f"{rule.window} rounds")
        never = needs_audit
    elif kind == "ClassificationChangeStopping":
        what = (f"stops when fewer than {rule.tolerance:.1%} of the pool's predictions change between rounds "
                f"(not before round {rule.min_rounds})")
    elif kind == "VerificationStopping":
        what = (f"tests a random sample of the unlabeled images for recall ≥ {rule.recall_target:.0%} at "
                f"{rule.confidence:.0%} confidence")
        never = "it can never fire here: it labels its sample in simulations only, and a session records none"
    elif kind == "BudgetStopping":
        what = f"stops at {rule.max_labeled} labeled images"
        if rule.max_labeled > pool:
            never = f"it can never fire here: the pool has {pool} images"
    else:
        settings = ", ".join(f"{k}={v}" for k, v in vars(rule).items() if not k.startswith("_"))
        what = f"{kind} ({settings})"
    return what, never
