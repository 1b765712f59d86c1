"""Where stage outputs live, and how they are written so reruns are exact.

Every path goes through Beam's `FileSystems`, so `OUT` may be a local directory or `gs://...`.

Layout of one stage `S` under `OUT`:
    OUT/S/data/<video_id>.parquet   one file per finished video (per-video stages)
    OUT/S/status.parquet            one row per video that ever entered S (schemas.STATUS)

Guarantees:
- A file is written under a temporary name and renamed into place, so a final name always
  means a complete file; a killed run leaves at most a `.tmp-*` file, swept on the next run.
- Per-video files are deterministic in content and name, so a Beam retry that rewrites one
  writes the same bytes: no duplicates, whatever the runner replays.
- Each data file records the fingerprint of the configuration that produced it; a file whose
  fingerprint differs from the current run's is not "done" and is recomputed.
"""

import hashlib
import io
import json
import logging
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import BinaryIO

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from schemas import STATUS, USABLE, Status

log = logging.getLogger(__name__)

FINGERPRINT_KEY = b"videobert.fingerprint"
_VIDEO_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,95}$")
# Failures that may succeed on a later run (the others are properties of the file itself, or
# of the video: `unavailable` = removed / 404, which another attempt would only ask again).
RETRYABLE = frozenset(
    {
        Status.DECODE_TIMEOUT,
        Status.UPSTREAM_FAILED,
        Status.SERVER_ERROR,
        Status.BLOCKED,
        Status.RATE_LIMITED,
        Status.NETWORK_TIMEOUT,
    }
)


def is_local(path: str) -> bool:
    """Whether `path` is on this machine's filesystem (no `scheme://`, e.g. not gs://)."""
    return "://" not in path


def validate_video_id(video_id: str) -> str:
    """Return `video_id` if it is safe as a single path component, else raise ValueError."""
    if not _VIDEO_ID.match(video_id or "") or ".." in video_id:
        raise ValueError(f"unsafe video id {video_id!r}: must match {_VIDEO_ID.pattern}")
    return video_id


def fingerprint(config: object) -> str:
    """A short stable hash of a (dataclass/dict) configuration."""
    blob = json.dumps(config, sort_keys=True, default=lambda o: getattr(o, "__dict__", str(o)))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def status_row(
    video_id: str,
    stage: str,
    status: Status,
    error_message: str | None = None,
    items: int = 0,
    seconds: float = 0.0,
) -> dict:
    return {
        "video_id": video_id,
        "stage": stage,
        "status": str(status),
        "error_message": error_message,
        "items": int(items),
        "seconds": round(float(seconds), 3),
    }


def atomic_write(path: str, write: Callable[[BinaryIO], object]) -> None:
    """Create `path` (local or gs://) through FileSystems atomically: `write` fills a temp file
    beside it, which is then renamed over `path`; on any failure the temp file is removed."""
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    parent = path.rsplit("/", 1)[0]
    if not FileSystems.exists(parent):
        try:
            FileSystems.mkdirs(parent)
        except OSError:  # BeamIOError too: another worker created it in between
            if not FileSystems.exists(parent):
                raise
    try:
        with FileSystems.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            write(f)
        if FileSystems.exists(path):
            FileSystems.delete([path])
        FileSystems.rename([tmp], [path])
    except BaseException:
        if FileSystems.exists(tmp):
            FileSystems.delete([tmp])
        raise


def write_table(table: pa.Table, path: str) -> None:
    """Write `table` as zstd Parquet to `path` atomically (temp name, then rename)."""
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    atomic_write(path, lambda f: f.write(buf.getvalue()))


def read_table(path: str, columns: list[str] | None = None) -> pa.Table:
    with FileSystems.open(path) as f:
        return pq.read_table(io.BytesIO(f.read()), columns=columns)


def read_metadata(path: str) -> pq.FileMetaData:
    """The Parquet footer only (row count, schema metadata), not the data."""
    with FileSystems.open(path, compression_type="uncompressed") as f:
        return pq.read_metadata(f)


def read_fingerprint(path: str) -> str | None:
    meta = read_metadata(path).schema.to_arrow_schema().metadata or {}
    value = meta.get(FINGERPRINT_KEY)
    return value.decode() if value else None


def with_fingerprint(schema: pa.Schema, fp: str) -> pa.Schema:
    return schema.with_metadata({**(schema.metadata or {}), FINGERPRINT_KEY: fp.encode()})


