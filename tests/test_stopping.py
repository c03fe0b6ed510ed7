"""Stopping criteria and post-hoc cut-offs on hand-made curves with known answers."""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hydra.utils import get_class
from kneed import KneeLocator
from omegaconf import OmegaConf

from alflow.stopping import (
    CRITERIA, BudgetStopping, NoStopping, cohen_kappa, cutoffs, knee_point, where_each_would_stop,
)

CONF = Path(__file__).resolve().parents[1] / "conf" / "stopping"


def make(name, **overrides):
    """The criterion of ``conf/stopping/<name>.yaml`` (the one home of its defaults), with ``overrides``."""
    cfg = OmegaConf.to_container(OmegaConf.merge(OmegaConf.load(CONF / f"{name}.yaml"), overrides))
    # The class itself, not hydra's instantiate: its ValueError reaches the test unwrapped.
    return get_class(cfg.pop("_target_"))(**cfg)


NAN = math.nan
BATCH = 32


@dataclass
class Rec:
    round: int
    n_labeled: int
    val_auroc: float = NAN
    test_auroc: float = NAN
    defects_found: int = 0
    defects_left: int = 0
    expected_defects_left: float = NAN
    stop_set_predictions: object = None


# x = 32, 64, ..., 960 and defects_left = round(50 exp(-x/100)): 36, 26, 19, 14, 10, 7, 5, 4, ...
# Kneedle's knee of the full curve is at x = 224 (round 6, 5 defects left).
X = [BATCH * (i + 1) for i in range(30)]
TOTAL = 50
LEFT = [round(TOTAL * math.exp(-x / 100)) for x in X]
FOUND = [TOTAL - left for left in LEFT]
FULL_KNEE = 224


def history(n_rounds=30, **columns):
    """Records on the exp curve; ``columns`` override a field per round (lists of n_rounds)."""
    recs = []
    for i in range(n_rounds):
        rec = Rec(round=i, n_labeled=X[i], defects_found=FOUND[i], defects_left=LEFT[i])
        for key, values in columns.items():
            setattr(rec, key, values[i])
        recs.append(rec)
    return recs


def first_stop(criterion, hist):
    """Brute force: n_labeled of the first prefix on which the criterion stops."""
    for i in range(len(hist)):
        if criterion.should_stop(hist[: i + 1]):
            return hist[i].n_labeled
    return None


# --------------------------------------------------------------------------- knee_point


def test_knee_point_on_the_exp_curve():
    assert LEFT[:8] == [36, 26, 19, 14, 10, 7, 5, 4]
    assert knee_point(X, LEFT, 1.0) == FULL_KNEE


def test_knee_of_defects_found_equals_knee_of_defects_left_on_full_curves():
    assert knee_point(X, FOUND, 1.0, curve="concave", direction="increasing") == FULL_KNEE
    # A second hand-made curve: fast finds, then a long tail (46 defects in all); knee at 4 rounds.
    x = [BATCH * (i + 1) for i in range(10)]
    found = [10, 20, 30, 38, 42, 44, 45, 45, 46, 46]
    left = [46 - f for f in found]
    assert knee_point(x, left, 1.0) == knee_point(x, found, 1.0, curve="concave", direction="increasing") == 128


# A near-linear, slightly concave drop (random sampling finds defects at a steady rate): Kneedle
# itself finds no elbow on it (KneeLocator(...).knee is None).
NO_ELBOW = [27, 26, 24, 19, 17, 13, 9, 4, 1, 0]


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("y", [[0] * 6, [7] * 6, [60, 50, 40, 30, 20, 10], [1, 2, 3, 4, 5, 6], NO_ELBOW,
                               [4, 4, 3, 1, 0, NAN]])
def test_knee_point_is_none_without_a_knee(y):
    # flat (no defects / all found), straight lines both ways, curves where kneed finds no elbow
    x = [BATCH * (i + 1) for i in range(len(y))]
    assert knee_point(x, y, 1.0) is None


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("n", [0, 1, 2])
def test_knee_point_is_none_below_three_points(n):
    assert knee_point(X[:n], LEFT[:n], 1.0) is None


