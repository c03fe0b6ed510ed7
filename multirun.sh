#!/usr/bin/env bash
# Launch an alflow sweep (Hydra multirun), then build the report (tables, figures) from its store
# and print Table 1. Extra arguments are Hydra overrides, e.g.
#   ./multirun.sh                                   # the default: 3 strategies x folds 0,1 on synthetic data
#   ./multirun.sh experiment=paper strategy=random,uncertainty,gradcam_avg,upper_bound fold.index=0,1,2,3,4,5,6,7,8,9
#   ./multirun.sh experiment=smoke tracking.uri=sqlite:///smoke.db
# Runs go to the MLflow store in tracking.uri (default: ./mlflow.db); the report to ./report/
# (ALFLOW_REPORT_DIR to change it, ALFLOW_NO_REPORT=1 to skip it).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${ALFLOW_PYTHON:-}"
if [[ -z "$python" ]]; then
  if [[ -x "$here/.venv/bin/python" ]]; then python="$here/.venv/bin/python"; else python="python3"; fi
fi
uri="sqlite:///mlflow.db"
experiment="alflow"
for arg in "$@"; do
  case "$arg" in
    tracking.uri=*) uri="${arg#tracking.uri=}" ;;
    tracking.experiment=*) experiment="${arg#tracking.experiment=}" ;;
  esac
done
"$python" -m alflow -m "$@"
if [[ "${ALFLOW_NO_REPORT:-0}" != "1" ]]; then
  "$python" -m alflow.report --tracking-uri "$uri" --experiment "$experiment" --out "${ALFLOW_REPORT_DIR:-report}"
fi
