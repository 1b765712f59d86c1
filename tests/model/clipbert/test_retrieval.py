"""Retrieval metrics, chance, and the retrieval sets (sample world, MSRVTT, YouCook II)."""

import json
import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from model.clipbert.datasets import (
    msrvtt_retrieval,
    msrvtt_train_pairs,
    sample_world_pairs,
    sample_world_retrieval,
    youcook2_pairs,
)
from model.clipbert.retrieval import chance, first_hit_ranks, metrics_from_ranks
from tests.model.clipbert.world import colour_video


def tokenize(text):
    return tuple(len(w) for w in text.split())


def test_first_hit_rank_counts_better_scores_and_ties_against_the_query():
    scores = np.array([[0.9, 0.5, 0.1], [0.2, 0.2, 0.8], [0.1, 0.3, 0.2]])
    ranks = first_hit_ranks(scores, [{0}, {1}, {0, 2}])
    assert ranks.tolist() == [1, 3, 2]  # query 1: 0.8 is better, 0.2 tied with its hit
    m = metrics_from_ranks(np.array([1, 3, 12, 6]))
    assert m == {"R@1": 0.25, "R@5": 0.5, "R@10": 0.75, "MdR": 4.5}


def test_chance_is_the_expected_recall_of_a_random_order():
    c = chance(10, [{0}, {1, 2}])
    assert c["R@1"] == pytest.approx((1 / 10 + 2 / 10) / 2)
    r5_two = 1 - math.comb(8, 5) / math.comb(10, 5)
    assert c["R@5"] == pytest.approx((0.5 + r5_two) / 2)
    assert c["R@10"] == 1.0 and c["MdR"] == pytest.approx((11 / 2 + 11 / 3) / 2)
    rng = np.random.default_rng(0)  # a random ranking really scores that on average
    relevant = [{0}, {1, 2}] * 2000
    ranks = first_hit_ranks(rng.random((len(relevant), 10)), relevant)
    assert metrics_from_ranks(ranks)["R@1"] == pytest.approx(c["R@1"], abs=0.02)


def test_sample_world_queries_are_held_out_captions_hitting_the_same_verb_and_noun(tiny_corpus):
    data = sample_world_retrieval(tiny_corpus, tokenize)
    truth = [a for a in pq.read_table(f"{tiny_corpus}/sample/ground_truth.parquet").to_pylist()
             if a["split"] == "heldout"]  # fmt: skip
    assert data.queries == [f"{a['verb']} the {a['noun']}" for a in truth]
    assert [(g.start_s, g.end_s) for g in data.gallery] == [
        (a["start_s"], a["end_s"]) for a in truth
    ]
    for q, hits in enumerate(data.relevant):
        assert q in hits and all(data.queries[h] == data.queries[q] for h in hits)
    assert all(Path(g.path).is_file() for g in data.gallery)


def test_sample_world_training_pairs_are_captions_of_training_actions_only(tiny_corpus):
    pairs = sample_world_pairs(tiny_corpus, tokenize, captions=3)
    truth = pq.read_table(f"{tiny_corpus}/sample/ground_truth.parquet").to_pylist()
    train = [a for a in truth if a["split"] == "train"]
    assert len(pairs) == 3 * len(train) and train
    heldout = {a["video_id"] for a in truth if a["split"] == "heldout"}
    assert not heldout & {p.video_id for p in pairs}  # never a held-out video
    for i, a in enumerate(train):
        three = pairs[3 * i : 3 * i + 3]
        assert {(p.video_id, p.start_s, p.end_s) for p in three} == {
            (a["video_id"], a["start_s"], a["end_s"])
        }
        assert len({p.text for p in three}) == 3  # three different phrasings
        assert all(p.text_ids == tokenize(p.text) for p in three)
        assert all(Path(p.path).is_file() for p in three)


def test_msrvtt_and_youcook2_loaders_pair_captions_with_the_files_found(tmp_path):
    videos = tmp_path / "videos"
    (videos / "validation" / "101").mkdir(parents=True)
    colour_video(videos / "video7010.mp4", "red")
    colour_video(videos / "validation" / "101" / "yc_val_1.mp4", "blue")
    csv = tmp_path / "MSRVTT_JSFUSION_test.csv"
    csv.write_text("key,vid_key,video_id,sentence\nret0,msr7010,video7010,a red thing\n"
                   "ret1,msr7011,video7011,a missing one\n")  # fmt: skip
    data = msrvtt_retrieval(str(csv), str(videos), tokenize)
    assert data.queries == ["a red thing"] and data.relevant == [{0}]
    assert data.gallery[0].end_s == math.inf  # the whole video
    (tmp_path / "train.csv").write_text("video_id\nvideo7010\n")
    sentences = [{"video_id": "video7010", "caption": c} for c in ("red", "very red")]
    (tmp_path / "data.json").write_text(json.dumps({"sentences": sentences}))
    train = msrvtt_train_pairs(str(tmp_path / "data.json"), str(tmp_path / "train.csv"),
                               str(videos), tokenize)  # fmt: skip
    assert [p.text for p in train] == ["red", "very red"]
    annotations = {"database": {"yc_val_1": {"subset": "validation", "annotations": [
        {"segment": [0, 1], "sentence": "pour water"}, {"segment": [1, 2], "sentence": "stir"}]},
        "yc_gone": {"subset": "validation", "annotations": [
            {"segment": [0, 1], "sentence": "x"}]}}}  # fmt: skip
    (tmp_path / "yc.json").write_text(json.dumps(annotations))
    pairs = youcook2_pairs(str(tmp_path / "yc.json"), str(videos), tokenize, "validation")
    assert [(p.start_s, p.end_s, p.text) for p in pairs] == [(0, 1, "pour water"), (1, 2, "stir")]
    assert pairs[0].path.endswith("yc_val_1.mp4")
