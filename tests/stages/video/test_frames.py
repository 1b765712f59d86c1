"""stages.video.frames on tiny generated files: 20 fps sampling by pts, clips, rotation, failures.

Each source frame is a flat colour encoding its index (three base-8 digits in R, G, B), so
a test can read back exactly which source frames were picked.
"""

import io
from fractions import Fraction

import av
import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from schemas import CLIPS, Status
from stages.video import frames as frames_mod
from stages.video.frames import (
    FramesConfig,
    MediaError,
    clip_row,
    iter_clips,
    resample,
    thumbnail_jpeg,
)
from stages.video.media import write_video

CFG = FramesConfig(side=32, thumb_side=16)


def colour(i: int) -> np.ndarray:
    return np.array([16 + 32 * ((i >> s) & 7) for s in (0, 3, 6)], np.uint8)


def index_of(frame: np.ndarray) -> int:
    centre = frame[frame.shape[0] // 2, frame.shape[1] // 2].astype(float)
    d = np.clip(np.round((centre - 16) / 32), 0, 7).astype(int)
    return int(d[0] + 8 * d[1] + 64 * d[2])


def painted(n: int, h: int = 48, w: int = 64):
    for i in range(n):
        yield np.broadcast_to(colour(i), (h, w, 3)).copy()


def nearest(k: int, src_fps) -> int:
    """Source index nearest to target k at 20 fps; a tie goes to the later frame."""
    return int(Fraction(k) * Fraction(src_fps) / 20 + Fraction(1, 2))


def decode_all(source, cfg=CFG):
    """(clips, MediaError or None): every clip yielded before the error, if any."""
    clips = []
    try:
        for clip in iter_clips(source, cfg):
            clips.append(clip)
    except MediaError as e:
        return clips, e
    return clips, None


def picked(clips) -> list[int]:
    return [index_of(f) for clip in clips for f in clip.frames]


def packets(path) -> list[tuple[int, int, int]]:
    """(byte offset, size, pts) of each video packet in decode order."""
    with av.open(str(path)) as c:
        return [(p.pos, p.size, p.pts) for p in c.demux(video=0) if p.size]


def remux_faststart(src, dst) -> None:
    with av.open(str(src)) as inp, av.open(str(dst), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(video=0):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)


# -- resampling rules, on synthetic timestamps -------------------------------------------


@pytest.mark.parametrize("src_fps", [24, 25, 30, Fraction(981, 50)])
def test_resample_one_second_gives_20_targets(src_fps):
    n = round(src_fps)  # about one second of source
    timed = [(Fraction(i) / Fraction(src_fps), i) for i in range(n)]
    out = list(resample(timed, Fraction(20)))
    assert [i for _, i in out] == [nearest(k, src_fps) for k in range(20)]


def test_resample_missing_and_non_increasing_pts():
    ms = Fraction(1, 1000)
    timed = [(0 * ms, "a"), (None, "b"), (100 * ms, "c"), (100 * ms, "dup"), (50 * ms, "back")]
    timed += [(150 * ms, "d")]
    out = list(resample(timed, Fraction(20)))
    # "b" is placed one interval (50 ms) after "a"; "dup" and "back" are dropped.
    assert out == [(0, "a"), (50 * ms, "b"), (100 * ms, "c"), (150 * ms, "d")]


# -- sampling real files -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("src_fps", "suffix"),
    [(24, "mp4"), (25, "mp4"), (30, "mp4"), (Fraction(981, 50), "mp4"), (25, "mkv")],
)
def test_constant_rate_sources_sampled_by_timestamp(tmp_path, src_fps, suffix):
    path = tmp_path / f"v.{suffix}"
    write_video(path, painted(int(4 * src_fps)), fps=src_fps)  # ~4 s -> 2 clips + a tail
    clips, err = decode_all(str(path))
    assert err is None
    assert [c.index for c in clips] == [0, 1]
    assert [(c.start_s, c.end_s) for c in clips] == [(0.0, 1.5), (1.5, 3.0)]
    assert clips[0].frames.shape == (30, 32, 32, 3) and clips[0].frames.dtype == np.uint8
    idx = picked(clips)
    assert idx == [nearest(k, src_fps) for k in range(60)]
    times = np.concatenate([c.source_times for c in clips])
    np.testing.assert_allclose(times, np.array(idx) / float(src_fps), atol=1e-3)


