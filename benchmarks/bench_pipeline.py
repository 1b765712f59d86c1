"""Beam end to end ÷ the same stage functions called in plain Python, on the sample world.

Both redo frames+features, k-means, tokens and the corpus for the same rendered videos
(the sample world is rendered once, untimed); Beam runs on the in-process FnApiRunner.
"""

import logging
import tempfile
import time

import numpy as np
import pyarrow as pa

from benchmarks.common import row
from pipelines.corpus import run
from pipelines.options import CorpusOptions, configs, resolve
from schemas import SEGMENTS, TOKENS, VIDEOS, layout
from stages.corpus.segments import video_segments
from stages.store.files import read_parts, write_table
from stages.store.stage import StageStore
from stages.video import kmeans as km
from stages.video.features import ExtractFeaturesFn
from stages.video.tokens import tokens_row


def _plain(o: CorpusOptions) -> None:
    """The corpus DAG's work as a plain loop over the same stage functions."""
    cfg = configs(o)
    frames_cfg, features_cfg, kmeans_cfg = cfg.frames, cfg.features, cfg.kmeans
    videos = read_parts(layout.videos_glob(o.out), VIDEOS).to_pylist()
    fn = ExtractFeaturesFn(o.out, frames_cfg, features_cfg)
    fn.setup()
    for video in videos:
        list(fn.process(video))
    features = StageStore(o.out, "features")
    tables = {v["video_id"]: features.read_data(v["video_id"]) for v in videos}
    x = np.concatenate(
        [
            t.column("feature").combine_chunks().flatten().to_numpy().reshape(t.num_rows, -1)
            for t in tables.values()
        ]
    )
    tree = km.fit_tree(x[: kmeans_cfg.sample_size], kmeans_cfg)
    tokens_store, segments = StageStore(o.out, "tokens"), []
    for video in videos:
        tok = tokens_row(tables[video["video_id"]], tree)
        tokens_store.write_data(
            video["video_id"], pa.Table.from_pylist([tok], schema=TOKENS), tree.fingerprint()
        )
        segments += video_segments(tok, [], video["split"], o.segment_tokens)  # as Beam: no text
    write_table(
        pa.Table.from_pylist(segments, schema=SEGMENTS),
        layout.corpus_path(o.out, 0, 1),
    )


def main(quick: bool = False) -> list[str]:
    n = 8 if quick else 36
    with tempfile.TemporaryDirectory() as out:
        base = [f"--out={out}", f"--sample_videos={n}"]
        run([*base, "--stages=discover"])  # render once, untimed
        logging.getLogger().setLevel(logging.ERROR)
        o = resolve(CorpusOptions(base))
        t = time.perf_counter()
        _plain(o)
        plain = time.perf_counter() - t
        t = time.perf_counter()
        run([*base, "--stages=features,kmeans,tokens,corpus", "--force"])
        beam_s = time.perf_counter() - t
        clips = sum(r["items"] for r in StageStore(out, "features").load_status().values())
    return [
        f"pipeline: sample world, {n} videos, {clips} clips (frames+features, kmeans, tokens, "
        "corpus)",
        row("plain Python loop over the stage functions", clips / plain, "clips/s"),
        row("Beam FnApiRunner, 1 worker", clips / beam_s, "clips/s"),
        row("Beam ÷ plain", plain / beam_s, "ratio", "(goal ≥ 0.90)"),
    ]
