"""Pure faiss fitting of a hierarchical k-means tree, and the merge of a parallel fit.

`fit_levels(x, cfg, levels)` fits `levels` levels under one root on the points x (N, D): level
by level, each branch on the points its parent got. `fit_tree` is that for the whole tree on one
worker; the Beam stage fits the top `cfg.top_levels` levels on the top sample, every subtree
under them on its own worker (`fit_levels` again), and joins them with `merge_tree`.

Documented choices:
- `max_points_per_centroid=256` (faiss's default): faiss subsamples each branch to ≤ k × 256
  points; training on all of them takes 2–3× longer. Each node records the points its branch was
  fitted on after that subsampling (`fitted`) beside the points assigned to it (`counts`).
- `init="k-means++"`: seeds drawn from ≤ k × 256 rows of the branch, then faiss's Lloyd
  iterations. faiss's own random init (`init="random"`) often merges well-separated clusters
  (3 blobs recovered in 13 of 30 seeded trials, against 30 of 30); it saves ~0.7 s of ~4.7 s.
- A node exists iff at least one training point reached it. Empty clusters that faiss returns
  are dropped, and a branch with ≤ k points skips faiss (which needs n ≥ k): each distinct point
  becomes a child, duplicates merged. So every existing non-leaf node has ≥ 1 child and leaf ids
  lie in [0, k**depth) with gaps where leaves are missing. Duplicate points are fine for faiss.
- `counts` are faiss's assignment of the training rows; `CentroidTree.assign` agrees with it up
  to exact floating-point ties.
- Determinism: one seed for every branch and rows in a fixed order (the caller sorts them by
  sample key), so the same input gives identical centroids on the same machine and thread count.
"""

import logging
import time
from dataclasses import dataclass

import faiss
import numpy as np

from schemas.tree import CentroidTree, branches
from stages.video.kmeans.config import KMeansConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Levels:
    """Per level under one root (index 0 = the root's children): dense arrays by node id."""

    centroids: tuple[np.ndarray, ...]  # (k**r, D) float32
    counts: tuple[np.ndarray, ...]  # (k**r,) int64 points assigned
    fitted: tuple[np.ndarray, ...]  # (k**r,) int64 points of the branch that fitted the node
    labels: np.ndarray  # (N,) int64 node at the last level of each input row


def use_gpu(cfg: KMeansConfig) -> bool:
    """Whether fitting runs on faiss's GPU k-means (--device cuda and a CUDA faiss build)."""
    return cfg.device == "cuda" and getattr(faiss, "get_num_gpus", lambda: 0)() > 0


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


def fit_branch(
    xb: np.ndarray, cfg: KMeansConfig, gpu: bool = False
) -> tuple[np.ndarray, np.ndarray]:
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
        min_points_per_centroid=1,  # the floor is checked once for the whole sample (config.py)
        gpu=gpu,
    )
    kmeans.train(xb, init_centroids=_kmeans_pp(xb, cfg) if cfg.init == "k-means++" else None)
    return kmeans.centroids, kmeans.index.search(xb, 1)[1][:, 0]


def fit_levels(
    x: np.ndarray, cfg: KMeansConfig, levels: int, first_level: int = 1, verbose: bool = True
) -> Levels:
    """Fit `levels` levels under one root on x (N, D); `first_level` only numbers the log
    (INFO when `verbose`, else DEBUG: a parallel fit has many subtrees)."""
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"no features found to fit k-means on (got shape {x.shape})")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or inf")
    k, (n, dim), gpu = cfg.k, x.shape, use_gpu(cfg)
    node = np.zeros(n, np.int64)
    centroids, counts, fitted = [], [], []
    for r in range(1, levels + 1):
        t0, n_branches = time.perf_counter(), 0
        cent, child = np.zeros((k**r, dim), np.float32), np.empty_like(node)
        fit = np.zeros(k**r, np.int64)
        for parent, idx, xb in branches(x, node):
            got, label = fit_branch(xb, cfg, gpu)
            cent[parent * k : parent * k + len(got)] = got
            fit[parent * k : parent * k + k] = min(len(xb), k * cfg.max_points_per_centroid)
            child[idx] = parent * k + label
            n_branches += 1
        node, count = child, np.bincount(child, minlength=k**r)
        cent[count == 0], fit[count == 0] = 0, 0  # empty clusters are dropped
        centroids.append(cent)
        counts.append(count)
        fitted.append(fit)
        level, nodes, seconds = (
            first_level + r - 1,
            np.count_nonzero(count),
            time.perf_counter() - t0,
        )
        say = log.info if verbose else log.debug
        say("k-means level %d/%d: %d branches fitted on %d points → %d nodes, %.1f s",
            level, first_level + levels - 1, n_branches, n, nodes, seconds)  # fmt: skip
    return Levels(tuple(centroids), tuple(counts), tuple(fitted), node)


