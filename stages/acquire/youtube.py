"""youtube: a source → video entries; a video → metadata; a video → one verified media file
under `dest_dir`. yt-dlp is driven through `stages.acquire.ytdlp` (its parameters, one reused
YoutubeDL per thread) and its failures are mapped by `stages.acquire.youtube_errors`.

- `list_source(source, cfg)`: a search (`ytsearch50:cooking`), channel or playlist URL → flat
  entries {video_id, url, title, duration_s}; a single video URL → one entry.
- `probe(url, cfg)`: ONE `extract_info(download=False)` → (metadata with the caption
  languages, yt-dlp's sanitized info dict for `stages.acquire.info_cache`).
- `download(url, video_id, dest_dir, cfg, info=...)` (in `stages.acquire.ytdownload`,
  re-exported here): one single-file, video-only stream at most `max_height` →
  `dest_dir/<video_id>.<ext>` (dest_dir may be `gs://...`), verified. Given the probe's info
  (younger than `cfg.info_max_age_s`), it makes no second extraction: only the media
  request(s); the info's URLs refused (403), it extracts once more.

Request budget per video: list (one per source page, shared) + probe (one extraction: the
watch page and player API for YouTube, one GET for a direct link) + the media. Every call is
paced by the process-wide `Pacer.shared(YOUTUBE, ...)` and retried (`youtube_errors.retrying`);
every expected failure raises `AcquisitionError(status, message)`; a bug propagates.
"""

import functools
import hashlib
import logging
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from yt_dlp import YoutubeDL

from schemas.ids import YOUTUBE_ID, validate_video_id, watch_url
from stages.acquire.polite import Pacer
from stages.acquire.youtube_errors import (
    AcquisitionError,
    check_host,
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
from stages.acquire.ytdownload import RefuseUnwanted, download, verify_media

__all__ = [
    "AcquireConfig",
    "RefuseUnwanted",
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
    check_host(url, cfg)
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


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)
