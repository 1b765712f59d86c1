"""Does the corpus teach VideoBERT which visual tokens go with which words? (quality, not speed)

After the default `make pretrain` (preset `small`) on the sample corpus, zero-shot verb and noun
top-1 on the sample world's held-out videos, open vocabulary (model.zeroshot), cross-modal
(template + the clip's visual tokens) against the language priors (VideoBERT's: the template
alone; the text-only BERT's). Goal: cross-modal beats both priors by >= 30 points for both.
Beside it, the same accuracy from counting alone: a naive-Bayes classifier over
the train segments' (visual token, word) co-occurrences, the ceiling the corpus itself sets.

    python -m benchmarks --only learnability      # builds the sample corpus when OUT lacks one
    OUT=out python -m benchmarks.bench_learnability
"""

import glob
import os
import tempfile
import time
from collections import Counter, defaultdict

import numpy as np
import pyarrow.parquet as pq

from benchmarks.common import row
from model import evaluate as ev
from model import train
from schemas.process import run_cli

GOAL = 0.30


def ensure_corpus(out: str) -> str:
    """`out` when it holds a sample corpus, else a fresh one under .bench-cache (~90 s)."""
    if os.path.exists(os.path.join(out, "sample", "ground_truth.parquet")):
        return out
    from pipelines.corpus import run

    out = os.path.join(".bench-cache", "learnability-out")
    if not glob.glob(os.path.join(out, "corpus", "segments-*-of-*.parquet")):
        run([f"--out={out}"])
    return out


def counting_baseline(out: str, examples: list[dict], verbs: list[str], nouns: list[str]):
    """Top-1 of naive Bayes on (visual token, word) co-occurrence in train segments."""
    shards = sorted(glob.glob(os.path.join(out, "corpus", "segments-*-of-*.parquet")))
    segments = [r for path in shards for r in pq.read_table(path).to_pylist()]
    counts = {"verb": defaultdict(Counter), "noun": defaultdict(Counter)}
    for s in segments:
        if s["split"] != "train" or not s["text"]:
            continue
        words = s["text"].lower().replace(".", " ").replace(",", " ").split()
        for kind, vocab in (("verb", verbs), ("noun", nouns)):
            for w in (w for w in words if w in vocab):
                for t in s["visual_tokens"]:
                    counts[kind][t][w] += 1
    acc = {}
    for kind, vocab in (("verb", verbs), ("noun", nouns)):
        hits = []
        for e in examples:
            score = {
                w: sum(
                    np.log((counts[kind][t][w] + 0.5) / (sum(counts[kind][t].values()) + 3))
                    for t in e["visual"]
                )
                for w in vocab
            }
            hits.append(max(vocab, key=score.get) in e[f"{kind}s"])
        acc[kind] = float(np.mean(hits))
    return acc


def main(quick: bool = False) -> list[str]:
    out = ensure_corpus(os.environ.get("OUT", "out"))
    work = tempfile.mkdtemp(prefix="learnability-")
    del quick  # the check is the default `make pretrain` itself (~1 min): nothing to shrink
    start = time.monotonic()
    train.main(
        [f"--corpus={out}/corpus", f"--centroids={out}/kmeans/centroids.parquet",
         f"--out={work}"]
    )  # fmt: skip
    trained = time.monotonic() - start
    metrics = ev.evaluate(ev.EvalConfig(model=f"{work}/final", out=out))
    zs = metrics["zero_shot"]["sample_world"]
    examples, vocab, _, _ = ev.sample_world_examples(out)
    ceiling = counting_baseline(out, examples, vocab["verb"], vocab["noun"])
    lines = [
        "learnability: default `make pretrain` "
        f"{trained:.0f} s; held-out actions {zs['n_clips']} (sample world, {out})"
    ]
    for kind in ("verb", "noun"):
        r = zs[kind]["open_vocabulary"]
        bert, prior, cross = (r[m]["top1"] for m in ("bert_prior", "language_prior", "cross_modal"))
        gap = cross - max(prior, bert)
        ok = "met" if gap >= GOAL else "NOT met"
        lines += [
            row(f"{kind}: BERT language prior top-1 ({metrics['bert_prior']})", bert, "acc"),
            row(f"{kind}: VideoBERT language prior top-1", prior, "acc"),
            row(f"{kind}: cross-modal top-1", cross, "acc"),
            row(f"{kind}: counting ceiling (naive Bayes) top-1", ceiling[kind], "acc"),
            f"  {kind}: cross-modal - best prior = {gap:+.3f}  (goal >= +{GOAL:.2f}: {ok})",
        ]
    return lines


if __name__ == "__main__":
    run_cli(lambda: print("\n".join(main())))
