"""Encoding real video files with PyAV (no ffmpeg binary needed).

`write_video` is used by the sample world to render its videos and by the tests to build
edge-case files (variable frame rate, non-integer rates, B-frames, display rotation, Matroska
without durations). Frames are encoded as they arrive, so memory stays flat in video length.
`video_stream` is the one rule, shared by the download check and the frames stage, for which
stream of a container is "the video".
"""

from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from schemas.status import Status, StatusError


def video_stream(container: av.container.InputContainer, error: type[StatusError] = StatusError):
    """The container's first real video stream (not cover art); `error(NO_VIDEO_STREAM, ...)`
    for a still image or a file without one."""
    fmt = container.format.name
    if fmt.startswith("image2") or fmt.endswith("_pipe"):
        raise error(Status.NO_VIDEO_STREAM, f"a still image ({fmt}), not a video")
    attached = av.stream.Disposition.attached_pic
    videos = [s for s in container.streams.video if not s.disposition & attached]
    if not videos:
        kinds = [s.type for s in container.streams] or ["none"]
        raise error(Status.NO_VIDEO_STREAM, f"no video stream (streams: {kinds})")
    return videos[0]


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    *,
    fps: float | Fraction = 25,
    times: Sequence[float] | None = None,
    codec: str = "libx264",
    bframes: int = 0,
    rotation: int | None = None,
    crf: int = 23,
    gop: int = 50,
    preset: str = "veryfast",
) -> int:
    """Encode RGB uint8 frames (H, W, 3) into `path`; the container follows the suffix.

    `times` gives each frame's presentation time in seconds (variable frame rate; stored
    with a 1/1000 time base); otherwise frames are spaced 1/fps apart. `rotation` sets a
    display-matrix rotation in degrees. Returns the number of frames written.
    """
    rate = Fraction(fps).limit_denominator(1001)
    n = 0
    # bitexact: no random Matroska SegmentUID / muxing date, so equal input gives equal bytes.
    with av.open(str(path), mode="w", options={"fflags": "+bitexact"}) as container:
        stream = None
        for frame_rgb in frames:
            if stream is None:
                height, width = frame_rgb.shape[:2]
                stream = container.add_stream(codec, rate=rate)
                stream.width, stream.height = width, height
                stream.pix_fmt = "yuv420p"
                stream.codec_context.gop_size = gop
                if codec == "libx264":
                    stream.options = {
                        "crf": str(crf),
                        "preset": preset,
                        "bf": str(bframes),
                        "threads": "1",
                    }
                if times is not None:
                    stream.codec_context.time_base = Fraction(1, 1000)
                    stream.time_base = Fraction(1, 1000)
                if rotation is not None:
                    stream.set_display_rotation(rotation)
            # Convert to the stream's pixel format here rather than inside the encoder: the
            # implicit conversion gave byte-different files for identical frames in ~3% of runs.
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(frame_rgb), format="rgb24"
            ).reformat(format="yuv420p")
            if times is not None:
                frame.pts = round(times[n] * 1000)
                frame.time_base = Fraction(1, 1000)
            else:
                frame.pts = n
                frame.time_base = 1 / rate
            container.mux(stream.encode(frame))
            n += 1
        if stream is not None:
            container.mux(stream.encode(None))
    return n
