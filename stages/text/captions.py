"""captions: caption/transcript files → timed `Snippet`s, and `clean_text`, the one text cleaner.

Pure functions; no Beam transform here (`stages.text.transcripts` wires them in). Formats:
- WebVTT and SRT (`parse_cues`), including YouTube's auto-caption VTT (what
  `yt-dlp --write-auto-subs` writes): inline word timings, a rolling two-line layout and ~10 ms
  cues that repeat text. Such files give one Snippet per timed word, each word once.
- YouTube json3 (`parse_json3`): per-word Snippets for auto captions, per-event for manual ones.
- The sample world's JSON (`parse_sample`): youtube-transcript-api's `to_raw_data()` + metadata.

Parsers only undo the file format (timings, blocks, line wraps, word-timing markup); text
cleaning (entities, inline tags, [Music], speaker names, emoji, ...) is `clean_text`'s job.
Every parser returns Snippets sorted by (start_s, end_s) (stable), with end_s >= start_s and
no empty text. A file that does not parse raises `TranscriptError(Status.BAD_TRANSCRIPT)`.
"""

import codecs
import html
import json
import math
import posixpath
import re
import unicodedata
from collections import deque

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from schemas import Status
from stages.text.asr import Snippet, Transcript, TranscriptError, language_rank

# ---------------------------------------------------------------------------------------------
# clean_text

# Sound descriptions: a parenthetical of at most 6 words holding one of these words is removed
# ("(laughs)", "(upbeat music)", "(audience clapping)"); any other parenthetical is speech.
SOUND_WORDS = re.compile(
    r"\b(?:laugh(?:s|ing|ter)?|chuckl(?:e|es|ing)|giggl(?:e|es|ing)|applau(?:se|ding)"
    r"|clap(?:s|ping)|cheer(?:s|ing)|music(?:al)?|instrumental|sings|singing|humming"
    r"|sigh(?:s|ing)?|cough(?:s|ing)?|sneez(?:e|es|ing)|gasp(?:s|ing)?|groan(?:s|ing)?"
    r"|grunt(?:s|ing)?|inaudible|indistinct|unintelligible|crosstalk|silence|noise|static"
    r"|b?leep(?:s|ing)?|beep(?:s|ing)?|whistl(?:e|es|ing)|sizzl(?:e|es|ing)|crying|cries"
    r"|scream(?:s|ing)?|sniff(?:s|les|ing)?|exhales?|inhales?|breathing|mumbl(?:es|ing)"
    r"|whisper(?:s|ing)|chatter(?:ing)?|foreign)\b",
    re.IGNORECASE,
)
_MARKUP = re.compile(  # only real tag shapes: "x < 3" and "a<b" stay
    r"(?P<gap><(?:\d+:)?\d{2}:\d{2}[.,]\d{3}>|<br\s*/?>)"  # inline timestamp, line break
    r"|</?(?:[cibus]|ruby|rt|em|strong)(?:\.[\w.-]+)?\s*>"  # <c>, <c.colorE5E5E5>, </i>
    r"|</?(?:v|lang)(?:\.[\w.-]+)?(?:\s[^<>]*)?>"  # <v Speaker Name>, <lang en>
    r"|</?(?:font|span)(?:\s[^<>]*)?>"  # <font color="#fff">
    r"|\{\\[^{}\n]*\}",  # SSA overrides in SRT: {\an8}
    re.IGNORECASE,
)
_MUSIC_RUN = re.compile(r"[♪♫♬][^♪♫♬]*[♪♫♬]")  # sung lyrics between notes
_BRACKETS = re.compile(r"\[[^\[\]]*\]")  # [Music], [ __ ], [inaudible]
_PARENS = re.compile(r"\(([^()]*)\)")
_LINE_BREAKS = re.compile(r">{2,}|(?<=[.!?])\s+-+\s+")  # ">>" and "Hi. - Hello" start lines
_DIALOGUE_DASH = re.compile(r"^\s*-+(?:\s+|(?=[^\W\d_]))")  # "- Hi", "-Hi"; not "-5 degrees"
_SPEAKER = re.compile(r"^\s*(?P<name>[\w][\w .'&-]{0,40}?)\s*:(?=\s|$)")
_CHARS = str.maketrans(
    {
        **dict.fromkeys("\u200b\u2060\ufeff\u180e", " "),  # zero-width spaces, BOM
        **dict.fromkeys("‘’‚‛′", "'"),
        **dict.fromkeys("“”„‟″", '"'),
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),  # dashes, minus
    }
)
_KEEP_SYMBOLS = frozenset("°℃℉")  # category So, but said aloud in recipes


