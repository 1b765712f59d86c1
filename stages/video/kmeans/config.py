"""The k-means configuration and how big a training sample it needs.

Sizing rule (issue 14): faiss warns below `min_points_per_centroid` = 39 points per centroid
and subsamples a branch above `max_points_per_centroid` = 256 per centroid. A tree of k**depth
leaves whose leaf branches each meet the floor needs at least k**depth × 39 points if it were
perfectly balanced. Real branches are not: the default sample gives 48 points per leaf
(`sample_per_leaf`), 1.23× the floor as slack for uneven branches: 995,328 clips ≈ 1M for 12**4
(a 4 GB sample in 1024-d). More per leaf buys better-fitted leaves up to faiss's 256 (5.3M clips
for 12**4); beyond that faiss would throw the extra points away, so the sample is capped there.
The sample preset's world has a few hundred clips: it fits on all of them, below the floor
(`sample_plan` says so, and the tree records the points behind every node).
"""

import math
from dataclasses import dataclass
from typing import Literal

FAISS_MIN_POINTS_PER_CENTROID = 39  # faiss's ClusteringParameters default (its warning floor)
PRETRAIN_SPLITS = (None, "train")
"""Videos whose `split` (schemas.VIDEOS) is one of these are fitted on; every other split
("heldout" in the sample world, evaluation videos) is assigned to the tree, never fitted."""


@dataclass(frozen=True)
class KMeansConfig:
    k: int = 12
    """Children per node (the paper's k)."""
    depth: int = 4
    """Levels of the tree; the vocabulary has k**depth leaves."""
    niter: int = 20
    """Lloyd iterations per branch."""
    seed: int = 0
    """Seeds faiss in every branch and the training-sample priorities."""
    max_points_per_centroid: int = 256
    """faiss subsamples a branch to k × this many points (faiss's default)."""
    sample_per_leaf: int = 48
    """Training clips per leaf: the sample is k**depth × this (capped by the corpus and by
    `max_points_per_centroid`); 48 = faiss's floor of 39 plus slack for uneven branches."""
    sample_size: int | None = None
    """Clips in the training sample; None: k**depth × sample_per_leaf."""
    top_levels: int = 1
    """Levels fitted on one worker; each node at this level then roots a subtree fitted on
    its own worker. The top sample is k**top_levels × max_points_per_centroid clips (what
    faiss would use), so these levels match a one-worker fit of the whole sample."""
    init: Literal["k-means++", "random"] = "k-means++"
    """Seeding of each branch before faiss's Lloyd iterations: k-means++ or faiss's random rows."""
    too_few: Literal["fit", "shrink", "refuse"] = "fit"
    """When the sample gives a leaf branch fewer than 39 points per centroid: fit the tree
    anyway (the tree records the points per node), shrink the depth to the deepest tree that
    meets the floor, or refuse with an error."""
    device: Literal["cpu", "cuda"] = "cpu"
    """cuda: fit with faiss's GPU k-means when this faiss build has GPUs, else CPU (logged)."""
    processes: int = 1
    """Fitting processes sharing one machine (local `--workers`; Dataflow: one per vCPU unless
    one SDK process per VM, `pipelines.dataflow.model_callers`): each fit runs faiss and BLAS
    on the machine's CPUs ÷ this many threads (`stages.workers.worker_threads`), measured on
    the worker. Two processes of 2 threads each on 2 cores spin against each other."""

    def __post_init__(self):
        if self.k < 2 or self.depth < 1 or self.k**self.depth >= 2**31:
            raise ValueError(f"need k >= 2, depth >= 1, k**depth < 2**31: {self}")
        if not 1 <= self.top_levels <= self.depth or self.sample_per_leaf < 1:
            raise ValueError(f"need 1 <= top_levels <= depth, sample_per_leaf >= 1: {self}")
        if self.sample_size is not None and self.sample_size < 1:
            raise ValueError(f"sample_size must be >= 1: {self}")

    @property
    def vocab(self) -> int:
        return self.k**self.depth

    @property
    def wanted_sample(self) -> int:
        """The sample this configuration asks for, before the corpus caps it."""
        cap = self.vocab * self.max_points_per_centroid
        return min(self.sample_size or self.vocab * self.sample_per_leaf, cap)

    @property
    def top_sample(self) -> int:
        return self.k**self.top_levels * self.max_points_per_centroid


@dataclass(frozen=True)
class SamplePlan:
    """What a corpus of `available` pretraining clips allows under a configuration."""

    available: int
    size: int
    """Clips in the training sample."""
    top_size: int
    """The clips with the smallest priorities among them that fit the top levels."""
    depth: int
    """The depth that will be fitted (the configured one unless `too_few="shrink"`)."""
    words_at_floor: int
    """Leaves a sample this size can fit at 39 points per centroid (balanced tree)."""
    meets_floor: bool

    def describe(self, k: int) -> str:
        floor = FAISS_MIN_POINTS_PER_CENTROID
        verdict = (
            "meets faiss's floor of 39 points per centroid at every level (balanced branches)"
            if self.meets_floor
            else f"below faiss's floor of {floor} points per centroid: it fits about "
            f"{self.words_at_floor:,} words at the floor, not {k**self.depth:,}"
        )
        per_leaf = self.size / k**self.depth
        return (f"k-means sample: {self.size:,} of {self.available:,} pretraining clips for "
                f"k={k} depth={self.depth} ({per_leaf:.1f} per leaf): {verdict}")  # fmt: skip


def sample_plan(cfg: KMeansConfig, available: int) -> SamplePlan:
    """The sample size and depth for `available` pretraining clips; raises ValueError when
    there are none, or too few and `cfg.too_few == "refuse"`."""
    if available < 1:
        raise ValueError("no features found to fit k-means on: no usable pretraining clips")
    size = min(available, cfg.wanted_sample)
    floor = FAISS_MIN_POINTS_PER_CENTROID
    words = size // floor
    depth = cfg.depth
    if size < cfg.vocab * floor:
        if cfg.too_few == "refuse":
            raise ValueError(
                f"k-means: {size:,} pretraining clips fit about {words:,} words at {floor} "
                f"points per centroid, not k**depth = {cfg.vocab:,}: add videos, lower "
                "--kmeans_k/--kmeans_depth, or pass --kmeans_too_few=fit|shrink"
            )
        if cfg.too_few == "shrink":
            depth = max(1, int(math.log(max(words, 1), cfg.k) + 1e-9))
    meets = size >= cfg.k**depth * floor
    top = min(size, cfg.top_sample)
    return SamplePlan(available, size, top, depth, words, meets)
