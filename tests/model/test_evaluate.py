"""Evaluation on real Parquet (SEGMENTS, TOKENS, GROUND_TRUTH) with a small saved VideoBERT."""

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from model.config import VideoBertConfig
from model.evaluate import clips_in, id_variants, main, sample_world_examples
from model.modeling import VideoBertForPreTraining
from model.predict import Predictor
from model.zeroshot import Candidates, SlotScorer, top_lemmas, topk_accuracy
from schemas import GROUND_TRUTH, SEGMENTS, TOKENS
from schemas.text import load_tokenizer
from tests.tables import corpus_files

K = 6  # visual tokens


def _clips(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "start_s": [1.5 * i for i in range(n)],
        "end_s": [1.5 * (i + 1) for i in range(n)],
        "tokens": rng.integers(0, K, n).tolist(),
    }


def _write(rows, schema, path) -> None:
    pq.write_table(pa.Table.from_pylist(rows, schema), path)


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    """A corpus root: 3 videos (one held out) with tokens, segments and ground truth."""
    root = tmp_path_factory.mktemp("eval") / "out"
    (root / "tokens" / "data").mkdir(parents=True)
    (root / "corpus").mkdir()
    (root / "sample").mkdir()
    tok = load_tokenizer(None)
    segments, truth = [], []
    for v, split in enumerate(("train", "train", "heldout")):
        vid = f"sample-{v:04d}"
        clips = _clips(8, v)
        row = {"video_id": vid, "clip_index": list(range(8)), **clips}
        pq.write_table(
            pa.Table.from_pylist([row], TOKENS), root / "tokens" / "data" / f"{vid}.parquet"
        )
        for i, (verb, noun) in enumerate((("cut", "tomato"), ("whisk", "lettuce"))):
            start, end = 6.0 * i, 6.0 * i + 6.0
            text = f"now we {verb} the {noun}"
            segments.append(
                {"video_id": vid, "segment_index": i, "num_segments": 2, "start_s": start,
                 "end_s": end, "text": text,
                 "text_token_ids": tok(text, add_special_tokens=False)["input_ids"],
                 "sentence_index": i, "first_clip": 4 * i,
                 "visual_tokens": clips["tokens"][4 * i : 4 * i + 4], "split": split}
            )  # fmt: skip
            truth.append(
                {"video_id": vid, "action_index": i, "verb": verb, "noun": noun,
                 "start_s": start + 0.2, "end_s": end - 0.2, "narrated": True, "split": split}
            )  # fmt: skip
    pq.write_table(
        pa.Table.from_pylist(segments, SEGMENTS),
        root / "corpus" / "segments-00000-of-00001.parquet",
    )
    pq.write_table(
        pa.Table.from_pylist(truth, GROUND_TRUTH), root / "sample" / "ground_truth.parquet"
    )
    return root


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    config = VideoBertConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
        num_visual_tokens=K, visual_k=K, visual_depth=1,
    )  # fmt: skip
    path = tmp_path_factory.mktemp("model") / "final"
    VideoBertForPreTraining(config).save_pretrained(path)
    return path


def test_make_eval_writes_metrics_and_the_table1_layout(out, model_dir, capsys):
    metrics = main(["--model", str(model_dir), "--out", str(out)])
    on_disk = json.loads((out / "eval" / "metrics.json").read_text())
    assert on_disk["zero_shot"] == json.loads(json.dumps(metrics["zero_shot"]))
    assert metrics["bert_prior"] == "minilm-local"  # the model has no pretrained text init
    zs = metrics["zero_shot"]["sample_world"]
    assert zs["n_clips"] == 2  # the held-out video's two actions
    for what in ("verb", "noun"):
        r = zs[what]
        assert r["vocabulary"] == 2 and r["n"] == 2
        assert r["candidates"] > 15_000  # whole words of the 30,522 WordPieces, lemmatised
        for metric in ("open_vocabulary", "label_restricted"):
            for method in ("cross_modal", "language_prior", "bert_prior"):
                assert 0.0 <= r[metric][method]["top1"] <= r[metric][method]["top5"] <= 1.0
        # among 2 label words, top-5 always holds the label
        assert r["label_restricted"]["cross_modal"]["top5"] == 1.0
        # the trivial baselines: training actions are cut/whisk, tomato/lettuce, once each
        assert r["most_frequent"]["top5"] == 1.0 and r["most_frequent"]["top1"] == 0.5
    # a prior is one prediction for every clip: right on at most one of the two actions
    assert zs["verb"]["label_restricted"]["language_prior"]["top1"] == 0.5
    assert metrics["forecasting"]["next"]["n_targets"] > 0
    assert {"model", "unigram", "repeat_last", "bigram"} <= set(metrics["forecasting"]["next"])
    assert {"model", "unigram", "bigram"} <= set(metrics["forecasting"]["transition"])
    assert metrics["text_to_video"]["n_targets"] == 8
    assert len(metrics["text_to_video"]["examples"]) == 2
    table = capsys.readouterr().out
    for row in ("BERT language prior (minilm-local)", "VideoBERT language prior",
                "VideoBERT cross-modal", "most frequent label", "most frequent five labels",
                "S3D (supervised)", "paper (YouCook II)", "label-restricted"):  # fmt: skip
        assert row in table, row
    assert " 43.3" in table  # the paper's cross-modal verb top-5 beside ours
    assert "WARNING" not in table  # no evaluation video in the pretraining rows


