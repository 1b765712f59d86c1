"""kmeans: pretraining videos' features → a hierarchical k-means tree of k**depth visual words.

Input: `features` status rows (+ the video records, for the split). Output: one `CentroidTree`,
written to OUT/kmeans/centroids.parquet (`schemas.CENTROIDS`). A clip's visual token is its
leaf, `tree.assign(features)` (the `tokens` stage).

Leak rule: only videos whose split is null or "train" (`config.PRETRAIN_SPLITS`) are fitted on;
held-out and evaluation videos are assigned to the tree by `tokens`, never fitted.

The fit moves as little as possible (benchmarks/bench_kmeans.py):
1. `ClipKeys`: per video, its clip indices (one Parquet column) → priorities (sample.py);
   `Choose` keeps the smallest `size` priorities (8 bytes a clip) → the sample's cutoffs.
2. `ReadTop`: the videos holding clips of the top sample (its ≤ k**top_levels × 256 smallest
   priorities, 12 MB for 12**4) read just those rows; `FitTop` fits the top levels on one worker.
3. `ReadChosen`: per video, one read of its feature file, keeping only the chosen rows; rows with
   NaN/Inf are left out of the fit (counted, logged; `tokens` gives such videos `bad_features`).
   Fused with `ByTopNode`: every chosen row descends the top levels right after its read and
   travels once, in ~4 MB chunks, through one `GroupByKey` to its top-level node. The sample
   itself is never materialised between steps (only that shuffle carries vectors).
4. `FitSubtree` fits the levels below on that node's rows alone (memory ≈ size / k**top_levels
   rows: 340 MB for 1M in 1024-d at top_levels=1).
5. `Merge`: the top levels and the subtrees (not the sample) meet on one worker as the tree.
Rows are sorted by sample key before every fit, so the tree does not depend on bundling.
"""

import logging
from collections import defaultdict
from dataclasses import asdict, dataclass, replace

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import TestOptions
from apache_beam.transforms.window import GlobalWindows
from threadpoolctl import threadpool_limits

from schemas import USABLE
from schemas.tree import CentroidTree
from stages.store.files import (
    fingerprint,
    read_fingerprint,
    read_table,
    with_fingerprint,
    write_table,
)
from stages.store.stage import StageStore
from stages.video.kmeans.config import PRETRAIN_SPLITS, KMeansConfig, SamplePlan, sample_plan
from stages.video.kmeans.fit import Levels, fit_levels, merge_tree, use_gpu
from stages.video.kmeans.sample import (
    Cutoffs,
    SmallestPrioritiesFn,
    chosen_rows,
    sample_priority,
    sort_key,
    video_key,
)
from stages.workers import worker_threads

log = logging.getLogger(__name__)

CHUNK_ROWS = 1024  # rows per element through the GroupByKey: 4 MB in 1024-d


@dataclass(frozen=True)
class FeatureFiles:
    """Reads one video's clip indices, or some of its feature rows, from OUT/features/data."""

    out: str

    def clip_index(self, video_id: str) -> np.ndarray:
        store = StageStore(self.out, "features")
        return store.read_data(video_id, ["clip_index"]).column("clip_index").to_numpy()

    def rows(self, video_id: str, positions: np.ndarray) -> np.ndarray:
        column = StageStore(self.out, "features").read_data(video_id, ["feature"])["feature"]
        picked = column.take(positions).combine_chunks()
        return picked.flatten().to_numpy().reshape(len(positions), -1)


def _threads(cfg: KMeansConfig) -> threadpool_limits:
    """faiss (OpenMP) and BLAS threads for one fitting process (`KMeansConfig.processes`)."""
    return threadpool_limits(worker_threads(cfg.processes))


def _effective(cfg: KMeansConfig, plan: SamplePlan) -> KMeansConfig:
    return replace(cfg, depth=plan.depth, top_levels=min(cfg.top_levels, plan.depth))


def _plan(choice, cfg: KMeansConfig) -> tuple[SamplePlan, Cutoffs]:
    available, smallest = choice
    plan = sample_plan(cfg, available)  # raises on refuse
    (log.info if plan.meets_floor else log.warning)("%s", plan.describe(cfg.k))
    if plan.depth != cfg.depth:
        log.warning("k-means: %d clips fit about %d words at the floor, not %d: "
                    "--kmeans_too_few=shrink fits depth %d, not %d", plan.size,
                    plan.words_at_floor, cfg.vocab, plan.depth, cfg.depth)  # fmt: skip
    log.info("k-means fits on %s", "GPU (faiss CUDA)" if use_gpu(cfg) else "CPU (faiss)")
    return plan, Cutoffs(available, smallest, plan.size, plan.top_size)


