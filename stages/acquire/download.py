"""download: a kept video record (from `filter`) → its media file under `OUT/download/videos/`.

Remote records (YouTube, or any URL yt-dlp can fetch) are downloaded through
`stages.youtube.download` (paced, retried, wall-clock capped, verified before it counts), on
the info dict discover kept (`stages.acquire.info_cache`: no second extraction while it is fresh);
local and sample records pass through untouched. Each downloaded video also gets
`OUT/download/data/<id>.parquet`: its VIDEOS record with `uri` pointing at the file, which is
what later stages read. A finished video is never downloaded again; a failure is retried only
with `--retry_failed` and only when retrying can help (`rate_limited`, `network_timeout`, ...).
"""

import logging
import time

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from schemas import VIDEOS, Status
from stages.acquire.info_cache import load_info
from stages.store.files import fingerprint
from stages.store.stage import SkipFinished, StageStore
from stages.store.status import RETRYABLE, status_row

log = logging.getLogger(__name__)

REMOTE_SOURCES = frozenset({"youtube", "url"})


class DownloadFn(beam.DoFn):
    """record → the record with `uri` set to the verified local copy (main) + a status row."""

    def __init__(self, out: str, cfg, fp: str):
        self._out, self._cfg, self._fp = out, cfg, fp
        self._bytes = Metrics.counter("download", "bytes")

    def setup(self):
        self._store = StageStore(self._out, "download")
        self._dest = FileSystems.join(self._store.root, "videos")

    def teardown(self):  # close this thread's YoutubeDLs: connections, cookie jar
        from stages.acquire.ytdlp import close_handles

        close_handles()

    def process(self, video: dict):
        from stages.acquire.youtube import AcquisitionError, download

        vid, t0 = video["video_id"], time.monotonic()
        try:
            info = load_info(self._out, vid)  # the probe's, when discover kept it
            uri, size = download(video["url"], vid, self._dest, self._cfg, info=info)
        except AcquisitionError as e:
            log.warning("download %s: %s (%s)", vid, e.status, e.message)
            seconds = time.monotonic() - t0
            yield beam.pvalue.TaggedOutput(
                "status", status_row(vid, "download", e.status, e.message, 0, seconds)
            )
            return
        record = {**video, "uri": uri}
        self._store.write_data(vid, pa.Table.from_pylist([record], schema=VIDEOS), self._fp)
        self._bytes.inc(size)
        seconds = time.monotonic() - t0
        log.info("download %s: %.1f MB in %.1fs", vid, size / 1e6, seconds)
        yield record
        yield beam.pvalue.TaggedOutput(
            "status", status_row(vid, "download", Status.OK, None, size, seconds)
        )


class ReadDownloadedFn(beam.DoFn):
    """A `download` status row, or a video record, → the record later stages read: local and
    sample records as they are, remote ones with the `uri` of their verified download (none
    when it was not downloaded)."""

    def __init__(self, out: str):
        self._out = out

    def setup(self):
        self._store = StageStore(self._out, "download")

    def process(self, row: dict):
        if "source" in row and row["source"] not in REMOTE_SOURCES:
            yield row
        elif row.get("status", Status.OK) == Status.OK and FileSystems.exists(
            self._store.data_path(row["video_id"])
        ):
            yield self._store.read_data(row["video_id"]).to_pylist()[0]


class Download(beam.PTransform):
    """kept records → (records with local `uri`, `download` status rows).

    Returns a pair of PCollections: every record later stages should read (local and sample
    records unchanged, remote ones downloaded now or earlier) and the status rows of remote ones.
    """

    def __init__(self, out: str, cfg, force: bool = False, retry_failed: bool = False):
        super().__init__()
        self._out, self._cfg, self._force = out, cfg, force
        self._retry = RETRYABLE if retry_failed else frozenset()

    def expand(self, videos):
        fp = fingerprint({"max_height": self._cfg.max_height, "format": self._cfg.format})
        local = videos | "Local" >> beam.Filter(lambda v: v["source"] not in REMOTE_SOURCES)
        parts = (
            videos
            | "Remote" >> beam.Filter(lambda v: v["source"] in REMOTE_SOURCES)
            | "SkipFinished"
            >> SkipFinished(StageStore(self._out, "download"), fp, self._force, self._retry)
        )
        fetched = (
            parts.todo
            | "Spread" >> beam.Reshuffle()
            | "Fetch"
            >> beam.ParDo(DownloadFn(self._out, self._cfg, fp)).with_outputs(
                "status", main="videos"
            )
        )
        earlier = parts.done | "ReadEarlier" >> beam.ParDo(ReadDownloadedFn(self._out))
        records = (local, fetched.videos, earlier) | "Records" >> beam.Flatten()
        status = (fetched.status, parts.done) | "Status" >> beam.Flatten()
        return records, status
