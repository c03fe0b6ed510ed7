import pytest
import torch

from alflow.loop import TrainSettings, auroc, score_images, train_round
from alflow.model import DefectClassifier, build_resnet18


def test_training_fits_a_small_labeled_set(tiny_dataset):
    torch.manual_seed(0)
    model = DefectClassifier(augment=False)
    idx = torch.arange(48)
    images, labels = tiny_dataset.images[idx], tiny_dataset.labels[idx]
    before = score_images(model.net, tiny_dataset.images, idx, frozenset({"probs"})).probs
    loss = train_round(model, images, labels, TrainSettings(epochs=12, min_steps=0, batch_size=16,
                                                           accelerator="cpu"), seed=0)
    after = score_images(model.net, tiny_dataset.images, idx, frozenset({"probs"})).probs
    nll = lambda p: -torch.log(p[torch.arange(len(labels)), labels]).mean()  # noqa: E731
    assert nll(after) < nll(before)
    assert auroc(after, labels) > 0.9
    assert loss == loss  # a number, not NaN


def test_epochs_and_minimum_steps():
    settings = TrainSettings(epochs=1, min_steps=10, batch_size=32)
    assert settings.epochs_for(32) == 10   # one step an epoch: steps decide
    assert settings.epochs_for(640) == 1   # 20 steps an epoch: epochs decide
    assert settings.epochs_for(100) == 3   # 4 steps an epoch


def test_weights_from_a_local_file(tmp_path):
    torch.manual_seed(1)
    source = build_resnet18(2)
    path = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), path)
    loaded = build_resnet18(2, str(path))
    assert torch.equal(loaded.conv1.weight, source.conv1.weight)
    with pytest.raises(FileNotFoundError, match="model.weights_path"):
        build_resnet18(2, str(tmp_path / "missing.pth"))
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="bad.pth"):
        build_resnet18(2, str(tmp_path / "bad.pth"))


def test_unknown_optimizer_names_the_key():
    with pytest.raises(ValueError, match="model.optimizer"):
        DefectClassifier(optimizer="lbfgs")


def test_auroc_is_nan_with_one_class():
    assert auroc(torch.tensor([[0.2, 0.8], [0.6, 0.4]]), torch.tensor([1, 1])) != auroc(
        torch.tensor([[0.2, 0.8], [0.6, 0.4]]), torch.tensor([1, 0]))


def test_batchnorm_recalibration_matches_the_data(tiny_dataset):
    from alflow.model import normalize, recalibrate_batchnorm

    torch.manual_seed(0)
    net = build_resnet18(2)
    images = tiny_dataset.images[:40]
    recalibrate_batchnorm(net, images, batch_size=8)  # equal batches: the average of batch means is the mean
    with torch.no_grad():
        first = net.conv1(normalize(images))
    assert torch.allclose(net.bn1.running_mean, first.mean(dim=(0, 2, 3)), atol=1e-4)
    assert net.bn1.momentum == 0.1 and net.training


def test_scoring_copy_folds_batchnorm_exactly_and_leaves_the_net_alone():
    from alflow.model.speed import scoring_copy

    torch.manual_seed(2)
    net = build_resnet18(2).train()
    with torch.no_grad():  # give every BN running statistics far from their init values
        for _ in range(3):
            net(torch.randn(8, 3, 64, 64) * 3 + 1)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(6, 3, 64, 64)
    scorer = scoring_copy(net)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in scorer.modules())
    assert net.training and not scorer.training
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    assert net.conv1.weight.is_contiguous()  # the original stays NCHW for training
    with torch.no_grad():
        expected = net.eval()(x)
        got = scorer(x.contiguous(memory_format=torch.channels_last))
    assert (got - expected).abs().max().item() <= 1e-4 * expected.abs().max().item()
    assert (got.argmax(1) == expected.argmax(1)).all()


def test_scoring_copy_leaves_other_models_unfolded():
    import torchvision

    from alflow.model.speed import scoring_copy

    net = torchvision.models.vgg11_bn(weights=None, num_classes=2)
    scorer = scoring_copy(net)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in scorer.modules()) == 8
    assert not scorer.training


@pytest.mark.parametrize("n", [1, 2, 3, 129, 257])
def test_batchnorm_recalibration_on_any_number_of_images(tiny_dataset, n):
    # Issue 14, item 5: 129 = 128 + 1 and 257 = 2 x 128 + 1 left a last chunk of one image, which
    # a training-mode pass at 32 px (layer4 is 1 x 1) refuses.
    from alflow.model import normalize, recalibrate_batchnorm

    torch.manual_seed(0)
    net = build_resnet18(2)
    images = tiny_dataset.images[torch.arange(n) % len(tiny_dataset.images)]
    before = {k: v.clone() for k, v in net.state_dict().items()}
    recalibrate_batchnorm(net, images)
    if n == 1:  # no batch statistics from one image: nothing changes
        assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
        return
    with torch.no_grad():
        first = net.conv1(normalize(images))
    assert torch.allclose(net.bn1.running_mean, first.mean(dim=(0, 2, 3)), atol=1e-4)
    assert torch.isfinite(net.layer4[1].bn2.running_var).all()
    assert net.bn1.momentum == 0.1 and net.training


def test_batchnorm_recalibration_weights_unequal_chunks_by_size(tiny_dataset):
    from alflow.model import normalize, recalibrate_batchnorm

    net = build_resnet18(2)
    images = tiny_dataset.images[:50]
    recalibrate_batchnorm(net, images, batch_size=16)  # chunks 16, 16, 18 (the last one merged)
    with torch.no_grad():
        first = net.conv1(normalize(images))
    assert torch.allclose(net.bn1.running_mean, first.mean(dim=(0, 2, 3)), atol=1e-4)


@pytest.mark.parametrize("n, batch_size", [(1, 16), (17, 16), (33, 16), (5, 1)])
def test_training_never_sees_a_batch_of_one(tiny_dataset, n, batch_size):
    # Issue 14, item 5: 17 images in batches of 16 left a last batch of one, which BatchNorm in
    # training mode refuses at 32 px; so did a single labeled image (al.initial_size=1).
    torch.manual_seed(0)
    model = DefectClassifier()
    idx = torch.arange(n)
    loss = train_round(model, tiny_dataset.images[idx], tiny_dataset.labels[idx],
                       TrainSettings(epochs=1, min_steps=2, batch_size=batch_size, accelerator="cpu"), seed=0)
    assert loss == loss  # a number, not NaN


def test_paired_batches_keep_the_plain_batches_and_their_count():
    from torch.utils.data import BatchSampler, RandomSampler

    from alflow.loop.batches import PairedBatchSampler

    for n, size in [(1, 16), (17, 16), (32, 16), (40, 16), (3, 1)]:
        plain = list(BatchSampler(RandomSampler(range(n), generator=torch.Generator().manual_seed(3)), size, False))
        paired = list(PairedBatchSampler(RandomSampler(range(n), generator=torch.Generator().manual_seed(3)), size,
                                         False))
        assert len(paired) == len(plain)
        assert all(len(b) >= 2 for b in paired)
        for p, q in zip(paired, plain):
            assert p == q or (len(q) == 1 and p[-1] == q[0])
    assert list(PairedBatchSampler(range(1), 16, False)) == [[0, 0]]
    assert list(PairedBatchSampler(range(3), 2, False)) == [[0, 1], [1, 2]]
