"""transcripts: a video record → its cleaned, timed ASR snippets (schemas.TRANSCRIPTS).

Sources (one output schema): sidecar files beside the video (WebVTT incl. YouTube's
auto-caption VTT, SRT, YouTube json3, the sample world's JSON; `stages.text.captions`) or YouTube
itself: the json3 file of the track discover's probe listed (one request), else through
youtube-transcript-api (`stages.text.youtube_transcripts`).
"""

import logging
import time
from dataclasses import dataclass

import apache_beam as beam
import pyarrow as pa
from apache_beam.metrics import Metrics

from schemas import TRANSCRIPTS, Status
from schemas.ids import validate_video_id
from stages.acquire.info_cache import load_info
from stages.acquire.polite import YOUTUBE, Pacer
from stages.store.dead_letter import MAIN, Guarded
from stages.store.files import fingerprint
from stages.store.stage import SkipFinished, StageStore
from stages.store.status import RETRYABLE, status_row
from stages.text.asr import Snippet, Transcript, TranscriptError, language_rank
from stages.text.captions import choose_sidecar, clean_text, find_sidecars, load_caption_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TranscriptsConfig:
    source: str = "auto"  # auto | local | youtube | none
    languages: tuple[str, ...] = ("en",)  # preference order
    youtube: object | None = None  # a YouTubeTranscriptConfig; None: its defaults

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ValueError(f"transcript source must be one of {SOURCES}, not {self.source!r}")


SOURCES = ("auto", "local", "youtube", "none")
MAX_BLOCKED_IN_A_ROW = 5


def clean_transcript(t: Transcript) -> Transcript:
    """`clean_text` on every snippet; snippets with nothing left are dropped."""
    cleaned = ((clean_text(s.text), s) for s in t.snippets)
    snippets = [Snippet(text, s.start_s, s.end_s) for text, s in cleaned if text]
    return Transcript(snippets, t.language_code, t.is_generated, t.source)


def transcript_rows(video_id: str, t: Transcript) -> list[dict]:
    ordered = sorted(t.snippets, key=lambda s: (s.start_s, s.end_s))
    return [
        {
            "video_id": video_id,
            "snippet_index": i,
            "start_s": float(s.start_s),
            "end_s": float(max(s.end_s, s.start_s)),
            "text": s.text,
            "language_code": t.language_code,
            "is_generated": t.is_generated,
            "source": t.source,
        }
        for i, s in enumerate(ordered)
    ]


def local_transcript(video: dict, languages: tuple[str, ...]) -> Transcript:
    """The video's own transcript file (`transcript_uri`), else the best sidecar beside it."""
    uri = video.get("transcript_uri")
    if not uri:
        found = find_sidecars(video["uri"]) if video.get("uri") else []
        uri = choose_sidecar(found, languages)
        if uri is None:
            if found:
                names = ", ".join(p.rsplit("/", 1)[-1] for p in found)
                message = f"no transcript in {list(languages)}; found {names}"
                raise TranscriptError(Status.LANGUAGE_UNAVAILABLE, message)
            raise TranscriptError(Status.NO_TRANSCRIPT, "no transcript file beside the video")
    t = load_caption_file(uri, default_language=languages[0])
    if language_rank(t.language_code, languages) is None:
        raise TranscriptError(
            Status.LANGUAGE_UNAVAILABLE,
            f"no transcript in {list(languages)}; {uri.rsplit('/', 1)[-1]} is {t.language_code}",
        )
    return t