class ReadChosenFn(beam.DoFn):
    """(video_id, clip_index) → (video_id, chosen rows: priority, vkey, clip_index, feature).
    `top`: only the rows of the top sample, and only from videos that hold some (NaN/Inf rows
    are dropped silently there: the full read counts and logs them)."""

    def __init__(self, reader, seed: int, top: bool = False):
        self._reader, self._seed, self._top = reader, seed, top
        self._nonfinite = Metrics.counter("kmeans", "nonfinite_clips_left_out")
        self._chosen = Metrics.counter("kmeans", "sampled_clips")

    def process(self, keys, choice):
        video_id, clip_index = keys
        cut = choice[1]
        cutoff = cut.top_cutoff if self._top else cut.cutoff
        rows, priority = chosen_rows(video_id, clip_index, cutoff, self._seed)
        if not len(rows):
            return
        feature = np.ascontiguousarray(self._reader.rows(video_id, rows), np.float32)
        finite = np.isfinite(feature).all(axis=1)
        if not finite.all():
            if not self._top:
                bad = int((~finite).sum())
                self._nonfinite.inc(bad)
                log.warning("k-means: %s: %d sampled clips with NaN/Inf features left out of "
                            "the fit (rerun the features stage for it)", video_id, bad)  # fmt: skip
            rows, priority, feature = rows[finite], priority[finite], feature[finite]
        if not self._top:
            self._chosen.inc(len(rows))
        vkey = np.full(len(rows), video_key(video_id, self._seed), np.uint64)
        yield {
            "priority": priority,
            "vkey": vkey,
            "clip_index": clip_index[rows],
            "feature": feature,
        }


def _concat(chunks) -> dict:
    """Chunks of rows → one chunk, rows in sample-key order (bundling-independent)."""
    chunks = list(chunks)
    merged = {name: np.concatenate([c[name] for c in chunks]) for name in chunks[0]}
    order = sort_key(merged["priority"], merged["vkey"], merged["clip_index"])
    return {name: array[order] for name, array in merged.items()}


def _fit_top(chunks: list[dict], cfg: KMeansConfig, choice) -> Levels:
    cfg = _effective(cfg, choice[0])
    x = _concat(chunks)["feature"]
    log.info("k-means: top %d level(s) on %d clips", cfg.top_levels, len(x))
    with _threads(cfg):
        return fit_levels(x, cfg, cfg.top_levels)


class ByTopNodeFn(beam.DoFn):
    """Chosen rows → (top-level node, chunk of ≤ CHUNK_ROWS rows), buffered per bundle."""

    def __init__(self, k: int):
        self._k = k

    def start_bundle(self):
        self._buffers, self._rows = defaultdict(list), defaultdict(int)

    def process(self, chunk: dict, top: Levels):
        tree = CentroidTree(self._k, top.centroids, top.counts)
        node = tree.assign(chunk["feature"])  # single-threaded kernel: no thread limits needed
        for n in np.unique(node):
            at = node == n
            self._buffers[int(n)].append({name: a[at] for name, a in chunk.items()})
            self._rows[int(n)] += int(at.sum())
            if self._rows[int(n)] >= CHUNK_ROWS:
                yield self._flush(int(n))

    def _flush(self, node: int):
        parts, self._rows[node] = self._buffers.pop(node), 0
        return node, {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}

    def finish_bundle(self):
        for node in sorted(self._buffers):
            yield GlobalWindows.windowed_value(self._flush(node))


def _fit_subtree(grouped, cfg: KMeansConfig, choice) -> tuple[int, tuple[int, Levels]]:
    node, chunks = grouped
    cfg = _effective(cfg, choice[0])
    x = _concat(chunks)["feature"]
    below = cfg.depth - cfg.top_levels
    with _threads(cfg):
        return node, (len(x), fit_levels(x, cfg, below, cfg.top_levels + 1, verbose=False))


def _merge(subtrees, top: Levels, cfg: KMeansConfig, choice) -> CentroidTree:
    cfg = _effective(cfg, choice[0])
    tree = merge_tree(top, dict(subtrees), cfg, cfg.depth)
    log.info("k-means: %d subtrees merged: %d of %d leaves on %d clips", len(subtrees),
             int((tree.counts[-1] > 0).sum()), cfg.k**cfg.depth, tree.n_train)  # fmt: skip
    return tree


def _require_videos(n_videos: int) -> None:
    if n_videos == 0:
        raise ValueError("no features found to fit k-means on: no usable pretraining videos")


