"""Datasets, fold roles and the pool state."""
from alflow.data.dataset import InspectionDataset, build_synthetic
from alflow.data.folds import FoldSplit, fold_split, stratified_fold_ids
from alflow.data.kfold import KFold
from alflow.data.pool import Pool

__all__ = ["InspectionDataset", "build_synthetic", "FoldSplit", "fold_split", "stratified_fold_ids", "KFold", "Pool"]
