#!/usr/bin/env bash
# Launch an alflow sweep (Hydra multirun). Extra arguments are Hydra overrides, e.g.
#   ./multirun.sh                                   # the default: 3 strategies x folds 0,1 on synthetic data
#   ./multirun.sh strategy=random,gradcam_avg fold.index=0,1,2,3,4,5,6,7,8,9
#   ./multirun.sh experiment=smoke tracking.uri=sqlite:///smoke.db
# Runs go to the MLflow store in tracking.uri (default: ./mlflow.db); the last lines say how to open the UI.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${ALFLOW_PYTHON:-}"
if [[ -z "$python" ]]; then
  if [[ -x "$here/.venv/bin/python" ]]; then python="$here/.venv/bin/python"; else python="python3"; fi
fi
exec "$python" -m alflow -m "$@"