def test_youcook2_zero_shot_on_its_annotation_format(out, model_dir, tmp_path):
    """Validation captions of videos with tokens are scored; training ones and videos without
    tokens are not; labels come from the tagger within the top verbs/nouns."""

    def video(subset, *captions):
        spans = [{"segment": [6 * i, 6 * i + 6], "id": i, "sentence": c}
                 for i, c in enumerate(captions)]  # fmt: skip
        return {"duration": 12.0, "subset": subset, "recipe_type": "1", "annotations": spans}

    database = {
        "sample-0002": video("validation", "cut the tomato", "whisk the eggs"),
        "sample-0000": video("training", "cut the egg"),
        "noTokens123": video("validation", "chop the onion"),
    }
    ann = tmp_path / "yc2.json"
    ann.write_text(json.dumps({"database": database}))
    metrics = main(["--model", str(model_dir), "--out", str(out), "--youcook2", str(ann),
                    "--metrics", str(tmp_path / "m.json"), "--bert_prior", "none"])  # fmt: skip
    yc = metrics["zero_shot"]["youcook2"]
    assert yc["n_clips"] == 2
    assert yc["verb"]["vocabulary"] == 3  # chop, cut, whisk
    assert yc["noun"]["vocabulary"] == 3  # egg, onion, tomato
    assert yc["verb"]["n"] == yc["noun"]["n"] == 2


def test_multi_piece_words_score_the_mean_log_prob_of_their_pieces(model_dir):
    model = VideoBertForPreTraining.from_pretrained(model_dir)
    tok = load_tokenizer(None)
    verbs = Candidates.of(tok, ["cut", "whisk"], "VERB")
    scorer = SlotScorer(Predictor(model), tok, verbs, Candidates.of(tok, ["lettuce"], "NOUN"))
    assert verbs.pieces[1] == tok("whisk", add_special_tokens=False)["input_ids"]
    assert len(verbs.pieces[1]) == 3
    scores = scorer.scores("verb", [[1, 2]])
    # by hand: [CLS] now let me show you how to [M][M][M] the [M] [>] v1 v2 [SEP]
    text = tok("now let me show you how to", add_special_tokens=False)["input_ids"]
    cfg = model.config
    mask, the = cfg.mask_token_id, tok("the", add_special_tokens=False)["input_ids"]
    ids = [cfg.cls_token_id, *text, mask, mask, mask, *the, mask,
           cfg.video_sep_id, cfg.visual_id(1), cfg.visual_id(2), cfg.sep_token_id]  # fmt: skip
    types = [0] * (len(ids) - 3) + [1, 1, 1]
    with torch.no_grad():
        logits = model(torch.tensor([ids]), token_type_ids=torch.tensor([types])).logits[0]
    lp = logits[:, : cfg.text_vocab_size].log_softmax(-1)  # renormalised over the words
    start = 1 + len(text)
    expected = np.mean([lp[start + i, p].item() for i, p in enumerate(verbs.pieces[1])])
    assert scores[0, 1] == pytest.approx(expected, abs=1e-5)


def test_open_vocabulary_is_the_whole_words_of_the_wordpiece_vocabulary_plus_the_labels():
    tok = load_tokenizer(None)
    cands = Candidates.open_vocabulary(tok, ["whisk", "cut"], "VERB")
    words = set(cands.words)
    assert {"cut", "stir", "make", "whisk"} <= words  # whisk: 3 pieces, there as a label
    assert not any(w.startswith(("##", "[")) for w in words)  # no pieces, [unused], specials
    assert all(max(p) < 30522 for p in cands.pieces)  # never [>] or a visual id
    assert cands.lemmas[cands.words.index("cuts")] == "cut"
    assert Candidates.of(tok, ["tomatoes"], "NOUN").lemmas == ["tomato"]


