"""The acquisition loop, the per-round scoring pass and training."""
from alflow.loop.acquisition import AcquisitionLoop, LoopSettings, RoundRecord, SelectionRow, auroc
from alflow.loop.oracle import SimulatedOracle
from alflow.loop.scoring import ScoringPass, score_images
from alflow.loop.training import TrainSettings, train_round

__all__ = ["AcquisitionLoop", "LoopSettings", "RoundRecord", "SelectionRow", "auroc", "SimulatedOracle",
           "ScoringPass", "score_images", "TrainSettings", "train_round"]
