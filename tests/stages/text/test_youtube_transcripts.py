"""fetch_transcript against replayed YouTube HTTP (`responses`: nothing leaves the process).

The flow youtube-transcript-api 1.2.5 runs, and these fixtures imitate:
1. GET  https://www.youtube.com/watch?v=<id>: HTML holding "INNERTUBE_API_KEY" (or a consent
   form: the library sets a CONSENT cookie and GETs again; or the reCAPTCHA block page).
2. POST https://www.youtube.com/youtubei/v1/player?key=<key>: JSON with `playabilityStatus`
   and `captions.playerCaptionsTracklistRenderer.captionTracks`.
3. GET  <captionTrack.baseUrl> (https://www.youtube.com/api/timedtext?...): timedtext XML.
"""

import json
from dataclasses import replace
from types import SimpleNamespace

import pytest
import requests
import responses
from responses import matchers

from schemas import Status
from stages.acquire.polite import Pacer, RetryPolicy
from stages.text.asr import Snippet, TranscriptError
from stages.text.youtube_transcripts import (
    YouTubeTranscriptConfig,
    choose_track,
    fetch_transcript,
    is_youtube_id,
    make_api,
)

VIDEO = "GJLlxj_dtq8"
WATCH = "https://www.youtube.com/watch"
PLAYER = "https://www.youtube.com/youtubei/v1/player"
TIMEDTEXT = "https://www.youtube.com/api/timedtext"
API_KEY = "AIzaSyTestKey-0123456789_abcdefghijklm"

WATCH_HTML = (
    "<!DOCTYPE html><html><head><script>"
    f'ytcfg.set({{"INNERTUBE_API_KEY": "{API_KEY}", "INNERTUBE_CLIENT_NAME": "WEB"}});'
    "</script></head><body></body></html>"
)
CONSENT_HTML = (
    '<html><body><form action="https://consent.youtube.com/s" method="POST">'
    '<input type="hidden" name="gl" value="DE">'
    '<input type="hidden" name="v" value="cb.20210328-17-p0.de+FX+119">'
    "</form></body></html>"
)
BLOCK_HTML = (
    '<html><head><script src="https://www.google.com/recaptcha/api.js"></script></head>'
    '<body><form id="captcha-form"><div id="recaptcha" class="g-recaptcha" data-sitekey="k">'
    "</div></form></body></html>"
)
BOT_CHECK = "Sign in to confirm you’re not a bot"
AGE_GATE = "This video may be inappropriate for some users."

CUES = [("0", "1.54", "Hey, this is a test"), ("1.54", "4.16", "chop the onions")]
FAST = RetryPolicy(max_attempts=4, base_delay_s=2.0, max_delay_s=60.0, jitter=0.1)
CFG = YouTubeTranscriptConfig(min_interval_s=0.0, retry=FAST)


def track(lang: str, *, asr: bool = False, extra: str = "") -> dict:
    """One `captionTracks` entry; its baseUrl carries `tid` so a route can match it."""
    tid = f"{'asr' if asr else 'manual'}-{lang}"
    url = f"{TIMEDTEXT}?v={VIDEO}&ei=x&caps=asr&xoaf=5&hl=en{extra}&tid={tid}&lang={lang}&fmt=srv3"
    entry = {
        "baseUrl": url,
        "name": {"runs": [{"text": lang + (" (auto-generated)" if asr else "")}]},
        "vssId": ("a." if asr else ".") + lang,
        "languageCode": lang,
        "isTranslatable": True,
        "trackName": "",
    }
    return entry | ({"kind": "asr"} if asr else {})


def player(*tracks: dict, status: str = "OK", reason: str | None = None, **extra) -> str:
    """The innertube player answer; `tracks=()` with `captions=False` means no captions."""
    playability = {"status": status} | ({"reason": reason} if reason else {})
    data: dict = {"playabilityStatus": playability, "videoDetails": {"videoId": VIDEO}}
    if extra.pop("captions", True):
        data["captions"] = {"playerCaptionsTracklistRenderer": {"captionTracks": list(tracks)}}
    return json.dumps(data | extra)


def caption_xml(*cues: tuple[str, str, str]) -> str:
    body = "".join(f'<text start="{s}" dur="{d}">{text}</text>' for s, d, text in cues)
    return f'<?xml version="1.0" encoding="utf-8" ?><transcript>{body}</transcript>'


