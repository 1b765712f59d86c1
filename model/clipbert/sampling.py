"""Sparse and dense clip sampling straight from video files (PyAV, by seeking).

A *clip* is `frames` frames evenly spread over `clip_s` seconds (ClipBERT's 1-2 frames per
clip); a *sample* of a time span [start, end) of a video is `clips` such clips:

    sparse (training)   the span cut into `clips` equal bins, one clip at a random position
                        inside each bin (ClipBERT's random sparse sampling: a new draw each step)
    dense  (inference)  one clip centred in each bin: uniform, deterministic

`decode_clips` seeks to each clip (keyframe before it, then decodes forward to the frame nearest
each target time), or keeps decoding when the next target is less than `seek_ahead_s` away:
only the frames it returns are converted to RGB, and never a whole video sits in memory. Frames
are resized (short side = `side`), centre-cropped to side x side and turned upright by the
display matrix. Times are seconds from the stream's start (as the corpus's clip times are).

Failures raise `SampleError` (a `schemas.status.StatusError`) with the corpus DAG's reasons:
UNAVAILABLE (no file), CORRUPT_MEDIA (not decodable, or no frame at a target), NO_VIDEO_STREAM,
UNSAFE_MEDIA (declared size above `max_pixels`, checked from the header), DECODE_TIMEOUT.
"""

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.error import FFmpegError
from av.video.reformatter import VideoReformatter

from schemas.status import Status, StatusError


class SampleError(StatusError):
    """A video (or span) no clip could be sampled from; `status` says why."""


@dataclass(frozen=True)
class SamplingConfig:
    clips: int = 1
    """Clips per example (ClipBERT: 1-4 for training, 16 dense for inference)."""
    frames: int = 1
    """Frames per clip (T; mean-pooled by the model)."""
    clip_s: float = 1.0
    """Length of one clip: its `frames` frames sit at the centres of `frames` equal parts."""
    side: int = 96
    """Frames are resized to short side `side`, then centre-cropped to side x side."""
    seek_ahead_s: float = 2.0
    """Decode forward instead of seeking when the next frame is at most this far ahead."""
    max_pixels: int = 3840 * 2160
    """Declared width x height above this → UNSAFE_MEDIA (before any decoding)."""
    timeout_s: float = 60.0
    """Wall-clock cap on decoding one example → DECODE_TIMEOUT."""


def clip_starts(
    start: float, end: float, n: int, clip_s: float, rng: np.random.Generator | None
) -> np.ndarray:
    """(n,) clip start times in [start, end - clip_s]: one per equal bin of the span, at a random
    position inside it (`rng`, sparse training) or centred (`rng=None`, dense inference). A span
    shorter than a clip gives clips starting at `start`."""
    width = (end - start) / n
    lo = start + width * np.arange(n)
    room = max(0.0, width - clip_s)  # where a clip can start inside its bin
    offset = rng.uniform(0.0, room, n) if rng is not None else np.full(n, room / 2)
    starts = lo + offset
    if width < clip_s:  # clips overlap their bins: centre each on its bin, inside the span
        centre = lo + width / 2 if rng is None else lo + rng.uniform(0.0, width, n)
        starts = np.clip(centre - clip_s / 2, start, max(start, end - clip_s))
    return starts


def frame_times(starts: np.ndarray, frames: int, clip_s: float) -> np.ndarray:
    """(n_clips, frames) target times: the centres of `frames` equal parts of each clip."""
    return starts[:, None] + (np.arange(frames) + 0.5) * clip_s / frames


def sample_times(
    start: float, end: float, cfg: SamplingConfig, rng: np.random.Generator | None
) -> np.ndarray:
    """(clips, frames) target times of one example (sparse with `rng`, dense without)."""
    return frame_times(clip_starts(start, end, cfg.clips, cfg.clip_s, rng), cfg.frames, cfg.clip_s)


def _open(path: str | Path, cfg: SamplingConfig):
    try:
        container = av.open(str(path), mode="r")
    except FileNotFoundError as e:
        raise SampleError(Status.UNAVAILABLE, f"no such file: {path}") from e
    except (FFmpegError, OSError) as e:
        raise SampleError(Status.CORRUPT_MEDIA, str(e)) from e
    fmt = container.format.name
    attached = av.stream.Disposition.attached_pic
    videos = [s for s in container.streams.video if not s.disposition & attached]
    if fmt.startswith("image2") or fmt.endswith("_pipe") or not videos:
        container.close()
        raise SampleError(Status.NO_VIDEO_STREAM, f"{path}: no video stream ({fmt})")
    stream = videos[0]
    ctx = stream.codec_context
    if ctx is None or ctx.width * ctx.height > cfg.max_pixels:
        container.close()
        size = f"{ctx.width}x{ctx.height}" if ctx is not None else "no codec context"
        raise SampleError(Status.UNSAFE_MEDIA, f"{path}: declared {size} > {cfg.max_pixels}")
    ctx.thread_count = 1  # one single-threaded decoder per DataLoader worker
    ctx.options = {"max_pixels": str(cfg.max_pixels)}
    return container, stream


