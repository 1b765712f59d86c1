"""kmeans: clip features → a hierarchical k-means tree of k**depth visual words (12**4 = 20,736).

Input element: one per video, `(video_id, {"clip_index": int32 (n,), "feature": float32 (n, D)})`.
Output: one `CentroidTree` (persisted with `to_table()` as `schemas.CENTROIDS`); a clip's visual
token is its leaf id, `tree.assign(features)`. An input without features raises ValueError.

Why one worker fits the whole tree: it trains on a bounded sample (the `sample_size` clips with
the smallest `sample_priority`, kept by a `CombineFn` whose accumulator holds ≤ 2 × sample_size
rows): ≤ 200k × 1024 × 4 B = 800 MB, on which faiss uses all the worker's cores (~5 s on 2 cores).
Fitting branches on many workers would shuffle every vector once per level at ~194 µs each in
Beam (PERFORMANCE.md): ~39 s per level for 200k points, more than the whole fit. The sample
crosses one shuffle (no CombineGlobally default, which would add a side-input copy); on
FnApiRunner moving that one 800 MB accumulator still costs ~18 s (benchmarks/bench_kmeans.py).

Documented choices:
- `max_points_per_centroid=256` (faiss's default): faiss subsamples each branch to ≤ k × 256
  points; training on all of them takes 2–3× longer.
- `init="k-means++"`: seeds drawn from ≤ k × 256 rows of the branch, then faiss's Lloyd
  iterations. faiss's own random init (`init="random"`) often merges well-separated clusters
  (3 blobs recovered in 13 of 30 seeded trials, against 30 of 30); it saves ~0.7 s of ~4.7 s.
- A node exists iff at least one training point reached it. Empty clusters that faiss returns
  are dropped, and a branch with ≤ k points skips faiss (which needs n ≥ k): each distinct point
  becomes a child, duplicates merged. So every existing non-leaf node has ≥ 1 child, descent never
  reaches a missing node, and leaf ids lie in [0, k**depth) with gaps where leaves are missing
  (`leaf_centroids()` returns zeros and a mask for those). Duplicate points are fine for faiss.
- `counts` are faiss's assignment of the training rows; `assign` (numpy, k distances per level)
  agrees with it up to exact floating-point ties.
- Determinism: one seed for every branch and the sample sorted by priority, so the same input
  gives identical centroids on the same machine and thread count (faiss/BLAS sums depend on both).
"""

import hashlib
import logging
import time
from dataclasses import asdict, dataclass
from typing import Literal

import apache_beam as beam
import faiss
import numpy as np
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import TestOptions

from schemas import USABLE
from schemas.tree import CentroidTree, branches
from stages.store.files import (
    fingerprint,
    read_fingerprint,
    read_table,
    with_fingerprint,
    write_table,
)
from stages.store.stage import StageStore

log = logging.getLogger(__name__)

_U64_MAX = np.iinfo(np.uint64).max


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
    sample_size: int = 200_000
    """Clips in the training sample: bounds the fitting worker's memory (200k × 1024-d = 800 MB)."""
    init: Literal["k-means++", "random"] = "k-means++"
    """Seeding of each branch before faiss's Lloyd iterations: k-means++ or faiss's random rows."""

    def __post_init__(self):
        if self.k < 2 or self.depth < 1 or self.k**self.depth >= 2**31 or self.sample_size < 1:
            raise ValueError(f"need k >= 2, depth >= 1, k**depth < 2**31, sample_size >= 1: {self}")


def _kmeans_pp(xb: np.ndarray, cfg: KMeansConfig) -> np.ndarray:
    """k-means++ seeds (k, D), drawn from at most k × max_points_per_centroid of the rows."""
    rng, cap = np.random.default_rng(cfg.seed), cfg.k * cfg.max_points_per_centroid
    pts = xb[np.sort(rng.choice(len(xb), cap, replace=False))] if len(xb) > cap else xb
    chosen, d2 = [int(rng.integers(len(pts)))], np.full(len(pts), np.inf)
    dist = np.empty(len(pts), np.float32)
    for _ in range(cfg.k - 1):  # faiss's serial SIMD kernel: numpy BLAS threads fight OpenMP's
        ptrs = (faiss.swig_ptr(a) for a in (dist, pts[chosen[-1]], pts))
        faiss.fvec_L2sqr_ny(*ptrs, pts.shape[1], len(pts))
        cum = np.cumsum(np.minimum(d2, dist, out=d2))
        if cum[-1] > 0:  # draw ∝ squared distance to the nearest seed
            chosen.append(int(np.searchsorted(cum, rng.random() * cum[-1], side="right")))
        else:  # every row duplicates a seed: faiss splits the copies
            chosen.append(int(rng.integers(len(pts))))
    return pts[chosen]


