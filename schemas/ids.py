"""Video ids: which strings may become a path component, and what a YouTube id looks like."""

import re

VIDEO_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,95}$")
"""Any video id the DAG keys by: safe as one path component (checked before it becomes one)."""
YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")
"""A YouTube video id (use with `fullmatch`)."""


def validate_video_id(video_id: str) -> str:
    """Return `video_id` if it is safe as a single path component, else raise ValueError."""
    if not VIDEO_ID.match(video_id or "") or ".." in video_id:
        raise ValueError(f"unsafe video id {video_id!r}: must match {VIDEO_ID.pattern}")
    return video_id


def is_youtube_id(value: object) -> bool:
    return isinstance(value, str) and YOUTUBE_ID.fullmatch(value) is not None


def watch_url(video_id: str) -> str:
    """The canonical YouTube watch page of `video_id`."""
    return f"https://www.youtube.com/watch?v={video_id}"
