"""The ClipBERT model: visual grid, position embeddings, frame pooling, scores, weight loading."""

import pytest
import torch
import torchvision
import torchvision.models._api as tv_api

from model.clipbert.init import TrunkWeightsUnavailableError, build_clipbert
from model.clipbert.modeling import (
    ClipBertConfig,
    ClipBertForRetrieval,
    aggregate,
    negative_pairs,
)
from model.init import minilm_dir
from tests.model.clipbert.world import TINY_BERT


def tiny(trunk="resnet18", **kw) -> ClipBertForRetrieval:
    sizes = {**TINY_BERT, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    return build_clipbert("random", trunk, "random", **sizes, **kw).eval()


def frames(b=2, n=1, t=1, side=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, n, t, side, side, 3), dtype=torch.uint8, generator=g)


def test_resnet50_conv5_becomes_a_pooled_grid_of_hidden_size_tokens():
    model = tiny("resnet50")
    assert model.proj.in_channels == 2048 and model.proj.out_channels == 32
    with torch.no_grad():
        assert model.encode_video(frames(side=64)).shape == (2, 1, 1, 32)  # 2x2 → 1x1
        assert model.encode_video(frames(side=128)).shape == (2, 1, 4, 32)  # 4x4 → 2x2
        assert model.encode_video(frames(side=96)).shape == (2, 1, 4, 32)  # 3x3 → 2x2 (ceil)


@torch.no_grad()
def test_rows_and_columns_get_their_own_position_embeddings():
    model = tiny()
    model.visual_norm = torch.nn.Identity()  # so the embeddings show as they are added
    clip = frames(b=1, side=128)
    with_positions = model.encode_video(clip)[0, 0]  # (4, H): (0,0) (0,1) (1,0) (1,1)
    row, col = model.row_embeddings.weight.clone(), model.col_embeddings.weight.clone()
    model.row_embeddings.weight.zero_()
    model.col_embeddings.weight.zero_()
    added = with_positions - model.encode_video(clip)[0, 0]
    for k, (r, c) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        assert torch.allclose(added[k], row[r] + col[c], atol=1e-5)


@torch.no_grad()
def test_frames_of_a_clip_are_mean_pooled():
    model = tiny()
    model.visual_norm = torch.nn.Identity()  # to compare the pooled features themselves
    model.row_embeddings.weight.zero_()
    model.col_embeddings.weight.zero_()
    a, b = frames(b=1, seed=1), frames(b=1, seed=2)
    both = model.encode_video(torch.cat([a, b], dim=2))  # one clip of T=2 frames
    mean = (model.encode_video(a) + model.encode_video(b)) / 2
    assert torch.allclose(both, mean, atol=1e-5)


def test_aggregation_and_in_batch_negatives():
    s = torch.tensor([[0.0, 2.0], [1.0, 1.0]])
    assert aggregate(s, "mean").tolist() == [1.0, 1.0]
    lse = aggregate(s, "lse")
    assert lse[1].item() == pytest.approx(1.0) and lse[0].item() > 1.0  # LSE favours a peak
    texts, videos = negative_pairs(4, 2)
    assert texts.tolist() == [[0, 0, 0], [1, 1, 1], [2, 2, 2], [3, 3, 3]]
    assert videos.tolist() == [[0, 1, 2], [1, 2, 3], [2, 3, 0], [3, 0, 1]]
    assert negative_pairs(2, 7)[1].tolist() == [[0, 1], [1, 0]]  # at most batch - 1
    with pytest.raises(ValueError, match="aggregate"):
        ClipBertConfig(aggregate="max")


def test_a_training_step_reaches_the_trunk_grid_bert_and_head():
    model = tiny().train()
    ids = torch.tensor([[101, 2417, 102], [101, 2665, 102], [101, 2630, 102]])
    loss, scores = model(frames(b=3, n=2), ids, torch.ones_like(ids), negatives=2)
    assert scores.shape == (3, 3) and torch.isfinite(loss)
    loss.backward()
    for name in ("trunk.0.weight", "proj.weight", "row_embeddings.weight",
                 "bert.encoder.layer.0.attention.self.query.weight", "match.weight"):  # fmt: skip
        assert model.get_parameter(name).grad.abs().sum() > 0, name


def test_save_and_load_give_the_same_scores(tmp_path):
    model = tiny()
    ids = torch.tensor([[101, 2417, 102]])
    with torch.no_grad():
        visual = model.encode_video(frames(b=1, n=3))
        before = model.clip_scores(ids, torch.ones_like(ids), visual)
        model.save_pretrained(tmp_path)
        loaded = ClipBertForRetrieval.from_pretrained(tmp_path).eval()
        after = loaded.clip_scores(ids, torch.ones_like(ids), loaded.encode_video(frames(b=1, n=3)))
    assert before.shape == (1, 3) and torch.allclose(before, after, atol=1e-5)


def test_pretrained_bert_and_trunk_weights_are_copied(tmp_path):
    resnet = torchvision.models.resnet18()
    torch.save(resnet.state_dict(), tmp_path / "r18.pth")
    model = build_clipbert("minilm-local", "resnet18", str(tmp_path / "r18.pth"))
    from transformers import BertModel

    minilm = BertModel.from_pretrained(minilm_dir())
    q = "encoder.layer.5.attention.self.query.weight"
    assert torch.equal(model.bert.get_parameter(q), minilm.get_parameter(q))
    assert torch.equal(model.trunk[0].weight, resnet.conv1.weight)
    assert model.config.cls_token_id == 101 and model.config.hidden_size == 384


def test_offline_imagenet_weights_name_the_url_and_the_fix(monkeypatch, tmp_path):
    real = tv_api.load_state_dict_from_url
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # nothing cached
    # The real download path, sent to a closed loopback port (never the internet).
    monkeypatch.setattr(
        tv_api,
        "load_state_dict_from_url",
        lambda url, **kw: real("http://127.0.0.1:9/" + url.rsplit("/", 1)[1], **kw),
    )
    with pytest.raises(TrunkWeightsUnavailableError) as err:
        build_clipbert("random", "resnet50", "imagenet", **TINY_BERT)
    assert "resnet50-0676ba61.pth" in str(err.value)
    assert "--trunk_weights=random" in str(err.value) and "hub/checkpoints" in str(err.value)
    with pytest.raises(FileNotFoundError, match="not imagenet, random or a file"):
        build_clipbert("random", "resnet18", str(tmp_path / "nope.pth"), **TINY_BERT)
