"""Captioning data: ground-truth segments with their reference captions, and their video inputs.

A *segment* is one annotated step of a video: (video_id, start_s, end_s) with one or more
reference captions. Its inputs are read from a corpus root OUT the same way the zero-shot path
reads them (`model.evaluate.SpanTokens`): the visual tokens of the clips whose midpoint lies in
the span (else any overlapping one) from `OUT/tokens/`, and the mean S3D vector of those same
clips from `OUT/features/`.

- Sample world (`sample_world_segments`): each ground-truth action, with `n_references`
  human-style captions (`model.caption.sample_captions`); `train` videos train, `heldout` ones
  are reported (split "eval").
- YouCook II (`youcook2_segments`): the annotation file's `training` subset trains, `validation`
  is reported; one reference (the annotator's sentence) per segment. Its tokens and features
  come from a corpus run over the YouCook II videos tokenised with the pretraining centroids
  (see README, "Evaluating VideoBERT").
`folds` splits training segments by video for k-fold cross-validation (the paper's 5 folds).
"""

import logging
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq

from model.caption.sample_captions import references
from model.evaluate import SpanTokens, clips_in
from model.youcook import read_annotations
from schemas import layout
from schemas.ids import validate_video_id

log = logging.getLogger(__name__)
TRAIN, EVAL = "train", "eval"


@dataclass(frozen=True)
class CaptionSegment:
    segment_id: str  # "<video_id>:<index>", the key of predictions and references JSON
    video_id: str
    start_s: float
    end_s: float
    split: str  # TRAIN | EVAL
    references: tuple[str, ...]


def _keep_referenced(segments: list[CaptionSegment], source: str) -> list[CaptionSegment]:
    """Drops references that are empty (after strip) and segments left with none, with a count."""
    kept, dropped = [], 0
    for s in segments:
        refs = tuple(r.strip() for r in s.references if r and r.strip())
        if refs:
            kept.append(s if refs == s.references else _replace_refs(s, refs))
        else:
            dropped += 1
    if dropped:
        log.warning("%s: %d segments have only empty references: skipped", source, dropped)
    return kept


def _replace_refs(s: CaptionSegment, refs: tuple[str, ...]) -> CaptionSegment:
    return CaptionSegment(s.segment_id, s.video_id, s.start_s, s.end_s, s.split, refs)


def sample_world_segments(out: str, n_references: int = 3, seed: int = 0) -> list[CaptionSegment]:
    """Every ground-truth action of the sample world under OUT, with its references."""
    path = layout.ground_truth_path(out)
    try:
        truth = pq.read_table(path).to_pylist()
    except (FileNotFoundError, OSError) as e:
        raise FileNotFoundError(f"no sample world at {path} ({e}): run `make corpus`") from e
    segments = [
        CaptionSegment(
            f"{a['video_id']}:{a['action_index']}", a["video_id"], a["start_s"], a["end_s"],
            TRAIN if a["split"] == "train" else EVAL,
            tuple(references(a["verb"], a["noun"], (a["video_id"], a["action_index"]),
                             n_references, seed)),
        )
        for a in truth
    ]  # fmt: skip
    return _keep_referenced(segments, path)


def youcook2_segments(annotations: str) -> list[CaptionSegment]:
    """YouCook II training (TRAIN) and validation (EVAL) segments from the annotation JSON."""
    subsets = {"training": TRAIN, "validation": EVAL}
    index: Counter = Counter()
    segments = []
    for c in read_annotations(annotations):
        if c.subset not in subsets:
            continue
        i = index[c.video_id]
        index[c.video_id] += 1
        segments.append(
            CaptionSegment(f"{c.video_id}:{i}", c.video_id, c.start_s, c.end_s,
                           subsets[c.subset], (c.sentence,))
        )  # fmt: skip
    return _keep_referenced(segments, annotations)


def folds(segments: list[CaptionSegment], k: int, seed: int = 0) -> list[int]:
    """Fold (0..k-1) of each segment: whole videos per fold, videos shuffled with `seed`."""
    videos = sorted({s.video_id for s in segments})
    if len(videos) < k:
        raise ValueError(f"{k}-fold cross-validation needs at least {k} videos, got {len(videos)}")
    order = np.random.default_rng(seed).permutation(len(videos))
    fold_of = {videos[j]: rank % k for rank, j in enumerate(order)}
    return [fold_of[s.video_id] for s in segments]


class SpanInputs:
    """Visual tokens and mean S3D vector of a segment's clips, each video's files read once."""

    def __init__(self, out: str, max_visual: int = 32):
        self.out = out.rstrip("/")
        self.tokens = SpanTokens(self.out, max_visual)
        self._features: dict[str, dict | None] = {}

    def visual(self, s: CaptionSegment) -> list[int]:
        return self.tokens(validate_video_id(s.video_id), s.start_s, s.end_s)

    def s3d(self, s: CaptionSegment) -> np.ndarray | None:
        """Mean S3D feature (1024,) of the clips in the span (`clips_in`), None without any."""
        video_id = validate_video_id(s.video_id)
        if video_id not in self._features:
            self._features[video_id] = self._read_features(video_id)
        clips = self._features[video_id]
        if clips is None:
            return None
        spans = {"start_s": clips["start_s"], "end_s": clips["end_s"]}
        rows = clips_in({**spans, "tokens": list(range(len(spans["start_s"])))}, s.start_s, s.end_s)
        return clips["feature"][rows].mean(axis=0) if rows else None

    def _read_features(self, video_id: str) -> dict | None:
        path = layout.data_path(self.out, "features", video_id)
        try:
            table = pq.read_table(path, columns=["start_s", "end_s", "feature"])
        except (FileNotFoundError, OSError):
            return None
        if not table.num_rows:
            return None
        feature = np.stack(table.column("feature").to_numpy(zero_copy_only=False))
        return {
            "start_s": table.column("start_s").to_pylist(),
            "end_s": table.column("end_s").to_pylist(),
            "feature": feature.astype(np.float32),
        }
