"""Frame sampling: our 20 fps front end ÷ a bare PyAV loop doing the same conversions.

bare: decode sequentially, keep the frame nearest each 1/20 s target, convert it to RGB at
the target size with one reused VideoReformatter (the fastest plain-PyAV front end).
ours: `stages.video.frames.iter_clips` (the same, plus rotation, clip assembly, checks).
Also: front end ÷ decode only, at 360p and 720p (how much the RGB conversion costs).
"""

from fractions import Fraction
from functools import partial

import av
from av.video.reformatter import VideoReformatter

from benchmarks.common import interleaved, row, textured_video
from stages.video.frames import FramesConfig, iter_clips

SIDE = 224


def _bare(path: str, width: int, height: int) -> int:
    n = 0
    with av.open(path) as c:
        stream = c.streams.video[0]
        stream.codec_context.thread_count = 1
        reformatter = VideoReformatter()
        nxt, half = Fraction(0), Fraction(1, 40)
        scale = SIDE / min(width, height)
        w, h = round(width * scale), round(height * scale)
        for frame in c.decode(stream):
            if frame.pts * frame.time_base + half >= nxt:
                reformatter.reformat(frame, width=w, height=h, format="rgb24").to_ndarray()
                nxt += Fraction(1, 20)
                n += 1
    return n


def _decode_only(path: str) -> int:
    with av.open(path) as c:
        c.streams.video[0].codec_context.thread_count = 1
        return sum(1 for _ in c.decode(video=0))


def _ours(path: str) -> int:
    return sum(1 for _ in iter_clips(path, FramesConfig(side=SIDE)))


def _src_frames(fn, n_src: int, *args) -> int:
    """Run fn; count the source frames it went through (both decode the whole file)."""
    fn(*args)
    return n_src


def main(quick: bool = False) -> list[str]:
    lines = ["frames: source frames/s, best of interleaved runs (single thread)"]
    seconds = 6 if quick else 12
    for width, height in ((640, 360), (1280, 720)):
        path = str(textured_video(width, height, seconds))
        n_src = int(seconds * 30)
        rates = interleaved(
            {
                "decode": partial(_decode_only, path),
                "bare": partial(_src_frames, _bare, n_src, path, width, height),
                "ours": partial(_src_frames, _ours, n_src, path),
            }
        )
        tag = f"{height}p"
        lines += [
            row(f"{tag} decode only", rates["decode"], "src fps"),
            row(f"{tag} bare PyAV 20 fps + RGB {SIDE}", rates["bare"], "src fps"),
            row(f"{tag} iter_clips", rates["ours"], "src fps"),
            row(
                f"{tag} iter_clips ÷ bare", rates["ours"] / rates["bare"], "ratio", "(goal ≥ 0.90)"
            ),
            row(f"{tag} iter_clips ÷ decode only", rates["ours"] / rates["decode"], "ratio"),
        ]
    return lines
