"""Pretraining examples: layouts, masking, alignment negatives, determinism, the corpus reader."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from model.config import VideoBertConfig
from model.data import (
    REGIMES,
    TEXT,
    TEXT_VIDEO,
    VIDEO,
    PretrainingData,
    collate,
    encode,
    load_segments,
    log_unigram_prior,
    mask_tokens,
)
from tests.model.tiny import N_VIDEOS, video_leaves, video_words, write_segments

CONFIG = VideoBertConfig(num_visual_tokens=9, visual_k=3, visual_depth=2)
SEP, VSEP, V0 = 102, 30522, 30523


@pytest.fixture(scope="module")
def segments(tmp_path_factory):
    return write_segments(tmp_path_factory.mktemp("tiny") / "segments.parquet")


def test_encode_layouts_and_token_types():
    assert encode([7, 8], None, CONFIG) == {
        "input_ids": [101, 7, 8, SEP],
        "token_type_ids": [0, 0, 0, 0],
        "attention_mask": [1, 1, 1, 1],
    }
    assert encode(None, [0, 8], CONFIG)["input_ids"] == [101, V0, V0 + 8, SEP]
    assert encode(None, [0, 8], CONFIG)["token_type_ids"] == [0, 1, 1, 1]
    both = encode([7], [2, 3], CONFIG)
    assert both["input_ids"] == [101, 7, VSEP, V0 + 2, V0 + 3, SEP]
    assert both["token_type_ids"] == [0, 0, 0, 1, 1, 1]


def test_collate_pads_ids_masks_and_labels():
    a = {**encode([7, 8, 9], None, CONFIG), "labels": [-100, 7, -100, -100], "regime": 0}
    b = {**encode([7], None, CONFIG), "labels": [-100, 7, -100], "regime": 1}
    batch = collate([a, b], pad_id=0)
    assert batch["input_ids"].tolist() == [[101, 7, 8, 9, SEP], [101, 7, SEP, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1] * 5, [1, 1, 1, 0, 0]]
    assert batch["labels"][1].tolist() == [-100, 7, -100, -100, -100]
    assert batch["regime"].tolist() == [0, 1]


def test_masking_rate_80_10_10_specials_and_labels():
    rng = np.random.default_rng(0)
    text = rng.integers(1000, 30000, 20000)
    visual = CONFIG.visual_id(rng.integers(0, 9, 20000))
    ids = np.concatenate([[101], text, [VSEP], visual, [SEP], [0, 0]])
    out, labels = mask_tokens(ids, CONFIG, np.random.default_rng(1))
    specials = np.isin(ids, [0, 101, 102, VSEP])
    chosen = labels != -100
    assert not chosen[specials].any() and (out[specials] == ids[specials]).all()
    assert chosen.mean() * len(ids) / (~specials).sum() == pytest.approx(0.15, abs=0.01)
    np.testing.assert_array_equal(labels[chosen], ids[chosen])
    assert (out[~chosen] == ids[~chosen]).all()
    masked, kept = out[chosen] == 103, out[chosen] == ids[chosen]
    swapped = ~masked & ~kept
    assert masked.mean() == pytest.approx(0.8, abs=0.02)
    assert kept.mean() == pytest.approx(0.1, abs=0.02)  # (+ the rare random = original)
    assert swapped.mean() == pytest.approx(0.1, abs=0.02)
    was_visual = CONFIG.is_visual(ids[chosen])
    assert (CONFIG.is_visual(out[chosen][swapped]) == was_visual[swapped]).all()  # same modality
    assert not np.isin(out[chosen][swapped], [0, 101, 102, 103, VSEP]).any()


def test_every_sequence_gets_at_least_one_mask():
    for seed in range(50):
        _, labels = mask_tokens(np.array([101, 7, SEP]), CONFIG, np.random.default_rng(seed))
        assert labels.tolist() == [-100, 7, -100]


def _originals(example) -> np.ndarray:
    ids, labels = np.array(example["input_ids"]), np.array(example["labels"])
    return np.where(labels != -100, labels, ids)


def _video_of_words(words) -> set[int]:
    return {j for j in range(N_VIDEOS) for w in words if w in video_words(j)}


def test_regimes_layouts_and_alignment_negatives_come_from_another_video(segments):
    data = PretrainingData(load_segments(segments, None), CONFIG, max_len=16, seed=0)
    seen = {TEXT: 0, VIDEO: 0, TEXT_VIDEO: 0}
    alignment = []
    for i in range(300):
        e = data.example(3, i)
        ids = _originals(e)
        assert len(ids) <= 16 and ids[0] == 101 and ids[-1] == SEP
        seen[e["regime"]] += 1
        visual = {int(t) - V0 for t in ids if t >= V0}
        words = [int(t) for t in ids[1:-1] if t < VSEP]
        if e["regime"] == TEXT:
            assert not visual and words and e["alignment_labels"] == -100
        elif e["regime"] == VIDEO:
            assert visual and not words and e["alignment_labels"] == -100
            assert len({j for j in range(N_VIDEOS) if visual & video_leaves(j)}) == 1
        else:
            assert VSEP in ids.tolist()
            (text_video,) = _video_of_words(words)  # the text is from one video
            shown = {j for j in range(N_VIDEOS) if visual & video_leaves(j)}
            assert len(shown) == 1
            assert (shown == {text_video}) == (e["alignment_labels"] == 1)
            labelled = [t for t in e["labels"] if t != -100]
            if e["alignment_labels"] == 0:  # words of a misaligned pair are not scored
                assert all(t >= V0 for t in labelled)
            alignment.append(e["alignment_labels"])
    assert min(seen.values()) > 60
    assert np.mean(alignment) == pytest.approx(0.5, abs=0.12)


def test_examples_are_determined_by_seed_step_and_index(segments):
    videos = load_segments(segments)
    a = PretrainingData(videos, CONFIG, max_len=16, seed=5)
    b = PretrainingData(videos, CONFIG, max_len=16, seed=5)
    assert [a.example(7, i) for i in range(20)] == [b.example(7, i) for i in range(20)]
    assert [a.example(7, i) for i in range(20)] != [a.example(8, i) for i in range(20)]
    other = PretrainingData(videos, CONFIG, max_len=16, seed=6)
    assert [a.example(7, i) for i in range(20)] != [other.example(7, i) for i in range(20)]


def test_concatenation_and_subsampling_stay_within_one_video(segments):
    data = PretrainingData(load_segments(segments), CONFIG, max_len=64, max_subsample=1)
    lengths = set()
    for i in range(200):
        e = data.example(0, i)
        if e["regime"] == TEXT:
            words = [int(t) for t in _originals(e)[1:-1]]
            assert len(_video_of_words(words)) == 1
            lengths.add(len(words))
    assert {3, 6, 9} <= lengths  # 1, 2 and 3 neighbouring sentences


def test_load_segments_filters_the_split_and_keeps_segment_order(segments):
    train = load_segments(segments)
    assert sorted(train) == ["v0", "v1", "v2"]  # v3 is held out
    assert len(load_segments(segments, None)) == 4
    assert load_segments(segments, ["heldout"])["v3"][0].text == tuple(video_words(3)[:3])
    assert [s.visual for s in train["v1"]] == [(2,), (2, 3), (2, 3, 2), (2,)]
    assert train["v1"][3].text == ()


def test_bad_inputs_raise_clear_errors(segments, tmp_path):
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"video_id": ["x"]}), bad)
    with pytest.raises(ValueError, match="not a SEGMENTS table"):
        load_segments(bad)
    with pytest.raises(ValueError, match="no usable segments"):
        PretrainingData({}, CONFIG)
    assert REGIMES[TEXT_VIDEO] == "text_video"


def test_log_unigram_prior_counts_text_and_visual_ids(segments):
    videos = load_segments(segments)
    prior = log_unigram_prior(videos, CONFIG).exp()
    assert prior.shape == (CONFIG.vocab_size,)
    assert float(prior.sum()) == pytest.approx(1.0, rel=1e-4)
    v1 = videos["v1"]
    word, leaf = v1[0].text[0], v1[0].visual[0]  # a word and a leaf the corpus uses
    assert prior[word] > 100 * prior[5000]  # ≫ an unused WordPiece
    assert prior[CONFIG.visual_id(leaf)] > 100 * prior[CONFIG.visual_id(8)]  # leaf 8: unused
    assert prior[101] == prior[5000]  # specials never appear as targets


def test_text_video_examples_can_be_masked_harder(segments):
    videos = load_segments(segments)
    data = PretrainingData(videos, CONFIG, max_len=16, text_video_mask_prob=0.5)
    chosen = {"text": [], "video": [], "text_only": []}
    for i in range(600):
        e = data.example(0, i)
        ids, labels = _originals(e), np.array(e["labels"])
        words = (ids != 101) & (ids != SEP) & (ids != VSEP) & (ids < VSEP)
        if e["regime"] == TEXT_VIDEO and e["alignment_labels"] == 1:
            chosen["text"] += (labels[words] != -100).tolist()
            chosen["video"] += (labels[ids >= V0] != -100).tolist()
        elif e["regime"] == TEXT:
            chosen["text_only"] += (labels[words] != -100).tolist()
    assert np.mean(chosen["text"]) == pytest.approx(0.5, abs=0.06)
    assert np.mean(chosen["video"]) < 0.3  # 15%, plus the one-token minimum
    assert np.mean(chosen["text_only"]) < 0.3
