"""caption_text: `clean_text`, the one cleaner of caption and transcript text (every source).

A snippet → its spoken words on one line: HTML entities decoded (also double-encoded) and only
then markup removed, so an entity-encoded `&lt;img ...&gt;` never comes out as a real tag;
non-speech annotations, speaker prefixes and pictographs dropped; quotes, dashes and spaces
normalised. Pure functions.
"""

import html
import re
import unicodedata

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
_ANY_HTML_TAG = re.compile(  # <img src=x>, </div>, <br/>, <!-- -->; not "x < 3" or "a <3 b"
    r"<!--.*?-->|</?[A-Za-z][\w:-]*(?:\s[^<>]*)?/?>", re.DOTALL
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

    Decodes HTML entities (also double-encoded), then drops markup tags (caption markup and any
    HTML tag, including ones that were entity-encoded), non-speech annotations
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
    text = _ANY_HTML_TAG.sub(" ", text)  # after decoding: "&lt;img onerror=...&gt;" is a tag now
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
