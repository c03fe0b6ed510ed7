"""The paper's study (``experiment=paper_elpv``), whole or a stated fraction, timed end to end (the sweep,
then the report), against a reference measured in the same run: one head fit (``LinearHead.fit`` on the
cached features of half the pool: the mean labeled set of a run to exhaustion). Prints the ratios, never
asserts a time.

    python benchmarks/paper_study.py                                  # fold 0, seed 0: 4 of the study's 80 jobs
    python benchmarks/paper_study.py --folds 0,1,2,3,4,5,6,7,8,9 --seeds 0,1   # the whole study (80 jobs)
    python benchmarks/paper_study.py --synthetic 200 --strategies random,upper_bound   # CI: a synthetic pool
    python benchmarks/paper_study.py --threads 2                      # torch's threads in the jobs (default 1)

What it prints (a table, then one JSON line): ``study_wall_s`` (the sweep) and ``report_wall_s``, ``jobs``
and ``fraction_of_study`` (jobs / 80), ``study_estimate_s`` (the whole study at this pace: wall /
fraction), ``rounds`` and ``round_s_mean`` (the runs' logged ``round_seconds``), ``wall_per_round_s``
(the sweep's wall time over its rounds: imports, data, logging and analysis included), ``head_fit_s`` (the
median of 5 fits), ``round_over_head_fit`` (a round's seconds in head fits) and ``wall_per_round_over_head_fit``.

Threads: with the CPU shared, torch's default of one thread per core made a head fit 8 times slower
(1.1 s against 0.13 s for 1,800 images on the 2-core machine here, under a load of 5); ``--threads``
sets ``OMP_NUM_THREADS`` for the jobs and this process (default 1).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STUDY_JOBS = 80  # experiment=paper_elpv: 4 strategy rows x 10 folds x 2 seeds
REPO = Path(__file__).resolve().parent.parent


def run_study(out: Path, overrides: list[str], env: dict[str, str]) -> float:
    """Wall seconds of ``python -m alflow -m experiment=paper_elpv OVERRIDES`` run in ``out``."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "alflow", "-m", "experiment=paper_elpv", *overrides], cwd=out,
                          env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the study failed:\n{done.stderr[-3000:]}")
    return seconds


def run_report(out: Path, uri: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "alflow.report", "--tracking-uri", uri, "--experiment",
                           "elpv-paper-study", "--out", str(out / "report"), "--no-summary-run"], cwd=out, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the report failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def round_seconds(uri: str) -> list[float]:
    """Every round's logged ``round_seconds`` of the study's active-learning runs."""
    from mlflow.tracking import MlflowClient

    from alflow.records import ROUND_SECONDS, RUN_KIND_ACTIVE, TAG_RUN_KIND

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("elpv-paper-study")
    values = []
    for run in client.search_runs([exp.experiment_id], max_results=10_000):
        if run.data.tags.get(TAG_RUN_KIND) == RUN_KIND_ACTIVE:
            values += [m.value for m in client.get_metric_history(run.info.run_id, ROUND_SECONDS)]
    return values


def head_fit_seconds(data: list[str], repeats: int = 5) -> tuple[float, int]:
    """Median seconds of a head fit on half of fold 0's pool (the cached features the jobs computed), and
    the images fitted on."""
    import torch
    from conf_dataset import CONF_DIR, dataset_from_conf  # benchmarks/ is on sys.path when run as a script
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from alflow.data import KFold
    from alflow.model.learner import build_learner

    dataset = dataset_from_conf(*data)
    split = KFold(k=10, index=0, seed=0).split(dataset.labels)
    with initialize_config_dir(CONF_DIR, version_base=None):
        cfg = compose("config", overrides=["experiment=paper_elpv", *data])
    learner = build_learner(OmegaConf.to_container(cfg.model, resolve=True), dataset.images, split.pool,
                            dataset.name)
    order = torch.randperm(len(split.pool), generator=torch.Generator().manual_seed(0))
    labeled = split.pool[order[: len(split.pool) // 2]]
    pooled, labels = learner.features.pooled[labeled], dataset.labels[labeled]
    times = []
    for _ in range(repeats):
        head = learner.model_factory()
        start = time.perf_counter()
        head.fit(pooled, labels, cfg.trainer.class_weighting)
        times.append(time.perf_counter() - start)
    return statistics.median(times), len(labeled)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folds", default="0", help="fold.index values, comma-separated (default 0)")
    ap.add_argument("--seeds", default="0", help="seed values, comma-separated (default 0)")
    ap.add_argument("--strategies", default="random,uncertainty,gradcam_avg,upper_bound")
    ap.add_argument("--synthetic", type=int, default=None, metavar="N", help="N synthetic images instead of elpv")
    ap.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS for the jobs and the head fit")
    ap.add_argument("--keep", default=None, help="keep the store and the report in this new folder")
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.threads)
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": str(REPO) + (os.pathsep + path if path else "")}
    data = ["dataset=synthetic", f"dataset.n_images={args.synthetic}"] if args.synthetic else ["dataset=elpv"]
    jobs = len(args.folds.split(",")) * len(args.seeds.split(",")) * len(args.strategies.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.keep) if args.keep else Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        uri = f"sqlite:///{out.resolve() / 'study.db'}"
        overrides = [f"fold.index={args.folds}", f"seed={args.seeds}", f"strategy={args.strategies}",
                     f"tracking.uri={uri}", *data]
        study = run_study(out, overrides, env)
        report = run_report(out, uri, env)
        rounds = round_seconds(uri)
        import torch

        torch.set_num_threads(args.threads)
        fit, fitted_on = head_fit_seconds(data)
    result = {
        "dataset": f"synthetic ({args.synthetic})" if args.synthetic else "elpv", "threads": args.threads,
        "jobs": jobs, "fraction_of_study": jobs / STUDY_JOBS, "study_wall_s": round(study, 1),
        "report_wall_s": round(report, 1), "study_estimate_s": round(study / (jobs / STUDY_JOBS), 0),
        "rounds": len(rounds), "round_s_mean": round(statistics.fmean(rounds), 4) if rounds else None,
        "wall_per_round_s": round(study / len(rounds), 4) if rounds else None,
        "head_fit_s": round(fit, 4), "head_fit_images": fitted_on,
    }
    if rounds:
        result["round_over_head_fit"] = round(statistics.fmean(rounds) / fit, 2)
        result["wall_per_round_over_head_fit"] = round(study / len(rounds) / fit, 2)
    print(f"experiment=paper_elpv on {result['dataset']}: {jobs} jobs ({jobs / STUDY_JOBS:.1%} of the study), "
          f"{args.threads} thread(s)")
    for key, value in result.items():
        if key not in ("dataset", "threads", "jobs"):
            print(f"  {key:<32}{value:>12}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
