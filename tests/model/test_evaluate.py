"""Evaluation on real Parquet (SEGMENTS, TOKENS, GROUND_TRUTH) with a small saved VideoBERT."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from model.config import VideoBertConfig
from model.evaluate import (
    Predictor,
    SlotScorer,
    clips_in,
    main,
    sample_world_examples,
    topk_accuracy,
)
from model.modeling import VideoBertForPreTraining
from schemas import GROUND_TRUTH, SEGMENTS, TOKENS
from schemas.text import load_tokenizer

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


def test_make_eval_writes_metrics_and_a_table(out, model_dir, capsys):
    metrics = main(["--model", str(model_dir), "--out", str(out)])
    on_disk = json.loads((out / "eval" / "metrics.json").read_text())
    assert on_disk["zero_shot"] == json.loads(json.dumps(metrics["zero_shot"]))
    zs = metrics["zero_shot"]["sample_world"]
    assert zs["n_clips"] == 2  # the held-out video's two actions
    for what in ("verb", "noun"):
        assert zs[what]["vocabulary"] == 2 and zs[what]["n"] == 2
        for method in ("cross_modal", "language_prior"):
            assert 0.0 <= zs[what][method]["top1"] <= zs[what][method]["top5"] == 1.0
    # the prior is one prediction for every clip: right on exactly one of the two actions
    assert zs["verb"]["language_prior"]["top1"] == 0.5
    assert metrics["forecasting"]["n_targets"] > 0
    assert metrics["text_to_video"]["n_targets"] == 8
    assert len(metrics["text_to_video"]["examples"]) == 2
    table = capsys.readouterr().out
    assert "sample_world verb" in table and "language_prior" in table and "cross_modal" in table


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
                    "--metrics", str(tmp_path / "m.json")])  # fmt: skip
    yc = metrics["zero_shot"]["youcook2"]
    assert yc["n_clips"] == 2
    assert yc["verb"]["vocabulary"] == 3  # chop, cut, whisk
    assert yc["noun"]["vocabulary"] == 3  # egg, onion, tomato
    assert yc["verb"]["n"] == yc["noun"]["n"] == 2


def test_multi_piece_words_score_the_mean_log_prob_of_their_pieces(model_dir):
    model = VideoBertForPreTraining.from_pretrained(model_dir)
    tok = load_tokenizer(None)
    scorer = SlotScorer(Predictor(model), tok, ["cut", "whisk"], ["lettuce"])
    assert scorer.verb_pieces[1] == tok("whisk", add_special_tokens=False)["input_ids"]
    assert len(scorer.verb_pieces[1]) == 3
    verbs, _ = scorer.scores([[1, 2]])
    # by hand: [CLS] now let me show you how to [M][M][M] the [M] [>] v1 v2 [SEP]
    text = tok("now let me show you how to", add_special_tokens=False)["input_ids"]
    cfg = model.config
    mask, the = cfg.mask_token_id, tok("the", add_special_tokens=False)["input_ids"]
    ids = [cfg.cls_token_id, *text, mask, mask, mask, *the, mask,
           cfg.video_sep_id, cfg.visual_id(1), cfg.visual_id(2), cfg.sep_token_id]  # fmt: skip
    types = [0] * (len(ids) - 3) + [1, 1, 1]
    with torch.no_grad():
        lp = model(torch.tensor([ids]), token_type_ids=torch.tensor([types])).logits[0]
    lp = lp.log_softmax(-1)
    start = 1 + len(text)
    expected = np.mean([lp[start + i, p].item() for i, p in enumerate(scorer.verb_pieces[1])])
    assert verbs[0, 1] == pytest.approx(expected, abs=1e-5)


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
    examples, verbs, nouns = sample_world_examples(str(out))
    assert {e["video_id"] for e in examples} == {"sample-0002"}
    assert verbs == ["cut", "whisk"] and nouns == ["lettuce", "tomato"]
    tokens = pq.read_table(out / "tokens" / "data" / "sample-0002.parquet").to_pylist()[0]
    assert examples[0]["visual"] == tokens["tokens"][:4]  # clips with midpoints in 0.2..5.8


def test_a_missing_model_or_corpus_is_a_clear_error(out, model_dir, tmp_path):
    with pytest.raises(SystemExit, match="make pretrain"):
        main(["--model", str(tmp_path / "nope"), "--out", str(out)])
    with pytest.raises(SystemExit, match="make corpus"):
        main(["--model", str(model_dir), "--out", str(tmp_path)])