@dataclass(frozen=True)
class StageStore:
    """The on-disk outputs of one stage under `out`."""

    out: str
    stage: str

    @property
    def root(self) -> str:
        return FileSystems.join(self.out, self.stage)

    @property
    def status_path(self) -> str:
        return FileSystems.join(self.root, "status.parquet")

    def data_path(self, video_id: str) -> str:
        return FileSystems.join(self.root, "data", f"{validate_video_id(video_id)}.parquet")

    def write_data(self, video_id: str, table: pa.Table, fp: str) -> None:
        write_table(
            table.replace_schema_metadata(with_fingerprint(table.schema, fp).metadata),
            self.data_path(video_id),
        )

    def read_data(self, video_id: str, columns: list[str] | None = None) -> pa.Table:
        return read_table(self.data_path(video_id), columns)

    def is_done(self, video_id: str, fp: str) -> bool:
        path = self.data_path(video_id)
        return FileSystems.exists(path) and read_fingerprint(path) == fp

    def load_status(self) -> dict[str, dict]:
        if not FileSystems.exists(self.status_path):
            return {}
        return {r["video_id"]: r for r in read_table(self.status_path).to_pylist()}

    def sweep_temp_files(self) -> int:
        """Delete `.tmp-*` leftovers of killed runs; returns how many were removed."""
        if not FileSystems.exists(self.root):
            return 0
        pattern = FileSystems.join(self.root, "**.tmp-*")
        found = [m.path for r in FileSystems.match([pattern]) for m in r.metadata_list]
        if found:
            FileSystems.delete(found)
        return len(found)


class PartitionFinishedFn(beam.DoFn):
    """Routes a video record to the main output if the stage must process it, else emits
    its carried-over status row on the `done` output.

    A video is finished when its data file exists with the current fingerprint, or when its
    last status is a failure not in `retry` (a corrupt file stays corrupt). Compute stages retry
    every RETRYABLE failure; stages that talk to YouTube retry them only when asked
    (`--retry_failed`), so a rerun never hammers a source that refused us.
    """

    def __init__(self, store: StageStore, fp: str, force: bool, retry=RETRYABLE):
        self._store, self._fp, self._force, self._retry = store, fp, force, frozenset(retry)

    def setup(self):
        self._previous = {} if self._force else self._store.load_status()

    def process(self, video: dict):
        vid = video["video_id"]
        if not self._force:
            prev = self._previous.get(vid)
            if self._store.is_done(vid, self._fp):
                if prev is None or prev["status"] not in USABLE:
                    n = read_metadata(self._store.data_path(vid)).num_rows
                    prev = status_row(vid, self._store.stage, Status.OK, items=n)
                yield beam.pvalue.TaggedOutput("done", prev)
                return
            if prev is not None and prev["status"] not in USABLE | self._retry:
                yield beam.pvalue.TaggedOutput("done", prev)
                return
        yield video


def merge_status(previous: dict[str, dict], rows: Iterable[dict]) -> pa.Table:
    merged = dict(previous)
    merged.update((r["video_id"], r) for r in rows)
    return pa.Table.from_pylist([merged[k] for k in sorted(merged)], schema=STATUS)


def summarize(stage: str, rows: list[dict], seconds: float | None = None) -> str:
    """A one-screen summary of a stage's status rows."""
    counts = Counter(r["status"] for r in rows)
    ok = sum(counts[s] for s in USABLE)
    items = sum(r["items"] for r in rows)
    lines = [
        f"[{stage}] videos: {len(rows)}  usable: {ok}  items: {items}"
        + (f"  wall: {seconds:.1f}s" if seconds is not None else "")
    ]
    failed = Counter({s: n for s, n in counts.items() if s != Status.OK})
    for status, n in failed.most_common():
        example = next(r for r in rows if r["status"] == status)
        lines.append(
            f"    {status:<16} {n:>6}  e.g. {example['video_id']}: "
            f"{(example['error_message'] or '')[:80]}"
        )
    return "\n".join(lines)


class _WriteStatusFn(beam.DoFn):
    def __init__(self, store: StageStore):
        self._store = store

    def process(self, rows: list[dict]):
        table = merge_status(self._store.load_status(), rows)
        write_table(table, self._store.status_path)
        log.info("%s", summarize(self._store.stage, rows))
        yield from rows


class WriteStatus(beam.PTransform):
    """Merges this run's status rows into `OUT/<stage>/status.parquet` (one row per video,
    sorted by id, newest row wins) and passes the rows on."""

    def __init__(self, store: StageStore):
        super().__init__()
        self._store = store

    def expand(self, rows):
        return (
            rows
            | "Gather" >> beam.combiners.ToList()
            | "Write" >> beam.ParDo(_WriteStatusFn(self._store))
        )
