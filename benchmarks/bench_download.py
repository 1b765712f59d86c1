"""Download: `stages.youtube.download` ÷ a plain HTTP copy of the same files, MB/s.

Both fetch ~4 MB generated H.264 files (640×360, 3 s, noisy so they stay big) from the
loopback server in tests/loopback.py, pace 0, into a local directory.
plain: `urllib.request.urlopen` + `shutil.copyfileobj` into a file.
ours: `download()`: yt-dlp's generic extractor (one extra GET), its HTTP downloader into a
temp dir beside `dest/<id>.mp4` (a local dest), the decode check, a rename, clean-up.
ours on info: `download(info=...)` on the probe's info dict, as the pipeline runs it after
discover (the probes are discover's cost, made before timing): no extraction, the media GET.
Thread pools of 1, 2 and 4 (aggregate MB/s, best of interleaved runs), twice: unthrottled
loopback, where the network costs nothing and the ratio measures only our fixed cost per file
(the worst case), and a link of LINK_RATE per connection, closer to what a real download sees.
"""

import shutil
import tempfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np

from benchmarks.common import CACHE, interleaved, row
from schemas.process import run_cli
from stages.acquire.polite import Pacer
from stages.acquire.youtube import AcquireConfig, download, probe
from stages.video.media import write_video
from tests.loopback import Loopback

CFG = AcquireConfig(min_interval_s=0.0, request_sleep_s=0.0, allow_private_hosts=True)
WIDTH, HEIGHT, SECONDS, FPS = 640, 360, 3, 30
LINK_RATE = 20e6  # bytes/s per connection: a fast real link (YouTube serves a few MB/s)


def noisy_video(index: int) -> Path:
    """A cached ~4 MB H.264 mp4: a gradient with strong per-frame noise (seeded by index)."""
    path = CACHE / f"dl-{WIDTH}x{HEIGHT}-{SECONDS}s-{index}.mp4"
    if path.exists():
        return path
    CACHE.mkdir(exist_ok=True)
    rng = np.random.default_rng(index)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = np.stack(
        [xx * 255 // WIDTH, yy * 255 // HEIGHT, ((xx // 40 + yy // 40) % 2) * 160], -1
    ).astype(np.uint8)
    frames = (
        base // 2 + rng.integers(0, 80, (HEIGHT, WIDTH, 3), dtype=np.uint8)
        for _ in range(SECONDS * FPS)
    )
    tmp = path.with_suffix(".tmp.mp4")
    write_video(tmp, frames, fps=FPS)
    tmp.rename(path)
    return path


def _plain(url: str, dest: Path) -> int:
    with urllib.request.urlopen(url) as response, open(dest, "wb") as f:
        shutil.copyfileobj(response, f, 1024 * 1024)
    return dest.stat().st_size


def _ours(url: str, dest: Path, infos: dict[str, dict] | None = None) -> int:
    info = None if infos is None else infos[url]
    _, size = download(url, dest.stem, str(dest.parent), CFG, info=info, pacer=Pacer(0))
    return size


def _fetch_all(fetch, urls: list[str], out: Path, workers: int) -> int:
    """Fetch every URL with `workers` threads; returns the bytes fetched (then deletes them)."""
    out.mkdir(exist_ok=True)
    with ThreadPoolExecutor(workers) as pool:
        total = sum(pool.map(lambda i: fetch(urls[i], out / f"v{i}.mp4"), range(len(urls))))
    shutil.rmtree(out)
    return total


def main(quick: bool = False) -> list[str]:
    n_videos = 4 if quick else 8
    repeats = 2 if quick else 3
    files = {f"/v{i}.mp4": noisy_video(i).read_bytes() for i in range(n_videos)}
    mb = sum(map(len, files.values())) / 1e6
    lines = [f"download: MB/s over {n_videos} files, {mb:.1f} MB in all (loopback, pace 0)"]
    verdicts = []
    for link in (None, LINK_RATE):
        name = "unthrottled" if link is None else f"{link / 1e6:g} MB/s per connection"
        met, missed = [], []
        with Loopback(files, rate=link) as base, tempfile.TemporaryDirectory() as tmp:
            urls = [base + path for path in files]
            infos = {url: probe(url, CFG, pacer=Pacer(0))[1] for url in urls}
            on_info = partial(_ours, infos=infos)
            for workers in (1, 2, 4):
                rates = interleaved(
                    {
                        "plain": partial(_fetch_all, _plain, urls, Path(tmp, "plain"), workers),
                        "ours": partial(_fetch_all, _ours, urls, Path(tmp, "ours"), workers),
                        "info": partial(_fetch_all, on_info, urls, Path(tmp, "info"), workers),
                    },
                    repeats,
                )
                ratio, ratio_info = rates["ours"] / rates["plain"], rates["info"] / rates["plain"]
                (met if ratio_info >= 0.8 else missed).append(workers)
                tag = f"{name}, {workers} thread(s):"
                lines += [
                    row(f"{tag} plain urllib copy", rates["plain"] / 1e6, "MB/s"),
                    row(f"{tag} download()", rates["ours"] / 1e6, "MB/s"),
                    row(f"{tag} download() ÷ plain", ratio, "ratio"),
                    row(f"{tag} download(info) ÷ plain", ratio_info, "ratio", "(goal ≥ 0.8)"),
                ]
                if link is None and workers == 1:
                    for key, what in (("ours", "download()"), ("info", "download(info)")):
                        cost = (1 / rates[key] - 1 / rates["plain"]) * mb * 1e6 / n_videos
                        lines.append(row(f"fixed cost of {what} per file", cost * 1e3, "ms"))
        verdicts.append(
            f"  {name}: goal ≥ 0.8 met with {met or 'no'} thread(s), not with {missed or 'none'}"
        )
    return lines + verdicts


if __name__ == "__main__":
    run_cli(lambda: print("\n".join(main())))
