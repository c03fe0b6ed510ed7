import pytest
import torch

from alflow.data import Pool


def test_pool_tracks_rounds_and_refuses_double_labels():
    pool = Pool(torch.tensor([10, 11, 12, 13]))
    pool.mark_labeled(torch.tensor([12, 10]), 0)
    assert pool.n_labeled == 2 and pool.unlabeled.tolist() == [11, 13]
    assert pool.labeled_in(0).tolist() == [10, 12]
    with pytest.raises(ValueError, match="already labeled in round 0"):
        pool.mark_labeled(torch.tensor([10]), 1)
    with pytest.raises(ValueError, match="not in the pool"):
        pool.mark_labeled(torch.tensor([99]), 1)
