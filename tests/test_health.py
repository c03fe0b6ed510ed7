"""The learner health check: chance-level AUROC, a flat loss, a weak full-pool reference."""
import math

import pytest

from alflow.analysis.health import auroc_standard_error, health_message, learner_findings


def test_hanley_mcneil_standard_error():
    # Hanley & McNeil (1982), Table 1 neighbourhood: A=0.5 with 50/50 cases -> SE = sqrt(1/12 * (1/50 + 1/50 + 1/2500))
    se = auroc_standard_error(0.5, 50, 50)
    q1, q2 = 0.5 / 1.5, 0.5 / 1.5
    expected = math.sqrt((0.25 + 49 * (q1 - 0.25) + 49 * (q2 - 0.25)) / 2500)
    assert se == pytest.approx(expected)
    assert se == pytest.approx(0.0577, abs=5e-4)
    assert auroc_standard_error(0.9, 50, 50) < se  # more certain away from 0.5
    assert math.isnan(auroc_standard_error(0.5, 0, 10))


def test_chance_level_validation_auroc_is_flagged():
    flat = learner_findings([0.5, 0.52, 0.55], [0.7, 0.6, 0.4], n_val_pos=20, n_val_neg=60)
    assert len(flat) == 1 and "within noise of chance" in flat[0]
    assert learner_findings([0.6, 0.8, 0.9], [0.7, 0.5, 0.2], n_val_pos=20, n_val_neg=60) == []


def test_flat_training_loss_is_flagged():
    # 20 / 60 validation images: 2 SE of an AUROC of 0.5 = 0.148, so 0.70 is above noise but not clearly
    found = learner_findings([0.6, 0.65, 0.70], [0.69, 0.70, 0.68], n_val_pos=20, n_val_neg=60)
    assert len(found) == 1 and "not falling below chance" in found[0]
    # a flat loss beside a validation AUROC clearly above chance (>= 0.5 + 4 SE) is what uncertainty
    # sampling does on purpose: elpv, 82 / 181 validation images, loss 0.661, validation AUROC 0.809
    assert learner_findings([0.77, 0.79, 0.809], [0.65, 0.66, 0.661], n_val_pos=82, n_val_neg=181) == []
    assert learner_findings([0.6, 0.8, 0.9], [0.69, 0.70, 0.68], n_val_pos=20, n_val_neg=60) == []
    # too few rounds to judge
    assert learner_findings([0.8, 0.9], [0.69, 0.69], n_val_pos=20, n_val_neg=60) == []
    # replay: the first round fits a handful of images, later rounds a larger, harder set; still learning
    rising = [0.486, 0.52, 0.55, 0.57, 0.56, 0.58, 0.60, 0.59, 0.58, 0.589]
    assert learner_findings([0.75] * 10, rising, n_val_pos=80, n_val_neg=180) == []


def test_weak_full_pool_reference_and_the_message_names_settings():
    found = learner_findings([0.7], [0.3], n_val_pos=20, n_val_neg=60, full_pool_test_auroc=0.71)
    assert any("full-pool reference" in f for f in found)
    msg = health_message("random fold0", found)
    assert "model.pretrained" in msg and "trainer.epochs" in msg and msg.startswith("[random fold0]")
    assert health_message("x", []) == ""


def test_the_report_lists_untrained_jobs():
    from alflow.report.__main__ import health_summary
    from alflow.report.runs import RunData

    def run(fold, health):
        return RunData(run_id=fold, experiment_id="0", dataset="elpv", strategy="random", fold=fold, seed="0",
                       kind="active_learning", pool_size=10, metrics={}, health=health)

    assert health_summary([run("0", "ok"), run("1", "ok")]) == ""
    text = health_summary([run("0", "ok"), run("1", "the training loss is not falling (0.690 ... 0.688)")])
    assert text.startswith("Health: 1 of 2 jobs look untrained")
    assert "elpv random fold 1 seed 0: the training loss is not falling" in text
