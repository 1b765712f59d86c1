import os
import pickle

import apache_beam as beam
import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import torchvision.models._api as tv_api
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas import CLIPS, FEATURES, Status
from stages.video.features import (
    ExtractS3DFeatures,
    FeaturesConfig,
    S3DModelHandler,
    WeightsUnavailableError,
    build_s3d,
    embed,
    prefetch,
    to_input,
)
from stages.video.frames import FramesConfig, MediaError
from stages.video.media import write_video

RANDOM = FeaturesConfig(weights="random", seed=0)


@pytest.fixture(scope="module")
def model():
    return build_s3d(RANDOM)


@pytest.fixture(scope="module")
def clips():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(2, 30, 64, 64, 3), dtype=np.uint8)


def test_input_is_normalised_channels_last_3d_without_copy(clips):
    x = to_input(clips)
    assert x.shape == (2, 3, 30, 64, 64)
    assert x.is_contiguous(memory_format=torch.channels_last_3d)
    r = clips[1, 7, 5, 9, 0] / 255.0
    assert x[1, 0, 7, 5, 9].item() == pytest.approx((r - 0.43216) / 0.22803, abs=1e-5)


def test_embed_gives_one_1024_vector_per_clip_for_any_size(model, clips):
    y = embed(model, clips)
    assert y.shape == (2, 1024) and y.dtype == np.float32 and np.isfinite(y).all()
    # batching does not change a clip's vector
    np.testing.assert_allclose(embed(model, clips[1:]), y[1:], rtol=1e-4, atol=1e-5)


def test_random_weights_are_seeded(model, clips):
    again = build_s3d(RANDOM)
    np.testing.assert_array_equal(embed(again, clips), embed(model, clips))


def test_state_dict_path_loads_with_weights_only(tmp_path, model, clips):
    path = tmp_path / "s3d.pth"
    torch.save(model.state_dict(), path)
    loaded = build_s3d(FeaturesConfig(weights=str(path)))
    np.testing.assert_array_equal(embed(loaded, clips), embed(model, clips))


class _Exploit:
    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(MARKER),))


MARKER = ""


def test_pickled_code_in_weights_is_refused(tmp_path):
    global MARKER
    MARKER = str(tmp_path / "pwned")
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"x": _Exploit()}, f)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        build_s3d(FeaturesConfig(weights=str(path)))
    assert not (tmp_path / "pwned").exists()


def test_offline_kinetics_weights_name_the_url_and_the_fix(monkeypatch, tmp_path):
    real = tv_api.load_state_dict_from_url
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no cached weights
    # Same code path, but the download goes to a closed loopback port (never the internet).
    monkeypatch.setattr(
        tv_api,
        "load_state_dict_from_url",
        lambda url, **kw: real("http://127.0.0.1:9/" + url.rsplit("/", 1)[1], **kw),
    )
    with pytest.raises(WeightsUnavailableError) as err:
        build_s3d(FeaturesConfig(weights="kinetics400"))
    assert "s3d-d76dad2f.pth" in str(err.value)
    assert "--weights=random" in str(err.value) and "hub/checkpoints" in str(err.value)


