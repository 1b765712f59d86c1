"""youtube: a source → video entries; a video → metadata; a video → one verified media file
under `dest_dir`. yt-dlp is driven through `stages.acquire.ytdlp` (its parameters, one reused
YoutubeDL per thread) and its failures are mapped by `stages.acquire.youtube_errors`.

- `list_source(source, cfg)`: a search (`ytsearch50:cooking`), channel or playlist URL → flat
  entries {video_id, url, title, duration_s}; a single video URL → one entry.
- `probe(url, cfg)`: ONE `extract_info(download=False)` → (metadata with the caption
  languages, yt-dlp's sanitized info dict for `stages.acquire.info_cache`).
- `download(url, video_id, dest_dir, cfg, info=...)`: one single-file, video-only stream at
  most `max_height` → `dest_dir/<video_id>.<ext>` (dest_dir may be `gs://...`), verified.
  Given the probe's info (younger than `cfg.info_max_age_s`), it makes no second extraction:
  only the media request(s); the info's URLs refused (403), it extracts once more.

Request budget per video: list (one per source page, shared) + probe (one extraction: the
watch page and player API for YouTube, one GET for a direct link) + the media. Every call is
paced by the process-wide `Pacer.shared(YOUTUBE, ...)` and retried (`youtube_errors.retrying`);
every expected failure raises `AcquisitionError(status, message)`; a bug propagates.
"""

import copy
import functools
import hashlib
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote, urlsplit

import av
from apache_beam.io.filesystems import FileSystems
from yt_dlp import YoutubeDL
from yt_dlp.utils import DownloadError

from schemas.ids import YOUTUBE_ID, validate_video_id, watch_url
from schemas.layout import is_local
from schemas.status import Status
from stages.acquire.info_cache import info_age_s
from stages.acquire.polite import Pacer
from stages.acquire.youtube_errors import (
    AcquisitionError,
    retrying,
    status_of_message,
    to_acquisition_error,
)
from stages.acquire.ytdlp import (
    AcquireConfig,
    default_format,
    handle,
    js_runtime_status,
    ydl_params,
)
from stages.store.files import atomic_write
from stages.video.media import video_stream

__all__ = [
    "AcquireConfig",
    "AcquisitionError",
    "default_format",
    "download",
    "js_runtime_status",
    "list_source",
    "probe",
    "status_of_message",
    "to_acquisition_error",
    "verify_media",
    "video_id_for",
    "ydl_params",
]

log = logging.getLogger(__name__)

