"""VideoBERT model: heads, frozen embeddings, save/load, initialisation from BERT and centroids."""

import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from transformers import AutoModelForPreTraining, BertConfig, BertForPreTraining

from model.data import PretrainingData, load_segments
from model.init import build_model, minilm_dir, project_centroids, raw_centroids, read_centroids
from model.modeling import VideoBertForPreTraining
from tests.model.tiny import DIM, SIZES, K, write_centroids, write_segments


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return write_segments(root / "segments.parquet"), write_centroids(root / "centroids.parquet")


def tiny_model(corpus, seed=0):
    torch.manual_seed(seed)
    return build_model("random", corpus[1], seed=seed, **SIZES)


def fixed_batch(corpus, model):
    data = PretrainingData(load_segments(corpus[0]), model.config, max_len=24, seed=0)
    batch = data.batch(0, range(16))
    batch.pop("regime")
    return batch


def test_loss_falls_on_a_fixed_batch_and_only_unfrozen_weights_move(corpus):
    model = tiny_model(corpus)
    batch = fixed_batch(corpus, model)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(30):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    embeddings = model.bert.embeddings.word_embeddings.weight
    assert not embeddings.requires_grad
    assert model.cls.predictions.decoder.weight is embeddings  # tied, so frozen too
    assert torch.equal(embeddings, before["bert.embeddings.word_embeddings.weight"])
    for name in ("bert.encoder.layer.0.attention.self.query.weight", "cls.predictions.bias"):
        assert not torch.equal(dict(model.named_parameters())[name], before[name]), name


def test_mlm_head_runs_only_on_masked_positions(corpus):
    model = tiny_model(corpus).eval()
    batch = fixed_batch(corpus, model)
    with torch.no_grad():
        full = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
        masked = model(**batch)
    selected = batch["labels"] != -100
    assert masked.logits.shape == (int(selected.sum()), model.config.vocab_size)
    assert full.logits.shape == (*batch["input_ids"].shape, model.config.vocab_size)
    torch.testing.assert_close(masked.logits, full.logits[selected], atol=1e-5, rtol=1e-5)
    assert masked.alignment_logits.shape == (16, 2)
    assert masked.loss == pytest.approx(float(masked.mlm_loss + masked.alignment_loss))
    assert model.config._attn_implementation == "sdpa"


def test_from_pretrained_round_trip_gives_identical_outputs(corpus, tmp_path):
    model = tiny_model(corpus).eval()
    model.save_pretrained(tmp_path / "m")
    for loader in (VideoBertForPreTraining, AutoModelForPreTraining):
        loaded = loader.from_pretrained(tmp_path / "m").eval()
        assert isinstance(loaded, VideoBertForPreTraining)
        assert not loaded.bert.embeddings.word_embeddings.weight.requires_grad
        batch = fixed_batch(corpus, model)
        with torch.no_grad():
            a, b = model(**batch), loaded(**batch)
        assert torch.equal(a.logits, b.logits)
        assert torch.equal(a.alignment_logits, b.alignment_logits)
    assert loaded.config.visual_id(np.array([0, 8])).tolist() == [30523, 30531]
    assert loaded.config.video_sep_id == 30522 and loaded.config.vocab_size == 30522 + 1 + 9


def test_init_from_a_local_bert_dir_copies_its_weights_and_the_centroids(corpus, tmp_path):
    bert = BertForPreTraining(BertConfig(**SIZES)).eval()
    bert.save_pretrained(tmp_path / "bert")
    shutil.copy(minilm_dir() / "vocab.txt", tmp_path / "bert" / "vocab.txt")
    model = build_model(str(tmp_path / "bert"), corpus[1])
    ours, theirs = model.state_dict(), bert.state_dict()
    for name in (
        "bert.encoder.layer.1.output.dense.weight",
        "bert.embeddings.position_embeddings.weight",
        "cls.predictions.transform.dense.weight",
    ):
        assert torch.equal(ours[name], theirs[name]), name
    # BERT's next-sentence class 0 ("is next") becomes our alignment class 1 ("aligned")
    for name in ("cls.seq_relationship.weight", "cls.seq_relationship.bias"):
        assert torch.equal(ours[name], theirs[name].flip(0)), name
    assert torch.equal(ours["cls.predictions.bias"][:30522], theirs["cls.predictions.bias"])
    assert not ours["cls.predictions.bias"][30522:].any()  # only the new ids start at 0
    assert model.config.text_init == str(tmp_path / "bert")
    words = model.bert.embeddings.word_embeddings.weight
    text = theirs["bert.embeddings.word_embeddings.weight"]
    assert torch.equal(words[:30522], text)
    assert torch.equal(words[model.config.video_sep_id], text[102])  # [>] starts as [SEP]
    centroids, _, _ = read_centroids(corpus[1])
    expected = project_centroids(centroids, 32, float(text.norm(dim=1).mean()), whiten=True)
    assert torch.equal(words[30523:], torch.from_numpy(expected))
    assert (model.config.pad_token_id, model.config.cls_token_id) == (0, 101)
    assert (model.config.sep_token_id, model.config.mask_token_id) == (102, 103)


