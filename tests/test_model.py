import math

import pytest
import torch

from alflow.loop import auroc, score_images, train_round
from alflow.model import build_resnet18
from conftest import REPO, classifier, train_settings


def test_training_fits_a_small_labeled_set(tiny_dataset):
    torch.manual_seed(0)
    model = classifier(augment="none", lr_schedule="constant")
    idx = torch.arange(48)
    images, labels = tiny_dataset.images[idx], tiny_dataset.labels[idx]
    before = score_images(model.net, tiny_dataset.images, idx, frozenset({"probs"})).probs
    loss = train_round(model, images, labels, train_settings(epochs=12, min_steps=0, max_steps=None,
                                                           batch_size=16, class_weighting="none",
                                                           accelerator="cpu"), seed=0)
    after = score_images(model.net, tiny_dataset.images, idx, frozenset({"probs"})).probs
    nll = lambda p: -torch.log(p[torch.arange(len(labels)), labels]).mean()  # noqa: E731
    assert nll(after) < nll(before)
    assert auroc(after, labels) > 0.9
    assert math.isfinite(loss)  # a number, not NaN


def test_a_long_fit_logs_its_progress(tiny_dataset, caplog, monkeypatch):
    import alflow.loop.training as training

    idx = torch.arange(32)
    settings = train_settings(epochs=1, min_steps=6, max_steps=6, batch_size=16, accelerator="cpu")

    def fit():
        torch.manual_seed(0)
        caplog.clear()
        with caplog.at_level("INFO", logger="alflow.loop.training"):
            train_round(classifier(), tiny_dataset.images[idx], tiny_dataset.labels[idx], settings, seed=0)
        return [r.getMessage() for r in caplog.records if r.getMessage().startswith("training: step")]

    monkeypatch.setattr(training, "PROGRESS_EVERY_SECONDS", 1e6)
    assert fit() == []  # a fit shorter than the interval stays quiet
    monkeypatch.setattr(training, "PROGRESS_EVERY_SECONDS", 0.0)  # as if every step took longer than it
    lines = fit()
    assert [line.split(" (")[0] for line in lines] == [f"training: step {k}/6" for k in range(1, 6)]
    assert "min left" in lines[-1]


def test_epochs_and_minimum_steps():
    settings = train_settings(epochs=1, min_steps=10, max_steps=None, batch_size=32)
    assert settings.steps_for(32) == 10   # one step an epoch: steps decide
    assert settings.steps_for(640) == 20  # 20 steps an epoch: epochs decide
    assert settings.steps_for(100) == 10  # 4 steps an epoch
    capped = train_settings(epochs=2, min_steps=30, max_steps=150, batch_size=32)
    assert capped.steps_for(32) == 30     # the minimum
    assert capped.steps_for(1000) == 64   # 2 x 32 batches
    assert capped.steps_for(5000) == 150  # the cap
    assert train_settings(epochs=0.5, min_steps=0, max_steps=None).steps_for(640) == 10
    with pytest.raises(ValueError, match="trainer.max_steps"):
        train_settings(min_steps=30, max_steps=10)
    with pytest.raises(ValueError, match="trainer.class_weighting"):
        train_settings(class_weighting="focal")


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
        classifier(optimizer="lbfgs")
    with pytest.raises(ValueError, match="model.lr_schedule"):
        classifier(lr_schedule="step")
    with pytest.raises(ValueError, match="model.augment"):
        classifier(augment="colour")


def test_auroc_is_nan_with_one_class():
    probs = torch.tensor([[0.2, 0.8], [0.6, 0.4]])
    assert math.isnan(auroc(probs, torch.tensor([1, 1])))
    assert math.isnan(auroc(probs, torch.tensor([0, 0])))
    assert auroc(probs, torch.tensor([1, 0])) == 1.0  # both classes: a number, here a perfect ranking
    assert auroc(probs, torch.tensor([0, 1])) == 0.0


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


