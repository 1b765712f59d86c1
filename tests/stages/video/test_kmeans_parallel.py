"""The parallel k-means stage: sample choice by key, top levels + subtrees, the leak rule, bad
input (NaN/Inf clips, too few clips, another configuration on disk)."""

import logging
import pickle

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas import FEATURES
from stages.store.stage import StageStore
from stages.video.kmeans import (
    FeatureFiles,
    FitHierarchicalKMeans,
    FitOrLoadKMeans,
    KMeansConfig,
    SmallestPrioritiesFn,
    fit_tree,
    fit_two_phase,
    load_tree,
    sample_plan,
    sample_priority,
)
from stages.video.kmeans.sample import sort_key, video_key
from stages.video.kmeans.transform import pretraining_ids

DIM = 8


pytestmark = pytest.mark.usefixtures("one_faiss_thread")


def write_features(out: str, video_id: str, x: np.ndarray) -> None:
    """A FEATURES file of dimension x.shape[1] (the schema's list size adapted)."""
    n, dim = x.shape
    schema = pa.schema([*list(FEATURES)[:4], pa.field("feature", pa.list_(pa.float32(), dim))])
    table = pa.Table.from_pydict(
        {"video_id": [video_id] * n, "clip_index": np.arange(n, dtype=np.int32),
         "start_s": np.arange(n) * 1.5, "end_s": np.arange(n) * 1.5 + 1.5,
         "feature": list(x.astype(np.float32))},
        schema=schema,
    )  # fmt: skip
    StageStore(out, "features").write_data(video_id, table, "test")