def test_inflections_fold_into_one_lemma_scored_as_its_best_form():
    lemmas = ["cut", "cut", "stir", "pour"]  # e.g. "cut", "cuts", "stir", "pour"
    scores = np.array([[0.9, 0.8, 0.1, 0.5]])
    assert top_lemmas(scores, lemmas, 2) == [["cut", "pour"]]  # not cut, cut


def test_topk_accuracy_counts_a_hit_on_any_label():
    scores = np.array([[0.9, 0.5, 0.1], [0.1, 0.2, 0.3]])
    assert topk_accuracy(scores, [{0}, {0}], ks=(1, 2, 3)) == {
        "top1": 0.5,
        "top2": 0.5,
        "top3": 1.0,
    }
    assert topk_accuracy(scores, [{1, 2}, {2}], ks=(1,)) == {"top1": 0.5}


def test_clips_are_those_whose_midpoint_lies_in_the_span_else_any_overlapping():
    tokens = {"start_s": [0.0, 1.5, 3.0], "end_s": [1.5, 3.0, 4.5], "tokens": [7, 8, 9]}
    assert clips_in(tokens, 0.5, 3.2) == [7, 8]  # midpoints 0.75, 2.25
    assert clips_in(tokens, 3.0, 3.5) == [9]  # midpoint 3.75 outside; overlap fallback
    assert clips_in(tokens, 9.0, 10.0) == []


def test_sample_world_examples_take_held_out_actions_only(out):
    examples, vocab, train, heldout = sample_world_examples(str(out))
    assert heldout == {"sample-0002"}
    assert {e["video_id"] for e in examples} == {"sample-0002"}
    assert vocab == {"verb": ["cut", "whisk"], "noun": ["lettuce", "tomato"]}
    assert train["verb"] == [["cut"], ["whisk"]] * 2  # the two training videos' actions
    tokens = pq.read_table(out / "tokens" / "data" / "sample-0002.parquet").to_pylist()[0]
    assert examples[0]["visual"] == tokens["tokens"][:4]  # clips with midpoints in 0.2..5.8


def test_a_missing_model_or_corpus_is_a_clear_error(out, model_dir, tmp_path):
    with pytest.raises(SystemExit, match="make pretrain"):
        main(["--model", str(tmp_path / "nope"), "--out", str(out)])
    with pytest.raises(SystemExit, match="make corpus"):
        main(["--model", str(model_dir), "--out", str(tmp_path)])


def test_eval_warns_when_an_evaluation_video_is_in_the_pretraining_corpus(
    out, model_dir, tmp_path, caplog
):
    """A held-out sample video among the train rows, and a YouCook II validation video that a
    local directory brought in as `v_<id>` with a hash suffix: both named in a warning."""
    leaky = tmp_path / "leaky"
    shutil.copytree(out, leaky)
    (shard,) = corpus_files(leaky)  # the tiny corpus is one shard
    rows = pq.read_table(shard).to_pylist()
    extra = [{**rows[-1], "split": "train"},
             {**rows[0], "video_id": "v_abcdEFGhij0_1a2b3c4d", "split": None}]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(rows + extra, SEGMENTS), shard)
    spans = [{"segment": [0, 6], "id": 0, "sentence": "cut the tomato"}]
    database = {"abcdEFGhij0": {"subset": "validation", "annotations": spans},
                "trainOnly00": {"subset": "training", "annotations": spans}}  # fmt: skip
    ann = tmp_path / "yc2.json"
    ann.write_text(json.dumps({"database": database}))
    with caplog.at_level("WARNING"):
        metrics = main(["--model", str(model_dir), "--out", str(leaky), "--youcook2", str(ann),
                        "--bert_prior", "none"])  # fmt: skip
    assert metrics["leaks"]["sample_world"] == ["sample-0002"]
    assert metrics["leaks"]["youcook2"] == ["abcdEFGhij0"]
    assert "1 of the 1 sample_world evaluation videos are in the pretraining corpus" in caplog.text
    assert "abcdEFGhij0" in caplog.text


def test_a_corpus_id_stands_for_the_id_of_its_file_name():
    assert id_variants("abcdEFGhij0") == {"abcdEFGhij0"}
    assert "abcdEFGhij0" in id_variants("v_abcdEFGhij0")
    assert "abcdEFGhij0" in id_variants("v_abcdEFGhij0_0123abcd")
    assert "abc_defgh" in id_variants("abc_defgh")  # a short id keeps its underscore
