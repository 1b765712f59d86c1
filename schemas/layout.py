"""The OUT path layout: where every stage's outputs live under an output root (local or gs://).

Pure string functions (no Beam, no I/O), shared by the stages, the pipelines and `model/`:

    OUT/discover/videos/part-SSSSS-of-00016.parquet  VIDEOS, one row per video that entered the DAG
    OUT/discover/info/<id>.json.gz        yt-dlp's info dict of a remote video
    OUT/download/videos/<id>.<ext>        downloaded media
    OUT/<stage>/data/<id>.parquet         per-video output of a per-video stage
    OUT/<stage>/status/part-SSSSS-of-00016.parquet  STATUS, one row per video per stage
    OUT/kmeans/centroids.parquet          CENTROIDS, the hierarchical k-means tree
    OUT/corpus/segments-SSSSS-of-NNNNN.parquet  SEGMENTS, the training corpus
    OUT/failed/<stage>/<id>.json          dead letter: an unexpected exception with its traceback
    OUT/sample/ground_truth.parquet       GROUND_TRUTH, the sample world's actions

Per-video tables (videos, status) are hash-partitioned: a video's row lives in part
`video_shard(video_id, TABLE_SHARDS)`, each part sorted by video_id. A part is rewritten by one
worker holding only that part (1M videos: ~62k rows, a few MB), so no step gathers every video.
The corpus is cut into `corpus_shards(n_segments)` shards of at most ~MAX_SHARD_SEGMENTS rows
each: a video's segments all sit in shard `video_shard(video_id, n)`, rows sorted by
(video_id, segment_index) within a shard (not across shards: read all shards and sort by those
two columns when a global order matters).
"""

import hashlib
import math

from schemas.ids import validate_video_id


def join(root: str, *parts: str) -> str:
    """`root/part/...` for a local path or a `scheme://` URI (always '/')."""
    return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts)])


def is_local(path: str) -> bool:
    """Whether `path` is on this machine's filesystem (no `scheme://`, e.g. not gs://)."""
    return "://" not in path


def stage_dir(out: str, stage: str) -> str:
    return join(out, stage)


TABLE_SHARDS = 16  # parts of every per-video table (videos, status)
MAX_SHARD_SEGMENTS = 250_000  # target rows per corpus shard (~10-40 MB of Parquet)


def video_shard(video_id: str, n: int) -> int:
    """The shard of `video_id` among `n`: stable across runs, processes and machines."""
    return int.from_bytes(hashlib.blake2b(video_id.encode(), digest_size=8).digest(), "big") % n


def corpus_shards(n_segments: int) -> int:
    """How many corpus shards hold `n_segments` rows (at least 1). Hash placement of whole
    videos makes shards uneven by a few percent around `n_segments / n`."""
    return max(1, math.ceil(n_segments / MAX_SHARD_SEGMENTS))


def shard_name(prefix: str, shard: int, n: int) -> str:
    return f"{prefix}-{shard:05d}-of-{n:05d}.parquet"


def status_dir(out: str, stage: str) -> str:
    return join(out, stage, "status")


def status_path(out: str, stage: str, shard: int) -> str:
    return join(status_dir(out, stage), shard_name("part", shard, TABLE_SHARDS))


def status_glob(out: str, stage: str) -> str:
    return join(status_dir(out, stage), "part-*.parquet")


def data_path(out: str, stage: str, video_id: str) -> str:
    return join(out, stage, "data", f"{validate_video_id(video_id)}.parquet")


def videos_dir(out: str) -> str:
    return join(out, "discover", "videos")


def videos_path(out: str, shard: int) -> str:
    return join(videos_dir(out), shard_name("part", shard, TABLE_SHARDS))


def videos_glob(out: str) -> str:
    return join(videos_dir(out), "part-*.parquet")


def info_path(out: str, video_id: str) -> str:
    return join(out, "discover", "info", f"{validate_video_id(video_id)}.json.gz")


def download_dir(out: str) -> str:
    return join(out, "download", "videos")


def centroids_path(out: str) -> str:
    return join(out, "kmeans", "centroids.parquet")


def corpus_dir(out: str) -> str:
    return join(out, "corpus")


def corpus_path(out: str, shard: int, n: int) -> str:
    return join(corpus_dir(out), shard_name("segments", shard, n))


def corpus_glob(out: str) -> str:
    """Every shard of the corpus (duckdb/pandas/HF datasets read this pattern as is)."""
    return join(corpus_dir(out), "segments-*-of-*.parquet")


def failed_path(out: str, stage: str, video_id: str) -> str:
    """Dead letter of `video_id` in `stage` (stages.store.dead_letter)."""
    return join(out, "failed", stage, f"{validate_video_id(video_id)}.json")


def sample_dir(out: str) -> str:
    return join(out, "sample")


def ground_truth_path(out: str) -> str:
    return join(out, "sample", "ground_truth.parquet")