def test_raw_kneed_warns_on_a_flat_curve_but_knee_point_does_not():
    x = [32.0, 64.0, 96.0, 128.0]
    with warnings.catch_warnings(record=True) as raw:
        warnings.simplefilter("always")
        KneeLocator(x, [3, 3, 3, 3], curve="convex", direction="decreasing")
    assert raw  # the warning knee_point must keep from leaking
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        assert knee_point(x, [3, 3, 3, 3], 1.0) is None
    assert not ours


def test_knee_point_drops_unmeasured_points():
    y = [float(v) for v in LEFT]
    x = list(X)
    y_gappy = y[:3] + [NAN] + y[3:]
    x_gappy = x[:3] + [x[2] + 1] + x[3:]  # the NaN point's x is ignored with it
    assert knee_point(x_gappy, y_gappy, 1.0) == FULL_KNEE


def test_knee_point_rejects_invalid_arguments():
    with pytest.raises(ValueError, match="same length"):
        knee_point([1, 2, 3], [1, 2], 1.0)
    with pytest.raises(ValueError, match="strictly increasing"):
        knee_point([1, 3, 2, 4], [4, 3, 1, 0], 1.0)
    with pytest.raises(ValueError, match="curve"):
        knee_point(X, LEFT, 1.0, curve="wiggly")
    with pytest.raises(ValueError, match="sensitivity"):
        knee_point(X, LEFT, -1.0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=0, max_size=12), st.floats(0, 5))
def test_knee_point_never_raises_or_warns_and_returns_an_x(ys, sensitivity):
    x = [BATCH * (i + 1) for i in range(len(ys))]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        knee = knee_point(x, ys, sensitivity)
    assert not caught
    assert knee is None or knee in x


# Issue 14, item 3: kneed reports the first point of a curve that is flat before it drops (its
# difference curve is 0 there and negative after), i.e. "knee at round 0" with every defect left.
X16 = [16 * (i + 1) for i in range(8)]
ENDPOINT_CURVES = [[10, 10, 10, 10, 0], [6, 6, 5, 5, 5, 0]]
LATE_DROP = [12, 12, 11, 11, 10, 4, 1, 0]


@pytest.mark.parametrize("left", ENDPOINT_CURVES)
def test_a_curve_flat_before_its_drop_has_no_knee(left):
    x = X16[: len(left)]
    found = [left[0] - v for v in left]
    assert knee_point(x, left, 1.0) is None
    assert knee_point(x, found, 1.0, curve="concave", direction="increasing") is None
    out = cutoffs(x, [0.5] * len(x), [0.5] * len(x), left)
    assert (out["knee"]["round"], out["knee"]["n_labeled"], out["knee"]["found"]) == (len(x) - 1, x[-1], False)


def test_a_late_drop_has_its_knee_at_112_or_none_never_16():
    out = cutoffs(X16, [0.5] * 8, [0.5] * 8, LATE_DROP)["knee"]
    assert (out["n_labeled"], out["found"]) in {(112, True), (128, False)}
    assert knee_point(X16, LATE_DROP, 1.0) in (112.0, None)


@pytest.mark.parametrize("left", ENDPOINT_CURVES + [LATE_DROP])
def test_online_knee_follows_the_same_rule(left):
    hist = [Rec(round=i, n_labeled=X16[i], defects_found=left[0] - v, defects_left=v) for i, v in enumerate(left)]
    crit = make("knee", hold_rounds=0, min_rounds=1)
    assert crit.knee(hist) in (None, 112.0)
    # On every prefix the knee, if any, is inside it: never the prefix's first or last point.
    # (A prefix may have a real knee of its own: [0, 0, 1, 1] bends at 48.)
    for n in range(1, len(hist) + 1):
        assert crit.knee(hist[:n]) not in (hist[0].n_labeled, hist[n - 1].n_labeled)
    if left == ENDPOINT_CURVES[0]:
        assert first_stop(crit, hist) is None  # flat, then all found at once: nowhere to stop early


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=3, max_size=12), st.floats(0, 5),
       st.sampled_from([("convex", "decreasing"), ("concave", "increasing"), ("convex", "increasing"),
                        ("concave", "decreasing")]))
