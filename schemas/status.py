"""The one vocabulary of per-video status reasons that every stage writes.

Every video that enters a stage gets exactly one row in that stage's status table
(`OUT/<stage>/status/part-*.parquet`, schema `schemas.STATUS`) whose `status` is one of these.
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
    # Transcripts (text path). A video without usable English text still enters the corpus
    # as video-only segments: these reasons never drop a video.
    NO_TRANSCRIPT = "no_transcript"  # no transcript at all (no sidecar file / none on YouTube)
    TRANSCRIPTS_DISABLED = "transcripts_disabled"  # the uploader turned captions off
    LANGUAGE_UNAVAILABLE = "language_unavailable"  # transcripts exist, none in the wanted languages
    EMPTY_TRANSCRIPT = "empty_transcript"  # a transcript with no words after cleaning
    BAD_TRANSCRIPT = "bad_transcript"  # a sidecar file that does not parse
    AGE_RESTRICTED = "age_restricted"
    PO_TOKEN_REQUIRED = "po_token_required"  # YouTube wants a proof-of-origin token
    CONSENT_REQUIRED = "consent_required"  # a cookie-consent page (EU IPs): cookies / another IP
    PAGE_UNPARSABLE = "page_unparsable"  # a watch page the library cannot read: retry, update
    # Network (retried with backoff inside a run, and again on the next run).
    BLOCKED = "blocked"  # YouTube blocks this IP / request (common from cloud IPs)
    RATE_LIMITED = "rate_limited"  # HTTP 429 after every retry
    NETWORK_TIMEOUT = "network_timeout"  # connect/read timeout or connection error
    # Acquisition (discover → filter → download).
    PRIVATE = "private"  # private / members-only video
    GEO_BLOCKED = "geo_blocked"  # not available in the downloader's country
    BOT_CHECK = "bot_check"  # "Sign in to confirm you're not a bot": cookies / another IP needed
    TOO_LARGE = "too_large"  # above --max_filesize_mb
    TOO_LONG = "too_long"  # duration >= --max_duration_s (paper: under 15 minutes)
    OFF_TOPIC = "off_topic"  # not cooking by the topic rules
    LIVE = "live"  # a live stream, upcoming premiere or not yet processed
    EXCLUDED = "excluded"  # in the exclusion list (e.g. YouCook II, kept for evaluation)
    BAD_SOURCE_LINE = "bad_source_line"  # a line of an id list that is no id or URL
    # Source / bookkeeping.
    UNAVAILABLE = "unavailable"  # the file or video is gone
    SERVER_ERROR = "server_error"  # HTTP 5xx after every retry: the server's fault, try later
    INVALID_ID = "invalid_id"
    PRIVATE_HOST = "private_host"  # a loopback/private/link-local/metadata address (SSRF guard)
    # Local files that cannot be read as they are (never a claim that the media is broken).
    UNREADABLE = "unreadable"  # permission denied (a video, a sidecar, a directory)
    NOT_A_FILE = "not_a_file"  # a FIFO, socket or device named like a video: never opened
    BROKEN_LINK = "broken_link"  # a dangling symlink or a symlink loop
    UPSTREAM_FAILED = "upstream_failed"  # an earlier stage produced nothing for this video
    BAD_FEATURES = "bad_features"  # NaN/Inf in its clip features: no tokens, never fitted on
    # A bug or an input no rule anticipated: the exception type and message are in the row,
    # the traceback in OUT/failed/<stage>/<id>.json (stages.store.dead_letter).
    INTERNAL_ERROR = "internal_error"


class StatusError(Exception):
    """A per-video failure: `status` is the reason recorded in the status table, `message`
    the detail. Each stage raises its own subclass."""

    def __init__(self, status: Status, message: str):
        super().__init__(status, message)
        self.status, self.message = status, message

    def __str__(self) -> str:
        return f"{self.status}: {self.message}"


# Statuses whose stage output (possibly partial) is usable by the next stage.
USABLE = frozenset({Status.OK, Status.TRUNCATED_MEDIA})
