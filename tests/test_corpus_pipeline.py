"""End to end: the corpus DAG on a tiny sample world and on a directory of bad files."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from pipelines.corpus import run
from schemas import SEGMENTS, STATUS
from stages.media import write_video

TINY = [
    "--sample_videos=4",
    "--sample_min_duration_s=6",
    "--sample_max_duration_s=8",
    "--side=64",
    "--kmeans_k=3",
    "--kmeans_depth=2",
    "--weights=random",
]
STAGES = ("frames", "features", "tokens", "corpus")


def _status(out, stage):
    return {r["video_id"]: r for r in pq.read_table(f"{out}/{stage}/status.parquet").to_pylist()}


def _snapshot(out):
    """mtime of every per-video data file and the tree; bytes of every table rebuilt per run."""
    files = sorted(Path(out).rglob("*.parquet"))
    data = {p: p.stat().st_mtime_ns for p in files if p.parent.name in ("data", "kmeans")}
    tables = {p: p.read_bytes() for p in files if p.parent.name not in ("data", "kmeans")}
    return data, tables


@pytest.fixture(scope="module")
def sample_out(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("sample") / "out")
    run([f"--out={out}", *TINY])
    return out


def test_sample_corpus_has_tokens_for_every_video(sample_out):
    videos = pq.read_table(f"{sample_out}/discover/videos.parquet").to_pylist()
    assert len(videos) == 4
    segments = pq.read_table(f"{sample_out}/corpus/segments.parquet")
    assert segments.schema == SEGMENTS
    assert sorted(set(segments.column("video_id").to_pylist())) == sorted(
        v["video_id"] for v in videos
    )
    for stage in STAGES:
        status = _status(sample_out, stage)
        assert set(status) == {v["video_id"] for v in videos}, stage
        assert {r["status"] for r in status.values()} == {"ok"}, stage
    tokens = [t for seq in segments.column("visual_tokens").to_pylist() for t in seq]
    assert min(tokens) >= 0 and max(tokens) < 3**2
    clips = sum(r["items"] for r in _status(sample_out, "frames").values())
    assert len(tokens) == clips > 0


def test_sample_outputs_are_aligned_in_time(sample_out):
    feats = pq.read_table(f"{sample_out}/features/data/sample-0000.parquet")
    assert feats.column("clip_index").to_pylist() == list(range(feats.num_rows))
    np.testing.assert_allclose(feats.column("start_s").to_numpy(), 1.5 * np.arange(feats.num_rows))
    frames = pq.read_table(f"{sample_out}/frames/data/sample-0000.parquet")
    assert frames.num_rows == feats.num_rows
    assert frames.column("thumbnail")[0].as_py()[:2] == b"\xff\xd8"  # a JPEG


def test_rerun_changes_nothing_and_duplicates_nothing(sample_out):
    data, tables = _snapshot(sample_out)
    assert len(data) == 3 * 4 + 1 and len(tables) >= 6
    run([f"--out={sample_out}", *TINY])
    after_data, after_tables = _snapshot(sample_out)
    assert after_data == data  # no per-video file or tree rewritten
    assert after_tables == tables  # status tables, videos and corpus: identical bytes
    for stage in STAGES:
        table = pq.read_table(f"{sample_out}/{stage}/status.parquet")
        assert table.schema == STATUS
        assert table.num_rows == 4 and len(set(table.column("video_id").to_pylist())) == 4


def test_single_stage_rerun_from_disk(sample_out):
    corpus = Path(f"{sample_out}/corpus/segments.parquet").read_bytes()
    run([f"--out={sample_out}", *TINY, "--stages=tokens,corpus", "--force"])
    assert Path(f"{sample_out}/corpus/segments.parquet").read_bytes() == corpus


def _frames(n, w=96, h=72, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory):
    import av

    d = tmp_path_factory.mktemp("bad")
    write_video(d / "good.mp4", _frames(90), fps=30)  # 3 s → 2 clips
    write_video(d / "short.mp4", _frames(30), fps=30)  # 1 s: shorter than one clip
    data = (d / "good.mp4").read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (d / "zero.mp4").write_bytes(b"")
    (d / "text.mp4").write_text("this is not a video\n" * 50)
    with av.open(str(d / "audio.mp4"), "w") as c:
        s = c.add_stream("aac", rate=16000)
        for i in range(20):
            f = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            f.sample_rate, f.pts = 16000, i * 1024
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    write_video(d / "huge.mkv", _frames(1, 4096, 4096), fps=1)
    return d


def test_bad_inputs_each_get_a_status_row_and_the_rest_completes(bad_dir, tmp_path):
    out = str(tmp_path / "out")
    run(
        [
            f"--out={out}",
            f"--source_dir={bad_dir}",
            "--side=64",
            "--weights=random",
            "--kmeans_k=2",
            "--kmeans_depth=1",
        ]
    )
    frames = {k: (v["status"], v["error_message"]) for k, v in _status(out, "frames").items()}
    assert frames["good"][0] == "ok"
    assert frames["short"][0] == "too_short"
    assert frames["truncated"][0] in ("corrupt_media", "truncated_media")
    assert frames["zero"][0] == "corrupt_media"
    assert frames["text"][0] == "corrupt_media"
    assert frames["audio"][0] == "no_video_stream"
    assert frames["huge"][0] == "unsafe_media" and "4096" in frames["huge"][1]
    assert all(msg for status, msg in frames.values() if status != "ok")
    corpus = _status(out, "corpus")
    assert corpus["good"]["status"] == "ok" and corpus["good"]["items"] == 1
    assert corpus["zero"]["status"] == "upstream_failed"
    segs = pq.read_table(f"{out}/corpus/segments.parquet")
    assert "good" in segs.column("video_id").to_pylist()


def test_kill_9_then_rerun_equals_an_uninterrupted_run(tmp_path):
    args = [*TINY, "--sample_videos=6"]
    clean, killed = str(tmp_path / "clean"), str(tmp_path / "killed")
    run([f"--out={clean}", *args])

    # Same rendered videos (the renderer's own determinism is tested in test_sample_world).
    shutil.copytree(f"{clean}/sample", f"{killed}/sample")
    cmd = [sys.executable, "-m", "pipelines.corpus", f"--out={killed}", *args]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 240
    data = Path(killed) / "features" / "data"
    while time.monotonic() < deadline and proc.poll() is None:
        if data.exists() and len(list(data.glob("*.parquet"))) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (Path(killed) / "corpus" / "segments.parquet").exists()

    run([f"--out={killed}", *args])
    a = pq.read_table(f"{clean}/corpus/segments.parquet")
    b = pq.read_table(f"{killed}/corpus/segments.parquet")
    assert a.equals(b)
    assert not list(Path(killed).rglob("*.tmp-*"))
    assert pq.read_table(f"{killed}/features/status.parquet").num_rows == 6


def test_two_worker_processes_build_the_same_corpus(sample_out, tmp_path):
    out = str(tmp_path / "out")
    run([f"--out={out}", *TINY, "--workers=2"])
    a = pq.read_table(f"{sample_out}/corpus/segments.parquet")
    assert pq.read_table(f"{out}/corpus/segments.parquet").equals(a)
