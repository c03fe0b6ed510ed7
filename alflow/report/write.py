"""Tables to CSV (tidy, full precision) and Markdown (the paper's layout: strategies as columns)."""
from __future__ import annotations

import csv
import math
from pathlib import Path

from alflow.report.tables import Row

PIVOTS = {"table1": "learning", "table2": "cutoff", "table3": "cutoff"}  # row key besides dataset

# What each table shows and in which unit: the caption above its Markdown (the CSV keeps bare columns).
CAPTIONS = {
    "table1": "Table 1. Test AUROC (0.5 = chance, 1 = perfect), mean ± std over folds: incremental learning at "
              "the round of best validation AUROC, batch learning (a fresh model on the images labeled up to that "
              "round), and the full-pool reference.",
    "table2": "Table 2. Images labeled (count) at each cut-off, mean ± std over folds: best validation AUROC "
              "overall, the knee of the defects-left curve, best validation AUROC up to the knee.",
    "table3": "Table 3. Test AUROC (0.5 = chance) at each cut-off of Table 2, mean ± std over folds.",
    "stopping": "Where each online stopping criterion would have stopped: images labeled (count), share of the "
                "pool not labeled (0–1), test AUROC there and its loss against the best round (AUROC points), "
                "share of runs in which it fired (0–1); mean and std over runs.",
    "compare": "Area under the test-AUROC learning curve (mean test AUROC over the labeling run, 0–1) per "
               "strategy, mean ± std over folds, and a Wilcoxon signed-rank test against random (paired by fold "
               "and seed; p-value).",
}


def caption(name: str) -> str:
    """The table's caption (what it shows, its units), or "" for a table without one."""
    return CAPTIONS.get(name, "")


def write_csv(rows: list[Row], path: Path) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def _fmt(value: object, digits: int) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def _mean_std(row: Row, digits: int) -> str:
    if row["n"] == 0:
        return "–"
    if row["n"] == 1:
        return f"{_fmt(row['mean'], digits)} ± n/a"
    cell = f"{_fmt(row['mean'], digits)} ± {_fmt(row['std'], digits)}"
    if "ci95_low" in row:  # the 95 % interval over folds x seeds (alflow.report.stats)
        cell += f" [{_fmt(row['ci95_low'], digits)}, {_fmt(row['ci95_high'], digits)}]"
    return cell


def to_markdown(name: str, rows: list[Row]) -> str:
    if not rows:
        return "_no runs_\n"
    if name in PIVOTS:
        digits = 0 if name == "table2" else 4
        key = PIVOTS[name]
        strategies = list(dict.fromkeys(str(r["strategy"]) for r in rows))
        cells = {(r["dataset"], r[key], r["strategy"]): _mean_std(r, digits) for r in rows}
        lines = [f"| dataset | {key} | " + " | ".join(strategies) + " |",
                 "|---|---|" + "---|" * len(strategies)]
        for dataset, group in dict.fromkeys((r["dataset"], r[key]) for r in rows):
            lines.append(f"| {dataset} | {group} | "
                         + " | ".join(cells.get((dataset, group, s), "") for s in strategies) + " |")
        return "\n".join(lines) + "\n"
    columns = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(r.get(c, ""), 4) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_table(name: str, rows: list[Row], out: Path) -> list[Path]:
    csv_path, md_path = out / f"{name}.csv", out / f"{name}.md"
    write_csv(rows, csv_path)
    text = caption(name)
    md_path.write_text((f"**{text}**\n\n" if text else "") + to_markdown(name, rows))
    return [csv_path, md_path]
