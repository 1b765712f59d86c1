"""Frames stage: a video file → 1.5 s clips of 30 frames at 20 fps, 224×224 RGB.

Input: a video file (path, URI or file object). Output: a stream of `Clip`s, each of
which becomes a `schemas.CLIPS` row (times + a thumbnail) on disk.

These functions (`open_clips`, `iter_clips`, `clip_row`) are a library that the features
step calls in the same worker (`stages.video.features.ExtractS3DFeatures`, which also runs the
frames-only stage), so decoded frames never cross a shuffle.

Sampling rules (paper: 20 fps, 30-frame non-overlapping clips):
- Resampling is by timestamp (``pts * time_base``, exact rationals), never by frame index
  or ``average_rate``: target k is at ``t0 + k / fps`` (t0 = the first decoded frame's time)
  and takes the source frame nearest in time. A frame covers from halfway after the
  previous frame up to (excluding) halfway to the next, so a tie goes to the later frame;
  the last frame covers half of the last frame interval after its pts (a lone frame
  covers one target). Sources below `fps` repeat frames; above it, frames are skipped
  without being converted.
- A frame without pts is placed one frame interval after the previous frame; a frame
  whose time does not increase (duplicate or out-of-order pts) is dropped.
- Frames are resized (short side = ``side``, aspect kept), centre-cropped to
  ``side × side`` and rotated upright by the display matrix's rotation (the frame is
  shown rotated counter-clockwise by ``frame.rotation``, as ffmpeg/players do; mirroring
  in the matrix is ignored).
- A tail shorter than one clip is dropped: the paper's clips are full 1.5 s.

Failures raise `MediaError` with a `Status` and FFmpeg's own text:
- not a media file (garbage, zero bytes, text) → CORRUPT_MEDIA; a still image (a JPEG
  renamed .mp4 opens as ``jpeg_pipe``) or an audio-only file → NO_VIDEO_STREAM;
- declared width × height above ``max_pixels`` → UNSAFE_MEDIA, from the header, before
  decoding (the decoder also gets ``max_pixels`` in case the size changes mid-stream);
- decoding fails part-way, or decodes silently short (< 90% of the declared duration, e.g.
  a faststart mp4 cut mid-mdat) → the clips before are yielded, then TRUNCATED_MEDIA;
  CORRUPT_MEDIA instead when not one clip came out;
- fewer sampled frames than one clip → TOO_SHORT; over ``timeout_s`` wall-clock
  (checked per decoded frame) → DECODE_TIMEOUT.
"""

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from io import BytesIO
from typing import Any, BinaryIO

import av
import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from av.error import FFmpegError
from av.video.reformatter import VideoReformatter
from PIL import Image, ImageOps

from schemas.layout import is_local
from schemas.status import Status, StatusError
from stages.video.media import video_stream

STAGE = "frames"
UNCOMPRESSED = CompressionTypes.UNCOMPRESSED  # never guess compression from the file name
MIN_COVERAGE = 0.9  # decoded / declared duration below this → TRUNCATED_MEDIA

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FramesConfig:
    fps: float = 20.0  # paper: 20 fps
    clip_frames: int = 30  # paper: 30 frames = 1.5 s, non-overlapping
    side: int = 224  # resize short side to `side`, then centre-crop side x side
    thumb_side: int = 96  # JPEG thumbnail of each clip's middle frame
    max_pixels: int = 3840 * 2160  # declared width*height above this → UNSAFE_MEDIA
    timeout_s: float = 900.0  # wall-clock cap on decoding one video → DECODE_TIMEOUT


@dataclass
class Clip:
    index: int
    start_s: float  # index * clip_frames / fps, relative to the first frame
    end_s: float
    frames: np.ndarray  # (clip_frames, side, side, 3) uint8 RGB, upright
    source_times: np.ndarray  # (clip_frames,) float32, source times (s) of the frames used


class MediaError(StatusError):
    """A video that cannot (fully) yield clips; `status` says why, `message` is the detail."""


def _video_stream(container: av.container.InputContainer, cfg: FramesConfig):
    """The stream to decode, validated from the header alone."""
    stream = video_stream(container, MediaError)
    ctx = stream.codec_context
    if ctx.width * ctx.height > cfg.max_pixels:
        raise MediaError(
            Status.UNSAFE_MEDIA,
            f"declared {ctx.width}x{ctx.height} > max_pixels {cfg.max_pixels}",
        )
    ctx.thread_count = 1  # one single-threaded decoder per core scales better
    ctx.options = {"max_pixels": str(cfg.max_pixels)}
    return stream


def _declared_seconds(container, stream) -> float | None:
    if stream.duration:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _timed_frames(container, stream, deadline: float, cfg: FramesConfig) -> Iterator[tuple]:
    """(pts in seconds or None, frame) in presentation order; enforces the deadline."""
    for frame in container.decode(stream):
        if time.monotonic() >= deadline:
            raise MediaError(Status.DECODE_TIMEOUT, f"decoding took over {cfg.timeout_s:g} s")
        tb = frame.time_base or stream.time_base
        yield (None if frame.pts is None else frame.pts * tb), frame


