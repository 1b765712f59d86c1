"""local_files: a directory of the user's videos → the files to use, and an account of every
other entry, so that no input vanishes without a trace.

`list_dir(root)` walks `root` (local, recursive; symlinked directories followed once) and sorts
every entry it sees into exactly one of:
- a video: a regular, readable file with a video extension (mp4, mkv, mov, webm);
- a problem, which becomes a discover status row: a video-named entry that is a dangling
  symlink or a symlink loop (BROKEN_LINK), unreadable (UNREADABLE; also an unreadable
  directory, whose contents cannot be listed), or not a regular file: a FIFO, socket or
  device (NOT_A_FILE; never opened: opening a FIFO blocks forever);
- skipped, counted by reason in the discover summary: another extension (".mp3", ".txt"), the
  project's own temp files (a killed download's `.yt-*` dir, a killed render's `.sample-*`),
  or the OS's litter (`._*` resource forks, `.DS_Store`, `Thumbs.db`). Other hidden names are
  the user's and are listed like any other (`..%2F..%2Fetc.mp4` is a video).

A remote directory (gs://...) is listed through Beam's FileSystems with the same name rules
(objects are regular files; their permissions are the bucket's).
"""

import errno
import os
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from apache_beam.io.filesystems import FileSystems

from schemas.layout import is_local
from schemas.status import Status

VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".mov", ".webm"})
PROJECT_TEMP_PREFIXES = (".yt-", ".sample-")
OS_LITTER = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", ".localized"})


@dataclass
class Listing:
    root: str
    videos: list[str] = field(default_factory=list)
    """Paths of the video files, sorted."""
    problems: list[tuple[str, Status, str]] = field(default_factory=list)
    """(path, status, message) of each entry that needs a status row."""
    skipped: Counter = field(default_factory=Counter)
    """Entries not used and not worth a row, by reason."""

    def summary(self) -> str:
        parts = [f"{self.root}: {len(self.videos)} videos"]
        if self.problems:
            kinds = Counter(str(s) for _, s, _ in self.problems)
            parts.append("status rows: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
        if self.skipped:
            parts.append(
                "skipped: " + ", ".join(f"{k} {n}" for k, n in sorted(self.skipped.items()))
            )
        return "; ".join(parts)


def skip_reason(name: str, is_dir: bool = False) -> str | None:
    """Why an entry named `name` is skipped without a row (None: look at it)."""
    if name.startswith(PROJECT_TEMP_PREFIXES):
        return "project temp files"
    if name.startswith("._") or name in OS_LITTER:
        return "OS metadata files"
    if is_dir:
        return None
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in VIDEO_EXTENSIONS:
        return f"not a video ({suffix or 'no extension'})"
    return None


def list_dir(root: str) -> Listing:
    """Every entry under `root` sorted into videos, problems and skipped (module docstring)."""
    root = root.rstrip("/") or "/"
    listing = Listing(root)
    if is_local(root):
        _walk(root, listing, visited=set())
    else:
        _match(root, listing)
    listing.videos.sort()
    listing.problems.sort()
    return listing


def _match(root: str, listing: Listing) -> None:
    for result in FileSystems.match([FileSystems.join(root, "**")]):
        for meta in result.metadata_list:
            rel = PurePosixPath(meta.path[len(root) :].lstrip("/"))
            hidden = next((p for p in rel.parts[:-1] if skip_reason(p, is_dir=True)), None)
            reason = skip_reason(hidden, True) if hidden else skip_reason(rel.name)
            if reason:
                listing.skipped[reason] += 1
            else:
                listing.videos.append(meta.path)


def _walk(directory: str, listing: Listing, visited: set[tuple[int, int]]) -> None:
    try:
        info = os.stat(directory)
        if (info.st_dev, info.st_ino) in visited:
            listing.problems.append((directory, Status.BROKEN_LINK, "a symlink loop"))
            return
        visited.add((info.st_dev, info.st_ino))
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as e:
        listing.problems.append((directory, *_os_problem(e, "directory")))
        return
    for entry in entries:
        try:
            is_dir = entry.is_dir()  # follows symlinks; False for a dangling one
        except OSError:
            is_dir = False
        if reason := skip_reason(entry.name, is_dir):
            listing.skipped[reason] += 1
        elif is_dir:
            _walk(entry.path, listing, visited)
        else:
            _check_file(entry.path, listing)


def _check_file(path: str, listing: Listing) -> None:
    """A video-named entry: a readable regular file is a video, anything else a problem."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        listing.problems.append((path, *_os_problem(e, "file")))
        return
    if not stat.S_ISREG(mode):
        kind = _kind(mode)
        message = f"{kind}, not a regular file: never opened (it could block forever)"
        listing.problems.append((path, Status.NOT_A_FILE, message))
        return
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
    except OSError as e:
        listing.problems.append((path, *_os_problem(e, "file")))
        return
    listing.videos.append(path)


_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a file")


def _os_problem(e: OSError, what: str) -> tuple[Status, str]:
    """The status and message of a failed stat/open/scandir."""
    if e.errno == errno.ELOOP:
        return Status.BROKEN_LINK, "a symlink loop"
    if e.errno == errno.ENOENT:
        if e.filename and os.path.islink(e.filename):
            return Status.BROKEN_LINK, "a dangling symlink (its target does not exist)"
        return Status.UNAVAILABLE, f"the {what} disappeared while it was listed"
    if e.errno in (errno.EACCES, errno.EPERM):
        detail = ": its videos cannot be listed" if what == "directory" else ""
        return Status.UNREADABLE, f"{what} not readable (permission denied){detail}"
    return Status.UNREADABLE, f"{what} not readable: {e.strerror or e}"


def check_regular_file(path: str) -> tuple[Status, str] | None:
    """None if local `path` is a readable regular file, else the status and message. Cheap: a
    stat and a non-blocking open (a FIFO is never opened for real)."""
    listing = Listing(path)
    _check_file(path, listing)
    return listing.problems[0][1:] if listing.problems else None