def test_a_knee_is_interior_and_past_the_chord(ys, sensitivity, shape):
    curve, direction = shape
    x = np.array([BATCH * (i + 1) for i in range(len(ys))], dtype=float)
    knee = knee_point(x, ys, sensitivity, curve=curve, direction=direction)
    if knee is None:
        return
    i = int(np.flatnonzero(x == knee)[0])
    assert 0 < i < len(x) - 1
    y = np.asarray(ys, dtype=float)
    xn, yn = (x - x[0]) / (x[-1] - x[0]), (y - y.min()) / (y.max() - y.min())
    chord = xn[i] if direction == "increasing" else 1 - xn[i]
    assert (yn[i] > chord) if curve == "concave" else (yn[i] < chord)


@settings(max_examples=40, deadline=None)
@given(st.integers(3, 15), st.floats(-100, 100).filter(lambda v: abs(v) > 1e-3), st.floats(-1e3, 1e3),
       st.integers(1, 64))
def test_straight_lines_have_no_knee(n, slope, intercept, step):
    x = [step * (i + 1) for i in range(n)]
    y = [intercept + slope * v for v in x]
    assert knee_point(x, y, 0.0) is None


# --------------------------------------------------------------------------- cutoffs


def test_cutoffs_on_the_exp_curve():
    val = [0.60 + 0.01 * i for i in range(30)]
    val[4], val[20] = 0.75, 0.90  # best before the knee at round 4, best overall at round 20
    test = [0.50 + 0.01 * i for i in range(30)]
    out = cutoffs(X, val, test, LEFT)
    assert out["best"] == {"round": 20, "n_labeled": 672, "val_auroc": 0.90, "test_auroc": pytest.approx(0.70),
                           "found": True}
    assert out["knee"] == {"round": 6, "n_labeled": FULL_KNEE, "val_auroc": pytest.approx(0.66),
                           "test_auroc": pytest.approx(0.56), "found": True}
    assert out["best_until_knee"] == {"round": 4, "n_labeled": 160, "val_auroc": 0.75,
                                      "test_auroc": pytest.approx(0.54), "found": True}


def test_cutoffs_break_ties_at_the_earliest_round_and_skip_nan():
    val = [NAN, 0.7, 0.8, NAN, 0.8, 0.6, 0.8] + [0.5] * 23
    out = cutoffs(X, val, [0.1] * 30, LEFT)
    assert out["best"]["round"] == 2
    assert out["best_until_knee"]["round"] == 2