class FetchTranscriptsFn(beam.DoFn):
    """video record → TRANSCRIPTS file + a `transcripts` status row.

    YouTube requests share one process-wide pace (`stages.acquire.polite`), are retried with backoff
    where that can help, and are cached by video id: a finished video is never fetched again.
    """

    def __init__(self, out: str, cfg: TranscriptsConfig):
        self._out, self._cfg = out, cfg
        self._snippets = Metrics.counter("transcripts", "snippets")

    def setup(self):
        self._store = StageStore(self._out, "transcripts")
        self._api, self._blocked_in_a_row = None, 0

    def _youtube(self, video_id: str) -> Transcript:
        from stages.text import youtube_transcripts as yt

        if self._blocked_in_a_row >= MAX_BLOCKED_IN_A_ROW:  # stop digging deeper into a ban
            raise TranscriptError(
                Status.BLOCKED,
                f"not requested: YouTube blocked the last {MAX_BLOCKED_IN_A_ROW} requests of "
                "this worker (rerun later or through --youtube_proxy)",
            )
        cfg = self._cfg.youtube or yt.YouTubeTranscriptConfig(languages=self._cfg.languages)
        if self._api is None:  # one session per DoFn instance (the API is not thread-safe)
            self._session, self._api = yt.make_session(cfg), yt.make_api(cfg)
        pacer = Pacer.shared(YOUTUBE, cfg.min_interval_s)
        info = load_info(self._out, video_id)  # the probe's: it lists the tracks' files
        track = yt.choose_json3_track(info, cfg.languages) if info else None
        try:
            t = yt.fetch_json3_track(track, self._session, cfg, pacer=pacer) if track else None
            if t is None:
                t = yt.fetch_transcript(self._api, video_id, cfg, pacer=pacer)
        except TranscriptError as e:
            self._blocked_in_a_row = self._blocked_in_a_row + 1 if e.status == Status.BLOCKED else 0
            raise
        self._blocked_in_a_row = 0
        return t

    def _transcript(self, video: dict) -> Transcript:
        source = self._cfg.source
        if source == "auto":
            source = "youtube" if video["source"] == "youtube" else "local"
        if source == "none":
            raise TranscriptError(Status.NO_TRANSCRIPT, "transcripts disabled (--transcripts=none)")
        if source == "youtube":
            return self._youtube(video["video_id"])
        return local_transcript(video, self._cfg.languages)

    def process(self, video: dict, fp: str):
        vid, t0 = video["video_id"], time.monotonic()
        try:
            t = clean_transcript(self._transcript(video))
            if not t.snippets:
                raise TranscriptError(Status.EMPTY_TRANSCRIPT, "no words left after cleaning")
        except TranscriptError as e:
            log.info("transcripts %s: %s (%s)", vid, e.status, e.message)
            yield status_row(vid, "transcripts", e.status, e.message, 0, time.monotonic() - t0)
            return
        rows = transcript_rows(vid, t)
        self._store.write_data(vid, pa.Table.from_pylist(rows, schema=TRANSCRIPTS), fp)
        self._snippets.inc(len(rows))
        yield status_row(vid, "transcripts", Status.OK, None, len(rows), time.monotonic() - t0)


class FetchTranscripts(beam.PTransform):
    """video records → `transcripts` status rows (finished videos carried over; failures,
    even retryable ones, are re-fetched only with `retry_failed`: a rerun must not hammer a
    YouTube that just blocked us)."""

    def __init__(
        self, out: str, cfg: TranscriptsConfig, force: bool = False, retry_failed: bool = False
    ):
        super().__init__()
        self._out, self._cfg, self._force = out, cfg, force
        self._retry = RETRYABLE if retry_failed else frozenset()

    def expand(self, videos):
        store, fp = StageStore(self._out, "transcripts"), fingerprint(self._cfg)
        checked = videos | "ValidIds" >> beam.ParDo(_valid_id).with_outputs("invalid", main="valid")
        parts = checked.valid | "SkipFinished" >> SkipFinished(store, fp, self._force, self._retry)
        fetched = (
            parts.todo
            | "Spread" >> beam.Reshuffle()
            | "Fetch"
            >> Guarded(
                self._out, FetchTranscriptsFn(self._out, self._cfg), {MAIN: "transcripts"}, fp
            )
        )[MAIN]
        return (fetched, parts.done, checked.invalid) | "All" >> beam.Flatten()


def _valid_id(video: dict):
    """The record if its id is safe as a file name, else an INVALID_ID status row (an id from a
    hand-edited or foreign videos table must not crash the stage)."""
    try:
        validate_video_id(video["video_id"])
    except ValueError as e:
        yield beam.pvalue.TaggedOutput(
            "invalid", status_row(str(video["video_id"]), "transcripts", Status.INVALID_ID, str(e))
        )
        return
    yield video
