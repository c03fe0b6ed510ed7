#!/usr/bin/env bash
# Launch an alflow sweep (Hydra multirun), then build the report (tables, figures) from the MLflow
# store the sweep used and print Table 1. Extra arguments are Hydra overrides, e.g.
#   ./multirun.sh                                   # the default: 3 strategies x folds 0,1 on synthetic data
#   ./multirun.sh experiment=paper                  # the paper's 3 strategies + full-pool reference x 10 folds
#   ./multirun.sh experiment=smoke tracking.uri=sqlite:///smoke.db
# Runs go to the store in tracking.uri (conf/tracking/mlflow.yaml); the sweep itself says which store
# it used (overrides, overlays and YAML included), and the report reads that one. The report goes to
# the sweep's own folder, multirun/DATE/TIME/report/, beside its jobs' outputs (ALFLOW_REPORT_DIR to
# choose another new folder, ALFLOW_NO_REPORT=1 to skip it): one sweep's report never overwrites another's.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${ALFLOW_PYTHON:-}"
if [[ -z "$python" ]]; then
  if [[ -x "$here/.venv/bin/python" ]]; then python="$here/.venv/bin/python"; else python="python3"; fi
fi
store_file="$(mktemp)"
trap 'rm -f "$store_file"' EXIT
ALFLOW_STORE_FILE="$store_file" "$python" -m alflow -m "$@"
if [[ "${ALFLOW_NO_REPORT:-0}" != "1" ]]; then
  { read -r uri; read -r experiment; read -r sweep_dir; } < "$store_file"
  "$python" -m alflow.report --tracking-uri "$uri" --experiment "$experiment" \
    --out "${ALFLOW_REPORT_DIR:-$sweep_dir/report}"
fi
