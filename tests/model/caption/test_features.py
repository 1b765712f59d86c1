"""VideoBERT template features on a real (small, random) model; the Parquet cache."""

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from model.caption.features import (
    TEMPLATE,
    VideoBertFeatures,
    cached_features,
    check_vocabulary,
    fingerprint,
)
from model.config import VideoBertConfig
from model.modeling import VideoBertForPreTraining
from schemas.caption import CAPTION_FEATURES
from schemas.text import load_tokenizer
from tests.model.tiny import write_centroids

VISUALS = [[0, 1, 2], [3], [4, 5, 6, 7, 8, 0, 1]]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    config = VideoBertConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
        num_visual_tokens=9, visual_k=3, visual_depth=2,
    )  # fmt: skip
    path = tmp_path_factory.mktemp("vb") / "final"
    VideoBertForPreTraining(config).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def extractor(model_dir):
    model = VideoBertForPreTraining.from_pretrained(model_dir)
    return VideoBertFeatures(model, load_tokenizer(None), batch_size=2)


def test_features_are_the_mean_states_at_video_and_masked_positions(extractor):
    features = extractor(VISUALS)  # batches of 2: padded rows
    assert features.shape == (3, 64)
    cfg, tok = extractor.cfg, load_tokenizer(None)
    for visual, row in zip(VISUALS, features, strict=True):
        text = tok(TEMPLATE, add_special_tokens=False)["input_ids"]
        ids = [cfg.cls_token_id, *text, cfg.video_sep_id, *(cfg.visual_id(t) for t in visual),
               cfg.sep_token_id]  # fmt: skip
        types = [0] * (len(text) + 2) + [1] * (len(visual) + 1)
        with torch.no_grad():
            h = extractor.model.bert(torch.tensor([ids]), token_type_ids=torch.tensor([types]))
        h = h.last_hidden_state[0]
        ids = torch.tensor(ids)
        video = h[cfg.is_visual(ids)].mean(0)
        masked = h[ids == cfg.mask_token_id].mean(0)
        assert (ids == cfg.mask_token_id).sum() == 5
        np.testing.assert_allclose(row, torch.cat([video, masked]).numpy(), atol=1e-5)


def test_cache_computes_only_new_segments_and_is_keyed_by_the_fingerprint(
    extractor, model_dir, tmp_path
):
    fp = fingerprint(model_dir, 32)
    assert fp == fingerprint(model_dir, 32) != fingerprint(model_dir, 16)
    first = cached_features(extractor, fp, tmp_path, ["a:0", "b:0"], VISUALS[:2])
    table = pq.read_table(tmp_path / f"videobert-{fp}.parquet")
    assert table.schema.remove_metadata() == CAPTION_FEATURES
    assert table.schema.metadata[b"fingerprint"] == fp.encode()

    calls = []

    def counting(visuals):
        calls.append(len(visuals))
        return extractor(visuals)

    both = cached_features(
        counting, fp, tmp_path, ["b:0", "a:0", "c:0"], VISUALS[1::-1] + VISUALS[2:]
    )
    assert calls == [1]  # only c:0
    np.testing.assert_array_equal(both[:2], first[::-1])
    np.testing.assert_allclose(both[2], extractor([VISUALS[2]])[0], atol=1e-5)
    other = cached_features(counting, "0" * 16, tmp_path, ["a:0"], VISUALS[:1])
    assert calls == [1, 1]  # another model's cache: computed again
    np.testing.assert_allclose(other, first[:1], atol=1e-6)


def test_vocabulary_must_be_the_corpus_tree(extractor, tmp_path):
    write_centroids(tmp_path / "c.parquet")  # k=3, depth=2: the model's
    check_vocabulary(extractor.cfg, tmp_path / "c.parquet", "m")
    other = VideoBertConfig(num_visual_tokens=16, visual_k=4, visual_depth=2)
    with pytest.raises(ValueError, match="k=4, depth=2.*k=3, depth=2.*Pretrain on this corpus"):
        check_vocabulary(other, tmp_path / "c.parquet", "m")
    with pytest.raises(FileNotFoundError, match="make corpus"):
        check_vocabulary(other, tmp_path / "none.parquet", "m")