def _corpus(out, n_videos=12, clips=30, seed=0, offset=0.0) -> dict[str, np.ndarray]:
    """Videos of clips drawn around 4 far-apart centres (+ an offset), written to OUT."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, DIM)) * 20 + offset
    videos = {}
    for v in range(n_videos):
        x = centres[rng.integers(0, 4, clips)] + rng.normal(size=(clips, DIM))
        videos[f"v{seed}-{v:02d}"] = x.astype(np.float32)
        write_features(out, f"v{seed}-{v:02d}", videos[f"v{seed}-{v:02d}"])
    return videos


def _sample(videos: dict, size: int, seed: int = 0) -> np.ndarray:
    """The expected sample: the `size` smallest priorities, in sample-key order."""
    prio, vkey, clip, rows = [], [], [], []
    for vid, x in videos.items():
        prio.append(sample_priority(vid, np.arange(len(x)), seed))
        vkey.append(np.full(len(x), video_key(vid, seed), np.uint64))
        clip.append(np.arange(len(x)))
        rows.append(x)
    prio, vkey, clip, rows = map(np.concatenate, (prio, vkey, clip, rows))
    order = sort_key(prio, vkey, clip)
    keep = np.sort(np.argsort(prio, kind="stable")[:size])
    return rows[order][np.isin(order, keep)]


def _fit(out, ids, cfg):
    with TestPipeline(runner="FnApiRunner") as p:
        trees = p | beam.Create(ids) | FitHierarchicalKMeans(FeatureFiles(out), cfg)
        _ = trees | beam.Map(lambda t: pickle.dump(t, open(f"{out}/tree.pkl", "wb")))  # noqa: SIM115
    with open(f"{out}/tree.pkl", "rb") as f:
        return pickle.load(f)


def test_sample_priority_is_stable_and_vectorised():
    assert sample_priority("video-0", [0, 1, 2], 0).tolist() == [
        15723067803980690535,
        11841683598069144921,
        15327904115616328671,
    ]  # the values of the single-worker stage: the same clips are chosen as before
    mixed = sample_priority(["b", "a", "b"], np.array([0, 0, 1], np.int32), 0)
    assert mixed.tolist() == [
        sample_priority("b", [0])[0], sample_priority("a", [0])[0], sample_priority("b", [1])[0]
    ]  # fmt: skip
    assert sample_priority("video-0", [0], 1)[0] != sample_priority("video-0", [0], 0)[0]


def test_smallest_priorities_whatever_the_bundling():
    rng = np.random.default_rng(0)
    parts = [rng.integers(0, 2**63, rng.integers(0, 40), dtype=np.uint64) for _ in range(30)]
    fn = SmallestPrioritiesFn(25)
    expected = np.sort(np.concatenate(parts))[:25]
    for bundles in ([parts], [parts[::-1]], [parts[i::4] for i in range(4)]):
        accs = []
        for bundle in bundles:
            acc = fn.create_accumulator()
            for part in bundle:
                acc = fn.add_input(acc, part)
                assert len(acc[1]) <= 50  # bounded: 2 x size priorities, no vectors
            accs.append(pickle.loads(pickle.dumps(fn.compact(acc))))
        seen, smallest = fn.extract_output(fn.merge_accumulators(accs))
        assert seen == sum(map(len, parts))
        np.testing.assert_array_equal(smallest, expected)


def test_parallel_fit_equals_one_worker_fit_of_the_same_sample(tmp_path):
    out = str(tmp_path)
    videos = _corpus(out)
    # the top sample is the whole sample (k x 256 >= 300): the same rows as one worker's fit
    cfg = KMeansConfig(k=3, depth=3, niter=5, sample_size=300)
    tree = _fit(out, sorted(videos), cfg)
    expected = fit_tree(_sample(videos, 300), cfg)
    assert tree.n_train == 300
    assert tree.fingerprint() == expected.fingerprint()
    for a, b in zip(tree.fitted, expected.fitted, strict=True):
        np.testing.assert_array_equal(a, b)
    again = _fit(out, sorted(videos)[::-1], cfg)  # another order, other bundles: same tree
    assert again.fingerprint() == tree.fingerprint()


def test_top_levels_on_the_top_sample_subtrees_on_all(tmp_path, caplog):
    out = str(tmp_path)
    videos = _corpus(out, n_videos=20)
    cfg = KMeansConfig(k=2, depth=3, niter=5, max_points_per_centroid=40, top_levels=2)
    with caplog.at_level(logging.INFO, logger="stages.video.kmeans"):
        tree = _fit(out, sorted(videos), cfg)
    assert "top 2 level(s) on 160 clips" in caplog.text  # k**2 x 40
    assert tree.n_train == 320 == int(tree.counts[0].sum())  # 48 per leaf, capped at 2**3 x 40
    assert [int(c.sum()) for c in tree.counts] == [320, 320, 320]
    sample = _sample(videos, 320)
    assert tree.fingerprint() == fit_two_phase(sample, cfg).fingerprint()  # same, one process
    ids = tree.assign(sample)
    np.testing.assert_array_equal(np.bincount(ids, minlength=8), tree.counts[-1])
    assert "below faiss's floor" not in caplog.text  # 40 per leaf


def test_sample_sized_to_the_vocabulary():
    paper = KMeansConfig()
    plan = sample_plan(paper, 55_600_000)
    assert plan.size == 995_328 and plan.meets_floor  # 12**4 x 48 >= 12**4 x 39
    assert plan.top_size == 12 * 256
    assert sample_plan(KMeansConfig(sample_per_leaf=1000), 10**9).size == 12**4 * 256  # faiss cap
    assert sample_plan(KMeansConfig(sample_size=2_000_000), 10**9).size == 2_000_000
    small = sample_plan(paper, 300_000)
    assert (small.size, small.meets_floor, small.words_at_floor) == (300_000, False, 7_692)
    assert "fits about 7,692 words at the floor, not 20,736" in small.describe(12)
    assert sample_plan(KMeansConfig(too_few="shrink"), 300_000).depth == 3  # 12**3 x 39 fits
    with pytest.raises(ValueError, match="fit about 7,692 words"):
        sample_plan(KMeansConfig(too_few="refuse"), 300_000)
    with pytest.raises(ValueError, match="no usable pretraining clips"):
        sample_plan(paper, 0)


def test_too_few_clips_shrink_fits_a_smaller_tree(tmp_path, caplog):
    out = str(tmp_path)
    videos = _corpus(out, n_videos=4, clips=25)  # 100 clips: 2 words at 39 per centroid
    cfg = KMeansConfig(k=2, depth=4, niter=5, too_few="shrink")
    with caplog.at_level(logging.INFO, logger="stages.video.kmeans"):
        tree = _fit(out, sorted(videos), cfg)
    assert tree.depth == 1 and tree.n_train == 100
    assert "100 clips fit about 2 words at the floor, not 16" in caplog.text
    assert "--kmeans_too_few=shrink fits depth 1, not 4" in caplog.text


def test_nonfinite_clips_never_reach_the_tree(tmp_path, caplog):
    out = str(tmp_path)
    videos = _corpus(out, n_videos=6)
    bad = videos["v0-03"].copy()
    bad[::2, 0] = np.nan
    bad[1, 1] = np.inf
    write_features(out, "v0-03", bad)
    cfg = KMeansConfig(k=2, depth=2, niter=5)
    with caplog.at_level(logging.WARNING, logger="stages.video.kmeans"):
        tree = _fit(out, sorted(videos), cfg)
    assert tree.n_train == 180 - 16  # 15 NaN rows + 1 inf row left out
    assert all(np.isfinite(c).all() for c in tree.centroids)
    assert "v0-03: 16 sampled clips with NaN/Inf features left out" in caplog.text


def test_empty_input_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no features found"):  # noqa: SIM117
        with TestPipeline(runner="FnApiRunner") as p:
            _ = p | beam.Create([]) | FitHierarchicalKMeans(FeatureFiles(str(tmp_path)))


def test_pretraining_rule():
    ok, failed = {"status": "ok"}, {"status": "corrupt_media"}
    assert pretraining_ids(("a", {"status": [ok], "split": ["train"]})) == ["a"]
    assert pretraining_ids(("b", {"status": [ok], "split": [None]})) == ["b"]  # own videos
    assert pretraining_ids(("c", {"status": [ok], "split": ["heldout"]})) == []
    assert pretraining_ids(("d", {"status": [ok], "split": ["youcook2"]})) == []  # any eval
    assert pretraining_ids(("e", {"status": [failed], "split": ["train"]})) == []
    assert pretraining_ids(("f", {"status": [ok], "split": []})) == []  # no record: not proven


def _stage(out, videos, cfg, records, force=False):
    status = [{"video_id": v, "status": "ok"} for v in videos]
    with TestPipeline(runner="FnApiRunner") as p:
        recs = p | "Videos" >> beam.Create(records)
        tree = (
            p | beam.Create(status) | FitOrLoadKMeans(out, cfg, "features-fp", force, videos=recs)
        )
        assert_that(tree | beam.Map(lambda t: t.k), equal_to([cfg.k]))
    return load_tree(f"{out}/kmeans/centroids.parquet")


def test_heldout_clips_are_assigned_never_fitted(tmp_path):
    out = str(tmp_path)
    train = _corpus(out, n_videos=6, seed=0)
    heldout = _corpus(out, n_videos=3, seed=1, offset=1000.0)  # far from every train clip
    records = [{"video_id": v, "split": "train"} for v in train]
    records += [{"video_id": v, "split": "heldout"} for v in heldout]
    cfg = KMeansConfig(k=2, depth=2, niter=5, sample_size=1000)
    tree = _stage(out, [*train, *heldout], cfg, records)
    assert tree.n_train == 6 * 30
    assert max(float(np.abs(c).max()) for c in tree.centroids) < 500  # no held-out centroid
    everything = _stage(out, [*train, *heldout], cfg,
                        [{**r, "split": "train"} for r in records], force=True)  # fmt: skip
    assert everything.n_train == 9 * 30  # the rule, not the data, kept them out


def test_tree_is_reused_and_refit_for_another_configuration(tmp_path):
    out = str(tmp_path)
    videos = _corpus(out, n_videos=4)
    records = [{"video_id": v, "split": None} for v in videos]
    cfg = KMeansConfig(k=2, depth=2, niter=5)
    first = _stage(out, videos, cfg, records)
    path = tmp_path / "kmeans" / "centroids.parquet"
    mtime = path.stat().st_mtime_ns
    assert _stage(out, videos, cfg, records).fingerprint() == first.fingerprint()
    assert path.stat().st_mtime_ns == mtime  # reused, not rewritten
    other = _stage(out, videos, KMeansConfig(k=3, depth=2, niter=5), records)
    assert other.k == 3 and path.stat().st_mtime_ns != mtime
