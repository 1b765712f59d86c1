"""sources: what a user passes as `--source`, and how id/URL list files are read.

`classify_source` says what one `--source` is (a YouTube search, video, channel or playlist,
another http(s) URL, an id list file, or a directory of videos); `read_id_list` turns a list
file into one `SourceLine` per non-blank, non-comment line; `dedupe` keeps the first line of
each video. Nothing here touches the network.

A list file is untrusted input: every line becomes either a video (a YouTube id, canonicalised
to `https://www.youtube.com/watch?v=ID`, or another http(s) URL) or a `SourceLine.error` with a
short reason. Junk lines never raise; only a file that cannot be read, or a CSV header with no
usable column, raises ValueError (a configuration error, best reported before any work).
"""

import codecs
import csv
import os
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal
from urllib.parse import SplitResult, parse_qs, urlsplit

from apache_beam.io.filesystems import FileSystems

from schemas.ids import YOUTUBE_ID, watch_url

SourceKind = Literal["search", "youtube_video", "youtube_list", "url", "list", "dir"]

"""A YouTube video id (use `fullmatch`)."""

YOUTUBE_HOSTS = frozenset(
    {
        "youtube.com",
        "www.youtube.com",
        "m.youtube.com",
        "music.youtube.com",
        "youtu.be",
        "youtube-nocookie.com",
        "www.youtube-nocookie.com",
    }
)
LIST_SUFFIXES = (".txt", ".csv", ".tsv")
REMOTE_SCHEMES = ("gs", "s3", "hdfs", "azfs")  # Beam filesystems other than local
MAX_LINE_CHARS = 4096
"""Longer lines are junk (real URLs stay well under 2,000 characters)."""

# Auto-detected CSV/TSV columns (lower-case), tried in this order on each row.
ID_COLUMNS = ("video_id", "youtube_id")  # HowTo100M, YouCook-style lists
URL_COLUMNS = ("url", "video_url", "youtube_url", "link", "contenturl")  # WebVid: contentUrl
# WebVid's `videoid` is a stock-footage id, not a YouTube id, so it is deliberately absent.

_SEARCH = re.compile(r"ytsearch(?:date)?(?:\d+|all)?:\S")
_VIDEO_PATHS = frozenset({"shorts", "embed", "live", "v", "e"})  # /<kind>/<id>
_NOT_IDS = frozenset({"videoseries", "live_stream"})  # 11 characters, but /embed/ playlists
_CHANNEL_PATHS = frozenset({"channel", "c", "user"})  # /<kind>/<name>
_CHANNEL_TABS = frozenset({"videos", "shorts", "streams", "featured", "playlists"})
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_INLINE_COMMENT = re.compile(r"\s#")


@dataclass(frozen=True)
class SourceLine:
    """One line of an id list: a video to fetch, or why the line is unusable."""

    line_no: int  # 1-based physical line number in the file
    video_id: str | None  # the YouTube id; None for other URLs (the downloader derives one)
    url: str | None  # what to fetch; canonical watch URL for YouTube ids
    error: str | None  # set exactly when video_id and url are both None


def _split_url(text: str) -> SplitResult | None:
    """`text` split as an http(s) URL with a host (a scheme-less YouTube URL gets https://)."""
    if text.startswith("//"):
        text = "https:" + text
    elif "://" not in text and text.split("/", 1)[0].lower() in YOUTUBE_HOSTS:
        text = "https://" + text
    try:
        parts = urlsplit(text)
    except ValueError:  # e.g. an unbalanced "[" in the host
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return parts


def _segments(parts: SplitResult) -> list[str]:
    return [s for s in parts.path.split("/") if s]


def youtube_id_from(text: str) -> str | None:
    """The video id of a bare id or any single-video YouTube URL form, else None.

    Accepts watch?v=ID (any other query parameters, www/m/music hosts), youtu.be/ID,
    /shorts/ID, /embed/ID, /live/ID, /v/ID, /e/ID and youtube-nocookie.com/embed/ID, with or
    without a scheme. A malformed id anywhere gives None.
    """
    text = text.strip()
    if YOUTUBE_ID.fullmatch(text):
        return text
    parts = _split_url(text)
    if parts is None or parts.hostname not in YOUTUBE_HOSTS:
        return None
    segments = _segments(parts)
    candidate = None
    if parts.hostname == "youtu.be":
        candidate = segments[0] if len(segments) == 1 else None
    elif segments == ["watch"]:
        candidate = parse_qs(parts.query).get("v", [None])[0]
    elif len(segments) == 2 and segments[0] in _VIDEO_PATHS:
        candidate = segments[1]
    if candidate and YOUTUBE_ID.fullmatch(candidate) and candidate not in _NOT_IDS:
        return candidate
    return None


