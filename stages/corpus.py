"""corpus: visual-token rows → the segment corpus `OUT/corpus/segments.parquet`.

Input elements: TOKENS rows (one per video). Side input: video id → split.
Without ASR, a video is cut into consecutive segments of `segment_tokens` visual tokens
(paper: 16); the last segment of a video keeps its remainder (1..15 tokens) rather than
dropping clips. Sentence-aligned segments replace these where a transcript exists.
The corpus is rebuilt from every usable video on each run, written as one file sorted by
(video_id, segment_index), so a rerun with nothing new writes identical bytes.
"""

import math

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from schemas import SEGMENTS, USABLE, Status
from stages.store import StageStore, status_row, write_table

SEGMENT_TOKENS = 16


def video_segments(tokens: dict, split: str | None, segment_tokens: int = SEGMENT_TOKENS):
    """Yield SEGMENTS rows for one video's TOKENS row, in time order."""
    n = len(tokens["tokens"])
    for i, lo in enumerate(range(0, n, segment_tokens)):
        hi = min(lo + segment_tokens, n)
        yield {
            "video_id": tokens["video_id"],
            "segment_index": i,
            "start_s": tokens["start_s"][lo],
            "end_s": tokens["end_s"][hi - 1],
            "text": None,
            "text_token_ids": None,
            "first_clip": tokens["clip_index"][lo],
            "visual_tokens": tokens["tokens"][lo:hi],
            "split": split,
        }


def corpus_status(tokens_status: dict, segment_tokens: int = SEGMENT_TOKENS) -> dict:
    vid = tokens_status["video_id"]
    if tokens_status["status"] not in USABLE:
        return status_row(
            vid, "corpus", Status.UPSTREAM_FAILED, f"tokens: {tokens_status['status']}"
        )
    return status_row(
        vid, "corpus", Status.OK, None, math.ceil(tokens_status["items"] / segment_tokens)
    )


def _write_segments(rows: list[dict], path: str) -> int:
    rows.sort(key=lambda r: (r["video_id"], r["segment_index"]))
    write_table(pa.Table.from_pylist(rows, schema=SEGMENTS), path)
    return len(rows)


class BuildCorpus(beam.PTransform):
    """TOKENS rows (+ video records for the split) → `OUT/corpus/segments.parquet`.

    Returns the number of segments written (a single-element PCollection).
    """

    def __init__(self, out: str, videos, segment_tokens: int = SEGMENT_TOKENS):
        super().__init__()
        self._path = FileSystems.join(StageStore(out, "corpus").root, "segments.parquet")
        self._videos, self._n = videos, segment_tokens

    def expand(self, tokens):
        splits = self._videos | "Splits" >> beam.Map(lambda v: (v["video_id"], v["split"]))
        return (
            tokens
            | "Segment"
            >> beam.FlatMap(
                lambda t, s: video_segments(t, s.get(t["video_id"]), self._n),
                s=beam.pvalue.AsDict(splits),
            )
            | "Gather" >> beam.combiners.ToList()
            | "Write" >> beam.Map(_write_segments, self._path)
        )
