"""The head learner (model.trainable=head): scikit-learn's logistic regression is its reference, Captum's
LayerGradCam checks the closed-form maps from cached features, and every strategy runs on cached features
without a pass over the images."""
import numpy as np
import pytest
import torch
from conftest import cam_settings, head_learner, loop_settings, synthetic_dataset, train_settings
from conftest import strategy as make

from alflow.data import KFold
from alflow.explain import gradcam_captum, resize_and_normalize, resolve_targets
from alflow.loop import AcquisitionLoop, HeadVersion
from alflow.loop.scoring import ScoringPass
from alflow.model import build_net, feature_maps, normalize
from alflow.model.features import frozen_features
from alflow.model.head import LinearHead
from alflow.strategies import REGISTRY, McDropout


def toy_problem(n=300, d=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g) * torch.linspace(0.5, 3, d) + 2
    y = (x[:, 0] + x[:, 3] + 0.8 * torch.randn(n, generator=g) > 4.5).long()
    return x, y


@pytest.mark.parametrize("c, weighting", [(0.01, "balanced"), (0.1, "balanced"), (1.0, "none")])
def test_head_fit_equals_scikit_learns_logistic_regression(c, weighting):
    from sklearn.linear_model import LogisticRegression

    x, y = toy_problem()
    assert 0.1 < y.float().mean() < 0.5  # an imbalanced problem, so the class weights matter
    head = LinearHead(x.mean(0), x.std(0), c=c)
    head.fit(x, y, weighting)
    z = head.standardize(x).numpy().astype(np.float64)
    reference = LogisticRegression(C=c, class_weight="balanced" if weighting == "balanced" else None, tol=1e-10,
                                   max_iter=10_000).fit(z, y.numpy())
    ours = (head.fc.weight[1] - head.fc.weight[0]).detach().numpy()
    assert np.abs(ours - reference.coef_[0]).max() < 2e-3 * max(1.0, np.abs(reference.coef_).max())
    probs = head(x).softmax(1)[:, 1].detach().numpy()
    assert np.abs(probs - reference.predict_proba(z)[:, 1]).max() < 2e-3


def test_head_fit_does_not_depend_on_where_it_starts():
    """Convex: incremental (warm start) and batch (fresh) learning agree on the same labels."""
    x, y = toy_problem()
    warm = LinearHead(x.mean(0), x.std(0), c=0.1)
    warm.fit(x[:50], y[:50])
    warm.fit(x, y)
    fresh = LinearHead(x.mean(0), x.std(0), c=0.1)
    fresh.fit(x, y)
    assert torch.allclose(warm.fc.weight, fresh.fc.weight, atol=1e-4)


def test_bad_head_settings_name_the_key():
    x, _ = toy_problem()
    with pytest.raises(ValueError, match="model.head.c must be > 0"):
        LinearHead(x.mean(0), x.std(0), c=0)


class BackboneWithHead(torch.nn.Module):
    """The frozen backbone and the fitted head as one network: what Captum's LayerGradCam explains. The head
    reads the last stage's mean and the stage before's mean and maximum (``alflow.model.features``)."""

    def __init__(self, net, head):
        super().__init__()
        self.net, self.head = net, head
        self.layer4 = net.layer4

    def forward(self, x):
        middle, last = feature_maps(self.net, x)
        return self.head(torch.cat([last.mean(dim=(2, 3)), middle.mean(dim=(2, 3)), middle.amax(dim=(2, 3))], 1))


