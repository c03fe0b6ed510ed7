"""A head round (``model.trainable=head``) against a fine-tuning round (``all``) on the same pool, image size
and backbone, both measured in this run through the real acquisition loop; prints their ratio. A
``last_block`` round (the last stage trained on the cached features) is timed too.

Both loops start from the same labeled set (round 1 labels ``--labeled`` random pool images), then one
round of each strategy is timed: score the pool, select ``al.batch_size``, train, evaluate, record.
The head's one-time feature pass (cached on disk, shared by a sweep's jobs) is timed apart.

    python benchmarks/head_round.py                    # elpv at 128 px (pip install elpv-dataset)
    python benchmarks/head_round.py --synthetic 600    # the built-in synthetic pool instead
    python benchmarks/head_round.py --skip-all         # head rounds only (seconds, no ratio)

Prints a table and one JSON line; ``head_speedup_vs_all`` is (all round) / (head round) for the strategy
both ran (random by default). Seconds drift with whatever else the CPU runs; the ratio is the result.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch
from conf_dataset import CONF_DIR, dataset_from_conf  # benchmarks/ is on sys.path when run as a script
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from alflow.data import KFold
from alflow.loop import AcquisitionLoop, LoopSettings
from alflow.model.learner import build_learner
from alflow.model.speed import keep_large_buffers_on_heap


def compose_cfg(*overrides: str):
    with initialize_config_dir(CONF_DIR, version_base=None):
        return compose("config", overrides=list(overrides))


def timed_round(overrides: list[str], dataset, split, learner, labeled: int) -> float:
    """Seconds of round 2 of the job ``overrides`` compose, after round 1 labeled ``labeled`` random pool
    images (the learner and its cached features are built once, outside the timing)."""
    cfg = compose_cfg(*overrides)
    al = {**OmegaConf.to_container(cfg.al, resolve=True), "initial_size": labeled, "resume": False}
    settings = LoopSettings(**al, gallery_size=0, gallery_dir=None)
    train = instantiate(cfg.trainer)
    loop = AcquisitionLoop(dataset, split, instantiate(cfg.strategy), learner.model_factory, train, settings,
                           log_prefix=cfg.strategy.get("name", "strategy"), features=learner.features)
    loop.step()
    start = time.perf_counter()
    loop.step()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--synthetic", type=int, default=None, metavar="N", help="N synthetic images instead of elpv")
    ap.add_argument("--size", type=int, default=128, help="dataset.image_size")
    ap.add_argument("--labeled", type=int, default=320, help="images labeled before the timed round")
    ap.add_argument("--backbone", default="efficientnet_lite0")
    ap.add_argument("--pretrained", default="imagenet")
    ap.add_argument("--strategies", nargs="+", default=["random", "uncertainty", "gradcam_avg"])
    ap.add_argument("--skip-all", action="store_true", help="time head rounds only")
    args = ap.parse_args()
    keep_large_buffers_on_heap()
    data = [f"dataset.n_images={args.synthetic}"] if args.synthetic else ["dataset=elpv"]
    data.append(f"dataset.image_size={args.size}")
    model = [f"model.backbone={args.backbone}", f"model.pretrained={args.pretrained}"]
    dataset = dataset_from_conf(*data)
    split = KFold(k=10, index=0, seed=0).split(dataset.labels)
    result: dict[str, float | int | str] = {"pool": len(split.pool), "image_size": args.size,
                                            "backbone": f"{args.backbone} ({args.pretrained})",
                                            "threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as cache:  # a cold cache: the feature pass is timed
        head = [*data, *model, "model.trainable=head", f"model.cache_dir={cache}"]
        start = time.perf_counter()
        learner = build_learner(OmegaConf.to_container(compose_cfg(*head).model, resolve=True), dataset.images,
                                split.pool, dataset.name)
        result["feature_pass_s"] = round(time.perf_counter() - start, 2)
        for name in args.strategies:
            result[f"head_round_s_{name}"] = round(
                timed_round([*head, f"strategy={name}"], dataset, split, learner, args.labeled), 4)
        name = args.strategies[0]
        block = [*data, *model, "model.trainable=last_block", f"model.cache_dir={cache}", f"strategy={name}"]
        learner = build_learner(OmegaConf.to_container(compose_cfg(*block).model, resolve=True), dataset.images,
                                split.pool, dataset.name)  # the features come from the cache just written
        result[f"last_block_round_s_{name}"] = round(timed_round(block, dataset, split, learner, args.labeled), 3)
    if not args.skip_all:
        name = args.strategies[0]
        fine_tune = [*data, *model, "model.trainable=all", f"strategy={name}"]
        learner = build_learner(OmegaConf.to_container(compose_cfg(*fine_tune).model, resolve=True),
                                dataset.images, split.pool, dataset.name)
        result[f"all_round_s_{name}"] = round(timed_round(fine_tune, dataset, split, learner, args.labeled), 2)
        result["head_speedup_vs_all"] = round(result[f"all_round_s_{name}"] / result[f"head_round_s_{name}"], 1)
    print(f"pool {result['pool']}, {args.size} px, {result['backbone']}, {args.labeled} labeled before the round")
    for key, value in result.items():
        if key.endswith("_s") or "_s_" in key or key == "head_speedup_vs_all":
            print(f"  {key:<32}{value:>10}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
