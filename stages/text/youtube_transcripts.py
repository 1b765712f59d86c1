"""youtube_transcripts: a YouTube video id → its timed transcript, via youtube-transcript-api.

`fetch_transcript(api, video_id, cfg)` returns a `stages.text.transcripts.Transcript` or raises
`TranscriptError` whose `status` is the reason for the status table. It makes one
`api.list()` (the watch page, then the innertube player POST whose `captionTracks` list the
tracks) and one `Transcript.fetch()` (the timedtext XML), each paced by the process-wide
YouTube `Pacer` and retried by `stages.acquire.polite`.

When discover's probe already listed the tracks (yt-dlp's info, `stages.acquire.info_cache`),
`choose_json3_track` + `fetch_json3_track` need ONE request instead: the chosen track's json3
file, parsed by `stages.text.captions.parse_json3`; None (then the library) when it is not served.

How the library fails, and what we make of it (youtube-transcript-api 1.2.5):
- It turns every HTTP 429 into `IpBlocked` and any other HTTP error into `YouTubeRequestFailed`
  whose text is all that is left of the response. So the session `make_api` builds raises
  `requests.HTTPError` (response attached) for a 429 or a 5xx itself, before the library sees
  it: those are retried with backoff honouring Retry-After. A 429 that carries the reCAPTCHA
  page is a block, not a rate limit, and is left to the library (→ `IpBlocked`).
- A block (`RequestBlocked`, `IpBlocked`: bot check, reCAPTCHA) is not retried: retrying a
  block from the same IP only digs deeper.
- Timeouts and connection errors arrive as raw `requests` exceptions and are retried.
- Unparsable answers arrive as raw `ParseError` / `JSONDecodeError` (and `defusedxml`'s refusals).
"""

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit
from xml.etree.ElementTree import ParseError

import requests
from defusedxml import DefusedXmlException
from requests.adapters import HTTPAdapter
from youtube_transcript_api import (
    AgeRestricted,
    CouldNotRetrieveTranscript,
    InvalidVideoId,
    NoTranscriptFound,
    PoTokenRequired,
    RequestBlocked,
    TranscriptsDisabled,
    VideoUnavailable,
    VideoUnplayable,
    YouTubeTranscriptApi,
)
from youtube_transcript_api import Transcript as TrackHandle
from youtube_transcript_api.proxies import GenericProxyConfig

from schemas import Status
from schemas.ids import is_youtube_id
from stages.acquire.polite import (
    YOUTUBE,
    Pacer,
    Retry,
    RetryPolicy,
    call_with_retries,
    parse_retry_after,
)
from stages.text.asr import Snippet, Transcript, TranscriptError, language_rank

T = TypeVar("T")

_CAPTCHA = 'class="g-recaptcha"'  # the mark of YouTube's block page, as the library checks it


@dataclass(frozen=True)
class YouTubeTranscriptConfig:
    languages: tuple[str, ...] = ("en",)
    """Preference order. "en" also accepts regional tracks ("en-US", "en-GB")."""
    proxy_http: str | None = field(default=None, repr=False)
    """Proxy URL for http:// requests (falls back to proxy_https). May hold credentials."""
    proxy_https: str | None = field(default=None, repr=False)
    """Proxy URL for https:// requests (falls back to proxy_http). May hold credentials."""
    min_interval_s: float = 1.0
    """Global pace: the least time between two YouTube calls in one worker process."""
    timeout_s: float = 20.0
    """requests' connect and read timeout for every HTTP request (not a total per request)."""
    retry: RetryPolicy = RetryPolicy()
    """Backoff for 429, 5xx and network errors; its deadline caps one video's list + fetch."""

    @property
    def proxies(self) -> dict[str, str] | None:
        """The proxies as requests takes them, each scheme falling back to the other."""
        if not (self.proxy_http or self.proxy_https):
            return None
        return GenericProxyConfig(self.proxy_http, self.proxy_https).to_requests_dict()