def clean_text(text: str) -> str:
    """One caption snippet → its spoken words on one line; "" when nothing speech-like is left.

    Decodes HTML entities (also double-encoded), drops markup tags, non-speech annotations
    ([...], sound-word parentheticals, ♪ runs), speaker prefixes (">>", a dialogue "- ", ALL-CAPS
    or "Speaker N" names before a colon at a line start), emoji and other pictographs; turns
    curly quotes into ' and ", dashes into "-", every kind of space into one " ". Letters of
    every script, digits, ordinary punctuation and ZWNJ (Persian) are kept; casing is unchanged.
    """
    for _ in range(3):  # "&amp;#39;" → "&#39;" → "'"
        decoded = html.unescape(text)
        if decoded == text:
            break
        text = decoded
    text = text.translate(_CHARS)
    text = _MARKUP.sub(lambda m: " " if m["gap"] else "", text)
    text = _BRACKETS.sub(" ", _MUSIC_RUN.sub(" ", text))
    text = _PARENS.sub(_drop_sound_description, text)
    text = "".join(c for c in text if not _is_pictograph(c))
    lines = _LINE_BREAKS.sub("\n", text).splitlines()
    text = " ".join(" ".join(_strip_speaker(line).split()) for line in lines).strip()
    return text if any(c.isalnum() for c in text) else ""


def _drop_sound_description(m: re.Match) -> str:
    inner = m[1]
    return " " if len(inner.split()) <= 6 and SOUND_WORDS.search(inner) else m[0]


def _is_pictograph(c: str) -> bool:
    """Emoji, dingbats, music notes, emoji modifiers/joiners/selectors, stray control chars."""
    cp, cat = ord(c), unicodedata.category(c)
    return (
        (cat == "So" and c not in _KEEP_SYMBOLS)
        or 0x1F000 <= cp <= 0x1FAFF  # emoji blocks, incl. skin tones and not-yet-assigned
        or cp in (0x200D, 0x20E3)  # ZWJ, combining keycap
        or 0xFE00 <= cp <= 0xFE0F  # variation selectors
        or 0xE0000 <= cp <= 0xE007F  # tag characters (subdivision flags)
        or (cat == "Cc" and not c.isspace())
    )


def _strip_speaker(line: str) -> str:
    """Drop a dialogue dash and a speaker name at a line start: up to 3 ALL-CAPS words
    ("JOHN SMITH:", "SPEAKER 1:") or "Speaker 2:" in any case, then a colon and a space."""
    line = _DIALOGUE_DASH.sub("", line)
    m = _SPEAKER.match(line)
    if m:
        name = m["name"]
        all_caps = any(c.isupper() for c in name) and not any(c.islower() for c in name)
        numbered = re.fullmatch(r"speaker(?:\s*\d+)?", name, re.IGNORECASE)
        if (all_caps and len(name.split()) <= 3) or numbered:
            line = _DIALOGUE_DASH.sub("", line[m.end() :])
    return line


# ---------------------------------------------------------------------------------------------
# WebVTT / SRT

_TIME = r"(?:\d+:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?"
_TIMING = re.compile(rf"^\s*({_TIME})\s*-->\s*({_TIME})(?:[ \t].*)?$")
_INLINE_TS = re.compile(r"<((?:\d+:)?\d{2}:\d{2}[.,]\d{3})>")
_ANY_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_NON_CUE_BLOCK = re.compile(r"^\s*(?:WEBVTT|NOTE|STYLE|REGION)(?:\s|$)")


