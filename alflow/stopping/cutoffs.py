"""Post-hoc cut-offs on a finished learning curve (the paper's Tables 2 and 3).

Given one run's per-round curves, :func:`cutoffs` reports three places where labeling
could have stopped:

``best``
    the round with the best validation AUROC over the whole run;
``knee``
    the knee of the defects-left curve (defects still in the unlabeled pool against images
    labeled), found with Kneedle (``kneed.KneeLocator``, ``curve="convex"``,
    ``direction="decreasing"``);
``best_until_knee``
    the round with the best validation AUROC among rounds with ``n_labeled <= knee``.

Each entry is a dict ``{"round", "n_labeled", "val_auroc", "test_auroc", "found"}``, where
``round`` is the 0-based position in the input sequences.

Rules, fixed so that every input has a defined answer:

* Ties go to the earliest round; rounds with a NaN validation AUROC are skipped.
* A knee is an interior point where the curve bends past its chord (Kneedle's difference
  curve is positive there), never the first or last round: a curve flat before one late drop
  (``[10, 10, 10, 10, 0]``) has no knee, not one at round 0 with every defect still unfound.
* **No knee** -- fewer than 3 finite points, a flat curve (e.g. no defects at all), a
  (numerically) straight line, or a curve on which Kneedle finds none -- falls back to the
  **last round**, as if labeling had gone on to the end of the run (the paper's protocol:
  pool exhaustion); the entry has ``found=False``. ``best_until_knee`` then searches every
  round, so it equals ``best`` (with ``found=False``).
* **No finite validation AUROC** (in the whole run for ``best``, up to the knee for
  ``best_until_knee``) falls back to the last round considered (the last round, resp. the
  knee round), again with ``found=False``.
* An empty run gives entries with ``round=None``, ``n_labeled=None``, NaN AUROCs and
  ``found=False``.

``found`` is True only when the entry's own rule applied without any fallback.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from kneed import KneeLocator

CUTOFFS = ("best", "knee", "best_until_knee")
CURVES = ("concave", "convex")
DIRECTIONS = ("increasing", "decreasing")

# A curve whose points all lie within this fraction of its y-range from the chord between its
# end points is a straight line: no knee. Decided here, not left to kneed's float round-off.
STRAIGHT_TOLERANCE = 1e-9


def knee_point(x: Sequence[float], y: Sequence[float], sensitivity: float = 1.0, curve: str = "convex",
               direction: str = "decreasing") -> float | None:
    """The x of Kneedle's knee of ``y`` against ``x``, or None when there is none.

    Points whose x or y is not finite (NaN: not measured) are dropped first. None, never a
    warning or an exception, for: fewer than 3 points left, a flat curve, a straight line, or a
    curve where ``KneeLocator`` finds no knee. A knee is only ever an interior point (never the
    first or last x) at which Kneedle's difference curve is positive, i.e. the curve really
    bends past its chord there: kneed also reports end points and points on the wrong side of
    the chord (``[10, 10, 10, 10, 0]`` "bends" at its first point while nothing has been found),
    and those are skipped in favour of the next knee kneed reports, or None. Raises ValueError only
    for invalid arguments:
    x and y of different lengths, x not strictly increasing, a negative or non-finite
    sensitivity, an unknown curve or direction.
    """
    if curve not in CURVES:
        raise ValueError(f"curve must be one of {CURVES}, got {curve!r}")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if not (math.isfinite(sensitivity) and sensitivity >= 0):
        raise ValueError(f"sensitivity must be finite and >= 0, got {sensitivity}")
    xs = np.asarray(x, dtype=float).ravel()
    ys = np.asarray(y, dtype=float).ravel()
    if xs.shape != ys.shape:
        raise ValueError(f"x and y must have the same length, got {len(xs)} and {len(ys)}")
    keep = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[keep], ys[keep]
    if np.any(np.diff(xs) <= 0):
        raise ValueError("x must be strictly increasing")
    if len(xs) < 3:
        return None
    span = float(np.ptp(ys))
    if span == 0.0:
        return None
    chord = ys[0] + (ys[-1] - ys[0]) * (xs - xs[0]) / (xs[-1] - xs[0])
    if float(np.max(np.abs(ys - chord))) <= STRAIGHT_TOLERANCE * span:
        return None
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        # online=True: every knee kneed detects, in order, so that a bogus first one (an end
        # point) does not hide a real one further on.
        knees = KneeLocator(xs, ys, S=sensitivity, curve=curve, direction=direction, online=True).all_knees
    beyond = _beyond_chord(xs, ys, curve, direction)
    for knee in knees:
        i = int(np.flatnonzero(xs == knee)[0])
        if 0 < i < len(xs) - 1 and beyond[i] > 0:
            return float(knee)
    return None


def _beyond_chord(xs: np.ndarray, ys: np.ndarray, curve: str, direction: str) -> np.ndarray:
    """Kneedle's difference curve, per point of ``xs``: how far the min-max normalised curve
    bulges past the normalised chord on the side ``curve`` names (above it for concave, below it
    for convex); positive only where the curve really bends that way (Satopaa et al. 2011, eq. 2).
    """
    xn = (xs - xs[0]) / (xs[-1] - xs[0])
    yn = (ys - ys.min()) / np.ptp(ys)
    chord = xn if direction == "increasing" else 1.0 - xn
    return (yn - chord) if curve == "concave" else (chord - yn)


def _entry(i: int | None, n: np.ndarray, val: np.ndarray, test: np.ndarray, found: bool) -> dict:
    if i is None:
        return {"round": None, "n_labeled": None, "val_auroc": math.nan, "test_auroc": math.nan, "found": False}
    return {"round": int(i), "n_labeled": n[i].item(), "val_auroc": float(val[i]), "test_auroc": float(test[i]),
            "found": bool(found)}


def _best(val: np.ndarray, upto: int) -> int | None:
    """Earliest index of the largest finite val in val[:upto + 1]; None if there is none."""
    part = val[: upto + 1]
    finite = np.isfinite(part)
    if not finite.any():
        return None
    return int(np.argmax(np.where(finite, part, -np.inf)))


def cutoffs(n_labeled: Sequence[int], val_auroc: Sequence[float], test_auroc: Sequence[float],
            defects_left: Sequence[float], sensitivity: float = 1.0) -> dict[str, dict]:
    """The ``best``, ``knee`` and ``best_until_knee`` cut-offs of one finished run.

    All four sequences are per round, in round order; ``n_labeled`` must be strictly
    increasing. See the module docstring for the entries and the fallbacks.
    """
    n = np.asarray(n_labeled)
    val = np.asarray(val_auroc, dtype=float).ravel()
    test = np.asarray(test_auroc, dtype=float).ravel()
    left = np.asarray(defects_left, dtype=float).ravel()
    if not (n.ndim == 1 and len(n) == len(val) == len(test) == len(left)):
        raise ValueError(f"n_labeled, val_auroc, test_auroc and defects_left must be 1-D of one length, got "
                         f"{n.shape}, {val.shape}, {test.shape}, {left.shape}")
    if len(n) == 0:
        return {name: _entry(None, n, val, test, False) for name in CUTOFFS}
    x = n.astype(float)
    if not np.all(np.isfinite(x)) or np.any(np.diff(x) <= 0):
        raise ValueError("n_labeled must be finite and strictly increasing")
    last = len(n) - 1

    best = _best(val, last)
    knee_x = knee_point(x, left, sensitivity, curve="convex", direction="decreasing")
    knee = last if knee_x is None else int(np.flatnonzero(x == knee_x)[0])
    until = _best(val, knee)
    return {
        "best": _entry(last if best is None else best, n, val, test, best is not None),
        "knee": _entry(knee, n, val, test, knee_x is not None),
        "best_until_knee": _entry(knee if until is None else until, n, val, test,
                                  knee_x is not None and until is not None),
    }
