"""GradCAM_avg acquisition: alflow's scoring pass against the paper's algorithm and its peers.

Times, on one synthetic pool in one run:
  (a) the paper's Algorithm 1 done literally: Captum per image, scikit-image SSIM in a loop;
  (b) Captum LayerGradCam batched, plus the same SSIM loop;
  (c) the grad-cam package (pytorch-grad-cam) batched, plus the same SSIM loop;
  (d) alflow: one scoring pass (closed-form GradCAM) and batched SSIM;
  (e) one plain batched inference pass over the same images: the floor.
Prints a table, then one JSON line with the ratios.

    python benchmarks/acquisition.py --quick
    python benchmarks/acquisition.py --pool 2400 --size 128
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F
from skimage.metrics import structural_similarity

from alflow.data import build_synthetic
from alflow.explain import ssim_batch
from alflow.loop import score_images
from alflow.model import build_resnet18, normalize
from alflow.model.speed import keep_large_buffers_on_heap
from alflow.strategies import GradCamAvg, ModelOutputs, ScoredPool


def literal_map(net, x, size):
    from captum.attr import LayerGradCam

    target = int(net(x).argmax())
    cam = LayerGradCam(net, net.layer4).attribute(x, target=target, relu_attributions=True).detach()
    return _finish(cam, size)[0, 0].double().numpy()


def _finish(cams, size):
    cams = F.interpolate(cams, size=(size, size), mode="bilinear", align_corners=False)
    flat = cams.flatten(1)
    lo, hi = flat.min(1).values.view(-1, 1, 1, 1), flat.max(1).values.view(-1, 1, 1, 1)
    return (cams - lo) / (hi - lo).clamp_min(1e-12)


def skimage_select(maps_l, maps_u, n):
    average = np.mean(maps_l, axis=0)
    ssim = np.array([structural_similarity(average, m, data_range=1.0) for m in maps_u])
    return np.argsort(ssim, kind="stable")[:n], ssim


def paper(net, images, labeled, unlabeled, size, n):
    maps = {i: literal_map(net, normalize(images[i:i + 1]), size) for i in torch.cat([labeled, unlabeled]).tolist()}
    return skimage_select([maps[i] for i in labeled.tolist()], [maps[i] for i in unlabeled.tolist()], n)


def captum_batched(net, images, labeled, unlabeled, size, n, batch=64):
    from captum.attr import LayerGradCam

    gc = LayerGradCam(net, net.layer4)
    order = torch.cat([labeled, unlabeled])
    maps = []
    for s in range(0, len(order), batch):
        x = normalize(images[order[s:s + batch]])
        with torch.no_grad():
            targets = net(x).argmax(1)
        maps.append(_finish(gc.attribute(x, target=targets, relu_attributions=True).detach(), size))
    maps = torch.cat(maps)[:, 0].double().numpy()
    return skimage_select(maps[:len(labeled)], maps[len(labeled):], n)


def gradcam_package(net, images, labeled, unlabeled, size, n, batch=64):
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    order = torch.cat([labeled, unlabeled])
    maps = []
    with GradCAM(model=net, target_layers=[net.layer4]) as cam:
        for s in range(0, len(order), batch):
            x = normalize(images[order[s:s + batch]])
            with torch.no_grad():
                targets = net(x).argmax(1).tolist()
            maps.append(cam(input_tensor=x, targets=[ClassifierOutputTarget(t) for t in targets]))
    maps = np.concatenate(maps).astype(np.float64)
    return skimage_select(maps[:len(labeled)], maps[len(labeled):], n)


def alflow_pass(net, images, labeled, unlabeled, size, n, batch=256):
    strategy = GradCamAvg(map_size=size)
    out = score_images(net, images, torch.cat([unlabeled, labeled]), strategy.needs | {"probs"},
                       strategy.cam_settings, batch_size=batch)
    k = len(unlabeled)
    pool = ScoredPool(ModelOutputs(unlabeled, cams=out.cams[:k]), ModelOutputs(labeled, cams=out.cams[k:]))
    sel = strategy.select(pool, n, torch.Generator())
    return sel, out


def inference(net, images, indices, batch=256, memory_format=torch.channels_last):
    """The floor: a plain forward pass, with the same memory-format lever alflow's pass uses."""
    net.to(memory_format=memory_format)
    with torch.inference_mode():
        for s in range(0, len(indices), batch):
            net(normalize(images[indices[s:s + batch]]).contiguous(memory_format=memory_format))
    net.to(memory_format=torch.contiguous_format)


