"""Tables to CSV (tidy, full precision) and Markdown (the paper's layout: strategies as columns)."""
from __future__ import annotations

import csv
import math
from pathlib import Path

from alflow.report.tables import Row

PIVOTS = {"table1": "learning", "table2": "cutoff", "table3": "cutoff"}  # row key besides dataset


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
    md_path.write_text(to_markdown(name, rows))
    return [csv_path, md_path]