def test_best_until_knee_only_sees_rounds_up_to_the_knee():
    val = [0.5] * 30
    val[6], val[7] = 0.6, 0.9  # the knee round itself counts; the round after it does not
    out = cutoffs(X, val, [0.1] * 30, LEFT)
    assert out["best"]["round"] == 7
    assert out["best_until_knee"]["round"] == 6


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("left", [[0] * 10, [100 - 10 * i for i in range(10)], NO_ELBOW])
def test_no_knee_falls_back_to_the_last_round(left):
    # no defects at all, a straight line, a curve where kneed finds nothing
    x = X[:10]
    val = [0.5, 0.9, 0.7, 0.6, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    out = cutoffs(x, val, [0.3] * 10, left)
    assert out["knee"]["round"] == 9 and out["knee"]["n_labeled"] == 320 and out["knee"]["found"] is False
    assert out["best_until_knee"]["round"] == out["best"]["round"] == 1
    assert out["best_until_knee"]["found"] is False
    assert out["best"]["found"] is True


@pytest.mark.filterwarnings("error")
def test_cutoffs_on_short_and_empty_runs():
    empty = cutoffs([], [], [], [])
    assert all(e["round"] is None and e["n_labeled"] is None and not e["found"] for e in empty.values())
    assert math.isnan(empty["best"]["test_auroc"])
    two = cutoffs([32, 64], [0.8, 0.7], [0.6, 0.65], [5, 3])
    assert two["best"] == {"round": 0, "n_labeled": 32, "val_auroc": 0.8, "test_auroc": 0.6, "found": True}
    assert two["knee"]["round"] == 1 and two["knee"]["found"] is False
    assert two["best_until_knee"]["round"] == 0
    one = cutoffs([32], [NAN], [0.6], [5])
    assert one["best"]["round"] == 0 and one["best"]["found"] is False


@pytest.mark.filterwarnings("error")
def test_cutoffs_without_a_finite_val_auroc():
    out = cutoffs(X, [NAN] * 30, [0.4] * 30, LEFT)
    assert out["best"]["round"] == 29 and out["best"]["found"] is False
    assert out["knee"]["round"] == 6 and out["knee"]["found"] is True
    assert out["best_until_knee"]["round"] == 6 and out["best_until_knee"]["found"] is False
    # finite AUROCs only after the knee: best exists, best-until-knee falls back to the knee round
    val = [NAN] * 10 + [0.7] * 20
    out = cutoffs(X, val, [0.4] * 30, LEFT)
    assert out["best"]["round"] == 10 and out["best"]["found"] is True
    assert out["best_until_knee"]["round"] == 6 and out["best_until_knee"]["found"] is False


def test_cutoffs_reject_mismatched_or_unordered_inputs():
    with pytest.raises(ValueError, match="one length"):
        cutoffs(X, [0.5] * 29, [0.5] * 30, LEFT)
    with pytest.raises(ValueError, match="strictly increasing"):
        cutoffs([32, 32, 64], [0.5] * 3, [0.5] * 3, [3, 2, 1])


# --------------------------------------------------------------------------- PlateauStopping


def test_plateau_stops_after_patience_rounds_without_improvement():
    val = [0.6, 0.7, 0.8, 0.801, 0.803, 0.79, 0.9, 0.9]
    crit = make("plateau", patience=3, min_delta=0.005)
    hist = history(8, val_auroc=val)
    assert not crit.should_stop(hist[:5])  # two stale rounds
    assert crit.should_stop(hist[:6])
    assert first_stop(crit, hist) == X[5]


def test_plateau_best_moves_only_on_a_real_improvement():
    # Keras' rule: 0.804 is no improvement over 0.8 (min_delta 0.005), so 0.808 is one.
    val = [0.8, 0.804, 0.808, 0.812, 0.816]
    crit = make("plateau", patience=2, min_delta=0.005)
    assert [crit.rounds_without_improvement(history(5, val_auroc=val)[: i + 1]) for i in range(5)] == [0, 1, 0, 1, 0]
    assert first_stop(crit, history(5, val_auroc=val)) is None


def test_plateau_skips_nan_rounds():
    val = [NAN, NAN, 0.7, NAN, 0.7, 0.7, NAN]
    crit = make("plateau", patience=2, min_delta=0.0)
    assert first_stop(crit, history(7, val_auroc=val)) == X[5]
    assert first_stop(crit, history(7, val_auroc=[NAN] * 7)) is None


def test_plateau_waits_for_min_labeled():
    val = [0.9] + [0.5] * 9
    assert first_stop(make("plateau", patience=1), history(10, val_auroc=val)) == X[1]
    assert first_stop(make("plateau", patience=1, min_labeled=200), history(10, val_auroc=val)) == 224


@pytest.mark.parametrize("kwargs, key", [({"patience": 0}, "stopping.patience"),
                                         ({"min_delta": -0.1}, "stopping.min_delta"),
                                         ({"min_delta": NAN}, "stopping.min_delta"),
                                         ({"min_labeled": -1}, "stopping.min_labeled"),
                                         ({"patience": 1.5}, "stopping.patience")])
def test_plateau_validates_arguments(kwargs, key):
    with pytest.raises(ValueError, match=key):
        make("plateau", **kwargs)


# --------------------------------------------------------------------------- KneeStopping


def test_knee_stopping_waits_for_the_knee_to_hold():
    # Knees of the defects-found prefixes: none up to 6 rounds, then 96 (7), 128 (8, 9), 160 (10-12), ...
    hist = history()
    crit = make("knee")  # hold_rounds=2
    assert [crit.knee(hist[:n]) for n in range(6, 13)] == [None, 96, 128, 128, 160, 160, 160]
    assert not crit.should_stop(hist[:11])  # 160 found twice only
    assert crit.should_stop(hist[:12])
    assert first_stop(crit, hist) == 384
    assert first_stop(make("knee", hold_rounds=1), hist) == 288  # 128 at 8 and 9 rounds
    assert first_stop(make("knee", hold_rounds=0), hist) == 224  # the first knee, at 7 rounds
    assert first_stop(make("knee", hold_rounds=0, min_rounds=10), hist) == 320


def test_knee_stopping_on_the_full_curve_sees_the_paper_knee():
    assert make("knee").knee(history()) == FULL_KNEE


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("found", [[0] * 12, [3 * (i + 1) for i in range(12)], [5] * 12])
def test_knee_stopping_never_stops_without_a_knee(found):
    hist = history(12, defects_found=found)
    assert first_stop(make("knee", hold_rounds=0, min_rounds=1), hist) is None


@pytest.mark.parametrize("kwargs, key", [({"sensitivity": -1}, "stopping.sensitivity"),
                                         ({"sensitivity": math.inf}, "stopping.sensitivity"),
                                         ({"hold_rounds": -1}, "stopping.hold_rounds"),
                                         ({"min_rounds": 0}, "stopping.min_rounds")])
def test_knee_stopping_validates_arguments(kwargs, key):
    with pytest.raises(ValueError, match=key):
        make("knee", **kwargs)


# --------------------------------------------------------------------------- PredictedDefectsStopping


def test_predicted_defects_threshold_is_strict_and_uses_the_latest_round():
    crit = make("predicted_defects", mode="threshold", threshold=1.0)
    assert first_stop(crit, history(5, expected_defects_left=[10, 5, 2, 1.0, 0.5])) == X[4]
    gappy = history(3, expected_defects_left=[0.5, NAN, 3.0])
    assert crit.should_stop(gappy[:1])
    assert not crit.should_stop(gappy[:2])  # not measured: no stop
    assert not crit.should_stop(gappy[:3])
    assert first_stop(crit, history(4, expected_defects_left=[NAN] * 4)) is None


def test_predicted_defects_knee_mode_counts_only_measured_rounds():
    left = [float(v) for v in LEFT]
    crit = make("predicted_defects", mode="knee")  # hold_rounds=2
    assert first_stop(crit, history(expected_defects_left=left)) == 384  # same knees as defects found
    # Measured 11 rounds (knee 160 found twice), then two unmeasured rounds, then the 12th measurement.
    recs = [Rec(i, X[i], expected_defects_left=left[i]) for i in range(11)]
    recs += [Rec(11, 360), Rec(12, 370), Rec(13, 384, expected_defects_left=left[11])]
    assert not any(crit.should_stop(recs[: i + 1]) for i in range(13))
    assert crit.should_stop(recs)


@pytest.mark.filterwarnings("error")
def test_predicted_defects_knee_mode_never_stops_on_flat_or_missing_curves():
    crit = make("predicted_defects", mode="knee", hold_rounds=0)
    assert first_stop(crit, history(12, expected_defects_left=[0.0] * 12)) is None
    assert first_stop(crit, history(12, expected_defects_left=[NAN] * 12)) is None
    assert first_stop(crit, history(12, expected_defects_left=[40.0 - i for i in range(12)])) is None
    # the threshold mode, by contrast, stops at once on an all-zero curve
    zeros = history(12, expected_defects_left=[0.0] * 12)
    assert first_stop(make("predicted_defects", mode="threshold"), zeros) == X[0]


@pytest.mark.parametrize("kwargs, key", [({"mode": "elbow"}, "stopping.mode"),
                                         ({"threshold": -1}, "stopping.threshold"),
                                         ({"sensitivity": -0.5}, "stopping.sensitivity"),
                                         ({"hold_rounds": -2}, "stopping.hold_rounds")])
def test_predicted_defects_validates_arguments(kwargs, key):
    with pytest.raises(ValueError, match=key):
        make("predicted_defects", **kwargs)


# --------------------------------------------------------------------------- StabilizingPredictions


@pytest.mark.parametrize("a, b, kappa", [
    # p_o = 0.8, p_e = 0.6*0.6 + 0.4*0.4 = 0.52: (0.8 - 0.52) / 0.48 = 7/12
    ([1, 1, 0, 0, 1, 0, 1, 1, 0, 1], [1, 0, 0, 0, 1, 0, 1, 1, 1, 1], 7 / 12),
    ([1, 1, 1, 1], [1, 1, 1, 0], 0.0),         # p_o = 0.75 = p_e
    ([0, 1, 0, 1], [1, 0, 1, 0], -1.0),        # p_o = 0, p_e = 0.5
    ([1, 1, 0, 0], [1, 0, 1, 0], 0.0),         # p_o = 0.5 = p_e
    ([1, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 0], 2 / 3),  # p_o = 5/6, p_e = 1/2*1/3 + 1/2*2/3 = 1/2
    ([1, 1, 1], [1, 1, 1], 1.0),               # constant and identical: defined as 1
    ([0, 0, 0], [0, 0, 0], 1.0),
    ([1, 1, 1], [0, 0, 0], 0.0),               # constant and different: p_o = 0 = p_e
    ([0, 1, 1, 0], [0, 1, 1, 0], 1.0),
])
def test_cohen_kappa_hand_computed(a, b, kappa):
    assert cohen_kappa(np.array(a), np.array(b)) == pytest.approx(kappa, abs=1e-12)
    assert cohen_kappa(b, a) == pytest.approx(kappa, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 20).flatmap(lambda n: st.tuples(st.lists(st.integers(0, 1), min_size=n, max_size=n),
                                                      st.lists(st.integers(0, 1), min_size=n, max_size=n))))
