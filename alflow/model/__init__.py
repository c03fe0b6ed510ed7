"""The ResNet-18 defect classifier."""
from alflow.model.classifier import DefectClassifier, build_resnet18, normalize, recalibrate_batchnorm

__all__ = ["DefectClassifier", "build_resnet18", "normalize", "recalibrate_batchnorm"]
