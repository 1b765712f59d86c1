"""k-means quality on data with known structure, and visual-token purity on the sample world.

    .venv/bin/python -m benchmarks.bench_kmeans_quality          # scaled: 8**3 in 128-d, 3 seeds
    .venv/bin/python -m benchmarks.bench_kmeans_quality --k 12 --depth 4 --dim 1024   # the paper's

1. A synthetic hierarchical Gaussian mixture: k**depth true centres in `dim`-d, each level's
   children spread around their parent at half the parent level's scale, points N(centre, σ²);
   plus 5% of points from noise clusters outside the tree and 5% exact duplicates. Three fits,
   each assigning 20k fresh points: (a) the old fit, one worker on the old sample's density
   (200k clips for 20,736 leaves: 9.6 per leaf); (b) the new fit, top level + subtrees on the
   default sample (48 per leaf); (c) flat faiss k-means with k**depth centroids on (b)'s sample.
   NMI / ARI of the recovered leaves against the true centres, mean squared quantisation error,
   leaf occupancy (empty leaves; min / median / max fresh points per used leaf).
2. The sample world (`--world OUT` after `make corpus`): held-out clips' verb / noun predicted
   by the majority label of the train clips sharing their token, old tree (fitted on every clip,
   held-out ones included, with the old 200k sample) vs new (pretraining split only).
"""

import argparse
import time
from collections import Counter

import numpy as np
import pyarrow.parquet as pq
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from benchmarks.bench_tokens import predict
from schemas import VIDEOS, layout
from schemas.process import run_cli
from stages.store.files import read_parts
from stages.store.stage import StageStore
from stages.video.kmeans import KMeansConfig, fit_tree, fit_two_phase
from stages.video.kmeans.sample import sample_priority

OLD_PER_LEAF = 200_000 / 12**4  # the old default: 200k clips whatever the vocabulary


def hierarchical_mixture(k, depth, dim, n, seed=0, noise=0.05, dup=0.05):
    """(x (n, dim) float32, true leaf per row, -1 for noise clusters), rows shuffled."""
    rng = np.random.default_rng(seed)
    centres, scale = np.zeros((1, dim), np.float32), 1.0
    for _ in range(depth):
        kids = rng.standard_normal((len(centres), k, dim), dtype=np.float32) * scale
        centres, scale = (centres[:, None] + kids).reshape(-1, dim), scale / 2
    sigma = scale / 2  # within-centre spread: a quarter of the last level's spread
    n_noise, n_dup = int(n * noise), int(n * dup)
    n_main = n - n_noise - n_dup
    label = rng.integers(0, len(centres), n_main)
    x = centres[label] + rng.standard_normal((n_main, dim), dtype=np.float32) * sigma
    junk = rng.standard_normal((50, dim), dtype=np.float32) * 2  # noise clusters off the tree
    xn = (
        junk[rng.integers(0, 50, n_noise)] + rng.standard_normal((n_noise, dim), np.float32) * sigma
    )
    dup_rows = rng.integers(0, n_main, n_dup)
    x = np.concatenate([x, xn, x[dup_rows]])
    label = np.concatenate([label, np.full(n_noise, -1), label[dup_rows]])
    order = rng.permutation(n)
    return x[order].astype(np.float32), label[order]


def scores(name, assign, x, truth, centroids, seconds, vocab) -> str:
    ids = assign(x)
    on_tree = truth >= 0
    err = float(((x - centroids[ids]) ** 2).sum(axis=1).mean())
    used = np.bincount(ids, minlength=vocab)
    occ = used[used > 0]
    return (f"  {name:<34} NMI {normalized_mutual_info_score(truth[on_tree], ids[on_tree]):.3f}"
            f"  ARI {adjusted_rand_score(truth[on_tree], ids[on_tree]):.3f}  MSE {err:8.4f}"
            f"  empty {vocab - len(occ):>6,}  min/med/max {occ.min()}/{np.median(occ):.0f}/"
            f"{occ.max()}  fit {seconds:6.1f} s")  # fmt: skip


