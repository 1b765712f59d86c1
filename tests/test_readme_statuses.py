"""README and code agree on every status: each `Status` is documented, and every status the
README's status lists name exists (and means what the code does: a JPEG named .mp4 has no
video stream, it is not corrupt)."""

import re
from pathlib import Path

from schemas.status import Status

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
TOKEN = re.compile(r"`([a-z][a-z_]*[a-z])`")


def _status_lists() -> str:
    """The README's paragraphs that list statuses."""
    reasons = README[README.index("### Status reasons") : README.index("## Your own videos")]
    remote = README[README.index("\nStatuses: ") :]
    return reasons + remote[: remote.index("\n\n")]


def test_every_status_is_documented():
    documented = set(TOKEN.findall(README))
    assert sorted(s.value for s in Status if s.value not in documented) == []


def test_every_status_the_readme_lists_exists():
    values = {s.value for s in Status}
    listed = set(TOKEN.findall(_status_lists()))
    assert sorted(listed - values) == []


def test_a_jpeg_named_mp4_is_documented_as_no_video_stream():
    lists = _status_lists()
    corrupt = lists[lists.index("`corrupt_media` (") :].split(")", 1)[0]
    no_stream = lists[lists.index("`no_video_stream` (") :].split(")", 1)[0]
    assert "JPEG" not in corrupt and "JPEG" in no_stream  # as tests/stages/video/test_frames.py