def timed(fn, repeats):
    best, result = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pool", type=int, default=2400, help="images in the pool (labeled + unlabeled)")
    ap.add_argument("--size", type=int, default=64, help="image side in pixels")
    ap.add_argument("--labeled", type=float, default=0.2, help="share of the pool already labeled")
    ap.add_argument("--select", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=1, help="best of N for the fast methods")
    ap.add_argument("--skip-peers", action="store_true", help="skip (b) and (c)")
    ap.add_argument("--quick", action="store_true", help="a 400-image pool: under a minute")
    args = ap.parse_args()
    if args.quick:
        args.pool = 400
    keep_large_buffers_on_heap()

    images = build_synthetic(n_images=args.pool, image_size=args.size, seed=0).images
    torch.manual_seed(0)
    net = build_resnet18(2).eval()
    with torch.no_grad():
        net.fc.weight.mul_(5)  # spread the logits so predicted targets and maps vary
    n_lab = max(1, int(args.pool * args.labeled))
    labeled, unlabeled = torch.arange(n_lab), torch.arange(n_lab, args.pool)
    all_idx = torch.arange(args.pool)

    rows = {}
    inference(net, images, all_idx[:64])  # warm-up
    rows["e_inference"], _ = timed(lambda: inference(net, images, all_idx), args.repeats)
    rows["e_inference_nchw"], _ = timed(lambda: inference(net, images, all_idx,
                                                          memory_format=torch.contiguous_format), args.repeats)
    rows["d_alflow"], (sel, out) = timed(lambda: alflow_pass(net, images, labeled, unlabeled, args.size,
                                                             args.select), args.repeats)
    if not args.skip_peers:
        rows["b_captum_batched"], _ = timed(lambda: captum_batched(net, images, labeled, unlabeled, args.size,
                                                                   args.select), 1)
        rows["c_gradcam_pkg"], _ = timed(lambda: gradcam_package(net, images, labeled, unlabeled, args.size,
                                                                 args.select), 1)
    t = time.perf_counter()
    paper_pick, paper_ssim = paper(net, images, labeled, unlabeled, args.size, args.select)
    rows["a_paper"] = time.perf_counter() - t

    # SSIM alone, on identical maps: alflow's batched SSIM against scikit-image's.
    k = len(unlabeled)
    avg = out.cams[k:].double().mean(0)
    sample = out.cams[:min(k, 300)].double()
    ours = ssim_batch(avg[None], sample, data_range=1.0).numpy()
    ref = np.array([structural_similarity(avg[0].numpy(), m[0].numpy(), data_range=1.0) for m in sample])

    print(f"pool {args.pool} images at {args.size} px, {n_lab} labeled, select {args.select}, "
          f"{torch.get_num_threads()} threads")
    print(f"{'method':<22}{'seconds':>10}{'images/s':>10}")
    for name, sec in sorted(rows.items()):
        print(f"{name:<22}{sec:>10.2f}{args.pool / sec:>10.0f}")
    result = {
        "pool": args.pool, "size": args.size,
        "speedup_vs_paper": rows["a_paper"] / rows["d_alflow"],
        "overhead_vs_inference": rows["d_alflow"] / rows["e_inference"],
        "ssim_max_abs_diff_vs_skimage": float(np.abs(ours - ref).max()),
        "score_max_abs_diff_vs_paper": float(np.abs(np.sort(paper_ssim)[:args.select]
                                                    - sel.scores.numpy()).max()),
        "same_selection_as_paper": unlabeled[torch.from_numpy(paper_pick)].tolist() == sel.indices.tolist(),
    }
    if not args.skip_peers:
        result["speedup_vs_captum_batched"] = rows["b_captum_batched"] / rows["d_alflow"]
        result["speedup_vs_gradcam_pkg"] = rows["c_gradcam_pkg"] / rows["d_alflow"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
