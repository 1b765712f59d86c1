"""Do the visual tokens carry the sample world's verbs and nouns? (corpus quality, not speed)

Each clip is labelled with the ground-truth action covering its midpoint (clips between
actions are left out). A held-out clip is predicted the majority label of the *train* clips
sharing its token (backing off to the parent node when the token never occurs in train).
Reported per level of the tree, against chance (always predicting the most common train
label), with the normalised mutual information between token and label on held-out clips.

    python -m benchmarks.bench_tokens --out out     # after `make corpus`
"""

import argparse
from collections import Counter, defaultdict

import numpy as np
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from benchmarks.common import row
from schemas.process import run_cli
from stages.store.stage import StageStore
from stages.video.kmeans import load_tree


def labelled_clips(out: str) -> list[dict]:
    """(split, leaf token, verb, noun) of every clip whose midpoint lies inside an action."""
    truth = pq.read_table(FileSystems.join(out, "sample", "ground_truth.parquet")).to_pylist()
    actions = defaultdict(list)
    for a in truth:
        actions[a["video_id"]].append(a)
    tokens = StageStore(out, "tokens")
    clips = []
    for vid, acts in sorted(actions.items()):
        t = tokens.read_data(vid).to_pylist()[0]
        for start, end, token in zip(t["start_s"], t["end_s"], t["tokens"], strict=True):
            mid = (start + end) / 2
            hit = [a for a in acts if a["start_s"] <= mid < a["end_s"]]
            if hit:
                a = hit[0]
                clips.append(
                    {"split": a["split"], "token": token, "verb": a["verb"], "noun": a["noun"]}
                )
    return clips


def nmi(x: list, y: list) -> float:
    """Normalised mutual information (arithmetic mean of entropies)."""

    def entropy(c: Counter) -> float:
        p = np.array(list(c.values()), float) / sum(c.values())
        return float(-(p * np.log(p)).sum())

    hx, hy, hxy = entropy(Counter(x)), entropy(Counter(y)), entropy(Counter(zip(x, y, strict=True)))
    return (hx + hy - hxy) / max((hx + hy) / 2, 1e-12)


def predict(train: list[tuple], test_tokens: list[tuple], fallback) -> list:
    """Majority train label per token path; back off one level at a time."""
    votes = defaultdict(Counter)
    for path, label in train:
        for level in range(len(path) + 1):
            votes[path[:level]][label] += 1
    out = []
    for path in test_tokens:
        level = next(lv for lv in range(len(path), -1, -1) if votes.get(path[:lv]))
        out.append(votes[path[:level]].most_common(1)[0][0] if level or votes[()] else fallback)
    return out


def main(quick: bool = False, out: str = "out") -> list[str]:
    tree = load_tree(FileSystems.join(out, "kmeans", "centroids.parquet"))
    k, depth = tree.k, tree.depth
    clips = labelled_clips(out)
    train = [c for c in clips if c["split"] == "train"]
    test = [c for c in clips if c["split"] != "train"]

    def path(token: int, level: int) -> tuple:
        digits = [(token // k ** (depth - 1 - i)) % k for i in range(depth)]
        return tuple(digits[:level])

    lines = [
        f"tokens: held-out clips inside an action, {len(test)} (train {len(train)}); "
        f"tree k={k} depth={depth}, {len(set(c['token'] for c in clips))} tokens used"
    ]
    for what in ("verb", "noun"):
        majority = Counter(c[what] for c in train).most_common(1)[0][0]
        chance = np.mean([c[what] == majority for c in test])
        lines.append(row(f"{what}: chance (most common train label)", chance, "acc"))
        for level in range(1, depth + 1):
            pred = predict(
                [(path(c["token"], level), c[what]) for c in train],
                [path(c["token"], level) for c in test],
                majority,
            )
            acc = np.mean([p == c[what] for p, c in zip(pred, test, strict=True)])
            info = nmi([path(c["token"], level) for c in test], [c[what] for c in test])
            lines.append(
                row(
                    f"{what}: token majority vote, level {level} ({k**level} words)",
                    acc,
                    "acc",
                    f"NMI {info:.3f}",
                )
            )
    return lines


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out")
    run_cli(lambda: print("\n".join(main(out=parser.parse_args().out))))
