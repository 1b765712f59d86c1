"""Pretraining examples from the SEGMENTS corpus (OUT/corpus/segments.parquet).

Three regimes, as in the paper:
    text        [CLS] text [SEP]                MLM on the sentence(s)
    video       [CLS] video [SEP]               MLM on the visual tokens
    text_video  [CLS] text [>] video [SEP]      MLM on both + alignment label: 1 = the sentences
                                                with their own clips, 0 = with another video's
                                                (then only the video's masked tokens are scored:
                                                the clips do not show those words, and predicting
                                                them would teach the model to ignore the video)
token_type_ids: 0 for [CLS], text and [>]; 1 for visual tokens and the [SEP] after them.

Each example takes 1..max_concat consecutive segments of one video (within max_len), keeps
every r-th visual token (r uniform in 1..max_subsample, random phase), then masks 15% of the
non-special tokens (80% [MASK], 10% a random token of the same modality, 10% unchanged).
Example i of step s depends only on (seed, s, i): `np.random.default_rng([seed, s, i])`, so a
resumed run and every DDP rank rebuild exactly the examples they need.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from model.config import VideoBertConfig
from model.modeling import IGNORE

TEXT, VIDEO, TEXT_VIDEO = 0, 1, 2
REGIMES = ("text", "video", "text_video")
COLUMNS = ["video_id", "segment_index", "text_token_ids", "visual_tokens", "split"]


@dataclass(frozen=True)
class Segment:
    text: tuple[int, ...]  # WordPiece ids, () without text
    visual: tuple[int, ...]  # leaf ids in [0, k**depth)


def load_segments(
    path: str | Path, splits: Sequence[str] | None = ("train",)
) -> dict[str, list[Segment]]:
    """{video_id: its segments in segment order} for rows whose split is in `splits` (None: all),
    videos sorted by id."""
    table = pq.read_table(path)
    missing = set(COLUMNS) - set(table.column_names)
    if missing:
        raise ValueError(f"{path}: not a SEGMENTS table (missing columns {sorted(missing)})")
    table = table.select(COLUMNS)
    if splits is not None:
        table = table.filter(pc.is_in(table["split"], pa.array(list(splits), pa.string())))
    table = table.sort_by([("video_id", "ascending"), ("segment_index", "ascending")])
    videos: dict[str, list[Segment]] = {}
    for row in table.to_pylist():
        segment = Segment(tuple(row["text_token_ids"] or ()), tuple(row["visual_tokens"] or ()))
        videos.setdefault(row["video_id"], []).append(segment)
    return videos


def encode(
    text_ids: Sequence[int] | None, visual_tokens: Sequence[int] | None, config: VideoBertConfig
) -> dict[str, list[int]]:
    """input_ids, token_type_ids, attention_mask (lists) of one sequence; visual_tokens are leaf
    ids (mapped with config.visual_id)."""
    text, visual = list(text_ids or ()), [config.visual_id(int(t)) for t in visual_tokens or ()]
    ids = [config.cls_token_id, *text]
    types = [0] * len(ids)
    if text and visual:
        ids.append(config.video_sep_id)
        types.append(0)
    ids += [*visual, config.sep_token_id]
    types += [1] * len(visual) + [1 if visual else 0]
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": [1] * len(ids)}


def collate(examples: Sequence[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pads the sequences (labels with IGNORE) and stacks the per-example ints."""
    length = max(len(e["input_ids"]) for e in examples)
    fill = {"input_ids": pad_id, "token_type_ids": 0, "attention_mask": 0, "labels": IGNORE}
    batch = {}
    for key, value in fill.items():
        if key in examples[0]:
            rows = [list(e[key]) + [value] * (length - len(e[key])) for e in examples]
            batch[key] = torch.tensor(rows, dtype=torch.long)
    for key in ("alignment_labels", "regime"):
        if key in examples[0]:
            batch[key] = torch.tensor([e[key] for e in examples], dtype=torch.long)
    return batch


def mask_tokens(
    input_ids: np.ndarray,
    config: VideoBertConfig,
    rng: np.random.Generator,
    prob: float | np.ndarray = 0.15,
) -> tuple[np.ndarray, np.ndarray]:
    """BERT masking: (masked ids, labels). Each non-special token is chosen with `prob` (a rate,
    or one per position; at least one token per sequence); chosen: 80% [MASK], 10% a random id
    of its own modality, 10% kept. labels = the original id where chosen, IGNORE elsewhere."""
    ids = np.asarray(input_ids, dtype=np.int64)
    specials = np.asarray(config.special_ids() + [config.mask_token_id])
    candidates = ~np.isin(ids, specials) & (np.broadcast_to(prob, ids.shape) > 0)
    chosen = candidates & (rng.random(ids.shape) < prob)
    if not chosen.any() and candidates.any():
        chosen[rng.choice(np.flatnonzero(candidates))] = True
    labels = np.where(chosen, ids, IGNORE)
    action = rng.random(ids.shape)
    random_text = rng.integers(0, config.text_vocab_size, ids.shape)
    while np.isin(random_text, specials).any():
        bad = np.isin(random_text, specials)
        random_text[bad] = rng.integers(0, config.text_vocab_size, int(bad.sum()))
    random_visual = config.visual_id(rng.integers(0, config.num_visual_tokens, ids.shape))
    replacement = np.where(config.is_visual(ids), random_visual, random_text)
    out = ids.copy()
    out[chosen & (action < 0.8)] = config.mask_token_id
    swap = chosen & (action >= 0.8) & (action < 0.9)
    out[swap] = replacement[swap]
    return out, labels


