"""The recall-targeted stopping criteria on hand-computed cases: temperature scaling and ECE, QuantCI,
Cormack & Grossman's knee, the verification test (against Callaghan & Müller-Hansen's formula, worked out
with binomial coefficients), classification change, and what the end-of-run replay records."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import get_class
from omegaconf import OmegaConf

from alflow.analysis.stopping import pool_metrics, stop_metrics
from alflow.records import COMPARED_SETTINGS, RoundRecord
from alflow.stopping import CRITERIA, h0_p_value, where_each_would_stop
from alflow.stopping.calibration import calibrated, expected_calibration_error, fit_temperature, log_odds
from alflow.stopping.classification_change import changed_share
from alflow.stopping.knee import slope_ratio
from alflow.stopping.predicted_defects import quant_recall, recall_bound

CONF = Path(__file__).resolve().parents[1] / "conf" / "stopping"
NAN = math.nan


def make(name, **overrides):
    """The criterion of ``conf/stopping/<name>.yaml`` with ``overrides`` (its ValueError unwrapped)."""
    cfg = OmegaConf.to_container(OmegaConf.merge(OmegaConf.load(CONF / f"{name}.yaml"), overrides))
    return get_class(cfg.pop("_target_"))(**cfg)


@dataclass
class Rec:
    round: int
    n_labeled: int
    n_selected: int = 10
    defects_found: int = 0
    defects_left: float = NAN
    val_auroc: float = NAN
    test_auroc: float = NAN
    val_logits: list | None = None
    val_labels: list | None = None
    labeled_logits: list | None = None
    unlabeled_logits: list | None = None
    unlabeled_index: list | None = None
    remaining_sample_labels: list | None = field(default=None)
    remaining_sample_index: list | None = None


def logit(p):
    return math.log(p / (1 - p))


# --------------------------------------------------------------------------- calibration


def test_temperature_meets_the_first_order_condition_worked_by_hand():
    # z = (2, 2, 2, -2), y = (1, 1, 0, 0). dNLL/dT = 0 <=> sum (sigmoid(z/T) - y) z = 0; with
    # p = sigmoid(2/T): 2(3p - 2) - 2(1 - p) = 8p - 6 = 0, p = 3/4, 2/T = ln 3, T = 2 / ln 3.
    t = fit_temperature([2, 2, 2, -2], [1, 1, 0, 0])
    assert t == pytest.approx(2 / math.log(3), rel=1e-5)
    p = calibrated([2, 2, 2, -2], t)
    assert p[0] == pytest.approx(0.75, rel=1e-5) and p[3] == pytest.approx(0.25, rel=1e-5)


def test_temperature_of_one_class_or_nothing_is_one_and_bad_input_is_named():
    assert fit_temperature([1.0, 3.0], [1, 1]) == 1.0
    assert fit_temperature([], []) == 1.0
    with pytest.raises(ValueError, match="one length"):
        fit_temperature([1.0], [1, 0])
    with pytest.raises(ValueError, match="0 or 1"):
        fit_temperature([1.0, 2.0], [1, 2])


def test_temperature_never_changes_a_prediction():
    z = np.array([-3.0, -0.2, 0.4, 5.0, 1.0])
    t = fit_temperature(z, [0, 1, 0, 1, 1])
    assert np.array_equal(calibrated(z, t) > 0.5, z > 0)


def test_log_odds_from_softmax_probabilities():
    assert log_odds([0.2], [0.8])[0] == pytest.approx(math.log(4))
    assert math.isfinite(log_odds([0.0], [1.0])[0])  # a saturated float32 softmax stays finite


def test_ece_hand_computed():
    # confidences 0.95 (right), 0.81 (wrong), 0.75 (right, predicted good), 0.62 (right): four bins of 15
    p, y = [0.95, 0.81, 0.25, 0.62], [1, 0, 0, 1]
    assert expected_calibration_error(p, y) == pytest.approx((0.05 + 0.81 + 0.25 + 0.38) / 4)
    # one bin (13/15, 14/15]: accuracy 1/2, confidence 0.92
    assert expected_calibration_error([0.91, 0.93], [1, 0]) == pytest.approx(0.42)
    assert math.isnan(expected_calibration_error([], []))


# --------------------------------------------------------------------------- QuantCI


def test_quant_recall_and_variance_hand_computed():
    # S_L = 1.8, S_U = 0.3, S = 2.1; sum_L p(1-p) = .09 + .16 + .09 = .34, sum_U = .16 + .09 = .25
    recall, var = quant_recall([0.9, 0.8, 0.1], [0.2, 0.1])
    assert recall == pytest.approx(1.8 / 2.1)
    assert var == pytest.approx(1.8 ** 2 / 2.1 ** 4 * 0.59 + 0.34 / 2.1 ** 2)
    assert all(math.isnan(v) for v in quant_recall([0.0], [0.0]))


def test_predicted_defects_recall_mode_stops_on_the_lower_bound():
    labeled = [logit(p) for p in (0.99, 0.98, 0.97, 0.02)]
    unlabeled = [logit(0.01)] * 4
    rec = Rec(0, 4, labeled_logits=labeled, unlabeled_logits=unlabeled)  # no validation fold: T = 1
    s_l, s_u = 0.99 + 0.98 + 0.97 + 0.02, 0.04
    v_l = 0.99 * 0.01 + 0.98 * 0.02 + 0.97 * 0.03 + 0.02 * 0.98
    v_all = v_l + 4 * 0.01 * 0.99
    bound = s_l / (s_l + s_u) - 2 * math.sqrt(s_l ** 2 / (s_l + s_u) ** 4 * v_all + v_l / (s_l + s_u) ** 2)
    assert recall_bound(rec, 2.0) == pytest.approx(bound)
    assert make("predicted_defects", recall_target=bound - 1e-6).should_stop([rec])
    assert not make("predicted_defects", recall_target=bound + 1e-6).should_stop([rec])
    assert not make("predicted_defects").should_stop([Rec(0, 4)])  # not measured: no stop


def test_predicted_defects_recall_mode_uses_the_validation_temperature():
    # the validation fold of the first test: T = 2 / ln 3, so p = sigmoid(z ln 3 / 2)
    rec = Rec(0, 4, val_logits=[2, 2, 2, -2], val_labels=[1, 1, 0, 0], labeled_logits=[2.0, 2.0],
              unlabeled_logits=[-2.0])
    recall, var = quant_recall([0.75, 0.75], [0.25])
    assert recall_bound(rec, 1.0) == pytest.approx(recall - math.sqrt(var), rel=1e-5)


# --------------------------------------------------------------------------- Cormack & Grossman


def test_cormack_grossman_knee_is_the_maximum_of_kneedles_difference_curve():
    # Kneedle (Satopaa et al. 2011) on the curve from the origin: min-max normalised y - x, largest at the knee
    x, y = np.array([0, 100, 200, 300, 400.0]), np.array([0, 60, 90, 95, 96.0])
    difference = y / y.max() - x / x.max()
    assert slope_ratio(x[1:], y[1:])[0] == x[int(np.argmax(difference))] == 200


def test_slope_ratio_hand_computed():
    # chord (0,0)-(400,96): 60*400 - 100*96 = 14400, 90*400 - 200*96 = 16800, 95*400 - 300*96 = 9200
    x, y = [100, 200, 300, 400], [60, 90, 95, 96]
    s, rho = slope_ratio(x, y)
    assert s == 200 and rho == pytest.approx((90 / 200) / ((1 + 96 - 90) / 200))  # 12.857
    assert slope_ratio([100, 200], [0, 0]) is None  # nothing found
    assert slope_ratio([100, 200, 300], [10, 20, 30]) is None  # straight: no round above the chord


@pytest.mark.parametrize("min_defects, stops", [(150, False), (0, True), (100, True), (103, False)])
def test_cormack_grossman_demands_more_with_less_evidence(min_defects, stops):
    # rho = 12.857; demanded: 6 + max(min_defects - 96, 0) = 60, 6, 10, 13
    hist = [Rec(i, x, defects_found=f) for i, (x, f) in enumerate(zip([100, 200, 300, 400], [60, 90, 95, 96]))]
    crit = make("knee", method="cormack_grossman", min_defects=min_defects, min_rounds=1, min_labeled=0)
    assert crit.should_stop(hist) is stops
    assert crit.knee(hist) == 200
    # not before min_rounds rounds nor min_labeled labels
    assert not make("knee", method="cormack_grossman", min_defects=0, min_rounds=5, min_labeled=0).should_stop(hist)
    assert not make("knee", method="cormack_grossman", min_defects=0, min_rounds=1, min_labeled=401).should_stop(hist)
    assert make("knee", method="cormack_grossman", min_defects=0, min_rounds=1, min_labeled=400).should_stop(hist)


def test_knee_validates_its_method():
    with pytest.raises(ValueError, match="stopping.method"):
        make("knee", method="elbow")
    with pytest.raises(ValueError, match="stopping.min_defects"):
        make("knee", min_defects=-1)


# --------------------------------------------------------------------------- verification


def test_h0_p_value_against_the_papers_formula():
    # 90 defects found, tau = 0.95, no defect in a sample of 50 of the 400 left:
    # K_hat = floor(90 / 0.95 - 90 + 1) = 5, p = C(395, 50) / C(400, 50)
    assert math.floor(90 / 0.95 - 90 + 1) == 5
    p = math.comb(395, 50) / math.comb(400, 50)
    assert h0_p_value(0, 50, 400, 90, 0.95) == pytest.approx(p) and p > 0.05
    # one defect in a sample of 300: K_hat = floor(91 / 0.95 - 89) = 6, p = P(X <= 1) for 6 in 400
    k_hat = math.floor(91 / 0.95 - 90 + 1)
    assert k_hat == 6
    p1 = sum(math.comb(6, j) * math.comb(394, 300 - j) for j in (0, 1)) / math.comb(400, 300)
    assert h0_p_value(1, 300, 400, 90, 0.95) == pytest.approx(p1) and p1 < 0.05
    # K_hat = floor(100 / 0.95 - 99) = 6 > N = 2: missing the target is impossible, p = 0
    assert h0_p_value(0, 2, 2, 100, 0.95) == 0.0
    with pytest.raises(ValueError, match="k <= n <= N"):
        h0_p_value(5, 3, 10, 1, 0.9)


def verification_history(sample, new_defects=(5, 5, 0)):
    """Three rounds of 10 labels; the last finds no defect (a candidate at candidate_rate 0.1)."""
    found = np.cumsum(new_defects)
    return [Rec(i, 10 * (i + 1), defects_found=int(found[i]), remaining_sample_labels=sample)
            for i in range(len(new_defects))]


def test_verification_stops_when_the_sample_supports_the_target_and_counts_its_labels():
    # 10 found; 300 left, none of the first 100 a defect. K_hat = floor(10 / 0.95 - 10 + 1) = 1:
    # p = C(299, 100) / C(300, 100) = 200 / 300 > 0.05 -> no stop; target 0.5: K_hat = 11,
    # p = C(289, 100) / C(300, 100) < 0.05 -> stop.
    hist = verification_history([0] * 300)
    crit = make("verification", recall_target=0.95, sample_size=100, candidate_rate=0.1, min_rounds=2)
    assert crit.is_candidate(hist) and not crit.is_candidate(hist[:2])
    assert crit.p_value(hist) == pytest.approx(200 / 300)
    assert not crit.should_stop(hist)
    loose = make("verification", recall_target=0.5, sample_size=100, candidate_rate=0.1, min_rounds=2)
    assert loose.p_value(hist) == pytest.approx(math.comb(289, 100) / math.comb(300, 100))
    assert loose.should_stop(hist)
    assert loose.extra_labels(hist) == 100  # one candidate, one sample of 100
    assert loose.extra_labels(hist + [Rec(3, 40, defects_found=10, remaining_sample_labels=[0] * 5)]) == 105
    # a defect in the sample weakens the evidence; no sample recorded (a labeling session): no candidate
    assert loose.p_value(verification_history([1] + [0] * 299)) > loose.p_value(hist)
    assert not loose.should_stop(verification_history(None))


def test_verification_pays_once_for_an_image_sampled_twice():
    # One order of the pool, images 0..299; AL labels images 0..9 and 10..19 in rounds 2 and 3 (not sampled
    # before). Candidates at rounds 2 and 3 (no new defect), sample size 5:
    # round 2's unlabeled in order: 10, 11, ... -> sample {10..14}; round 3's: 20, 21, ... -> sample {20..24}.
    base = dict(n_selected=10, remaining_sample_labels=[0] * 280)
    hist = [Rec(0, 10, defects_found=5, remaining_sample_index=list(range(10, 300)), **base),
            Rec(1, 20, defects_found=5, remaining_sample_index=list(range(10, 300)), **base),
            Rec(2, 30, defects_found=5, remaining_sample_index=list(range(20, 300)), **base)]
    crit = make("verification", sample_size=5, candidate_rate=0.0, min_rounds=2)
    assert [crit.is_candidate(hist[: i + 1]) for i in range(3)] == [False, True, True]
    # the first sample {10..14} was labeled by AL in round 3: paid once, by the sample; {20..24} is new
    # {10..14} and {20..24} sampled; {10..14} is no longer unlabeled (AL's label came free): 5 spent
    assert crit.extra_labels(hist) == 5
    assert crit.extra_labels(hist[:2]) == 5
    # two candidates sampling the same images pay once
    same = [Rec(i, 10 * (i + 1), defects_found=5, remaining_sample_index=list(range(100, 380)), **base)
            for i in range(3)]
    assert crit.extra_labels(same) == 5


def test_verification_labels_spent_reach_the_replay_metrics():
    hist = [RoundRecord(round=i, n_labeled=10 * (i + 1), n_selected=10, defects_found=f, defects_left=2,
                        val_auroc=NAN, test_auroc=0.7 + 0.1 * i, train_loss=0.5, seconds=1.0,
                        remaining_sample_labels=[0] * 300) for i, f in enumerate((5, 10, 10))]
    crit = make("verification", recall_target=0.5, sample_size=100, candidate_rate=0.1, min_rounds=2)
    metrics = stop_metrics(hist, {"verification": crit})
    assert metrics["stop/verification/n_labeled"] == 30
    assert metrics["stop/verification/labels_spent"] == 130
    assert metrics["stop/verification/recall"] == pytest.approx(10 / 12)  # 10 found, 2 left
    assert metrics["stop/verification/test_auroc"] == pytest.approx(0.9)


# --------------------------------------------------------------------------- classification change


def test_classification_change_compares_images_unlabeled_in_both_rounds():
    a = Rec(0, 10, unlabeled_index=[1, 2, 3, 4], unlabeled_logits=[1.0, -1.0, 2.0, -3.0])
    b = Rec(1, 11, unlabeled_index=[2, 3, 4], unlabeled_logits=[-0.5, 0.5, 3.0])  # image 4 flipped
    c = Rec(2, 12, unlabeled_index=[2, 3], unlabeled_logits=[-9.0, 0.1])
    assert changed_share(a, b) == pytest.approx(1 / 3)
    assert changed_share(b, c) == 0.0
    crit = make("classification_change", tolerance=0.0, min_rounds=2)
    assert not crit.should_stop([a, b]) and crit.should_stop([a, b, c])
    assert make("classification_change", tolerance=0.34, min_rounds=2).should_stop([a, b])
    assert not make("classification_change", tolerance=0.0, min_rounds=4).should_stop([a, b, c])
    assert not crit.should_stop([a, Rec(1, 11)])  # not measured: no stop


def test_classification_change_validates_arguments():
    with pytest.raises(ValueError, match="stopping.tolerance"):
        make("classification_change", tolerance=1.5)
    with pytest.raises(ValueError, match="stopping.min_rounds"):
        make("classification_change", min_rounds=1)


# --------------------------------------------------------------------------- registry and replay


def test_every_compared_setting_builds_from_its_yaml():
    for conf, overrides in COMPARED_SETTINGS.values():
        crit = make(conf, **overrides)
        assert crit.name == conf and type(crit) is CRITERIA[conf]
    assert make("knee", **COMPARED_SETTINGS["knee_cormack_grossman"][1]).method == "cormack_grossman"


def test_replay_of_every_compared_criterion_on_a_run_without_the_new_fields():
    # records of an older run (no log-odds, no sample): the new criteria never fire, nothing raises
    hist = [RoundRecord(round=i, n_labeled=10 * (i + 1), n_selected=10, defects_found=i, defects_left=5 - i,
                        val_auroc=0.6, test_auroc=0.6, train_loss=0.5, seconds=1.0) for i in range(5)]
    criteria = {name: make(conf, **overrides) for name, (conf, overrides) in COMPARED_SETTINGS.items()}
    out = where_each_would_stop(hist, criteria)
    assert out["verification"] is None and out["classification_change"] is None and out["predicted_defects"] is None


def test_pool_metrics_interpolate_the_defects_found_curve():
    # pool of 200: 10 % = 20 labels, between (10, 4) and (30, 10): 4 + 6 * 10/20 = 7; 25 % = 50 is past the run
    hist = [RoundRecord(round=i, n_labeled=n, n_selected=10, defects_found=f, defects_left=20 - f, val_auroc=NAN,
                        test_auroc=NAN, train_loss=0.5, seconds=1.0) for i, (n, f) in enumerate([(10, 4), (30, 10)])]
    metrics = pool_metrics(hist, 200)
    assert metrics == {"pool/defects_total": 20.0, "pool/found_at_10": pytest.approx(7.0)}
    assert pool_metrics(hist, 40)["pool/found_at_10"] == pytest.approx(4 * 4 / 10)  # 4 labels: on (0,0)-(10,4)
