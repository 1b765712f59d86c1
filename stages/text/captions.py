"""captions: caption files beside a video → a `Transcript` (`load_caption_file`), which file to
use (`find_sidecars`, `choose_sidecar`) and the language a file name carries.

Formats are parsed by `stages.text.caption_formats`, text cleaned by
`stages.text.caption_text.clean_text` (both re-exported here). A caption file is untrusted
input: a missing, empty, oversized, binary, unreadable (permission denied) or non-regular
(a FIFO would block forever) file becomes a `TranscriptError` with its status, never a crash.
"""

import codecs
import posixpath
import re

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from schemas import Status
from schemas.layout import is_local
from stages.acquire.local_files import check_regular_file
from stages.text.asr import Snippet, Transcript, TranscriptError, language_rank
from stages.text.caption_formats import (
    INLINE_TIMESTAMP,
    bad_transcript,
    parse_cues,
    parse_json3,
    parse_json3_timed,
    parse_sample,
)
from stages.text.caption_text import clean_text

__all__ = [
    "Snippet", "choose_sidecar", "clean_text", "find_sidecars", "load_caption_file",
    "parse_cues", "parse_json3", "parse_sample", "sidecar_language",
]  # fmt: skip

EXTENSIONS = ("json3", "vtt", "srt", "json")  # also the preference order among equal languages
_SOURCE = {"vtt": "vtt", "srt": "srt", "json3": "json3", "json": "sample"}
_LANG = r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8}){0,2}"  # en, pt-BR, zh-Hans, en-orig (yt-dlp)
_EXT = r"(?i:vtt|srt|json3|json)"
_NAME_LANGUAGE = re.compile(rf".+\.({_LANG})\.{_EXT}")
_HEADER_LANGUAGE = re.compile(rf"^Language:[ \t]*({_LANG})[ \t]*$", re.MULTILINE)


def load_caption_file(
    uri: str, default_language: str = "en", max_bytes: int = 20_000_000
) -> Transcript:
    """Read and parse the caption file at `uri` (any Beam FileSystems path).

    Format by extension: .vtt/.srt (`parse_cues`), .json3, .json (the sample format). Language:
    the file name's tag (`abc.en-US.vtt`), else the content's (sample JSON, VTT `Language:`
    header), else `default_language`. is_generated: word-timed VTT/json3, or the sample JSON's.
    Raises TranscriptError: NO_TRANSCRIPT (missing), EMPTY_TRANSCRIPT (zero bytes, or no cue
    with text), BAD_TRANSCRIPT (over `max_bytes`, not UTF-8/UTF-16 text, unknown extension,
    does not parse), UNREADABLE (permission denied), NOT_A_FILE / BROKEN_LINK (a local path
    that is no regular file: never opened). Other I/O errors (network) propagate.
    """
    ext = _extension(uri)
    text = _read_text(uri, max_bytes)
    try:
        snippets, content_language, generated = _parse(ext, text, default_language)
    except TranscriptError as e:
        raise TranscriptError(e.status, f"{uri}: {e.message}") from e
    if not snippets:
        raise TranscriptError(Status.EMPTY_TRANSCRIPT, f"{uri}: no caption with text")
    language = sidecar_language(uri) or content_language or default_language
    return Transcript(snippets, language, generated, source=_SOURCE[ext])


def _parse(ext: str, text: str, default_language: str) -> tuple[list[Snippet], str | None, bool]:
    """(snippets, the language the content names or None, is_generated) of one format."""
    if ext == "json":
        sample = parse_sample(text, default_language)
        return sample.snippets, sample.language_code, sample.is_generated
    if ext == "json3":
        snippets, word_timed = parse_json3_timed(text)
        return snippets, None, word_timed
    header = re.split(r"\r?\n\r?\n", text.lstrip("\ufeff"), maxsplit=1)[0]
    found = _HEADER_LANGUAGE.search(header) if header.startswith("WEBVTT") else None
    return parse_cues(text), found and found[1], bool(INLINE_TIMESTAMP.search(text))


def _extension(uri: str) -> str:
    ext = posixpath.splitext(uri)[1].lstrip(".").lower()
    if ext not in _SOURCE:
        raise bad_transcript(
            f"{uri}: unsupported caption format {ext!r}; expected one of {EXTENSIONS}"
        )
    return ext


