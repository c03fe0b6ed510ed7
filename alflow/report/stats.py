"""The report's statistics over runs (folds x seeds), torch-free: mean, standard deviation, a 95 % interval,
and paired tests of a strategy against the baseline over the same folds and seeds.

* The interval of a mean is Student's t interval, ``mean +- t_{0.975, n-1} * std / sqrt(n)`` (``std`` with
  ``ddof=1``): the runs are few (3 folds x 2 seeds), so the normal quantile would be too narrow. It is
  clipped to the range the quantity can take (an AUROC's interval never leaves [0, 1]).
* The interval of a share of runs (a criterion's reliability: the share reaching the recall target) is
  Wilson's score interval (``scipy.stats.binomtest(...).proportion_ci(method="wilson")``), which stays
  inside [0, 1] and is not a point at 0/n or n/n, as a t interval on 0/1 values would be.
* Paired tests over the (fold, seed) pairs both sides have: the Wilcoxon signed-rank test
  (``scipy.stats.wilcoxon``, two-sided; zero differences dropped, Wilcoxon's convention) and the paired
  t test (``scipy.stats.ttest_rel``, two-sided). With n pairs the signed-rank test cannot go below
  ``2 / 2^n`` (n = 5: 0.0625), so with fewer than 6 pairs only the t test can reach 0.05.
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping

import numpy as np
from scipy.stats import binomtest, t, ttest_rel, wilcoxon

CONFIDENCE = 0.95


def finite(values: Iterable[float | None]) -> np.ndarray:
    """The finite values (None and NaN are "not measured") as a float array."""
    return np.array([v for v in values if v is not None and math.isfinite(v)], dtype=float)


def describe(values: Iterable[float | None],
             bounds: tuple[float, float] = (-math.inf, math.inf)) -> dict[str, float]:
    """``mean``, ``std`` (ddof=1), ``ci95_low``, ``ci95_high`` (Student's t) and ``n`` of the finite values.
    One value: std and interval NaN (no spread is known); none: everything NaN, n = 0. ``bounds``: the
    range the quantity cannot leave (AUROC and recall: (0, 1); counts: (0, inf)); the interval is clipped
    to it, as with 2 runs ``t_{0.975, 1} = 12.7`` would stretch it far beyond."""
    v = finite(values)
    n = len(v)
    if n == 0:
        return {"mean": math.nan, "std": math.nan, "ci95_low": math.nan, "ci95_high": math.nan, "n": 0}
    mean = float(v.mean())
    if n == 1:
        return {"mean": mean, "std": math.nan, "ci95_low": math.nan, "ci95_high": math.nan, "n": 1}
    std = float(v.std(ddof=1))
    half = float(t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * std / math.sqrt(n)
    low, high = bounds
    return {"mean": mean, "std": std, "ci95_low": max(mean - half, low), "ci95_high": min(mean + half, high),
            "n": n}


def share(hits: Iterable[bool | None]) -> dict[str, float]:
    """The share of True among the known (not None) outcomes, with Wilson's 95 % interval, as
    ``mean``, ``std`` (of the 0/1 values, ddof=1), ``ci95_low``, ``ci95_high``, ``n``."""
    known = [bool(h) for h in hits if h is not None]
    n = len(known)
    if n == 0:
        return {"mean": math.nan, "std": math.nan, "ci95_low": math.nan, "ci95_high": math.nan, "n": 0}
    k = sum(known)
    ci = binomtest(k, n).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    std = float(np.std(np.array(known, dtype=float), ddof=1)) if n > 1 else math.nan
    return {"mean": k / n, "std": std, "ci95_low": float(ci.low), "ci95_high": float(ci.high), "n": n}


def paired(values: Mapping[Hashable, float], baseline: Mapping[Hashable, float]) -> dict[str, float]:
    """Paired comparison over the keys (fold, seed) both mappings hold with finite values:
    ``n_pairs``, ``mean_diff`` (values - baseline), ``wilcoxon_p`` and ``paired_t_p`` (two-sided; NaN
    where undefined: fewer than 2 pairs, or every difference equal, the t test, or zero, both)."""
    keys = sorted((k for k in values.keys() & baseline.keys()
                   if math.isfinite(values[k]) and math.isfinite(baseline[k])), key=str)
    diffs = np.array([values[k] - baseline[k] for k in keys], dtype=float)
    out = {"n_pairs": len(keys), "mean_diff": float(diffs.mean()) if len(keys) else math.nan,
           "wilcoxon_p": math.nan, "paired_t_p": math.nan}
    if len(keys) < 2:
        return out
    if np.any(diffs != 0):
        out["wilcoxon_p"] = float(wilcoxon(diffs).pvalue)
    if np.ptp(diffs) > 0:
        out["paired_t_p"] = float(ttest_rel([values[k] for k in keys], [baseline[k] for k in keys]).pvalue)
    return out
