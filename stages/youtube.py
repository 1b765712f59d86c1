"""youtube: everything that talks to yt-dlp. A source → video entries; a video → metadata; a
video → one verified media file under `dest_dir`.

- `list_source(source, cfg)`: a search (`ytsearch50:cooking`), channel or playlist URL → flat
  entries {video_id, url, title, duration_s}; a single video URL → one entry.
- `probe(url, cfg)`: ONE `extract_info(download=False)` → metadata and the caption languages.
- `download(url, video_id, dest_dir, cfg)`: one single-file, video-only stream at most
  `max_height` → `dest_dir/<video_id>.<ext>` (dest_dir may be `gs://...`), verified to decode.

Each call builds its own `YoutubeDL` (about 1 ms with `cfg.extractors` restricted), so the
functions are thread-safe; every call is paced by the process-wide `Pacer.shared(YOUTUBE, ...)`
and retried by `stages.polite.call_with_retries`. Every expected failure raises
`AcquisitionError(status, message)`; anything else (a bug) propagates.

How yt-dlp's failures map to a status. `status_of_message` holds the text patterns, tried in
this order; a structured cause (`HTTPError.status`, `GeoRestrictedError`) wins over the text.
"Retry" says whether `call_with_retries` tries again within this run.

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
    HTTP 5xx                                                      UNAVAILABLE **   yes *
    timeouts, connection resets, short bodies
      ("N bytes read, M more expected")                           NETWORK_TIMEOUT  yes
    the per-video wall clock ran out (progress hook)              NETWORK_TIMEOUT  no
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

import functools
import hashlib
import io
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote, urlsplit

import av
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from yt_dlp import YoutubeDL
from yt_dlp.networking.exceptions import CertificateVerifyError, HTTPError, TransportError
from yt_dlp.utils import GeoRestrictedError, YoutubeDLError

from schemas.status import Status, StatusError
from stages.polite import YOUTUBE, Pacer, Retry, RetryPolicy, call_with_retries, parse_retry_after
from stages.store import atomic_write, validate_video_id

log = logging.getLogger(__name__)

YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")
"""A YouTube video id (use with fullmatch). Ids may start with "-": never pass one as argv."""
MEDIA_EXTENSIONS = frozenset({"mp4", "webm", "mkv"})
LIVE_STATES = frozenset({"is_live", "is_upcoming", "post_live"})
MIB = 1024 * 1024
_COPY_CHUNK = 8 * MIB
_YOUTUBE_URL = re.compile(
    r"(?:youtube(?:-nocookie)?\.com/(?:watch\?(?:[^#]*&)?v=|shorts/|embed/|live/|v/)|youtu\.be/)"
    r"([A-Za-z0-9_-]{11})(?![A-Za-z0-9_-])"
)
_INSTALL_JS = (
    'pip install "yt-dlp[default,deno]" (deno and the yt-dlp-ejs solver), '
    "or put a deno or node binary on PATH"
)


class AcquisitionError(StatusError):
    """A video that cannot be listed, probed or downloaded; `status` says why."""


@dataclass(frozen=True)
class AcquireConfig:
    max_height: int = 360
    """Tallest video stream to download (S3D needs 224², decode cost grows with bitrate)."""
    max_filesize_mb: float = 500.0
    """Larger files are refused (TOO_LARGE) from Content-Length, yt-dlp's size, or bytes read."""
    socket_timeout_s: float = 20.0
    """Connect/read timeout of each socket operation: ends a dead connection."""
    wall_clock_s: float = 900.0
    """Cap on one download, all attempts together: ends a slow-but-alive trickle."""
    min_interval_s: float = 1.0
    """Global pace: least time between two calls (list, probe, download) in one process."""
    request_sleep_s: float = 0.75
    """yt-dlp's sleep between the HTTP requests inside one extraction (`-t sleep` preset)."""
    retry: RetryPolicy = RetryPolicy()
    """Backoff for 429, 5xx and network errors (our loop; yt-dlp's own retries are few)."""
    cookies: str | None = None
    """A Netscape cookies.txt (local or FileSystems URI), read once; never written back."""
    proxy: str | None = None
    """yt-dlp's `proxy` (http://, socks5://); may hold credentials."""
    format: str | None = None
    """A yt-dlp format selector; None: `default_format(max_height)`. Must pick ONE stream."""
    extractors: tuple[str, ...] = ("youtube.*", "generic")
    """yt-dlp's allowed_extractors (regexes): YouTube, and direct media links (generic)."""