def fit_tree(x: np.ndarray, cfg: KMeansConfig | None = None) -> CentroidTree:
    """The whole tree on one worker: x (N, D) in a fixed row order."""
    cfg = cfg or KMeansConfig()
    fit = fit_levels(x, cfg, cfg.depth)
    return CentroidTree(
        cfg.k, fit.centroids, fit.counts, cfg.seed, cfg.niter, len(x), fitted=fit.fitted
    )


def merge_tree(
    top: Levels, subtrees: dict[int, tuple[int, Levels]], cfg: KMeansConfig, depth: int
) -> CentroidTree:
    """The tree from its top levels and, per top-level node, (sample points that descend to it,
    the subtree fitted on them). Top-level counts become the whole sample's: a top node no
    sample point reached is dropped."""
    k, t = cfg.k, len(top.centroids)
    dim = top.centroids[0].shape[1]
    below = []
    for r in range(1, depth - t + 1):
        cent = np.zeros((k ** (t + r), dim), np.float32)
        count, fit = np.zeros(k ** (t + r), np.int64), np.zeros(k ** (t + r), np.int64)
        for node, (_, sub) in subtrees.items():
            rows = slice(node * k**r, (node + 1) * k**r)
            cent[rows], count[rows] = sub.centroids[r - 1], sub.counts[r - 1]
            fit[rows] = sub.fitted[r - 1]
        below.append((cent, count, fit))
    reached = np.zeros(k**t, np.int64)
    for node, (n, _) in subtrees.items():
        reached[node] = n
    centroids, counts, fitted = list(top.centroids), [], list(top.fitted)
    count = reached
    for level in range(t, 0, -1):  # whole-sample counts, bottom-up through the top levels
        counts.insert(0, count)
        centroids[level - 1] = np.where((count > 0)[:, None], centroids[level - 1], 0)
        fitted[level - 1] = np.where(count > 0, fitted[level - 1], 0)
        count = np.bincount(np.arange(k**level) // k, weights=count, minlength=k ** (level - 1))
        count = count.astype(np.int64)
    n_train = int(reached.sum())
    return CentroidTree(
        k,
        (*centroids, *(c for c, _, _ in below)),
        (*counts, *(n for _, n, _ in below)),
        cfg.seed,
        cfg.niter,
        n_train,
        fitted=(*fitted, *(f for _, _, f in below)),
    )


def fit_two_phase(x: np.ndarray, cfg: KMeansConfig, top_size: int | None = None) -> CentroidTree:
    """What the Beam stage computes, in one process: x (N, D) in sample-key order; the first
    `top_size` rows (default `cfg.top_sample`) fit the top levels, every row descends them, and
    each top node's rows fit its subtree. For benchmarks and tests."""
    t = cfg.top_levels
    top = fit_levels(x[: top_size or cfg.top_sample], cfg, t)
    node = CentroidTree(cfg.k, top.centroids, top.counts).assign(x)
    subtrees = {
        parent: (len(idx), fit_levels(xb, cfg, cfg.depth - t, t + 1, verbose=False))
        for parent, idx, xb in branches(x, node)
    }
    return merge_tree(top, subtrees, cfg, cfg.depth)
