"""Stopping criteria."""
from alflow.stopping.criteria import BudgetStopping, NoStopping

__all__ = ["BudgetStopping", "NoStopping"]
