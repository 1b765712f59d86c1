"""`make caption`: train and score every row of the paper's Table 3 with one command.

    python -m model.caption --out OUT                  # the sample world under OUT (make corpus)
    python -m model.caption --out OUT --youcook2 yc2_annotations_trainval.json --youcook2_out YC2
        [--model OUT/pretrain/final] [--video_only_model DIR] [--preset small|paper]
        [--steps N] [--beam K] [--folds 5] [--no_java] [--device cuda]

Prints the table (the paper's numbers beside) and writes OUT/eval/captioning.json; see
model.caption.table for the rows and what lands under OUT/caption/.
"""

import argparse
import dataclasses
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from model.caption.data import (
    EVAL,
    TRAIN,
    SpanInputs,
    folds,
    sample_world_segments,
    youcook2_segments,
)
from model.caption.metrics import score_many
from model.caption.table import (
    LEARNED,
    PAPER,
    ROWS,
    examples,
    format_table,
    gather,
    learned_rows,
    most_frequent,
    nearest,
    videobert_features,
    write_json,
)
from model.caption.train import PRESETS, CaptionPreset
from model.train import PRESETS as PRETRAIN_PRESETS
from model.train import Preset, latest_checkpoint
from model.train import train as pretrain
from schemas import layout
from schemas.process import run_cli
from schemas.text import load_tokenizer

log = logging.getLogger(__name__)
VIDEO_ONLY = "0,1,0"  # model.train regime weights: text, video, text_video


@dataclass(frozen=True)
class CaptionConfig:
    out: str
    """Corpus root: corpus/, kmeans/, tokens/, features/, sample/; writes caption/ and eval/."""
    model: str | None = None
    """Pretrained VideoBERT (default OUT/pretrain/final)."""
    video_only_model: str | None = None
    """VideoBERT pretrained video-only (default: OUT/pretrain-video-only/final, trained here
    with the main model's preset and regime weights 0,1,0 when missing)."""
    youcook2: str | None = None
    youcook2_out: str | None = None
    """Corpus root of the YouCook II videos, tokenised with OUT's centroids."""
    tokenizer: str | None = None
    preset: str = "small"
    steps: int | None = None
    beam: int | None = None
    max_visual: int = 32
    n_references: int = 3
    """References per sample-world action."""
    folds: int = 0
    """k > 1: also k-fold cross-validate each learned row on the training split."""
    java: bool = True
    examples: int = 8
    device: str = "cuda" if torch.cuda.is_available() else "cpu"


def _preset(cfg: CaptionConfig) -> CaptionPreset:
    overrides = {k: v for k, v in (("steps", cfg.steps), ("beam", cfg.beam)) if v is not None}
    return dataclasses.replace(PRESETS[cfg.preset], **overrides)


def video_only_model(cfg: CaptionConfig, model_dir: str) -> str:
    """The video-only VideoBERT: given, or found, or pretrained now like the main model."""
    if cfg.video_only_model:
        return cfg.video_only_model
    root = Path(cfg.out) / "pretrain-video-only"
    if (root / "final" / "config.json").exists():
        return str(root / "final")
    base = PRETRAIN_PRESETS["small"]
    checkpoint = latest_checkpoint(Path(model_dir).parent)
    if checkpoint is not None:  # the main model's own recipe
        state = torch.load(checkpoint / "trainer_state.pt", weights_only=True)
        base = Preset(**state["preset"])
    preset = dataclasses.replace(base, regime_weights=VIDEO_ONLY)
    log.info("pretraining the video-only VideoBERT → %s (regime weights %s)", root, VIDEO_ONLY)
    pretrain(
        layout.corpus_dir(cfg.out),
        layout.centroids_path(cfg.out),
        root,
        preset,
        resume=True,
        device=cfg.device,
    )
    return str(root / "final")


