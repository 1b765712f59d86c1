"""Pretraining examples from the SEGMENTS corpus (the shards OUT/corpus/segments-*.parquet).

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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from model.config import VideoBertConfig
from model.modeling import IGNORE
from schemas import SEGMENTS, layout
from schemas import io as sio

TEXT, VIDEO, TEXT_VIDEO = 0, 1, 2
REGIMES = ("text", "video", "text_video")
COLUMNS = ["video_id", "segment_index", "text_token_ids", "visual_tokens", "split"]


@dataclass(frozen=True)
class Segment:
    text: tuple[int, ...]  # WordPiece ids, () without text
    visual: tuple[int, ...]  # leaf ids in [0, k**depth)


class Corpus:
    """The segments of a corpus as flat arrays, videos sorted by id, segments in order.

    What pretraining holds per rank: for every segment of the chosen splits, its text and visual
    token ids (int32 values + int64 offsets: ~4 bytes per token + 16 per segment) and one int32
    video index; the video ids once each. No Python object per segment (about 1.3 GB for the
    paper's ~20M segments of ~16 visual + ~12 text tokens)."""

    def __init__(self, video_ids, video_of, text_offsets, text, visual_offsets, visual):
        self.video_ids: list[str] = list(video_ids)
        self.video_of = np.asarray(video_of, np.int32)  # (n_segments,) video index
        self.text_offsets, self.text = (
            np.asarray(text_offsets, np.int64),
            np.asarray(text, np.int32),
        )
        self.visual_offsets = np.asarray(visual_offsets, np.int64)
        self.visual = np.asarray(visual, np.int32)
        n = len(self.video_ids)
        self.video_start = np.searchsorted(self.video_of, np.arange(n + 1)).astype(np.int64)
        self._index = {v: i for i, v in enumerate(self.video_ids)}

    @classmethod
    def from_table(cls, table: pa.Table) -> "Corpus":
        """From SEGMENTS columns (any row order)."""
        table = table.sort_by([("video_id", "ascending"), ("segment_index", "ascending")])
        ids = table["video_id"].combine_chunks()
        encoded = pc.dictionary_encode(ids) if len(ids) else None  # sorted: ids in order
        video_ids = encoded.dictionary.to_pylist() if encoded is not None else []
        video_of = encoded.indices.to_numpy() if encoded is not None else np.zeros(0, np.int32)
        text_offsets, text = _flat(table["text_token_ids"])
        visual_offsets, visual = _flat(table["visual_tokens"])
        return cls(video_ids, video_of, text_offsets, text, visual_offsets, visual)

    @classmethod
    def from_videos(cls, videos: Mapping[str, Sequence[Segment]]) -> "Corpus":
        rows = [
            {"video_id": v, "segment_index": i, "text_token_ids": list(s.text),
             "visual_tokens": list(s.visual)}
            for v, segs in videos.items() for i, s in enumerate(segs)
        ]  # fmt: skip
        schema = pa.schema([SEGMENTS.field(c) for c in COLUMNS if c != "split"])
        return cls.from_table(pa.Table.from_pylist(rows, schema=schema))

    def __len__(self) -> int:
        return len(self.video_ids)

    def __iter__(self):
        return iter(self.video_ids)

    def __getitem__(self, video_id: str) -> list[Segment]:
        v = self._index[video_id]
        return [self.segment(g) for g in range(self.video_start[v], self.video_start[v + 1])]

    def text_of(self, g: int) -> np.ndarray:
        return self.text[self.text_offsets[g] : self.text_offsets[g + 1]]

    def visual_of(self, g: int) -> np.ndarray:
        return self.visual[self.visual_offsets[g] : self.visual_offsets[g + 1]]

    def segment(self, g: int) -> Segment:
        return Segment(tuple(self.text_of(g).tolist()), tuple(self.visual_of(g).tolist()))


def _flat(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, values) of a list<int32> column, nulls as empty lists."""
    lists = column.combine_chunks() if column.num_chunks else pa.array([], column.type)
    lengths = pc.list_value_length(lists).fill_null(0).to_numpy(zero_copy_only=False)
    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
    values = pc.list_flatten(lists).to_numpy(zero_copy_only=False)
    return offsets, values


def corpus_files(path: str | Path) -> list[str]:
    """The shards of a corpus: OUT/corpus (or OUT), a glob, or one Parquet file; local/gs://."""
    path = str(path).rstrip("/")
    if "*" in path:
        files = sio.glob(path)
    elif path.endswith(".parquet"):
        files = [path]
    else:
        root = path if path.endswith("/corpus") else layout.corpus_dir(path)
        files = sio.glob(layout.join(root, "segments-*-of-*.parquet"))
    if not files:
        raise FileNotFoundError(f"no corpus shards at {path}: run `make corpus` first")
    return files


def load_segments(path: str | Path, splits: Sequence[str] | None = ("train",)) -> Corpus:
    """The corpus rows whose split is in `splits` (None: all), streamed shard by shard in
    record batches (only the token columns are kept, as Arrow arrays, then flat numpy)."""
    files = corpus_files(path)
    schema = sio.read_schema(files[0])
    missing = set(COLUMNS) - set(schema.names)
    if missing:
        raise ValueError(f"{files[0]}: not a SEGMENTS table (missing columns {sorted(missing)})")
    wanted = pa.array(list(splits), pa.string()) if splits is not None else None
    batches = []
    for batch in sio.iter_batches(files, COLUMNS):
        if wanted is not None:
            batch = batch.filter(pc.is_in(batch["split"], wanted))
        batches.append(batch.select(COLUMNS[:-1]))
    names = COLUMNS[:-1]
    table = pa.Table.from_batches(batches, pa.schema([SEGMENTS.field(c) for c in names]))
    return Corpus.from_table(table)


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


def log_unigram_prior(corpus: Corpus, config: VideoBertConfig) -> torch.Tensor:
    """(V,) log frequency of every joint-vocabulary id in the corpus (+0.01 each): a start
    for the MLM decoder bias, so training doesn't first spend its steps learning that the 30k
    WordPieces the corpus never uses are unlikely (centred visual embeddings cannot raise every
    visual token together; only the bias can)."""
    corpus = corpus if isinstance(corpus, Corpus) else Corpus.from_videos(corpus)
    counts = np.full(config.vocab_size, 0.01)
    counts += np.bincount(corpus.text.astype(np.int64), minlength=config.vocab_size)[
        : config.vocab_size
    ]
    visual = config.visual_id(corpus.visual.astype(np.int64))
    counts += np.bincount(visual, minlength=config.vocab_size)[: config.vocab_size]
    counts[config.special_ids()] = 0.01
    return torch.from_numpy(np.log(counts / counts.sum())).float()


class PretrainingData:
    """Deterministic example builder over a `Corpus` (or {video_id: segments}); see the module
    docstring. Sampling pools are arrays of global segment indices, in (video, segment) order."""

    def __init__(
        self,
        videos: Corpus | Mapping[str, Sequence[Segment]],
        config: VideoBertConfig,
        max_len: int = 128,
        seed: int = 0,
        mask_prob: float = 0.15,
        max_concat: int = 3,
        max_subsample: int = 5,
        regime_weights: Sequence[float] = (1.0, 1.0, 1.0),
        text_video_mask_prob: float | None = None,
    ):
        corpus = videos if isinstance(videos, Corpus) else Corpus.from_videos(videos)
        self.corpus, self.video_ids = corpus, corpus.video_ids
        self.config, self.max_len, self.seed, self.mask_prob = config, max_len, seed, mask_prob
        self.max_concat, self.max_subsample = max_concat, max_subsample
        self.text_video_mask_prob = (
            mask_prob if text_video_mask_prob is None else text_video_mask_prob
        )
        has_text = np.diff(corpus.text_offsets) > 0
        has_visual = np.diff(corpus.visual_offsets) > 0
        self.starts = {
            TEXT: np.flatnonzero(has_text),
            VIDEO: np.flatnonzero(has_visual),
            TEXT_VIDEO: np.flatnonzero(has_text & has_visual),
        }
        video_pool = self.starts[VIDEO]
        self.visual_videos = np.unique(corpus.video_of[video_pool]).tolist()
        bounds = np.searchsorted(corpus.video_of[video_pool], [*self.visual_videos, len(corpus)])
        self.visual_starts = {
            u: video_pool[bounds[k] : bounds[k + 1]] for k, u in enumerate(self.visual_videos)
        }
        if len(self.visual_videos) < 2:  # no other video to draw a negative from
            self.starts[TEXT_VIDEO] = self.starts[TEXT_VIDEO][:0]
        weights = np.array(
            [w if len(self.starts[r]) else 0.0 for r, w in enumerate(regime_weights)]
        )
        if weights.sum() <= 0:
            raise ValueError("no usable segments: every regime is empty (or has weight 0)")
        self.regime_p = weights / weights.sum()

    def _window(self, g: int, n: int) -> tuple[list[int], list[int]]:
        """Text and visual tokens of segments g..g+n-1 of g's video, stopping before max_len."""
        c = self.corpus
        end = min(g + n, int(c.video_start[c.video_of[g] + 1]))
        text, visual = [], []
        for k in range(g, end):
            seg_text, seg_visual = c.text_of(k).tolist(), c.visual_of(k).tolist()
            grown = len(text) + len(visual) + len(seg_text) + len(seg_visual)
            if (text or visual) and grown > self.max_len:
                break
            text += seg_text
            visual += seg_visual
        return text, visual

    def example(self, step: int, i: int) -> dict:
        rng = np.random.default_rng([self.seed, step, i])
        regime = int(rng.choice(3, p=self.regime_p))
        pool = self.starts[regime]
        g = int(pool[int(rng.integers(len(pool)))])
        v = int(self.corpus.video_of[g])
        n = int(rng.integers(1, self.max_concat + 1))
        text, visual = self._window(g, n)
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
                visual = self._window(int(starts[int(rng.integers(len(starts)))]), n)[1]
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
