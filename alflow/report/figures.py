"""One figure per dataset in the layout of the paper's Figures 1–2: per strategy, (a) validation and
test AUROC against images labeled and (b) defects left in the pool, mean with a ±1 std band over
folds, the knee marked."""
from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from alflow.records import (  # noqa: E402
    DEFECTS_LEFT, RUN_KIND_ACTIVE, RUN_KIND_FULL_POOL, TEST_AUROC, VAL_AUROC, cutoff_metric,
)
from alflow.report.runs import RunData  # noqa: E402


def _band(runs: list[RunData], metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    by_step: dict[int, list[float]] = defaultdict(list)
    for run in runs:
        for step, value in run.curves.get(metric, []):
            if not math.isnan(value):
                by_step[step].append(value)
    steps = np.array(sorted(by_step))
    mean = np.array([np.mean(by_step[s]) for s in steps])
    std = np.array([np.std(by_step[s]) for s in steps])
    return steps, mean, std


def dataset_figure(dataset: str, runs: list[RunData], out: Path) -> Path:
    strategies = sorted({r.strategy for r in runs if r.kind == RUN_KIND_ACTIVE})
    fig, axes = plt.subplots(2, len(strategies), figsize=(4.2 * len(strategies), 6.4), squeeze=False,
                             sharex="col")
    bound = [r.curves[TEST_AUROC][-1][1] for r in runs if r.kind == RUN_KIND_FULL_POOL and r.curves.get(TEST_AUROC)]
    for col, strategy in enumerate(strategies):
        group = [r for r in runs if r.kind == RUN_KIND_ACTIVE and r.strategy == strategy]
        ax = axes[0, col]
        for metric, colour in ((VAL_AUROC, "tab:blue"), (TEST_AUROC, "tab:orange")):
            x, m, s = _band(group, metric)
            ax.plot(x, m, color=colour, label=metric.split("/")[0])
            ax.fill_between(x, m - s, m + s, color=colour, alpha=0.2)
        if bound:
            ax.axhline(float(np.mean(bound)), color="grey", ls=":", label="upper bound")
        ax.set_ylim(0.3, 1.02)
        ax.set_title(f"{strategy} ({len(group)} folds)")
        ax.set_ylabel("AUROC" if col == 0 else "")
        ax.legend(loc="lower right", fontsize=8)
        ax = axes[1, col]
        x, m, s = _band(group, DEFECTS_LEFT)
        ax.plot(x, m, color="tab:red")
        ax.fill_between(x, m - s, m + s, color="tab:red", alpha=0.2)
        knee_at, knee_found = cutoff_metric("knee", "n_labeled"), cutoff_metric("knee", "found")
        knees = [r.metrics[knee_at] for r in group if r.metrics.get(knee_found) == 1.0 and knee_at in r.metrics]
        if knees:
            ax.axvline(float(np.mean(knees)), color="black", ls="--", label=f"knee ≈ {np.mean(knees):.0f}")
            ax.legend(loc="upper right", fontsize=8)
        ax.set_xlabel("images labeled")
        ax.set_ylabel("defects left in the pool" if col == 0 else "")
    fig.suptitle(f"{dataset}: (a) AUROC and (b) defects left in the pool against images labeled")
    fig.tight_layout()
    path = out / f"figure_{dataset}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def figures(runs: list[RunData], out: Path) -> list[Path]:
    return [dataset_figure(d, [r for r in runs if r.dataset == d], out)
            for d in sorted({r.dataset for r in runs if r.kind == RUN_KIND_ACTIVE})]
