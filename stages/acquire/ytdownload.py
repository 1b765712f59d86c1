"""ytdownload: one video → one verified media file under `dest_dir` (local or gs://), through
yt-dlp (`stages.acquire.ytdlp`), paced, retried and capped by `youtube_errors.retrying`.

`download(url, video_id, dest_dir, cfg, info=...)` fetches a single-file, video-only stream of at
most `max_height` into a fresh hidden temp dir, checks it (`verify_media`) and publishes it
(`_publish`: a rename, or a copy then a rename on gs://). Listing and probing are
`stages.acquire.youtube`, which re-exports these names.
"""

import copy
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import av
from apache_beam.io.filesystems import FileSystems
from yt_dlp.utils import DownloadError

from schemas.ids import validate_video_id
from schemas.layout import is_local
from schemas.status import Status
from stages.acquire.info_cache import info_age_s
from stages.acquire.polite import Pacer
from stages.acquire.youtube_errors import (
    AcquisitionError,
    check_host,
    retrying,
    to_acquisition_error,
)
from stages.acquire.ytdlp import AcquireConfig, handle
from stages.store.files import atomic_write
from stages.video.media import video_stream

log = logging.getLogger(__name__)

MEDIA_EXTENSIONS = frozenset({"mp4", "webm", "mkv"})
LIVE_STATES = frozenset({"is_live", "is_upcoming", "post_live"})
MIB = 1024 * 1024
_COPY_CHUNK = 8 * MIB


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
    byte. A progress hook, run per block read, ends the download once more bytes than the cap
    arrived. All attempts run inside one `stages.acquire.netguard.NetGuard` (`retrying`): once
    `cfg.wall_clock_s` has passed since the first attempt began, its connections are shut down
    whatever the server does (a trickle, a stall mid-block, endless headers), and connections
    to private addresses are refused unless `cfg.allow_private_hosts`, redirects included.
    The file must pass `verify_media`; it is
    then renamed into place (a local `dest_dir` holds the attempt's hidden temp dir, so this
    is a rename on one filesystem) or, for a remote `dest_dir` (gs://), copied through
    `FileSystems` to a temp name and renamed: a final name always means a complete, verified
    file. Temp files are removed whatever happens.
    """
    try:
        validate_video_id(video_id)
    except ValueError as exc:
        raise AcquisitionError(Status.INVALID_ID, str(exc)) from None
    check_host(url, cfg)
    if info is not None and (age := info_age_s(info)) > cfg.info_max_age_s:
        log.info("%s: the probe's info is %.0f s old: extracting again", video_id, age)
        info = None
    max_bytes = int(cfg.max_filesize_mb * MIB)
    h = handle(cfg, match_filter=RefuseUnwanted(max_bytes))

    def hook(progress: dict) -> None:
        if (progress.get("downloaded_bytes") or 0) > max_bytes:
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
