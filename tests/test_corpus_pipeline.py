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
from stages.video.media import write_video
from tests.tables import corpus_files, corpus_table, status_table, videos_table

TINY = [
    "--sample_videos=4",
    "--sample_min_duration_s=6",
    "--sample_max_duration_s=8",
    "--side=64",
    "--kmeans_k=3",
    "--kmeans_depth=2",
    "--weights=random",
]
STAGES = ("transcripts", "sentences", "frames", "features", "tokens", "corpus")


def _status(out, stage):
    return {r["video_id"]: r for r in status_table(out, stage).to_pylist()}


def _snapshot(out):
    """mtime of every per-video data file and the tree; bytes of every table rebuilt per run."""
    files = sorted(Path(out).rglob("*.parquet"))
    data = {p: p.stat().st_mtime_ns for p in files if p.parent.name in ("data", "kmeans")}
    tables = {p: p.read_bytes() for p in files if p.parent.name not in ("data", "kmeans")}
    assert corpus_files(out), "no corpus shards"
    return data, tables


@pytest.fixture(scope="module")
def sample_out(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("sample") / "out")
    run([f"--out={out}", *TINY])
    return out


def test_sample_corpus_has_tokens_for_every_video(sample_out):
    videos = videos_table(sample_out).to_pylist()
    assert len(videos) == 4
    segments = corpus_table(sample_out)
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
    assert len(tokens) >= clips > 0  # a clip shared by two sentences is in both


def test_sample_corpus_pairs_sentences_with_the_clips_of_their_span(sample_out):
    segments = corpus_table(sample_out).to_pylist()
    with_text = [s for s in segments if s["text"] is not None]
    assert len(with_text) >= 4 and len(segments) > len(with_text)
    for vid in {s["video_id"] for s in segments}:
        segs = [s for s in segments if s["video_id"] == vid]
        assert [s["segment_index"] for s in segs] == list(range(len(segs)))
        assert {s["num_segments"] for s in segs} == {len(segs)}
        assert [s["start_s"] for s in segs] == sorted(s["start_s"] for s in segs)
        tokens = pq.read_table(f"{sample_out}/tokens/data/{vid}.parquet").to_pylist()[0]
        spans = [(s["first_clip"], len(s["visual_tokens"])) for s in segs if s["visual_tokens"]]
        covered = {c for first, n in spans for c in range(first, first + n)}
        assert covered == set(tokens["clip_index"])  # every clip is in some segment
        for s in segs:
            if s["text"] is None or not s["visual_tokens"]:
                continue
            first, last = s["first_clip"], s["first_clip"] + len(s["visual_tokens"]) - 1
            assert tokens["start_s"][first] < s["end_s"] + 1.5
            assert tokens["end_s"][last] > s["start_s"] - 1.5
            assert s["visual_tokens"] == tokens["tokens"][first : last + 1]


def test_sample_sentences_keep_every_transcript_word_once(sample_out):
    for vid in ("sample-0000", "sample-0001"):
        snippets = pq.read_table(f"{sample_out}/transcripts/data/{vid}.parquet").to_pylist()
        sentences = pq.read_table(f"{sample_out}/sentences/data/{vid}.parquet").to_pylist()
        words = [w for s in sorted(snippets, key=lambda s: s["start_s"]) for w in s["text"].split()]
        assert [w for s in sentences for w in s["text"].split()] == words
        assert all(s["splitter"] == "pause" for s in sentences)
        assert all(0 <= s["start_s"] <= s["end_s"] for s in sentences)
        assert [s["start_s"] for s in sentences] == sorted(s["start_s"] for s in sentences)
        assert all(s["text_token_ids"] and max(s["text_token_ids"]) < 30522 for s in sentences)


def test_sample_outputs_are_aligned_in_time(sample_out):
    feats = pq.read_table(f"{sample_out}/features/data/sample-0000.parquet")
    assert feats.column("clip_index").to_pylist() == list(range(feats.num_rows))
    np.testing.assert_allclose(feats.column("start_s").to_numpy(), 1.5 * np.arange(feats.num_rows))
    frames = pq.read_table(f"{sample_out}/frames/data/sample-0000.parquet")
    assert frames.num_rows == feats.num_rows
    assert frames.column("thumbnail")[0].as_py()[:2] == b"\xff\xd8"  # a JPEG


def test_rerun_changes_nothing_and_duplicates_nothing(sample_out):
    data, tables = _snapshot(sample_out)
    assert len(data) == 5 * 4 + 1 and len(tables) >= 8
    run([f"--out={sample_out}", *TINY])
    after_data, after_tables = _snapshot(sample_out)
    assert after_data == data  # no per-video file or tree rewritten
    assert after_tables == tables  # status tables, videos and corpus: identical bytes
    for stage in STAGES:
        table = status_table(sample_out, stage)
        assert table.schema == STATUS
        assert table.num_rows == 4 and len(set(table.column("video_id").to_pylist())) == 4


