"""The captioner on real tensors: it learns captions, decodes greedy and beam, saves, resumes."""

import json
import shutil

import numpy as np
import pytest
import torch

from model.caption.captioner import BOS, EOS, PAD, Captioner, CaptionVocab, pad_batch
from model.caption.train import CaptionPreset, batch_indices, caption, train_captioner
from schemas.text import load_tokenizer

CAPTIONS = ["slice the tomato", "stir the egg", "pour the onion", "roll the carrot"]
PRESET = CaptionPreset(
    d_model=32, nhead=4, dim_feedforward=64, dropout=0.1, batch_size=16, steps=160,
    lr=3e-3, label_smoothing=0.0, checkpoint_every=80, log_every=40, max_len=8,
)  # fmt: skip


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(None)


def _data(tokenizer):
    """Four segments, features = one-hot of their caption (2 parts of 4 and 3 columns)."""
    vocab = CaptionVocab.build(tokenizer, CAPTIONS)
    features = np.zeros((4, 7), np.float32)
    features[np.arange(4), np.arange(4)] = 1.0
    features[:, 4:] = np.random.default_rng(0).standard_normal((4, 3))
    targets = [[vocab.encode(tokenizer, c, PRESET.max_len)] for c in CAPTIONS]
    return features, targets, vocab


def test_vocab_round_trips_wordpieces_and_marks_unknown_pieces(tokenizer):
    vocab = CaptionVocab.build(tokenizer, ["whisk the eggs"])
    ids = vocab.encode(tokenizer, "whisk the eggs", 16)
    assert ids[0] == BOS and ids[-1] == EOS and len(vocab) == 4 + len(ids) - 2
    assert vocab.decode(tokenizer, ids) == "whisk the eggs"
    assert 3 in vocab.encode(tokenizer, "whisk the onion", 16)  # "onion": UNK


def test_captioner_learns_its_captions_and_beam_decodes_them(tokenizer, tmp_path):
    features, targets, vocab = _data(tokenizer)
    model = train_captioner(features, targets, [4, 3], vocab, tmp_path / "run", PRESET)
    for beam in (1, 3):
        decoded = [vocab.decode(tokenizer, ids) for ids in caption(model, features, beam=beam)]
        assert decoded == CAPTIONS
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [line["step"] for line in log] == [40, 80, 120, 160]
    assert log[-1]["loss"] < log[0]["loss"] / 4
    loaded = Captioner.from_pretrained(tmp_path / "run" / "final")
    assert loaded.wordpieces == vocab.wordpieces and loaded.input_dims == [4, 3]
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_beam_search_finds_a_caption_at_least_as_likely_as_greedy():
    torch.manual_seed(0)
    model = Captioner([6], vocab_size=12, d_model=16, nhead=2, dim_feedforward=32, max_len=6)
    model.eval()
    x = torch.randn(5, 6)

    def log_prob(ids):
        tokens = pad_batch([[BOS, *row, EOS] for row in ids])
        logits, _ = model(x, tokens)
        lp = logits.log_softmax(-1).gather(2, tokens[:, 1:, None])[..., 0]
        return (lp * (tokens[:, 1:] != PAD)).sum(1)

    with torch.no_grad():
        greedy = model.generate(x, beam=1)
        beam = model.generate(x, beam=4, alpha=0.0)  # no length normalisation: pure log-prob
        assert (log_prob(beam) >= log_prob(greedy) - 1e-5).all()
        # greedy is the argmax at every step
        row = [BOS]
        for _ in range(6):
            nxt = model.decode(torch.tensor([row]), model.encode(x[:1]))[0, -1]
            nxt[[PAD, BOS, 3]] = float("-inf")
            row.append(int(nxt.argmax()))
            if row[-1] == EOS:
                break
        assert greedy[0] == [t for t in row[1:] if t >= 4]


def test_resume_continues_exactly_where_the_run_stopped(tokenizer, tmp_path):
    features, targets, vocab = _data(tokenizer)
    preset = CaptionPreset(**{**PRESET.__dict__, "steps": 6, "checkpoint_every": 3})
    straight = train_captioner(features, targets, [4, 3], vocab, tmp_path / "a", preset)
    train_captioner(features, targets, [4, 3], vocab, tmp_path / "b", preset)
    for done in ("final", "checkpoints/step-6"):  # as if killed after step 3's checkpoint
        shutil.rmtree(tmp_path / "b" / done)
    torch.manual_seed(123)  # a fresh process: the checkpoint's RNG state must win
    resumed = train_captioner(features, targets, [4, 3], vocab, tmp_path / "b", preset)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_batches_are_a_pure_function_of_seed_and_step():
    assert batch_indices(7, 0, 8, [1, 2, 3]) == batch_indices(7, 0, 8, [1, 2, 3])
    assert batch_indices(7, 0, 8, [1, 2, 3]) != batch_indices(8, 0, 8, [1, 2, 3])
    assert all(r < [1, 2, 3][s] for s, r in batch_indices(3, 1, 64, [1, 2, 3]))


def test_features_that_do_not_match_the_parts_are_refused(tokenizer, tmp_path):
    features, targets, vocab = _data(tokenizer)
    with pytest.raises(ValueError, match="parts"):
        train_captioner(features, targets, [4, 4], vocab, tmp_path / "run", PRESET)
