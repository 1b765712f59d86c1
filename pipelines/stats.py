"""Streaming statistics of a corpus OUT root, and the small I/O helpers the inspection shares.

Everything here reads Parquet through Beam `FileSystems` (local or gs://) and keeps memory
bounded: the corpus is streamed in record batches into integer bincounts and fixed histograms,
examples are a seeded bounded sample, and the k-means tree is read as its footer + one column.
"""

import heapq
import math
from collections import Counter
from contextlib import contextmanager

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

import schemas
from schemas import layout
from stages.store.files import match, read_metadata, read_parts

# Failures expected to be read from the Parquet layer: a truncated or foreign file.

UNREADABLE = (pa.ArrowException, OSError)


def join(*parts: str) -> str:
    return FileSystems.join(*parts)


def exists(path: str) -> bool:
    return FileSystems.exists(path)


def describe_error(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"


@contextmanager
def open_parquet(path: str):
    """A `pq.ParquetFile` over FileSystems (local or gs://): footer first, batches on demand."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        yield pq.ParquetFile(f)


DURATION_BIN_S = 0.5  # segment-duration histogram: 0.5 s bins up to 30 s, the last one open
DURATION_BINS = 60


def _add_counts(acc: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Accumulate a bincount of non-negative ints, growing `acc` as needed."""
    counts = np.bincount(values, minlength=len(acc)) if len(values) else acc * 0
    if len(counts) > len(acc):
        acc = np.pad(acc, (0, len(counts) - len(acc)))
    acc[: len(counts)] += counts
    return acc


def describe(counts: np.ndarray) -> dict:
    """mean / median / p95 / max of the integers whose bincount is `counts`, and the bincount."""
    n = int(counts.sum())
    if not n:
        return {"n": 0}
    cum = np.cumsum(counts)
    return {
        "n": n,
        "mean": round(float((np.arange(len(counts)) * counts).sum() / n), 2),
        "median": int(np.searchsorted(cum, n / 2)),
        "p95": int(np.searchsorted(cum, 0.95 * n)),
        "max": int(np.flatnonzero(counts)[-1]),
        "hist": counts.tolist(),
    }


def tree_shape(out: str) -> dict | None:
    """k, depth and the existing leaves of OUT/kmeans/centroids.parquet (footer + two columns)."""
    path = join(out, "kmeans", "centroids.parquet")
    if not exists(path):
        return None
    try:
        meta = read_metadata(path).schema.to_arrow_schema().metadata or {}
        k, depth = int(meta[b"k"]), int(meta[b"depth"])
        with open_parquet(path) as f:  # small integer columns only, not the centroids
            names = [c for c in ("level", "count", "fitted") if c in f.schema_arrow.names]
            table = f.read(columns=names)
    except (*UNREADABLE, KeyError, ValueError):
        return None
    levels = table["level"].to_numpy()
    shape = {"k": k, "depth": depth, "vocab": k**depth, "leaves": int((levels == depth).sum())}
    return {**shape, "occupancy": tree_occupancy(table, k, depth)} if "count" in names else shape


def tree_occupancy(table: pa.Table, k: int, depth: int) -> dict:
    """Leaf occupancy (training points per leaf) and, per level, the points per centroid of the
    branches that fitted it (`fitted` / k; trees written before that column: the parent's count)."""
    level, count = table["level"].to_numpy(), table["count"].to_numpy()
    fitted = table["fitted"].fill_null(0).to_numpy() if "fitted" in table.column_names else None
    leaves = np.sort(count[level == depth])
    per_level = []
    for lv in range(1, depth + 1):
        at = level == lv
        if fitted is not None and at.any():
            per = fitted[at] / k
            row = {"level": lv, "nodes": int(at.sum())}
            row["min_points_per_centroid"] = round(float(per.min()), 1)
            row["median_points_per_centroid"] = round(float(np.median(per)), 1)
            per_level.append(row)
    return {
        "n_train": int(count[level == 1].sum()),
        "empty_leaves": k**depth - len(leaves),
        "leaf_points": [int(leaves[0]), float(np.median(leaves)), int(leaves[-1])]
        if len(leaves)
        else [],
        "levels": per_level,
    }


def token_path(token: int, k: int, depth: int) -> str:
    """A leaf id as its path down the tree, one base-k digit per level: 88 (k=10) → '8.8'."""
    digits = [(token // k**level) % k for level in reversed(range(depth))]
    return ".".join(str(d) for d in digits)


def token_usage(counts: np.ndarray, tree: dict | None, top: int = 10) -> dict:
    total = int(counts.sum())
    used = np.flatnonzero(counts)
    p = counts[used] / max(total, 1)
    entropy = float(-(p * np.log2(p)).sum()) if total else 0.0
    order = used[np.argsort(-counts[used], kind="stable")][:top]
    usage = {
        "total": total,
        "used": len(used),
        "vocab": tree["vocab"] if tree else None,
        "leaves_in_tree": tree["leaves"] if tree else None,
        "entropy_bits": round(entropy, 3),
        "max_entropy_bits": round(math.log2(tree["vocab"]), 3) if tree else None,
        "perplexity": round(2**entropy, 1),
        "top": [
            {"token": int(t), "count": int(counts[t]), "share": round(counts[t] / total, 4)}
            for t in order
        ],
    }
    if tree:
        for row in usage["top"]:
            row["path"] = token_path(row["token"], tree["k"], tree["depth"])
    return usage


def corpus_stats(out: str, examples: int = 5, seed: int = 0) -> tuple[dict, np.ndarray]:
    """Stream every corpus shard batch by batch → (statistics, token counts).

    Examples are a seeded sample of segments with text (the `examples` smallest random keys)."""
    tree = tree_shape(out)
    tokens = np.zeros(tree["vocab"] if tree else 0, np.int64)
    visual = text = words = np.zeros(0, np.int64)
    seconds = np.zeros(DURATION_BINS, np.int64)
    n = with_text = text_only = 0
    videos, splits, picked = set(), Counter(), []
    rng = np.random.default_rng(seed)
    cols = ["video_id", "segment_index", "start_s", "end_s", "text", "text_token_ids",
            "first_clip", "visual_tokens", "split"]  # fmt: skip
    for batch in _shard_batches(match(layout.corpus_glob(out)), cols):
        n += batch.num_rows
        videos.update(pc.unique(batch["video_id"]).to_pylist())
        splits.update(batch["split"].fill_null("none").to_pylist())
        has_text = batch["text"].is_valid()
        with_text += pc.sum(has_text).as_py() or 0
        n_visual = pc.list_value_length(batch["visual_tokens"]).to_numpy(zero_copy_only=False)
        text_only += int((n_visual == 0).sum())
        visual = _add_counts(visual, n_visual)
        text_rows = batch.filter(has_text)
        n_text = pc.list_value_length(text_rows["text_token_ids"]).fill_null(0)
        text = _add_counts(text, n_text.to_numpy(zero_copy_only=False))
        n_words = pc.list_value_length(pc.utf8_split_whitespace(text_rows["text"]))
        words = _add_counts(words, n_words.to_numpy(zero_copy_only=False))
        span = pc.subtract(batch["end_s"], batch["start_s"]).to_numpy()
        bins = np.clip((span / DURATION_BIN_S).astype(np.int64), 0, DURATION_BINS - 1)
        seconds += np.bincount(bins, minlength=DURATION_BINS)
        flat = pc.list_flatten(batch["visual_tokens"]).to_numpy(zero_copy_only=False)
        tokens = _add_counts(tokens, flat.astype(np.int64))
        keys = rng.random(text_rows.num_rows)
        for i in np.argsort(keys)[:examples]:
            item = (-keys[i], n + i, text_rows.slice(int(i), 1).to_pylist()[0])
            (heapq.heappush if len(picked) < examples else heapq.heappushpop)(picked, item)
    rows = sorted((r for *_, r in picked), key=lambda r: (r["video_id"], r["segment_index"]))
    stats = {
        "segments": n,
        "videos": len(videos),
        "with_text": with_text,
        "video_only": n - with_text,
        "text_only": text_only,
        "splits": dict(sorted(splits.items())),
        "visual_tokens_per_segment": describe(visual),
        "text_tokens_per_segment": describe(text),
        "sentence_words": describe(words),
        "segment_seconds": {"bin_s": DURATION_BIN_S, "hist": seconds.tolist()},
        "visual_tokens": token_usage(tokens, tree),
        "examples": [_example(r, tree) for r in rows],
    }
    return stats, tokens


def _shard_batches(paths: list[str], columns: list[str]):
    for path in paths:
        try:
            with open_parquet(path) as f:
                yield from f.iter_batches(batch_size=8192, columns=columns)
        except pa.ArrowInvalid as e:  # name the shard
            raise pa.ArrowInvalid(f"{path}: {e}") from e


def _example(row: dict, tree: dict | None) -> dict:
    keys = ("video_id", "segment_index", "start_s", "end_s", "text", "first_clip", "visual_tokens")
    example = {k: row[k] for k in keys}
    example["text_token_ids"] = row["text_token_ids"] or []
    if tree:
        example["visual_paths"] = [
            token_path(t, tree["k"], tree["depth"]) for t in row["visual_tokens"]
        ]
    return example


def video_stats(out: str, stages: dict[str, dict]) -> dict:
    """Videos and declared hours (discover), videos with clips and clips (frames status)."""
    path = layout.videos_glob(out)
    if not match(path):
        return {"problem": f"no videos table ({path} missing)"}
    try:
        durations = read_parts(path, schemas.VIDEOS, ["duration_s"])["duration_s"]
    except UNREADABLE as e:
        return {"problem": f"unreadable {path} ({describe_error(e)})"}
    known = durations.drop_null().to_numpy()
    edges = np.histogram_bin_edges(known, bins=min(30, max(len(known), 1))) if len(known) else []
    stats = {
        "videos": len(durations),
        "hours": round(float(known.sum()) / 3600, 3),
        "unknown_duration": durations.null_count,
        "duration_s": {
            "edges": [round(float(e), 2) for e in edges],
            "hist": np.histogram(known, bins=edges)[0].tolist() if len(known) else [],
        },
    }
    frames = (stages.get("frames") or {}).get("status")
    if frames:
        stats["videos_with_clips"], stats["clips"] = frames["usable"], frames["items"]
    return stats
