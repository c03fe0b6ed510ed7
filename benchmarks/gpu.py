"""The GPU timings benchmarks/README.md asks for, in one run on a CUDA machine (refuses to run without one):

* a fine-tuning round (``model.trainable=all``) at 224 px, and a head round on the same pool and size
  (``benchmarks/head_round.py``'s measurement, so their ratio is in the same run);
* the self-supervised pretraining (``model.pretrained=ssl``: SimCLR, ``--ssl-epochs`` passes over the pool);
* a whole elpv job to pool exhaustion with the default learner (``python -m alflow dataset=elpv``).

    pip install torch==2.14.1 torchvision==0.29.1 && pip install -e '.[dev]'
    python benchmarks/gpu.py                      # about 10 minutes on one H100
    python benchmarks/gpu.py --ssl-epochs 1       # shorter

Prints one JSON line with the card's name. Needs elpv-dataset (the ``dev`` extra installs it).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent


def run(args: list[str], env: dict) -> float:
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ssl-epochs", type=int, default=20)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("benchmarks/gpu.py: no CUDA device here; run it on a machine with an NVIDIA GPU")
    result: dict[str, object] = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "ALFLOW_CACHE_DIR": str(Path(tmp) / "cache"), "PYTHONPATH": str(REPO)}
        rounds = subprocess.run([sys.executable, str(REPO / "benchmarks" / "head_round.py"), "--size", "224",
                                 "--strategies", "random", "uncertainty"], cwd=REPO, env=env, capture_output=True,
                                text=True)
        if rounds.returncode != 0:
            raise SystemExit(rounds.stderr[-3000:])
        result["rounds_224px"] = json.loads(rounds.stdout.strip().splitlines()[-1])
        uri = f"sqlite:///{Path(tmp) / 'gpu.db'}"
        common = [sys.executable, "-m", "alflow", "dataset=elpv", "fold.index=0", "gallery_size=0",
                  f"tracking.uri={uri}", f"hydra.run.dir={tmp}/out"]
        result["ssl_pretraining_s"] = round(run([*common, "model.pretrained=ssl", "model.trainable=head",
                                                 f"model.ssl.epochs={args.ssl_epochs}", "al.max_rounds=1"], env), 1)
        result["default_job_to_exhaustion_s"] = round(run([*common, "strategy=random"], env), 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