def _is_youtube_list(parts: SplitResult) -> bool:
    """A channel (/@handle, /channel/ID, /c/NAME, /user/NAME, optionally a tab) or playlist."""
    if parse_qs(parts.query).get("list"):
        return True
    s = _segments(parts)
    if s and s[0].startswith("@") and len(s[0]) > 1:
        return len(s) == 1 or (len(s) == 2 and s[1] in _CHANNEL_TABS)
    if len(s) >= 2 and s[0] in _CHANNEL_PATHS:
        return len(s) == 2 or (len(s) == 3 and s[2] in _CHANNEL_TABS)
    return False


def classify_source(source: str) -> SourceKind:
    """What one `--source` value is; ValueError (saying what is accepted) if nothing known.

    In order: a `ytsearch[date][N|all]:QUERY` search; a YouTube URL (a single video, or a
    channel/playlist; `watch?v=ID&list=...` counts as the video); any other http(s) URL; a
    gs:// (s3://, ...) path ending in .txt/.csv/.tsv (list) or "/" (dir); an existing local
    directory (wins over a bare id of the same name); an existing .txt/.csv/.tsv file; a bare
    11-character YouTube id.
    """
    s = source.strip()
    if not s:
        raise ValueError("empty --source")
    if s.lower().startswith("ytsearch"):
        if _SEARCH.match(s):
            return "search"
        raise ValueError(
            f"bad search source {source!r}: use ytsearch:QUERY, ytsearch50:QUERY "
            "or ytsearchdate50:QUERY (newest first)"
        )
    parts = _split_url(s)
    if parts is not None:
        if parts.hostname not in YOUTUBE_HOSTS:
            return "url"
        if youtube_id_from(s):
            return "youtube_video"
        if _is_youtube_list(parts):
            return "youtube_list"
        raise ValueError(
            f"YouTube URL {source!r} is not a video, channel or playlist "
            "(for a search use ytsearch50:QUERY)"
        )
    scheme = _SCHEME.match(s)
    if scheme and scheme.group(1).lower() in REMOTE_SCHEMES and "://" in s:
        if s.lower().endswith(LIST_SUFFIXES):
            return "list"
        if PurePosixPath(s).suffix.lower() in (".mp4", ".mkv", ".mov", ".webm"):
            raise ValueError(
                f"remote source {source!r} is one video: pass its directory (gs://B/videos/) "
                f"or an id list ({'/'.join(LIST_SUFFIXES)})"
            )
        return "dir"  # gs://B/videos or gs://B/videos/: listed inside the pipeline
    if scheme and len(scheme.group(1)) > 1:
        raise ValueError(f"unsupported URL scheme in --source {source!r}: use http(s) or gs://")
    if os.path.isdir(s):
        return "dir"
    if s.lower().endswith(LIST_SUFFIXES):
        if os.path.isfile(s):
            return "list"
        raise ValueError(f"id list {source!r} does not exist")
    if YOUTUBE_ID.fullmatch(s):
        return "youtube_video"
    raise ValueError(
        f"cannot use --source {source!r}: expected a YouTube video/channel/playlist URL or "
        "11-character id, ytsearchN:QUERY, another http(s) URL, an existing directory of "
        f"videos, or an id list file ({', '.join(LIST_SUFFIXES)})"
    )


def _clean(value: str) -> str:
    """Strip surrounding whitespace and quotes."""
    return value.strip().strip("\"'").strip()


def parse_source_value(line_no: int, value: str) -> SourceLine:
    """One cleaned id-or-URL value → a SourceLine (a video, or an error with a short reason)."""

    def bad(reason: str) -> SourceLine:
        return SourceLine(line_no, None, None, reason)

    if "\x00" in value:
        return bad("NUL byte in line")
    if "\ufffd" in value:
        return bad("undecodable bytes (the file is not UTF-8)")
    if len(value) > MAX_LINE_CHARS:
        return bad(f"line too long ({len(value):,} characters > {MAX_LINE_CHARS:,})")
    video_id = youtube_id_from(value)
    if video_id:
        return SourceLine(line_no, video_id, watch_url(video_id), None)
    parts = _split_url(value)
    if parts is not None:
        if any(c.isspace() or not c.isprintable() for c in value):
            return bad("URL contains whitespace or control characters")
        if parts.hostname in YOUTUBE_HOSTS:
            return bad("YouTube URL without a video id (a channel or playlist is a --source)")
        return SourceLine(line_no, None, parts.geturl(), None)
    scheme = _SCHEME.match(value)
    if scheme and len(scheme.group(1)) > 1:
        return bad(f"unsupported URL scheme {scheme.group(1).lower()!r}")
    if "/" in value or "\\" in value or value.startswith("."):
        return bad("a path, not a YouTube id or http(s) URL")
    return bad("not a YouTube id (11 characters of A-Z a-z 0-9 _ -) or http(s) URL")


