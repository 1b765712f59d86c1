"""Where one stage's outputs live under OUT, and which videos it has already finished.

Layout of one stage `S` (paths from `schemas.layout`):
    OUT/S/data/<video_id>.parquet   one file per finished video (per-video stages)
    OUT/S/status.parquet            one row per video that ever entered S (schemas.STATUS)

Per-video files are deterministic in content and name, so a Beam retry that rewrites one writes
the same bytes. Each data file records the fingerprint of the configuration that produced it; a
file whose fingerprint differs from the current run's is not "done" and is recomputed.
"""

from dataclasses import dataclass

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from schemas import USABLE, Status, layout
from stages.store.files import (
    read_fingerprint,
    read_metadata,
    read_table,
    with_fingerprint,
    write_table,
)
from stages.store.status import RETRYABLE, status_row


@dataclass(frozen=True)
class StageStore:
    """The on-disk outputs of one stage under `out`."""

    out: str
    stage: str

    @property
    def root(self) -> str:
        return layout.stage_dir(self.out, self.stage)

    @property
    def status_path(self) -> str:
        return layout.status_path(self.out, self.stage)

    def data_path(self, video_id: str) -> str:
        return layout.data_path(self.out, self.stage, video_id)

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


class CarryStatusFn(beam.DoFn):
    """A finished video of a fused step (frames+features: the features file exists) → its row
    in `store`'s stage (frames): the previous row, or, when none was recorded (a retried
    bundle wrote the files, then its outputs were discarded), `ok` with the data file's rows."""

    def __init__(self, store: StageStore):
        self._store = store

    def setup(self):
        self._previous = self._store.load_status()

    def process(self, done_row: dict):
        vid = done_row["video_id"]
        prev = self._previous.get(vid)
        if prev is not None:
            yield prev
        elif FileSystems.exists(self._store.data_path(vid)):
            n = read_metadata(self._store.data_path(vid)).num_rows
            yield status_row(vid, self._store.stage, Status.OK, items=n)
