"""The transcripts stage never crashes on a bad input: an unsafe id or a sidecar that cannot be
read becomes that video's status row, and the other videos go on."""

import os

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline

from schemas import Status
from stages.store.stage import StageStore
from stages.store.status import WriteStatus
from stages.text.transcripts import FetchTranscripts, TranscriptsConfig
from tests.tables import status_table

SRT = "1\n00:00:01,000 --> 00:00:02,500\nchop the onions\n"


def record(video_id: str, uri: str) -> dict:
    return {"video_id": video_id, "source": "local", "uri": uri, "transcript_uri": None}


def test_bad_ids_and_unreadable_sidecars_are_status_rows(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.srt").write_text(SRT)
    os.mkfifo(src / "pipe.srt")  # a sidecar that would block a reader forever
    videos = [
        record("good", str(src / "good.mp4")),
        record("pipe", str(src / "pipe.mp4")),
        record("../escape", str(src / "escape.mp4")),
        {**record("AAAAAAAAAA!", ""), "source": "youtube"},  # not a YouTube id, not safe
    ]
    out = str(tmp_path / "out")
    with TestPipeline(runner="FnApiRunner") as p:
        _ = (
            p
            | beam.Create(videos)
            | FetchTranscripts(out, TranscriptsConfig(source="auto"))
            | WriteStatus(StageStore(out, "transcripts"))
        )
    rows = status_table(out, "transcripts").to_pylist()
    got = {r["video_id"]: r["status"] for r in rows}
    assert got == {
        "good": Status.OK,
        "pipe": Status.NOT_A_FILE,
        "../escape": Status.INVALID_ID,
        "AAAAAAAAAA!": Status.INVALID_ID,
    }
