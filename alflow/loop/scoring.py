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
from alflow.strategies import ModelOutputs


def score_images(net: torch.nn.Module, images: torch.Tensor, indices: torch.Tensor, needs: frozenset[str],
                 cam_settings: CamSettings | None = None, batch_size: int = 256,
                 device: torch.device | str = "cpu", allow_closed_form: bool = True,
                 channels_last: bool = True) -> ModelOutputs:
    """Score ``images[indices]`` with ``net`` (a torchvision ResNet) in eval mode.

    ``allow_closed_form=False`` forces Captum even where the closed form applies (for checks).
    ``channels_last`` runs the pass in NHWC, which oneDNN's CPU convolutions prefer
    (``benchmarks/acquisition.py`` measures it); the net is restored to NCHW afterwards so
    training is unaffected.
    """
    want_cams = "cams" in needs
    if want_cams and cam_settings is None:
        raise ValueError("GradCAM maps were asked for without CamSettings")
    was_training = net.training
    net.eval()
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    net.to(memory_format=memory_format)
    layer = getattr(net, cam_settings.layer) if want_cams else None
    closed_form = want_cams and allow_closed_form and has_gap_linear_head(net, cam_settings.layer)
    captured: dict[str, torch.Tensor] = {}
    hooks = [net.avgpool.register_forward_hook(lambda m, i, o: captured.__setitem__("embedding", o.flatten(1)))]
    if closed_form:
        hooks.append(layer.register_forward_hook(lambda m, i, o: captured.__setitem__("features", o)))
    probs, embeddings, cams = [], [], []
    try:
        for start in range(0, len(indices), batch_size):
            batch_idx = indices[start:start + batch_size]
            x = normalize(images[batch_idx].to(device)).contiguous(memory_format=memory_format)
            with torch.inference_mode():
                logits = net(x)
            probs.append(logits.softmax(dim=1).float().cpu())
            if "embeddings" in needs:
                embeddings.append(captured["embedding"].float().cpu())
            if want_cams:
                targets = resolve_targets(cam_settings.target, logits)
                if closed_form:
                    with torch.inference_mode():
                        raw = gradcam_closed_form(captured["features"], net.fc.weight, targets, cam_settings.relu)
                else:
                    raw = gradcam_captum(net, layer, x, targets.clone(), cam_settings.relu)
                with torch.inference_mode():
                    maps = resize_and_normalize(raw.float(), cam_settings.map_size, images.shape[-1],
                                                cam_settings.normalize)
                cams.append(maps.cpu())
    finally:
        for h in hooks:
            h.remove()
        net.to(memory_format=torch.contiguous_format)
        net.train(was_training)
    return ModelOutputs(
        indices=indices,
        probs=torch.cat(probs) if probs else torch.empty(0, 2),
        embeddings=torch.cat(embeddings) if embeddings else None,
        cams=torch.cat(cams) if cams else None,
    )