def parse_cues(text: str) -> list[Snippet]:
    """WebVTT or SRT text → Snippets, one per cue (cue lines joined with a space).

    Tolerates a BOM, CRLF, a missing WEBVTT header, missing or named cue identifiers, MM:SS
    timings, comma decimals, cue settings, NOTE/STYLE/REGION blocks and cues run together
    without a blank line. A file with any inline `<HH:MM:SS.mmm>` timestamp is read as
    YouTube auto captions (see `_word_snippets`). Raises BAD_TRANSCRIPT when the text has
    content but no parsable cue; returns [] for a header-only file.
    """
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    cues: list[tuple[float, float, list[str]]] = []
    unparsed = 0
    for block in re.split(r"\n{2,}", text):  # a " " line is cue text (YouTube), not a break
        lines = block.split("\n")
        starts = [i for i, line in enumerate(lines) if _TIMING.match(line)]
        if not starts:
            if block.strip() and not _NON_CUE_BLOCK.match(block):
                unparsed += 1
            continue
        for k, i in enumerate(starts):
            body = lines[i + 1 : starts[k + 1] if k + 1 < len(starts) else len(lines)]
            if k + 1 < len(starts) and body and body[-1].strip().isdigit():
                body = body[:-1]  # the next SRT cue's counter
            start, end = (_seconds(t) for t in _TIMING.match(lines[i]).groups())
            cues.append((start, max(start, end), body))
    if not cues and unparsed:
        raise TranscriptError(
            Status.BAD_TRANSCRIPT,
            f"no parsable cue in {unparsed} text block(s): expected timing lines like "
            "'00:00:01.000 --> 00:00:02.500'",
        )
    if _INLINE_TS.search(text):
        return _sorted(_word_snippets(cues))
    return _sorted(Snippet(t, s, e) for s, e, body in cues if (t := _join_lines(body)))


def _word_snippets(cues: list[tuple[float, float, list[str]]]) -> list[Snippet]:
    """YouTube auto-caption cues → one Snippet per timed word, each spoken word once.

    In a line like `we're<00:00:01.280><c> going</c><00:00:01.520><c> to</c>` the piece before
    the first timestamp starts at the cue start, each later piece at its timestamp; a piece ends
    where the next starts, the last at the cue end. Lines without timestamps repeat a recent
    timed line (the rolling layout and the ~10 ms cues) and are skipped; one that repeats none
    of the last 8 lines is new untimed text and becomes one Snippet spanning its cue.
    """
    out: list[Snippet] = []
    recent: deque[str] = deque(maxlen=8)
    for cue_start, cue_end, body in cues:
        for line in body:
            if _INLINE_TS.search(line):
                parts = _INLINE_TS.split(line)  # [text, time, text, time, text, ...]
                starts = [cue_start, *(_seconds(t) for t in parts[1::2])]
                ends = [*starts[1:], cue_end]
                words = [_ANY_TAG.sub("", p).strip() for p in parts[0::2]]
                out += [
                    Snippet(w, s, max(s, e))
                    for w, s, e in zip(words, starts, ends, strict=True)
                    if w
                ]
                recent.append(" ".join(" ".join(words).split()))
            elif (plain := " ".join(_ANY_TAG.sub("", line).split())) and plain not in recent:
                out.append(Snippet(plain, cue_start, cue_end))
                recent.append(plain)
    return out


def _seconds(stamp: str) -> float:
    """'01:02:03.456', '02:03,4' or '1:02:03' → seconds (millisecond precision)."""
    clock, _, frac = stamp.replace(",", ".").partition(".")
    h, m, s = ([0, 0] + [int(p) for p in clock.split(":")])[-3:]
    return (((h * 60 + m) * 60 + s) * 1000 + int(frac.ljust(3, "0"))) / 1000


def _join_lines(text: str | list[str]) -> str:
    lines = text.splitlines() if isinstance(text, str) else text
    return " ".join(s for line in lines if (s := line.strip()))


def _sorted(snippets) -> list[Snippet]:
    return sorted(snippets, key=lambda s: (s.start_s, s.end_s))


# ---------------------------------------------------------------------------------------------
# JSON formats


def parse_json3(text: str) -> list[Snippet]:
    """YouTube json3 → Snippets: one per word for auto captions (segs with `tOffsetMs`), one
    per event otherwise. Events without segs (window/pen definitions) and "\\n" segs are skipped.
    """
    return _parse_json3(text)[0]


