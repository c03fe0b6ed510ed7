import math

import pytest
import torch

from alflow.data import Pool


def test_pool_tracks_rounds_and_refuses_double_labels():
    pool = Pool(torch.tensor([10, 11, 12, 13]))
    pool.mark_labeled(torch.tensor([12, 10]), 0, torch.tensor([1, 0]))
    assert pool.n_labeled == 2 and pool.unlabeled.tolist() == [11, 13]
    assert pool.labeled_up_to(0).tolist() == [10, 12] and pool.labeled.tolist() == [10, 12]
    with pytest.raises(ValueError, match="already labeled in round 0"):
        pool.mark_labeled(torch.tensor([10]), 1, torch.tensor([1]))
    with pytest.raises(ValueError, match="not in the pool"):
        pool.mark_labeled(torch.tensor([99]), 1, torch.tensor([1]))


def test_pool_owns_the_revealed_labels():
    pool = Pool(torch.tensor([10, 11, 12, 13]))
    assert pool.defects_found == 0 and pool.revealed.tolist() == [-1, -1, -1, -1]
    pool.mark_labeled(torch.tensor([13, 11]), 0, torch.tensor([1, 0]))
    pool.mark_labeled(torch.tensor([10]), 1, torch.tensor([1]))
    assert pool.revealed.tolist() == [1, 0, -1, 1]
    assert pool.labels_of(torch.tensor([13, 10, 11])).tolist() == [1, 1, 0]
    assert pool.defects_found == 2
    assert pool.labeled_up_to(0).tolist() == [11, 13]
    with pytest.raises(ValueError, match=r"no label revealed for pool image\(s\) \[12\]"):
        pool.labels_of(torch.tensor([12]))
    with pytest.raises(ValueError, match="2 images but 1 labels"):
        pool.mark_labeled(torch.tensor([12, 12]), 2, torch.tensor([0]))
    with pytest.raises(ValueError, match="names an image twice"):
        pool.mark_labeled(torch.tensor([12, 12]), 2, torch.tensor([0, 0]))


def test_a_labeling_session_has_no_ground_truth_measurements(tiny_dataset):
    """A person as the oracle: defects found come from the revealed labels; what only a simulation
    can know (defects left, test AUROC) is NaN, and nothing reads ground truth."""
    from conftest import loop_settings, plain_classifier, strategy, train_settings

    from alflow.data import KFold
    from alflow.loop import AcquisitionLoop

    class Person:  # reveals the truth but is no GroundTruthOracle
        def __init__(self, labels):
            self.labels = labels

        def reveal(self, indices):
            return self.labels[indices]

    flipped = 1 - tiny_dataset.labels  # what the person says differs from the dataset's labels
    split = KFold(k=5, index=0, seed=0).split(tiny_dataset.labels)
    loop = AcquisitionLoop(tiny_dataset, split, strategy("uncertainty"), plain_classifier,
                           train_settings(epochs=1, min_steps=1, max_steps=None, batch_size=16,
                                          class_weighting="none", accelerator="cpu"),
                           loop_settings(batch_size=16, max_rounds=2), oracle=Person(flipped))
    history = loop.run()
    for record in history:
        assert math.isnan(record.defects_left) and math.isnan(record.test_auroc)
        assert record.defects_found == int(flipped[loop.pool.labeled_up_to(record.round)].sum())
    assert 0.0 <= history[-1].val_auroc <= 1.0
