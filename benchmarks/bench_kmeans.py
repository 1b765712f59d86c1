"""Hierarchical k-means: the Beam stage vs `fit_tree` vs a bare faiss loop, and assignment speed.

    .venv/bin/python -m benchmarks.bench_kmeans            # 200k × 1024, 500 videos (paper recipe)
    .venv/bin/python -m benchmarks.bench_kmeans --n 20000  # quick run

All fits use k=12, depth=4, niter=20, max_points_per_centroid=256 on the same seeded, clustered
data. (a) runs `FitHierarchicalKMeans` on FnApiRunner from per-video elements (slices of the data,
so building them costs nothing) to the tree, including moving the ≤ 800 MB training sample
through the runner's shuffle; (b) calls `fit_tree` directly; (c) is the same
4-level × 12 loop written plainly with faiss.Kmeans (faiss's random init, so (b) is also timed
with init="random"). Assignment: `CentroidTree.assign` (k distances per level) vs a flat faiss
search over every leaf.
"""

import argparse
import time
from dataclasses import replace

import apache_beam as beam
import faiss
import numpy as np
from apache_beam.options.pipeline_options import PipelineOptions

from stages.video.kmeans import FitHierarchicalKMeans, KMeansConfig, fit_tree

# In-process hand-off to the FnApiRunner workers (same process): the data and the result.
_SHARED: dict = {}


def clustered(n: int, dim: int, n_centers: int = 1000, seed: int = 0) -> np.ndarray:
    """(n, dim) float32: n_centers standard-normal centres plus N(0, 0.5²) noise per row."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_centers, dim), dtype=np.float32)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x *= 0.5
    x += centers[rng.integers(0, n_centers, n)]
    return x


def _video(i: int, bounds: np.ndarray) -> tuple[str, dict]:
    feature = _SHARED["x"][bounds[i] : bounds[i + 1]]
    return f"video-{i:05d}", {
        "clip_index": np.arange(len(feature), dtype=np.int32),
        "feature": feature,
    }


def _keep(tree) -> None:
    _SHARED["tree"] = tree


def run_stage(n_videos: int, cfg: KMeansConfig):
    bounds = np.linspace(0, len(_SHARED["x"]), n_videos + 1).astype(int)
    with beam.Pipeline(runner="FnApiRunner", options=PipelineOptions([])) as p:
        _ = (
            p
            | beam.Create(range(n_videos))
            | beam.Map(_video, bounds)
            | FitHierarchicalKMeans(cfg)
            | beam.Map(_keep)
        )
    return _SHARED.pop("tree")


def bare_faiss(x: np.ndarray, cfg: KMeansConfig) -> np.ndarray:
    """The plain loop: per level, per branch, faiss.Kmeans then faiss's own assignment."""
    node = np.zeros(len(x), np.int64)
    for _ in range(cfg.depth):
        child, order = np.zeros_like(node), np.argsort(node, kind="stable")
        ids, starts = np.unique(node[order], return_index=True)
        for parent, idx in zip(ids, np.split(order, starts[1:]), strict=True):
            xb = x[idx]
            if len(xb) >= cfg.k:
                km = faiss.Kmeans(x.shape[1], cfg.k, niter=cfg.niter, seed=cfg.seed,
                                  max_points_per_centroid=cfg.max_points_per_centroid,
                                  min_points_per_centroid=1)  # fmt: skip
                km.train(xb)
                child[idx] = parent * cfg.k + km.index.search(xb, 1)[1][:, 0]
            else:  # fewer points than k: keep them together
                child[idx] = parent * cfg.k
        node = child
    return node


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=200_000, help="clips (rows)")
    ap.add_argument("--dim", type=int, default=1024)
    ap.add_argument("--videos", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3, help="rounds; each variant once per round")
    ap.add_argument("--flat-n", type=int, default=10_000, help="points for the flat search")
    args = ap.parse_args(argv)

    cfg = KMeansConfig(sample_size=args.n)
    x, gen_s = timed(clustered, args.n, args.dim)
    _SHARED["x"] = x
    threads = faiss.omp_get_max_threads()
    print(f"data: {args.n:,} × {args.dim} float32 in {args.videos} videos ({gen_s:.1f} s to make),"
          f" faiss threads {threads}, best of {args.repeat} interleaved rounds")  # fmt: skip
    variants = {
        "(a) stage: FitHierarchicalKMeans, FnApiRunner": lambda: run_stage(args.videos, cfg),
        "(b) fit_tree (init k-means++, the default)": lambda: fit_tree(x, cfg),
        "(b') fit_tree (init random, as bare faiss)": lambda: fit_tree(
            x, replace(cfg, init="random")
        ),
        "(c) bare faiss loop": lambda: bare_faiss(x, cfg),
    }
    seconds, trees = {name: [] for name in variants}, {}
    for _ in range(args.repeat):  # interleaved, so a busy spell on a shared machine hits all
        for name, fn in variants.items():
            trees[name], took = timed(fn)
            seconds[name].append(took)
    bare = min(seconds["(c) bare faiss loop"])
    print(f"\n{'fit, k=12 depth=4 niter=20':<48}{'best s':>8}{'median s':>10}{'best ÷ bare':>13}")
    for name, runs in seconds.items():
        print(f"{name:<48}{min(runs):>8.2f}{np.median(runs):>10.2f}{min(runs) / bare:>13.2f}")
    tree = trees["(b) fit_tree (init k-means++, the default)"]
    stage_leaves = int(
        (trees["(a) stage: FitHierarchicalKMeans, FnApiRunner"].counts[-1] > 0).sum()
    )
    print(f"leaves present: (a) {stage_leaves:,}, (b) {int((tree.counts[-1] > 0).sum()):,}"
          f" of {cfg.k**cfg.depth:,}")  # fmt: skip

    tree.assign(x[:1000])  # warm the cached norms
    hier_s = min(timed(tree.assign, x)[1] for _ in range(args.repeat))
    leaves, mask = tree.leaf_centroids()
    flat = faiss.IndexFlatL2(args.dim)
    flat.add(np.ascontiguousarray(leaves[mask]))
    xf = x[: args.flat_n]
    flat_s = min(timed(flat.search, xf, 1)[1] for _ in range(args.repeat))
    print(f"\n{'assignment':<48}{'points/s':>12}")
    print(f"{'hierarchical (CentroidTree.assign)':<48}{len(x) / hier_s:>12,.0f}")
    flat_name = f"flat over {int(mask.sum()):,} leaves (faiss IndexFlatL2)"
    print(f"{flat_name:<48}{len(xf) / flat_s:>12,.0f}")


if __name__ == "__main__":
    # Run as the importable module, so Beam pickles _video/_keep by reference, not with _SHARED.
    from benchmarks.bench_kmeans import main as _main

    _main()
