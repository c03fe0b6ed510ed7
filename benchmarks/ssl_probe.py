"""Linear probe of self-supervised backbones on the elpv development set: which method to default to.

For one fold (k=10, seed 0) of ``dataset=elpv`` at 64 px: each method in ``--methods`` is
pretrained on the fold's pool images (no labels; ``model.ssl`` defaults from
``conf/model/default.yaml``, overridden by the flags; the same cache entry as a job's, so a
probe after a sweep pretrains nothing; minutes are the pretraining's own), then the frozen
backbone's 512-d penultimate embeddings (eval mode) of pool, validation and test images feed an
L2-regularised logistic regression (scikit-learn) trained on the pool's labels; its C is chosen
on validation AUROC from a small grid, and test AUROC is reported. A random-init backbone
(seed 0) and, with ``--imagenet``, torchvision's ImageNet weights when cached, are probed the
same way. Prints one JSON line per backbone and a table.

    nice -n 10 python benchmarks/ssl_probe.py --methods simclr,byol --epochs 10 --max-minutes 14
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf
from sklearn.linear_model import LogisticRegression
from conf_dataset import dataset_from_conf  # benchmarks/ is on sys.path when run as a script
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from alflow.data import KFold
from alflow.model import build_resnet18, normalize
from alflow.model.backbones import PretrainingRecord, imagenet_state, resolve_with_record

CONF = Path(__file__).resolve().parent.parent / "conf" / "model" / "default.yaml"
C_GRID = (0.001, 0.01, 0.1, 1.0, 10.0)


@torch.no_grad()
def embed(state: dict | None, images: torch.Tensor, batch: int = 256) -> np.ndarray:
    """N x 512 float embeddings of N x 3 x H x W uint8 images by a frozen backbone (random init when None)."""
    torch.manual_seed(0)
    net = build_resnet18(2, backbone_state=state)
    net.fc = torch.nn.Identity()
    net.eval()
    return torch.cat([net(normalize(images[i:i + batch])) for i in range(0, len(images), batch)]).numpy()


def probe(features: np.ndarray, labels: np.ndarray, split) -> dict:
    """Logistic regression on the pool; C by validation AUROC; test AUROC of that C."""
    pool, val, test = (split.pool.numpy(), split.val.numpy(), split.test.numpy())
    scaler = StandardScaler().fit(features[pool])
    x = scaler.transform(features)
    best = None
    for c in C_GRID:
        clf = LogisticRegression(C=c, max_iter=5000).fit(x[pool], labels[pool])
        val_auc = roc_auc_score(labels[val], clf.decision_function(x[val]))
        if best is None or val_auc > best[0]:
            best = (val_auc, c, roc_auc_score(labels[test], clf.decision_function(x[test])))
    return {"val_auroc": round(best[0], 4), "C": best[1], "test_auroc": round(best[2], 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default="simclr,byol")
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=None, help="model.ssl.epochs (default: the YAML's)")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--max-minutes", type=float, default=None)
    ap.add_argument("--imagenet", action="store_true", help="also probe torchvision's ImageNet weights if cached")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    ds = dataset_from_conf("dataset=elpv", f"dataset.image_size={args.image_size}")
    split = KFold(k=10, index=args.fold, seed=0).split(ds.labels)
    labels = ds.labels.numpy()
    base = OmegaConf.to_container(OmegaConf.load(CONF).ssl)
    for key, value in (("epochs", args.epochs), ("batch_size", args.batch_size), ("max_minutes", args.max_minutes)):
        if value is not None:
            base[key] = value

    rows = []
    # (name, backbone state, its pretraining record: None for the backbones nobody pretrained here)
    backbones: list[tuple[str, dict | None, PretrainingRecord | None]] = [("random-init", None, None)]
    if args.imagenet:
        backbones.append(("imagenet", imagenet_state(), None))
    for method in [m for m in args.methods.split(",") if m]:
        # named like a job's dataset, so the probe and `python -m alflow dataset=elpv model.pretrained=ssl`
        # share one cached pretraining per fold (the key holds the pool's images and the settings)
        state, record = resolve_with_record("ssl", None, {**base, "method": method}, ds.images[split.pool], "elpv")
        backbones.append((method, state, record))
    for name, state, record in backbones:
        row = {"backbone": name, "fold": args.fold, "image_size": args.image_size,
               "pretrain_minutes": None if record is None else round(record.minutes, 1),
               "steps": None if record is None else f"{record.steps}/{record.planned_steps}",
               **probe(embed(state, ds.images), labels, split)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\n{'backbone':12} {'minutes':>8} {'val AUROC':>10} {'test AUROC':>11}")
    for r in rows:
        minutes = "-" if r["pretrain_minutes"] is None else f"{r['pretrain_minutes']:.1f}"
        print(f"{r['backbone']:12} {minutes:>8} {r['val_auroc']:>10.3f} {r['test_auroc']:>11.3f}")


if __name__ == "__main__":
    main()
