"""Video-text pairs → batches of decoded clips, through a DataLoader whose workers decode.

A `Pair` is a span of a local video file with its text (a corpus sentence, a caption; an
infinite end means the whole video, its duration read from the header). The
`ClipDataset` decodes one example per item with `sampling.decode_frames`:

    training   item (step, slot, pair): sparse clips drawn with np.random.default_rng([seed,
               step, slot]), so a resumed run (and any worker) decodes exactly the same clips
    inference  item pair index: dense, uniform clips

`StepBatches` is the batch sampler of training: step s takes `batch_size` distinct pairs drawn
with rng([seed, s]); starting it at step k is an exact resume. A file that fails to decode never
stops training: its example comes back as an error (video id, reason, message), `collate` drops
it from the batch and reports it, and the trainer counts the skips by reason. `usable_pairs`
checks every file's header once up front and drops (and counts) those that cannot be videos.
"""

import logging
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from model.clipbert.sampling import SampleError, SamplingConfig, decode_frames, probe, sample_times

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pair:
    video_id: str
    path: str
    start_s: float
    end_s: float
    text: str
    text_ids: tuple[int, ...]
    """WordPiece ids without [CLS]/[SEP]."""


def usable_pairs(pairs: Sequence[Pair], cfg: SamplingConfig) -> tuple[list[Pair], Counter]:
    """The pairs whose file's header is a video (each file probed once), and the dropped pairs
    counted by reason; a WARNING names each bad file."""
    verdict: dict[str, str | None] = {}
    for path in sorted({p.path for p in pairs}):
        try:
            probe(path, cfg)
            verdict[path] = None
        except SampleError as e:
            verdict[path] = str(e.status)
            log.warning("skipping %s: %s", path, e)
    skipped = Counter(verdict[p.path] for p in pairs if verdict[p.path])
    return [p for p in pairs if verdict[p.path] is None], skipped


class ClipDataset(Dataset):
    """Decoded examples of `pairs` (see the module docstring)."""

    def __init__(self, pairs: Sequence[Pair], cfg: SamplingConfig, seed: int = 0):
        self.pairs, self.cfg, self.seed = list(pairs), cfg, seed

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, key: int | tuple[int, int, int]) -> dict:
        if isinstance(key, tuple):  # training: (step, slot, pair)
            step, slot, index = key
            rng = np.random.default_rng([self.seed, step, slot])
        else:
            index, rng = key, None
        pair = self.pairs[index]
        try:
            end = pair.end_s if math.isfinite(pair.end_s) else probe(pair.path, self.cfg)
            times = sample_times(pair.start_s, end, self.cfg, rng)
            frames = decode_frames(pair.path, times, self.cfg)  # (N, T, S, S, 3) uint8
        except SampleError as e:
            return {"index": index, "error": (pair.video_id, str(e.status), e.message)}
        return {"index": index, "frames": torch.from_numpy(frames), "text_ids": pair.text_ids}


class StepBatches(Sampler):
    """Training batches: for step s in [start, steps), `batch_size` distinct pairs drawn with
    rng([seed, s]), as (s, slot, pair) keys. With `videos` (each pair's video id) and
    `per_video` > 1, a batch is batch_size / per_video random videos with up to `per_video` of
    each one's pairs, next to each other: the in-batch negatives then include other moments of
    the same video, so matching must read what happens, not which video it is."""

    def __init__(
        self, n_pairs: int, batch_size: int, steps: int, start: int = 0, seed: int = 0,
        videos: Sequence[str] | None = None, per_video: int = 1,
    ):  # fmt: skip
        if n_pairs < 2:
            raise ValueError(f"{n_pairs} usable pairs: in-batch negatives need at least 2")
        self.n, self.batch, self.steps, self.start, self.seed = (
            n_pairs, min(batch_size, n_pairs), steps, start, seed,
        )  # fmt: skip
        self.per_video, self.by_video = per_video, {}
        for i, v in enumerate(videos if videos is not None and per_video > 1 else ()):
            self.by_video.setdefault(v, []).append(i)
        self.video_keys = sorted(self.by_video)

    def __len__(self) -> int:
        return max(0, self.steps - self.start)

    def _grouped(self, rng: np.random.Generator) -> list[int]:
        chosen: list[int] = []
        for v in rng.permutation(len(self.video_keys)):
            own = self.by_video[self.video_keys[v]]
            take = min(self.per_video, len(own), self.batch - len(chosen))
            chosen += [own[i] for i in rng.choice(len(own), take, replace=False)]
            if len(chosen) == self.batch:
                break
        return chosen

    def __iter__(self) -> Iterator[list[tuple[int, int, int]]]:
        for step in range(self.start, self.steps):
            rng = np.random.default_rng([self.seed, step])
            if self.by_video:
                chosen = self._grouped(rng)
            else:
                chosen = rng.choice(self.n, self.batch, replace=False).tolist()
            yield [(step, slot, int(i)) for slot, i in enumerate(chosen)]


def pad_text(rows: Sequence[Sequence[int]], cls_id: int, sep_id: int, pad_id: int, max_len: int):
    """([CLS] ids [SEP] right-padded (B, L) long, attention mask (B, L) long); each row cut to
    max_len tokens."""
    seqs = [[cls_id, *list(r)[: max_len - 2], sep_id] for r in rows]
    length = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), length), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)], mask[i, : len(s)] = torch.tensor(s), 1
    return ids, mask


@dataclass(frozen=True)
class Collate:
    """Stacks the decoded examples; failed ones go to `skipped` as (video id, reason, message).
    Picklable, so DataLoader workers can use it."""

    cls_id: int
    sep_id: int
    pad_id: int
    max_len: int = 40

    def __call__(self, items: Sequence[dict]) -> dict:
        ok = [it for it in items if "error" not in it]
        batch = {"skipped": [it["error"] for it in items if "error" in it]}
        batch["index"] = torch.tensor([it["index"] for it in ok], dtype=torch.long)
        if ok:
            batch["frames"] = torch.stack([it["frames"] for it in ok])  # (B, N, T, S, S, 3)
            batch["text_ids"], batch["text_mask"] = pad_text(
                [it["text_ids"] for it in ok], self.cls_id, self.sep_id, self.pad_id, self.max_len
            )
        return batch


def loader(
    dataset: ClipDataset,
    collate: Collate,
    *,
    batch_sampler: Sampler | None = None,
    batch_size: int = 1,
    workers: int = 0,
) -> DataLoader:
    """A DataLoader whose `workers` processes decode (pinned memory on CUDA; examples in order)."""
    extra = {"prefetch_factor": 4, "persistent_workers": False} if workers else {}
    kwargs = {"batch_sampler": batch_sampler} if batch_sampler else {"batch_size": batch_size}
    return DataLoader(
        dataset,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=torch.cuda.is_available(),
        **kwargs,
        **extra,
    )
