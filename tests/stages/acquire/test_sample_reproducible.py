"""Sample renders are byte-reproducible: two renders, a render by two Beam worker processes and a
render killed with SIGKILL then rerun from its leftovers all give the same bytes."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from stages.acquire.sample_world import (
    TEMP_GLOB,
    GenerateSampleWorld,
    WorldConfig,
    plan_video,
    write_video_files,
)

# Full-size frames (the encoder's decisions depend on them), short videos, every rate and both
# containers among the first few indices.
ROOT = Path(__file__).resolve().parents[3]
WORLD = WorldConfig(n_videos=5, min_duration_s=3.0, max_duration_s=4.0)


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def render_in_order(root: Path) -> dict[str, str]:
    for i in range(WORLD.n_videos):
        write_video_files(plan_video(WORLD, i), root)
    return digests(root)


def render_with_beam(root: Path, *argv: str) -> dict[str, str]:
    with TestPipeline(runner="FnApiRunner", options=PipelineOptions(list(argv))) as p:
        _ = p | GenerateSampleWorld(str(root), WORLD)
    return digests(root)


def test_renders_are_byte_identical_across_runs_and_worker_counts(tmp_path):
    clean = render_in_order(tmp_path / "a")
    assert len(clean) == 2 * WORLD.n_videos
    assert {p.rsplit(".", 1)[1] for p in clean} == {"mp4", "mkv", "json"}
    assert render_in_order(tmp_path / "b") == clean
    assert render_with_beam(tmp_path / "c") == clean
    two = ("--direct_num_workers=2", "--direct_running_mode=multi_processing")
    assert render_with_beam(tmp_path / "d", *two) == clean


KILLABLE = """
import sys
from stages.acquire.sample_world import WorldConfig, plan_video, write_video_files
world = WorldConfig(n_videos=5, min_duration_s=3.0, max_duration_s=4.0)
for i in range(world.n_videos):
    write_video_files(plan_video(world, i), sys.argv[1])
"""


def test_a_render_killed_mid_file_then_rerun_equals_a_clean_render(tmp_path):
    root = tmp_path / "killed"
    child = subprocess.Popen([sys.executable, "-c", KILLABLE, str(root)], cwd=ROOT)
    videos, deadline = root / "videos", time.monotonic() + 60
    try:  # kill -9 while a video is half-written (its temp file exists)
        while not (videos.is_dir() and any(videos.glob(TEMP_GLOB))):
            assert child.poll() is None and time.monotonic() < deadline, "no temp file seen"
            time.sleep(0.002)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert any(videos.glob(TEMP_GLOB))  # what a killed run leaves
    assert render_with_beam(root) == render_in_order(tmp_path / "clean")
    assert not any(videos.glob(TEMP_GLOB))  # swept by the rerun
