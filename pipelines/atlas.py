"""The visual-token atlas and the per-video timelines of the HTML report.

Atlas: for a sample of visual tokens (evenly spaced frequency ranks, so frequent and rare words
both show), the clips nearest to that leaf's centroid among the clips assigned to it, as their
middle-frame thumbnails. Features are streamed one video at a time over a seeded sample of at
most `max_videos` videos; each token keeps its `per_token` nearest clips in a bounded heap, and
only the winners' thumbnails are read afterwards (one `thumbnail` column read per video).
Memory: the selected leaf centroids + one video's features + `tokens × per_token` heap entries.
"""

import heapq
import random
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.io.filesystems import FileSystems

from pipelines.stats import UNREADABLE, describe_error, exists, join, open_parquet
from schemas.ids import validate_video_id
from stages.store.stage import StageStore

MAX_PROBLEMS = 20  # unreadable files listed in the report; the rest are only skipped


@dataclass
class Atlas:
    tokens: list[dict] = field(default_factory=list)  # {token, count, clips: [{...}]}
    videos_scanned: int = 0
    problems: list[str] = field(default_factory=list)


def select_tokens(counts: np.ndarray, n: int) -> list[int]:
    """`n` used tokens at evenly spaced ranks of frequency (most frequent first)."""
    used = np.flatnonzero(counts)
    ranked = used[np.argsort(-counts[used], kind="stable")]
    if len(ranked) <= n:
        return ranked.tolist()
    return ranked[np.unique(np.linspace(0, len(ranked) - 1, n).round().astype(int))].tolist()


def leaf_centroids(out: str, tokens: set[int], depth: int) -> dict[int, np.ndarray]:
    """The centroids of the given leaves, streamed from OUT/kmeans/centroids.parquet."""
    found = {}
    with open_parquet(join(out, "kmeans", "centroids.parquet")) as f:
        for batch in f.iter_batches(batch_size=1024, columns=["level", "node", "centroid"]):
            level, node = batch["level"].to_numpy(), batch["node"].to_numpy()
            for i in np.flatnonzero((level == depth) & np.isin(node, list(tokens))):
                found[int(node[i])] = np.asarray(batch["centroid"][i].as_py(), np.float32)
    return found


def video_ids(out: str, stage: str) -> list[str]:
    """The ids of OUT/<stage>/data/*.parquet, from one listing (no file is opened)."""
    pattern = join(out, stage, "data", "*.parquet")
    names = [
        m.path.rsplit("/", 1)[-1] for r in FileSystems.match([pattern]) for m in r.metadata_list
    ]
    return sorted(n for n in (n.removesuffix(".parquet") for n in names) if _is_video_id(n))


def _is_video_id(name: str) -> bool:
    """Whether a data file's stem is a safe video id (a stray file is skipped, not read)."""
    try:
        return bool(validate_video_id(name))
    except ValueError:
        return False


def read_video(out: str, stage: str, video_id: str, columns: list[str]):
    return StageStore(out, stage).read_data(video_id, columns)


def clip_tokens(out: str, video_id: str) -> dict[int, int]:
    row = read_video(out, "tokens", video_id, ["clip_index", "tokens"]).to_pylist()[0]
    return dict(zip(row["clip_index"], row["tokens"], strict=True))


def thumbnails(out: str, video_id: str, clips: set[int] | None = None) -> dict[int, bytes]:
    t = read_video(out, "frames", video_id, ["clip_index", "thumbnail"])
    if clips is not None:
        t = t.filter(pc.is_in(t["clip_index"], value_set=pa.array(sorted(clips), "int32")))
    return {r["clip_index"]: r["thumbnail"] for r in t.to_pylist()}


