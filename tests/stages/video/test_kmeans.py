import logging
import pickle

import numpy as np
import pyarrow.parquet as pq
import pytest

from schemas import CENTROIDS
from stages.video.kmeans import CentroidTree, KMeansConfig, fit_tree, sample_priority

SMALL = KMeansConfig(k=4, depth=3, niter=10)


pytestmark = pytest.mark.usefixtures("one_faiss_thread")


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


def test_assign_equals_brute_force_descent(monkeypatch):
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
    monkeypatch.setattr("schemas.tree.ASSIGN_BLOCK", 7)  # blocks not dividing 300: same leaves
    np.testing.assert_array_equal(tree.assign(x), expected)
    assert tree.assign(x[:0]).shape == (0,)


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


def test_empty_input_is_a_clear_error():
    with pytest.raises(ValueError, match="no features found"):
        fit_tree(np.empty((0, 16), np.float32), SMALL)


def test_tree_records_points_per_node_and_reads_trees_written_before_it(tmp_path):
    x = _random(n=3000)
    cfg = KMeansConfig(k=4, depth=3, niter=5, max_points_per_centroid=100)
    tree = fit_tree(x, cfg)
    assert tree.fitted[0][:4].tolist() == [400] * 4  # 3000 points, faiss keeps 4 x 100
    parents = tree.counts[1].reshape(4, 4).sum(axis=1)  # level-2 branches, below the cap
    np.testing.assert_array_equal(tree.fitted[1].reshape(4, 4)[:, 0], np.minimum(parents, 400))
    occupancy = tree.occupancy()
    assert occupancy["empty_leaves"] == 0 and occupancy["leaf_points_max"] >= 3000 // 64
    assert occupancy["levels"][0]["min_points_per_centroid"] == 100.0
    back = CentroidTree.from_table(tree.to_table())
    for a, b in zip(back.fitted, tree.fitted, strict=True):
        np.testing.assert_array_equal(a, b)
    old = tree.to_table().drop_columns(["fitted"])  # a file from before the column existed
    legacy = CentroidTree.from_table(old)
    assert legacy.fingerprint() == tree.fingerprint()
    assert legacy.fitted[0][:4].tolist() == [3000] * 4  # the parent's count: no cap known