def resample(timed: Iterable[tuple[Fraction | None, Any]], fps: Fraction) -> Iterator[tuple]:
    """Yield ``(time since the first item, item)`` once per target ``k / fps``.

    `timed` is ``(time, item)`` in presentation order; see the module docstring for rules.
    """
    step = 1 / fps
    t0 = prev_t = prev = target = gap = None
    for t, item in timed:
        if t is None:  # missing pts: one frame interval after the previous frame
            t = Fraction(0) if prev_t is None else prev_t + (gap or step)
        if prev_t is None:
            t0 = target = prev_t = t
            prev = item
            continue
        if t <= prev_t:  # duplicate / out-of-order pts: keep the earlier frame
            continue
        mid = (prev_t + t) / 2
        while target < mid:
            yield prev_t - t0, prev
            target += step
        gap, prev_t, prev = t - prev_t, t, item
    if prev_t is None:
        return
    if gap is None:  # a lone frame covers one target
        yield Fraction(0), prev
        return
    while target < prev_t + gap / 2:
        yield prev_t - t0, prev
        target += step


def _to_rgb(frame, reformatter: VideoReformatter, side: int) -> np.ndarray:
    """(side, side, 3) uint8: short side resized to `side`, centre crop, made upright."""
    scale = side / min(frame.width, frame.height)
    w, h = max(side, round(frame.width * scale)), max(side, round(frame.height * scale))
    rgb = reformatter.reformat(frame, width=w, height=h, format="rgb24").to_ndarray()
    y, x = (h - side) // 2, (w - side) // 2
    return np.rot90(rgb[y : y + side, x : x + side], round(frame.rotation / 90) % 4)


def iter_clips(source: str | BinaryIO, cfg: FramesConfig) -> Iterator[Clip]:
    """Decode `source` (a path or binary file-like) and stream its full clips."""
    deadline = time.monotonic() + cfg.timeout_s
    try:
        container = av.open(source, mode="r")
    except FFmpegError as e:
        gone = isinstance(e, FileNotFoundError)
        raise MediaError(Status.UNAVAILABLE if gone else Status.CORRUPT_MEDIA, str(e)) from e
    with container:
        stream = _video_stream(container, cfg)
        n, fps = cfg.clip_frames, Fraction(cfg.fps)
        reformatter = VideoReformatter()
        frames = np.empty((n, cfg.side, cfg.side, 3), np.uint8)
        times = np.empty(n, np.float32)
        sampled = clips = 0
        last = rgb = None
        try:
            for t, frame in resample(_timed_frames(container, stream, deadline, cfg), fps):
                if frame is not last:  # a source frame picked twice is converted once
                    rgb, last = _to_rgb(frame, reformatter, cfg.side), frame
                frames[sampled % n], times[sampled % n] = rgb, t
                sampled += 1
                if sampled % n == 0:
                    start = clips * n / cfg.fps
                    yield Clip(clips, start, start + n / cfg.fps, frames, times)
                    clips += 1
                    frames, times = np.empty_like(frames), np.empty_like(times)
        except FFmpegError as e:
            status = Status.TRUNCATED_MEDIA if clips else Status.CORRUPT_MEDIA
            raise MediaError(status, f"decoding failed after {clips} clips: {e}") from e
        if sampled == 0:
            raise MediaError(Status.CORRUPT_MEDIA, "no frame decoded")
        declared, decoded = _declared_seconds(container, stream), sampled / cfg.fps
        if declared and decoded < MIN_COVERAGE * declared:
            status = Status.TRUNCATED_MEDIA if clips else Status.CORRUPT_MEDIA
            raise MediaError(status, f"decoded {decoded:.2f} s of declared {declared:.2f} s")
        if clips == 0:
            raise MediaError(
                Status.TOO_SHORT, f"{sampled} frames at {cfg.fps:g} fps < one clip of {n}"
            )


def thumbnail_jpeg(frame: np.ndarray, side: int) -> bytes:
    """A side × side JPEG (centre crop) of one (H, W, 3) uint8 RGB frame."""
    image = ImageOps.fit(Image.fromarray(frame), (side, side), Image.Resampling.BILINEAR)
    buf = BytesIO()
    image.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def clip_row(video_id: str, clip: Clip, cfg: FramesConfig) -> dict:
    """A `schemas.CLIPS` row: the clip's times and a thumbnail of its middle frame."""
    return {
        "video_id": video_id,
        "clip_index": clip.index,
        "start_s": clip.start_s,
        "end_s": clip.end_s,
        "source_times": clip.source_times.tolist(),
        "thumbnail": thumbnail_jpeg(clip.frames[len(clip.frames) // 2], cfg.thumb_side),
    }


def open_clips(uri: str, cfg: FramesConfig) -> Iterator[Clip]:
    """`iter_clips` over a file named by `uri` (local path, or any Beam FileSystems URI).

    Local paths go to PyAV as paths (native I/O); other schemes as Beam file objects,
    opened UNCOMPRESSED (never guessing compression from the name). A missing file raises
    MediaError(UNAVAILABLE).
    """
    if not FileSystems.exists(uri):
        raise MediaError(Status.UNAVAILABLE, f"no such file: {uri}")
    if is_local(uri):
        yield from iter_clips(uri, cfg)
        return
    with FileSystems.open(uri, compression_type=UNCOMPRESSED) as f:
        yield from iter_clips(f, cfg)
