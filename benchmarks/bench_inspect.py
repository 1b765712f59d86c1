"""`make inspect` / `--report` on synthetic corpora of growing size: wall time and peak memory.

A synthetic OUT has the real schemas and layout: per-video features (1024-d), clips with a real
JPEG thumbnail, tokens, sentences and status tables, a paper-sized tree (k=12, depth=4: 20,736
leaves, ~90 MB of centroids) and the segments table. Each size is inspected in a fresh process
(peak RSS: the process's own VmHWM), so the numbers are the CLI's own. The atlas
samples `--max_videos` videos whatever the corpus size: its memory should not grow with it.

    python -m benchmarks.bench_inspect            # 100 and 1,000 videos x 100 clips
    python -m benchmarks.bench_inspect --quick    # 50 and 200 videos x 40 clips
"""

import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from schemas import CLIPS, FEATURES, SEGMENTS, SENTENCES, STATUS, TOKENS, VIDEOS, layout
from schemas.process import run_cli
from stages.video.kmeans import CentroidTree

K, DEPTH, DIM = 12, 4, 1024


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(
        buf, "JPEG"
    )
    return buf.getvalue()


def _tree(rng) -> pa.Table:
    cents = tuple(rng.standard_normal((K**lv, DIM), np.float32) for lv in range(1, DEPTH + 1))
    counts = tuple(np.ones(K**lv, np.int64) for lv in range(1, DEPTH + 1))
    return CentroidTree(K, cents, counts).to_table()


def write_corpus(out: Path, videos: int, clips: int, seed: int = 0) -> None:
    rng, jpeg = np.random.default_rng(seed), _jpeg()
    ids = [f"v{i:06d}" for i in range(videos)]
    for stage in ("frames", "features", "tokens", "sentences"):
        (out / stage / "data").mkdir(parents=True)
    (out / "discover").mkdir()
    (out / "kmeans").mkdir()
    (out / "corpus").mkdir()
    records = [{"video_id": v, "source": "local", "duration_s": clips * 1.5} for v in ids]
    (out / "discover/videos").mkdir()
    pq.write_table(pa.Table.from_pylist(records, schema=VIDEOS), layout.videos_path(str(out), 0))
    pq.write_table(_tree(rng), out / "kmeans/centroids.parquet")
    segments = []
    for v in ids:
        idx = np.arange(clips, dtype=np.int32)
        start, end = idx * 1.5, idx * 1.5 + 1.5
        tokens = rng.integers(0, K**DEPTH, clips).astype(np.int32)
        flat = pa.array(rng.standard_normal(clips * DIM).astype(np.float32))
        cols = {"video_id": [v] * clips, "clip_index": idx, "start_s": start, "end_s": end}
        pq.write_table(pa.table({**cols, "source_times": [[0.0]] * clips,
                                 "thumbnail": [jpeg] * clips}, schema=CLIPS),
                       out / f"frames/data/{v}.parquet")  # fmt: skip
        feature = pa.FixedSizeListArray.from_arrays(flat, DIM)
        pq.write_table(pa.table({**cols, "feature": feature}, schema=FEATURES),
                       out / f"features/data/{v}.parquet")  # fmt: skip
        row = {"video_id": v, "clip_index": idx.tolist(), "start_s": start.tolist(),
               "end_s": end.tolist(), "tokens": tokens.tolist()}  # fmt: skip
        pq.write_table(pa.Table.from_pylist([row], schema=TOKENS), out / f"tokens/data/{v}.parquet")
        sentences = [{"video_id": v, "sentence_index": i, "start_s": 3.0 * i, "end_s": 3.0 * i + 2,
                      "text": "now cut the onion", "text_token_ids": [2085, 3013, 1996, 20949],
                      "splitter": "pause"} for i in range(clips // 2)]  # fmt: skip
        pq.write_table(pa.Table.from_pylist(sentences, schema=SENTENCES),
                       out / f"sentences/data/{v}.parquet")  # fmt: skip
        for i, s in enumerate(sentences):
            segments.append({**{k: s[k] for k in ("video_id", "start_s", "end_s", "text",
                             "text_token_ids", "sentence_index")}, "segment_index": i,
                             "num_segments": len(sentences), "first_clip": 2 * i,
                             "visual_tokens": tokens[2 * i : 2 * i + 2].tolist()})  # fmt: skip
    pq.write_table(
        pa.Table.from_pylist(segments, schema=SEGMENTS), layout.corpus_path(str(out), 0, 1)
    )
    for stage in ("discover", "frames", "features", "tokens", "sentences", "corpus"):
        rows = [{"video_id": v, "stage": stage, "status": "ok" if i % 50 else "corrupt_media",
                 "error_message": None if i % 50 else "Invalid data", "items": clips,
                 "seconds": 1.0} for i, v in enumerate(ids)]  # fmt: skip
        (out / stage / "status").mkdir(exist_ok=True)
        table = pa.Table.from_pylist(rows, schema=STATUS)
        pq.write_table(table, layout.status_path(str(out), stage, 0))


def _inspect(out: Path, report: bool) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of `python -m pipelines.inspect` in a fresh process."""
    code = (  # own_peak_rss_mb's rule, inline: importing benchmarks.common would add to the peak
        "import re, sys; from pipelines.inspect import main; main(sys.argv[1:]); "
        "status = open('/proc/self/status').read(); "
        "print(int(re.search(r'VmHWM:\\s+(\\d+)', status)[1]) / 1024, file=sys.stderr); "
        "from schemas.process import exit_now; exit_now(0)"  # Arrow's pools can abort an exit
    )
    args = [f"--out={out}", *(["--report"] if report else [])]
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"inspect failed ({done.returncode}): {done.stderr[-2000:]}")
    return time.perf_counter() - t0, float(done.stderr.strip().splitlines()[-1])


def main(quick: bool = False) -> list[str]:
    sizes = [(50, 40), (200, 40)] if quick else [(100, 100), (1000, 100)]
    lines = ["inspect (fresh process per run; atlas --max_videos=200)",
             f"  {'videos':>7} {'clips':>8} {'write s':>8} {'summary s':>10} {'MB':>6} "
             f"{'report s':>9} {'MB':>6}"]  # fmt: skip
    for videos, clips in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "out"
            t0 = time.perf_counter()
            write_corpus(out, videos, clips)
            written = time.perf_counter() - t0
            (s_wall, s_mb), (r_wall, r_mb) = _inspect(out, False), _inspect(out, True)
        lines.append(f"  {videos:>7} {videos * clips:>8} {written:>8.1f} {s_wall:>10.1f} "
                     f"{s_mb:>6.0f} {r_wall:>9.1f} {r_mb:>6.0f}")  # fmt: skip
    return lines


if __name__ == "__main__":
    run_cli(lambda: print("\n".join(main(quick="--quick" in sys.argv))))
