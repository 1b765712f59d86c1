"""Where one stage's outputs live under OUT, and which videos it has already finished.

Layout of one stage `S` (paths from `schemas.layout`):
    OUT/S/data/<video_id>.parquet             one file per finished video (per-video stages)
    OUT/S/status/part-SSSSS-of-00016.parquet  one row per video that ever entered S
                                              (schemas.STATUS), hash-partitioned by video id

A stage's previous status reaches its workers through a join inside the pipeline
(`WithPrevious`), never as a whole-table dict on the launcher or on one worker.

Per-video files are deterministic in content and name, so a Beam retry that rewrites one writes
the same bytes. Each data file records the fingerprint of the configuration that produced it; a
file whose fingerprint differs from the current run's is not "done" and is recomputed.
"""

from dataclasses import dataclass

import apache_beam as beam
import pyarrow as pa
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from schemas import STATUS, USABLE, Status, layout
from stages.store.files import (
    match,
    read_fingerprint,
    read_metadata,
    read_parts,
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
    def status_glob(self) -> str:
        return layout.status_glob(self.out, self.stage)

    def status_part(self, shard: int) -> str:
        return layout.status_path(self.out, self.stage, shard)

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

    def has_status(self) -> bool:
        return bool(match(self.status_glob))

    def load_status(self) -> dict[str, dict]:
        """Every status row by video id: for tests and small tools; pipelines join instead."""
        return {r["video_id"]: r for r in read_parts(self.status_glob, STATUS).to_pylist()}

    def sweep_temp_files(self) -> int:
        """Delete `.tmp-*` leftovers of killed runs; returns how many were removed."""
        if not FileSystems.exists(self.root):
            return 0
        pattern = FileSystems.join(self.root, "**.tmp-*")
        found = [m.path for r in FileSystems.match([pattern]) for m in r.metadata_list]
        if found:
            FileSystems.delete(found)
        return len(found)


class _ReadRowsFn(beam.DoFn):
    def process(self, readable: fileio.ReadableFile):
        import pyarrow.parquet as pq

        with readable.open(compression_type=CompressionTypes.UNCOMPRESSED) as f:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=8192):
                yield from batch.to_pylist()


class ReadParts(beam.PTransform):
    """PBegin → the rows of every Parquet file matching `pattern` (none: no rows), listed and
    read by the workers: the launcher holds nothing but the pattern."""

    def __init__(self, pattern: str):
        super().__init__()
        self._pattern = pattern

    def expand(self, pbegin):
        return (
            pbegin
            | "Pattern" >> beam.Create([self._pattern])
            | "Match" >> fileio.MatchAll(fileio.EmptyMatchTreatment.ALLOW)
            | "Spread" >> beam.Reshuffle()
            | "Open" >> fileio.ReadMatches()
            | "Rows" >> beam.ParDo(_ReadRowsFn())
        )


def _pair(item):
    _, grouped = item
    previous = list(grouped["previous"])
    for element in grouped["element"]:
        yield element, previous[0] if previous else None


class WithPrevious(beam.PTransform):
    """Elements with a `video_id` → (element, its last status row in `store` or None), joined
    by video id inside the pipeline. Videos of earlier runs that are not in this run's
    elements are dropped."""

    def __init__(self, store: StageStore):
        super().__init__()
        self._store = store

    def expand(self, elements):
        previous = (
            elements.pipeline
            | "ReadStatus" >> ReadParts(self._store.status_glob)
            | "KeyStatus" >> beam.Map(lambda r: (r["video_id"], r))
        )
        keyed = elements | "Key" >> beam.Map(lambda e: (e["video_id"], e))
        return (
            {"element": keyed, "previous": previous}
            | "Join" >> beam.CoGroupByKey()
            | "Pair" >> beam.FlatMap(_pair)
        )


class PartitionFinishedFn(beam.DoFn):
    """(video record, its previous status row) → the record on the main output if the stage
    must process it, else its carried-over status row on the `done` output.

    A video is finished when its data file exists with the current fingerprint, or when its
    last status is a failure not in `retry` (a corrupt file stays corrupt). Compute stages retry
    every RETRYABLE failure; stages that talk to YouTube retry them only when asked
    (`--retry_failed`), so a rerun never hammers a source that refused us.
    """

    def __init__(self, store: StageStore, fp: str, force: bool, retry=RETRYABLE):
        self._store, self._fp, self._force, self._retry = store, fp, force, frozenset(retry)

    def process(self, item: tuple[dict, dict | None]):
        video, prev = item
        vid = video["video_id"]
        if not self._force:
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
    """(finished video of a fused step (frames+features: the features file exists), its row in
    `store`'s stage (frames) or None), joined by WithPrevious → that row, or, when none was
    recorded (a retried bundle wrote the files, then its outputs were discarded), `ok` with the
    data file's rows."""

    def __init__(self, store: StageStore):
        self._store = store

    def process(self, item: tuple[dict, dict | None]):
        done_row, prev = item
        vid = done_row["video_id"]
        if prev is not None:
            yield prev
        elif FileSystems.exists(self._store.data_path(vid)):
            n = read_metadata(self._store.data_path(vid)).num_rows
            yield status_row(vid, self._store.stage, Status.OK, items=n)


class SkipFinished(beam.PTransform):
    """video records → `todo` (to process) and `done` (carried-over status rows) outputs:
    WithPrevious, then PartitionFinishedFn."""

    def __init__(self, store: StageStore, fp: str, force: bool, retry=RETRYABLE):
        super().__init__()
        self._fn = PartitionFinishedFn(store, fp, force, retry)
        self._store = store

    def expand(self, videos):
        return (
            videos
            | "WithPrevious" >> WithPrevious(self._store)
            | "Partition" >> beam.ParDo(self._fn).with_outputs("done", main="todo")
        )