def test_vfr_matroska_selected_by_pts(tmp_path):
    gaps_ms = np.random.default_rng(7).choice([20, 33, 50, 100], size=80)
    t_ms = np.concatenate([[0], np.cumsum(gaps_ms)])
    path = tmp_path / "vfr.mkv"
    write_video(path, painted(len(t_ms)), fps=20, times=(t_ms / 1000).tolist())
    with av.open(str(path)) as c:  # the header's rate says nothing about the real gaps
        assert c.streams.video[0].average_rate == 20 and c.streams.video[0].frames == 0
    clips, err = decode_all(str(path))
    assert err is None
    n_targets = int(np.ceil((t_ms[-1] + gaps_ms[-1] / 2) / 50))  # targets k*50 ms < end
    assert len(clips) == n_targets // 30 >= 2
    # Reference: brute-force nearest frame per target (integer ms, ties to the later one).
    expected = []
    for k in range(30 * len(clips)):
        d = np.abs(t_ms - 50 * k)
        expected.append(int(np.flatnonzero(d == d.min())[-1]))
    assert picked(clips) == expected
    source_ms = np.concatenate([c.source_times for c in clips]) * 1000
    np.testing.assert_allclose(source_ms, t_ms[expected], atol=1e-3)


def test_b_frames_pick_the_same_frames(tmp_path):
    plain, bframes = tmp_path / "plain.mp4", tmp_path / "b.mp4"
    write_video(plain, painted(75), fps=30)
    write_video(bframes, painted(75), fps=30, bframes=2)
    pts = [p[2] for p in packets(bframes)]
    assert pts != sorted(pts)  # packets really are out of presentation order
    assert picked(decode_all(str(bframes))[0]) == picked(decode_all(str(plain))[0])
    assert picked(decode_all(str(bframes))[0]) == [nearest(k, 30) for k in range(30)]


@pytest.mark.parametrize(
    ("rotation", "corner"),
    # A player turns the frame counter-clockwise by the display rotation: the top-left
    # marker lands bottom-left at 90, bottom-right at 180 and top-right at 270.
    [(None, (0, 0)), (90, (1, 0)), (180, (1, 1)), (270, (0, 1))],
)
def test_rotation_applied_like_a_player(tmp_path, rotation, corner):
    img = np.zeros((48, 64, 3), np.uint8)
    img[:24, :32] = (255, 0, 0)  # red top-left quadrant
    path = tmp_path / "r.mp4"
    write_video(path, [img] * 30, fps=20, rotation=rotation)
    frame = next(iter_clips(str(path), CFG)).frames[0]
    red = [[frame[8 + 16 * r, 8 + 16 * c, 0] > 200 for c in (0, 1)] for r in (0, 1)]
    assert red == [[(r, c) == corner for c in (0, 1)] for r in (0, 1)]


@pytest.mark.parametrize("rotation", [None, 90])
def test_resize_keeps_aspect_then_centre_crops(tmp_path, rotation):
    img = np.zeros((48, 128, 3), np.uint8)  # blue | green | red columns
    img[:, :32], img[:, 32:96], img[:, 96:] = (0, 0, 255), (0, 255, 0), (255, 0, 0)
    path = tmp_path / "wide.mp4"
    write_video(path, [img] * 30, fps=20, rotation=rotation)
    frame = next(iter_clips(str(path), CFG)).frames[0].astype(int)
    # The centre crop of the (rotated) frame holds only the green middle band.
    assert frame[..., 1].min() > 200 and frame[..., [0, 2]].max() < 40


def test_matroska_without_frame_count_or_duration(tmp_path):
    class Unseekable(io.RawIOBase):  # a live stream: the muxer cannot go back for Duration
        def __init__(self):
            self.data = bytearray()

        def writable(self):
            return True

        def write(self, b):
            self.data += bytes(b)
            return len(b)

    sink = Unseekable()
    with av.open(sink, "w", format="matroska") as c:
        stream = c.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i, img in enumerate(painted(50)):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            c.mux(stream.encode(frame))
        c.mux(stream.encode(None))
    path = tmp_path / "live.mkv"
    path.write_bytes(bytes(sink.data))
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        assert (s.frames, s.duration, c.duration) == (0, None, None)
    clips, err = decode_all(str(path))
    assert err is None and picked(clips) == [nearest(k, 25) for k in range(30)]


def test_tail_shorter_than_a_clip_is_dropped(tmp_path):
    path = tmp_path / "v.mp4"
    write_video(path, painted(59), fps=20)  # 59 frames at 20 fps: one clip + 29
    clips, err = decode_all(str(path))
    assert err is None
    assert len(clips) == 1 and picked(clips) == list(range(30))


def test_shorter_than_one_clip_is_too_short(tmp_path):
    path = tmp_path / "short.mp4"
    write_video(path, painted(30), fps=25)  # 1.2 s -> 24 frames at 20 fps
    clips, err = decode_all(str(path))
    assert clips == [] and err.status == Status.TOO_SHORT
    assert "24 frames" in err.message