def synthetic(k: int, depth: int, dim: int, test_n: int, seed: int = 0) -> list[str]:
    """One seed (of the data and of every fit): k-means on 1,000s of clusters has local minima
    that move NMI by a few points from seed to seed, so compare over several."""
    import faiss

    vocab = k**depth
    cfg = KMeansConfig(k=k, depth=depth, seed=seed)
    old_n, new_n = int(round(vocab * OLD_PER_LEAF)), cfg.wanted_sample
    x, truth = hierarchical_mixture(k, depth, dim, new_n + test_n, seed)
    train, xt, tt = x[:new_n], x[new_n:], truth[new_n:]  # rows are shuffled: any prefix is random
    lines = [f"seed {seed}: {vocab:,} true centres in {dim}-d (+5% noise clusters, 5% duplicates); "
             f"old sample {old_n:,} ({OLD_PER_LEAF:.1f}/leaf), new {new_n:,} "
             f"({cfg.sample_per_leaf}/leaf); scored on {test_n:,} fresh points"]  # fmt: skip
    t0 = time.perf_counter()
    old = fit_tree(train[:old_n], cfg)
    lines.append(scores("(a) old: one worker, 9.6/leaf", old.assign, xt, tt,
                        old.filled_leaf_centroids(), time.perf_counter() - t0, vocab))  # fmt: skip
    t0 = time.perf_counter()
    new = fit_two_phase(train, cfg)
    lines.append(scores("(b) new: top + subtrees, 48/leaf", new.assign, xt, tt,
                        new.filled_leaf_centroids(), time.perf_counter() - t0, vocab))  # fmt: skip
    t0 = time.perf_counter()
    flat = faiss.Kmeans(dim, vocab, niter=20, seed=seed, max_points_per_centroid=256)
    flat.train(train)
    lines.append(scores("(c) flat faiss, same sample as (b)",
                        lambda v: flat.index.search(v, 1)[1][:, 0], xt, tt, flat.centroids,
                        time.perf_counter() - t0, vocab))  # fmt: skip
    return lines


def world(out: str) -> list[str]:
    """Token purity on held-out clips of the sample world, old tree vs new (k=10, depth=2)."""
    videos = {
        r["video_id"]: r["split"]
        for r in read_parts(layout.videos_glob(out), VIDEOS, ["video_id", "split"]).to_pylist()
    }
    truth = pq.read_table(f"{out}/sample/ground_truth.parquet").to_pylist()
    store, clips = StageStore(out, "features"), []
    for vid, split in sorted(videos.items()):
        t = store.read_data(vid).to_pylist()
        acts = [a for a in truth if a["video_id"] == vid]
        for r in t:
            mid = (r["start_s"] + r["end_s"]) / 2
            hit = [a for a in acts if a["start_s"] <= mid < a["end_s"]]
            clips.append({"video_id": vid, "clip_index": r["clip_index"], "split": split,
                          "x": np.asarray(r["feature"], np.float32),
                          "verb": hit[0]["verb"] if hit else None,
                          "noun": hit[0]["noun"] if hit else None})  # fmt: skip
    cfg = KMeansConfig(k=10, depth=2)
    prio = sample_priority([c["video_id"] for c in clips], [c["clip_index"] for c in clips])
    order = np.argsort(prio, kind="stable")
    x = np.stack([c["x"] for c in clips])
    train_rows = [i for i in order if clips[i]["split"] == "train"]
    trees = {
        "old: every clip (held-out too)": fit_tree(x[order], cfg),
        "new: pretraining split only": fit_two_phase(x[train_rows], cfg),
    }
    labelled = [c for c in clips if c["verb"]]
    lines = [
        f"sample world: {len(clips)} clips, {len(train_rows)} train; "
        f"{sum(c['split'] != 'train' for c in labelled)} held-out clips inside an action"
    ]
    for name, tree in trees.items():
        tok = tree.assign(np.stack([c["x"] for c in labelled]))
        for what in ("verb", "noun"):
            train = [
                (t, c[what]) for t, c in zip(tok, labelled, strict=True) if c["split"] == "train"
            ]
            test = [
                (t, c[what]) for t, c in zip(tok, labelled, strict=True) if c["split"] != "train"
            ]
            majority = Counter(label for _, label in train).most_common(1)[0][0]
            pred = predict([((t,), lab) for t, lab in train], [(t,) for t, _ in test], majority)
            acc = np.mean([p == lab for p, (_, lab) in zip(pred, test, strict=True)])
            chance = np.mean([lab == majority for _, lab in test])
            leaves = int((tree.counts[-1] > 0).sum())
            lines.append(f"  {name:<34} {what} purity {acc:.3f} (chance {chance:.3f}); "
                         f"{leaves} leaves, fitted on {tree.n_train}")  # fmt: skip
    return lines


def main(argv=None) -> list[str]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--test", type=int, default=20_000)
    ap.add_argument("--seeds", type=int, default=3, help="data + fit seeds 0..N-1")
    ap.add_argument("--world", default=None, help="a sample-world OUT (after make corpus)")
    args = ap.parse_args(argv)
    lines = [line for seed in range(args.seeds)
             for line in synthetic(args.k, args.depth, args.dim, args.test, seed)]  # fmt: skip
    if args.world:
        lines += world(args.world)
    return lines


if __name__ == "__main__":
    run_cli(lambda: print("\n".join(main())))
