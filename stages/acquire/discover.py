"""discover: a source → video records (schemas.VIDEOS), written to OUT/discover/.

Sources:
- the embedded sample world (stages.acquire.sample_world): rendered into OUT/sample/ on first use;
- a local directory of video files (mp4, mkv, mov, webm; recursive), possibly on gs://:
  `stages.acquire.local_files` lists it, and every entry that cannot be used is a status row
  (broken_link, unreadable, not_a_file) or counted in the logged summary by reason;

Local ids are derived from file names: the stem with every character outside
[A-Za-z0-9_-] replaced by "_" (at most 64 characters). When that changed the stem, or when
two files share an id (`a.mp4` and `a.mkv`), each such id gets "-" + 8 hex digits of the
SHA-1 of the file's relative path, so ids are unique, stable, and safe as path components.
"""

import functools
import hashlib
import logging
import re
import time
from collections import Counter
from pathlib import PurePosixPath

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from schemas import VIDEOS, Status, layout
from schemas.ids import YOUTUBE_ID, validate_video_id, watch_url
from schemas.layout import is_local
from stages.acquire.info_cache import save_info
from stages.acquire.local_files import VIDEO_EXTENSIONS, Listing, list_dir
from stages.store.stage import StageStore
from stages.store.status import RETRYABLE, WriteParts, WriteStatus, status_row

log = logging.getLogger(__name__)


def _base(rel_path: str) -> str:
    stem = PurePosixPath(rel_path).stem
    return re.sub(r"[^A-Za-z0-9_-]+", "_", stem)[:64].strip("_") or "video"


def _local_id(rel_path: str, same_base: int) -> str:
    """The id of a file: its safe stem, hashed when unsafe or when `same_base` files share it."""
    base = _base(rel_path)
    if base != PurePosixPath(rel_path).stem or same_base > 1:
        base = f"{base}-{hashlib.sha1(rel_path.encode()).hexdigest()[:8]}"
    return validate_video_id(base)


def local_video_ids(rel_paths: list[str]) -> list[str]:
    """Safe, unique ids for files given by their paths relative to the source dir."""
    clashes = Counter(_base(p) for p in rel_paths)
    return [_local_id(p, clashes[_base(p)]) for p in rel_paths]


def _relative(source_dir: str, path: str) -> str:
    root = source_dir.rstrip("/") + "/"
    return path[len(root) :] if path.startswith(root) else PurePosixPath(path).name


def local_record(video_id: str, path: str, rel_path: str) -> dict:
    return {
        "video_id": video_id,
        "source": "local",
        "uri": path,
        "title": PurePosixPath(rel_path).stem,
        "duration_s": None,
        "category": None,
        "split": None,
        "transcript_uri": None,
    }


def local_records(source_dir: str) -> tuple[list[dict], list[dict], Listing]:
    """(VIDEOS records, discover status rows of the entries that cannot be used, the listing)
    of a directory of the user's videos (`stages.acquire.local_files.list_dir`). Problem
    entries get the id they would have had as videos."""
    listing = list_dir(source_dir)
    root = listing.root.rstrip("/") + "/"
    paths = listing.videos + [path for path, _, _ in listing.problems]
    rel = [p[len(root) :] if p.startswith(root) else PurePosixPath(p).name for p in paths]
    ids = local_video_ids(rel)
    n = len(listing.videos)
    records = [
        local_record(vid, path, r) for vid, path, r in zip(ids[:n], paths[:n], rel[:n], strict=True)
    ]
    rows = [
        status_row(vid, "discover", status, f"{path}: {message}")
        for vid, (path, status, message) in zip(ids[n:], listing.problems, strict=True)
    ]
    return records, rows, listing


def _listed_records(source_dir: str) -> list[dict]:
    """`local_records` of a remote (gs://) directory, listed on a worker."""
    records, problems, listing = local_records(source_dir)
    (log.warning if problems else log.info)("discover %s", listing.summary())
    if not records:
        raise ValueError(
            f"no video files ({', '.join(sorted(VIDEO_EXTENSIONS))}) under {source_dir}"
        )
    return records


def remote_record(meta: dict) -> dict:
    """A VIDEOS record from `stages.acquire.youtube.probe` metadata."""

    categories = meta.get("categories") or []
    return {
        "video_id": meta["video_id"],
        "source": "youtube" if YOUTUBE_ID.fullmatch(meta["video_id"]) else "url",
        "uri": None,
        "title": meta.get("title"),
        "duration_s": meta.get("duration_s"),
        "category": categories[0] if categories else None,
        "split": None,
        "transcript_uri": None,
        **{k: meta.get(k) for k in ("url", "channel", "tags", "language", "live_status",
                                      "availability", "caption_languages",
                                      "auto_caption_languages")},
    }  # fmt: skip


