"""youtube_errors: what a yt-dlp failure means for a video (a `Status`), and whether another
attempt can help; `retrying(fn, ...)` runs a yt-dlp call paced, retried and mapped.

How yt-dlp's failures map to a status. `status_of_message` holds the text patterns, tried in
this order; a structured cause (`HTTPError.status`, `GeoRestrictedError`) wins over the text.
"Retry" says whether `retrying` tries again within this run.

    yt-dlp says                                                   status           retry
    "Sign in to confirm you’re not a bot" (’ or ')                BOT_CHECK        no
    HTTP 429, "Too Many Requests"                                 RATE_LIMITED     yes *
    "rate-limited by YouTube", "isn't available, try again later" RATE_LIMITED     no (hours)
    "Sign in to confirm your age", "age-restricted"               AGE_RESTRICTED   no
    "Private video", "members-only"                               PRIVATE          no
    GeoRestrictedError, "not available in your country"           GEO_BLOCKED      no
    live_status is_live/is_upcoming/post_live,
      "This live event will begin", "Premieres in"                LIVE             no
    Content-Length / filesize above the cap (yt-dlp SKIPS the
      file without raising: "File is larger than max-filesize"),
      or more bytes than the cap arrive                           TOO_LARGE        no
    HTTP 403                                                      BLOCKED          no
    HTTP 404/410, "Video unavailable", "has been removed",
      "Unsupported URL"                                           UNAVAILABLE      no
    HTTP 5xx                                                      SERVER_ERROR **  yes *
    timeouts, connection resets, short bodies
      ("N bytes read, M more expected")                           NETWORK_TIMEOUT  yes
    the per-video wall clock ran out (`NetGuard`)                 NETWORK_TIMEOUT  no
    a connection to a private / loopback / link-local address     PRIVATE_HOST     no
    "Requested format is not available", "No video formats"      UNAVAILABLE ***  no
    an extension other than mp4 / webm / mkv                      UNSAFE_MEDIA     no
    the file does not open or decode (HTML, garbage)              CORRUPT_MEDIA    no
    no video stream (audio-only, a still image)                   NO_VIDEO_STREAM  no
    a video id unsafe as a file name                              INVALID_ID       no
    any other yt-dlp error                                        UNAVAILABLE      no
    *  honouring Retry-After when yt-dlp kept the response (it drops it after its own retries)
    ** the message names the code
    *** plus what to install when YouTube's JavaScript challenges could not be solved
"""

import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from yt_dlp.networking.exceptions import CertificateVerifyError, HTTPError, TransportError
from yt_dlp.utils import GeoRestrictedError, YoutubeDLError

from schemas.status import Status, StatusError
from stages.acquire.netguard import GuardTripped, NetGuard, check_url
from stages.acquire.polite import (
    YOUTUBE,
    Pacer,
    Retry,
    RetryPolicy,
    call_with_retries,
    parse_retry_after,
)
from stages.acquire.ytdlp import AcquireConfig, YdlLog, js_runtime_status, proxy_hosts


class AcquisitionError(StatusError):
    """A video that cannot be listed, probed or downloaded; `status` says why."""


def retrying(
    fn: Callable[[], Any],
    cfg: AcquireConfig,
    label: str,
    ydl_log: YdlLog,
    *,
    policy: RetryPolicy | None = None,
    pacer: Pacer | None,
    sleep: Callable[[float], None],
    clock: Callable[[], float] = time.monotonic,
) -> Any:
    """`fn()` paced (`pacer`, else the process-wide YouTube pace) and retried (`policy`, else
    `cfg.retry`); yt-dlp's errors become AcquisitionError, explained by what `ydl_log` heard.

    Every attempt runs inside one `NetGuard`: all attempts together end within
    `cfg.wall_clock_s` (counted from the first attempt) whatever the server does, and no
    connection goes to a private address unless `cfg.allow_private_hosts`.
    """
    pacer = Pacer.shared(YOUTUBE, cfg.min_interval_s) if pacer is None else pacer
    guard = NetGuard(
        cfg.wall_clock_s,
        allow_private=cfg.allow_private_hosts,
        allowed_hosts=proxy_hosts(cfg),
        what=label,
    )

    earlier: list[AcquisitionError] = []  # the typed failure of the last finished attempt

    def guarded() -> Any:
        try:
            return guard.run(fn, AcquisitionError)
        except YoutubeDLError as exc:
            earlier[:] = [to_acquisition_error(exc, ydl_log.warnings)]
            raise

    try:
        return call_with_retries(
            guarded, policy or cfg.retry, retry_of, pacer=pacer, sleep=sleep, clock=clock,
            label=label,
        )  # fmt: skip
    except YoutubeDLError as exc:
        raise to_acquisition_error(exc, ydl_log.warnings) from exc
    except AcquisitionError as exc:
        if exc.status == Status.NETWORK_TIMEOUT and guard.expired and earlier:
            # The cap cut a retry short: the video failed for its earlier attempt's reason.
            first = earlier[0]
            raise AcquisitionError(
                first.status, f"{first.message} (the {cfg.wall_clock_s:g} s wall clock ended "
                "the retries)"
            ) from exc  # fmt: skip
        raise
    finally:
        guard.close()


