"""One trained state of the model, with the scoring copy that belongs to it.

A ``ModelVersion`` is made once training has finished and builds its scoring copy at once
(``ScoringPass``: a deep copy with BatchNorm folded), so the copy is a snapshot of those weights:
training the model further (incremental learning trains it in place) makes a *new* version and
never leaves an old copy to be invalidated by hand. The version also keeps the last pool it
scored, so a round's evaluation and the next round's selection share one pass over the pool.
"""
from __future__ import annotations

import copy

import torch
from torchmetrics.functional.classification import binary_auroc

from alflow.explain import CamSettings, gradcam_closed_form, resize_and_normalize, resolve_targets
from alflow.loop.scoring import ScoringPass
from alflow.model import DefectClassifier
from alflow.model.features import FrozenFeatures
from alflow.model.head import LinearHead
from alflow.model.last_block import LastBlockClassifier
from alflow.strategies import McDropout, ModelOutputs, ScoredPool


def auroc(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """AUROC of the defect probability ``probs[:, 1]`` (N x 2) against ``labels`` (N, 0/1);
    NaN when only one class is present (AUROC is undefined then) or when any probability is not
    finite (torchmetrics would rank NaN scores in label order and report a plausible number)."""
    if labels.unique().numel() < 2 or not torch.isfinite(probs[:, 1]).all():
        return float("nan")
    return float(binary_auroc(probs[:, 1], labels))


def scoring_device(accelerator: str) -> torch.device:
    """The device scoring passes run on: CUDA when ``trainer.accelerator`` allows it and one exists."""
    wants_gpu = accelerator in ("auto", "gpu", "cuda")
    return torch.device("cuda" if wants_gpu and torch.cuda.is_available() else "cpu")


class ModelVersion:
    """``model`` as it is now, and its scoring copy on ``device``.

    ``cam_settings``: the GradCAM the maps are drawn with (galleries draw them for every
    strategy); ``bf16``: bfloat16 autocast for the scoring passes (``al.score_bf16``).
    """

    def __init__(self, model: DefectClassifier, cam_settings: CamSettings | None, device: torch.device, bf16: bool):
        self.model = model
        self.scoring = ScoringPass(model.net.to(device), cam_settings, device, bf16=bf16)
        self._pool_key: tuple | None = None
        self._pool_scores: ScoredPool | None = None

    def score(self, images: torch.Tensor, indices: torch.Tensor, needs: frozenset[str],
              batch_size: int = 256, mc_dropout: McDropout | None = None) -> ModelOutputs:
        """``images[indices]`` (uint8, N x 3 x H x W) scored for ``needs`` (probs, embeddings, cams, and
        mc_probs with ``mc_dropout``)."""
        return self.scoring.score(images, indices, needs, batch_size, mc_dropout)

    def probs(self, images: torch.Tensor, indices: torch.Tensor, batch_size: int) -> torch.Tensor:
        """Softmax probabilities (len(indices) x 2) of ``images[indices]``."""
        return self.score(images, indices, frozenset({"probs"}), batch_size).probs

    def score_pool(self, images: torch.Tensor, unlabeled: torch.Tensor, labeled: torch.Tensor,
                   needs: frozenset[str], batch_size: int, mc_dropout: McDropout | None = None) -> ScoredPool:
        """One pass over the unlabeled and (when the strategy compares against them: maps,
        embeddings) the labeled pool images. The same question asked twice of one version is
        answered from the first pass: scoring is deterministic for fixed weights."""
        key = (needs, mc_dropout, tuple(unlabeled.tolist()), tuple(labeled.tolist()))
        if key != self._pool_key:
            outputs = self.score(images, torch.cat([unlabeled, labeled]), needs, batch_size, mc_dropout)
            n = len(unlabeled)
            self._pool_key, self._pool_scores = key, ScoredPool(unlabeled=_rows(outputs, slice(0, n)),
                                                                labeled=_rows(outputs, slice(n, None)))
        return self._pool_scores


class HeadVersion(ModelVersion):
    """A ``LinearHead`` (``model.trainable=head``) or a ``LastBlockClassifier`` (``last_block``) as it is now,
    scoring from the cached ``features`` of the frozen backbone: no pass over the images. Like
    ``ModelVersion`` it scores with a copy of the model, so training the model further leaves this version
    as it was. ``images`` arguments are read for their side only (the GradCAM maps are upsampled to it);
    row i of ``features`` is dataset image i.

    A head's probabilities come from the cached pooled features, its embeddings are the standardised
    pooled features it reads, its GradCAM maps the closed form (``alflow.explain.gradcam``) of the cached
    last-stage maps with its channel weights ``LinearHead.cam_weight``. A last-block model runs its last
    stage on the cached maps of the stage before (in batches), then the same: embeddings are the pooled
    last-stage maps, GradCAM the closed form with ``fc``. Both equal Captum's ``LayerGradCam`` on the
    whole network (``tests/test_head.py``); MC dropout applies masks to the head's input.
    """

    def __init__(self, model: LinearHead | LastBlockClassifier, features: FrozenFeatures,
                 cam_settings: CamSettings | None):
        self.model, self.features, self.cam_settings = model, features, cam_settings
        self.scorer = copy.deepcopy(model).eval()
        self._pool_key: tuple | None = None
        self._pool_scores: ScoredPool | None = None

    @torch.inference_mode()
    def score(self, images: torch.Tensor, indices: torch.Tensor, needs: frozenset[str],
              batch_size: int = 256, mc_dropout: McDropout | None = None) -> ModelOutputs:
        scorer, settings = self.scorer, self.cam_settings
        if "cams" in needs and settings is None:
            raise ValueError("GradCAM maps (cams) were asked for without CamSettings (the cam.* settings)")
        zs, logits, cams = [], [], []
        for first in range(0, len(indices), batch_size):  # float32 maps of a whole pool would be 100s of MB
            chunk = indices[first:first + batch_size]
            if isinstance(scorer, LinearHead):
                z = scorer.standardize(self.features.pooled[chunk])
                maps = self.features.maps[chunk].float() if "cams" in needs else None
                # the last stage's columns of the head: the rest of the embedding comes from an earlier
                # stage, upstream of the maps, so the logit's gradient with respect to the maps has no term of it
                weight = scorer.cam_weight()[:, :self.features.maps.shape[1]]
            else:
                maps = scorer.last_maps(self.features.middle[chunk])
                z, weight = maps.mean(dim=(2, 3)), scorer.fc.weight
            out = scorer.fc(z)
            zs.append(z)
            logits.append(out)
            if "cams" in needs:
                raw = gradcam_closed_form(maps, weight, resolve_targets(settings.target, out), settings.relu)
                cams.append(resize_and_normalize(raw, settings.map_size, images.shape[-1], settings.normalize))
        z = torch.cat(zs) if zs else torch.empty(0, scorer.fc.in_features)
        logits = torch.cat(logits) if logits else torch.empty(0, 2)
        mc_probs = None
        if "mc_probs" in needs:
            if mc_dropout is None:
                raise ValueError("MC-dropout probabilities (mc_probs) were asked for without McDropout settings")
            masks = mc_dropout.masks(z.shape[1])
            mc_probs = scorer.fc(z[None] * masks[:, None, :]).softmax(dim=-1)
        cam_maps = None
        if "cams" in needs:
            side = settings.map_size or images.shape[-1]
            cam_maps = torch.cat(cams) if cams else torch.empty(0, 1, side, side)
        return ModelOutputs(indices=indices, probs=logits.softmax(dim=1), cams=cam_maps,
                            mc_probs=mc_probs, embeddings=z if "embeddings" in needs else None)


def _rows(outputs: ModelOutputs, rows: slice) -> ModelOutputs:
    def pick(t):
        return None if t is None else t[rows]

    return ModelOutputs(indices=outputs.indices[rows], probs=pick(outputs.probs),
                        embeddings=pick(outputs.embeddings), cams=pick(outputs.cams),
                        mc_probs=None if outputs.mc_probs is None else outputs.mc_probs[:, rows])
