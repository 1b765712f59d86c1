"""caption_formats: caption/transcript file contents → timed `Snippet`s. Pure functions.

- WebVTT and SRT (`parse_cues`), including YouTube's auto-caption VTT (what
  `yt-dlp --write-auto-subs` writes): inline word timings, a rolling two-line layout and ~10 ms
  cues that repeat text. Such files give one Snippet per timed word, each word once.
- YouTube json3 (`parse_json3`): per-word Snippets for auto captions, per-event for manual ones.
- The sample world's JSON (`parse_sample`): youtube-transcript-api's `to_raw_data()` + metadata.

Parsers only undo the file format (timings, blocks, line wraps, word-timing markup); text
cleaning (entities, inline tags, [Music], speaker names, emoji, ...) is
`stages.text.caption_text.clean_text`'s job. Every parser returns Snippets sorted by
(start_s, end_s) (stable), with end_s >= start_s and no empty text. Content that does not parse
raises `TranscriptError(Status.BAD_TRANSCRIPT)`.
"""

import json
import math
import re
from collections import deque

from schemas import Status
from stages.text.asr import Snippet, Transcript, TranscriptError

_TIME = r"(?:\d+:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?"
_TIMING = re.compile(rf"^\s*({_TIME})\s*-->\s*({_TIME})(?:[ \t].*)?$")
INLINE_TIMESTAMP = re.compile(r"<((?:\d+:)?\d{2}:\d{2}[.,]\d{3})>")
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
    if INLINE_TIMESTAMP.search(text):
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
            if INLINE_TIMESTAMP.search(line):
                parts = INLINE_TIMESTAMP.split(line)  # [text, time, text, time, text, ...]
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


def parse_json3(text: str) -> list[Snippet]:
    """YouTube json3 → Snippets: one per word for auto captions (segs with `tOffsetMs`), one
    per event otherwise. Events without segs (window/pen definitions) and "\\n" segs are skipped.
    """
    return parse_json3_timed(text)[0]


def parse_json3_timed(text: str) -> tuple[list[Snippet], bool]:
    """(snippets, whether any event carries word offsets, i.e. auto captions)."""
    doc = _load_json(text, "json3")
    events = doc.get("events") if isinstance(doc, dict) else None
    if not isinstance(events, list):
        raise bad_transcript("json3: expected an object with an 'events' list")
    out: list[Snippet] = []
    word_timed = False
    for event in events:
        if not isinstance(event, dict):
            raise bad_transcript(f"json3: an event must be an object, got {str(event)[:80]}")
        segs = event.get("segs")
        if segs is None:  # a window or pen definition
            continue
        if not isinstance(segs, list) or not all(
            isinstance(s, dict) and isinstance(s.get("utf8", ""), str) for s in segs
        ):
            raise bad_transcript(f"json3: malformed event {str(event)[:80]}")
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
        raise bad_transcript("sample: expected an object with a 'snippets' list")
    language, generated = doc.get("language_code", default_language), doc.get("is_generated", False)
    if not isinstance(language, str) or not language or not isinstance(generated, bool):
        raise bad_transcript(
            "sample: 'language_code' must be a string and 'is_generated' a boolean"
        )
    out = []
    for item in doc["snippets"]:
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise bad_transcript(f"sample: malformed snippet {str(item)[:80]}")
        start = _number(item.get("start"), "sample start")
        end = round(start + _number(item.get("duration"), "sample duration"), 3)
        if text_ := _join_lines(item["text"]):
            out.append(Snippet(text_, start, max(start, end)))
    return Transcript(_sorted(out), language, generated, source="sample")


def _load_json(text: str, what: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:  # JSONDecodeError is a ValueError
        raise bad_transcript(f"{what}: not valid JSON ({str(e)[:100]})") from e


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise bad_transcript(f"{what} must be a finite number, got {value!r:.40}")
    return float(value)


def bad_transcript(message: str) -> TranscriptError:
    return TranscriptError(Status.BAD_TRANSCRIPT, message)