@pytest.mark.parametrize("backbone", ["resnet18", "efficientnet_lite0"])
@pytest.mark.parametrize("target", ["predicted", "defect", "good"])
def test_maps_from_cached_features_equal_captum_on_backbone_and_head(backbone, target):
    torch.manual_seed(0)
    net = build_net(backbone, 2).eval()
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (12, 3, 96, 96), dtype=torch.uint8, generator=g)
    features = frozen_features(net, images, backbone, None, "toy")
    labels = torch.tensor([0, 1] * 6)
    head = LinearHead(features.pooled.mean(0), features.pooled.std(0), c=1.0)
    head.fit(features.pooled, labels)
    settings = cam_settings(target=target, normalize="none")
    ours = HeadVersion(head, features, settings).score(images, torch.arange(12), frozenset({"cams", "probs"}),
                                                        batch_size=5)
    full = BackboneWithHead(net, head).eval()
    x = normalize(images)
    with torch.no_grad():
        logits = full(x)
    assert torch.allclose(ours.probs, logits.softmax(1), atol=2e-3)  # cached maps are float16
    targets = resolve_targets(target, logits)
    reference = resize_and_normalize(gradcam_captum(full, full.layer4, x, targets), None, 96, "none")
    assert ours.cams.shape == reference.shape == (12, 1, 96, 96)
    assert reference.abs().max() > 0
    assert (ours.cams - reference).abs().max() <= 5e-3 * reference.abs().max()