def test_single_stage_rerun_from_disk(sample_out):
    corpus = {p: Path(p).read_bytes() for p in corpus_files(sample_out)}
    run([f"--out={sample_out}", *TINY, "--stages=tokens,corpus", "--force"])
    assert {p: Path(p).read_bytes() for p in corpus_files(sample_out)} == corpus


def test_sentences_through_a_punctuation_model_rerun_from_disk(sample_out, tmp_path):
    from stages.text.punctuation import random_punctuation_model

    model = random_punctuation_model(str(tmp_path / "model"))  # the real one is not offline
    out = str(tmp_path / "out")
    shutil.copytree(sample_out, out)
    args = [f"--out={out}", *TINY, f"--punctuation_model={model}"]
    run([*args, "--stages=sentences,corpus", "--sentence_splitter=punctuation"])
    vid = "sample-0000"
    snippets = pq.read_table(f"{out}/transcripts/data/{vid}.parquet").column("text").to_pylist()
    sentences = pq.read_table(f"{out}/sentences/data/{vid}.parquet").to_pylist()
    assert {s["splitter"] for s in sentences} == {"punctuation"}
    bare = [w.strip(".,?:-").lower() for s in sentences for w in s["text"].split()]
    assert [w for w in bare if w] == " ".join(snippets).split()  # no word lost or added
    assert all(s["text"][0].isupper() for s in sentences)
    corpus = corpus_table(out).to_pylist()
    assert {s["text"] for s in corpus if s["video_id"] == vid} - {None} == {
        s["text"] for s in sentences
    }


def test_unavailable_punctuation_model_fails_before_any_work(tmp_path):
    from stages.text.punctuation import PunctuationModelUnavailable

    out = tmp_path / "out"
    with pytest.raises(PunctuationModelUnavailable, match="--sentence_splitter=pause"):
        run([f"--out={out}", *TINY, "--sentence_splitter=punctuation"])  # Hub name, offline
    assert not out.exists()


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
    (d / "good.en.vtt").write_text(
        "WEBVTT\n\n00:00:00.200 --> 00:00:01.400\n[Music] now we cut the tomato\n\n"
        "00:00:01.900 --> 00:00:02.800\n&gt;&gt; okay done\n"
    )
    (d / "short.de.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nJetzt schneiden wir\n")
    (d / "truncated.vtt").write_text("WEBVTT\n\nthis cue has no timing line\n")
    (d / "text.en.vtt").write_text("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n[Music]\n")
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
            "--sentence_splitter=pause",
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
    assert corpus["good"]["status"] == "ok" and corpus["good"]["items"] == 2  # 2 sentences
    assert corpus["zero"]["status"] == "upstream_failed"
    segs = corpus_table(out).to_pylist()
    assert "good" in [s["video_id"] for s in segs]
    transcripts = {k: v["status"] for k, v in _status(out, "transcripts").items()}
    assert transcripts == {
        "good": "ok",
        "short": "language_unavailable",
        "truncated": "bad_transcript",
        "text": "empty_transcript",  # only a [Music] tag
        "zero": "no_transcript",
        "audio": "no_transcript",
        "huge": "no_transcript",
    }
    assert "short.de.srt" in _status(out, "transcripts")["short"]["error_message"]
    good = [s for s in segs if s["video_id"] == "good"]
    assert [s["text"] for s in good] == ["now we cut the tomato", "okay done"]
    assert good[0]["visual_tokens"] and good[1]["visual_tokens"]  # 2 clips: [0,1.5) [1.5,3)


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
    assert not corpus_files(killed)

    run([f"--out={killed}", *args])
    a = corpus_table(clean)
    b = corpus_table(killed)
    assert a.equals(b)
    assert not list(Path(killed).rglob("*.tmp-*"))
    assert status_table(killed, "features").num_rows == 6


def test_two_worker_processes_build_the_same_corpus(sample_out, tmp_path):
    out = str(tmp_path / "out")
    run([f"--out={out}", *TINY, "--workers=2"])
    a = corpus_table(sample_out)
    assert corpus_table(out).equals(a)


def test_a_source_whose_videos_are_all_rejected_ends_with_the_summary_and_exit_3(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("a.mp4", "b.mkv"):
        (videos / name).write_bytes(b"not a video at all" * 100)
    cmd = [sys.executable, "-m", "pipelines.corpus", f"--out={tmp_path / 'out'}",
           f"--source={videos}", "--transcripts=none", *TINY[3:]]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 3, done.stderr[-2000:]
    assert "[frames] videos: 2  usable: 0" in done.stderr and "corrupt_media" in done.stderr
    assert "nothing reached k-means: no video got past 'frames'" in done.stderr
    assert "Traceback" not in done.stderr
