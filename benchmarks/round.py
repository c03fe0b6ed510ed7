"""The cost of one full acquisition round, split into its parts, at 64 and 128 px.

Parts: training in incremental mode (the new batch, trainer.min_steps), training in batch
mode (a fresh model on every labeled image), the scoring pass for uncertainty and for
GradCAM_avg, the strategy's selection, and the evaluation pass (validation + test). Prints
a table per size and a JSON line with each part's share of the round, so the next
bottleneck is visible.

    python benchmarks/round.py --quick
"""
from __future__ import annotations

import argparse
import json
import time

import torch
from conf_dataset import dataset_from_conf  # benchmarks/ is on sys.path when run as a script

from alflow.compose import composed_group
from alflow.data import KFold
from alflow.loop import TrainSettings, score_images, train_round
from alflow.model import DefectClassifier
from alflow.model.speed import keep_large_buffers_on_heap
from alflow.strategies import GradCamAvg, ModelOutputs, ScoredPool, UncertaintySampling


# The parts of one GradCAM_avg round in incremental mode (the others are measured for comparison).
ROUND_PARTS = ("train_incremental", "score_gradcam_avg", "select_gradcam_avg", "evaluate")


def group_defaults(group: str, option: str | None = None) -> dict:
    """The values of conf/<group>/<option>.yaml (their one home) as a job composes them, without Hydra's keys."""
    return composed_group(group, option or {"trainer": "default", "model": "default"}[group])


# the fine-tuned ResNet-18 from random weights (model.trainable=all) this benchmark has always measured
FINE_TUNED = {"backbone": "resnet18", "pretrained": "none", "trainable": "all"}


def clock(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def one_size(size: int, n_images: int, labeled: int, min_steps: int) -> dict[str, float]:
    ds = dataset_from_conf(f"dataset.n_images={n_images}", f"dataset.image_size={size}")
    split = KFold(k=10, index=0, seed=0).split(ds.labels)
    lab, unl = split.pool[:labeled], split.pool[labeled:]
    new = lab[-32:]
    # the paper's budget (min_steps a round, the new batch only), settings from their one home in conf/
    train = TrainSettings(**{**group_defaults("trainer"), "epochs": 1, "min_steps": min_steps, "max_steps": None,
                             "accelerator": "cpu"})
    torch.manual_seed(0)
    model = DefectClassifier(**{**group_defaults("model"), **FINE_TUNED})
    parts = {}
    parts["train_incremental"], _ = clock(lambda: train_round(model, ds.images[new], ds.labels[new], train, 0))
    fresh = DefectClassifier(**{**group_defaults("model"), **FINE_TUNED})
    parts["train_batch"], _ = clock(lambda: train_round(fresh, ds.images[lab], ds.labels[lab], train, 0))
    unc = UncertaintySampling(**group_defaults("strategy", "uncertainty"))
    gc = GradCamAvg(**{**group_defaults("strategy", "gradcam_avg"), "image_size": None})
    parts["score_uncertainty"], out_u = clock(lambda: score_images(model.net, ds.images, unl, unc.needs))
    parts["score_gradcam_avg"], out_g = clock(
        lambda: score_images(model.net, ds.images, torch.cat([unl, lab]), gc.needs, gc.cam_settings))
    k = len(unl)
    pool = ScoredPool(ModelOutputs(unl, cams=out_g.cams[:k]), ModelOutputs(lab, cams=out_g.cams[k:]))
    parts["select_gradcam_avg"], _ = clock(lambda: gc.select(pool, 32, torch.Generator()))
    parts["select_uncertainty"], _ = clock(
        lambda: unc.select(ScoredPool(ModelOutputs(unl, probs=out_u.probs), ModelOutputs(lab)), 32, torch.Generator()))
    both = torch.cat([split.val, split.test])
    parts["evaluate"], _ = clock(lambda: score_images(model.net, ds.images, both, frozenset({"probs"})))
    return parts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=2400, help="dataset size (pool = 80%%)")
    ap.add_argument("--labeled", type=int, default=320, help="images labeled so far")
    ap.add_argument("--min-steps", type=int, default=8)
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--quick", action="store_true", help="600 images, 64 px only")
    args = ap.parse_args()
    if args.quick:
        args.images, args.sizes = 600, [64]
    keep_large_buffers_on_heap()
    result = {}
    for size in args.sizes:
        parts = one_size(size, args.images, args.labeled, args.min_steps)
        gradcam_round = sum(parts[k] for k in ROUND_PARTS)
        print(f"\n{size} px, {args.images} images, {args.labeled} labeled")
        print(f"{'part':<22}{'seconds':>10}{'share of a GradCAM_avg incremental round':>44}")
        for name, sec in parts.items():
            share = f"{sec / gradcam_round:.0%}" if name in ROUND_PARTS else ""
            print(f"{name:<22}{sec:>10.2f}{share:>44}")
        result[str(size)] = {k: round(v, 3) for k, v in parts.items()}
        result[f"{size}_shares"] = {k: parts[k] / gradcam_round for k in ROUND_PARTS}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