def build_atlas(
    out: str,
    counts: np.ndarray,
    tree: dict | None,
    n_tokens: int = 24,
    per_token: int = 8,
    max_videos: int = 200,
    seed: int = 0,
) -> Atlas:
    atlas = Atlas()
    for need in ("kmeans/centroids.parquet", "tokens/data", "features/data", "frames/data"):
        if not exists(join(out, *need.split("/"))):
            atlas.problems.append(f"atlas needs {join(out, *need.split('/'))} (missing)")
    if atlas.problems or tree is None:
        atlas.problems = atlas.problems or ["atlas needs a readable kmeans/centroids.parquet"]
        return atlas
    ids = video_ids(out, "tokens")
    sample = sorted(random.Random(seed).sample(ids, min(max_videos, len(ids))))
    if not counts.sum():  # no corpus: rank the tokens of the sampled videos instead
        counts = np.zeros(tree["vocab"], np.int64)
        for vid in sample:
            for t in _safe(atlas, clip_tokens, out, vid, default={}).values():
                counts[t] += 1
    chosen = select_tokens(counts, n_tokens)
    centroids = leaf_centroids(out, set(chosen), tree["depth"])
    heaps: dict[int, list] = {t: [] for t in centroids}
    for vid in sample:
        assigned = _safe(atlas, clip_tokens, out, vid, default={})
        mine = {c: t for c, t in assigned.items() if t in heaps}
        if not mine:
            continue
        feats = _safe(atlas, read_video, out, "features", vid, ["clip_index", "feature"])
        if feats is None:
            continue
        atlas.videos_scanned += 1
        x = feats["feature"].combine_chunks().flatten().to_numpy().reshape(feats.num_rows, -1)
        for row, clip in enumerate(feats["clip_index"].to_pylist()):
            if (t := mine.get(clip)) is not None:
                dist = float(np.linalg.norm(x[row] - centroids[t]))
                item = (-dist, vid, clip)
                (heapq.heappush if len(heaps[t]) < per_token else heapq.heappushpop)(heaps[t], item)
    wanted: dict[str, set[int]] = {}
    for items in heaps.values():
        for _, vid, clip in items:
            wanted.setdefault(vid, set()).add(clip)
    thumbs = {
        (vid, c): jpeg
        for vid, clips in sorted(wanted.items())
        for c, jpeg in _safe(atlas, thumbnails, out, vid, clips, default={}).items()
    }
    for t in chosen:
        near = sorted((-d, vid, clip) for d, vid, clip in heaps.get(t, []))
        clips = [
            {
                "video_id": vid,
                "clip_index": clip,
                "distance": float(f"{d:.4g}"),
                "jpeg": thumbs.get((vid, clip)),
            }
            for d, vid, clip in near
        ]
        atlas.tokens.append({"token": t, "count": int(counts[t]), "clips": clips})
    return atlas


def _safe(atlas: Atlas, fn, *args, default=None):
    """fn(*args), or `default` with a problem line when a file is missing or unreadable."""
    try:
        return fn(*args)
    except (*UNREADABLE, IndexError, ValueError) as e:
        if len(atlas.problems) < MAX_PROBLEMS:
            atlas.problems.append(f"skipped {args[1:]}: {describe_error(e)}")
        return default


def video_timeline(out: str, video_id: str) -> dict:
    """One video's sentences, and per clip its time, token and thumbnail; each sentence lists
    the clips overlapping its span. Missing stage outputs become `problems`."""
    page = {"video_id": video_id, "sentences": [], "clips": [], "problems": []}
    try:
        tokens = read_video(out, "tokens", video_id, ["clip_index", "start_s", "end_s", "tokens"])
        row = tokens.to_pylist()[0]
        page["clips"] = [
            {"clip_index": c, "start_s": s, "end_s": e, "token": t}
            for c, s, e, t in zip(
                row["clip_index"], row["start_s"], row["end_s"], row["tokens"], strict=True
            )
        ]
    except (*UNREADABLE, IndexError) as e:
        page["problems"].append(f"no tokens for {video_id}: {describe_error(e)}")
    try:
        jpegs = thumbnails(out, video_id)
        for clip in page["clips"]:
            clip["jpeg"] = jpegs.get(clip["clip_index"])
    except UNREADABLE as e:
        page["problems"].append(f"no thumbnails for {video_id}: {describe_error(e)}")
    try:
        cols = ["sentence_index", "start_s", "end_s", "text"]
        page["sentences"] = read_video(out, "sentences", video_id, cols).to_pylist()
    except UNREADABLE as e:
        page["problems"].append(f"no sentences for {video_id}: {describe_error(e)}")
    for s in page["sentences"]:
        s["clips"] = [
            c for c in page["clips"] if c["start_s"] < s["end_s"] and c["end_s"] > s["start_s"]
        ]
    return page
