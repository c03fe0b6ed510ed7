"""Reports from the MLflow store: the paper's Tables 1–3, stopping, comparisons, Figures 1–2."""
