"""The defect classifier: ResNet-18 or EfficientNet-Lite0, fine-tuned whole or as a head on frozen features."""
from alflow.model.classifier import (
    BACKBONES, TRAINABLE, DefectClassifier, build_net, build_resnet18, feature_maps, last_stage, normalize,
    recalibrate_batchnorm,
)

__all__ = ["BACKBONES", "TRAINABLE", "DefectClassifier", "build_net", "build_resnet18", "feature_maps", "last_stage",
           "normalize", "recalibrate_batchnorm"]