def test_handler_runs_under_run_inference_with_keys(model, clips):
    expected = embed(model, clips)

    def check(results):
        got = dict(results)
        assert sorted(got) == ["a", "b"]
        np.testing.assert_allclose(got["a"].inference, expected[0], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(got["b"].inference, expected[1], rtol=1e-4, atol=1e-5)

    handler = KeyedModelHandler(S3DModelHandler(FeaturesConfig(weights="random", batch_size=2)))
    with TestPipeline(runner="FnApiRunner") as p:
        results = p | beam.Create([("a", clips[0]), ("b", clips[1])]) | RunInference(handler)
        assert_that(results, check)


@pytest.mark.parametrize("with_features", [False, True])
def test_extract_writes_per_video_outputs_and_one_status_each(tmp_path, with_features, caplog):
    out = str(tmp_path / "out")
    good, bad = tmp_path / "good.mp4", tmp_path / "bad.mp4"
    rng = np.random.default_rng(1)
    write_video(good, (rng.integers(0, 256, (48, 64, 3), np.uint8) for _ in range(75)), fps=25)
    bad.write_bytes(b"not a video")
    videos = [
        {"video_id": "good", "uri": str(good)},
        {"video_id": "bad", "uri": str(bad)},
        {"video_id": "gone", "uri": str(tmp_path / "missing.mp4")},
    ]
    cfg = FeaturesConfig(weights="random", batch_size=4) if with_features else None

    def summary(row):
        return (
            row["video_id"],
            row["stage"],
            row["status"],
            row["items"],
            bool(row["error_message"]),
        )

    with TestPipeline(runner="FnApiRunner") as p:
        res = p | beam.Create(videos) | ExtractS3DFeatures(out, FramesConfig(side=32), cfg)
        assert_that(
            res.frames_status | "F" >> beam.Map(summary),
            equal_to(
                [
                    ("good", "frames", "ok", 2, False),
                    ("bad", "frames", "corrupt_media", 0, True),
                    ("gone", "frames", "unavailable", 0, True),
                ]
            ),
            label="frames",
        )
        expected = [
            ("good", "features", "ok", 2, False),
            ("bad", "features", "corrupt_media", 0, True),
            ("gone", "features", "unavailable", 0, True),
        ]
        assert_that(
            res.features_status | "S" >> beam.Map(summary),
            equal_to(expected if with_features else []),
            label="features",
        )
    clips = pq.read_table(f"{out}/frames/data/good.parquet")
    assert clips.schema.remove_metadata() == CLIPS and clips.num_rows == 2
    assert sorted(os.listdir(f"{out}/frames/data")) == ["good.parquet"]
    if with_features:
        feats = pq.read_table(f"{out}/features/data/good.parquet")
        assert feats.schema.remove_metadata() == FEATURES
        assert feats.column("clip_index").to_pylist() == [0, 1]
        assert np.isfinite(np.stack(feats.column("feature").to_numpy(zero_copy_only=False))).all()
    else:
        assert not os.path.exists(f"{out}/features")
    warned = {r.getMessage().split(":")[0] for r in caplog.records if r.levelname == "WARNING"}
    assert {"bad", "gone"} <= warned


def test_prefetch_keeps_order_and_reraises_after_the_good_items():
    def items():
        yield from range(5)
        raise MediaError(Status.TRUNCATED_MEDIA, "boom")

    got = []
    with pytest.raises(MediaError, match="boom"):
        for x in prefetch(items(), depth=2):
            got.append(x)
    assert got == [0, 1, 2, 3, 4]


def test_prefetch_stops_its_producer_when_the_consumer_stops():
    produced = []

    def items():
        for i in range(1000):
            produced.append(i)
            yield i

    it = prefetch(items(), depth=2)
    assert [next(it), next(it)] == [0, 1]
    it.close()
    assert len(produced) < 10


def test_truncated_media_carries_its_reason_into_features(tmp_path):
    from tests.stages.video.test_frames import packets, painted

    path, out = tmp_path / "cut.mp4", str(tmp_path / "out")
    write_video(path, painted(120), fps=30)
    pos, size, _ = packets(path)[75]  # frames 0-74 decode (one clip), then garbage
    data = bytearray(path.read_bytes())
    data[pos : pos + size] = b"\xff" * size
    path.write_bytes(data)

    def summary(row):
        return row["stage"], row["status"], row["items"], row["error_message"].split(":")[0]

    with TestPipeline(runner="FnApiRunner") as p:
        res = (
            p
            | beam.Create([{"video_id": "cut", "uri": str(path)}])
            | ExtractS3DFeatures(out, FramesConfig(side=32), RANDOM)
        )
        statuses = (res.frames_status, res.features_status) | beam.Flatten()
        assert_that(
            statuses | beam.Map(summary),
            equal_to(
                [
                    ("frames", "truncated_media", 1, "decoding failed after 1 clips"),
                    ("features", "truncated_media", 1, "frames"),
                ]
            ),
        )
    assert pq.read_table(f"{out}/features/data/cut.parquet").num_rows == 1