def test_cohen_kappa_is_one_exactly_when_identical(pair):
    a, b = pair
    kappa = cohen_kappa(a, b)
    assert -1.0 - 1e-12 <= kappa <= 1.0
    assert (kappa == 1.0) == (a == b)


def test_cohen_kappa_rejects_mismatched_or_empty_vectors():
    with pytest.raises(ValueError, match="one length"):
        cohen_kappa([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="empty"):
        cohen_kappa([], [])


P = [0, 1, 1, 0, 1, 0, 0, 1, 1, 1]
Q = [1, 1, 1, 0, 1, 0, 0, 1, 1, 1]  # one flip from P


def test_stabilizing_needs_window_agreeing_comparisons_in_a_row():
    crit = make("stabilizing", kappa=0.99, window=3)
    preds = [Q, P, P, P, Q, P, P, P, P, P]
    hist = history(10, stop_set_predictions=preds)
    assert not crit.should_stop(hist[:4])  # P, P, P after Q: two agreeing comparisons
    assert first_stop(crit, hist) == X[8]  # the flip at round 4 resets; rounds 5-8 are P
    assert crit.kappas(hist[:3]) == [pytest.approx(cohen_kappa(Q, P)), 1.0]
    # kappa(Q, P): p_o = 0.9, p_e = 0.6*0.7 + 0.4*0.3 = 0.54, (0.9 - 0.54) / 0.46 = 18/23 ~ 0.783
    assert cohen_kappa(Q, P) == pytest.approx(18 / 23)
    assert first_stop(make("stabilizing", kappa=0.78, window=3), hist) == X[3]  # the flips pass
    assert first_stop(make("stabilizing", kappa=0.79, window=3), hist) == X[8]
    assert first_stop(make("stabilizing", kappa=0.99, window=1), hist) == X[2]


def test_stabilizing_skips_unmeasured_rounds():
    crit = make("stabilizing", kappa=0.99, window=3)
    hist = history(6, stop_set_predictions=[P, None, P, None, P, P])
    assert first_stop(crit, hist) == X[5]
    assert first_stop(crit, history(8, stop_set_predictions=[None] * 8)) is None


@pytest.mark.parametrize("kwargs, key", [({"kappa": 1.5}, "stopping.kappa"), ({"kappa": -2}, "stopping.kappa"),
                                         ({"window": 0}, "stopping.window")])
def test_stabilizing_validates_arguments(kwargs, key):
    with pytest.raises(ValueError, match=key):
        make("stabilizing", **kwargs)


# --------------------------------------------------------------------------- registry and replay


def test_registry_holds_every_criterion_under_its_name():
    assert set(CRITERIA) == {"none", "budget", "plateau", "knee", "predicted_defects", "stabilizing",
                             "classification_change", "verification"}
    assert all(cls.name == name for name, cls in CRITERIA.items())


def test_where_each_would_stop_on_one_run():
    val = [0.5 + 0.02 * i for i in range(10)] + [0.69] * 20
    # val: best 0.69 at round 10 (0.68 + 0.005 < 0.69), then 3 stale rounds -> plateau stops at round 13
    # preds: flip every round up to round 5, then three identical comparisons -> stabilizing at round 8
    preds = [Q, P, Q, P, Q] + [P] * 25
    hist = history(val_auroc=val, expected_defects_left=[float(v) for v in LEFT], stop_set_predictions=preds)
    out = where_each_would_stop(hist, [NoStopping(), BudgetStopping(100), make("plateau"), make("knee"),
                                       make("predicted_defects", mode="threshold"), make("stabilizing")])
    assert out == {"none": None, "budget": 128, "plateau": X[13], "knee": 384, "predicted_defects": 480,
                   "stabilizing": X[8]}
    named = where_each_would_stop(hist, {"pd_knee": make("predicted_defects", mode="knee"),
                                         "pd_5": make("predicted_defects", mode="threshold", threshold=5)})
    assert named == {"pd_knee": 384, "pd_5": X[7]}
    assert where_each_would_stop([], [make("knee")]) == {"knee": None}


def test_where_each_would_stop_rejects_repeated_names():
    with pytest.raises(ValueError, match="plateau"):
        where_each_would_stop(history(3), [make("plateau"), make("plateau", patience=1)])


def records_strategy():
    row = st.tuples(st.one_of(st.just(NAN), st.floats(0.4, 1.0)), st.integers(0, 4),
                    st.one_of(st.just(NAN), st.floats(0, 20)),
                    st.one_of(st.none(), st.sampled_from([P, Q, [0] * 10, [1] * 10])))

    def build(rows):
        recs, found = [], 0
        for i, (val, new, expected, preds) in enumerate(rows):
            found += new
            recs.append(Rec(i, X[i], val_auroc=val, defects_found=found, expected_defects_left=expected,
                            stop_set_predictions=preds))
        return recs

    return st.lists(row, min_size=0, max_size=14).map(build)


@settings(max_examples=40, deadline=None)
@given(records_strategy())
def test_where_each_would_stop_matches_should_stop_on_prefixes(hist):
    criteria = {"plateau": make("plateau", patience=2, min_delta=0.01), "knee": make("knee", hold_rounds=1),
                "pd": make("predicted_defects", mode="threshold", threshold=2.0),
                "pd_knee": make("predicted_defects", mode="knee"),
                "stab": make("stabilizing", kappa=0.9, window=2), "budget": BudgetStopping(200)}
    out = where_each_would_stop(hist, criteria)
    assert set(out) == set(criteria)
    for name, criterion in criteria.items():
        stops = [criterion.should_stop(hist[: i + 1]) for i in range(len(hist))]
        if out[name] is None:
            assert not any(stops)
        else:
            i = [r.n_labeled for r in hist].index(out[name])
            assert stops[i] and not any(stops[:i])
