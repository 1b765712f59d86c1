"""Status rows: one per video per stage (schemas.STATUS), their merge into the stage's
hash-partitioned parts `OUT/<stage>/status/part-SSSSS-of-00016.parquet`, and the one-screen
summary of a stage."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from schemas import STATUS, USABLE, Status, layout
from stages.store.files import match, read_table, write_table

if TYPE_CHECKING:
    from stages.store.stage import StageStore

log = logging.getLogger(__name__)

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
        Status.CONSENT_REQUIRED,
        Status.PAGE_UNPARSABLE,
        Status.INTERNAL_ERROR,  # a bug or an unanticipated input: retried once it is fixed
    }
)


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


def merge_status(previous: pa.Table | None, rows: Iterable[dict]) -> pa.Table:
    """`previous` rows overridden by `rows` (newest wins), one per video, sorted by id."""
    merged = {r["video_id"]: r for r in (previous.to_pylist() if previous is not None else [])}
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
    # Unexpected exceptions first: each is a bug or an input no rule anticipated.
    ranked = sorted(failed.most_common(), key=lambda sn: sn[0] != Status.INTERNAL_ERROR)
    for status, n in ranked:
        example = next(r for r in rows if r["status"] == status)
        lines.append(
            f"    {status:<16} {n:>6}  e.g. {example['video_id']}: "
            f"{(example['error_message'] or '')[:80]}"
        )
    return "\n".join(lines)


def status_counts(out: str, stage: str, video_ids=None) -> tuple[str, int, int] | None:
    """(one-screen summary, videos, usable) of a stage's status parts (None: it has none), read
    part by part (a part holds 1/TABLE_SHARDS of the videos); only rows of `video_ids` if given."""
    paths = match(layout.status_glob(out, stage))
    if not paths:
        return None
    rows = []
    for path in paths:
        part = read_table(path, ["video_id", "status", "error_message", "items"])
        rows += [r for r in part.to_pylist() if video_ids is None or r["video_id"] in video_ids]
    return summarize(stage, rows), len(rows), sum(r["status"] in USABLE for r in rows)


class _WritePartFn(beam.DoFn):
    """(part, its rows of this run) → the part rewritten: previous rows merged, newest wins
    (or replaced, for tables that are rebuilt each run)."""

    def __init__(self, path_of, schema: pa.Schema, replace: bool):
        self._path_of, self._schema, self._replace = path_of, schema, replace

    def process(self, item):
        shard, rows = item
        rows = [r for r in rows if r is not None]  # None: the marker of a part to rewrite
        path = self._path_of(shard)
        if self._replace:
            rows.sort(key=lambda r: r["video_id"])
            table = pa.Table.from_pylist(rows, schema=self._schema)
        else:
            previous = read_table(path) if FileSystems.exists(path) else None
            table = merge_status(previous, rows)
        write_table(table, path)
        yield from rows  # after the write: what consumes them sees the part on disk


class WriteParts(beam.PTransform):
    """Rows with a `video_id` → the hash-partitioned table `path_of(part)`, part in
    0..TABLE_SHARDS-1 (schemas.layout): one worker per part, never one for the whole table.
    `replace`: every part is rewritten from this run's rows alone (parts left empty too);
    else this run's rows are merged into the parts they fall in. Returns the rows once written."""

    def __init__(self, path_of, schema: pa.Schema = STATUS, replace: bool = False):
        super().__init__()
        self._path_of, self._schema, self._replace = path_of, schema, replace

    def expand(self, rows):
        n = layout.TABLE_SHARDS
        keyed = rows | "ByPart" >> beam.Map(lambda r: (layout.video_shard(r["video_id"], n), r))
        # Markers: every part is rewritten when replacing; else part 0 at least, so a stage
        # that ran on no video still leaves a (maybe empty) table saying it ran.
        markers = [(i, None) for i in range(n if self._replace else 1)]
        every = rows.pipeline | "EveryPart" >> beam.Create(markers)
        keyed = (keyed, every) | "WithMarkers" >> beam.Flatten()
        return (
            keyed
            | "GroupParts" >> beam.GroupByKey()
            | "WritePart" >> beam.ParDo(_WritePartFn(self._path_of, self._schema, self._replace))
        )


class WriteStatus(beam.PTransform):
    """Merges this run's status rows into `OUT/<stage>/status/part-*.parquet` (one row per video,
    sorted by id within a part, newest row wins) and passes the rows on."""

    def __init__(self, store: StageStore, replace: bool = False):
        super().__init__()
        self._store, self._replace = store, replace

    def expand(self, rows):
        return rows | "WriteParts" >> WriteParts(self._store.status_part, STATUS, self._replace)
