"""The one vocabulary of per-video status reasons that every stage writes.

Every video that enters a stage gets exactly one row in that stage's status table
(`OUT/<stage>/status.parquet`, schema `schemas.STATUS`) whose `status` is one of these.
"""

from enum import StrEnum


class Status(StrEnum):
    OK = "ok"
    # Decode / validation failures (never retried unless the file changes).
    CORRUPT_MEDIA = "corrupt_media"  # not a decodable container / stream
    TRUNCATED_MEDIA = "truncated_media"  # decoding stopped early; clips before it are kept
    NO_VIDEO_STREAM = "no_video_stream"  # e.g. an audio-only file
    UNSAFE_MEDIA = "unsafe_media"  # declared resolution above the pixel cap, bad extension
    TOO_SHORT = "too_short"  # fewer frames than one clip at the target rate
    DECODE_TIMEOUT = "decode_timeout"  # the per-video wall-clock cap fired
    # Source / bookkeeping.
    UNAVAILABLE = "unavailable"  # the file or video is gone
    INVALID_ID = "invalid_id"
    UPSTREAM_FAILED = "upstream_failed"  # an earlier stage produced nothing for this video


# Statuses whose stage output (possibly partial) is usable by the next stage.
USABLE = frozenset({Status.OK, Status.TRUNCATED_MEDIA})
