"""ytdlp: how this project drives yt-dlp. Its configuration (`AcquireConfig`), the YoutubeDL
parameters every call uses, the JavaScript runtime YouTube's challenges need, and one reusable
`YoutubeDL` per thread and configuration (`handle`).

Why reuse: building a YoutubeDL loads yt-dlp's TLS certificate bundle (~14 ms) and its
extractors; over a fast link that fixed cost per video is a large share of a small file's
download time. Reuse also keeps connections, cookies and YouTube's player JavaScript cached
between videos, as the yt-dlp command line does for a list of URLs. A handle is only ever
used by the thread that made it, one call at a time, so no locking is needed.
"""

import functools
import io
import logging
import shutil
import threading
from dataclasses import dataclass
from typing import Any

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from yt_dlp import YoutubeDL

from stages.acquire.polite import RetryPolicy

log = logging.getLogger(__name__)

MIB = 1024 * 1024
_INSTALL_JS = (
    'pip install "yt-dlp[default,deno]" (deno and the yt-dlp-ejs solver), '
    "or put a deno or node binary on PATH"
)


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
    info_max_age_s: float = 4 * 3600.0
    """A download reuses the metadata probe's info (its format URLs) while it is younger than
    this; older, it extracts again (YouTube's stream URLs expire after about 6 hours)."""


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


# --- parameters ----------------------------------------------------------------------------------


class YdlLog:
    """yt-dlp's `logger`: routes its output to `logging` and keeps what classification needs
    (emptied by `handle()` at the start of each call)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
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
    subtitles or side files; media goes to `media.<ext>` under `paths["home"]` (set per call);
    no progress lines are formatted (`progress_delta`: they cost ~0.25 ms per block read).
    `cfg.cookies` is given as a private in-memory copy, because yt-dlp writes its cookie file
    back on close (threads would corrupt a shared one).
    """
    params: dict[str, Any] = {
        "quiet": True,
        "noprogress": True,
        "progress_delta": 1e9,
        "logger": YdlLog(),
        "socket_timeout": cfg.socket_timeout_s,
        "retries": 2,  # within one attempt: resumes a cut body with Range
        "fragment_retries": 2,
        "extractor_retries": 1,
        "skip_unavailable_fragments": False,  # a missing fragment fails, never leaves a gap
        "ignoreerrors": False,  # an error raises, never returns None
        "noplaylist": True,
        "format": cfg.format or default_format(cfg.max_height),
        "max_filesize": int(cfg.max_filesize_mb * MIB),
        "outtmpl": {"default": "media.%(ext)s"},
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


# --- one YoutubeDL per thread and configuration --------------------------------------------------


class Handle:
    """A YoutubeDL with its logger, and a slot for the current call's progress hook."""

    def __init__(self, params: dict[str, Any]):
        self.log: YdlLog = params["logger"]
        self.hook: Any = None
        self.ydl = YoutubeDL({**params, "progress_hooks": [self._progress]})

    def _progress(self, progress: dict) -> None:
        if self.hook is not None:
            self.hook(progress)

    def close(self) -> None:
        self.ydl.close()


_local = threading.local()
_MAX_HANDLES = 8  # per thread: list, probe and download of a configuration or two


def handle(cfg: AcquireConfig, **extra: Any) -> Handle:
    """This thread's YoutubeDL for `cfg` and `extra` (hashable values: they are the key), made
    on first use, ready for one new call: its logger emptied, its progress hook unset, its
    media directory (`ydl.params["paths"]["home"]`) the current one."""
    handles: dict = _local.__dict__.setdefault("handles", {})
    key = (YoutubeDL, cfg, tuple(sorted(extra.items())))
    h = handles.get(key)
    if h is None:
        if len(handles) >= _MAX_HANDLES:
            handles.pop(next(iter(handles))).close()
        h = handles[key] = Handle(ydl_params(cfg, **extra))
    h.log.reset()
    h.hook = None
    h.ydl.params["paths"] = {"home": ""}
    return h


def close_handles() -> None:
    """Close this thread's YoutubeDLs (a DoFn's teardown; a later call makes new ones)."""
    handles: dict = _local.__dict__.setdefault("handles", {})
    while handles:
        handles.popitem()[1].close()