class FitHierarchicalKMeans(beam.PTransform):
    """Pretraining video ids → a PCollection of one `CentroidTree` (see the module docstring).
    `reader` reads a video's clip indices and feature rows (default: OUT/features/data)."""

    def __init__(self, reader, cfg: KMeansConfig | None = None):
        super().__init__()
        self.reader, self.cfg = reader, cfg or KMeansConfig()

    def expand(self, video_ids):
        cfg, reader = self.cfg, self.reader
        _ = video_ids | "CountVideos" >> beam.combiners.Count.Globally() | beam.Map(_require_videos)
        keys = video_ids | "ClipKeys" >> beam.Map(lambda v: (v, reader.clip_index(v)))
        choice = beam.pvalue.AsSingleton(
            keys
            | "Priorities" >> beam.MapTuple(lambda v, c: sample_priority(v, c, cfg.seed))
            | "Choose"
            >> beam.CombineGlobally(SmallestPrioritiesFn(cfg.wanted_sample)).without_defaults()
            | "Plan" >> beam.Map(_plan, cfg)
        )
        top = beam.pvalue.AsSingleton(
            keys
            | "ReadTop" >> beam.ParDo(ReadChosenFn(reader, cfg.seed, top=True), choice)
            | "TopSample" >> beam.combiners.ToList()
            | "FitTop" >> beam.Map(_fit_top, cfg, choice)
        )
        return (
            keys
            | "ReadChosen" >> beam.ParDo(ReadChosenFn(reader, cfg.seed), choice)
            | "ByTopNode" >> beam.ParDo(ByTopNodeFn(cfg.k), top)
            | "Group" >> beam.GroupByKey()
            | "FitSubtree" >> beam.Map(_fit_subtree, cfg, choice)
            | "Subtrees" >> beam.combiners.ToList()
            | "Merge" >> beam.Map(_merge, top, cfg, choice)
        )


def load_tree(path: str) -> CentroidTree:
    """Read a tree written by `FitOrLoadKMeans` (OUT/kmeans/centroids.parquet)."""
    return CentroidTree.from_table(read_table(path))


def _save_tree(tree: CentroidTree, path: str, fp: str) -> CentroidTree:
    table = tree.to_table()
    write_table(table.replace_schema_metadata(with_fingerprint(table.schema, fp).metadata), path)
    used = int(tree.leaf_centroids()[1].sum())
    log.info("k-means: %d of %d leaves used, fitted on %d clips → %s",
             used, tree.k**tree.depth, tree.n_train, path)  # fmt: skip
    return tree


def pretraining_ids(joined) -> list[str]:
    """(video_id, {"status": [row], "split": [split]}) → [video_id] when its features are
    usable and it belongs to the pretraining split (`PRETRAIN_SPLITS`); else []."""
    video_id, parts = joined
    usable = any(r["status"] in USABLE for r in parts["status"])
    return [video_id] if usable and parts["split"] and parts["split"][0] in PRETRAIN_SPLITS else []


def tree_fingerprint(features_fp: str, cfg: KMeansConfig) -> str:
    """What the tree on disk must have been fitted with to be reused (the device and the
    thread count are not part)."""
    config = {k: v for k, v in asdict(cfg).items() if k not in ("device", "processes")}
    return fingerprint([features_fp, config, "pretraining-split-only"])


class FitOrLoadKMeans(beam.PTransform):
    """`features` status rows (+ video records for the split) → one CentroidTree, written to
    OUT/kmeans/centroids.parquet.

    An existing tree is reused (a stable visual vocabulary as videos are added) unless `force`,
    or unless it was fitted with another k-means configuration or other features. Without
    `videos`, every usable video counts as pretraining (the caller vouches for it).
    """

    def __init__(self, out, cfg: KMeansConfig, features_fp: str, force=False, videos=None):
        super().__init__()
        self._out, self._cfg, self._force, self._videos = out, cfg, force, videos
        self._path = FileSystems.join(out, "kmeans", "centroids.parquet")
        self._fp = tree_fingerprint(features_fp, cfg)

    def expand(self, features_status):
        if (
            not self._force
            and not features_status.pipeline._options.view_as(TestOptions).dry_run  # lists nothing
            and FileSystems.exists(self._path)
            and read_fingerprint(self._path) == self._fp
        ):
            log.info("k-means: reusing %s (use --force to refit)", self._path)
            return (
                features_status.pipeline
                | "Path" >> beam.Create([self._path])
                | "Load" >> beam.Map(load_tree)
            )
        if self._videos is None:
            ids = features_status | "Usable" >> beam.FlatMap(
                lambda r: [r["video_id"]] if r["status"] in USABLE else []
            )
        else:
            ids = (
                {
                    "status": features_status
                    | "StatusById" >> beam.Map(lambda r: (r["video_id"], r)),
                    "split": self._videos
                    | "SplitById" >> beam.Map(lambda v: (v["video_id"], v["split"])),
                }
                | "JoinSplit" >> beam.CoGroupByKey()
                | "Pretraining" >> beam.FlatMap(pretraining_ids)
            )
        return (
            ids
            | "Fit" >> FitHierarchicalKMeans(FeatureFiles(self._out), self._cfg)
            | "Save" >> beam.Map(_save_tree, self._path, self._fp)
        )
