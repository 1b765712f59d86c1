"""Sparse/dense clip positions and seek-based decoding on real encoded files."""

import numpy as np
import pytest

from model.clipbert.sampling import (
    SampleError,
    SamplingConfig,
    clip_starts,
    decode_frames,
    frame_times,
    probe,
    sample_times,
)
from schemas.status import Status
from stages.video.media import write_video

FPS, N_FRAMES = 10, 40  # 4 s; frame i is a flat grey of level 6 i


def grey(i: int) -> np.ndarray:
    return np.full((48, 64, 3), 6 * i, np.uint8)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    cfr = root / "cfr.mp4"  # keyframe every 12 frames: seeking lands before the target
    write_video(cfr, (grey(i) for i in range(N_FRAMES)), fps=FPS, gop=12, bframes=2, crf=0)
    vfr = root / "vfr.mkv"  # irregular gaps (50-150 ms)
    gaps = np.random.default_rng(0).uniform(0.05, 0.15, N_FRAMES - 1)
    times = np.concatenate([[0.0], np.cumsum(gaps)]).round(3)
    write_video(vfr, (grey(i) for i in range(N_FRAMES)), times=times.tolist(), gop=12, crf=0)
    return {"cfr": (cfr, np.arange(N_FRAMES) / FPS), "vfr": (vfr, times)}


def level_index(frames: np.ndarray) -> np.ndarray:
    return np.round(frames.reshape(*frames.shape[:-3], -1).mean(-1) / 6).astype(int)


def test_sparse_clips_fall_one_per_bin_inside_the_span_and_dense_are_centred():
    rng = np.random.default_rng(0)
    starts = [clip_starts(2.0, 10.0, 4, 1.0, rng) for _ in range(200)]
    for k in range(4):  # bin k is [2 + 2k, 4 + 2k): the clip starts in [2 + 2k, 3 + 2k]
        column = np.array([s[k] for s in starts])
        assert column.min() >= 2 + 2 * k and column.max() <= 3 + 2 * k
        assert column.max() - column.min() > 0.8  # really random within the bin
    assert clip_starts(2.0, 10.0, 4, 1.0, None).tolist() == [2.5, 4.5, 6.5, 8.5]
    # A span shorter than the clips: clips stay inside [start, end - clip_s] or at start.
    assert clip_starts(1.0, 1.5, 2, 1.0, None).tolist() == [1.0, 1.0]
    assert frame_times(np.array([0.0]), 2, 1.0).tolist() == [[0.25, 0.75]]


def test_the_same_rng_draws_the_same_clips():
    cfg = SamplingConfig(clips=3, frames=2)
    a = sample_times(0, 9, cfg, np.random.default_rng([0, 5, 1]))
    b = sample_times(0, 9, cfg, np.random.default_rng([0, 5, 1]))
    assert a.shape == (3, 2) and np.array_equal(a, b)
    assert not np.array_equal(a, sample_times(0, 9, cfg, np.random.default_rng([0, 6, 1])))


@pytest.mark.parametrize("kind", ["cfr", "vfr"])
def test_each_target_gets_the_nearest_frame_by_seeking_or_decoding_on(videos, kind):
    path, times = videos[kind]
    targets = np.random.default_rng(1).uniform(0, times[-1], (6, 2))
    nearest = np.abs(targets[..., None] - times).argmin(-1)
    for seek_ahead_s in (0.0, 100.0):  # always seek / decode straight on
        cfg = SamplingConfig(side=32, seek_ahead_s=seek_ahead_s)
        frames = decode_frames(path, targets, cfg)
        assert frames.shape == (6, 2, 32, 32, 3) and frames.dtype == np.uint8
        assert level_index(frames).tolist() == nearest.tolist()


def test_targets_past_the_end_take_the_last_frame(videos):
    path, _ = videos["cfr"]
    frames = decode_frames(path, np.array([[3.95, 60.0]]), SamplingConfig(side=16))
    assert level_index(frames).tolist() == [[N_FRAMES - 1, N_FRAMES - 1]]
    assert probe(path) == pytest.approx(N_FRAMES / FPS, abs=0.11)


def test_frames_are_resized_and_centre_cropped(tmp_path):
    img = np.zeros((40, 80, 3), np.uint8)
    img[:, 20:60] = 255  # the middle half is white: exactly the centre crop
    path = tmp_path / "wide.mp4"
    write_video(path, [img] * 5, fps=5, crf=0)
    frames = decode_frames(path, np.array([0.1]), SamplingConfig(side=20))
    assert frames.shape == (1, 20, 20, 3) and frames[0, 2:-2, 2:-2].min() > 200


def _bad_files(root, videos):
    root.joinpath("garbage.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    root.joinpath("empty.mp4").write_bytes(b"")
    root.joinpath("text.mp4").write_text("not a video\n" * 100)
    data = videos["cfr"][0].read_bytes()
    root.joinpath("truncated.mp4").write_bytes(data[: len(data) // 2])
    from PIL import Image

    Image.fromarray(grey(20)).save(root / "still.mp4", format="JPEG")
    return {
        "garbage.mp4": Status.CORRUPT_MEDIA,
        "empty.mp4": Status.CORRUPT_MEDIA,
        "text.mp4": Status.CORRUPT_MEDIA,
        "truncated.mp4": Status.CORRUPT_MEDIA,
        "still.mp4": Status.NO_VIDEO_STREAM,
        "missing.mp4": Status.UNAVAILABLE,
    }


def test_bad_files_raise_sample_errors_with_the_corpus_reasons(tmp_path, videos):
    for name, status in _bad_files(tmp_path, videos).items():
        with pytest.raises(SampleError) as err:
            decode_frames(tmp_path / name, np.array([[0.5]]), SamplingConfig(side=16))
        assert err.value.status == status, name
        with pytest.raises(SampleError):
            probe(tmp_path / name)


def test_oversized_declared_frames_and_slow_decodes_are_refused(videos):
    path, _ = videos["cfr"]
    with pytest.raises(SampleError) as err:
        decode_frames(path, np.array([0.5]), SamplingConfig(max_pixels=64 * 47))
    assert err.value.status == Status.UNSAFE_MEDIA and "64x48" in err.value.message
    with pytest.raises(SampleError) as err:
        decode_frames(path, np.array([0.5]), SamplingConfig(timeout_s=0.0))
    assert err.value.status == Status.DECODE_TIMEOUT
