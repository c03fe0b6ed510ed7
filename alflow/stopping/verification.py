"""Verification stopping: a random sample of what is left, and a hypergeometric test of "recall >= target".

Callaghan & Müller-Hansen, "Statistical stopping criteria for automated screening in systematic
reviews", Systematic Reviews 9:273 (2020); reference implementation ``buscarpy.calculate_h0``. At a
candidate stop, ``n`` images drawn at random without replacement from the ``N`` still unlabeled are
labeled; ``k`` of them are defects. With ``r_AL`` the defects found by active learning before the sample
and ``r_seen = r_AL + k`` all defects seen, the null hypothesis "recall < target tau" holds exactly when
the ``N`` unlabeled images held at least

    K_hat = floor(r_seen / tau - r_AL + 1)

defects (then even counting the sample's finds, ``r_seen / (r_AL + K) < tau``). The p-value is the
chance of seeing at most ``k`` defects in the sample if there were ``K_hat``: ``p =
hypergeom.cdf(k, N, K_hat, n)`` (scipy's order: population ``N``, successes ``K_hat``, draws ``n``);
it is smaller for every ``K > K_hat``, so H0 is rejected at confidence ``c`` when ``p < 1 - c``.
``K_hat > N`` (recall < tau is impossible) gives ``p = 0``.

In a simulation the sample's labels come from the oracle: ``record.remaining_sample_labels`` holds
the unlabeled images' labels in one seeded random order of the pool, fixed for the job
(``remaining_sample_index``: the images), and the first ``sample_size`` of them are the round's sample.
The order is drawn independently of the strategy's picks, so the first ``n`` still-unlabeled images
are a uniform random sample of the unlabeled pool at every round; a later test reuses the images an
earlier one labeled and pays only for the new ones. The labels spent on samples
(:meth:`VerificationStopping.extra_labels`) are the sampled images the pool had not labeled by the
stop, whether or not a test let labeling stop; they are counted, not used for training. Testing
at several rounds is a sequence of tests, each valid on its own, with no correction for their
number (as in the paper's sequential use). A labeling session records no sample: the criterion
never fires.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from scipy.stats import hypergeom

from alflow.stopping.contract import StoppingCriterion
from alflow.stopping.validators import check_int, check_real


def h0_p_value(k: int, n: int, N: int, r_al: int, target: float) -> float:
    """p-value of H0 "recall < target" after ``k`` defects in a random sample of ``n`` of the ``N``
    unlabeled images, with ``r_al`` defects found before the sample (module docstring). ValueError for
    ``n > N``, ``k > n`` or a target outside (0, 1]."""
    if not 0 < target <= 1:
        raise ValueError(f"recall target must be in (0, 1], got {target}")
    if not 0 <= k <= n <= N:
        raise ValueError(f"need 0 <= k <= n <= N, got k={k}, n={n}, N={N}")
    k_hat = math.floor((r_al + k) / target - r_al + 1)
    if k_hat > N:
        return 0.0
    return float(hypergeom.cdf(k, N, k_hat, n))


class VerificationStopping(StoppingCriterion):
    """Stop when a random sample of the unlabeled pool supports "defect recall >= ``recall_target``" at
    ``confidence`` (one-sided hypergeometric test, :func:`h0_p_value`).

    A round is a *candidate stop* once ``min_rounds`` rounds are done and the round's batch found
    defects at a share ``<= candidate_rate`` of its images (the strategy has run dry: the moment a
    reviewer would check). At each candidate the first ``sample_size`` labels of
    ``remaining_sample_labels`` (all of them if fewer are left) are the sample; a round without them
    (not a simulation, or nothing left) is no candidate. Every key is required (defaults: the YAML).
    """

    name = "verification"

    def __init__(self, recall_target: float, confidence: float, sample_size: int, candidate_rate: float,
                 min_rounds: int):
        self.recall_target = check_real("recall_target", recall_target, 1e-9, 1.0)
        self.confidence = check_real("confidence", confidence, 0.0, 1.0)
        self.sample_size = check_int("sample_size", sample_size, 1)
        self.candidate_rate = check_real("candidate_rate", candidate_rate, 0.0, 1.0)
        self.min_rounds = check_int("min_rounds", min_rounds, 1)

    def is_candidate(self, history: Sequence) -> bool:
        """Whether the last round of ``history`` is a candidate stop (see the class docstring)."""
        if len(history) < self.min_rounds or not getattr(history[-1], "remaining_sample_labels", None):
            return False
        last = history[-1]
        before = history[-2].defects_found if len(history) > 1 else 0
        n_selected = last.n_selected if last.n_selected else 1
        return (last.defects_found - before) / n_selected <= self.candidate_rate

    def sample(self, record) -> list[int]:
        """The round's sample: the first ``sample_size`` labels of its random order of the unlabeled pool."""
        return list(record.remaining_sample_labels[: self.sample_size])

    def p_value(self, history: Sequence) -> float:
        """The test's p-value at the last round of ``history`` (NaN when it is no candidate)."""
        if not self.is_candidate(history):
            return math.nan
        last = history[-1]
        labels = self.sample(last)
        return h0_p_value(sum(labels), len(labels), len(last.remaining_sample_labels), last.defects_found,
                          self.recall_target)

    def should_stop(self, history: Sequence) -> bool:
        p = self.p_value(history)
        return math.isfinite(p) and p < 1.0 - self.confidence

    def extra_labels(self, history: Sequence) -> int:
        """Labels spent on samples by the last round of ``history``: the images sampled at any candidate stop
        that the pool had not labeled by then (the union of the samples, counted once). Records without
        ``remaining_sample_index`` (older runs) count every sample in full."""
        candidates = [history[i] for i in range(len(history)) if self.is_candidate(history[: i + 1])]
        if not candidates:
            return 0
        if any(getattr(r, "remaining_sample_index", None) is None for r in candidates + [history[-1]]):
            return sum(len(self.sample(r)) for r in candidates)
        sampled = {i for r in candidates for i in r.remaining_sample_index[: self.sample_size]}
        unlabeled_now = set(history[-1].remaining_sample_index)
        return len(sampled & unlabeled_now)
