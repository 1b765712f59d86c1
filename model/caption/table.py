"""`make caption`: the paper's Table 3 (captioning transfer) on the sample world or YouCook II.

Rows, all scored on the same reported segments (those with visual tokens and S3D features):
    most_frequent_caption   the most frequent training caption, for every segment (a baseline)
    nearest_s3d             the caption of the nearest training segment by mean S3D (cosine)
    s3d                     the captioner on the mean S3D vector of the segment's clips
    videobert_video_only    ... on VideoBERT features of a model pretrained with video-only MLM
                            (model.train's regime weights 0,1,0; trained here when not given)
    videobert               ... on the pretrained VideoBERT's features (model.caption.features)
    videobert_s3d           ... on both
Writes OUT/caption/ (features cache, one captioner run per row keyed by a hash of its inputs
and preset: a rerun resumes or reuses it, references.json, predictions/<row>.json: score them
again with `python -m model.caption.metrics`) and OUT/eval/captioning.json.
"""

import dataclasses
import hashlib
import json
import logging
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from model.caption.captioner import CaptionVocab
from model.caption.data import EVAL, TRAIN, CaptionSegment
from model.caption.features import VideoBertFeatures, cached_features, check_vocabulary, fingerprint
from model.caption.metrics import METRICS
from model.caption.train import CaptionPreset, caption, train_captioner
from model.modeling import VideoBertForPreTraining

log = logging.getLogger(__name__)
# Sun et al. 2019, Table 3: YouCook II validation, micro-averaged at corpus level.
PAPER = {
    "s3d": (6.12, 3.24, 9.52, 26.09, 0.31),
    "videobert_video_only": (6.33, 3.81, 10.81, 27.14, 0.47),
    "videobert": (6.80, 4.04, 11.01, 27.50, 0.49),
    "videobert_s3d": (7.59, 4.33, 11.94, 28.80, 0.55),
}
ROWS = {
    "most_frequent_caption": "most frequent training caption",
    "nearest_s3d": "nearest training segment (S3D)",
    "s3d": "S3D",
    "videobert_video_only": "VideoBERT (video only)",
    "videobert": "VideoBERT",
    "videobert_s3d": "VideoBERT + S3D",
}
LEARNED = ("s3d", "videobert_video_only", "videobert", "videobert_s3d")
RUN_FORMAT = 2
"""Part of every run key: bump it when the captioner or its training changes, so that runs
trained by older code are not reused."""


@dataclass
class Inputs:
    """The usable segments and their inputs, row-aligned."""

    segments: list[CaptionSegment]
    visual: list[list[int]]
    s3d: np.ndarray  # (N, 1024)
    skipped: dict[str, int]


def gather(segments: list[CaptionSegment], span_inputs) -> Inputs:
    """Keeps segments with visual tokens and S3D features; counts the others by reason."""
    kept, visual, s3d = [], [], []
    skipped = Counter()
    for s in segments:
        tokens = span_inputs.visual(s)
        if not tokens:
            skipped["no_visual_tokens"] += 1
            continue
        feature = span_inputs.s3d(s)
        if feature is None:
            skipped["no_s3d_features"] += 1
            continue
        kept.append(s)
        visual.append(tokens)
        s3d.append(feature)
    for reason, n in skipped.items():
        log.warning("captioning: %d segments skipped (%s)", n, reason)
    matrix = np.stack(s3d).astype(np.float32) if s3d else np.zeros((0, 1024), np.float32)
    return Inputs(kept, visual, matrix, dict(skipped))


def videobert_features(
    model_dir: str,
    inputs: Inputs,
    tokenizer,
    centroids: str,
    cache_dir: str,
    device: str,
    max_visual: int,
    batch_size: int = 64,
) -> np.ndarray:
    """(N, 2H) template features of a pretrained VideoBERT, cached by its fingerprint."""
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"no model at {model_dir}: run `make pretrain` (or pass --model)")
    model = VideoBertForPreTraining.from_pretrained(model_dir).to(device)
    check_vocabulary(model.config, centroids, model_dir)
    top = max((max(v) for v in inputs.visual), default=-1)
    if top >= model.config.num_visual_tokens:
        raise ValueError(
            f"visual token {top} is outside model {model_dir}'s {model.config.num_visual_tokens} "
            "visual tokens: the corpus was tokenised with another tree; pretrain on this corpus "
            "or tokenise with the pretraining run's kmeans/centroids.parquet"
        )
    extractor = VideoBertFeatures(model, tokenizer, batch_size)
    fp = fingerprint(model_dir, max_visual)
    ids = [s.segment_id for s in inputs.segments]
    return cached_features(extractor, fp, cache_dir, ids, inputs.visual)