def test_paper_init_copies_raw_centroids_when_sizes_match(corpus, tmp_path):
    """DIM-wide BERT: the visual embeddings are the centroids themselves, untouched."""
    bert = BertForPreTraining(BertConfig(**{**SIZES, "hidden_size": DIM, "num_attention_heads": 2}))
    bert.save_pretrained(tmp_path / "bert")
    model = build_model(str(tmp_path / "bert"), corpus[1], visual_init="raw", alignment_init="copy")
    centroids, _, _ = read_centroids(corpus[1])
    words = model.bert.embeddings.word_embeddings.weight
    assert torch.equal(words[30523:], torch.from_numpy(centroids))
    head = bert.state_dict()["cls.seq_relationship.weight"]
    assert torch.equal(model.cls.seq_relationship.weight, head)  # copy: as is
    fresh = build_model(str(tmp_path / "bert"), corpus[1], alignment_init="fresh")
    assert not torch.equal(fresh.cls.seq_relationship.weight, head)
    assert not torch.equal(fresh.cls.seq_relationship.weight, head.flip(0))


def test_raw_centroids_of_another_size_are_projected_and_logged(caplog):
    points = np.random.default_rng(5).standard_normal((40, 16)).astype(np.float32) + 2.0
    with caplog.at_level("INFO"):
        out = raw_centroids(points, 8)
    assert out.shape == (40, 8) and "projected" in caplog.text
    x = points.astype(np.float64)
    _, _, vt = np.linalg.svd(x - x.mean(0), full_matrices=False)
    np.testing.assert_allclose(out, x @ vt[:8].T, rtol=1e-5)  # not centred, not rescaled
    np.testing.assert_array_equal(raw_centroids(points, 16), points)


def test_unknown_init_options_are_refused(corpus):
    with pytest.raises(ValueError, match="visual_init"):
        build_model("random", corpus[1], visual_init="pca", **SIZES)


def test_minilm_local_init_is_the_shipped_pretrained_bert(corpus):
    model = build_model("minilm-local", corpus[1])
    assert (model.config.hidden_size, model.config.num_hidden_layers) == (384, 6)
    shipped = BertForPreTraining.from_pretrained(minilm_dir())
    assert torch.equal(
        model.bert.encoder.layer[5].output.dense.weight,
        shipped.bert.encoder.layer[5].output.dense.weight,
    )


def test_missing_leaf_takes_its_parent_centroid(corpus):
    leaves, k, depth = read_centroids(corpus[1])
    assert (leaves.shape, k, depth) == ((K**2, DIM), K, 2)

    level1 = {
        r["node"]: r["centroid"] for r in pq.read_table(corpus[1]).to_pylist() if r["level"] == 1
    }
    np.testing.assert_array_equal(leaves[8], np.float32(level1[2]))


def test_project_centroids_pca_keeps_the_geometry_and_scales_to_the_text_norm():
    rng = np.random.default_rng(1)
    basis, _ = np.linalg.qr(rng.standard_normal((64, 8)))  # points in an 8-d subspace of 64-d
    points = (rng.standard_normal((40, 8)) @ basis.T + 3.0).astype(np.float32)
    out = project_centroids(points, 8, target_norm=2.0)  # 40 ≥ 8 leaves: PCA
    assert out.shape == (40, 8)
    assert np.linalg.norm(out, axis=1).mean() == pytest.approx(2.0, rel=1e-5)
    centred = points - points.mean(0)
    scale = 2.0 / np.linalg.norm(centred, axis=1).mean()
    pairwise = lambda x: np.linalg.norm(x[:, None] - x[None], axis=-1)  # noqa: E731
    np.testing.assert_allclose(pairwise(out), scale * pairwise(centred), atol=1e-4)


def test_whitening_gives_every_direction_the_same_spread():
    rng = np.random.default_rng(4)
    points = rng.standard_normal((30, 64)) * np.geomspace(10, 0.01, 64)  # one dominant direction
    out = project_centroids(points.astype(np.float32), 16, target_norm=1.0, whiten=True)
    singular = np.linalg.svd(out, compute_uv=False)
    np.testing.assert_allclose(singular, singular[0], rtol=1e-4)
    assert np.linalg.norm(out, axis=1).mean() == pytest.approx(1.0, rel=1e-5)


def test_project_centroids_random_orthogonal_when_fewer_leaves_than_hidden():
    points = np.random.default_rng(2).standard_normal((5, 16)).astype(np.float32)
    out = project_centroids(points, 32, target_norm=1.0, seed=3)  # 5 < 32: random orthonormal
    assert out.shape == (5, 32)
    centred = points - points.mean(0)
    pairwise = lambda x: np.linalg.norm(x[:, None] - x[None], axis=-1)  # noqa: E731
    ratio = pairwise(out)[np.triu_indices(5, 1)] / pairwise(centred)[np.triu_indices(5, 1)]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-4)  # 16 → 32 orthonormal: isometry
    np.testing.assert_array_equal(out, project_centroids(points, 32, 1.0, seed=3))
    assert not np.array_equal(out, project_centroids(points, 32, 1.0, seed=4))


def test_missing_weights_fail_with_a_clear_error(corpus, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such directory"):
        build_model(str(tmp_path / "nowhere"), corpus[1])
    (tmp_path / "empty").mkdir()
    BertConfig(**SIZES).save_pretrained(tmp_path / "empty")  # a config but no weights
    with pytest.raises(RuntimeError, match="minilm-local"):
        build_model(str(tmp_path / "empty"), corpus[1])
    with pytest.raises(RuntimeError, match="Could not load pretrained BERT 'bert-large-uncased'"):
        build_model("bert-large-uncased", corpus[1])  # offline in tests (conftest)