def test_head_scores_embeddings_and_mc_dropout_from_the_cache():
    torch.manual_seed(0)
    net = build_net("efficientnet_lite0", 2).eval()
    images = torch.randint(0, 256, (8, 3, 64, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    features = frozen_features(net, images, "efficientnet_lite0", None, "toy")
    head = LinearHead(features.pooled.mean(0), features.pooled.std(0), c=1.0)
    head.fit(features.pooled, torch.tensor([0, 1] * 4))
    mc = McDropout(samples=4, p=0.5, seed=0)
    out = HeadVersion(head, features, cam_settings()).score(images, torch.tensor([5, 1]),
                                                           frozenset({"embeddings", "mc_probs", "probs"}),
                                                           mc_dropout=mc)
    z = head.standardize(features.pooled[[5, 1]])
    assert torch.allclose(out.embeddings, z)
    expected = head.fc(z[None] * mc.masks(z.shape[1])[:, None, :]).softmax(-1)
    assert out.mc_probs.shape == (4, 2, 2) and torch.allclose(out.mc_probs, expected)
    assert not torch.allclose(out.mc_probs[0], out.mc_probs[1])


@pytest.fixture(scope="module")
def pool_dataset():
    return synthetic_dataset(n_images=160, image_size=64, defect_fraction=0.25, seed=0)


@pytest.mark.parametrize("trainable", ["head", "last_block"])
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_strategy_runs_on_cached_features_without_a_pass_over_the_images(pool_dataset, name, trainable,
                                                                              monkeypatch):
    learner = head_learner(pool_dataset, backbone="resnet18", pretrained="none", trainable=trainable)

    def no_image_pass(*args, **kwargs):
        raise AssertionError("a scoring pass over the images in head learning")

    monkeypatch.setattr(ScoringPass, "__call__", no_image_pass)
    split = KFold(k=5, index=0, seed=0).split(pool_dataset.labels)
    strategy = make(name, **({"image_size": 64} if "image_size" in make(name).__dict__ else {}))
    loop = AcquisitionLoop(pool_dataset, split, strategy, learner.model_factory, train_settings(accelerator="cpu"),
                           loop_settings(batch_size=16, max_rounds=3), features=learner.features)
    history = loop.run()
    assert len(history) == 3 and loop.pool.n_labeled == 48
    picked = [row.index for row in loop.rows]
    assert len(set(picked)) == 48 and set(picked) <= set(split.pool.tolist())
    assert all(0.0 <= r.test_auroc <= 1.0 for r in history)
    assert isinstance(loop.version, HeadVersion)


def test_c_grid_keeps_the_c_of_the_best_validation_auroc():
    from torchmetrics.functional.classification import binary_auroc

    x, y = toy_problem(n=400, d=60, seed=3)
    train, val = slice(0, 60), slice(60, None)  # few labels, many features: the regularisation matters
    scores = {}
    for c in (0.001, 0.1, 10.0):
        single = LinearHead(x.mean(0), x.std(0), c=c)
        single.fit(x[train], y[train])
        scores[c] = float(binary_auroc(single(x[val]).softmax(1)[:, 1], y[val]))
    assert len(set(scores.values())) > 1  # the candidates differ on this problem
    head = LinearHead(x.mean(0), x.std(0), c=1.0, c_grid=[10.0, 0.001, 0.1])
    head.fit(x[train], y[train], "balanced", x[val], y[val])
    assert head.c == max(scores, key=lambda c: (scores[c], -c))
    chosen = LinearHead(x.mean(0), x.std(0), c=head.c)
    chosen.fit(x[train], y[train])
    assert torch.allclose(head.fc.weight, chosen.fc.weight, atol=1e-5)
    # a validation set of one class cannot choose: c is used
    fallback = LinearHead(x.mean(0), x.std(0), c=1.0, c_grid=[0.001, 10.0])
    fallback.fit(x[train], y[train], "balanced", x[val][y[val] == 0], y[val][y[val] == 0])
    assert fallback.c == 1.0


@pytest.mark.parametrize("overrides, message", [
    (["strategy.layer=layer3"], "strategy.layer=layer3: model.trainable=head explains the backbone's last stage only"),
    (["strategy.layer=layer3", "model.trainable=all"],
     "strategy.layer=layer3: model.backbone=efficientnet_lite0 has GradCAM on its last stage only"),
    (["model.head.c=0"], "model.head.c must be a number > 0, got 0"),
    (["model.backbone=vgg"], "model.backbone must be one of resnet18|efficientnet_lite0, got 'vgg'"),
])
def test_a_learner_setting_no_job_can_run_with_is_one_line_before_a_run_opens(tmp_path, overrides, message):
    from hydra import compose, initialize_config_dir

    from alflow.app import run_job
    from alflow.compose import CONF_DIR
    from alflow.errors import ConfigError

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        cfg = compose("config", overrides=["experiment=smoke", "strategy=gradcam_avg", f"tracking.uri={uri}",
                                           *overrides])
    with pytest.raises(ConfigError, match=message.replace("|", r"\|").replace("(", r"\(")):
        run_job(cfg, out_dir=tmp_path)
    assert not (tmp_path / "mlflow.db").exists()  # refused before any run was opened


@pytest.mark.parametrize("backbone", ["resnet18", "efficientnet_lite0"])
def test_last_block_maps_from_cached_features_equal_captum_and_its_fit_learns(backbone):
    """model.trainable=last_block: the last stage runs on the cached maps of the stage before; its GradCAM is the
    closed form on that stage's output, equal to Captum's LayerGradCam there; a fit lowers the training loss."""
    from torch.nn import functional as F

    from alflow.loop import TrainSettings
    from alflow.model import last_stage
    from alflow.model.last_block import LastBlockClassifier

    torch.manual_seed(0)
    net = build_net(backbone, 2).eval()
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (24, 3, 64, 64), dtype=torch.uint8, generator=g)
    images[:12, :, 20:40, 20:40] = 255  # a bright square: something to learn
    labels = torch.tensor([1] * 12 + [0] * 12)
    features = frozen_features(net, images, backbone, None, "toy")
    model = LastBlockClassifier(last_stage(net), net.fc.in_features, lr=1e-3, weight_decay=0.0)
    with torch.no_grad():
        before = float(F.cross_entropy(model(features.middle), labels))
    train = TrainSettings(epochs=10, min_steps=20, max_steps=None, batch_size=8, class_weighting="balanced",
                          accelerator="cpu", devices=1, precision="32-true", recalibrate_bn=False)
    model.fit(features.middle, labels, train, seed=0)
    with torch.no_grad():
        after = float(F.cross_entropy(model(features.middle), labels))
    assert after < before
    assert not torch.equal(model.tail.state_dict()[next(iter(model.tail.state_dict()))],
                           last_stage(net).state_dict()[next(iter(last_stage(net).state_dict()))])  # it trained
    settings = cam_settings(target="predicted", normalize="none")
    ours = HeadVersion(model, features, settings).score(images, torch.arange(24), frozenset({"cams", "probs"}),
                                                        batch_size=7)
    middle = features.middle.float()
    with torch.no_grad():
        logits = model(middle)
    assert torch.allclose(ours.probs, logits.softmax(1), atol=1e-5)
    reference = resize_and_normalize(gradcam_captum(model, model.tail, middle, logits.argmax(1)), None, 64, "none")
    assert reference.abs().max() > 0
    assert (ours.cams - reference).abs().max() <= 1e-4 * reference.abs().max()
