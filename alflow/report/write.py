"""Tables to CSV (tidy, full precision) and Markdown (the paper's layout: strategies as columns)."""
from __future__ import annotations

import csv
import math
from pathlib import Path

from alflow.report.tables import SHARE_MEASURES, Row

PIVOTS = {"table1": "learning", "table2": "cutoff", "table3": "cutoff"}  # row key besides dataset

# What each table shows and in which unit: the caption above its Markdown (the CSV keeps bare columns).
CAPTIONS = {
    "table1": "Table 1. Test AUROC (0.5 = chance, 1 = perfect), mean ± std [95 % interval] over runs (folds x "
              "seeds): incremental learning at the round of best validation AUROC, batch learning (a fresh model "
              "on the images labeled up to that round), and the full-pool reference.",
    "table2": "Table 2. Images labeled (count) at each cut-off, mean ± std [95 % interval] over runs (folds x seeds): "
              "best validation AUROC overall, the knee of the defects-left curve, best validation AUROC up to the "
              "knee.",
    "table3": "Table 3. Test AUROC (0.5 = chance) at each cut-off of Table 2, mean ± std [95 % interval] over runs "
              "(folds x seeds).",
    "stopping": "Where each online stopping criterion would have stopped, mean ± std over runs (folds x seeds): "
                "the runs in which it fired (a criterion that never fires is read as labeling the whole run), "
                "labels spent (count, with verification samples) and saved against labeling the whole pool, "
                "defect recall at the stop (defects found / defects in the pool, 0–1), the runs whose recall "
                "reached the target (k/n [Wilson 95 % interval]), test AUROC lost against the best round. "
                "(p ...): paired t test against the same criterion on random. stopping.csv has every measure "
                "with its 95 % interval and the Wilcoxon test.",
    "strategies": "Per strategy, mean ± std over runs (folds x seeds): area under the test-AUROC learning curve "
                  "(0–1), labels needed to reach 95 % of the full-pool reference's test AUROC, defects found once "
                  "10 % and 25 % of the pool is labeled. (p ...): paired t test against random over the same folds "
                  "and seeds. strategies.csv has the 95 % intervals and the Wilcoxon test.",
    "table1_paired": "Table 1 against random, paired over the same folds and seeds: the mean difference in test "
                     "AUROC (strategy - random; negative: random leads), the pairs, the paired t test's and "
                     "Wilcoxon's p.",
    "knee": "Do the best models come before or after the knee of the defects-left curve? Per strategy over the "
            "runs with a knee: the runs whose best-validation round labeled fewer images than the knee (k/n "
            "[Wilson 95 % interval]), images labeled at the best round minus at the knee, test AUROC at the best "
            "round minus at the knee and minus the best round up to the knee; mean ± std (p: paired t test "
            "against random).",
    "stop_at_recall": "Which stopping rule reaches the defect-recall target in every run with the fewest labels? "
                      "Per strategy: the first round whose defect recall reached the target (the oracle's stop: no "
                      "rule that stops at a round can spend fewer labels), the rule that reached the target in every "
                      "run with the fewest labels spent (every compared criterion replayed on every run; none: no "
                      "rule did), its labels spent and saved against labeling the whole pool (mean ± std over runs), "
                      "its labels beyond the oracle's, and the runs [Wilson 95 % interval].",
    "compare": "Area under the test-AUROC learning curve (mean test AUROC over the labeling run, 0–1) per "
               "strategy, mean ± std over runs (folds x seeds), and a Wilcoxon signed-rank test against random "
               "(paired by fold and seed; p-value).",
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


def _mean_std(row: Row, digits: int, interval: bool = True) -> str:
    if row["n"] == 0:
        return "–"
    if row["n"] == 1:
        return f"{_fmt(row['mean'], digits)} ± n/a"
    cell = f"{_fmt(row['mean'], digits)} ± {_fmt(row['std'], digits)}"
    if interval and "ci95_low" in row:  # the 95 % interval over folds x seeds (alflow.report.stats)
        cell += f" [{_fmt(row['ci95_low'], digits)}, {_fmt(row['ci95_high'], digits)}]"
    return cell


# The tables with one row per measure (tidy CSV) read better wide: one row per group, a column per measure.
# Each entry: the columns naming a group, then (measure, heading) pairs in reading order.
WIDE = {
    "stopping": (("dataset", "strategy", "criterion"),
                 (("share_of_runs_stopped", "fired"), ("labels_spent", "labels spent"),
                  ("labels_saved", "labels saved"), ("defect_recall", "defect recall at the stop"),
                  ("reliability", "runs reaching the recall target"), ("auroc_loss_vs_best", "test AUROC lost"))),
    "knee": (("dataset", "strategy"),
             (("best_before_knee", "best round before the knee"), ("labels_best_minus_knee", "labels: best - knee"),
              ("auroc_best_minus_knee", "test AUROC: best - knee"),
              ("auroc_best_minus_best_until_knee", "test AUROC: best - best until knee"))),
    "strategies": (("dataset", "strategy"),
                   (("aulc", "area under the curve"),
                    ("labels_to_95pct_full_pool_auroc", "labels to 95 % of full pool"),
                    ("defects_found_at_10pct", "defects found at 10 %"),
                    ("defects_found_at_25pct", "defects found at 25 %"))),
}


WHOLE_LABELS = frozenset({"labels_spent", "labels_saved", "n_labeled", "labels_best_minus_knee"})


def _wide_cell(row: Row, measure: str) -> str:
    if row["n"] == 0:
        return "–"
    if measure in SHARE_MEASURES:  # counted runs: "k/n [Wilson interval]"
        k = round(row["mean"] * row["n"])
        return f"{k}/{row['n']} [{_fmt(row['ci95_low'], 2)}, {_fmt(row['ci95_high'], 2)}]"
    # counts of labels and defects: whole numbers (labels always, so "0 ± 0" saved reads as a count)
    digits = 0 if abs(row["mean"]) >= 10 or measure in WHOLE_LABELS else 3
    cell = _mean_std(row, digits, interval=False)  # the intervals stay in the CSV: the wide table is read
    p = row.get("paired_t_p", math.nan)
    if isinstance(p, float) and not math.isnan(p):  # the paired t test against random over folds x seeds
        cell += f" (p {p:.2g})"
    return cell


def _to_wide_markdown(name: str, rows: list[Row]) -> str:
    keys, measures = WIDE[name]
    cells = {tuple(r[k] for k in keys) + (r["measure"],): r for r in rows}
    groups = list(dict.fromkeys(tuple(r[k] for k in keys) for r in rows))
    lines = ["| " + " | ".join(keys + tuple(h for _, h in measures)) + " |", "|" + "---|" * (len(keys) + len(measures))]
    for group in groups:
        values = [_wide_cell(cells[group + (m,)], m) if group + (m,) in cells else "" for m, _ in measures]
        lines.append("| " + " | ".join([str(g) for g in group] + values) + " |")
    return "\n".join(lines) + "\n"


def _count(mean: object, std: object) -> str:
    if not isinstance(mean, float) or math.isnan(mean):
        return "–"
    return f"{mean:.0f}" + ("" if not isinstance(std, float) or math.isnan(std) else f" ± {std:.0f}")


def _stop_at_recall_markdown(rows: list[Row]) -> str:
    target = f"{rows[0]['recall_target']:.0%}"
    lines = [f"| dataset | strategy | runs | labels to {target} recall (oracle) | oracle's labels saved "
             f"| rule reaching {target} in every run with fewest labels | its labels spent | its labels saved "
             "| beyond the oracle | runs [Wilson 95 %] | rules reliable in every run (saving labels) |",
             "|" + "---|" * 11]
    for r in rows:
        runs = (f"{r['runs']}/{r['runs']} [{_fmt(r['rule_runs_low'], 2)}, {_fmt(r['rule_runs_high'], 2)}]"
                if r["rule"] != "none" else "–")
        cells = [r["dataset"], r["strategy"], r["runs"], _count(r["oracle_labels_mean"], r["oracle_labels_std"]),
                 _count(r["oracle_labels_saved"], None), r["rule"],
                 _count(r["rule_labels_spent_mean"], r["rule_labels_spent_std"]),
                 _count(r["rule_labels_saved_mean"], None), _count(r["rule_extra_vs_oracle"], None), runs,
                 f"{r['reliable_rules']} ({r.get('reliable_rules_saving', r['reliable_rules'])})"]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _paired_markdown(rows: list[Row]) -> str:
    lines = ["| dataset | learning | strategy | test AUROC - random | pairs | paired t p | Wilcoxon p |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        diff = r["mean_diff"]
        lines.append(f"| {r['dataset']} | {r['learning']} | {r['strategy']} | "
                     + ("–" if math.isnan(diff) else f"{diff:+.4f}")
                     + f" | {r['n_pairs']} | {_fmt(r['paired_t_p'], 3)} | {_fmt(r['wilcoxon_p'], 3)} |")
    return "\n".join(lines) + "\n"


def to_markdown(name: str, rows: list[Row]) -> str:
    if not rows:
        return "_no runs_\n"
    if name == "stop_at_recall":
        return _stop_at_recall_markdown(rows)
    if name == "table1_paired":
        return _paired_markdown(rows)
    if name in WIDE:
        return _to_wide_markdown(name, rows)
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