_HTTP_CODE = re.compile(r"HTTP Error (\d{3})")
_NETWORK_TEXT = (
    r"timed out|time-?out|Connection (?:reset|refused|aborted|broken)|Remote end closed"
    r"|bytes read|more expected|content too short|IncompleteRead|Did not get any data blocks"
    r"|downloaded file is empty"
)
_FORMATS_MISSING = re.compile(
    r"Requested format is not available|Only images are available|No video formats found", re.I
)
_JS_TROUBLE = re.compile(r"JavaScript runtime|challenge solving failed", re.I)
_MESSAGE_TABLE: tuple[tuple[str, Status], ...] = (
    (r"not a bot", Status.BOT_CHECK),
    (
        r"HTTP Error 429|Too Many Requests|rate-limited|isn.t available, try again later",
        Status.RATE_LIMITED,
    ),
    (
        r"confirm your age|age-restricted|age restricted|inappropriate for some users",
        Status.AGE_RESTRICTED,
    ),
    (r"Private video|members-only|members only|Join this channel", Status.PRIVATE),
    (r"available in your country|geo.?restrict|from your location", Status.GEO_BLOCKED),
    (r"live event|Premieres? (?:in|will begin)|is_live|is_upcoming|live stream", Status.LIVE),
    (r"larger than max-filesize", Status.TOO_LARGE),
    (r"HTTP Error 403", Status.BLOCKED),
    (
        r"Video unavailable|has been removed|no longer available|been terminated|does not exist"
        r"|Unsupported URL|No suitable extractor|HTTP Error (?:404|410)",
        Status.UNAVAILABLE,
    ),
    (r"HTTP Error 5\d\d", Status.SERVER_ERROR),
    (_NETWORK_TEXT, Status.NETWORK_TIMEOUT),
)
_MESSAGE_STATUS = tuple((re.compile(p, re.I), s) for p, s in _MESSAGE_TABLE)


def status_of_message(text: str) -> Status | None:
    """The status a yt-dlp error text stands for (the module docstring's table), or None."""
    return next((status for pattern, status in _MESSAGE_STATUS if pattern.search(text)), None)


def check_host(url: str, cfg: AcquireConfig) -> None:
    """Refuse a URL whose host is a private address before yt-dlp runs (the `NetGuard` of
    every call refuses the connection too, and after redirects; through a proxy only this
    check sees the real host)."""
    try:
        check_url(url, cfg.allow_private_hosts, proxy_hosts(cfg))
    except GuardTripped as exc:
        raise AcquisitionError(exc.status, exc.message) from None


def _cause(exc: BaseException) -> BaseException | None:
    """The exception behind a DownloadError / ExtractorError, when yt-dlp kept it."""
    info = getattr(exc, "exc_info", None)
    if info and info[1] is not None and info[1] is not exc:
        return info[1]
    return getattr(exc, "cause", None)


def retry_of(exc: Exception) -> Retry | None:
    """`call_with_retries`' classify: 429, 5xx and network failures are worth another try."""
    if isinstance(exc, AcquisitionError) or not isinstance(exc, YoutubeDLError):
        return None
    cause = _cause(exc)
    if isinstance(cause, HTTPError):
        if cause.status == 429 or cause.status >= 500:
            after = parse_retry_after(cause.response.headers.get("Retry-After"))
            return Retry(after, f"HTTP {cause.status}")
        return None
    if isinstance(cause, TransportError) and not isinstance(cause, CertificateVerifyError):
        return Retry(reason=type(cause).__name__)
    text = str(exc)
    if m := _HTTP_CODE.search(text):  # yt-dlp gave up its own retries and dropped the cause
        code = int(m.group(1))
        return Retry(reason=f"HTTP {code}") if code == 429 or code >= 500 else None
    if status_of_message(text) == Status.NETWORK_TIMEOUT:
        return Retry(reason="network")
    return None


def to_acquisition_error(exc: BaseException, warnings: Sequence[str] = ()) -> AcquisitionError:
    """The status and a one-line message for a yt-dlp failure (after any retries).

    `warnings`: what yt-dlp warned during the call, to explain missing formats.
    """
    if isinstance(exc, AcquisitionError):
        return exc
    cause = _cause(exc)
    message = _short(exc)
    if isinstance(cause, GeoRestrictedError):
        countries = f" (available in: {', '.join(cause.countries)})" if cause.countries else ""
        return AcquisitionError(Status.GEO_BLOCKED, message + countries)
    if isinstance(cause, HTTPError):
        status = {429: Status.RATE_LIMITED, 403: Status.BLOCKED}.get(cause.status)
        if cause.status >= 500:
            status = Status.SERVER_ERROR
        return AcquisitionError(status or Status.UNAVAILABLE, message)
    status = status_of_message(str(exc))
    if status is None and isinstance(cause, TransportError):
        status = Status.NETWORK_TIMEOUT
    if _FORMATS_MISSING.search(str(exc)):
        if missing := js_runtime_status():
            message = f"{message}; {missing}"
        elif warned := next((w for w in warnings if _JS_TROUBLE.search(w)), None):
            message = f"{message}; yt-dlp warned: {_short(warned, 160)} (update yt-dlp[default])"
    return AcquisitionError(status or Status.UNAVAILABLE, message)


def _short(text: object, limit: int = 300) -> str:
    """The first non-empty line of `text` without "ERROR:" or URL queries, ≤ `limit` chars."""
    lines = str(text).replace("\r", "").splitlines()
    line = next((ln.strip() for ln in lines if ln.strip()), "")
    line = re.sub(r"^(?:ERROR|WARNING):\s*", "", line)
    line = re.sub(r"(/[^\s?]*)\?[^\s)]*", r"\1", line)  # queries hold signatures and keys
    return line if len(line) <= limit else line[: limit - 1] + "…"