class ExpandSourceFn(beam.DoFn):
    """(source index, source) → entries {order, video_id, url} and `status` rows for bad lines.

    A search, channel or playlist is listed by yt-dlp (flat: one request); an id/URL list is
    read line by line (junk lines become `bad_source_line` rows, never a crash).
    """

    def __init__(self, acquire_cfg, max_entries: int | None):
        self._cfg, self._max = acquire_cfg, max_entries

    def teardown(self):  # close this thread's YoutubeDLs: connections, cookie jar
        from stages.acquire.ytdlp import close_handles

        close_handles()

    def process(self, item: tuple[int, str]):
        from stages.acquire import sources, youtube

        index, source = item
        kind = sources.classify_source(source)
        if kind == "list":
            for line in sources.read_id_list(source):
                if line.error:
                    vid = f"line-{index}-{line.line_no}"
                    message = f"{source}:{line.line_no}: {line.error}"
                    yield beam.pvalue.TaggedOutput(
                        "status", status_row(vid, "discover", Status.BAD_SOURCE_LINE, message)
                    )
                else:
                    yield {"order": (index, line.line_no), "video_id": line.video_id,
                           "url": line.url}  # fmt: skip
            return
        if kind == "youtube_video":
            vid = sources.youtube_id_from(source)
            url = watch_url(vid)
            yield {"order": (index, 0), "video_id": vid, "url": url}
            return
        if kind == "url":
            yield {"order": (index, 0), "video_id": None, "url": source}
            return
        try:  # search / channel / playlist
            entries = youtube.list_source(source, self._cfg, self._max)
        except youtube.AcquisitionError as e:
            vid = f"source-{index}"
            yield beam.pvalue.TaggedOutput(
                "status", status_row(vid, "discover", e.status, f"{source}: {e.message}")
            )
            return
        for n, e in enumerate(entries):
            yield {"order": (index, n), "video_id": e["video_id"], "url": e["url"]}


class ProbeFn(beam.DoFn):
    """entry → its VIDEOS record (one paced yt-dlp extraction, cached by video id, its info
    dict kept in `stages.acquire.info_cache` for the download) or a `status` row saying why not."""

    def __init__(self, out: str, acquire_cfg, retry_failed: bool):
        self._out, self._cfg, self._retry_failed = out, acquire_cfg, retry_failed
        self._probed = Metrics.counter("discover", "probed")

    def setup(self):
        self._store = StageStore(self._out, "discover")
        self._previous = self._store.load_status()

    def teardown(self):  # close this thread's YoutubeDLs: connections, cookie jar
        from stages.acquire.ytdlp import close_handles

        close_handles()

    def process(self, entry: dict):
        from stages.acquire import youtube

        try:
            vid = entry["video_id"] or youtube.video_id_for(entry["url"])
        except (ValueError, youtube.AcquisitionError) as e:
            vid = f"url-{hashlib.sha1(entry['url'].encode()).hexdigest()[:12]}"
            yield beam.pvalue.TaggedOutput(
                "status", status_row(vid, "discover", Status.INVALID_ID, str(e))
            )
            return
        if FileSystems.exists(self._store.data_path(vid)):  # probed on an earlier run
            yield self._store.read_data(vid).to_pylist()[0]
            return
        prev = self._previous.get(vid)
        retry = self._retry_failed and prev is not None and prev["status"] in RETRYABLE
        if prev and prev["status"] != Status.OK and not retry:
            yield beam.pvalue.TaggedOutput("status", prev)
            return
        t0 = time.monotonic()
        try:
            meta, info = youtube.probe(entry["url"], self._cfg)
        except youtube.AcquisitionError as e:
            seconds = time.monotonic() - t0
            yield beam.pvalue.TaggedOutput(
                "status", status_row(vid, "discover", e.status, e.message, 0, seconds)
            )
            return
        self._probed.inc()
        save_info(self._out, vid, info)  # the download reuses it: no second extraction
        record = remote_record({**meta, "video_id": vid})
        self._store.write_data(vid, pa.Table.from_pylist([record], schema=VIDEOS), "probe")
        yield record


def _first(item):
    """(key, entries) → the entry listed first (source order, then line order)."""
    _, entries = item
    entries = sorted(entries, key=lambda e: e["order"])
    if len(entries) > 1:
        Metrics.counter("discover", "duplicates").inc(len(entries) - 1)
    return entries[0]