def _parse_json3(text: str) -> tuple[list[Snippet], bool]:
    """(snippets, whether any event carries word offsets, i.e. auto captions)."""
    doc = _load_json(text, "json3")
    events = doc.get("events") if isinstance(doc, dict) else None
    if not isinstance(events, list):
        raise _bad("json3: expected an object with an 'events' list")
    out: list[Snippet] = []
    word_timed = False
    for event in events:
        if not isinstance(event, dict):
            raise _bad(f"json3: an event must be an object, got {str(event)[:80]}")
        segs = event.get("segs")
        if segs is None:  # a window or pen definition
            continue
        if not isinstance(segs, list) or not all(
            isinstance(s, dict) and isinstance(s.get("utf8", ""), str) for s in segs
        ):
            raise _bad(f"json3: malformed event {str(event)[:80]}")
        t0 = _number(event.get("tStartMs"), "json3 tStartMs")
        t_end = t0 + _number(event.get("dDurationMs", 0), "json3 dDurationMs")
        if any("tOffsetMs" in s for s in segs):
            word_timed = True
            words = [s for s in segs if s.get("utf8", "").strip()]
            starts = [t0 + _number(s.get("tOffsetMs", 0), "json3 tOffsetMs") for s in words]
            ends = [*starts[1:], t_end]
            out += [
                Snippet(s["utf8"].strip(), a / 1000, max(a, b) / 1000)
                for s, a, b in zip(words, starts, ends, strict=True)
            ]
        elif joined := _join_lines("".join(s.get("utf8", "") for s in segs)):
            out.append(Snippet(joined, t0 / 1000, max(t0, t_end) / 1000))
    return _sorted(out), word_timed


def parse_sample(text: str, default_language: str = "en") -> Transcript:
    """The sample world's JSON → Transcript(source="sample"):
    `{"video_id", "language_code", "is_generated", "snippets": [{"text", "start", "duration"}]}`.
    A missing language_code is `default_language`; a missing is_generated is False.
    """
    doc = _load_json(text, "sample")
    if not isinstance(doc, dict) or not isinstance(doc.get("snippets"), list):
        raise _bad("sample: expected an object with a 'snippets' list")
    language, generated = doc.get("language_code", default_language), doc.get("is_generated", False)
    if not isinstance(language, str) or not language or not isinstance(generated, bool):
        raise _bad("sample: 'language_code' must be a string and 'is_generated' a boolean")
    out = []
    for item in doc["snippets"]:
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise _bad(f"sample: malformed snippet {str(item)[:80]}")
        start = _number(item.get("start"), "sample start")
        end = round(start + _number(item.get("duration"), "sample duration"), 3)
        if text_ := _join_lines(item["text"]):
            out.append(Snippet(text_, start, max(start, end)))
    return Transcript(_sorted(out), language, generated, source="sample")


def _load_json(text: str, what: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:  # JSONDecodeError is a ValueError
        raise _bad(f"{what}: not valid JSON ({str(e)[:100]})") from e


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(f"{what} must be a finite number, got {value!r:.40}")
    return float(value)


def _bad(message: str) -> TranscriptError:
    return TranscriptError(Status.BAD_TRANSCRIPT, message)


# ---------------------------------------------------------------------------------------------
# Files

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
    does not parse). Other I/O errors (permissions, network) propagate.
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
        snippets, word_timed = _parse_json3(text)
        return snippets, None, word_timed
    header = re.split(r"\r?\n\r?\n", text.lstrip("\ufeff"), maxsplit=1)[0]
    found = _HEADER_LANGUAGE.search(header) if header.startswith("WEBVTT") else None
    return parse_cues(text), found and found[1], bool(_INLINE_TS.search(text))


def _extension(uri: str) -> str:
    ext = posixpath.splitext(uri)[1].lstrip(".").lower()
    if ext not in _SOURCE:
        raise _bad(f"{uri}: unsupported caption format {ext!r}; expected one of {EXTENSIONS}")
    return ext


def _read_text(uri: str, max_bytes: int) -> str:
    """The file's text; checks existence and size before reading, decodes UTF-8 (BOM or not)
    or BOM-marked UTF-16, and refuses NUL bytes (binary files)."""
    [match] = FileSystems.match([_loose_pattern(uri)])
    sizes = [m.size_in_bytes for m in match.metadata_list if m.path == uri]
    if not sizes:
        raise TranscriptError(Status.NO_TRANSCRIPT, f"no such caption file: {uri}")
    size = sizes[0]
    if size > max_bytes:
        raise _bad(f"{uri} is {size:,} bytes, over the {max_bytes:,}-byte cap")
    with FileSystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        data = f.read(max_bytes + 1)
    if not data:
        raise TranscriptError(Status.EMPTY_TRANSCRIPT, f"{uri} is empty (0 bytes)")
    if len(data) > max_bytes:
        raise _bad(f"{uri} is over the {max_bytes:,}-byte cap")
    utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    try:
        text = data.decode("utf-16" if utf16 else "utf-8-sig")
    except UnicodeDecodeError as e:
        raise _bad(f"{uri} is not UTF-8 text ({e.reason} at byte {e.start})") from e
    if "\x00" in text:
        raise _bad(f"{uri} holds NUL characters: a binary file, not captions")
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