def _read_text(path: str) -> str:
    """The whole file, decoded leniently (UTF-8 or a UTF-16 BOM; bad bytes become U+FFFD)."""
    try:
        with FileSystems.open(path) as f:
            data = f.read()
    except OSError as e:  # BeamIOError and FileNotFoundError are OSErrors
        raise ValueError(f"cannot read id list {path}: {e}") from e
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8-sig", errors="replace")


def _fields(line: str, delimiter: str) -> list[str]:
    if '"' not in line:  # the common case, ~10x faster than the csv module
        return line.split(delimiter)
    return next(csv.reader([line], delimiter=delimiter), [])


def _pick_columns(
    header: list[str], id_column: str | None, url_column: str | None, path: str
) -> list[tuple[int, str]]:
    """(index, name) of the columns to try on each row, in order; ValueError if none."""
    names = [_clean(h).lower() for h in header]
    if id_column or url_column:
        wanted = [c for c in (id_column, url_column) if c]
        missing = [c for c in wanted if c.lower() not in names]
        if missing:
            raise ValueError(f"{path}: no column {missing[0]!r} in header {header}")
    else:
        wanted = [c for c in ID_COLUMNS + URL_COLUMNS if c in names]
    return [(names.index(c.lower()), c) for c in wanted]


def _row_line(line_no: int, fields: list[str], columns: list[tuple[int, str]]) -> SourceLine:
    """The first column of the row holding a usable id or URL; else the first problem seen."""
    first_error = None
    for index, name in columns:
        if index >= len(fields):
            first_error = first_error or f"row has {len(fields)} field(s), no {name!r} column"
            continue
        value = _clean(fields[index])
        if not value:
            first_error = first_error or f"empty {name!r}"
            continue
        line = parse_source_value(line_no, value)
        if line.error is None:
            return line
        first_error = first_error or f"{name}: {line.error}"
    return SourceLine(line_no, None, None, first_error)


def read_id_list(
    path: str, *, id_column: str | None = None, url_column: str | None = None
) -> list[SourceLine]:
    """Every non-blank, non-`#` line of an id list as a SourceLine, in file order.

    A .txt file holds one YouTube id or URL per line (text after " #" is a comment). A .csv or
    .tsv file (or any file when a column is named) has a header; the columns tried on each row
    are the named ones (id_column, then url_column) or else, found case-insensitively,
    video_id/youtube_id, then url/video_url/youtube_url/link/contentUrl, so HowTo100M uses its
    `video_id` and WebVid its `contentUrl`. A CSV whose first row is itself an id or URL has no
    header and uses its first column. Lines longer than MAX_LINE_CHARS, with NUL or undecodable
    bytes, or holding no id/http(s) URL become error lines.
    Raises ValueError only if the file cannot be read or no column fits the header.
    """
    text = _read_text(path).replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    suffix = os.path.splitext(path)[1].lower()
    delimited = suffix in (".csv", ".tsv") or bool(id_column or url_column)
    out: list[SourceLine] = []
    columns: list[tuple[int, str]] | None = None
    delimiter = "\t" if suffix == ".tsv" else ","
    for line_no, raw in enumerate(lines, 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if len(raw) > MAX_LINE_CHARS:
            out.append(parse_source_value(line_no, raw))  # → "line too long"
            continue
        if not delimited:
            value = _INLINE_COMMENT.split(stripped, maxsplit=1)[0]
            out.append(parse_source_value(line_no, _clean(value)))
            continue
        if columns is None:
            if "\t" in raw and "," not in raw:
                delimiter = "\t"
            header = _fields(raw, delimiter)
            columns = _pick_columns(header, id_column, url_column, path)
            if columns:
                continue
            if parse_source_value(line_no, _clean(header[0])).error is None:
                columns = [(0, "column 1")]  # no header: the first row is data
            else:
                raise ValueError(
                    f"{path}: no id or URL column in header {header}; expected one of "
                    f"{', '.join(ID_COLUMNS + URL_COLUMNS)}, or pass id_column/url_column"
                )
        fields = _fields(raw, delimiter)
        if any(f.strip() for f in fields):  # skip all-empty rows (",,,")
            out.append(_row_line(line_no, fields, columns))
    return out


def dedupe(lines: list[SourceLine]) -> tuple[list[SourceLine], list[SourceLine]]:
    """(unique, duplicates): the first line of each video id (or URL, when no id) wins.

    Error lines have no key and are all kept in `unique`, each to become its own error row.
    """
    seen: set[str] = set()
    unique: list[SourceLine] = []
    duplicates: list[SourceLine] = []
    for line in lines:
        key = line.video_id or line.url
        if key is not None and key in seen:
            duplicates.append(line)
            continue
        if key is not None:
            seen.add(key)
        unique.append(line)
    return unique, duplicates
