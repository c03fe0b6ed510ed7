"""One figure per dataset comparing the strategies, after the paper's Figures 1–2: (a) validation and
(b) test AUROC and (c) defects left in the pool against images labeled, every strategy on the same
axes (mean over folds, a ±1 std band), the full-pool reference as a horizontal line (or a note that it
was not run), each fold's knee of the defects-left curve marked."""
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

# One colour per strategy in every figure (the baseline grey); strategies beyond these take the next ones.
STRATEGY_COLOURS = {"random": "tab:gray", "uncertainty": "tab:blue", "gradcam_avg": "tab:orange"}
SPARE_COLOURS = ("tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:red")


def strategy_colours(strategies: list[str]) -> dict[str, str]:
    spare = iter(SPARE_COLOURS * (1 + len(strategies) // len(SPARE_COLOURS)))
    return {s: STRATEGY_COLOURS.get(s) or next(spare) for s in strategies}


def band(runs: list[RunData], metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Steps (images labeled) and the mean, population std and number of folds of ``metric`` at each
    step, over the runs that logged it there (NaN values left out)."""
    by_step: dict[int, list[float]] = defaultdict(list)
    for run in runs:
        for step, value in run.curves.get(metric, []):
            if not math.isnan(value):
                by_step[step].append(value)
    steps = np.array(sorted(by_step), dtype=float)
    mean = np.array([np.mean(by_step[s]) for s in sorted(by_step)])
    std = np.array([np.std(by_step[s]) for s in sorted(by_step)])
    count = np.array([len(by_step[s]) for s in sorted(by_step)])
    return steps, mean, std, count


def _folds(n: int) -> str:
    """How many runs a curve averages: folds x seeds, so "runs" (one fold of one seed is a run)."""
    return f"{n} run" if n == 1 else f"{n} runs"


def _knees(run: RunData) -> tuple[float, float] | None:
    """(images labeled, defects left) at the run's knee of the defects-left curve; None when no knee
    was found (the cut-off then fell back to the last round)."""
    at, found = run.metrics.get(cutoff_metric("knee", "n_labeled")), run.metrics.get(cutoff_metric("knee", "found"))
    if at is None or found != 1.0 or math.isnan(at):
        return None
    left = dict(run.curves.get(DEFECTS_LEFT, []))
    return (at, left[int(at)]) if int(at) in left else None


def _fit_auroc_axis(ax, lows: list[float], highs: list[float]) -> None:
    """Y limits that show the data (not a fixed 0.3–1): the band's extent with 5 % padding, within [0, 1]."""
    if not lows:
        ax.set_ylim(0, 1)
        return
    low, high = min(lows), max(highs)
    pad = max(0.02, 0.05 * (high - low))
    ax.set_ylim(max(0.0, low - pad), min(1.0, high + pad))


def dataset_figure(dataset: str, runs: list[RunData], out: Path) -> Path:
    """``figure_<dataset>.png`` (PNG, 110 dpi) of the dataset's runs; returns its path."""
    active = [r for r in runs if r.kind == RUN_KIND_ACTIVE]
    reference = [r for r in runs if r.kind == RUN_KIND_FULL_POOL]
    strategies = sorted({r.strategy for r in active}, key=lambda s: (s != "random", s))
    colours = strategy_colours(strategies)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    panels = ((axes[0], VAL_AUROC, "(a) validation AUROC"), (axes[1], TEST_AUROC, "(b) test AUROC"))
    for ax, metric, title in panels:
        lows, highs = [], []
        for strategy in strategies:
            group = [r for r in active if r.strategy == strategy]
            x, m, s, _ = band(group, metric)
            if len(x) == 0:
                continue
            ax.plot(x, m, color=colours[strategy], lw=1.8, label=f"{strategy} ({_folds(len(group))})")
            ax.fill_between(x, m - s, m + s, color=colours[strategy], alpha=0.18, lw=0)
            lows.append(float(np.min(m - s)))
            highs.append(float(np.max(m + s)))
        finals = [r.curves[metric][-1][1] for r in reference if r.curves.get(metric)]
        finals = [v for v in finals if not math.isnan(v)]
        if finals:
            level = float(np.mean(finals))
            ax.axhline(level, color="black", ls=":", lw=1.3, label=f"full-pool reference ({_folds(len(finals))})")
            lows.append(level)
            highs.append(level)
        else:
            ax.plot([], [], " ", label="(full-pool reference not run)")  # a legend line saying so
        _fit_auroc_axis(ax, lows, highs)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("images labeled")
        ax.set_ylabel("AUROC (0.5 = chance)")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=7.5)
    ax = axes[2]
    knee_drawn = False
    for strategy in strategies:
        group = [r for r in active if r.strategy == strategy]
        x, m, s, _ = band(group, DEFECTS_LEFT)
        if len(x):
            ax.plot(x, m, color=colours[strategy], lw=1.8, label=strategy)
            ax.fill_between(x, np.maximum(m - s, 0), m + s, color=colours[strategy], alpha=0.18, lw=0)
        knees = [k for k in (_knees(r) for r in group) if k is not None]
        if knees:
            kx, ky = zip(*knees)
            ax.scatter(kx, ky, marker="v", s=36, color=colours[strategy], edgecolor="black", linewidth=0.6, zorder=3)
            knee_drawn = True
    if knee_drawn:  # one legend entry for every strategy's knees, in no strategy's colour
        ax.scatter([], [], marker="v", s=36, color="white", edgecolor="black", linewidth=0.6,
                   label="knee of one fold (Kneedle), in its strategy's colour")
    ax.set_ylim(bottom=0)
    ax.set_title("(c) defects left in the pool", fontsize=10)
    ax.set_xlabel("images labeled")
    ax.set_ylabel("defective images not yet labeled")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=7.5)
    fig.suptitle(f"{dataset}: strategies compared (mean over runs: folds x seeds, band = ±1 std)", fontsize=11)
    fig.tight_layout()
    path = out / f"figure_{dataset}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def strategy_grid_figure(dataset: str, runs: list[RunData], out: Path) -> Path:
    """``figure_<dataset>_grid.png``: the paper's own layout of Figures 1–2, one column per strategy, (a) test
    AUROC and (b) defects left in the pool against images labeled, every run a thin line (folds x seeds) and
    their mean a thick one, each run's knee marked (▼) on (b) and its best-validation round (●) on (a), so
    "before or after the knee" reads off the figure. Full-pool reference: a dotted line on (a)."""
    active = [r for r in runs if r.kind == RUN_KIND_ACTIVE]
    reference = [r.curves[TEST_AUROC][-1][1] for r in runs if r.kind == RUN_KIND_FULL_POOL and r.curves.get(TEST_AUROC)]
    strategies = sorted({r.strategy for r in active}, key=lambda s: (s != "random", s))
    colours = strategy_colours(strategies)
    fig, axes = plt.subplots(2, len(strategies), figsize=(4.2 * len(strategies), 6.4), squeeze=False, sharex=True)
    lows, highs = [], []
    for col, strategy in enumerate(strategies):
        group = [r for r in active if r.strategy == strategy]
        top, bottom = axes[0][col], axes[1][col]
        for run in group:
            for ax, metric in ((top, TEST_AUROC), (bottom, DEFECTS_LEFT)):
                curve = run.curves.get(metric) or []
                if curve:
                    x, y = zip(*curve)
                    ax.plot(x, y, color=colours[strategy], lw=0.6, alpha=0.35)
            best = run.metrics.get(cutoff_metric("best", "n_labeled"))
            auroc = dict(run.curves.get(TEST_AUROC) or [])
            if best is not None and not math.isnan(best) and int(best) in auroc:
                top.scatter([best], [auroc[int(best)]], marker="o", s=14, color=colours[strategy],
                            edgecolor="black", linewidth=0.4, zorder=3)
            knee = _knees(run)
            if knee is not None:
                bottom.scatter([knee[0]], [knee[1]], marker="v", s=22, color=colours[strategy], edgecolor="black",
                               linewidth=0.4, zorder=3)
        for ax, metric in ((top, TEST_AUROC), (bottom, DEFECTS_LEFT)):
            x, m, _, _ = band(group, metric)
            if len(x):
                ax.plot(x, m, color="black", lw=1.4, label=f"mean of {len(group)} runs")
                if metric == TEST_AUROC:
                    values = [v for r in group for _, v in r.curves.get(metric, []) if not math.isnan(v)]
                    lows.append(float(np.percentile(values, 1)))
                    highs.append(float(np.max(values)))
        finite = [v for v in reference if not math.isnan(v)]
        if finite:
            top.axhline(float(np.mean(finite)), color="black", ls=":", lw=1.2, label="full-pool reference")
        top.set_title(f"{strategy}", fontsize=10)
        top.grid(alpha=0.3)
        bottom.grid(alpha=0.3)
        bottom.set_ylim(bottom=0)
        bottom.set_xlabel("images labeled")
        if col == 0:
            top.set_ylabel("(a) test AUROC")
            bottom.set_ylabel("(b) defects left in the pool")
            top.legend(loc="lower right", fontsize=7.5)
    for ax in axes[0]:
        _fit_auroc_axis(ax, lows, highs)
    fig.suptitle(f"{dataset}: every run (thin), their mean (black); ● best validation round, ▼ knee of the "
                 "defects-left curve", fontsize=10)
    fig.tight_layout()
    path = out / f"figure_{dataset}_grid.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def figures(runs: list[RunData], out: Path) -> list[Path]:
    paths = []
    for d in sorted({r.dataset for r in runs if r.kind == RUN_KIND_ACTIVE}):
        mine = [r for r in runs if r.dataset == d]
        paths += [dataset_figure(d, mine, out), strategy_grid_figure(d, mine, out)]
    return paths