def _read_text(uri: str, max_bytes: int) -> str:
    """The file's text; checks existence and size before reading, decodes UTF-8 (BOM or not)
    or BOM-marked UTF-16, and refuses NUL bytes (binary files)."""
    if is_local(uri) and posixpath.lexists(uri) and (problem := check_regular_file(uri)):
        raise TranscriptError(problem[0], f"{uri}: {problem[1]}")
    [match] = FileSystems.match([_loose_pattern(uri)])
    sizes = [m.size_in_bytes for m in match.metadata_list if m.path == uri]
    if not sizes:
        raise TranscriptError(Status.NO_TRANSCRIPT, f"no such caption file: {uri}")
    size = sizes[0]
    if size > max_bytes:
        raise bad_transcript(f"{uri} is {size:,} bytes, over the {max_bytes:,}-byte cap")
    try:
        with FileSystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            data = f.read(max_bytes + 1)
    except PermissionError as e:  # local: a race with the check above; never a crash
        raise TranscriptError(Status.UNREADABLE, f"{uri}: permission denied") from e
    if not data:
        raise TranscriptError(Status.EMPTY_TRANSCRIPT, f"{uri} is empty (0 bytes)")
    if len(data) > max_bytes:
        raise bad_transcript(f"{uri} is over the {max_bytes:,}-byte cap")
    utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    try:
        text = data.decode("utf-16" if utf16 else "utf-8-sig")
    except UnicodeDecodeError as e:
        raise bad_transcript(f"{uri} is not UTF-8 text ({e.reason} at byte {e.start})") from e
    if "\x00" in text:
        raise bad_transcript(f"{uri} holds NUL characters: a binary file, not captions")
    return text


def _loose_pattern(path: str) -> str:
    """`path` as a FileSystems.match pattern matching at least itself: each glob character
    becomes "?" (Beam's patterns cannot quote them), so callers keep only exact names."""
    return re.sub(r"[\[*?]", "?", path)


def find_sidecars(video_uri: str) -> list[str]:
    """Caption files beside a video, sorted: same directory, same stem, an optional language
    tag, a caption extension (`/d/abc.mp4` → `/d/abc.vtt`, `/d/abc.en-US.srt`, `/d/abc.json`).
    Not `/d/abcd.vtt`, `/d/abc.backup.vtt` or files in subdirectories."""
    directory, name = posixpath.split(video_uri)
    stem = posixpath.splitext(name)[0]
    pattern = posixpath.join(directory, _loose_pattern(stem) + ".*")
    wanted = re.compile(rf"{re.escape(stem)}(?:\.{_LANG})?\.{_EXT}")
    paths = [m.path for result in FileSystems.match([pattern]) for m in result.metadata_list]
    return sorted(
        p
        for p in paths
        if posixpath.dirname(p) == directory and wanted.fullmatch(posixpath.basename(p))
    )


def sidecar_language(path: str) -> str | None:
    """The language tag in a file name `name.<lang>.<ext>` ("abc.pt-BR.vtt" → "pt-BR"), else
    None. (A stem ending in a 2–3 letter word, "cake.mix.vtt", reads as a tag: name files so.)"""
    m = _NAME_LANGUAGE.fullmatch(posixpath.basename(path))
    return m[1] if m else None


def choose_sidecar(paths: list[str], languages: tuple[str, ...] = ("en",)) -> str | None:
    """The caption file to use, or None when none is in `languages` (→ LANGUAGE_UNAVAILABLE).

    Ranked by: the first preference the file's language matches (the exact tag, or its primary
    subtag: "en" matches "en-US"; an untagged file counts as `languages[0]`), an exact tag before
    a subtag match, then format json3 > vtt > srt > json, then path.
    """
    ranked = []
    for path in paths:
        ext = posixpath.splitext(path)[1].lstrip(".").lower()
        lang = sidecar_language(path) or (languages[0] if languages else "")
        rank = language_rank(lang, languages) if ext in EXTENSIONS else None
        if rank is not None:
            ranked.append((*rank, EXTENSIONS.index(ext), path))
    return min(ranked)[-1] if ranked else None
