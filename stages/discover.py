"""discover: a source → video records (schemas.VIDEOS), written to OUT/discover/.

Sources:
- the embedded sample world (stages.sample_world): rendered into OUT/sample/ on first use;
- a local directory of video files (mp4, mkv, mov, webm; recursive), possibly on gs://.

Local ids are derived from file names: the stem with every character outside
[A-Za-z0-9_-] replaced by "_" (at most 64 characters). When that changed the stem, or when
two files share an id (`a.mp4` and `a.mkv`), each such id gets "-" + 8 hex digits of the
SHA-1 of the file's relative path, so ids are unique, stable, and safe as path components.
"""

import hashlib
import re
from collections import Counter
from pathlib import PurePosixPath

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from schemas import STATUS, VIDEOS, Status
from stages.store import StageStore, status_row, validate_video_id, write_table

VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".mov", ".webm"})


def list_video_files(source_dir: str) -> list[str]:
    """Every video file under `source_dir` (recursive), sorted."""
    pattern = FileSystems.join(source_dir.rstrip("/"), "**")
    paths = [m.path for r in FileSystems.match([pattern]) for m in r.metadata_list]
    return sorted(p for p in paths if PurePosixPath(p).suffix.lower() in VIDEO_EXTENSIONS)


def local_video_ids(rel_paths: list[str]) -> list[str]:
    """Safe, unique ids for files given by their paths relative to the source dir."""
    stems = [PurePosixPath(p).stem for p in rel_paths]
    bases = [re.sub(r"[^A-Za-z0-9_-]+", "_", s)[:64].strip("_") or "video" for s in stems]
    clashes = Counter(bases)
    ids = []
    for path, stem, base in zip(rel_paths, stems, bases, strict=True):
        if base != stem or clashes[base] > 1:
            base = f"{base}-{hashlib.sha1(path.encode()).hexdigest()[:8]}"
        ids.append(validate_video_id(base))
    return ids


def local_records(source_dir: str) -> list[dict]:
    paths = list_video_files(source_dir)
    root = source_dir.rstrip("/") + "/"
    rel = [p[len(root) :] if p.startswith(root) else PurePosixPath(p).name for p in paths]
    return [
        {
            "video_id": vid,
            "source": "local",
            "uri": path,
            "title": PurePosixPath(r).stem,
            "duration_s": None,
            "category": None,
            "split": None,
            "transcript_uri": None,
        }
        for vid, path, r in zip(local_video_ids(rel), paths, rel, strict=True)
    ]


def _write_videos(records: list[dict], out: str) -> None:
    records = sorted(records, key=lambda r: r["video_id"])
    store = StageStore(out, "discover")
    write_table(
        pa.Table.from_pylist(records, schema=VIDEOS), FileSystems.join(store.root, "videos.parquet")
    )
    rows = [status_row(r["video_id"], "discover", Status.OK, items=1) for r in records]
    write_table(pa.Table.from_pylist(rows, schema=STATUS), store.status_path)


class Discover(beam.PTransform):
    """→ video records; writes OUT/discover/videos.parquet and its status table."""

    def __init__(self, out: str, source_dir: str | None, world_cfg=None):
        super().__init__()
        self._out, self._source_dir, self._world_cfg = out, source_dir, world_cfg

    def expand(self, pbegin):
        if self._source_dir:
            records = local_records(self._source_dir)
            if not records:
                raise ValueError(
                    f"no video files ({', '.join(sorted(VIDEO_EXTENSIONS))}) "
                    f"under {self._source_dir}"
                )
            videos = pbegin | "Local" >> beam.Create(records)
        else:
            from stages import sample_world

            root = FileSystems.join(self._out, "sample")
            sample_world.write_ground_truth(self._world_cfg, root)
            videos = pbegin | "SampleWorld" >> sample_world.GenerateSampleWorld(
                root, self._world_cfg
            )
        _ = (
            videos
            | "Gather" >> beam.combiners.ToList()
            | "Write" >> beam.Map(_write_videos, self._out)
        )
        return videos