class _YouTubeAdapter(HTTPAdapter):
    """Gives every request a default timeout and, if configured, the proxies.

    requests lets HTTP(S)_PROXY environment variables override `Session.proxies`; passing
    the configured proxies here makes the explicit configuration win.
    """

    def __init__(self, timeout_s: float, proxies: dict[str, str] | None):
        super().__init__()
        self.timeout_s, self.forced_proxies = timeout_s, proxies

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        return super().send(
            request,
            stream=stream,
            timeout=self.timeout_s if timeout is None else timeout,
            verify=verify,
            cert=cert,
            proxies=self.forced_proxies or proxies,
        )


def _raise_retryable_status(response: requests.Response, *args: Any, **kwargs: Any):
    """Response hook: raise `HTTPError` for a 429 (unless it is the reCAPTCHA block) or a 5xx.

    The library would turn these into `IpBlocked` / `YouTubeRequestFailed` and lose the status
    code and the Retry-After header; raised here, they reach the retry loop intact.
    """
    code = response.status_code
    if code >= 500 or (code == 429 and _CAPTCHA not in response.text):
        response.raise_for_status()
    return response


def make_session(
    cfg: YouTubeTranscriptConfig, session: requests.Session | None = None
) -> requests.Session:
    """`session` (a new one by default) with http(s) adapters applying `cfg.timeout_s` and
    proxies, and a 429 or 5xx raised as `requests.HTTPError` (for the retry loop)."""
    session = requests.Session() if session is None else session
    adapter = _YouTubeAdapter(cfg.timeout_s, cfg.proxies)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.hooks["response"].append(_raise_retryable_status)
    return session


def make_api(
    cfg: YouTubeTranscriptConfig, session: requests.Session | None = None
) -> YouTubeTranscriptApi:
    """A `YouTubeTranscriptApi` on `make_session(cfg, session)`.

    Not thread-safe (its Session holds cookies): build one per DoFn instance in `setup()`.
    """
    session = make_session(cfg, session)
    proxy_config = GenericProxyConfig(cfg.proxy_http, cfg.proxy_https) if cfg.proxies else None
    return YouTubeTranscriptApi(proxy_config=proxy_config, http_client=session)


def choose_track(tracks: list[TrackHandle], languages: tuple[str, ...]) -> TrackHandle | None:
    """The track to fetch: the first wanted language that has one, manual before generated.

    A track matches a wanted language exactly or by primary subtag ("en" takes "en-GB");
    an exact match wins over a regional one. Case does not matter.
    """
    ranked = []
    for order, t in enumerate(tracks):
        rank = language_rank(t.language_code, languages)
        if rank is not None:
            ranked.append((rank[0], t.is_generated, rank[1], order))
    return tracks[min(ranked)[-1]] if ranked else None


