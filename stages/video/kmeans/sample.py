"""Which clips the tree is fitted on: chosen by key, read by video.

Every clip has a priority: a keyed hash of (video id, clip index, seed), uniform on uint64 and
stable across processes. The training sample is the `size` clips with the smallest priorities
among the pretraining clips, the top sample (which fits the top levels) the `top_size` smallest
of those: nested samples, the same whatever the bundling or element order. Choosing them moves
only priorities (8 bytes a clip, `SmallestPrioritiesFn`); each video's reader then reads its
own feature file once and keeps only its chosen rows (`chosen_rows`). Rows leave in sample-key
order (priority, video key, clip index), so every fit sees them in one order.
"""

import hashlib

import apache_beam as beam
import numpy as np

_U64_MAX = np.iinfo(np.uint64).max


def _splitmix64(z: np.ndarray) -> np.ndarray:
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def video_key(video_id: str, seed: int = 0) -> np.uint64:
    """A keyed blake2b of the video id: uint64, stable across processes."""
    key = seed.to_bytes(8, "little", signed=True)
    digest = hashlib.blake2b(video_id.encode(), digest_size=8, key=key).digest()
    return np.uint64(int.from_bytes(digest, "little"))


def sample_priority(video_ids, clip_indices, seed: int = 0) -> np.ndarray:
    """uint64 priority per clip, stable across processes: keyed blake2b of the video id, mixed
    with the clip index by splitmix64. `video_ids` is one id or one per clip."""
    clips = np.asarray(clip_indices, np.int64).astype(np.uint64)
    ids, inverse = np.unique(
        np.broadcast_to(np.asarray(video_ids, object), clips.shape), return_inverse=True
    )
    per_video = np.array([video_key(v, seed) for v in ids], np.uint64)
    return _splitmix64(per_video[inverse.reshape(clips.shape)] ^ clips)


class Cutoffs:
    """The result of choosing: how many clips there were, and the largest priority in the
    sample and in the top sample (a clip is in a sample iff its priority is ≤ the cutoff)."""

    def __init__(self, available: int, smallest: np.ndarray, size: int, top_size: int):
        self.available, self.size, self.top_size = available, size, top_size
        self.cutoff = smallest[size - 1] if size else np.uint64(0)
        self.top_cutoff = smallest[top_size - 1] if top_size else np.uint64(0)


class SmallestPrioritiesFn(beam.CombineFn):
    """Priority arrays → (clips seen, the `size` smallest priorities sorted): ≤ 2 × size
    uint64 per accumulator (16 MB for a 1M sample), never a feature vector."""

    def __init__(self, size: int):
        self._size = size

    def create_accumulator(self):
        return 0, np.empty(0, np.uint64)

    def _compact(self, seen: int, prio: np.ndarray):
        if len(prio) > self._size:
            prio = prio[np.argpartition(prio, self._size - 1)[: self._size]]
        return seen, prio

    def add_input(self, acc, priorities: np.ndarray):
        seen, prio = acc
        prio = np.concatenate([prio, priorities])
        acc = seen + len(priorities), prio
        return self._compact(*acc) if len(prio) > 2 * self._size else acc

    def merge_accumulators(self, accumulators):
        accumulators = list(accumulators)
        seen = sum(s for s, _ in accumulators)
        return self._compact(seen, np.concatenate([p for _, p in accumulators]))

    def compact(self, acc):
        return self._compact(*acc)

    def extract_output(self, acc):
        seen, prio = self._compact(*acc)
        return seen, np.sort(prio)


def chosen_rows(
    video_id: str, clip_index: np.ndarray, cutoff: np.uint64, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Positions (into the video's rows) of its clips in the sample, and their priorities."""
    priority = sample_priority(video_id, clip_index, seed)
    rows = np.flatnonzero(priority <= cutoff)
    return rows, priority[rows]


def sort_key(priority: np.ndarray, vkey: np.ndarray, clip_index: np.ndarray) -> np.ndarray:
    """Row order of the sample: by priority, ties (astronomically rare) by video key, clip."""
    return np.lexsort((clip_index, vkey, priority))
