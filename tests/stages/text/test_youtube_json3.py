"""The transcript from the caption tracks discover's probe listed (yt-dlp's info): one GET of a
json3 file from the loopback server, instead of youtube-transcript-api's 2-3 requests."""

import json
import time

import pytest

from schemas import Status
from stages.acquire.info_cache import save_info
from stages.acquire.polite import Pacer, RetryPolicy
from stages.text.asr import TranscriptError
from stages.text.transcripts import FetchTranscriptsFn, TranscriptsConfig
from stages.text.youtube_transcripts import (
    Json3Track,
    YouTubeTranscriptConfig,
    choose_json3_track,
    fetch_json3_track,
    make_session,
)
from tests.loopback import Loopback

VIDEO = "GJLlxj_dtq8"
CFG = YouTubeTranscriptConfig(
    min_interval_s=0.0, timeout_s=2.0, retry=RetryPolicy(max_attempts=3, base_delay_s=0.01)
)
AUTO = {  # speech recognition: one snippet per word (tOffsetMs)
    "events": [
        {"tStartMs": 0, "dDurationMs": 5000, "wWinId": 1},
        {
            "tStartMs": 1000,
            "dDurationMs": 2000,
            "segs": [
                {"utf8": "chop"},
                {"utf8": " the", "tOffsetMs": 400},
                {"utf8": " onions", "tOffsetMs": 800},
            ],
        },  # fmt: skip
    ]
}
FILES = {
    "/auto.json3": json.dumps(AUTO).encode(),
    "/empty.json3": b'{"events": []}',
    "/blank.json3": b"",  # what YouTube serves when it wants a PO token
}


def _tracks(base: str, **kinds: dict[str, str]) -> dict:
    """An info dict whose `subtitles` / `automatic_captions` list json3 files at `base`."""
    info: dict = {"id": VIDEO, "epoch": int(time.time())}
    for key, langs in kinds.items():
        info[key] = {
            lang: [{"ext": "vtt", "url": f"{base}/x.vtt"}, {"ext": "json3", "url": base + path}]
            for lang, path in langs.items()
        }
    return info


def test_choose_json3_track_prefers_manual_and_never_takes_a_translation():
    base = "https://www.youtube.com/api/timedtext?v=x&fmt=json3"
    info = _tracks(
        base,
        subtitles={"de": "&lang=de", "live_chat": "&lang=en"},
        automatic_captions={"en": "&lang=de&tlang=en", "en-orig": "&lang=en"},
    )
    assert choose_json3_track(info, ("en",)) == Json3Track(f"{base}&lang=en", "en", True)
    assert choose_json3_track(info, ("de", "en")) == Json3Track(f"{base}&lang=de", "de", False)
    assert choose_json3_track(info, ("fr",)) is None
    assert choose_json3_track({"subtitles": {"en": [{"ext": "vtt", "url": base}]}}, ("en",)) is None


def test_one_get_of_the_json3_file_gives_the_word_timed_transcript():
    server = Loopback(FILES)
    with server as base:
        track = Json3Track(f"{base}/auto.json3", "en", True)
        t = fetch_json3_track(track, make_session(CFG), CFG, pacer=Pacer(0))
    assert server.count("/auto.json3") == 1
    assert [(s.text, s.start_s) for s in t.snippets] == [
        ("chop", 1.0), ("the", 1.4), ("onions", 1.8)
    ]  # fmt: skip
    assert (t.language_code, t.is_generated, t.source) == ("en", True, "json3")


def test_429_is_retried_and_an_expired_url_or_a_blank_answer_falls_back_to_the_library():
    server = Loopback(FILES, {"/auto.json3": "429_then_ok", "/gone.json3": "404"})
    sleeps: list[float] = []
    with server as base:
        session = make_session(CFG)
        auto = Json3Track(f"{base}/auto.json3", "en", True)
        t = fetch_json3_track(auto, session, CFG, pacer=Pacer(0), sleep=sleeps.append)
        gone = Json3Track(f"{base}/gone.json3", "en", True)
        assert fetch_json3_track(gone, session, CFG, pacer=Pacer(0)) is None
        blank = Json3Track(f"{base}/blank.json3", "en", True)
        assert fetch_json3_track(blank, session, CFG, pacer=Pacer(0)) is None
    assert len(t.snippets) == 3 and sleeps == [pytest.approx(1.0, abs=0.2)]  # Retry-After: 1
    assert server.count("/auto.json3") == 2 and server.count("/gone.json3") == 1


@pytest.mark.parametrize(
    ("path", "max_bytes", "status"),
    [("/auto.json3", 100, Status.BAD_TRANSCRIPT), ("/empty.json3", 1000, Status.EMPTY_TRANSCRIPT)],
)
def test_oversized_or_empty_files_are_refused(path, max_bytes, status):
    with Loopback(FILES) as base, pytest.raises(TranscriptError) as caught:
        track = Json3Track(base + path, "en", True)
        fetch_json3_track(track, make_session(CFG), CFG, pacer=Pacer(0), max_bytes=max_bytes)
    assert caught.value.status == status


def test_the_transcripts_stage_uses_the_probe_s_tracks(tmp_path):
    out = str(tmp_path)
    server = Loopback(FILES)
    with server as base:
        save_info(out, VIDEO, _tracks(base, automatic_captions={"en": "/auto.json3"}))
        fn = FetchTranscriptsFn(out, TranscriptsConfig(source="youtube", youtube=CFG))
        fn.setup()
        rows = list(fn.process({"video_id": VIDEO, "source": "youtube"}, "fp"))
    assert [(r["status"], r["items"]) for r in rows] == [("ok", 3)]
    assert server.count("/auto.json3") == 1  # and no request to youtube.com: none is reachable