def probe(path: str | Path, cfg: SamplingConfig = SamplingConfig()) -> float:
    """The video's declared duration in seconds (0 when unknown); raises SampleError for a
    file that cannot be a video (the header alone: cheap enough to check every file up front)."""
    container, stream = _open(path, cfg)
    with container:
        if stream.duration:
            return float(stream.duration * stream.time_base)
        return container.duration / av.time_base if container.duration else 0.0


def _to_rgb(frame, reformatter: VideoReformatter, side: int) -> np.ndarray:
    """(side, side, 3) uint8: short side resized to `side`, centre crop, made upright."""
    scale = side / min(frame.width, frame.height)
    w, h = max(side, round(frame.width * scale)), max(side, round(frame.height * scale))
    rgb = reformatter.reformat(frame, width=w, height=h, format="rgb24").to_ndarray()
    y, x = (h - side) // 2, (w - side) // 2
    return np.rot90(rgb[y : y + side, x : x + side], round(frame.rotation / 90) % 4)


class _Reader:
    """Nearest-frame lookup at increasing target times, seeking only for long jumps."""

    def __init__(self, container, stream, cfg: SamplingConfig, deadline: float):
        self.container, self.stream, self.cfg, self.deadline = container, stream, cfg, deadline
        self.tb = stream.time_base
        self.t0 = float(stream.start_time * self.tb) if stream.start_time is not None else 0.0
        self.frames: Iterator | None = None
        self.prev = self.cur = None  # (time, frame) around the last target

    def _decoded(self) -> Iterator[tuple[float, object]]:
        for frame in self.container.decode(self.stream):
            if time.monotonic() > self.deadline:
                raise SampleError(Status.DECODE_TIMEOUT, f"over {self.cfg.timeout_s:g} s")
            if frame.pts is not None:
                yield float(frame.pts * (frame.time_base or self.tb)) - self.t0, frame

    def _seek(self, t: float) -> None:
        target = int(Fraction(max(0.0, t + self.t0)).limit_denominator(10**6) / self.tb)
        self.container.seek(target, stream=self.stream, backward=True, any_frame=False)
        self.frames, self.prev, self.cur = self._decoded(), None, None

    def at(self, t: float):
        """The decoded frame nearest to time t (the last one when the stream ends first)."""
        earliest = self.prev[0] if self.prev else -math.inf  # the frames still at hand
        if (
            self.frames is None
            or t < earliest - 1e-6
            or (self.cur is not None and t - self.cur[0] > self.cfg.seek_ahead_s)
        ):
            self._seek(t)
        while self.cur is None or self.cur[0] < t:
            nxt = next(self.frames, None)
            if nxt is None:
                break
            self.prev, self.cur = self.cur, nxt
        if self.cur is None:
            raise SampleError(Status.CORRUPT_MEDIA, f"no frame decoded at or before {t:.2f} s")
        if self.prev is not None and t - self.prev[0] < self.cur[0] - t:
            return self.prev[1]
        return self.cur[1]


def decode_frames(path: str | Path, times: np.ndarray, cfg: SamplingConfig) -> np.ndarray:
    """uint8 frames of shape times.shape + (side, side, 3): the frame nearest each target time
    (seconds from the stream's start), decoded by seeking; see the module docstring."""
    deadline = time.monotonic() + cfg.timeout_s
    flat = np.asarray(times, dtype=np.float64).ravel()
    out = np.empty((len(flat), cfg.side, cfg.side, 3), np.uint8)
    container, stream = _open(path, cfg)
    reformatter = VideoReformatter()
    with container:
        reader = _Reader(container, stream, cfg, deadline)
        try:
            for i in np.argsort(flat, kind="stable"):
                out[i] = _to_rgb(reader.at(float(flat[i])), reformatter, cfg.side)
        except FFmpegError as e:
            raise SampleError(Status.CORRUPT_MEDIA, f"{path}: {e}") from e
    return out.reshape(*np.shape(times), cfg.side, cfg.side, 3)
