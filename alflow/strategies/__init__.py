"""Acquisition strategies: one file each, a small registry.

Scoring strategies rank the pool (``priority``; ``strategy.sampling`` may draw the batch in
proportion instead); batch strategies choose a set (``select``). See ``alflow.strategies.base``.
"""
from alflow.strategies.badge import Badge
from alflow.strategies.bald import BaldSampling
from alflow.strategies.base import McDropout, ModelOutputs, ScoredPool, Selection, Strategy
from alflow.strategies.coreset import CoreSet
from alflow.strategies.entropy import EntropySampling
from alflow.strategies.gradcam_avg import GradCamAvg
from alflow.strategies.gradcam_uncertainty import GradCamUncertainty
from alflow.strategies.margin import MarginSampling
from alflow.strategies.random import RandomSampling
from alflow.strategies.sampling import BatchSampling
from alflow.strategies.typiclust import TypiClust
from alflow.strategies.uncertainty import UncertaintySampling

REGISTRY: dict[str, type[Strategy]] = {cls.name: cls for cls in (
    RandomSampling, UncertaintySampling, GradCamAvg, MarginSampling, EntropySampling, BaldSampling, CoreSet, Badge,
    TypiClust, GradCamUncertainty)}


def make_strategy(name: str, **settings) -> Strategy:
    """The strategy ``name`` built with ``settings`` (every one of its settings: their defaults live in
    ``conf/strategy/NAME.yaml``). ValueError for an unknown name."""
    if name not in REGISTRY:
        raise ValueError(f"unknown strategy {name!r}; known: {sorted(REGISTRY)}")
    return REGISTRY[name](**settings)


__all__ = ["ModelOutputs", "ScoredPool", "Selection", "Strategy", "McDropout", "BatchSampling", "GradCamAvg",
           "RandomSampling", "UncertaintySampling", "MarginSampling", "EntropySampling", "BaldSampling", "CoreSet",
           "Badge", "TypiClust", "GradCamUncertainty", "REGISTRY", "make_strategy"]
