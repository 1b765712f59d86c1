"""sentences: a video's cleaned transcript → timed sentences with WordPiece ids (schemas.SENTENCES).

ASR has no punctuation, so sentence boundaries come from a punctuation-restoration model
(`deepmultilingualpunctuation`, `stages.text.punctuation`): every word gets a label ("0" . , ? - :)
and a sentence ends after "." or "?". The model does not restore casing; we capitalise each
sentence's first letter and the pronoun "I". Where no punctuation model can be had (the offline
sample world), `splitter="pause"` is the explicitly chosen alternative: a sentence ends where
the speaker pauses for at least `pause_s`; its text is left as the ASR wrote it.

Times: a word's start/end come from its snippet, shared out by character length when a
snippet holds several words (YouTube's snippets carry no word times; per-word snippets from
auto-caption VTT/json3 keep their own). A sentence spans its first word's start to its last
word's end, clamped into the video. Every input word lands in exactly one sentence, once.
"""

import logging
import re
import time
from dataclasses import dataclass
from typing import NamedTuple

import apache_beam as beam
import pyarrow as pa
from apache_beam.metrics import Metrics
from apache_beam.utils.shared import Shared

from schemas import SENTENCES, USABLE, Status
from schemas.text import load_tokenizer
from stages.store.dead_letter import MAIN, Guarded
from stages.store.files import fingerprint, read_fingerprint
from stages.store.stage import ReadParts, StageStore
from stages.store.status import status_row
from stages.workers import acquire

log = logging.getLogger(__name__)

SENTENCE_END = frozenset({".", "?", "!"})
_PRONOUN_I = re.compile(r"\bi(?=\b|')")


@dataclass(frozen=True)
class SentencesConfig:
    splitter: str = "punctuation"  # "punctuation" | "pause"
    punctuation_model: str = "oliverguhr/fullstop-punctuation-multilang-large"
    device: str = "cpu"
    batch_size: int = 8
    pause_s: float = 0.15  # pause splitter: a silence at least this long ends a sentence
    max_words: int = 40  # longer sentences are cut (at a comma when there is one)
    tokenizer: str | None = None  # HF name or path; None: bert-base-uncased's vocab, bundled

    def __post_init__(self):
        if self.splitter not in ("punctuation", "pause"):
            raise ValueError(f"splitter must be 'punctuation' or 'pause', not {self.splitter!r}")
        if self.max_words < 1 or self.pause_s <= 0:
            raise ValueError("max_words must be >= 1 and pause_s > 0")


class Word(NamedTuple):
    text: str
    start_s: float
    end_s: float


class Sentence(NamedTuple):
    text: str
    start_s: float
    end_s: float
    n_words: int


def timed_words(snippets: list[dict], duration_s: float | None = None) -> list[Word]:
    """Words in time order with start/end seconds, from TRANSCRIPTS rows of one video.

    Snippets are ordered by start (overlapping or unsorted cues are fine); within a snippet
    its span is shared out in proportion to word length + 1. Times never go backwards and are
    clamped into [0, duration_s] when the duration is known.
    """
    hi = float("inf") if duration_s is None else float(duration_s)
    words, floor = [], 0.0
    for s in sorted(snippets, key=lambda s: (s["start_s"], s["end_s"])):
        parts = s["text"].split()
        if not parts:
            continue
        start = min(max(s["start_s"], floor), hi)
        end = min(max(s["end_s"], start), hi)
        weights = [len(p) + 1 for p in parts]
        total, acc = sum(weights), 0
        for part, w in zip(parts, weights, strict=True):
            t0 = start + (end - start) * acc / total
            acc += w
            words.append(Word(part, t0, start + (end - start) * acc / total))
        floor = start
    return words


