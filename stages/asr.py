"""The data types every transcript source returns (sidecar files, YouTube, the sample world)."""

from dataclasses import dataclass

from schemas import Status


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


class TranscriptError(Exception):
    """A transcript could not be had; `status` is the reason recorded in the status table."""

    def __init__(self, status: Status, message: str):
        super().__init__(message)
        self.status, self.message = status, message
