"""tokens: assignment to the tree, bad features, a tree of another dimension."""

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline

from stages.store.stage import StageStore
from stages.store.status import WriteStatus
from stages.video.kmeans import KMeansConfig, fit_tree
from stages.video.tokens import AssignVisualTokens, BadFeatures, tokens_row, torch_assign
from tests.stages.video.test_kmeans_parallel import write_features
from tests.tables import status_table

CFG = KMeansConfig(k=3, depth=2, niter=5)


def _tree(dim=8, seed=0):
    return fit_tree(np.random.default_rng(seed).normal(size=(300, dim)).astype(np.float32), CFG)


def test_torch_descent_equals_the_numpy_descent():
    tree = _tree()
    x = np.random.default_rng(1).normal(size=(500, 8)).astype(np.float32)
    np.testing.assert_array_equal(torch_assign(tree, x, "cpu"), tree.assign(x))


def test_features_of_another_dimension_name_the_stage_to_rerun(tmp_path):
    write_features(str(tmp_path), "v", np.ones((4, 16), np.float32))
    features = StageStore(str(tmp_path), "features").read_data("v")
    with pytest.raises(ValueError, match=r"16-d features but the k-means tree .* is 8-d: rerun"):
        tokens_row(features, _tree(dim=8))


def test_nonfinite_features_get_bad_features_and_no_tokens(tmp_path):
    out, tree = str(tmp_path), _tree()
    x = np.random.default_rng(2).normal(size=(6, 8)).astype(np.float32)
    write_features(out, "good", x)
    x[3, 2] = np.nan
    write_features(out, "bad", x)
    with pytest.raises(BadFeatures, match="1 of 6 clips have NaN/Inf"):
        tokens_row(StageStore(out, "features").read_data("bad"), tree)
    rows = [{"video_id": v, "status": "ok"} for v in ("good", "bad")]
    with TestPipeline(runner="FnApiRunner") as p:
        trees = p | "Tree" >> beam.Create([tree])
        result = p | beam.Create(rows) | AssignVisualTokens(out, trees)
        _ = result.status | WriteStatus(StageStore(out, "tokens"))
    status = {r["video_id"]: r for r in status_table(out, "tokens").to_pylist()}
    assert status["good"]["status"] == "ok" and status["good"]["items"] == 6
    assert status["bad"]["status"] == "bad_features"
    assert "rerun the features stage" in status["bad"]["error_message"]
    assert StageStore(out, "tokens").is_done("good", tree.fingerprint())
    assert not StageStore(out, "tokens").is_done("bad", tree.fingerprint())
