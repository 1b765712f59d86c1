"""Shared helpers for the benchmarks: generated test videos and side-by-side timing."""

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from stages.video.media import write_video

CACHE = Path(".bench-cache")


def textured_video(
    width: int, height: int, seconds: float, fps: int = 30, crf: int = 23, preset: str = "veryfast"
) -> Path:
    """A cached H.264 mp4 with camera-like content: a textured background panning slowly,
    a moving object and sensor noise (so the bitrate is realistic, ~0.7-2 Mb/s at 360p)."""
    path = CACHE / f"tex-{width}x{height}-{seconds:g}s-{fps}fps-crf{crf}.mp4"
    if path.exists():
        return path
    CACHE.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack(
        [(xx * 255 // width), (yy * 255 // height), ((xx // 40 + yy // 40) % 2) * 160], -1
    ).astype(np.uint8)
    texture = base // 2 + rng.integers(0, 60, (height, width, 3), dtype=np.uint8)
    side = height // 4

    def frames():
        for i in range(int(seconds * fps)):
            img = np.roll(texture, i // 2, axis=1)
            x = (7 * i) % (width - side)
            img[height // 3 : height // 3 + side, x : x + side] = (250, 240, 40)
            yield img

    tmp = path.with_suffix(".tmp.mp4")
    write_video(tmp, frames(), fps=fps, crf=crf, preset=preset)
    tmp.rename(path)
    return path


def best_rate(fn: Callable[[], int], repeats: int = 3) -> float:
    """Items per second of `fn` (which returns how many items it processed): best of N."""
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        n = fn()
        rates.append(n / (time.perf_counter() - t))
    return max(rates)


def interleaved(fns: dict[str, Callable[[], int]], repeats: int = 3) -> dict[str, float]:
    """Best items/s of each function, runs interleaved so machine noise hits all alike."""
    best = dict.fromkeys(fns, 0.0)
    for _ in range(repeats):
        for name, fn in fns.items():
            best[name] = max(best[name], best_rate(fn, 1))
    return best


def row(name: str, value: float, unit: str, goal: str = "") -> str:
    return f"  {name:<58} {value:>10.3f} {unit:<8} {goal}"


def own_peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM). `ru_maxrss` would carry a parent's larger peak
    over fork + exec, so a child of a big benchmark run would report its parent's."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


class ChildrenPeakRss:
    """Peak RSS (VmHWM) of each process descended from this one, sampled every `every` s in a
    thread while the block runs: the SDK worker processes of a multi_processing FnApiRunner.
    `peak_mb` is the largest one's."""

    def __init__(self, every: float = 0.2):
        self._every, self._peaks, self._stop = every, {}, None

    def _children(self, pid: int) -> list[int]:
        out = []
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    out += [int(c) for c in f.read().split()]
            except OSError:
                continue
        return out

    def _sample(self) -> None:
        todo = self._children(os.getpid())
        while todo:
            pid = todo.pop()
            try:
                with open(f"/proc/{pid}/status") as f:
                    hwm = next(int(x.split()[1]) for x in f if x.startswith("VmHWM:"))
                todo += self._children(pid)
            except (OSError, StopIteration):
                continue
            self._peaks[pid] = max(self._peaks.get(pid, 0), hwm / 1024)

    def __enter__(self):
        self._stop = threading.Event()

        def loop():
            while not self._stop.wait(self._every):
                self._sample()

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return max(self._peaks.values(), default=0.0)