def _cut(labels: list[str], max_words: int) -> list[int]:
    """Sentence end positions (exclusive) from per-word labels, capping sentence length."""
    ends, begin = [], 0
    for i, label in enumerate(labels):
        if label in SENTENCE_END:
            ends.append(i + 1)
            begin = i + 1
        elif i + 1 - begin == max_words:
            commas = [j for j in range(begin + max_words // 2, i) if labels[j] == ","]
            cut = commas[-1] + 1 if commas else i + 1
            ends.append(cut)
            begin = cut
    if begin < len(labels):
        ends.append(len(labels))
    return ends


def _sentence(words: list[Word], labels: list[str] | None) -> Sentence:
    if labels is None:  # pause splitter: the ASR's own words, untouched
        text = " ".join(w.text for w in words)
    else:
        parts = [w.text + ("" if lab == "0" else " -" if lab == "-" else lab)
                 for w, lab in zip(words, labels, strict=True)]  # fmt: skip
        text = _PRONOUN_I.sub("I", " ".join(parts))
        text = text[:1].upper() + text[1:]
    return Sentence(text, words[0].start_s, words[-1].end_s, len(words))


def split_by_punctuation(words: list[Word], labels: list[str], max_words: int) -> list[Sentence]:
    """Sentences from one label per word ("0" or the punctuation that follows the word)."""
    if len(labels) != len(words):
        raise ValueError(f"{len(labels)} labels for {len(words)} words")
    out, begin = [], 0
    for end in _cut(labels, max_words):
        out.append(_sentence(words[begin:end], labels[begin:end]))
        begin = end
    return out


def split_by_pauses(words: list[Word], pause_s: float, max_words: int) -> list[Sentence]:
    """Sentences that end where the speaker pauses for `pause_s` or more."""
    labels = [
        "." if i + 1 < len(words) and words[i + 1].start_s - w.end_s >= pause_s else "0"
        for i, w in enumerate(words)
    ]
    out, begin = [], 0
    for end in _cut(labels, max_words):
        out.append(_sentence(words[begin:end], None))
        begin = end
    return out


def sentence_rows(video_id: str, sentences: list[Sentence], token_ids: list[list[int]],
                  splitter: str) -> list[dict]:  # fmt: skip
    return [
        {
            "video_id": video_id,
            "sentence_index": i,
            "start_s": s.start_s,
            "end_s": s.end_s,
            "text": s.text,
            "text_token_ids": ids,
            "splitter": splitter,
        }
        for i, (s, ids) in enumerate(zip(sentences, token_ids, strict=True))
    ]


class SentencesFn(beam.DoFn):
    """transcripts status row → SENTENCES file + a `sentences` status row.

    A video is skipped when its sentences file carries the fingerprint of this config and
    of the transcript file it was made from (a re-fetched transcript is re-split).
    """

    def __init__(self, out: str, cfg: SentencesConfig, force: bool = False):
        self._out, self._cfg, self._force = out, cfg, force
        self._sentences = Metrics.counter("sentences", "sentences")
        self._shared = Shared()  # one punctuation model per worker process

    def setup(self):
        self._transcripts = StageStore(self._out, "transcripts")
        self._store = StageStore(self._out, "sentences")
        self._tokenizer = load_tokenizer(self._cfg.tokenizer)
        self._punctuator = None  # loaded on the first transcript: no text, no model

    def _split(self, words: list[Word]) -> list[Sentence]:
        cfg = self._cfg
        if cfg.splitter == "pause":
            return split_by_pauses(words, cfg.pause_s, cfg.max_words)
        if self._punctuator is None:
            from stages.text.punctuation import Punctuator

            self._punctuator = acquire(
                self._shared,
                f"{cfg.punctuation_model}|{cfg.device}|{cfg.batch_size}",
                lambda: Punctuator(cfg.punctuation_model, cfg.device, cfg.batch_size),
            )
        with self._punctuator.lock:  # a fast tokenizer is not thread-safe
            labels = self._punctuator.model.labels([[w.text for w in words]])[0]
        return split_by_punctuation(words, labels, cfg.max_words)

    def process(self, item: tuple[dict, dict | None, float | None]):
        transcripts_status, prev, duration = item
        vid, t0 = transcripts_status["video_id"], time.monotonic()
        if transcripts_status["status"] not in USABLE:
            message = f"transcripts: {transcripts_status['status']}"
            yield status_row(vid, "sentences", Status.UPSTREAM_FAILED, message)
            return
        fp = fingerprint(
            {"cfg": self._cfg, "transcript": read_fingerprint(self._transcripts.data_path(vid))}
        )
        if not self._force and self._store.is_done(vid, fp) and prev and prev["status"] == "ok":
            yield prev
            return
        words = timed_words(self._transcripts.read_data(vid).to_pylist(), duration)
        sentences = self._split(words)
        ids = self._tokenizer([s.text for s in sentences], add_special_tokens=False)["input_ids"]
        rows = sentence_rows(vid, sentences, ids, self._cfg.splitter)
        self._store.write_data(vid, pa.Table.from_pylist(rows, schema=SENTENCES), fp)
        self._sentences.inc(len(rows))
        seconds = time.monotonic() - t0
        log.info("sentences %s: %d words -> %d sentences", vid, len(words), len(rows))
        yield status_row(vid, "sentences", Status.OK, None, len(rows), seconds)


class SplitSentences(beam.PTransform):
    """transcripts status rows (+ video records for durations) → `sentences` status rows."""

    def __init__(self, out: str, cfg: SentencesConfig, videos, force: bool = False):
        super().__init__()
        self._out, self._cfg, self._videos, self._force = out, cfg, videos, force

    def expand(self, transcripts_status):
        store = StageStore(self._out, "sentences")
        joined = {
            "status": transcripts_status | "Key" >> beam.Map(lambda r: (r["video_id"], r)),
            "previous": self._videos.pipeline
            | "ReadStatus" >> ReadParts(store.status_glob)
            | "KeyPrevious" >> beam.Map(lambda r: (r["video_id"], r)),
            "duration": self._videos
            | "Durations" >> beam.Map(lambda v: (v["video_id"], v["duration_s"])),
        } | "Join" >> beam.CoGroupByKey()
        return (
            joined
            | "Pair" >> beam.FlatMap(_with_previous_and_duration)
            | "Split"
            >> Guarded(
                self._out, SentencesFn(self._out, self._cfg, self._force), {MAIN: "sentences"}
            )
        )[MAIN]


def _with_previous_and_duration(item):
    """(video id, joined) → (transcripts status row, previous sentences row, duration)."""
    _, joined = item
    previous, durations = list(joined["previous"]), list(joined["duration"])
    for status in joined["status"]:
        yield status, previous[0] if previous else None, durations[0] if durations else None