class Discover(beam.PTransform):
    """→ video records; writes OUT/discover/videos/part-*.parquet and its status table.

    Sources: none (the embedded sample world), local directories, and remote sources
    (`stages.acquire.sources.classify_source`: YouTube searches, channels, playlists, video URLs,
    other URLs yt-dlp can fetch, id/URL list files). Remote ids are de-duplicated across sources.
    """

    def __init__(self, out: str, sources: list[str], world_cfg=None, acquire_cfg=None,
                 max_entries: int | None = None, retry_failed: bool = False):  # fmt: skip
        super().__init__()
        self._out, self._sources, self._world_cfg = out, list(sources), world_cfg
        self._acquire_cfg, self._max, self._retry_failed = acquire_cfg, max_entries, retry_failed

    def _local(self, pbegin, dirs: list[str]):
        remote = [d for d in dirs if not is_local(d)]  # gs://: listed by a worker, not here
        dirs = [d for d in dirs if is_local(d)]
        parts, rows = [], []
        if dirs:
            records = []
            for d in dirs:
                found, problems, listing = local_records(d)
                records += found
                rows += problems
                (log.warning if problems else log.info)("discover %s", listing.summary())
            if not records:
                raise ValueError(
                    f"no video files ({', '.join(sorted(VIDEO_EXTENSIONS))}) under "
                    f"{', '.join(dirs)}" + "".join(f"; {r['error_message']}" for r in rows[:3])
                )
            parts.append(pbegin | "Local" >> beam.Create(records))
        if remote:
            parts.append(pbegin | "RemoteDirs" >> beam.Create(remote)
                         | "ListRemote" >> beam.FlatMap(_listed_records))  # fmt: skip
        return parts, rows

    def _remote(self, pbegin, remote: list[tuple[int, str]]):
        expanded = (
            pbegin
            | "Sources" >> beam.Create(remote)
            | "Expand"
            >> beam.ParDo(ExpandSourceFn(self._acquire_cfg, self._max)).with_outputs(
                "status", main="entries"
            )
        )
        probed = (
            expanded.entries
            | "Key" >> beam.Map(lambda e: (e["video_id"] or e["url"], e))
            | "Dedupe" >> beam.GroupByKey()
            | "First" >> beam.Map(_first)
            | "Spread" >> beam.Reshuffle()
            | "Probe"
            >> beam.ParDo(ProbeFn(self._out, self._acquire_cfg, self._retry_failed)).with_outputs(
                "status", main="videos"
            )
        )
        failures = (expanded.status, probed.status) | "Failures" >> beam.Flatten()
        return probed.videos, failures

    def expand(self, pbegin):
        from stages.acquire.sources import classify_source

        if not self._sources:
            from stages.acquire import sample_world

            root = FileSystems.join(self._out, "sample")
            sample_world.write_ground_truth(self._world_cfg, root)
            parts = [pbegin | "SampleWorld" >> sample_world.GenerateSampleWorld(
                root, self._world_cfg)]  # fmt: skip
            failures = pbegin | "NoFailures" >> beam.Create([])
        else:
            kinds = [classify_source(s) for s in self._sources]  # a bad source fails here, early
            dirs = [s for s, k in zip(self._sources, kinds, strict=True) if k == "dir"]
            remote = [(i, s) for i, (s, k) in enumerate(zip(self._sources, kinds, strict=True))
                      if k != "dir"]  # fmt: skip
            parts, local_rows = self._local(pbegin, dirs) if dirs else ([], [])
            failures = pbegin | "LocalFailures" >> beam.Create(local_rows)
            if remote:
                videos, remote_failures = self._remote(pbegin, remote)
                parts.append(videos)
                failures = (failures, remote_failures) | "AllFailures" >> beam.Flatten()
        videos = tuple(parts) | "AllVideos" >> beam.Flatten()
        # Both tables are rebuilt from this run's sources, part by part (schemas.layout).
        _ = videos | "WriteVideos" >> WriteParts(
            functools.partial(layout.videos_path, self._out), VIDEOS, replace=True
        )
        found = videos | "Found" >> beam.Map(
            lambda r: status_row(r["video_id"], "discover", Status.OK, items=1)
        )
        _ = (
            (found, failures)
            | "AllStatus" >> beam.Flatten()
            | "WriteStatus" >> WriteStatus(StageStore(self._out, "discover"), replace=True)
        )
        return videos, failures
