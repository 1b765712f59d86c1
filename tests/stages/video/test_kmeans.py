import logging
import pickle

import apache_beam as beam
import faiss
import numpy as np
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas import CENTROIDS
from stages.video.kmeans import (
    CentroidTree,
    FitHierarchicalKMeans,
    KMeansConfig,
    SampleClipsFn,
    fit_tree,
    sample_priority,
)

SMALL = KMeansConfig(k=4, depth=3, niter=10)


@pytest.fixture(autouse=True, scope="module")
def _one_faiss_thread():
    """Tiny fits gain nothing from threads, and OpenMP stalls badly on a busy 2-core box."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(threads)


def _blobs(n_top=3, n_sub=3, per_sub=60, dim=16, seed=0):
    """Points in n_top far-apart blobs of n_sub sub-blobs each, with (top, sub) labels."""
    rng = np.random.default_rng(seed)
    top = rng.normal(size=(n_top, 1, dim)) * 100
    sub = top + rng.normal(size=(n_top, n_sub, dim)) * 10
    labels = np.repeat(np.arange(n_top * n_sub), per_sub)
    x = sub.reshape(-1, dim)[labels] + rng.normal(size=(len(labels), dim)) * 0.5
    return x.astype(np.float32), labels // n_sub, labels


def _random(n=2000, dim=32, seed=0):
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


def _videos(n_videos=20, dim=8, seed=0):
    """Per-video elements whose feature rows encode (video number, clip index)."""
    rng = np.random.default_rng(seed)
    elements = []
    for v in range(n_videos):
        clips = np.arange(rng.integers(0, 16), dtype=np.int32)
        feature = rng.normal(size=(len(clips), dim)).astype(np.float32)
        feature[:, 0], feature[:, 1] = v, clips
        elements.append((f"video-{v}", {"clip_index": clips, "feature": feature}))
    return elements


def _combine(fn, bundles):
    """Run a CombineFn by hand: one accumulator per bundle, compacted, merged, extracted."""
    accumulators = []
    for bundle in bundles:
        acc = fn.create_accumulator()
        for element in bundle:
            acc = fn.add_input(acc, element)
        accumulators.append(pickle.loads(pickle.dumps(fn.compact(acc))))
    return fn.extract_output(fn.merge_accumulators(accumulators))


def test_leaf_ids_in_range_and_counts_match_assignment():
    x = _random()
    tree = fit_tree(x, SMALL)
    ids = tree.assign(x)
    assert ids.dtype == np.int32 and ids.shape == (2000,)
    assert ids.min() >= 0 and ids.max() < 4**3
    assert [int(c.sum()) for c in tree.counts] == [2000, 2000, 2000]
    np.testing.assert_array_equal(np.bincount(ids, minlength=64), tree.counts[-1])
    leaves, mask = tree.leaf_centroids()
    assert leaves.shape == (64, 32) and mask.sum() == 64
    assert (tree.n_train, tree.depth, tree.dim) == (2000, 3, 32)


def test_fit_is_deterministic_and_seeded():
    x = _random()
    a, b = fit_tree(x, SMALL), fit_tree(x, SMALL)
    for ca, cb in zip(a.centroids, b.centroids, strict=True):
        np.testing.assert_array_equal(ca, cb)
    assert a.fingerprint() == b.fingerprint()
    other = fit_tree(x, KMeansConfig(k=4, depth=3, niter=10, seed=1))
    assert other.fingerprint() != a.fingerprint()


def test_blobs_recover_the_cluster_structure(caplog):
    x, top, sub = _blobs()
    with caplog.at_level(logging.INFO, logger="stages.video.kmeans"):
        tree = fit_tree(x, KMeansConfig(k=3, depth=2))
    ids = tree.assign(x)
    level1 = ids // 3
    # each blob lands on one level-1 node, each sub-blob on one leaf, all different
    assert sorted({int(level1[top == t][0]) for t in range(3)}) == [0, 1, 2]
    assert all(np.unique(level1[top == t]).size == 1 for t in range(3))
    assert all(np.unique(ids[sub == s]).size == 1 for s in range(9))
    assert np.unique(ids).size == 9
    assert "k-means level 2/2: 3 branches fitted on 540 points → 9 nodes" in caplog.text


def test_branch_with_fewer_points_than_k_makes_each_distinct_point_a_child():
    x = np.array([[1, 2], [1, 2], [3, 4]], np.float32)
    tree = fit_tree(x, KMeansConfig(k=4, depth=2))
    assert [np.flatnonzero(c).tolist() for c in tree.counts] == [[0, 1], [0, 4]]
    assert tree.counts[-1][[0, 4]].tolist() == [2, 1]
    np.testing.assert_array_equal(tree.assign(x), [0, 0, 4])
    leaves, mask = tree.leaf_centroids()
    np.testing.assert_array_equal(leaves[mask], [[1, 2], [3, 4]])
    assert mask.sum() == 2 and not leaves[~mask].any()
    # a new point near a present leaf still descends to an existing leaf
    assert tree.assign(np.array([[2.9, 4.2]], np.float32)).tolist() == [4]


def test_duplicate_points_drop_empty_clusters():
    pts = np.eye(3, 16, dtype=np.float32) * 10
    x = np.repeat(pts, [50, 30, 20], axis=0)  # 100 points but 3 distinct, k = 4
    tree = fit_tree(x, KMeansConfig(k=4, depth=3))
    ids = tree.assign(x)
    assert np.unique(ids).size == 3
    assert all(np.unique(ids[x[:, i] == 10]).size == 1 for i in range(3))
    assert sorted(tree.counts[-1][tree.counts[-1] > 0].tolist()) == [20, 30, 50]
    assert [int((c > 0).sum()) for c in tree.counts] == [3, 3, 3]
    single = fit_tree(np.ones((50, 8), np.float32), KMeansConfig(k=4, depth=3))
    assert [int((c > 0).sum()) for c in single.counts] == [1, 1, 1]
    leaf = int(np.flatnonzero(single.counts[-1])[0])
    assert single.assign(np.ones((5, 8), np.float32)).tolist() == [leaf] * 5


def test_table_round_trip_through_parquet(tmp_path):
    x = _random(n=600)
    tree = fit_tree(x, SMALL)
    table = tree.to_table()
    assert table.schema.equals(CENTROIDS)
    assert table.schema.metadata[b"k"] == b"4" and table.schema.metadata[b"n_train"] == b"600"
    assert {b"depth", b"dim", b"seed", b"niter", b"fingerprint"} <= table.schema.metadata.keys()
    level, node, parent = (table[c].to_numpy() for c in ("level", "node", "parent"))
    assert table.num_rows == 4 + 16 + 64
    assert list(zip(level, node, strict=True)) == sorted(zip(level, node, strict=True))
    np.testing.assert_array_equal(parent[level > 1], node[level > 1] // 4)
    assert not parent[level == 1].any()
    pq.write_table(table, tmp_path / "centroids.parquet", compression="zstd")
    back = CentroidTree.from_table(pq.read_table(tmp_path / "centroids.parquet"))
    assert back.fingerprint() == tree.fingerprint()
    np.testing.assert_array_equal(back.assign(x), tree.assign(x))
    unpickled = pickle.loads(pickle.dumps(tree))
    np.testing.assert_array_equal(unpickled.assign(x), tree.assign(x))


def test_from_table_rejects_a_tampered_centroid():
    table = fit_tree(_random(n=300), SMALL).to_table()
    rows = table.to_pylist()
    rows[5]["centroid"][0] += 1.0
    tampered = type(table).from_pylist(rows, schema=table.schema)
    with pytest.raises(ValueError, match="fingerprint"):
        CentroidTree.from_table(tampered)


def test_assign_equals_brute_force_descent():
    tree = fit_tree(_random(n=1500, seed=1), SMALL)
    x = _random(n=300, seed=2)
    expected = []
    for row in x.astype(np.float64):
        node = 0
        for level in range(tree.depth):
            kids = [c for c in range(node * 4, node * 4 + 4) if tree.counts[level][c] > 0]
            dist = [np.sum((row - tree.centroids[level][c]) ** 2) for c in kids]
            node = kids[int(np.argmin(dist))]
        expected.append(node)
    np.testing.assert_array_equal(tree.assign(x), expected)


def test_sample_priority_is_stable_and_vectorised():
    assert sample_priority("video-0", [0, 1, 2], 0).tolist() == [
        15723067803980690535,
        11841683598069144921,
        15327904115616328671,
    ]
    mixed = sample_priority(["b", "a", "b"], np.array([0, 0, 1], np.int32), 0)
    assert mixed.dtype == np.uint64
    assert mixed.tolist() == [
        *sample_priority("b", [0], 0).tolist()[:1],
        *sample_priority("a", [0], 0).tolist(),
        *sample_priority("b", [1], 0).tolist(),
    ]
    assert sample_priority("video-0", [0], 1)[0] != sample_priority("video-0", [0], 0)[0]
    many = sample_priority(
        [f"v{i}" for i in range(100) for _ in range(100)], np.tile(range(100), 100)
    )
    assert np.unique(many).size == 10_000


@pytest.mark.parametrize("size", [10, 50])
def test_sample_keeps_the_smallest_priorities_whatever_the_bundling(size):
    elements = _videos()
    fn = SampleClipsFn(size, seed=0)
    prio = np.concatenate([sample_priority(v, c["clip_index"]) for v, c in elements])
    rows = np.concatenate([c["feature"] for _, c in elements])
    expected = rows[np.argsort(prio)[:size]]
    order = np.random.default_rng(1).permutation(len(elements))
    shuffled = [elements[i] for i in order]
    for bundles in ([elements], [elements[::-1]], [shuffled[i::4] for i in range(4)]):
        np.testing.assert_array_equal(_combine(fn, bundles), expected)
    assert len(prio) > 2 * size + 16  # compaction and the cutoff were exercised
    acc, peak = fn.create_accumulator(), 0
    for element in elements:
        acc = fn.add_input(acc, element)
        peak = max(peak, acc.rows)
    assert peak <= 2 * size and fn.compact(acc).rows == size  # memory stays bounded


def test_fit_transform_in_pipeline_matches_direct_fit():
    elements = _videos(n_videos=40, dim=16)
    cfg = KMeansConfig(k=3, depth=2, sample_size=200)
    expected = fit_tree(_combine(SampleClipsFn(200), [elements]), cfg).fingerprint()
    with TestPipeline(runner="FnApiRunner") as p:
        trees = p | beam.Create(elements) | FitHierarchicalKMeans(cfg)
        summary = trees | beam.Map(lambda t: (t.n_train, t.k, t.depth, t.fingerprint()))
        assert_that(summary, equal_to([(200, 3, 2, expected)]))


def test_empty_input_is_a_clear_error():
    with pytest.raises(ValueError, match="no features found"):
        fit_tree(np.empty((0, 16), np.float32), SMALL)
    with pytest.raises(ValueError, match="no features found"):  # noqa: SIM117
        with TestPipeline(runner="FnApiRunner") as p:
            _ = p | beam.Create([]) | FitHierarchicalKMeans(SMALL)