def test_balanced_class_weights_give_each_class_half_the_loss():
    from alflow.loop.training import balanced_class_weights

    w = balanced_class_weights(torch.tensor([0, 0, 0, 1]))
    assert torch.allclose(w, torch.tensor([4 / 6, 4 / 2]))
    # sklearn's compute_class_weight("balanced") gives the same numbers
    sklearn = pytest.importorskip("sklearn.utils.class_weight")
    import numpy as np

    ref = sklearn.compute_class_weight("balanced", classes=np.array([0, 1]), y=np.array([0, 0, 0, 1]))
    assert torch.allclose(w, torch.tensor(ref, dtype=torch.float32))
    assert torch.equal(balanced_class_weights(torch.tensor([0, 0])), torch.tensor([1.0, 1.0]))


def test_cosine_schedule_warms_up_then_decays_to_zero(tiny_dataset):
    model = classifier(augment="none", lr_schedule="cosine", warmup_fraction=0.25)
    seen = []

    import pytorch_lightning as pl

    class RecordLr(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            seen.append(trainer.optimizers[0].param_groups[0]["lr"])

    from torch.utils.data import DataLoader, TensorDataset

    loader = DataLoader(TensorDataset(tiny_dataset.images[:32], tiny_dataset.labels[:32]), batch_size=8)
    trainer = pl.Trainer(max_steps=8, max_epochs=-1, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[RecordLr()])
    trainer.fit(model, loader)
    lr = model.hparams.lr
    assert len(seen) == 8
    assert seen[0] == pytest.approx(lr / 3) and seen[1] == pytest.approx(2 * lr / 3)  # warm-up: 2 of 8 steps
    assert seen[2] == pytest.approx(lr)                                                # peak
    assert all(a > b for a, b in zip(seen[2:], seen[3:]))                              # then decays
    assert seen[-1] == pytest.approx(lr * 0.5 * (1 + __import__("math").cos(__import__("math").pi * 5 / 6)))


def test_inspection_augmentation_keeps_images_images():
    from alflow.model.augment import augment

    torch.manual_seed(0)
    images = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    out = augment(images, "inspection")
    assert out.shape == images.shape and out.dtype == torch.uint8
    assert not torch.equal(out, images)
    assert torch.equal(augment(images, "none"), images)
    # geometric part alone: a flip/turn/shift never invents values, and seeding repeats it
    torch.manual_seed(3)
    a = augment(images, "inspection")
    torch.manual_seed(3)
    assert torch.equal(augment(images, "inspection"), a)
    # a bright spot stays in the image (a defect is never cropped away by a shift of 1/16 of the side)
    spot = torch.zeros(8, 3, 32, 32, dtype=torch.uint8)
    spot[:, :, 14:18, 14:18] = 255
    moved = augment(spot, "inspection")
    assert (moved.float().amax(dim=(1, 2, 3)) > 200).all()


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
    model = classifier()
    idx = torch.arange(n)
    loss = train_round(model, tiny_dataset.images[idx], tiny_dataset.labels[idx],
                       train_settings(epochs=1, min_steps=2, max_steps=None, batch_size=batch_size, accelerator="cpu"),
                       seed=0)
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


def test_the_default_augmentation_keeps_what_identifies_a_defect_in_any_kind_of_part():
    """model.augment's default must not break data of another kind than elpv's square cells: parts photographed
    non-square and stretched to a square (a 90° turn would stand them across), defects at an edge (a shift
    could push them out), defects that are a brightness change (a jitter could erase them). Every output
    image is one of the input's flips: same grey levels, same axes."""
    from omegaconf import OmegaConf

    from alflow.model.augment import augment

    preset = OmegaConf.load(REPO / "conf" / "model" / "default.yaml").augment
    g = torch.Generator().manual_seed(0)
    strip = torch.zeros(16, 3, 32, 32, dtype=torch.uint8)
    strip[:, :, 12:20, :] = 120  # a wide part stretched to a square: a horizontal band
    strip[:, :, 12:20, 0] = 250  # a defect at the part's left edge
    strip[:8, :, 14:18, 10:20] += 30  # a defect that is only a brightness change, in half the images
    strip += torch.randint(0, 5, strip.shape, dtype=torch.uint8, generator=g)
    for seed in range(20):
        torch.manual_seed(seed)
        out = augment(strip, preset)
        for original, image in zip(strip, out):
            flips = [original, original.flip(-1), original.flip(-2), original.flip(-1).flip(-2)]
            assert any(torch.equal(image, f) for f in flips), f"{preset} changed more than a flip (seed {seed})"
