"""Datasets, fold roles and the pool state."""
from alflow.data.dataset import InspectionDataset, build_synthetic
from alflow.data.decode import BadImageError, decode_image
from alflow.data.folder import build_folder
from alflow.data.folds import FoldSplit, fold_split, stratified_fold_ids
from alflow.data.kfold import KFold
from alflow.data.ksdd import build_ksdd
from alflow.data.ksdd2 import build_ksdd2
from alflow.data.elpv import build_elpv
from alflow.data.pool import Pool

__all__ = ["InspectionDataset", "build_synthetic", "build_ksdd2", "build_ksdd", "build_folder", "build_elpv",
           "BadImageError", "decode_image", "FoldSplit", "fold_split", "stratified_fold_ids", "KFold", "Pool"]