def default_format(max_height: int) -> str:
    """A single-file, video-only stream at most `max_height` that needs no merge (no ffmpeg).

    Prefers H.264 (the cheapest to decode), then any mp4, then any codec, over plain HTTP(S)
    (one file, not fragments); then a muxed file (direct links: unknown codecs); then HLS.
    `height<=?` lets unknown heights (direct links) pass; `vcodec!=?none` refuses audio-only.
    """
    h, plain, video = f"[height<=?{max_height}]", "[protocol~='^https?$']", "[vcodec!=?none]"
    return "/".join(
        (
            f"bv{h}[vcodec^=avc1]{plain}",
            f"bv{h}[ext=mp4]{plain}",
            f"bv{h}{plain}",
            f"b{h}{video}{plain}",
            f"bv{h}",
            f"b{h}{video}",
        )
    )


# --- JavaScript runtime (YouTube's n/sig challenges) -------------------------------------------


def _deno_bin() -> str | None:
    try:
        import deno  # the `deno` PyPI package (yt-dlp's `deno` extra)

        return deno.find_deno_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("deno")


@functools.cache
def _js_runtimes() -> dict[str, dict]:
    """yt-dlp's `js_runtimes`: deno (sandboxed, yt-dlp's default) by path, else node on PATH."""
    if deno_bin := _deno_bin():
        return {"deno": {"path": deno_bin}}
    if shutil.which("node"):
        return {"node": {}}
    return {"deno": {}}


def js_runtime_status() -> str | None:
    """None if YouTube's JavaScript challenges can be solved here, else what is missing and
    how to install it. Cheap (no subprocess): call it in `DoFn.setup()`."""
    from yt_dlp.dependencies import yt_dlp_ejs

    if _deno_bin() is None and shutil.which("node") is None:
        return f"no JavaScript runtime for YouTube's challenges: {_INSTALL_JS}"
    if yt_dlp_ejs is None:
        return 'the yt-dlp-ejs challenge solver is missing: pip install "yt-dlp[default,deno]"'
    return None


# --- yt-dlp parameters ---------------------------------------------------------------------------


