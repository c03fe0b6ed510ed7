"""After a run: the paper's cut-offs, where each stopping criterion would have stopped, batch learning."""
from alflow.analysis.batch import BatchResult, retrain_batch
from alflow.analysis.stopping import cutoff_metrics, pool_metrics, stop_metrics
from alflow.analysis.summary import health_tag, run_summary

__all__ = ["BatchResult", "retrain_batch", "cutoff_metrics", "pool_metrics", "stop_metrics", "health_tag",
           "run_summary"]
