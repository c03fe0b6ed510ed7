"""GradCAM_avg acquisition: alflow's scoring pass against the paper's algorithm and its peers.

Times, on one synthetic pool in one run:
  (a) the paper's Algorithm 1 done literally: Captum per image, scikit-image SSIM in a loop;
  (b) Captum LayerGradCam batched, plus the same SSIM loop;
  (c) the grad-cam package (pytorch-grad-cam) batched, plus the same SSIM loop;
  (d) alflow: one scoring pass (closed-form GradCAM) and batched SSIM;
  (e) one batched inference pass over the same images with the same levers as (d)
      (channels-last, BatchNorm folded): the floor; also timed plain (NCHW, BN unfolded).
Prints a table, then one JSON line with the ratios.

The methods run in lockstep: batch by batch, each method in turn (the order rotating),
then each method's finishing step (SSIM and selection). A shared machine's speed drifts
(here by up to 50% within a minute); in lockstep every method sees the same drift, so the
ratios hold even when the seconds do not. ``--repeats N`` repeats the whole lockstep and
reports each method's median.

    python benchmarks/acquisition.py --quick
    python benchmarks/acquisition.py --pool 2400 --size 128
    python benchmarks/acquisition.py --quick --bf16 --skip-peers   # is bfloat16 worth it here?
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from skimage.metrics import structural_similarity
from conf_dataset import dataset_from_conf  # benchmarks/ is on sys.path when run as a script

from alflow.compose import composed_group
from alflow.explain import ssim_batch
from alflow.loop import ScoringPass
from alflow.model import build_resnet18, normalize
from alflow.model.speed import keep_large_buffers_on_heap, scoring_copy
from alflow.strategies import GradCamAvg, ModelOutputs, ScoredPool


@dataclass
class Method:
    """start() -> state; per_batch(state, indices) -> that batch's output; finish(state, outputs) -> result."""

    start: Callable[[], Any]
    per_batch: Callable[[Any, torch.Tensor], Any]
    finish: Callable[[Any, list], Any] = lambda state, outputs: None


def finish_maps(cams: torch.Tensor, size: int) -> torch.Tensor:
    """The paper's post-processing: upsample to the input size, then min-max scale each map."""
    cams = F.interpolate(cams, size=(size, size), mode="bilinear", align_corners=False)
    flat = cams.flatten(1)
    lo, hi = flat.min(1).values.view(-1, 1, 1, 1), flat.max(1).values.view(-1, 1, 1, 1)
    return (cams - lo) / (hi - lo).clamp_min(1e-12)


def skimage_select(maps: np.ndarray, n_unlabeled: int, n: int):
    """Algorithm 1's last step: average the labeled maps, SSIM each unlabeled map against it (a loop)."""
    average = np.mean(maps[n_unlabeled:], axis=0)
    ssim = np.array([structural_similarity(average, m, data_range=1.0) for m in maps[:n_unlabeled]])
    return np.argsort(ssim, kind="stable")[:n], ssim


