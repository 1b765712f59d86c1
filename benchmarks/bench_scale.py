"""Scale: the corpus stage and model/data.py on synthetic corpora of 100k and 1M segments.

Input: generated TOKENS rows (no decoding; 256 clips per video, no sentences, so 16 video-only
segments per video), made inside the pipeline from video indices. Each size runs in a fresh
child process, whose own peak RSS (VmHWM) is reported:

- corpus stage: BuildCorpus on the FnApiRunner with one SDK worker process
  (multi_processing) → bounded shards. The runner pages large GroupByKey values to the
  worker over the state API (`use_state_iterables`), as Dataflow's shuffle does; by default
  the FnApiRunner would hand each 250k-row shard group to the worker as one decoded list.
  Two peaks: the worker's and the runner's (the launcher-side FnApiRunner, which keeps every
  shuffle in its own memory; Dataflow's shuffle is a service, so this one has no Dataflow
  counterpart);
- one shard write: `_WriteShardFn` alone on one full shard (MAX_SHARD_SEGMENTS rows from a
  generator, as Dataflow's paged iterable gives them): what a worker needs for the largest
  element of the stage, over the process's baseline;
- model/data.py: load_segments over those shards (streamed record batches → flat arrays),
  then PretrainingData building 2,000 examples.

A shard holds at most MAX_SHARD_SEGMENTS rows, so the worker's peak grows until a corpus fills
one shard and is flat after that.

    python -m benchmarks --only scale            # 100k and 1M segments
    python -m benchmarks --only scale --quick    # 20k and 100k
"""

import json
import subprocess
import sys
import tempfile

from benchmarks.common import row
from schemas.layout import MAX_SHARD_SEGMENTS

CLIPS_PER_VIDEO = 256
SEGMENTS_PER_VIDEO = CLIPS_PER_VIDEO // 16

CHILD = r"""
import json, sys, time
import apache_beam as beam
import numpy as np
from apache_beam.options.pipeline_options import PipelineOptions
from benchmarks.common import ChildrenPeakRss, own_peak_rss_mb
workers_mb, base_mb = None, 0.0  # base_mb: peak RSS before the measured work, where it counts

what, out, n_videos = sys.argv[1], sys.argv[2], int(sys.argv[3])
if what == "corpus":
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from stages.corpus.segments import BuildCorpus

    def tokens_row(i):
        rng = np.random.default_rng(i)
        clips = np.arange(256)
        return {"video_id": f"v{i:07d}", "clip_index": clips.tolist(),
                "start_s": (clips * 1.5).tolist(), "end_s": (clips * 1.5 + 1.5).tolist(),
                "tokens": rng.integers(0, 20736, 256).tolist()}

    t = time.perf_counter()
    opts = PipelineOptions(direct_running_mode="multi_processing", direct_num_workers=1)
    runner = FnApiRunner(use_state_iterables=True)
    with ChildrenPeakRss() as workers, beam.Pipeline(runner=runner, options=opts) as p:
        starts = p | beam.Create(range(0, n_videos, 1000))
        ids = starts | beam.FlatMap(lambda s: range(s, min(s + 1000, n_videos)))
        tokens = ids | beam.Reshuffle() | beam.Map(tokens_row)
        videos = ids | "Videos" >> beam.Map(lambda i: {"video_id": f"v{i:07d}", "split": "train"})
        none = p | "NoSentences" >> beam.Create([])
        _ = tokens | BuildCorpus(out, videos, none)
    seconds, workers_mb = time.perf_counter() - t, workers.peak_mb
elif what == "shard":
    from schemas.layout import MAX_SHARD_SEGMENTS
    from stages.corpus.segments import _WriteShardFn

    def rows():
        rng = np.random.default_rng(0)
        for i in range(MAX_SHARD_SEGMENTS):
            yield {"video_id": f"v{i // 16:07d}", "start_s": 1.5 * i, "end_s": 1.5 * i + 24,
                   "text": None, "text_token_ids": None, "sentence_index": None,
                   "first_clip": i, "visual_tokens": rng.integers(0, 20736, 16).tolist(),
                   "segment_index": i % 16, "num_segments": 16, "split": "train"}

    base_mb, t = own_peak_rss_mb(), time.perf_counter()
    list(_WriteShardFn(out).process((0, rows()), n=1))
    seconds = time.perf_counter() - t
else:
    from model.config import VideoBertConfig
    from model.data import PretrainingData, load_segments

    t = time.perf_counter()
    corpus = load_segments(f"{out}/corpus")
    data = PretrainingData(corpus, VideoBertConfig(num_visual_tokens=20736, visual_k=12,
                                                   visual_depth=4))
    load_s = time.perf_counter() - t
    for i in range(2000):
        data.example(0, i)
    seconds = time.perf_counter() - t
    print(json.dumps({"load_s": load_s, "examples_s": seconds - load_s}), file=sys.stderr)
print(json.dumps({"seconds": seconds, "rss_mb": own_peak_rss_mb() - base_mb,
                  "worker_mb": workers_mb}))
from schemas.process import exit_now  # Arrow's pools can abort a normal exit
exit_now(0)
"""


def _child(what: str, out: str, n_videos: int) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, what, out, str(n_videos)], capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"bench_scale {what} child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(quick: bool = False) -> list[str]:
    sizes = (20_000, 100_000) if quick else (100_000, 1_000_000)
    lines = [f"scale: synthetic corpus stage input, {CLIPS_PER_VIDEO} clips per video"]
    with tempfile.TemporaryDirectory() as out:
        shard = _child("shard", out, 0)
    lines.append(
        row(
            f"one full corpus shard ({MAX_SHARD_SEGMENTS:,} rows): write peak RSS over baseline",
            shard["rss_mb"],
            "MB",
            "goal < 1024",
        )
    )
    for segments in sizes:
        n_videos = segments // SEGMENTS_PER_VIDEO
        with tempfile.TemporaryDirectory() as out:
            corpus = _child("corpus", out, n_videos)
            data = _child("data", out, n_videos)
        name = f"{segments:,} segments ({n_videos:,} videos)"
        lines += [
            row(f"{name}: corpus stage", segments / corpus["seconds"], "seg/s"),
            row(
                f"{name}: corpus stage worker peak RSS",
                corpus["worker_mb"],
                "MB",
                "goal < 1024",
            ),
            row(
                f"{name}: corpus stage local runner peak RSS (holds the shuffles)",
                corpus["rss_mb"],
                "MB",
            ),
            row(f"{name}: model.data load + 2k examples", segments / data["seconds"], "seg/s"),
            row(f"{name}: model.data peak RSS", data["rss_mb"], "MB"),
        ]
    return lines
