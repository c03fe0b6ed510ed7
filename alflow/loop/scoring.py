"""One scoring pass over a set of images: probabilities, embeddings and GradCAM maps together.

A forward hook keeps the last block's features; for a ResNet head the GradCAM maps
follow from them in closed form (see ``alflow.explain.gradcam``), so maps cost no
backward pass. Other models or layers fall back to Captum per batch.
"""
from __future__ import annotations

import torch

from alflow.explain import (
    CamSettings, gradcam_captum, gradcam_closed_form, has_gap_linear_head, resize_and_normalize, resolve_targets,
)
from alflow.model import normalize
from alflow.model.speed import scoring_copy
from alflow.strategies import McDropout, ModelOutputs


def score_images(net: torch.nn.Module, images: torch.Tensor, indices: torch.Tensor, needs: frozenset[str],
                 cam_settings: CamSettings | None = None, batch_size: int = 256,
                 device: torch.device | str = "cpu", allow_closed_form: bool = True,
                 channels_last: bool = True, fold_bn: bool = True, bf16: bool = False,
                 mc_dropout: McDropout | None = None) -> ModelOutputs:
    """Score ``images[indices]`` with ``net`` (a torchvision ResNet) in eval mode, in batches.

    See ``ScoringPass`` for the options; ``net`` itself is not touched.
    """
    scoring = ScoringPass(net, cam_settings, device, allow_closed_form, channels_last, fold_bn, bf16)
    return scoring.score(images, indices, needs, batch_size, mc_dropout)


class ScoringPass:
    """A scoring copy of ``net``, hooked to yield probabilities, embeddings and GradCAM maps.

    Build one per model version and score with it as often as needed: the copy is what costs.
    The copy (``alflow.model.speed.scoring_copy``) runs NHWC when ``channels_last`` (oneDNN's CPU
    convolutions prefer it) and has BatchNorm folded into the convolutions when ``fold_bn``;
    ``benchmarks/acquisition.py`` measures both. ``bf16`` runs the forward pass under bfloat16
    autocast (maps and probabilities are still finished in float32); off by default, since it may
    change picks (faster where bf16 is native, slower on CPUs without it; ``--bf16`` there measures both).
    ``cam_settings`` is needed only to ask for maps, ``mc_dropout`` only to ask for ``mc_probs``: the
    T x N x 2 softmax of the head (``fc``) applied to the penultimate features under T dropout masks
    (``McDropout``; dropout is on for this and nothing else, the rest of the pass is in eval mode).
    ``allow_closed_form=False`` forces Captum even where the closed form applies (for checks).
    """

    def __init__(self, net: torch.nn.Module, cam_settings: CamSettings | None = None,
                 device: torch.device | str = "cpu", allow_closed_form: bool = True, channels_last: bool = True,
                 fold_bn: bool = True, bf16: bool = False):
        self.cam_settings, self.device, self.bf16 = cam_settings, torch.device(device), bf16
        self.scorer = scoring_copy(net, channels_last=channels_last, fold_bn=fold_bn)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.layer = getattr(self.scorer, cam_settings.layer) if cam_settings else None
        self.closed_form = (cam_settings is not None and allow_closed_form
                            and has_gap_linear_head(self.scorer, cam_settings.layer))
        self._captured: dict[str, torch.Tensor] = {}
        self.scorer.avgpool.register_forward_hook(lambda m, i, o: self._captured.__setitem__("embedding",
                                                                                             o.flatten(1)))
        if self.closed_form:
            self.layer.register_forward_hook(lambda m, i, o: self._captured.__setitem__("features", o))

    def score(self, images: torch.Tensor, indices: torch.Tensor, needs: frozenset[str],
              batch_size: int = 256, mc_dropout: McDropout | None = None) -> ModelOutputs:
        """``images[indices]`` in batches of ``batch_size``."""
        masks = self._masks(needs, mc_dropout)
        parts = [self(images[indices[start:start + batch_size]], needs, masks)
                 for start in range(0, len(indices), batch_size)]
        return ModelOutputs(
            indices=indices,
            probs=torch.cat([p.probs for p in parts]) if parts else torch.empty(0, 2),
            embeddings=torch.cat([p.embeddings for p in parts]) if parts and "embeddings" in needs else None,
            cams=torch.cat([p.cams for p in parts]) if parts and "cams" in needs else None,
            mc_probs=None if masks is None else (torch.cat([p.mc_probs for p in parts], dim=1) if parts
                                                 else torch.empty(len(masks), 0, 2)),
        )

    def _masks(self, needs: frozenset[str], mc_dropout: McDropout | None) -> torch.Tensor | None:
        """The pass's T x D dropout masks on ``device`` (None unless ``mc_probs`` are asked for)."""
        if "mc_probs" not in needs:
            return None
        if mc_dropout is None:
            raise ValueError("MC-dropout probabilities (mc_probs) were asked for without McDropout settings")
        return mc_dropout.masks(self.scorer.fc.in_features).to(self.device)

    def __call__(self, batch: torch.Tensor, needs: frozenset[str], masks: torch.Tensor | None = None) -> ModelOutputs:
        """Score one batch of uint8 images (N x 3 x H x W); ``indices`` of the result is left empty.
        ``masks`` (T x D, see ``McDropout.masks``): given, the result carries ``mc_probs`` (T x N x 2)."""
        if "cams" in needs and self.cam_settings is None:
            raise ValueError("GradCAM maps were asked for without CamSettings")
        x = normalize(batch.to(self.device)).contiguous(memory_format=self.memory_format)
        with torch.inference_mode(), torch.autocast(self.device.type, torch.bfloat16, enabled=self.bf16):
            logits = self.scorer(x).float()
        features = self._captured["embedding"].float()
        embeddings = features.cpu() if "embeddings" in needs else None
        cams = self._cams(x, logits, batch.shape[-1]).cpu() if "cams" in needs else None
        mc_probs = None
        if masks is not None:
            with torch.inference_mode():
                fc = self.scorer.fc
                mc_probs = torch.nn.functional.linear(features[None] * masks[:, None, :], fc.weight.float(),
                                                      fc.bias.float()).softmax(dim=-1).cpu()
        return ModelOutputs(indices=torch.empty(0, dtype=torch.long), probs=logits.softmax(dim=1).cpu(),
                            embeddings=embeddings, cams=cams, mc_probs=mc_probs)

    def _cams(self, x: torch.Tensor, logits: torch.Tensor, input_size: int) -> torch.Tensor:
        settings = self.cam_settings
        targets = resolve_targets(settings.target, logits)
        if self.closed_form:
            with torch.inference_mode():
                raw = gradcam_closed_form(self._captured["features"].float(), self.scorer.fc.weight, targets,
                                          settings.relu)
        else:
            raw = gradcam_captum(self.scorer, self.layer, x, targets.clone(), settings.relu)
        with torch.inference_mode():
            return resize_and_normalize(raw.float(), settings.map_size, input_size, settings.normalize)