def fetch_transcript(
    api: YouTubeTranscriptApi,
    video_id: str,
    cfg: YouTubeTranscriptConfig,
    *,
    pacer: Pacer | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Transcript:
    """The transcript of `video_id` in the first of `cfg.languages` YouTube has.

    Raises `TranscriptError` for every expected failure (see the module docstring); a
    programming error or an unforeseen exception propagates. `pacer` defaults to the
    process-wide `Pacer.shared(YOUTUBE, cfg.min_interval_s)`.
    """
    if not is_youtube_id(video_id):
        raise TranscriptError(Status.INVALID_ID, f"not a YouTube video id: {video_id!r:.40}")
    pacer = Pacer.shared(YOUTUBE, cfg.min_interval_s) if pacer is None else pacer
    deadline = clock() + cfg.retry.deadline_s

    def retrying(fn: Callable[[], T], label: str) -> T:
        policy = replace(cfg.retry, deadline_s=max(0.0, deadline - clock()))
        return call_with_retries(
            fn, policy, _classify, pacer=pacer, sleep=sleep, clock=clock, label=label
        )

    try:
        tracks = list(retrying(lambda: api.list(video_id), f"{video_id} list"))
        track = choose_track(tracks, cfg.languages)
        if track is None:
            raise _no_track_error(tracks, cfg.languages)
        fetched = retrying(track.fetch, f"{video_id} fetch {track.language_code}")
    except _EXPECTED as exc:
        raise _to_transcript_error(exc, proxied=cfg.proxies is not None) from exc

    snippets = [
        Snippet(s.text, s.start, s.start + max(0.0, s.duration)) for s in fetched if s.text.strip()
    ]
    if not snippets:
        kind = "generated" if fetched.is_generated else "manual"
        message = f"the {fetched.language_code} ({kind}) transcript has no text"
        raise TranscriptError(Status.EMPTY_TRANSCRIPT, message)
    return Transcript(snippets, fetched.language_code, fetched.is_generated, source="youtube")


# --- one request: the json3 file of a track the probe listed -------------------------------------

MAX_TRACK_BYTES = 8 * 1024 * 1024
"""A caption file larger than this is refused (BAD_TRANSCRIPT): hours of word-timed captions
are ~2 MB."""


@dataclass(frozen=True)
class Json3Track:
    url: str
    language_code: str
    is_generated: bool


def choose_json3_track(info: dict, languages: tuple[str, ...]) -> Json3Track | None:
    """The track of yt-dlp's `info` (`subtitles`: the uploader's, `automatic_captions`: speech
    recognition) that `choose_track` would take, if it has a json3 file; None otherwise.

    Never a machine translation (yt-dlp lists those as automatic captions too, with `tlang`
    in their URL): the original ASR track of another language is no English transcript.
    """
    ranked = []
    for is_generated, key in ((False, "subtitles"), (True, "automatic_captions")):
        for lang, formats in (info.get(key) or {}).items():
            code = str(lang).removesuffix("-orig")
            rank = language_rank(code, languages) if lang != "live_chat" else None
            url = next(
                (f.get("url") for f in formats or [] if isinstance(f, dict)
                 and f.get("ext") == "json3" and isinstance(f.get("url"), str)),
                None,
            )  # fmt: skip
            if rank is None or url is None or "tlang" in parse_qs(urlsplit(url).query):
                continue
            key_ = (rank[0], is_generated, rank[1], len(ranked))
            ranked.append((key_, Json3Track(url, code, is_generated)))
    return min(ranked)[1] if ranked else None


def fetch_json3_track(
    track: Json3Track,
    session: requests.Session,
    cfg: YouTubeTranscriptConfig,
    *,
    pacer: Pacer | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    max_bytes: int = MAX_TRACK_BYTES,
) -> Transcript | None:
    """The transcript in `track`'s json3 file: ONE GET (on `make_session(cfg)`), paced and
    retried like every request here, parsed by `stages.text.captions.parse_json3`.

    None when the file is not served (its URL expired: 403, 404, 410...; or an empty body):
    the caller asks youtube-transcript-api instead. Raises `TranscriptError` like
    `fetch_transcript`.
    """
    from stages.text.captions import parse_json3

    def get() -> bytes | None:
        with session.get(track.url, stream=True) as r:
            if not r.ok:  # 429 and 5xx were raised by the session's hook, for the retry loop
                return None
            data = r.raw.read(max_bytes + 1, decode_content=True)
        if len(data) > max_bytes:
            raise TranscriptError(Status.BAD_TRANSCRIPT, f"caption file over {max_bytes} bytes")
        return data

    pacer = Pacer.shared(YOUTUBE, cfg.min_interval_s) if pacer is None else pacer
    label = f"json3 {track.language_code}"
    try:
        data = call_with_retries(
            get, cfg.retry, _classify, pacer=pacer, sleep=sleep, clock=clock, label=label
        )
    except _EXPECTED as exc:
        raise _to_transcript_error(exc, proxied=cfg.proxies is not None) from exc
    if data is None or not data.strip():  # YouTube answers 200 and nothing without a PO token
        return None
    snippets = parse_json3(data.decode("utf-8", errors="replace"))
    if not snippets:
        kind = "generated" if track.is_generated else "manual"
        message = f"the {track.language_code} ({kind}) json3 track has no text"
        raise TranscriptError(Status.EMPTY_TRANSCRIPT, message)
    return Transcript(snippets, track.language_code, track.is_generated, source="json3")


def _no_track_error(tracks: list[TrackHandle], languages: tuple[str, ...]) -> TranscriptError:
    if not tracks:
        return TranscriptError(Status.NO_TRANSCRIPT, "the video lists no caption tracks")
    available = ", ".join(
        f"{t.language_code} ({'generated' if t.is_generated else 'manual'})"
        for t in sorted(tracks, key=lambda t: (t.language_code, t.is_generated))
    )
    message = f"no transcript in {list(languages)}; available: {available}"
    return TranscriptError(Status.LANGUAGE_UNAVAILABLE, message)


_NETWORK = (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError)
_UNPARSABLE = (ParseError, requests.exceptions.JSONDecodeError, DefusedXmlException)
# Anything else (an invalid proxy URL, a redirect loop, a KeyError from a changed layout)
# is systemic, not a fact about one video: it propagates.
_EXPECTED = (CouldNotRetrieveTranscript, requests.HTTPError, *_NETWORK, *_UNPARSABLE)


def _classify(exc: Exception) -> Retry | None:
    """Retry a 429 or 5xx (honouring Retry-After) and network errors; nothing else."""
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        retry_after = parse_retry_after(exc.response.headers.get("Retry-After"))
        return Retry(retry_after, f"HTTP {exc.response.status_code}")
    if isinstance(exc, _NETWORK):
        return Retry(reason=type(exc).__name__)
    return None


_STATUS_OF: list[tuple[type[CouldNotRetrieveTranscript], Status]] = [
    (RequestBlocked, Status.BLOCKED),  # IpBlocked is a RequestBlocked
    (TranscriptsDisabled, Status.TRANSCRIPTS_DISABLED),
    (NoTranscriptFound, Status.LANGUAGE_UNAVAILABLE),
    (InvalidVideoId, Status.INVALID_ID),
    (VideoUnavailable, Status.UNAVAILABLE),
    (VideoUnplayable, Status.UNAVAILABLE),
    (AgeRestricted, Status.AGE_RESTRICTED),
    (PoTokenRequired, Status.PO_TOKEN_REQUIRED),
]


def _to_transcript_error(exc: BaseException, *, proxied: bool) -> TranscriptError:
    """The status and a one-line message for an expected failure (after any retries)."""
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        r = exc.response
        url = urlsplit(r.url)
        what = f"HTTP {r.status_code} {r.reason or ''}".strip()
        message = f"{what} from {url.netloc}{url.path}, after retries"
        status = (
            Status.RATE_LIMITED
            if r.status_code == 429
            else Status.SERVER_ERROR
            if r.status_code >= 500
            else Status.UNAVAILABLE
        )
        return TranscriptError(status, message)
    if isinstance(exc, _NETWORK):
        return TranscriptError(Status.NETWORK_TIMEOUT, f"{type(exc).__name__}: {_short(exc)}")
    if isinstance(exc, _UNPARSABLE):
        message = f"unparsable YouTube answer: {type(exc).__name__}: {_short(exc)}"
        return TranscriptError(Status.BAD_TRANSCRIPT, message)
    if isinstance(exc, RequestBlocked):
        return TranscriptError(Status.BLOCKED, _blocked_message(exc, proxied))
    if isinstance(exc, CouldNotRetrieveTranscript):
        status = next((s for cls, s in _STATUS_OF if isinstance(exc, cls)), Status.NO_TRANSCRIPT)
        message = _short(exc.cause) or type(exc).__name__
        if isinstance(exc, VideoUnplayable) and exc.sub_reasons:
            message = f"{message} ({' '.join(r.strip() for r in exc.sub_reasons)})"
        return TranscriptError(status, message)
    return TranscriptError(Status.NO_TRANSCRIPT, f"{type(exc).__name__}: {_short(exc)}")


def _blocked_message(exc: RequestBlocked, proxied: bool) -> str:
    kind = type(exc).__name__
    if proxied:
        return (
            f"YouTube blocked the request ({kind}) despite the configured proxy; "
            "a pool of rotating residential proxies is the reliable fix"
        )
    return (
        f"YouTube blocked the request ({kind}); IPs of cloud providers are commonly blocked: "
        "set a proxy (proxy_http / proxy_https) and rerun later"
    )


def _short(text: object, limit: int = 200) -> str:
    """The first non-empty line of `text`, without URLs' queries, at most `limit` characters."""
    line = next((ln.strip() for ln in str(text).splitlines() if ln.strip()), "")
    line = re.sub(r"(/[^\s?]*)\?[^\s)]*", r"\1", line)  # URLs' queries hold keys, signatures
    return line if len(line) <= limit else line[: limit - 1] + "…"