@pytest.fixture
def yt():
    """Replays YouTube; any request no route matches fails the test (even if it was caught)."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps
        unmatched = [
            c.request.url
            for c in rsps.calls
            if isinstance(c.response, requests.ConnectionError)
            and "Connection refused by Responses" in str(c.response)
        ]
        assert unmatched == []


def route_watch(yt, body: str = WATCH_HTML, status: int = 200) -> None:
    yt.get(WATCH, body=body, status=status, match=[matchers.query_param_matcher({"v": VIDEO})])


def route_player(yt, body: str, status: int = 200, headers: dict | None = None) -> None:
    yt.post(
        PLAYER,
        body=body,
        status=status,
        headers=headers,
        content_type="application/json",
        match=[
            matchers.query_param_matcher({"key": API_KEY}),
            matchers.json_params_matcher({"videoId": VIDEO}, strict_match=False),
        ],
    )


def route_caption(yt, tid: str, body: str = caption_xml(*CUES), **kwargs) -> None:
    match = [matchers.query_param_matcher({"tid": tid}, strict_match=False)]
    yt.get(TIMEDTEXT, body=body, match=match, **kwargs)


def paths(yt) -> list[str]:
    return [c.request.path_url.split("?")[0] for c in yt.calls]


def fetch(video_id: str = VIDEO, cfg: YouTubeTranscriptConfig = CFG, **kwargs):
    sleeps: list[float] = []
    kwargs.setdefault("pacer", Pacer(0.0))
    transcript = fetch_transcript(make_api(cfg), video_id, cfg, sleep=sleeps.append, **kwargs)
    return transcript, sleeps


def fetch_error(video_id: str = VIDEO, cfg: YouTubeTranscriptConfig = CFG):
    sleeps: list[float] = []
    with pytest.raises(TranscriptError) as info:
        fetch_transcript(make_api(cfg), video_id, cfg, pacer=Pacer(0.0), sleep=sleeps.append)
    return info.value, sleeps


# --- success -----------------------------------------------------------------------------


def test_manual_english_is_preferred_over_generated_english(yt):
    route_watch(yt)
    route_player(yt, player(track("en", asr=True), track("de"), track("en")))
    route_caption(yt, "manual-en")
    transcript, sleeps = fetch()
    assert transcript.snippets == [
        Snippet("Hey, this is a test", 0.0, 1.54),
        Snippet("chop the onions", 1.54, 1.54 + 4.16),
    ]
    assert (transcript.language_code, transcript.is_generated) == ("en", False)
    assert transcript.source == "youtube"
    assert paths(yt) == ["/watch", "/youtubei/v1/player", "/api/timedtext"]
    assert sleeps == []


def test_only_generated_english_is_taken_and_marked_generated(yt):
    route_watch(yt)
    route_player(yt, player(track("fr"), track("en", asr=True)))
    route_caption(yt, "asr-en")
    transcript, _ = fetch()
    assert (transcript.language_code, transcript.is_generated) == ("en", True)
    assert len(transcript.snippets) == 2


def test_regional_english_is_accepted_for_en(yt):
    route_watch(yt)
    route_player(yt, player(track("en-GB")))
    route_caption(yt, "manual-en-GB")
    transcript, _ = fetch()
    assert (transcript.language_code, transcript.is_generated) == ("en-GB", False)


def test_html_entities_and_tags_in_captions_come_back_decoded(yt):
    # YouTube escapes twice: XML entities around HTML entities and inline tags.
    cues = [
        ("0", "2", "salt &amp;amp; pepper, don&amp;#39;t stir"),
        ("2", "1", "&lt;i&gt;slowly&lt;/i&gt; fold"),
        ("3", "0", "   "),  # blank cues are dropped
    ]
    route_watch(yt)
    route_player(yt, player(track("en")))
    route_caption(yt, "manual-en", caption_xml(*cues))
    transcript, _ = fetch()
    assert [s.text for s in transcript.snippets] == ["salt & pepper, don't stir", "slowly fold"]


def test_consent_page_is_answered_with_a_cookie(yt):
    route_watch(yt, CONSENT_HTML)
    route_watch(yt)
    route_player(yt, player(track("en")))
    route_caption(yt, "manual-en")
    transcript, _ = fetch()
    assert transcript.language_code == "en"
    assert paths(yt) == ["/watch", "/watch", "/youtubei/v1/player", "/api/timedtext"]
    cookie = "CONSENT=YES+cb.20210328-17-p0.de+FX+119"
    assert [c.request.headers.get("Cookie") for c in yt.calls[1:]] == [cookie] * 3


def test_every_request_gets_the_default_timeout(yt):
    route_watch(yt)
    route_player(yt, player(track("en")))
    route_caption(yt, "manual-en")
    fetch(cfg=YouTubeTranscriptConfig(timeout_s=7.5, min_interval_s=0.0, retry=FAST))
    assert [c.request.req_kwargs["timeout"] for c in yt.calls] == [7.5, 7.5, 7.5]


def test_an_explicit_timeout_is_kept(yt):
    yt.get("https://www.youtube.com/robots.txt", body="")
    session = requests.Session()
    make_api(CFG, session)
    session.get("https://www.youtube.com/robots.txt", timeout=3)
    assert yt.calls[0].request.req_kwargs["timeout"] == 3


def test_proxy_settings_land_on_the_session_and_beat_env_proxies(yt, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://env-proxy.test:9")
    cfg = YouTubeTranscriptConfig(
        proxy_http="http://user:secret@proxy.test:3128", min_interval_s=0.0, retry=FAST
    )
    session = requests.Session()
    api = make_api(cfg, session)
    proxies = {"http": "http://user:secret@proxy.test:3128"} | {
        "https": "http://user:secret@proxy.test:3128"
    }
    assert session.proxies == proxies
    assert "secret" not in repr(cfg)
    route_watch(yt)
    route_player(yt, player(track("en")))
    route_caption(yt, "manual-en")
    fetch_transcript(api, VIDEO, cfg, pacer=Pacer(0.0), sleep=lambda s: None)
    assert [c.request.req_kwargs["proxies"] for c in yt.calls] == [proxies] * 3


def test_list_and_fetch_are_each_paced(yt):
    class CountingPacer:
        waits = 0

        def wait(self) -> None:
            self.waits += 1

    route_watch(yt)
    route_player(yt, player(track("en")))
    route_caption(yt, "manual-en")
    pacer = CountingPacer()
    fetch(pacer=pacer)
    assert pacer.waits == 2


# --- what YouTube says no with -----------------------------------------------------------


def test_only_other_languages_is_language_unavailable_listing_what_exists(yt):
    route_watch(yt)
    route_player(yt, player(track("fr"), track("de", asr=True)))
    error, _ = fetch_error()
    assert error.status == Status.LANGUAGE_UNAVAILABLE
    assert error.message == "no transcript in ['en']; available: de (generated), fr (manual)"
    assert "/api/timedtext" not in paths(yt)


def test_no_caption_tracks_at_all_is_no_transcript(yt):
    route_watch(yt)
    route_player(yt, player())
    error, _ = fetch_error()
    assert (error.status, error.message) == (
        Status.NO_TRANSCRIPT,
        "the video lists no caption tracks",
    )


@pytest.mark.parametrize(
    ("answer", "status", "message"),
    [
        (player(captions=False), Status.TRANSCRIPTS_DISABLED, "Subtitles are disabled"),
        (
            player(status="ERROR", reason="This video is unavailable"),
            Status.UNAVAILABLE,
            "The video is no longer available",
        ),
        (
            player(
                status="UNPLAYABLE",
                reason="Video unavailable",
                playabilityStatus={
                    "status": "UNPLAYABLE",
                    "reason": "Video unavailable",
                    "errorScreen": {
                        "playerErrorMessageRenderer": {
                            "subreason": {"runs": [{"text": "This video is private."}]}
                        }
                    },
                },
            ),
            Status.UNAVAILABLE,
            "unplayable for the following reason: Video unavailable (This video is private.)",
        ),
        (
            player(status="LOGIN_REQUIRED", reason=AGE_GATE),
            Status.AGE_RESTRICTED,
            "This video is age-restricted",
        ),
    ],
    ids=["transcripts_disabled", "video_unavailable", "unplayable", "age_restricted"],
)
def test_playability_and_caption_failures(yt, answer, status, message):
    route_watch(yt)
    route_player(yt, answer)
    error, sleeps = fetch_error()
    assert error.status == status
    assert message in error.message
    assert "\n" not in error.message
    assert (len(yt.calls), sleeps) == (2, [])  # never retried


def test_po_token_required_is_reported_without_fetching_the_track(yt):
    route_watch(yt)
    route_player(yt, player(track("en", extra="&exp=xpe")))
    error, _ = fetch_error()
    assert error.status == Status.PO_TOKEN_REQUIRED
    assert "PO Token" in error.message
    assert paths(yt) == ["/watch", "/youtubei/v1/player"]


@pytest.mark.parametrize(
    "answer",
    [
        {"watch": BLOCK_HTML},  # reCAPTCHA page where the watch page should be
        {"watch": BLOCK_HTML, "status": 429},  # the same, served as a 429
        {"player": player(status="LOGIN_REQUIRED", reason=BOT_CHECK)},  # the bot check
    ],
    ids=["recaptcha", "recaptcha_429", "bot_check"],
)
def test_blocked_is_not_retried_and_says_to_use_a_proxy(yt, answer):
    route_watch(yt, answer.get("watch", WATCH_HTML), answer.get("status", 200))
    if "player" in answer:
        route_player(yt, answer["player"])
    error, sleeps = fetch_error()
    assert error.status == Status.BLOCKED
    assert "cloud" in error.message and "proxy" in error.message
    assert len(yt.calls) == (2 if "player" in answer else 1)
    assert sleeps == []


def test_blocked_through_a_proxy_says_so(yt):
    route_watch(yt, BLOCK_HTML)
    error, _ = fetch_error(cfg=YouTubeTranscriptConfig(proxy_https="http://p.test:1", retry=FAST))
    assert error.status == Status.BLOCKED
    assert "despite the configured proxy" in error.message


# --- retried failures --------------------------------------------------------------------


def test_429_then_success_is_retried_honouring_retry_after(yt):
    route_watch(yt)
    route_player(yt, "", status=429, headers={"Retry-After": "7"})
    route_player(yt, player(track("en")))
    route_caption(yt, "manual-en")
    transcript, sleeps = fetch()
    assert transcript.language_code == "en"
    assert sleeps == [7.0]  # Retry-After beats the 2 s backoff
    assert paths(yt) == [
        *("/watch", "/youtubei/v1/player"),
        *("/watch", "/youtubei/v1/player"),
        "/api/timedtext",
    ]


def test_429_every_time_is_rate_limited_after_max_attempts(yt):
    route_watch(yt)
    route_player(yt, player(track("en")))
    route_caption(yt, "manual-en", "Too Many Requests", status=429, headers={"Retry-After": "1"})
    error, sleeps = fetch_error()
    assert error.status == Status.RATE_LIMITED
    assert "HTTP 429" in error.message and "www.youtube.com/api/timedtext" in error.message
    assert paths(yt).count("/api/timedtext") == FAST.max_attempts
    assert sleeps == pytest.approx([2.0, 4.0, 8.0], rel=0.1)


def test_503_is_retried_then_server_error_with_the_code(yt):
    route_watch(yt)
    route_player(yt, "<html>Service Unavailable</html>", status=503)
    error, sleeps = fetch_error()
    assert error.status == Status.SERVER_ERROR
    assert "HTTP 503" in error.message
    assert paths(yt) == ["/watch", "/youtubei/v1/player"] * FAST.max_attempts
    assert len(sleeps) == FAST.max_attempts - 1


def test_connect_timeout_is_retried_then_network_timeout(yt):
    yt.get(WATCH, body=requests.exceptions.ConnectTimeout("connect timed out"))
    error, sleeps = fetch_error()
    assert error.status == Status.NETWORK_TIMEOUT
    assert error.message == "ConnectTimeout: connect timed out"
    assert len(yt.calls) == FAST.max_attempts
    assert len(sleeps) == FAST.max_attempts - 1


class FakeTime:
    """A clock that only `sleep` moves."""

    def __init__(self) -> None:
        self.now, self.sleeps = 0.0, []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_the_deadline_covers_list_and_fetch_together(yt):
    route_watch(yt)
    route_player(yt, "", status=429, headers={"Retry-After": "8"})
    route_player(yt, player(track("en")))
    route_caption(yt, "manual-en", "", status=429, headers={"Retry-After": "8"})
    t = FakeTime()
    cfg = YouTubeTranscriptConfig(retry=replace(FAST, deadline_s=10.0))
    with pytest.raises(TranscriptError) as info:
        fetch_transcript(make_api(cfg), VIDEO, cfg, pacer=Pacer(0.0), sleep=t.sleep, clock=t.clock)
    # The list's retry spent 8 of the 10 s: the fetch gets one attempt and no 8 s wait.
    assert info.value.status == Status.RATE_LIMITED
    assert t.sleeps == [8.0]
    assert paths(yt).count("/api/timedtext") == 1


def test_other_http_errors_are_no_transcript_and_not_retried(yt):
    route_watch(yt)
    route_player(yt, player(track("en")))
    route_caption(yt, "manual-en", "Not Found", status=404)
    error, sleeps = fetch_error()
    assert error.status == Status.NO_TRANSCRIPT
    assert error.message == (
        "Request to YouTube failed: 404 Client Error: Not Found for url: "
        "https://www.youtube.com/api/timedtext"  # the query (signatures) is dropped
    )
    assert (len(yt.calls), sleeps) == (3, [])


# --- unparsable answers ------------------------------------------------------------------


@pytest.mark.parametrize(
    "caption",
    [
        "",  # an empty 200: ParseError
        '<?xml version="1.0"?><!DOCTYPE t [<!ENTITY a "aaaa">]><transcript>&a;</transcript>',
    ],
    ids=["empty_body", "xml_entity_declaration"],
)
def test_unparsable_captions_are_bad_transcript(yt, caption):
    route_watch(yt)
    route_player(yt, player(track("en")))
    route_caption(yt, "manual-en", caption)
    error, _ = fetch_error()
    assert error.status == Status.BAD_TRANSCRIPT
    assert error.message.startswith("unparsable YouTube answer")


def test_non_json_player_answer_is_bad_transcript(yt):
    route_watch(yt)
    route_player(yt, "<html>not json</html>")
    error, _ = fetch_error()
    assert error.status == Status.BAD_TRANSCRIPT


def test_a_transcript_without_text_is_empty(yt):
    route_watch(yt)
    route_player(yt, player(track("en", asr=True)))
    route_caption(yt, "asr-en", caption_xml(("0", "1", " "), ("1", "1", "")))
    error, _ = fetch_error()
    assert error.status == Status.EMPTY_TRANSCRIPT
    assert error.message == "the en (generated) transcript has no text"


# --- ids ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "video_id",
    [
        "../etc/passwd",
        "short",
        "abcdefghijkl",  # 12 characters
        "a b c d e f",
        "dQw4w9WgXcQ\n",
        "",
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    ],
)
def test_invalid_ids_are_refused_before_any_request(yt, video_id):
    error, _ = fetch_error(video_id)
    assert error.status == Status.INVALID_ID
    assert len(yt.calls) == 0


def test_real_ids_may_start_with_a_dash():
    assert is_youtube_id("-jqJGoxY7y8") and is_youtube_id(VIDEO)
    assert not is_youtube_id(None)


# --- track choice ------------------------------------------------------------------------


def tracks(*specs: str) -> list[SimpleNamespace]:
    """ "en" is a manual track, "en*" a generated one."""
    return [
        SimpleNamespace(language_code=s.rstrip("*"), is_generated=s.endswith("*")) for s in specs
    ]


@pytest.mark.parametrize(
    ("available", "languages", "chosen"),
    [
        (["en*", "en"], ("en",), "en"),
        (["en-GB", "en"], ("en",), "en"),  # exact beats regional
        (["en-us*"], ("EN",), "en-us*"),
        (["de", "en*"], ("en", "de"), "en*"),  # language order first
        (["de", "fr*"], ("en", "fr", "de"), "fr*"),
        (["de", "fr*"], ("en",), None),
        (["eng"], ("en",), None),  # "eng" is not a subtag of "en"
    ],
)
def test_choose_track(available, languages, chosen):
    track_ = choose_track(tracks(*available), languages)
    got = None if track_ is None else track_.language_code + ("*" if track_.is_generated else "")
    assert got == chosen