class _YdlLog:
    """yt-dlp's `logger`: routes its output to `logging` and keeps what classification needs."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.too_large: str | None = None  # yt-dlp's "File is larger than max-filesize" line

    def debug(self, msg: str) -> None:
        if "larger than max-filesize" in msg:
            self.too_large = msg.strip().removeprefix("[download] ")
        log.debug("yt-dlp: %s", msg)

    def info(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def warning(self, msg: str) -> None:
        self.warnings.append(msg)
        log.info("yt-dlp: %s", msg)

    def error(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)  # it is raised as well: the caller logs the outcome


@functools.lru_cache(maxsize=4)
def _cookie_text(uri: str) -> str:
    with FileSystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return f.read().decode("utf-8")


def ydl_params(cfg: AcquireConfig, **extra: Any) -> dict[str, Any]:
    """The YoutubeDL params every call here uses; `extra` overrides or adds.

    Quiet, logging through `logging`; small yt-dlp retry counts (`call_with_retries` does the
    backoff); no post-processors, no ffmpeg fix-ups, no playlists for a video URL, no
    subtitles or side files; `cfg.cookies` is given as a private in-memory copy, because
    yt-dlp writes its cookie file back on close (threads would corrupt a shared one).
    """
    params: dict[str, Any] = {
        "quiet": True,
        "noprogress": True,
        "logger": _YdlLog(),
        "socket_timeout": cfg.socket_timeout_s,
        "retries": 2,  # within one attempt: resumes a cut body with Range
        "fragment_retries": 2,
        "extractor_retries": 1,
        "skip_unavailable_fragments": False,  # a missing fragment fails, never leaves a gap
        "ignoreerrors": False,  # an error raises, never returns None
        "noplaylist": True,
        "format": cfg.format or default_format(cfg.max_height),
        "max_filesize": int(cfg.max_filesize_mb * MIB),
        "postprocessors": [],
        "fixup": "never",
        "updatetime": False,
        "allowed_extractors": list(cfg.extractors),
        "js_runtimes": _js_runtimes(),
        "sleep_interval_requests": cfg.request_sleep_s,
    }
    if cfg.proxy:
        params["proxy"] = cfg.proxy
    if cfg.cookies:
        params["cookiefile"] = io.StringIO(_cookie_text(cfg.cookies))
    params.update(extra)
    return params


# --- ids -----------------------------------------------------------------------------------------


def video_id_for(info_or_url: dict | str) -> str:
    """A video id safe as one path component, for an info dict / flat entry or a URL.

    YouTube videos keep their 11-character id. Anything else gets a sanitised stem (the URL's
    file name without extension for direct links, so an info dict and its URL agree; else the
    extractor and its id; `[A-Za-z0-9_-]`, ≤ 64 chars) plus "-" and 8 hex of the URL's SHA-1,
    so a title, URL or foreign id never becomes a path.
    """
    if isinstance(info_or_url, dict):
        info = info_or_url
        url = str(info.get("webpage_url") or info.get("url") or info.get("original_url") or "")
        key = str(info.get("extractor_key") or info.get("ie_key") or "")
        vid = str(info.get("id") or "")
        if key.lower().startswith("youtube") and YOUTUBE_ID.fullmatch(vid):
            return vid
        # A direct link is named by its URL, as when only the URL is known.
        stem = "" if key.lower() in ("", "generic") else f"{key}-{vid}"
    else:
        url = info_or_url.strip()
        if YOUTUBE_ID.fullmatch(url):
            return url
        if m := _YOUTUBE_URL.search(url):
            return m.group(1)
        stem = ""
    if not stem:
        stem = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]).rsplit(".", 1)[0]
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-_")[:64].strip("-_") or "video"
    digest = hashlib.sha1(url.encode("utf-8")).hexdigest()[:8]
    return validate_video_id(f"{stem}-{digest}")


def _canonical_url(info: dict, video_id: str) -> str:
    key = str(info.get("extractor_key") or info.get("ie_key") or "").lower()
    if key.startswith("youtube") and YOUTUBE_ID.fullmatch(video_id):
        return f"https://www.youtube.com/watch?v={video_id}"
    return str(info.get("webpage_url") or info.get("url") or "")


# --- listing and probing -------------------------------------------------------------------------


def list_source(
    source: str,
    cfg: AcquireConfig,
    max_entries: int | None = None,
    *,
    pacer: Pacer | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict]:
    """Flat entries {video_id, url, title, duration_s (may be None)} of a search
    (`ytsearch50:cooking`), channel or playlist; a single video URL gives one entry.

    One `extract_info(extract_flat="in_playlist")`: no request per video. Entries that are
    lists themselves (a channel's Videos / Shorts / Live tabs) are expanded one level down,
    one more call each, until `max_entries` videos are found.
    """
    ydl_log = _YdlLog()
    params = ydl_params(cfg, logger=ydl_log, extract_flat="in_playlist", playlistend=max_entries)

    def flat(url: str) -> tuple[list[dict], list[str]]:
        """(video entries, URLs of nested lists) of `url`."""
        with YoutubeDL(params) as ydl:
            info = ydl.extract_info(url, download=False)
            listed = info.get("_type") in ("playlist", "multi_video")
            entries = [e for e in (info.get("entries") or []) if e] if listed else [info]
            videos, nested = [], []
            for entry in entries:
                (videos if _is_video(ydl, entry) else nested).append(entry)
            return videos, [e["url"] for e in nested]

    def retrying(url: str) -> tuple[list[dict], list[str]]:
        return _retrying(
            lambda: flat(url), cfg.retry, cfg, ydl_log, f"list {url[:80]}", pacer=pacer, sleep=sleep
        )

    videos, nested = retrying(source)
    for url in nested:
        if max_entries is not None and len(videos) >= max_entries:
            break
        videos += retrying(url)[0]
    rows: dict[str, dict] = {}  # by id: a video listed in two tabs appears once
    for entry in videos:
        video_id = video_id_for(entry)
        rows.setdefault(
            video_id,
            {
                "video_id": video_id,
                "url": _canonical_url(entry, video_id),
                "title": entry.get("title"),
                "duration_s": _float_or_none(entry.get("duration")),
            },
        )
    return list(rows.values())[:max_entries]


def _is_video(ydl: YoutubeDL, entry: dict) -> bool:
    """Whether a flat entry is one video (not a playlist or channel tab to expand)."""
    kind = entry.get("_type", "video")
    if kind == "video":
        return True
    if kind not in ("url", "url_transparent"):  # playlist, multi_video
        return False
    if not entry.get("ie_key"):
        return True
    try:
        ie = ydl.get_info_extractor(entry["ie_key"])
    except KeyError:  # an extractor yt-dlp does not know: extraction decides later
        return True
    return ie.is_single_video(entry.get("url") or "") is True


def probe(
    url: str,
    cfg: AcquireConfig,
    *,
    pacer: Pacer | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict:
    """Metadata of one video from ONE `extract_info(download=False)` (the caption lists come
    with it): {video_id, url, title, duration_s, categories, tags, language, live_status,
    availability, channel, caption_languages, auto_caption_languages}.

    Runs the format selection too, so a video with no usable stream fails here already.
    """
    ydl_log = _YdlLog()
    params = ydl_params(cfg, logger=ydl_log)

    def extract() -> dict:
        with YoutubeDL(params) as ydl:
            return ydl.extract_info(url, download=False)

    label = f"probe {url[:80]}"
    info = _retrying(extract, cfg.retry, cfg, ydl_log, label, pacer=pacer, sleep=sleep)
    video_id = video_id_for(info)
    return {
        "video_id": video_id,
        "url": _canonical_url(info, video_id) or url,
        "title": info.get("title"),
        "duration_s": _float_or_none(info.get("duration")),
        "categories": list(info.get("categories") or []),
        "tags": list(info.get("tags") or []),
        "language": info.get("language"),
        "live_status": info.get("live_status"),
        "availability": info.get("availability"),
        "channel": info.get("channel") or info.get("uploader"),
        "caption_languages": sorted(k for k in info.get("subtitles") or {} if k != "live_chat"),
        "auto_caption_languages": sorted(info.get("automatic_captions") or {}),
    }


# --- downloading ---------------------------------------------------------------------------------


def download(
    url: str,
    video_id: str,
    dest_dir: str,
    cfg: AcquireConfig,
    *,
    sleep: Callable[[float], None] = time.sleep,
    pacer: Pacer | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[str, int]:
    """Download one video to `dest_dir/<video_id>.<ext>`; returns (its URI, its size in bytes).

    Each attempt runs yt-dlp in a fresh local temp dir, so no stale `.part` is resumed across
    attempts (within one, yt-dlp resumes a cut body with a checked Range). A match filter
    refuses live videos, odd extensions and declared sizes over the cap before any media
    byte. A progress hook, run per block read (yt-dlp sizes reads to ~1 s of data), ends the
    download once `cfg.wall_clock_s` has passed since the first attempt began, or once more
    bytes than the cap arrived; a silent connection is ended by `socket_timeout_s` (worst
    case: the wall clock plus ~3 socket timeouts). The file must open with PyAV, have a
    video stream and decode a frame; it is then copied through `FileSystems` to a temp name
    and renamed, so a final name always means a complete, verified file. Local temp files
    are removed whatever happens.
    """
    try:
        validate_video_id(video_id)
    except ValueError as exc:
        raise AcquisitionError(Status.INVALID_ID, str(exc)) from None
    ydl_log = _YdlLog()
    max_bytes = int(cfg.max_filesize_mb * MIB)
    deadline: float | None = None  # the wall clock starts with the first attempt

    def hook(progress: dict) -> None:
        done = progress.get("downloaded_bytes") or 0
        if deadline is not None and clock() > deadline:
            raise AcquisitionError(
                Status.NETWORK_TIMEOUT,
                f"download passed the {cfg.wall_clock_s:g} s wall clock ({done} bytes in)",
            )
        if done > max_bytes:
            raise AcquisitionError(Status.TOO_LARGE, f"over {cfg.max_filesize_mb:g} MB")

    with tempfile.TemporaryDirectory(prefix="videobert-yt-") as tmp:

        def attempt() -> tuple[str, str]:
            nonlocal deadline
            if deadline is None:
                deadline = clock() + cfg.wall_clock_s
            work = tempfile.mkdtemp(dir=tmp)
            params = ydl_params(
                cfg,
                logger=ydl_log,
                outtmpl={"default": os.path.join(work, "media.%(ext)s")},
                progress_hooks=[hook],
                match_filter=functools.partial(_refuse_unwanted, max_bytes=max_bytes),
            )
            with YoutubeDL(params) as ydl:
                info = ydl.extract_info(url, download=True)
            ext = str(info.get("ext"))
            path = os.path.join(work, f"media.{ext}")
            if not os.path.isfile(path) or os.path.getsize(path) == 0:
                if ydl_log.too_large:  # yt-dlp skipped the file without raising
                    raise AcquisitionError(Status.TOO_LARGE, ydl_log.too_large)
                raise AcquisitionError(Status.UNAVAILABLE, "yt-dlp finished without a file")
            return path, ext

        policy = replace(cfg.retry, deadline_s=min(cfg.retry.deadline_s, cfg.wall_clock_s))
        path, ext = _retrying(
            attempt,
            policy,
            cfg,
            ydl_log,
            f"{video_id} download",
            pacer=pacer,
            sleep=sleep,
            clock=clock,
        )
        verify_media(path)
        size = os.path.getsize(path)
        return _publish(path, dest_dir, f"{video_id}.{ext}"), size


def _refuse_unwanted(info: dict, *, incomplete: Any = False, max_bytes: int) -> None:
    """yt-dlp's match_filter: refuse (raise) before a byte of media is fetched."""
    if info.get("playlist_index") is not None:
        raise AcquisitionError(Status.UNAVAILABLE, "an entry of a playlist, not one video URL")
    if info.get("is_live") or info.get("live_status") in LIVE_STATES:
        raise AcquisitionError(Status.LIVE, f"live status {info.get('live_status') or 'is_live'}")
    if incomplete:  # called again once a format is chosen
        return
    if info.get("requested_formats"):
        raise ValueError(f"format {info.get('format_id')!r} needs a merge: choose one stream")
    ext = info.get("ext")
    if ext not in MEDIA_EXTENSIONS:
        raise AcquisitionError(Status.UNSAFE_MEDIA, f"extension {ext!r} not in {MEDIA_EXTENSIONS}")
    size = info.get("filesize") or info.get("filesize_approx")
    if size and size > max_bytes:
        raise AcquisitionError(Status.TOO_LARGE, f"{size} bytes > {max_bytes} (declared)")


def verify_media(path: str) -> None:
    """Raise AcquisitionError unless `path` opens, has a video stream and decodes a frame."""
    try:
        with av.open(path) as container:
            fmt = container.format.name
            if fmt.startswith("image2") or fmt.endswith("_pipe"):
                raise AcquisitionError(Status.NO_VIDEO_STREAM, f"a still image ({fmt})")
            attached = av.stream.Disposition.attached_pic
            videos = [s for s in container.streams.video if not s.disposition & attached]
            if not videos:
                kinds = [s.type for s in container.streams] or ["none"]
                raise AcquisitionError(Status.NO_VIDEO_STREAM, f"no video stream ({kinds})")
            if videos[0].codec_context is None:
                raise AcquisitionError(Status.CORRUPT_MEDIA, "the video stream has no decoder")
            videos[0].codec_context.thread_count = 1  # one frame: threads cost more than they save
            for _ in container.decode(videos[0]):
                return
    except av.error.FFmpegError as exc:
        raise AcquisitionError(Status.CORRUPT_MEDIA, f"does not decode: {exc}") from None
    raise AcquisitionError(Status.CORRUPT_MEDIA, "not one frame decodes")


def _publish(local: str, dest_dir: str, name: str) -> str:
    """Copy `local` to `dest_dir/name` through FileSystems: a temp name, then a rename."""
    final = FileSystems.join(dest_dir, name)
    with open(local, "rb") as src:
        atomic_write(final, lambda dst: shutil.copyfileobj(src, dst, _COPY_CHUNK))
    return final


# --- retries and error mapping -------------------------------------------------------------------


def _retrying(
    fn: Callable[[], Any],
    policy: RetryPolicy,
    cfg: AcquireConfig,
    ydl_log: _YdlLog,
    label: str,
    *,
    pacer: Pacer | None,
    sleep: Callable[[float], None],
    clock: Callable[[], float] = time.monotonic,
) -> Any:
    """`fn()` paced and retried; yt-dlp's errors become AcquisitionError."""
    pacer = Pacer.shared(YOUTUBE, cfg.min_interval_s) if pacer is None else pacer
    try:
        return call_with_retries(
            fn, policy, _retry_of, pacer=pacer, sleep=sleep, clock=clock, label=label
        )
    except YoutubeDLError as exc:
        raise to_acquisition_error(exc, ydl_log.warnings) from exc


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
        r"|Unsupported URL|No suitable extractor|HTTP Error (?:404|410|5\d\d)",
        Status.UNAVAILABLE,
    ),
    (_NETWORK_TEXT, Status.NETWORK_TIMEOUT),
)
_MESSAGE_STATUS = tuple((re.compile(p, re.I), s) for p, s in _MESSAGE_TABLE)


def status_of_message(text: str) -> Status | None:
    """The status a yt-dlp error text stands for (the module docstring's table), or None."""
    return next((status for pattern, status in _MESSAGE_STATUS if pattern.search(text)), None)


def _cause(exc: BaseException) -> BaseException | None:
    """The exception behind a DownloadError / ExtractorError, when yt-dlp kept it."""
    info = getattr(exc, "exc_info", None)
    if info and info[1] is not None and info[1] is not exc:
        return info[1]
    return getattr(exc, "cause", None)


def _retry_of(exc: Exception) -> Retry | None:
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


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)
