"""Temperature scaling and the expected calibration error, for binary defect classifiers (numpy/scipy only).

Temperature scaling (Guo, Pleiss, Sun & Weinberger, "On calibration of modern neural networks", ICML
2017, section 4.2): one scalar ``T > 0`` divides the logits, fitted by minimising the negative
log-likelihood on held-out labeled data (here: the validation fold). For two classes the softmax of
``(z_good, z_defect) / T`` is ``sigmoid(z / T)`` with ``z = z_defect - z_good``, the defect log-odds.
It rescales confidence and never changes a prediction (the sign of ``z``).

Expected calibration error (Guo et al. 2017, eq. 3; Naeini et al. 2015): the confidence of the predicted
class in ``ECE_BINS`` equal-width bins over [0.5, 1] ... [0, 1]; ``ECE = sum_b |B_b|/n |acc(B_b) -
conf(B_b)|``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit, log_expit

ECE_BINS = 15  # Guo et al. 2017 use M = 15 bins
LOG_T_BOUNDS = (-5.0, 5.0)  # T in [e^-5, e^5] ~ [0.0067, 148]: wide enough for any trained net's logits
LOGIT_CLIP = 1e-12  # probabilities are clipped to [1e-12, 1] before log-odds: |z| <= log(1e12) ~ 27.6


def log_odds(p_good: Sequence[float], p_defect: Sequence[float]) -> np.ndarray:
    """Defect log-odds ``log(p_defect + c) - log(p_good + c)``, ``c = LOGIT_CLIP``, from softmax
    probabilities (N each); the clip keeps a saturated float32 softmax (p = 1.0 exactly) finite."""
    p0 = np.asarray(p_good, dtype=float)
    p1 = np.asarray(p_defect, dtype=float)
    return np.log(p1 + LOGIT_CLIP) - np.log(p0 + LOGIT_CLIP)


def _nll(log_t: float, z: np.ndarray, y: np.ndarray) -> float:
    s = z / math.exp(log_t)
    # -[y log sigmoid(s) + (1 - y) log sigmoid(-s)], stable for large |s|
    return float(-np.mean(y * log_expit(s) + (1 - y) * log_expit(-s)))


def fit_temperature(logits: Sequence[float], labels: Sequence[int]) -> float:
    """The temperature ``T`` minimising the NLL of ``sigmoid(logits / T)`` against ``labels`` (0/1).

    ``logits``: N defect log-odds; ``labels``: N in {0, 1}. Bounded 1-D search over ``log T`` in
    ``LOG_T_BOUNDS``. Returns 1.0 (no rescaling) when the labels hold a single class or N = 0: the
    NLL then decreases without bound as confidence grows and T is not identifiable. ValueError for
    different lengths, non-finite logits or labels outside {0, 1}.
    """
    z = np.asarray(logits, dtype=float).ravel()
    y = np.asarray(labels, dtype=float).ravel()
    if z.shape != y.shape:
        raise ValueError(f"logits and labels must have one length, got {z.size} and {y.size}")
    if not np.all(np.isfinite(z)):
        raise ValueError("logits must be finite")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be 0 or 1")
    if z.size == 0 or y.min() == y.max():
        return 1.0
    result = minimize_scalar(_nll, bounds=LOG_T_BOUNDS, args=(z, y), method="bounded",
                             options={"xatol": 1e-6})
    return float(math.exp(result.x))


def calibrated(logits: Sequence[float], temperature: float) -> np.ndarray:
    """``p(defect) = sigmoid(logits / temperature)`` (N)."""
    return expit(np.asarray(logits, dtype=float) / temperature)


def expected_calibration_error(p_defect: Sequence[float], labels: Sequence[int], n_bins: int = ECE_BINS) -> float:
    """ECE of the predicted class's confidence: N probabilities of a defect and N labels (0/1).

    The prediction is ``p > 0.5`` -> defect (a tie is good, as in the argmax of the two-class softmax),
    its confidence ``max(p, 1 - p)``; bins ``(k/M, (k+1)/M]`` of confidence (the first also holds 0).
    NaN for N = 0.
    """
    p = np.asarray(p_defect, dtype=float).ravel()
    y = np.asarray(labels).ravel()
    if p.shape != y.shape:
        raise ValueError(f"probabilities and labels must have one length, got {p.size} and {y.size}")
    if p.size == 0:
        return math.nan
    predicted = (p > 0.5).astype(int)
    confidence = np.where(predicted == 1, p, 1 - p)
    correct = (predicted == y).astype(float)
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    ece = 0.0
    for b in np.unique(bins):
        members = bins == b
        ece += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(ece)
