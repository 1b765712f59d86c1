"""A tiny captioning world on disk with the real schemas: ground truth, tokens, S3D features,
centroids, a segment corpus, and a 2-step pretrained VideoBERT (OUT/pretrain).

Video j has 8 clips of 1.5 s and 4 actions of 2 clips each; an action (verb v, noun n) shows
leaf 3v + n (k=3, depth=2: 9 leaves) and S3D features near a fixed random vector per (v, n).
The last action of video 0 lies past its last clip: no visual tokens.
"""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from model.train import Preset, train
from schemas import FEATURE_DIM, FEATURES, GROUND_TRUTH, SEGMENTS, TOKENS, layout
from tests.model.tiny import write_centroids

VERBS, NOUNS = ("cut", "stir", "pour"), ("tomato", "egg", "onion")
N_VIDEOS, HELDOUT = 6, 2
TINY_PRETRAIN = Preset(
    hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
    batch_size=8, steps=2, warmup_steps=1, max_len=32, checkpoint_every=2, log_every=1,
)  # fmt: skip


def _write(rows, schema, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


def build(root: Path, tokenizer) -> Path:
    """The world and a 2-step VideoBERT pretrained on it (OUT/pretrain/final + a checkpoint)."""
    build_data(root, tokenizer)
    train(root / "corpus", root / "kmeans" / "centroids.parquet",
          root / "pretrain", TINY_PRETRAIN)  # fmt: skip
    return root


def build_data(root: Path, tokenizer) -> Path:
    rng = np.random.default_rng(0)
    prototypes = rng.standard_normal((9, FEATURE_DIM)).astype(np.float32)
    truth, segments = [], []
    for j in range(N_VIDEOS):
        vid, split = f"sample-{j:04d}", "heldout" if j >= N_VIDEOS - HELDOUT else "train"
        leaves = []
        for a in range(4):
            v, n = (j + a) % 3, (j * 2 + a) % 3
            leaves += [3 * v + n] * 2
            start = 3.0 * a + (12.0 if (j, a) == (0, 3) else 0.0)  # past the clips
            truth.append(
                {
                    "video_id": vid,
                    "action_index": a,
                    "verb": VERBS[v],
                    "noun": NOUNS[n],
                    "start_s": start,
                    "end_s": start + 3.0,
                    "narrated": True,
                    "split": split,
                }
            )
            text = f"now we {VERBS[v]} the {NOUNS[n]}"
            segments.append(
                {
                    "video_id": vid,
                    "segment_index": a,
                    "num_segments": 4,
                    "start_s": 3.0 * a,
                    "end_s": 3.0 * a + 3.0,
                    "text": text,
                    "text_token_ids": tokenizer(text, add_special_tokens=False)["input_ids"],
                    "sentence_index": a,
                    "first_clip": 2 * a,
                    "visual_tokens": leaves[-2:],
                    "split": split,
                }
            )
        starts = [1.5 * c for c in range(8)]
        _write(
            [
                {
                    "video_id": vid,
                    "clip_index": list(range(8)),
                    "start_s": starts,
                    "end_s": [s + 1.5 for s in starts],
                    "tokens": leaves,
                }
            ],
            TOKENS,
            root / "tokens" / "data" / f"{vid}.parquet",
        )
        feats = prototypes[leaves] + 0.1 * rng.standard_normal((8, FEATURE_DIM))
        _write(
            [
                {
                    "video_id": vid,
                    "clip_index": c,
                    "start_s": starts[c],
                    "end_s": starts[c] + 1.5,
                    "feature": feats[c].tolist(),
                }
                for c in range(8)
            ],
            FEATURES,
            root / "features" / "data" / f"{vid}.parquet",
        )
    _write(truth, GROUND_TRUTH, root / "sample" / "ground_truth.parquet")
    _write(segments, SEGMENTS, Path(layout.corpus_path(str(root), 0, 1)))  # one shard
    (root / "kmeans").mkdir(parents=True, exist_ok=True)
    write_centroids(root / "kmeans" / "centroids.parquet", missing_leaf=None)
    train(
        root / "corpus",
        root / "kmeans" / "centroids.parquet",
        root / "pretrain",
        TINY_PRETRAIN,
    )
    return root
