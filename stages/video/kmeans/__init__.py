"""Hierarchical k-means visual vocabulary: config.py (sizing), sample.py (which clips),
fit.py (pure faiss), transform.py (the Beam stage). Re-exported for callers."""

from schemas.tree import CentroidTree
from stages.video.kmeans.config import PRETRAIN_SPLITS, KMeansConfig, SamplePlan, sample_plan
from stages.video.kmeans.fit import fit_levels, fit_tree, fit_two_phase, merge_tree, use_gpu
from stages.video.kmeans.sample import SmallestPrioritiesFn, sample_priority
from stages.video.kmeans.transform import (
    FeatureFiles,
    FitHierarchicalKMeans,
    FitOrLoadKMeans,
    load_tree,
)

__all__ = [
    "PRETRAIN_SPLITS", "CentroidTree", "FeatureFiles", "FitHierarchicalKMeans", "FitOrLoadKMeans",
    "KMeansConfig", "SamplePlan", "SmallestPrioritiesFn", "fit_levels", "fit_tree", "fit_two_phase",
    "load_tree",
    "merge_tree", "sample_plan", "sample_priority", "use_gpu",
]  # fmt: skip