def build_methods(net, images, size, n_unlabeled, n_select, peers: bool, bf16: bool) -> dict[str, Method]:
    from captum.attr import LayerGradCam

    def literal(_, idx):  # Captum called once per image, with that image's predicted class
        maps = []
        for i in idx.tolist():
            x = normalize(images[i:i + 1])
            target = int(net(x).argmax())
            cam = LayerGradCam(net, net.layer4).attribute(x, target=target, relu_attributions=True).detach()
            maps.append(finish_maps(cam, size)[0, 0].double().numpy())
        return np.stack(maps)

    def captum_batched(gradcam, idx):
        x = normalize(images[idx])
        with torch.no_grad():
            targets = net(x).argmax(1)
        cams = gradcam.attribute(x, target=targets, relu_attributions=True).detach()
        return finish_maps(cams, size)[:, 0].double().numpy()

    def gradcam_package_start():
        from pytorch_grad_cam import GradCAM

        # Its own copy of the net: the package's hooks stay on until released, and must not slow
        # down (or be copied into) the other methods' nets meanwhile.
        own = copy.deepcopy(net)
        return GradCAM(model=own, target_layers=[own.layer4])

    def gradcam_package(cam, idx):
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        x = normalize(images[idx])
        with torch.no_grad():
            targets = cam.model(x).argmax(1).tolist()
        return cam(input_tensor=x, targets=[ClassifierOutputTarget(t) for t in targets]).astype(np.float64)

    def gradcam_package_finish(cam, outputs):
        cam.activations_and_grads.release()
        return skimage_select(np.concatenate(outputs), n_unlabeled, n_select)

    def skimage_finish(_, outputs):
        return skimage_select(np.concatenate(outputs), n_unlabeled, n_select)

    settings = composed_group("strategy", "gradcam_avg")  # the settings' one home (with conf/cam)
    strategy = GradCamAvg(**{**settings, "map_size": size, "image_size": None})
    needs = strategy.needs | {"probs"}

    def alflow_start(use_bf16=False):
        return ScoringPass(net, strategy.cam_settings, bf16=use_bf16)

    def alflow_finish(_, outputs: list[ModelOutputs]):
        cams = torch.cat([o.cams for o in outputs])
        unlabeled = ModelOutputs(torch.arange(n_unlabeled), cams=cams[:n_unlabeled])
        labeled = ModelOutputs(torch.arange(n_unlabeled, len(cams)), cams=cams[n_unlabeled:])
        return strategy.select(ScoredPool(unlabeled, labeled), n_select, torch.Generator()), cams

    def forward(levers):
        memory_format = torch.channels_last if levers else torch.contiguous_format

        def run(scorer, idx):
            with torch.inference_mode():
                scorer(normalize(images[idx]).contiguous(memory_format=memory_format))
        return Method(lambda: scoring_copy(net, channels_last=levers, fold_bn=levers), run)

    methods = {
        "a_paper": Method(lambda: None, literal, skimage_finish),
        "d_alflow": Method(alflow_start, lambda scoring, idx: scoring(images[idx], needs), alflow_finish),
        "e_inference": forward(levers=True),
        "e_inference_plain": forward(levers=False),
    }
    if peers:
        methods["b_captum_batched"] = Method(lambda: LayerGradCam(net, net.layer4), captum_batched, skimage_finish)
        methods["c_gradcam_pkg"] = Method(gradcam_package_start, gradcam_package, gradcam_package_finish)
    if bf16:
        methods["d_alflow_bf16"] = Method(lambda: alflow_start(use_bf16=True),
                                          lambda scoring, idx: scoring(images[idx], needs), alflow_finish)
    return methods


