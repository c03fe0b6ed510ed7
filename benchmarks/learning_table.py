"""The learner tables of docs/results.md ("The learner on elpv"): test AUROC at shares of the pool, mean ± std
over folds.

Reads finished runs from an MLflow store, one experiment per variant (backbone x schedule), e.g.

    python -m alflow -m dataset=elpv fold.index=0,1,2 tracking.experiment=elpv-none-default ...
    python benchmarks/learning_table.py --tracking-uri sqlite:///elpv.db \
        --experiments elpv-none-default elpv-none-paper

For each experiment and strategy: test AUROC at the first round with at least 5, 10, 25, 50 and
100 % of the pool labeled (blank when no run got there), the area under the test-AUROC curve
over the labeled range every run of the group covers (trapezoids, divided by its width;
``--area-up-to`` ends it earlier), the full-pool reference (runs whose single round labeled the
whole pool), seconds per round, the head learner's one-time feature pass (seconds, the runs'
``feature_pass_seconds`` tag), and for ``model.pretrained=ssl`` the pretraining's minutes per
fold (the runs' ``ssl_minutes`` tag). ``--group-param model.head.c`` splits an experiment's rows by
a parameter's value (a sweep over it logged to one experiment).
Nothing here needs torch.
"""
from __future__ import annotations

import argparse
import math
import statistics
from collections import defaultdict

from mlflow.tracking import MlflowClient

from alflow.records import TAG_FEATURE_SECONDS, TAG_FOLD, TAG_SSL_MINUTES
from alflow.report.tables import area_under_curve

FRACTIONS = (0.05, 0.10, 0.25, 0.50, 1.00)


def _fmt(values: list[float]) -> str:
    v = [x for x in values if not math.isnan(x)]
    if not v:
        return "–"
    if len(v) == 1:
        return f"{v[0]:.3f} (n=1)"
    return f"{statistics.mean(v):.3f} ± {statistics.stdev(v):.3f}"


def _at(curve: list[tuple[int, float]], n: float) -> float:
    return next((value for step, value in curve if step >= n), float("nan"))


def rows(client: MlflowClient, experiment: str, area_up_to: int | None = None,
         group_param: str | None = None) -> list[list[str]]:
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise SystemExit(f"--experiments: no experiment {experiment!r} at {client.tracking_uri}")
    runs = client.search_runs([exp.experiment_id], "attributes.status = 'FINISHED'", max_results=10_000)
    groups: dict[str, list] = defaultdict(list)
    reference: dict[str, list[float]] = defaultdict(list)
    feature_seconds: list[float] = []
    ssl_minutes: dict[str, float] = {}  # fold -> minutes: one pretraining serves every job of a fold
    for run in runs:
        tags = run.data.tags
        if "strategy" not in tags:
            continue
        if TAG_SSL_MINUTES in tags:
            ssl_minutes[tags[TAG_FOLD]] = float(tags[TAG_SSL_MINUTES])
        if TAG_FEATURE_SECONDS in tags:
            feature_seconds.append(float(tags[TAG_FEATURE_SECONDS]))
        variant = f"{group_param}={run.data.params.get(group_param)}" if group_param else ""
        pool = int(tags.get("pool_size", "0") or 0)
        curve = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, "test/auroc"))
        seconds = [m.value for m in client.get_metric_history(run.info.run_id, "round_seconds")]
        if len(curve) == 1 and curve[0][0] >= pool:
            reference[variant].append(curve[0][1])
            continue
        groups[(variant, tags["strategy"])].append((pool, curve, seconds))
    out = []
    for (variant, strategy), group in sorted(groups.items()):
        cells = [_fmt([_at(c, f * p) for p, c, _ in group]) for f in FRACTIONS]
        lo = max(c[0][0] for _, c, _ in group if c)
        hi = min([c[-1][0] for _, c, _ in group if c] + ([area_up_to] if area_up_to else []))
        # the report's own area (trapezoids / width), over the range every run of the group covers
        area = _fmt([area_under_curve([(x, v) for x, v in c if lo <= x <= hi]) for _, c, _ in group])
        per_round = statistics.mean(s for _, _, secs in group for s in secs) if group else float("nan")
        out.append([f"{experiment} {variant}".strip(), strategy, str(len(group)), *cells, f"{area} ({lo}–{hi})",
                    _fmt(reference[variant]), f"{per_round:.2g}", _fmt(feature_seconds),
                    _fmt(list(ssl_minutes.values()))])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--experiments", nargs="+", required=True)
    parser.add_argument("--area-up-to", type=int, default=None, metavar="LABELS",
                        help="end the area under the curve here, so rows that ran to different ends compare")
    parser.add_argument("--group-param", default=None, metavar="KEY",
                        help="one row per value of this logged parameter (e.g. model.head.c)")
    args = parser.parse_args()
    client = MlflowClient(args.tracking_uri)
    header = ["variant", "strategy", "folds", *[f"{int(f * 100)} %" for f in FRACTIONS],
              "area under curve (labels)", "full-pool reference", "s / round", "feature pass (s)",
              "SSL pretraining (min)"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for experiment in args.experiments:
        for row in rows(client, experiment, args.area_up_to, args.group_param):
            print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
