"""corpus: visual tokens + timed sentences → the segment corpus `OUT/corpus/segments.parquet`.

Per video (paper, section 4.2):
- each ASR sentence becomes a segment whose visual tokens are those of the clips overlapping
  its span [start_s, end_s] (a zero-length sentence takes the clip containing its instant);
  a sentence that overlaps no clip takes the nearest clip when it is within one clip length
  (speech just before the first clip or in the dropped tail after the last), else it stays
  a text-only segment (`first_clip` null, no visual tokens). A clip may belong to two
  neighbouring sentences;
- stretches of clips that no sentence covers are cut into video-only segments of
  `segment_tokens` visual tokens (paper: 16); a stretch's last segment keeps its remainder.
Segments are numbered 0..n-1 in time order within a video (neighbours: index ± 1). The corpus
is rebuilt from every usable video on each run, written as one file sorted by
(video_id, segment_index), so a rerun with nothing new writes identical bytes.
"""

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from schemas import SEGMENTS, USABLE, Status
from stages.store.files import write_table
from stages.store.stage import StageStore
from stages.store.status import status_row

SEGMENT_TOKENS = 16


def _overlapping(tokens: dict, start: float, end: float) -> range:
    """Positions of the clips overlapping [start, end] (clips are half-open [s, e))."""
    starts, ends = tokens["start_s"], tokens["end_s"]
    hits = [
        i
        for i in range(len(starts))
        if (starts[i] < end and ends[i] > start) or starts[i] <= start < ends[i]
    ]
    if not hits and starts:
        gaps = [max(starts[i] - end, start - ends[i]) for i in range(len(starts))]
        nearest = min(range(len(gaps)), key=gaps.__getitem__)
        if gaps[nearest] <= ends[nearest] - starts[nearest]:
            hits = [nearest]
    return range(hits[0], hits[-1] + 1) if hits else range(0)


def _segment(tokens: dict, clips: range, start: float, end: float, sentence=None) -> dict:
    return {
        "video_id": tokens["video_id"],
        "start_s": start,
        "end_s": end,
        "text": sentence["text"] if sentence else None,
        "text_token_ids": sentence["text_token_ids"] if sentence else None,
        "sentence_index": sentence["sentence_index"] if sentence else None,
        "first_clip": tokens["clip_index"][clips.start] if clips else None,
        "visual_tokens": tokens["tokens"][clips.start : clips.stop],
    }


def video_segments(
    tokens: dict,
    sentences: list[dict],
    split: str | None,
    segment_tokens: int = SEGMENT_TOKENS,
) -> list[dict]:
    """SEGMENTS rows for one video: its TOKENS row and its SENTENCES rows (maybe none)."""
    segments, covered = [], set()
    for s in sorted(sentences, key=lambda s: s["sentence_index"]):
        clips = _overlapping(tokens, s["start_s"], s["end_s"])
        covered.update(clips)
        segments.append(_segment(tokens, clips, s["start_s"], s["end_s"], s))
    run: list[int] = []
    for i in [*range(len(tokens["tokens"])), None]:  # None flushes the last stretch
        if i is not None and i not in covered:
            run.append(i)
            if len(run) < segment_tokens:
                continue
        if run:
            clips = range(run[0], run[-1] + 1)
            segments.append(_segment(tokens, clips, tokens["start_s"][run[0]],
                                     tokens["end_s"][run[-1]]))  # fmt: skip
            run = []
    segments.sort(key=lambda s: (s["start_s"], s["end_s"], s["text"] is None))
    for index, segment in enumerate(segments):
        segment.update(segment_index=index, num_segments=len(segments), split=split)
    return segments


class SegmentVideoFn(beam.DoFn):
    """TOKENS row → its SEGMENTS rows (main) and a tagged `status` row."""

    def __init__(self, out: str, segment_tokens: int):
        self._out, self._n = out, segment_tokens

    def setup(self):
        self._sentences = StageStore(self._out, "sentences")

    def process(self, tokens: dict, sentences_status: dict, splits: dict):
        vid = tokens["video_id"]
        row = sentences_status.get(vid)
        with_text = row is not None and row["status"] in USABLE
        sentences = self._sentences.read_data(vid).to_pylist() if with_text else []
        segments = video_segments(tokens, sentences, splits.get(vid), self._n)
        yield from segments
        message = None if with_text else "video only: no sentences"
        yield beam.pvalue.TaggedOutput(
            "status", status_row(vid, "corpus", Status.OK, message, len(segments))
        )


def upstream_status(tokens_status: dict) -> dict:
    """The corpus status of a video whose tokens are missing."""
    message = f"tokens: {tokens_status['status']}"
    return status_row(tokens_status["video_id"], "corpus", Status.UPSTREAM_FAILED, message)


def _write_segments(rows: list[dict], path: str) -> int:
    rows.sort(key=lambda r: (r["video_id"], r["segment_index"]))
    write_table(pa.Table.from_pylist(rows, schema=SEGMENTS), path)
    return len(rows)


class BuildCorpus(beam.PTransform):
    """TOKENS rows (+ sentences status rows, + video records for the split) →
    `OUT/corpus/segments.parquet`. Returns the per-video `corpus` status rows of the videos
    that had tokens."""

    def __init__(self, out: str, videos, sentences_status, segment_tokens: int = SEGMENT_TOKENS):
        super().__init__()
        self._out, self._videos, self._sentences, self._n = (
            out, videos, sentences_status, segment_tokens)  # fmt: skip
        self._path = FileSystems.join(StageStore(out, "corpus").root, "segments.parquet")

    def expand(self, tokens):
        splits = self._videos | "Splits" >> beam.Map(lambda v: (v["video_id"], v["split"]))
        sentences = self._sentences | "ById" >> beam.Map(lambda r: (r["video_id"], r))
        seg = tokens | "Segment" >> beam.ParDo(
            SegmentVideoFn(self._out, self._n),
            sentences_status=beam.pvalue.AsDict(sentences),
            splits=beam.pvalue.AsDict(splits),
        ).with_outputs("status", main="segments")
        _ = (
            seg.segments
            | "Gather" >> beam.combiners.ToList()
            | "Write" >> beam.Map(_write_segments, self._path)
        )
        return seg.status
