"""corpus: visual tokens + timed sentences → the segment corpus
`OUT/corpus/segments-SSSSS-of-NNNNN.parquet`.

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
is rebuilt from every usable video on each run, cut into `schemas.layout.corpus_shards(n)`
shards (about MAX_SHARD_SEGMENTS rows each): every segment of a video sits in the shard
`video_shard(video_id, n)`, rows sorted by (video_id, segment_index) within a shard. Each shard
is grouped, sorted and written by one worker that holds only that shard (as Arrow columns), so
no process ever holds the corpus; a rerun with nothing new writes identical bytes. Shards of an
earlier run with another shard count are deleted once every new shard is written.
"""

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from schemas import SEGMENTS, USABLE, Status, layout
from stages.store.files import match, write_table
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
    """(TOKENS row, its sentences status row, its split) → its SEGMENTS rows (main) and a
    tagged `status` row."""

    def __init__(self, out: str, segment_tokens: int):
        self._out, self._n = out, segment_tokens

    def setup(self):
        self._sentences = StageStore(self._out, "sentences")

    def process(self, item: tuple[dict, dict | None, str | None]):
        tokens, row, split = item
        vid = tokens["video_id"]
        with_text = row is not None and row["status"] in USABLE
        sentences = self._sentences.read_data(vid).to_pylist() if with_text else []
        segments = video_segments(tokens, sentences, split, self._n)
        yield from segments
        message = None if with_text else "video only: no sentences"
        yield beam.pvalue.TaggedOutput(
            "status", status_row(vid, "corpus", Status.OK, message, len(segments))
        )


def upstream_status(tokens_status: dict) -> dict:
    """The corpus status of a video whose tokens are missing."""
    message = f"tokens: {tokens_status['status']}"
    return status_row(tokens_status["video_id"], "corpus", Status.UPSTREAM_FAILED, message)


def _joined(item):
    """(video id, {tokens, sentences, split}) → (TOKENS row, sentences row, split)."""
    _, joined = item
    sentences, splits = list(joined["sentences"]), list(joined["split"])
    for tokens in joined["tokens"]:
        yield tokens, sentences[0] if sentences else None, splits[0] if splits else None


class _WriteShardFn(beam.DoFn):
    """(shard, its segments) → the shard file, rows sorted by (video_id, segment_index); the
    rows become Arrow columns `batch` at a time (never a list of the whole shard)."""

    def __init__(self, out: str, batch: int = 8192):
        self._out, self._batch = out, batch

    def process(self, item, n: int):
        shard, rows = item
        batches, pending = [], []
        for row in rows:
            if row is None:  # the marker that makes an empty shard exist
                continue
            pending.append(row)
            if len(pending) == self._batch:
                batches.append(pa.Table.from_pylist(pending, schema=SEGMENTS))
                pending = []
        batches.append(pa.Table.from_pylist(pending, schema=SEGMENTS))
        table = pa.concat_tables(batches).sort_by(
            [("video_id", "ascending"), ("segment_index", "ascending")]
        )
        path = layout.corpus_path(self._out, shard, n)
        write_table(table.combine_chunks(), path)
        yield path


def _delete_stale_shards(written: list[str], out: str) -> None:
    """Remove corpus files of earlier runs (another shard count, the one-file layout)."""
    keep = set(written)
    stale = [p for p in match(layout.corpus_glob(out)) if p not in keep]
    legacy = layout.join(layout.corpus_dir(out), "segments.parquet")
    stale += [legacy] if FileSystems.exists(legacy) else []
    if stale:
        FileSystems.delete(stale)


class BuildCorpus(beam.PTransform):
    """TOKENS rows (+ sentences status rows, + video records for the split) → the corpus
    shards. Returns the per-video `corpus` status rows of the videos that had tokens."""

    def __init__(self, out: str, videos, sentences_status, segment_tokens: int = SEGMENT_TOKENS):
        super().__init__()
        self._out, self._videos, self._sentences, self._n = (
            out, videos, sentences_status, segment_tokens)  # fmt: skip

    def expand(self, tokens):
        joined = {
            "tokens": tokens | "KeyTokens" >> beam.Map(lambda r: (r["video_id"], r)),
            "sentences": self._sentences | "KeySentences" >> beam.Map(lambda r: (r["video_id"], r)),
            "split": self._videos | "Splits" >> beam.Map(lambda v: (v["video_id"], v["split"])),
        } | "Join" >> beam.CoGroupByKey()
        seg = (
            joined
            | "Pair" >> beam.FlatMap(_joined)
            | "Segment"
            >> beam.ParDo(SegmentVideoFn(self._out, self._n)).with_outputs(
                "status", main="segments"
            )
        )
        n = (
            seg.segments
            | "Count" >> beam.combiners.Count.Globally()
            | "Shards" >> beam.Map(layout.corpus_shards)
        )
        markers = n | "EveryShard" >> beam.FlatMap(lambda k: [(i, None) for i in range(k)])
        keyed = seg.segments | "ByShard" >> beam.Map(
            lambda r, k: (layout.video_shard(r["video_id"], k), r), k=beam.pvalue.AsSingleton(n)
        )
        _ = (
            (keyed, markers)
            | "WithEmpty" >> beam.Flatten()
            | "GroupShards" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(_WriteShardFn(self._out), n=beam.pvalue.AsSingleton(n))
            | "Written" >> beam.combiners.ToList()  # shard paths only: a few per million rows
            | "DeleteStale" >> beam.Map(_delete_stale_shards, self._out)
        )
        return seg.status