def subsample(visual: Sequence[int], rng: np.random.Generator, max_rate: int) -> list[int]:
    """Every r-th token (r uniform in 1..max_rate) from a random phase; never empties a list."""
    if not visual:
        return []
    rate = int(rng.integers(1, max_rate + 1))
    return list(visual[int(rng.integers(min(rate, len(visual)))) :: rate])


def truncate(text: list[int], visual: list[int], budget: int) -> tuple[list[int], list[int]]:
    """Drops tokens from the end of the longer side until both fit in `budget`."""
    text, visual = list(text), list(visual)
    while len(text) + len(visual) > budget:
        (text if len(text) >= len(visual) else visual).pop()
    return text, visual


def log_unigram_prior(videos: dict[str, list[Segment]], config: VideoBertConfig) -> torch.Tensor:
    """(V,) log frequency of every joint-vocabulary id in the corpus (+0.01 each): a start
    for the MLM decoder bias, so training doesn't first spend its steps learning that the 30k
    WordPieces the corpus never uses are unlikely (centred visual embeddings cannot raise every
    visual token together; only the bias can)."""
    counts = np.full(config.vocab_size, 0.01)
    for segments in videos.values():
        for segment in segments:
            np.add.at(counts, np.asarray(segment.text, dtype=np.int64), 1)
            np.add.at(counts, config.visual_id(np.asarray(segment.visual, dtype=np.int64)), 1)
    counts[config.special_ids()] = 0.01
    return torch.from_numpy(np.log(counts / counts.sum())).float()


class PretrainingData:
    """Deterministic example builder over {video_id: segments} (see the module docstring)."""

    def __init__(
        self,
        videos: dict[str, list[Segment]],
        config: VideoBertConfig,
        max_len: int = 128,
        seed: int = 0,
        mask_prob: float = 0.15,
        max_concat: int = 3,
        max_subsample: int = 5,
        regime_weights: Sequence[float] = (1.0, 1.0, 1.0),
        text_video_mask_prob: float | None = None,
    ):
        self.videos = [videos[v] for v in sorted(videos)]
        self.video_ids = sorted(videos)
        self.config, self.max_len, self.seed, self.mask_prob = config, max_len, seed, mask_prob
        self.max_concat, self.max_subsample = max_concat, max_subsample
        self.text_video_mask_prob = (
            mask_prob if text_video_mask_prob is None else text_video_mask_prob
        )
        self.starts = {
            TEXT: self._starts(lambda s: bool(s.text)),
            VIDEO: self._starts(lambda s: bool(s.visual)),
            TEXT_VIDEO: self._starts(lambda s: bool(s.text and s.visual)),
        }
        self.visual_starts: dict[int, list[int]] = {}
        for v, s in self.starts[VIDEO]:
            self.visual_starts.setdefault(v, []).append(s)
        self.visual_videos = sorted(self.visual_starts)
        if len(self.visual_videos) < 2:  # no other video to draw a negative from
            self.starts[TEXT_VIDEO] = []
        weights = np.array([w if self.starts[r] else 0.0 for r, w in enumerate(regime_weights)])
        if weights.sum() <= 0:
            raise ValueError("no usable segments: every regime is empty (or has weight 0)")
        self.regime_p = weights / weights.sum()

    def _starts(self, keep) -> list[tuple[int, int]]:
        videos = enumerate(self.videos)
        return [(v, s) for v, segs in videos for s, seg in enumerate(segs) if keep(seg)]

    def _window(self, v: int, s: int, n: int) -> tuple[list[int], list[int]]:
        """Text and visual tokens of segments s..s+n-1 of video v, stopping before max_len."""
        text, visual = [], []
        for seg in self.videos[v][s : s + n]:
            grown = len(text) + len(visual) + len(seg.text) + len(seg.visual)
            if (text or visual) and grown > self.max_len:
                break
            text += seg.text
            visual += seg.visual
        return text, visual

    def example(self, step: int, i: int) -> dict:
        rng = np.random.default_rng([self.seed, step, i])
        regime = int(rng.choice(3, p=self.regime_p))
        pool = self.starts[regime]
        v, s = pool[int(rng.integers(len(pool)))]
        n = int(rng.integers(1, self.max_concat + 1))
        text, visual = self._window(v, s, n)
        aligned = IGNORE
        if regime == TEXT:
            visual = []
        elif regime == VIDEO:
            text = []
        else:
            aligned = int(rng.random() < 0.5)
            if not aligned:
                u = self.visual_videos[int(rng.integers(len(self.visual_videos) - 1))]
                u = self.visual_videos[-1] if u == v else u  # uniform over the others
                starts = self.visual_starts[u]
                visual = self._window(u, starts[int(rng.integers(len(starts)))], n)[1]
        visual = subsample(visual, rng, self.max_subsample)
        both = bool(text) and bool(visual)
        text, visual = truncate(text, visual, self.max_len - 2 - both)
        encoded = encode(text, visual, self.config)
        ids = np.array(encoded["input_ids"])
        prob = self.mask_prob
        visual = self.config.is_visual(ids)
        if regime == TEXT_VIDEO:  # the words at their own rate
            prob = np.where(visual, self.mask_prob, self.text_video_mask_prob)
        ids, labels = mask_tokens(ids, self.config, rng, prob)
        if regime == TEXT_VIDEO and not aligned:  # masked alike (no tell), words not scored
            labels = np.where(visual, labels, IGNORE)
        encoded.update(input_ids=ids.tolist(), labels=labels.tolist())
        return {**encoded, "alignment_labels": aligned, "regime": regime}

    def batch(self, step: int, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        examples = [self.example(step, i) for i in indices]
        return collate(examples, self.config.pad_token_id)