def most_frequent(train: list[CaptionSegment]) -> str:
    """The most frequent training reference (ties: alphabetical)."""
    counts = Counter(r for s in train for r in s.references)
    return min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def nearest(train_x: np.ndarray, eval_x: np.ndarray) -> np.ndarray:
    """Index of each eval row's nearest training row by cosine similarity."""
    a = train_x / np.linalg.norm(train_x, axis=1, keepdims=True).clip(min=1e-12)
    b = eval_x / np.linalg.norm(eval_x, axis=1, keepdims=True).clip(min=1e-12)
    return (b @ a.T).argmax(axis=1)


def run_key(features: np.ndarray, targets, preset: CaptionPreset) -> str:
    """12 hex digits over a captioner's training inputs and preset: its run directory's name."""
    h = hashlib.sha256(np.ascontiguousarray(features, dtype=np.float32).tobytes())
    blob = [RUN_FORMAT, targets, dataclasses.asdict(preset)]
    h.update(json.dumps(blob, sort_keys=True).encode())
    return h.hexdigest()[:12]


def learned_rows(
    feature_sets: dict[str, tuple[np.ndarray, list[int]]],
    inputs: Inputs,
    tokenizer,
    preset: CaptionPreset,
    root: Path,
    device: str,
) -> dict[str, list[str]]:
    """Trains (or reuses) one captioner per feature set; its captions of the eval segments."""
    train = [i for i, s in enumerate(inputs.segments) if s.split == TRAIN]
    held = [i for i, s in enumerate(inputs.segments) if s.split == EVAL]
    vocab = CaptionVocab.build(tokenizer, [r for i in train for r in inputs.segments[i].references])
    targets = [
        [vocab.encode(tokenizer, r, preset.max_len) for r in inputs.segments[i].references]
        for i in train
    ]
    out = {}
    for row, (x, dims) in feature_sets.items():
        run_dir = root / "runs" / f"{row}-{run_key(x[train], targets, preset)}"
        log.info("captioner %s: %d training segments → %s", row, len(train), run_dir)
        torch.manual_seed(preset.seed)
        model = train_captioner(x[train], targets, dims, vocab, run_dir, preset, device=device)
        ids = caption(model, x[held], preset.beam, device=device)
        out[row] = [vocab.decode(tokenizer, row_ids) for row_ids in ids]
    return out


def format_table(rows: dict[str, dict], paper: bool = True) -> str:
    """Our micro-averaged scores, the paper's beside (BLEU/METEOR/ROUGE-L × 100)."""
    short = ("B-3", "B-4", "METEOR", "ROUGE-L", "CIDEr")
    head = f"{'method':<34}" + "".join(f"{m:>8}" for m in short)
    if paper:
        head += "   | paper " + "".join(f"{m:>8}" for m in short)
    lines = [head]
    for row, result in rows.items():
        cells = [result["micro"][m] for m in METRICS]
        line = f"{ROWS.get(row, row):<34}" + "".join(
            f"{'n/a':>8}" if v is None else f"{v:>8.2f}" for v in cells
        )
        if paper and row in PAPER:
            line += "   |       " + "".join(f"{v:>8.2f}" for v in PAPER[row])
        lines.append(line)
    return "\n".join(lines)


def examples(inputs: Inputs, predictions: dict[str, list[str]], n: int) -> list[dict]:
    """Up to n eval segments spread over the eval videos, with every row's caption."""
    held = [i for i, s in enumerate(inputs.segments) if s.split == EVAL]
    picks = sorted({held[int(j)] for j in np.linspace(0, len(held) - 1, min(n, len(held)))})
    position = {i: k for k, i in enumerate(held)}
    return (
        [
            {
                "segment_id": inputs.segments[i].segment_id,
                "video_id": inputs.segments[i].video_id,
                "start_s": inputs.segments[i].start_s,
                "end_s": inputs.segments[i].end_s,
                "references": list(inputs.segments[i].references),
                "predictions": {row: caps[position[i]] for row, caps in predictions.items()},
            }
            for i in picks
        ]
        if held
        else []
    )


def write_json(path: str | Path, value) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(value, indent=2))
    os.replace(tmp, path)
