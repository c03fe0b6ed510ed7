"""Acquisition strategies: pure rankings of the pool, one file each, a small registry."""
from alflow.strategies.base import ModelOutputs, ScoredPool, Selection, Strategy
from alflow.strategies.gradcam_avg import GradCamAvg
from alflow.strategies.random import RandomSampling
from alflow.strategies.uncertainty import UncertaintySampling

REGISTRY: dict[str, type[Strategy]] = {cls.name: cls for cls in (RandomSampling, UncertaintySampling, GradCamAvg)}


def make_strategy(name: str, **options) -> Strategy:
    if name not in REGISTRY:
        raise ValueError(f"unknown strategy {name!r}; known: {sorted(REGISTRY)}")
    return REGISTRY[name](**options)


__all__ = ["ModelOutputs", "ScoredPool", "Selection", "Strategy", "GradCamAvg", "RandomSampling",
           "UncertaintySampling", "REGISTRY", "make_strategy"]