"""A YouTube video id (use with fullmatch). Ids may start with "-": never pass one as argv."""
MEDIA_EXTENSIONS = frozenset({"mp4", "webm", "mkv"})
LIVE_STATES = frozenset({"is_live", "is_upcoming", "post_live"})
MIB = 1024 * 1024
_COPY_CHUNK = 8 * MIB
_YOUTUBE_URL = re.compile(
    r"(?:youtube(?:-nocookie)?\.com/(?:watch\?(?:[^#]*&)?v=|shorts/|embed/|live/|v/)|youtu\.be/)"
    r"([A-Za-z0-9_-]{11})(?![A-Za-z0-9_-])"
)


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
        return watch_url(video_id)
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
    h = handle(cfg, extract_flat="in_playlist", playlistend=max_entries)

    def flat(url: str) -> tuple[list[dict], list[str]]:
        """(video entries, URLs of nested lists) of `url`."""
        info = h.ydl.extract_info(url, download=False)
        listed = info.get("_type") in ("playlist", "multi_video")
        entries = [e for e in (info.get("entries") or []) if e] if listed else [info]
        videos, nested = [], []
        for entry in entries:
            (videos if _is_video(h.ydl, entry) else nested).append(entry)
        return videos, [e["url"] for e in nested]

    def listed(url: str) -> tuple[list[dict], list[str]]:
        return retrying(lambda: flat(url), cfg, f"list {url[:80]}", h.log, pacer=pacer, sleep=sleep)

    videos, nested = listed(source)
    for url in nested:
        if max_entries is not None and len(videos) >= max_entries:
            break
        videos += listed(url)[0]
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
) -> tuple[dict, dict]:
    """Metadata of one video from ONE `extract_info(download=False)` (the caption lists come
    with it): ({video_id, url, title, duration_s, categories, tags, language, live_status,
    availability, channel, caption_languages, auto_caption_languages}, yt-dlp's info dict
    sanitized for JSON, for `download(info=...)`).

    Runs the format selection too, so a video with no usable stream fails here already.
    """
    h = handle(cfg)
    extract = functools.partial(h.ydl.extract_info, url, download=False)
    info = retrying(extract, cfg, f"probe {url[:80]}", h.log, pacer=pacer, sleep=sleep)
    video_id = video_id_for(info)
    meta = {
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
    return meta, _without_cookies(YoutubeDL.sanitize_info(info, remove_private_keys=True))


def _without_cookies(value: Any) -> Any:
    """`value` without any "cookies" entry (yt-dlp copies `--cookies` into each format): the
    info is kept under OUT, the cookies stay in the YoutubeDL's jar, which the download uses."""
    if isinstance(value, dict):
        return {k: _without_cookies(v) for k, v in value.items() if k != "cookies"}
    if isinstance(value, list):
        return [_without_cookies(v) for v in value]
    return value


# --- downloading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefuseUnwanted:
    """yt-dlp's match_filter: refuse (raise) before a byte of media is fetched. A value (equal
    caps, equal filters), so the reused YoutubeDL of a configuration can be keyed by it."""

    max_bytes: int

    def __call__(self, info: dict, *, incomplete: Any = False) -> None:
        if info.get("playlist_index") is not None:
            raise AcquisitionError(Status.UNAVAILABLE, "an entry of a playlist, not one video URL")
        if info.get("is_live") or info.get("live_status") in LIVE_STATES:
            status = info.get("live_status") or "is_live"
            raise AcquisitionError(Status.LIVE, f"live status {status}")
        if incomplete:  # called again once a format is chosen
            return
        if info.get("requested_formats"):
            raise ValueError(f"format {info.get('format_id')!r} needs a merge: choose one stream")
        ext = info.get("ext")
        if ext not in MEDIA_EXTENSIONS:
            raise AcquisitionError(
                Status.UNSAFE_MEDIA, f"extension {ext!r} not in {MEDIA_EXTENSIONS}"
            )
        size = info.get("filesize") or info.get("filesize_approx")
        if size and size > self.max_bytes:
            raise AcquisitionError(Status.TOO_LARGE, f"{size} bytes > {self.max_bytes} (declared)")


def download(
    url: str,
    video_id: str,
    dest_dir: str,
    cfg: AcquireConfig,
    *,
    info: dict | None = None,
    sleep: Callable[[float], None] = time.sleep,
    pacer: Pacer | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[str, int]:
    """Download one video to `dest_dir/<video_id>.<ext>`; returns (its URI, its size in bytes).

    `info`: the probe's sanitized info dict (`stages.acquire.info_cache`). While it is younger than
    `cfg.info_max_age_s` the download runs on it (`process_ie_result`: format selection and
    the media requests, no extraction); when its stream URL is refused (HTTP 403: expired or
    bound to another IP) it extracts `url` again, once. Without it, one `extract_info`.

    Each attempt runs yt-dlp in a fresh local temp dir, so no stale `.part` is resumed across
    attempts (within one, yt-dlp resumes a cut body with a checked Range). A match filter
    refuses live videos, odd extensions and declared sizes over the cap before any media
    byte. A progress hook, run per block read (yt-dlp sizes reads to ~1 s of data), ends the
    download once `cfg.wall_clock_s` has passed since the first attempt began, or once more
    bytes than the cap arrived; a silent connection is ended by `socket_timeout_s` (worst
    case: the wall clock plus ~3 socket timeouts). The file must pass `verify_media`; it is
    then renamed into place (a local `dest_dir` holds the attempt's hidden temp dir, so this
    is a rename on one filesystem) or, for a remote `dest_dir` (gs://), copied through
    `FileSystems` to a temp name and renamed: a final name always means a complete, verified
    file. Temp files are removed whatever happens.
    """
    try:
        validate_video_id(video_id)
    except ValueError as exc:
        raise AcquisitionError(Status.INVALID_ID, str(exc)) from None
    if info is not None and (age := info_age_s(info)) > cfg.info_max_age_s:
        log.info("%s: the probe's info is %.0f s old: extracting again", video_id, age)
        info = None
    max_bytes = int(cfg.max_filesize_mb * MIB)
    h = handle(cfg, match_filter=RefuseUnwanted(max_bytes))
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

    h.hook = hook
    local = is_local(dest_dir)
    if local:
        os.makedirs(dest_dir, exist_ok=True)
    # A local destination gets the temp dir beside the final name: publishing is then a rename
    # on the same filesystem, not a second write of every byte.
    with tempfile.TemporaryDirectory(prefix=".yt-", dir=dest_dir if local else None) as tmp:

        def run_ydl() -> tuple[dict, str]:
            nonlocal info
            work = h.ydl.params["paths"]["home"] = tempfile.mkdtemp(dir=tmp)
            if info is None:
                return h.ydl.extract_info(url, download=True), work
            try:
                return h.ydl.process_ie_result(copy.deepcopy(info), download=True), work
            except DownloadError as exc:
                if to_acquisition_error(exc).status != Status.BLOCKED:
                    raise
                log.info("%s: the probe's stream URL is refused (403): extracting again", video_id)
                info = None
                return run_ydl()

        def attempt() -> tuple[str, str]:
            nonlocal deadline
            if deadline is None:
                deadline = clock() + cfg.wall_clock_s
            result, work = run_ydl()
            ext = str(result.get("ext"))
            path = os.path.join(work, f"media.{ext}")
            if not os.path.isfile(path) or os.path.getsize(path) == 0:
                if h.log.too_large:  # yt-dlp skipped the file without raising
                    raise AcquisitionError(Status.TOO_LARGE, h.log.too_large)
                raise AcquisitionError(Status.UNAVAILABLE, "yt-dlp finished without a file")
            return path, ext

        policy = replace(cfg.retry, deadline_s=min(cfg.retry.deadline_s, cfg.wall_clock_s))
        label = f"{video_id} download"
        path, ext = retrying(
            attempt, cfg, label, h.log, policy=policy, pacer=pacer, sleep=sleep, clock=clock
        )
        verify_media(path)
        size = os.path.getsize(path)
        return _publish(path, dest_dir, f"{video_id}.{ext}", local), size


def verify_media(path: str) -> None:
    """Raise AcquisitionError unless `path` opens as media with a video stream whose first
    packet decodes. An HTML page or garbage fails to open, a file cut before its index too;
    an audio file or an image has no video stream; a damaged bitstream fails to decode.
    One packet, one thread: about as cheap as opening the file."""
    try:
        with av.open(path) as container:
            stream = video_stream(container, AcquisitionError)
            codec = stream.codec_context
            if codec is None:
                raise AcquisitionError(Status.CORRUPT_MEDIA, "the video stream has no decoder")
            codec.thread_count = 1  # one packet: threads cost more than they save
            packet = next((p for p in container.demux(stream) if p.size), None)
            if packet is None:
                raise AcquisitionError(Status.CORRUPT_MEDIA, "the video stream has no packet")
            codec.decode(packet)
    except av.error.FFmpegError as exc:
        raise AcquisitionError(Status.CORRUPT_MEDIA, f"does not decode: {exc}") from None


def _publish(tmp: str, dest_dir: str, name: str, local: bool) -> str:
    """Move the verified file `tmp` to `dest_dir/name`: a rename when local, else a copy
    through FileSystems to a temp name, then a rename."""
    final = FileSystems.join(dest_dir, name)
    if local:
        os.replace(tmp, final)
        return final
    with open(tmp, "rb") as src:
        atomic_write(final, lambda dst: shutil.copyfileobj(src, dst, _COPY_CHUNK))
    return final


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)
