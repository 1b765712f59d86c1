"""The data types every transcript source returns (sidecar files, YouTube, the sample world)."""

from dataclasses import dataclass

from schemas.status import StatusError


@dataclass(frozen=True)
class Snippet:
    """One timed piece of text: a caption cue, an ASR chunk, or a single timed word."""

    text: str
    start_s: float
    end_s: float  # >= start_s


@dataclass(frozen=True)
class Transcript:
    snippets: list[Snippet]
    language_code: str  # BCP-47-ish as the source gives it: "en", "en-US", "de"
    is_generated: bool  # automatic speech recognition (True) or uploader-made (False)
    source: str  # "youtube" | "vtt" | "srt" | "json3" | "sample"


class TranscriptError(StatusError):
    """A transcript could not be had; `status` is the reason recorded in the status table."""


def language_rank(code: str, languages: tuple[str, ...]) -> tuple[int, bool] | None:
    """Where `code` sits in the preference order `languages`: (index of the first preference it
    matches, whether only by primary subtag), or None. "en" takes "en" and, after it, "en-GB";
    "en-US" takes only itself. Case does not matter."""
    code = code.lower()
    for i, want in enumerate(lang.lower() for lang in languages):
        if want in (code, code.split("-")[0]):
            return i, code != want
    return None
