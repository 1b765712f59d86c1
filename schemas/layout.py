"""The OUT path layout: where every stage's outputs live under an output root (local or gs://).

Pure string functions (no Beam, no I/O), shared by the stages, the pipelines and `model/`:

    OUT/discover/videos.parquet           VIDEOS, one row per video that entered the DAG
    OUT/discover/info/<id>.json.gz        yt-dlp's info dict of a remote video
    OUT/download/videos/<id>.<ext>        downloaded media
    OUT/<stage>/data/<id>.parquet         per-video output of a per-video stage
    OUT/<stage>/status.parquet            STATUS, one row per video per stage
    OUT/kmeans/centroids.parquet          CENTROIDS, the hierarchical k-means tree
    OUT/corpus/segments.parquet           SEGMENTS, the training corpus
    OUT/failed/<stage>/<id>.json          dead letter: an unexpected exception with its traceback
    OUT/sample/ground_truth.parquet       GROUND_TRUTH, the sample world's actions
"""

from schemas.ids import validate_video_id


def join(root: str, *parts: str) -> str:
    """`root/part/...` for a local path or a `scheme://` URI (always '/')."""
    return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts)])


def is_local(path: str) -> bool:
    """Whether `path` is on this machine's filesystem (no `scheme://`, e.g. not gs://)."""
    return "://" not in path


def stage_dir(out: str, stage: str) -> str:
    return join(out, stage)


def status_path(out: str, stage: str) -> str:
    return join(out, stage, "status.parquet")


def data_path(out: str, stage: str, video_id: str) -> str:
    return join(out, stage, "data", f"{validate_video_id(video_id)}.parquet")


def videos_path(out: str) -> str:
    return join(out, "discover", "videos.parquet")


def info_path(out: str, video_id: str) -> str:
    return join(out, "discover", "info", f"{validate_video_id(video_id)}.json.gz")


def download_dir(out: str) -> str:
    return join(out, "download", "videos")


def centroids_path(out: str) -> str:
    return join(out, "kmeans", "centroids.parquet")


def corpus_path(out: str) -> str:
    return join(out, "corpus", "segments.parquet")


def failed_path(out: str, stage: str, video_id: str) -> str:
    """Dead letter of `video_id` in `stage` (stages.store.dead_letter)."""
    return join(out, "failed", stage, f"{validate_video_id(video_id)}.json")


def sample_dir(out: str) -> str:
    return join(out, "sample")


def ground_truth_path(out: str) -> str:
    return join(out, "sample", "ground_truth.parquet")
