"""Status rows: one per video per stage (schemas.STATUS), their merge into
`OUT/<stage>/status.parquet`, and the one-screen summary of a stage."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

import apache_beam as beam
import pyarrow as pa

from schemas import STATUS, USABLE, Status
from stages.store.files import write_table

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
    # Unexpected exceptions first: each is a bug or an input no rule anticipated.
    ranked = sorted(failed.most_common(), key=lambda sn: sn[0] != Status.INTERNAL_ERROR)
    for status, n in ranked:
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