# -- broken and hostile inputs -----------------------------------------------------------


def test_corrupt_packet_midway_keeps_earlier_clips(tmp_path):
    path = tmp_path / "v.mp4"
    write_video(path, painted(120), fps=30)
    pos, size, _ = packets(path)[75]  # frames 0-74 decode, then a packet of pure 0xFF
    data = bytearray(path.read_bytes())
    data[pos : pos + size] = b"\xff" * size
    path.write_bytes(data)
    clips, err = decode_all(str(path))
    assert err.status == Status.TRUNCATED_MEDIA
    assert "Invalid data found" in err.message
    assert len(clips) == 1 and picked(clips) == [nearest(k, 30) for k in range(30)]


@pytest.mark.parametrize("inside_packet", [False, True])
def test_faststart_mp4_cut_mid_mdat_is_truncated(tmp_path, inside_packet):
    src, path = tmp_path / "src.mp4", tmp_path / "fs.mp4"
    write_video(src, painted(100), fps=25)  # 4 s declared
    remux_faststart(src, path)
    data = path.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")
    pos, size, _ = packets(path)[59]
    path.write_bytes(data[: pos + (size // 2 if inside_packet else size)])
    clips, err = decode_all(str(path))
    assert err.status == Status.TRUNCATED_MEDIA
    assert len(clips) == 1 and picked(clips) == [nearest(k, 25) for k in range(30)]
    if not inside_packet:  # decodes silently short: caught by the duration check
        assert "of declared 4.00 s" in err.message


def test_audio_only_has_no_video_stream(tmp_path):
    path = tmp_path / "a.m4a"
    with av.open(str(path), "w") as c:
        stream = c.add_stream("aac", rate=16000)
        for i in range(20):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), "fltp", "mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            c.mux(stream.encode(frame))
        c.mux(stream.encode(None))
    clips, err = decode_all(str(path))
    assert clips == [] and err.status == Status.NO_VIDEO_STREAM
    assert "audio" in err.message


def test_jpeg_renamed_mp4_is_not_a_video(tmp_path):
    path = tmp_path / "photo.mp4"
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(path, format="JPEG")
    clips, err = decode_all(str(path))
    assert clips == [] and err.status == Status.NO_VIDEO_STREAM
    assert "jpeg_pipe" in err.message


@pytest.mark.parametrize(
    "content",
    [
        b"",
        bytes(100),
        np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes(),
        b"this is a text file, not a video\n" * 20,
    ],
    ids=["empty", "zeros", "random", "text"],
)
def test_not_a_media_file_is_corrupt(tmp_path, content):
    path = tmp_path / "v.mp4"
    path.write_bytes(content)
    clips, err = decode_all(str(path))
    assert clips == [] and err.status == Status.CORRUPT_MEDIA
    assert "Invalid data found" in err.message


def test_pixel_cap_rejects_from_header_without_decoding(tmp_path, monkeypatch):
    path = tmp_path / "huge.mkv"
    write_video(path, [np.zeros((4096, 4096, 3), np.uint8)], codec="mpeg4")

    def no_decoding(*args):
        raise AssertionError("decoded a frame of an over-cap video")

    monkeypatch.setattr(frames_mod, "_timed_frames", no_decoding)
    clips, err = decode_all(str(path))
    assert clips == [] and err.status == Status.UNSAFE_MEDIA
    assert "4096x4096" in err.message


def test_wall_clock_cap(tmp_path):
    path = tmp_path / "v.mp4"
    write_video(path, painted(40), fps=20)
    clips, err = decode_all(str(path), FramesConfig(side=32, timeout_s=0))
    assert clips == [] and err.status == Status.DECODE_TIMEOUT


# -- persisted rows and the Beam transform -----------------------------------------------


def test_clip_row_matches_schema_with_middle_frame_thumbnail(tmp_path):
    path = tmp_path / "v.mp4"
    write_video(path, painted(30), fps=20)
    with path.open("rb") as f:  # a binary file-like works as well as a path
        clip = next(iter_clips(f, CFG))
    table = pa.Table.from_pylist([clip_row("vid", clip, CFG)], schema=CLIPS)
    row = table.to_pylist()[0]
    assert (row["clip_index"], row["start_s"], row["end_s"]) == (0, 0.0, 1.5)
    assert row["source_times"] == pytest.approx([i / 20 for i in range(30)])
    thumb = np.asarray(Image.open(io.BytesIO(row["thumbnail"])))
    assert thumb.shape == (16, 16, 3) and index_of(thumb) == 15
    assert thumbnail_jpeg(clip.frames[0], 8)[:2] == b"\xff\xd8"  # a JPEG