def run_lockstep(methods: dict[str, Method], order: torch.Tensor, batch: int,
                 finish: bool = True) -> tuple[dict, dict]:
    """Every method over the same batches, taking turns; returns (seconds, results) per method."""
    seconds = dict.fromkeys(methods, 0.0)
    states, outputs, results = {}, {name: [] for name in methods}, {}

    def clocked(name, fn):
        t = time.perf_counter()
        out = fn()
        seconds[name] += time.perf_counter() - t
        return out

    names = list(methods)
    for name in names:
        states[name] = clocked(name, methods[name].start)
    for b, s in enumerate(range(0, len(order), batch)):
        idx = order[s:s + batch]
        for name in names[b % len(names):] + names[:b % len(names)]:
            # called at once by clocked: the loop variables are bound when the lambda runs
            outputs[name].append(clocked(name, lambda: methods[name].per_batch(states[name], idx)))  # noqa: B023
    for name in names if finish else []:
        results[name] = clocked(name, lambda: methods[name].finish(states[name], outputs[name]))  # noqa: B023
    return seconds, results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pool", type=int, default=2400, help="images in the pool (labeled + unlabeled)")
    ap.add_argument("--size", type=int, default=64, help="image side in pixels")
    ap.add_argument("--labeled", type=float, default=0.2, help="share of the pool already labeled")
    ap.add_argument("--select", type=int, default=32)
    ap.add_argument("--batch", type=int, default=256, help="images per batch, for every batched method")
    ap.add_argument("--repeats", type=int, default=1, help="run the whole lockstep N times; report medians")
    ap.add_argument("--bf16", action="store_true", help="also time (d) under bfloat16 autocast")
    ap.add_argument("--skip-peers", action="store_true", help="skip (b) and (c)")
    ap.add_argument("--quick", action="store_true", help="a 400-image pool: under a minute")
    args = ap.parse_args()
    if args.quick:
        args.pool = 400
    keep_large_buffers_on_heap()

    images = dataset_from_conf(f"dataset.n_images={args.pool}", f"dataset.image_size={args.size}").images
    torch.manual_seed(0)
    net = build_resnet18(2).eval()
    with torch.no_grad():
        net.fc.weight.mul_(5)  # spread the logits so predicted targets and maps vary
    n_lab = max(1, int(args.pool * args.labeled))
    n_unl = args.pool - n_lab
    order = torch.arange(args.pool)  # unlabeled first, then labeled: images n_unl.. are the labeled ones

    methods = build_methods(net, images, args.size, n_unl, args.select, not args.skip_peers, args.bf16)
    # Warm-up: oneDNN sets up kernels per batch shape, Captum and grad-cam their hooks.
    run_lockstep({k: v for k, v in methods.items() if k != "a_paper"}, order[:args.batch + 16], args.batch,
                 finish=False)
    runs = []
    for _ in range(args.repeats):
        seconds, results = run_lockstep(methods, order, args.batch)
        runs.append(seconds)
    rows = {name: statistics.median(run[name] for run in runs) for name in methods}

    paper_pick, paper_ssim = results["a_paper"]
    selection, cams = results["d_alflow"]
    # SSIM alone, on identical maps: alflow's batched SSIM against scikit-image's.
    average = cams[n_unl:].double().mean(0)
    sample = cams[:min(n_unl, 300)].double()
    ours = ssim_batch(average[None], sample, data_range=1.0).numpy()
    reference = np.array([structural_similarity(average[0].numpy(), m[0].numpy(), data_range=1.0) for m in sample])

    print(f"pool {args.pool} images at {args.size} px, {n_lab} labeled, select {args.select}, "
          f"{torch.get_num_threads()} threads, median of {args.repeats} lockstep run(s)")
    print(f"{'method':<22}{'seconds':>10}{'images/s':>10}")
    for name, sec in sorted(rows.items()):
        print(f"{name:<22}{sec:>10.2f}{args.pool / sec:>10.0f}")
    result = {
        "pool": args.pool, "size": args.size,
        "seconds": rows,  # median seconds per method: every ratio below is a quotient of two of these
        "speedup_vs_paper": rows["a_paper"] / rows["d_alflow"],
        "overhead_vs_inference": rows["d_alflow"] / rows["e_inference"],
        "overhead_vs_plain_inference": rows["d_alflow"] / rows["e_inference_plain"],
        "ssim_max_abs_diff_vs_skimage": float(np.abs(ours - reference).max()),
        "score_max_abs_diff_vs_paper": float(np.abs(np.sort(paper_ssim)[:args.select]
                                                    - selection.scores.numpy()).max()),
        "same_selection_as_paper": paper_pick.tolist() == selection.indices.tolist(),
        "paper_picks": paper_pick.tolist(),
    }
    if args.bf16:
        result["bf16_speedup_vs_fp32"] = rows["d_alflow"] / rows["d_alflow_bf16"]
        bf16_pick = results["d_alflow_bf16"][0].indices.tolist()
        result["bf16_same_selection_as_paper"] = paper_pick.tolist() == bf16_pick
        # How far off it is when not the same: picks shared with the paper's, out of --select.
        result["bf16_picks_shared_with_paper"] = len(set(paper_pick.tolist()) & set(bf16_pick))
        result["bf16_picks"] = bf16_pick
    if not args.skip_peers:
        result["speedup_vs_captum_batched"] = rows["b_captum_batched"] / rows["d_alflow"]
        result["speedup_vs_gradcam_pkg"] = rows["c_gradcam_pkg"] / rows["d_alflow"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
