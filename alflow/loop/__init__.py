"""The acquisition loop: one round as explicit steps, the model version that scores, training inside a round."""
from alflow.loop.acquisition import AcquisitionLoop, LoopSettings, RoundListener, fit
from alflow.loop.model_version import HeadVersion, ModelVersion, auroc, scoring_device
from alflow.loop.oracle import GroundTruthOracle, Oracle, SimulatedOracle
from alflow.loop.scoring import ScoringPass, score_images
from alflow.loop.seeds import SeedStreams
from alflow.loop.training import TrainSettings, train_round
from alflow.records import RoundRecord, SelectionRow

__all__ = ["AcquisitionLoop", "LoopSettings", "RoundListener", "fit", "HeadVersion", "ModelVersion", "auroc",
           "scoring_device",
           "GroundTruthOracle", "Oracle", "SimulatedOracle", "ScoringPass", "score_images", "SeedStreams",
           "TrainSettings", "train_round", "RoundRecord", "SelectionRow"]
