"""info_cache: yt-dlp's info dict of each probed video, kept so a later download needs no
second extraction: `OUT/discover/info/<video_id>.json.gz` (gzip JSON of
`YoutubeDL.sanitize_info(info, remove_private_keys=True)`, as yt-dlp's `--write-info-json`).

Written by `discover` (atomically, so a reader never sees half a file), read by `download`,
which reuses it while it is younger than `AcquireConfig.info_max_age_s`: the info holds the
stream URLs, and YouTube's expire after about 6 hours. `stages.acquire.youtube.probe` drops the
cookies yt-dlp copies into it (`--cookies` never lands under OUT).
"""

import gzip
import json
import time

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from schemas.ids import validate_video_id
from stages.store.files import atomic_write


def info_path(out: str, video_id: str) -> str:
    return FileSystems.join(out, "discover", "info", f"{validate_video_id(video_id)}.json.gz")


def save_info(out: str, video_id: str, info: dict) -> None:
    data = gzip.compress(json.dumps(info, separators=(",", ":")).encode("utf-8"), mtime=0)
    atomic_write(info_path(out, video_id), lambda f: f.write(data))


def load_info(out: str, video_id: str) -> dict | None:
    """The cached info of `video_id`, or None when there is none (or it does not parse)."""
    path = info_path(out, video_id)
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        data = f.read()
    try:
        info = json.loads(gzip.decompress(data))
    except (OSError, EOFError, ValueError):  # not gzip, cut short, not JSON
        return None
    return info if isinstance(info, dict) else None


def info_age_s(info: dict, now: float | None = None) -> float:
    """Seconds since yt-dlp extracted `info` (its `epoch`); infinite when unknown."""
    epoch = info.get("epoch")
    if not isinstance(epoch, int | float):
        return float("inf")
    return (time.time() if now is None else now) - epoch