def run(cfg: CaptionConfig) -> dict:
    t0 = time.monotonic()
    out, data_root = Path(cfg.out), cfg.youcook2_out or cfg.out
    model_dir = cfg.model or str(out / "pretrain" / "final")
    if cfg.youcook2:
        dataset, segments = "youcook2", youcook2_segments(cfg.youcook2)
    else:
        dataset, segments = "sample_world", sample_world_segments(cfg.out, cfg.n_references)
    inputs = gather(segments, SpanInputs(data_root, cfg.max_visual))
    n_train = sum(s.split == TRAIN for s in inputs.segments)
    n_eval = len(inputs.segments) - n_train
    if not n_train or not n_eval:
        raise SystemExit(
            f"captioning needs training and reported segments with visual tokens; "
            f"got {n_train} and {n_eval} (skipped: {inputs.skipped})"
        )
    tokenizer = load_tokenizer(cfg.tokenizer)
    centroids, cache = layout.centroids_path(data_root), str(out / "caption" / "features")
    args = (inputs, tokenizer, centroids, cache, cfg.device, cfg.max_visual)
    full = videobert_features(model_dir, *args)
    video_only = videobert_features(video_only_model(cfg, model_dir), *args)
    s3d, hidden = inputs.s3d, full.shape[1] // 2
    feature_sets = {
        "s3d": (s3d, [s3d.shape[1]]),
        "videobert_video_only": (video_only, [video_only.shape[1] // 2] * 2),
        "videobert": (full, [hidden, hidden]),
        "videobert_s3d": (np.hstack([full, s3d]), [hidden, hidden, s3d.shape[1]]),
    }
    preset = _preset(cfg)
    predicted = learned_rows(feature_sets, inputs, tokenizer, preset, out / "caption", cfg.device)
    train = [s for s in inputs.segments if s.split == TRAIN]
    held = [s for s in inputs.segments if s.split == EVAL]
    is_train = np.array([s.split == TRAIN for s in inputs.segments])
    neighbours = nearest(s3d[is_train], s3d[~is_train])
    predicted = {
        "most_frequent_caption": [most_frequent(train)] * len(held),
        "nearest_s3d": [train[j].references[0] for j in neighbours],
        **predicted,
    }
    references = {
        s.segment_id: {"video_id": s.video_id, "references": list(s.references)} for s in held
    }
    systems = {
        row: dict(zip([s.segment_id for s in held], caps, strict=True))
        for row, caps in predicted.items()
    }
    write_json(out / "caption" / "references.json", references)
    for row, predictions in systems.items():
        write_json(out / "caption" / "predictions" / f"{row}.json", predictions)
    scores = score_many(systems, references, cfg.java)
    result = {
        "dataset": dataset,
        "segments": {"train": n_train, "eval": n_eval, "skipped": inputs.skipped},
        "rows": {row: {"name": ROWS[row], **scores[row]} for row in ROWS},
        "paper": {
            row: dict(zip(("BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr"), v, strict=True))
            for row, v in PAPER.items()
        },
        "examples": examples(inputs, predicted, cfg.examples),
        "preset": asdict(preset),
        "config": asdict(cfg),
        "seconds": time.monotonic() - t0,
    }
    if cfg.folds > 1:
        result["cross_validation"] = cross_validate(cfg, feature_sets, inputs, tokenizer, preset)
    write_json(out / "eval" / "captioning.json", result)
    return result


def cross_validate(cfg, feature_sets, inputs, tokenizer, preset) -> dict:
    """Mean micro scores over k folds of the training segments (whole videos per fold)."""
    train_idx = [i for i, s in enumerate(inputs.segments) if s.split == TRAIN]
    fold_of = folds([inputs.segments[i] for i in train_idx], cfg.folds, preset.seed)
    per_row: dict[str, list[dict]] = {row: [] for row in LEARNED}
    for f in range(cfg.folds):
        segs = [
            dataclasses.replace(inputs.segments[i], split=EVAL if fold_of[j] == f else TRAIN)
            for j, i in enumerate(train_idx)
        ]
        sub = dataclasses.replace(
            inputs,
            segments=segs,
            visual=[inputs.visual[i] for i in train_idx],
            s3d=inputs.s3d[train_idx],
        )
        sets = {row: (x[train_idx], dims) for row, (x, dims) in feature_sets.items()}
        root = Path(cfg.out) / "caption" / f"cv{cfg.folds}-{f}"
        predicted = learned_rows(sets, sub, tokenizer, preset, root, cfg.device)
        held = [s for s in segs if s.split == EVAL]
        refs = {
            s.segment_id: {"video_id": s.video_id, "references": list(s.references)} for s in held
        }
        systems = {row: dict(zip(refs, caps, strict=True)) for row, caps in predicted.items()}
        for row, r in score_many(systems, refs, cfg.java).items():
            per_row[row].append(r["micro"])
    return {
        row: {
            m: (None if runs[0][m] is None else float(np.mean([r[m] for r in runs])))
            for m in runs[0]
        }
        | {"folds": cfg.folds}
        for row, runs in per_row.items()
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    fields = {f.name: f for f in dataclasses.fields(CaptionConfig)}
    parser.add_argument("--out", required=True, help=fields["out"].__doc__)
    for name in ("model", "video_only_model", "youcook2", "youcook2_out", "tokenizer", "device"):
        parser.add_argument(f"--{name}", default=getattr(CaptionConfig, name, None))
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    for name in ("steps", "beam", "max_visual", "n_references", "folds", "examples"):
        parser.add_argument(f"--{name}", type=int, default=getattr(CaptionConfig, name))
    parser.add_argument("--no_java", action="store_true", help="no METEOR; Python tokenizer")
    a = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    kwargs = {k: v for k, v in vars(a).items() if k in fields}
    result = run(CaptionConfig(**kwargs, java=not a.no_java))
    print(format_table(result["rows"]))
    seg = result["segments"]
    print(
        f"{result['dataset']}: {seg['train']} training / {seg['eval']} reported segments, "
        f"skipped {seg['skipped'] or 'none'}; METEOR {result['rows']['s3d']['meteor']}"
    )
    print(f"wrote {Path(a.out) / 'eval' / 'captioning.json'}")
    return result


if __name__ == "__main__":
    run_cli(main)
