"""Reading the sharded tables of an OUT root in tests (local paths)."""

import glob

import pyarrow as pa
import pyarrow.parquet as pq

from schemas import SEGMENTS, STATUS, VIDEOS, layout


def _concat(paths: list[str], schema: pa.Schema) -> pa.Table:
    tables = [pq.read_table(p) for p in paths]
    return pa.concat_tables(tables) if tables else schema.empty_table()


def status_table(out, stage: str) -> pa.Table:
    """Every status part of `stage`, rows sorted by video id."""
    table = _concat(sorted(glob.glob(layout.status_glob(str(out), stage))), STATUS)
    return table.sort_by("video_id")


def videos_table(out) -> pa.Table:
    return _concat(sorted(glob.glob(layout.videos_glob(str(out)))), VIDEOS).sort_by("video_id")


def corpus_files(out) -> list[str]:
    return sorted(glob.glob(layout.corpus_glob(str(out))))


def corpus_table(out) -> pa.Table:
    """Every corpus shard, in the corpus's documented global order: (video_id, segment_index)."""
    table = _concat(corpus_files(out), SEGMENTS)
    return table.sort_by([("video_id", "ascending"), ("segment_index", "ascending")])