def _fit_branch(xb: np.ndarray, cfg: KMeansConfig) -> tuple[np.ndarray, np.ndarray]:
    """Child centroids (m ≤ k, D) of one branch and each row's child; ≤ k rows: distinct rows."""
    if len(xb) <= cfg.k:  # first occurrences of the distinct rows (np.unique(axis=0) is slow)
        same = (xb[:, None] == xb[None]).all(axis=2).argmax(axis=1)
        first, label = np.unique(same, return_inverse=True)
        return xb[first], label
    kmeans = faiss.Kmeans(
        xb.shape[1],
        cfg.k,
        niter=cfg.niter,
        seed=cfg.seed,
        max_points_per_centroid=cfg.max_points_per_centroid,
        min_points_per_centroid=1,  # small branches are expected here: no faiss warning
    )
    kmeans.train(xb, init_centroids=_kmeans_pp(xb, cfg) if cfg.init == "k-means++" else None)
    return kmeans.centroids, kmeans.index.search(xb, 1)[1][:, 0]


def fit_tree(x: np.ndarray, cfg: KMeansConfig = KMeansConfig()) -> CentroidTree:
    """Fit the tree on x (N, D) level by level, each branch on the points its parent got."""
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"no features found to fit k-means on (got shape {x.shape})")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or inf")
    k, (n, dim) = cfg.k, x.shape
    node = np.zeros(n, np.int64)
    centroids, counts = [], []
    for level in range(1, cfg.depth + 1):
        t0, fitted_branches = time.perf_counter(), 0
        cent, child = np.zeros((k**level, dim), np.float32), np.empty_like(node)
        for parent, idx, xb in branches(x, node):
            fitted, label = _fit_branch(xb, cfg)
            cent[parent * k : parent * k + len(fitted)] = fitted
            child[idx] = parent * k + label
            fitted_branches += 1
        node, count = child, np.bincount(child, minlength=k**level)
        cent[count == 0] = 0  # empty clusters are dropped: the node does not exist
        centroids.append(cent)
        counts.append(count)
        seconds, nodes = time.perf_counter() - t0, np.count_nonzero(count)
        log.info("k-means level %d/%d: %d branches fitted on %d points → %d nodes, %.1f s",
                 level, cfg.depth, fitted_branches, n, nodes, seconds)  # fmt: skip
    return CentroidTree(k, tuple(centroids), tuple(counts), cfg.seed, cfg.niter, n)


def _splitmix64(z: np.ndarray) -> np.ndarray:
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def sample_priority(video_ids, clip_indices, seed: int = 0) -> np.ndarray:
    """uint64 priority per clip, stable across processes: keyed blake2b of the video id, mixed
    with the clip index by splitmix64. `video_ids` is one id or one per clip."""
    clips = np.asarray(clip_indices, np.int64).astype(np.uint64)
    ids, inverse = np.unique(
        np.broadcast_to(np.asarray(video_ids, object), clips.shape), return_inverse=True
    )
    key = seed.to_bytes(8, "little", signed=True)
    digests = [hashlib.blake2b(v.encode(), digest_size=8, key=key).digest() for v in ids]
    per_video = np.array([int.from_bytes(d, "little") for d in digests], np.uint64)
    return _splitmix64(per_video[inverse.reshape(clips.shape)] ^ clips)


class _Sample:
    """Accumulator: (priority, feature) chunks; compacted once they exceed 2 × sample_size rows."""

    def __init__(self):
        self.chunks: list[tuple[np.ndarray, np.ndarray]] = []
        self.rows = self.seen = 0
        self.cutoff = _U64_MAX  # rows above it can never enter the sample


