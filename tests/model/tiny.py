"""A tiny real corpus for the model tests: SEGMENTS and CENTROIDS Parquet with the real schemas.

Video j speaks only its own words (ids 2000 + 10 j ..) and shows only its own leaves {2j, 2j+1}
(k=3, depth=2: 9 leaves), so any token tells which video it came from.
"""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from schemas import SEGMENTS
from schemas.tree import CentroidTree

K, DEPTH, DIM = 3, 2, 16
N_VIDEOS, N_SEGMENTS = 4, 4
SIZES = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
}


def video_words(j: int) -> list[int]:
    return list(range(2000 + 10 * j, 2000 + 10 * j + 6))


def video_leaves(j: int) -> set[int]:
    return {2 * j, 2 * j + 1}


def write_segments(path: Path, heldout: int = 1) -> Path:
    rows = []
    for j in range(N_VIDEOS):
        for s in range(N_SEGMENTS):
            words = video_words(j)[s % 3 : s % 3 + 3]
            has_text = s != 3  # the last segment is video-only
            rows.append(
                {
                    "video_id": f"v{j}",
                    "segment_index": s,
                    "num_segments": N_SEGMENTS,
                    "start_s": 2.0 * s,
                    "end_s": 2.0 * s + 1.5,
                    "text": " ".join(map(str, words)) if has_text else None,
                    "text_token_ids": words if has_text else None,
                    "sentence_index": s if has_text else None,
                    "first_clip": s,
                    "visual_tokens": [2 * j, 2 * j + 1, 2 * j][: 1 + s % 3],
                    "split": "heldout" if j >= N_VIDEOS - heldout else "train",
                }
            )
    pq.write_table(pa.Table.from_pylist(rows, schema=SEGMENTS), path)
    return path


def write_centroids(path: Path, missing_leaf: int | None = 8) -> Path:
    """A depth-2 tree through the CENTROIDS codec; `missing_leaf` is an empty cluster (no row)."""
    rng = np.random.default_rng(0)
    centroids = tuple(rng.standard_normal((K**lv, DIM)).astype(np.float32) for lv in (1, 2))
    counts = (np.full(K, 5, np.int64), np.full(K**DEPTH, 5, np.int64))
    if missing_leaf is not None:
        counts[-1][missing_leaf] = 0
        centroids[-1][missing_leaf] = 0
    pq.write_table(CentroidTree(K, centroids, counts).to_table(), path)
    return path
