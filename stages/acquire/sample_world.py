"""The embedded sample "cooking world": a seeded SOURCE of short real videos + ASR-like transcripts.

Element flow of `GenerateSampleWorld`: video index (int) -> VIDEOS record (dict, source="sample").
Side effects, each written to a temp name then renamed and skipped when already present:
`<root>/videos/<video_id>.<mp4|mkv>` and `<root>/transcripts/<video_id>.json`. `write_ground_truth`
writes `<root>/ground_truth.parquet` (GROUND_TRUTH) straight from the plans, without rendering.
Temp files a killed run left (`.sample-*.tmp.*`) are swept when the transform is built.

Three steps, three modules: the plan (`stages.acquire.sample_plan`: timing, actions, narration,
pure and seeded), the pixels (`stages.acquire.sample_render`) and the files (here). Renders are
byte-reproducible: the same plan gives the same file bytes on any run, worker count or load
(`stages.video.media.write_video` encodes deterministically), so two fresh `make corpus` runs
give the same corpus.

Built so that the visual tokens of the sample preset (random-weight S3D, mean-pooled, then
k-means) carry the verb and the noun of held-out videos (`python -m benchmarks.bench_tokens`):
those features respond mostly to the strongest colour contrast in a clip, so the boards are a few
similar dark surfaces, the food is large, every tool has a saturated colour and a distinct motion,
the food's state changes (slices, pool, froth, flattening) settle early in an action, and actions
fill ~90% of a video. `benchmarks/world_signal.py` measures how separable the features are.
"""

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from schemas import GROUND_TRUTH
from schemas.layout import is_local, join
from stages.acquire.sample_plan import (
    CHATTER,
    FILLERS,
    NOUNS,
    OUTROS,
    PHRASES,
    RATES,
    VERBS,
    Action,
    Snippet,
    VideoPlan,
    WorldConfig,
    frame_times,
    plan_video,
)
from stages.acquire.sample_render import render_frames
from stages.store.files import write_via_local_file
from stages.video.media import write_video

__all__ = [
    "CHATTER", "FILLERS", "NOUNS", "OUTROS", "PHRASES", "RATES", "VERBS", "Action",
    "GenerateSampleWorld", "Snippet", "VideoPlan", "WorldConfig", "frame_times",
    "ground_truth_rows", "plan_video", "render_frames", "sweep_temp_renders", "video_record",
    "write_ground_truth", "write_video_files",
]  # fmt: skip

log = logging.getLogger(__name__)
DEFAULT_WORLD = WorldConfig()
TEMP_GLOB = ".sample-*.tmp.*"
"""What `write_via_local_file` (schemas.io.atomic_write_local) names its temp files
(`.<stem>.<8 hex>.tmp.<ext>`)."""


def _root(root: str | Path) -> str:
    """`root` as a path string: absolute when local, as given when gs:// (or another scheme)."""
    return str(Path(root).absolute()) if is_local(str(root)) else str(root).rstrip("/")


def _paths(plan: VideoPlan, root: str | Path) -> tuple[str, str]:
    root = _root(root)
    return (join(root, "videos", f"{plan.video_id}.{plan.ext}"),
            join(root, "transcripts", f"{plan.video_id}.json"))  # fmt: skip


def sweep_temp_renders(root: str | Path) -> int:
    """Delete the temp files a killed render left under `root` (its videos/ and transcripts/,
    and the ground truth's); returns how many. Run before rendering starts. A gs:// root has
    none: an upload is published whole or not at all."""
    if not is_local(str(root)):
        return 0
    root = Path(root).absolute()
    stale = [p for d in (root / "videos", root / "transcripts") for p in d.glob(TEMP_GLOB)]
    stale += root.glob(".ground_truth.*.tmp.parquet")
    for path in stale:
        path.unlink(missing_ok=True)
    if stale:
        log.info("swept %d temp file(s) of a killed sample render under %s", len(stale), root)
    return len(stale)


def write_video_files(plan: VideoPlan, root: str | Path) -> bool:
    """Write the video and transcript of `plan` under `root` (local or gs://; rendered into a
    local temp file, then published atomically); files already there are kept (idempotent).
    Returns whether anything was written."""
    video, transcript = _paths(plan, root)
    todo = [path for path in (video, transcript) if not FileSystems.exists(path)]
    if video in todo:
        times = frame_times(plan).tolist() if plan.vfr else None
        write_via_local_file(video, lambda tmp: write_video(
            tmp, render_frames(plan), fps=plan.fps, times=times, bframes=plan.bframes))  # fmt: skip
    if transcript in todo:
        doc = {"video_id": plan.video_id, "language_code": "en", "is_generated": True,
               "snippets": [s._asdict() for s in plan.snippets]}  # fmt: skip
        write_via_local_file(transcript, lambda tmp: tmp.write_text(json.dumps(doc, indent=1)))
    return bool(todo)


def video_record(plan: VideoPlan, root: str | Path) -> dict:
    """The VIDEOS row (schemas.VIDEOS) of `plan` once its files live under `root`."""
    video, transcript = _paths(plan, root)
    return {"video_id": plan.video_id, "source": "sample", "uri": video,
            "title": plan.title, "duration_s": plan.duration_s, "category": plan.category,
            "split": plan.split, "transcript_uri": transcript}  # fmt: skip


def ground_truth_rows(plan: VideoPlan) -> list[dict]:
    """The GROUND_TRUTH rows of `plan`, one per action in time order."""
    return [{"video_id": plan.video_id, "action_index": i, **a._asdict(), "split": plan.split}
            for i, a in enumerate(plan.actions)]  # fmt: skip


def write_ground_truth(cfg: WorldConfig, root: str | Path) -> str:
    """Write `<root>/ground_truth.parquet` (zstd) for the whole world; plans only, no rendering."""
    rows = [row for i in range(cfg.n_videos) for row in ground_truth_rows(plan_video(cfg, i))]
    table = pa.Table.from_pylist(rows, schema=GROUND_TRUTH)
    path = join(_root(root), "ground_truth.parquet")
    write_via_local_file(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
    return path


class RenderSampleVideoFn(beam.DoFn):
    """index -> VIDEOS record, rendering the video and its transcript unless already on disk."""

    def __init__(self, root: str, cfg: WorldConfig):
        self.root, self.cfg = str(root), cfg
        self.rendered = beam.metrics.Metrics.counter(self.__class__, "rendered")
        self.kept = beam.metrics.Metrics.counter(self.__class__, "already_present")

    def process(self, index: int) -> Iterator[dict]:
        plan = plan_video(self.cfg, index)
        (self.rendered if write_video_files(plan, self.root) else self.kept).inc()
        yield video_record(plan, self.root)


class GenerateSampleWorld(beam.PTransform):
    """PBegin -> PCollection of VIDEOS records (dicts) of the sample world under `root`."""

    def __init__(self, root: str, cfg: WorldConfig = DEFAULT_WORLD):
        super().__init__()
        self.root, self.cfg = str(root), cfg

    def expand(self, pbegin):
        sweep_temp_renders(self.root)  # at construction, before any render of this run
        return (
            pbegin
            | "Indices" >> beam.Create(range(self.cfg.n_videos))
            | "Spread" >> beam.Reshuffle()
            | "Render" >> beam.ParDo(RenderSampleVideoFn(self.root, self.cfg))
        )
