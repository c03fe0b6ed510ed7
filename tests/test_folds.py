import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from alflow.data import KFold, fold_split, stratified_fold_ids


@st.composite
def labels_and_k(draw):
    k = draw(st.integers(3, 10))
    n_pos = draw(st.integers(k, 60))
    n_neg = draw(st.integers(k, 200))
    order = draw(st.permutations(range(n_pos + n_neg)))
    y = np.zeros(n_pos + n_neg, dtype=np.int64)
    y[list(order)[:n_pos]] = 1
    return torch.from_numpy(y), k


@settings(max_examples=60, deadline=None)
@given(labels_and_k(), st.integers(0, 1000))
def test_folds_disjoint_covering_and_stratified(data, seed):
    labels, k = data
    ids = stratified_fold_ids(labels, k, seed)
    assert set(ids.tolist()) == set(range(k))
    for c in (0, 1):
        per_fold = np.bincount(ids[labels.numpy() == c], minlength=k)
        assert per_fold.max() - per_fold.min() <= 1
    sizes = np.bincount(ids, minlength=k)
    assert sizes.max() - sizes.min() <= 1
    for index in range(k):
        split = fold_split(labels, k, index, seed)
        parts = [set(split.test.tolist()), set(split.val.tolist()), set(split.pool.tolist())]
        assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
        assert parts[0] | parts[1] | parts[2] == set(range(len(labels)))
        assert split.val.tolist() == fold_split(labels, k, (index + 1) % k, seed).test.tolist()


def test_same_split_every_call_other_seed_other_split():
    labels = torch.tensor([0] * 90 + [1] * 30)
    a, b = KFold(k=10, index=2, seed=7).split(labels), KFold(k=10, index=2, seed=7).split(labels)
    assert torch.equal(a.test, b.test) and torch.equal(a.pool, b.pool)
    c = KFold(k=10, index=2, seed=8).split(labels)
    assert not torch.equal(a.test, c.test)


def test_too_few_of_a_class_says_which_k_fits():
    labels = torch.tensor([0] * 50 + [1] * 4)
    with pytest.raises(ValueError, match=r"the defect class \(label 1\) has 4 images.*fold.k<=4"):
        fold_split(labels, 10, 0, 0)


@pytest.mark.parametrize("k,index,match", [(2, 0, "fold.k must be >= 3"), (5, 5, "fold.index must be in")])
def test_bad_fold_settings(k, index, match):
    with pytest.raises(ValueError, match=match):
        fold_split(torch.tensor([0, 1] * 20), k, index, 0)