class SampleClipsFn(beam.CombineFn):
    """Per-video elements → features (m, D) float32 of the `sample_size` clips with the smallest
    priorities, sorted by priority: the same whatever the bundling or element order (a tie needs
    a repeated (video, clip) key)."""

    def __init__(self, sample_size: int, seed: int = 0):
        self._size, self._seed = sample_size, seed

    def create_accumulator(self) -> _Sample:
        return _Sample()

    def add_input(self, acc: _Sample, element) -> _Sample:
        video_id, clips = element
        priority = sample_priority(video_id, clips["clip_index"], self._seed)
        if not len(priority):
            return acc
        keep = priority <= acc.cutoff
        acc.chunks.append((priority[keep], np.asarray(clips["feature"], np.float32)[keep]))
        acc.rows, acc.seen = acc.rows + int(keep.sum()), acc.seen + len(priority)
        return self.compact(acc) if acc.rows > 2 * self._size else acc

    def merge_accumulators(self, accumulators) -> _Sample:
        merged = _Sample()
        for acc in accumulators:
            merged.chunks += acc.chunks
            merged.rows, merged.seen = merged.rows + acc.rows, merged.seen + acc.seen
            merged.cutoff = min(merged.cutoff, acc.cutoff)
        return self.compact(merged) if merged.rows > 2 * self._size else merged

    def compact(self, acc: _Sample) -> _Sample:
        if len(acc.chunks) <= 1 and acc.rows <= self._size:
            return acc
        priority = np.concatenate([p for p, _ in acc.chunks])
        feature = np.concatenate([f for _, f in acc.chunks])
        if len(priority) > self._size:
            keep = np.argpartition(priority, self._size - 1)[: self._size]
            priority, feature = priority[keep], feature[keep]
            acc.cutoff = priority.max()
        acc.chunks, acc.rows = [(priority, feature)], len(priority)
        return acc

    def extract_output(self, acc: _Sample) -> np.ndarray:
        acc = self.compact(acc)
        if not acc.chunks:
            return np.empty((0, 0), np.float32)
        priority, feature = acc.chunks[0]
        log.info("k-means training sample: %d of %d clips", len(priority), acc.seen)
        return feature[np.argsort(priority, kind="stable")]


def _require_videos(n_videos: int) -> None:
    if n_videos == 0:
        raise ValueError("no features found to fit k-means on: the input has no videos")


class FitHierarchicalKMeans(beam.PTransform):
    """Per-video feature elements → a PCollection of one `CentroidTree`."""

    def __init__(self, cfg: KMeansConfig = KMeansConfig()):
        super().__init__()
        self.cfg = cfg

    def expand(self, videos):
        # Without defaults the sample crosses one shuffle (a default would add a side input: a
        # second copy of up to 800 MB); the tiny count turns an empty input into a clear error.
        _ = videos | "CountVideos" >> beam.combiners.Count.Globally() | beam.Map(_require_videos)
        sample_fn = SampleClipsFn(self.cfg.sample_size, self.cfg.seed)
        return (
            videos
            | "SampleClips" >> beam.CombineGlobally(sample_fn).without_defaults()
            | "FitTree" >> beam.Map(fit_tree, self.cfg)
        )


def load_tree(path: str) -> CentroidTree:
    """Read a tree written by `FitOrLoadKMeans` (OUT/kmeans/centroids.parquet)."""
    return CentroidTree.from_table(read_table(path))


def _save_tree(tree: CentroidTree, path: str, fp: str) -> CentroidTree:
    table = tree.to_table()
    write_table(table.replace_schema_metadata(with_fingerprint(table.schema, fp).metadata), path)
    log.info(
        "k-means: %d of %d leaves used, fitted on %d clips → %s",
        int(tree.leaf_centroids()[1].sum()),
        tree.k**tree.depth,
        tree.n_train,
        path,
    )
    return tree


class ReadFeaturesFn(beam.DoFn):
    """A `features` status row → `(video_id, {"clip_index", "feature"})` for usable videos."""

    def __init__(self, out: str):
        self._out = out

    def process(self, status: dict):
        if status["status"] in USABLE:
            table = StageStore(self._out, "features").read_data(status["video_id"])
            feature = table.column("feature").combine_chunks().flatten().to_numpy()
            yield (
                status["video_id"],
                {
                    "clip_index": table.column("clip_index").to_numpy(),
                    "feature": feature.reshape(table.num_rows, -1),
                },
            )


class FitOrLoadKMeans(beam.PTransform):
    """`features` status rows → one CentroidTree, written to OUT/kmeans/centroids.parquet.

    An existing tree is reused (a stable visual vocabulary as videos are added) unless
    `force`, or unless it was fitted with another k-means configuration or other features.
    """

    def __init__(self, out: str, cfg: KMeansConfig, features_fp: str, force: bool = False):
        super().__init__()
        self._out, self._cfg, self._force = out, cfg, force
        self._path = FileSystems.join(out, "kmeans", "centroids.parquet")
        self._fp = fingerprint([features_fp, asdict(cfg)])

    def expand(self, features_status):
        dry_run = features_status.pipeline._options.view_as(TestOptions).dry_run
        if (
            not self._force
            and not dry_run  # a dry run lists nothing: it builds the graph of a first run
            and FileSystems.exists(self._path)
            and read_fingerprint(self._path) == self._fp
        ):
            log.info("k-means: reusing %s (use --force to refit)", self._path)
            return (
                features_status.pipeline
                | "Path" >> beam.Create([self._path])
                | "Load" >> beam.Map(load_tree)
            )
        return (
            features_status
            | "ReadFeatures" >> beam.ParDo(ReadFeaturesFn(self._out))
            | "Fit" >> FitHierarchicalKMeans(self._cfg)
            | "Save" >> beam.Map(_save_tree, self._path, self._fp)
        )
