"""Caption scoring with pycocoevalcap on real captions; the scoring CLI on real JSON files."""

import json

import pytest

from model.caption.metrics import java_missing, main, score, score_many

REFS = {
    "v1:0": {"video_id": "v1", "references": ["slice the tomato on the board", "cut up a tomato"]},
    "v1:1": {"video_id": "v1", "references": ["stir the egg with a spoon"]},
    "v2:0": {"video_id": "v2", "references": ["whisk the eggs until frothy", "beat the eggs"]},
}
RIGHT = {"v1:0": "slice the tomato on the board", "v1:1": "stir the egg with a spoon",
         "v2:0": "whisk the eggs until frothy"}  # fmt: skip
WRONG = {"v1:0": "roll the carrot", "v1:1": "pour the milk", "v2:0": "flip the potato"}


def test_perfect_captions_outscore_wrong_ones_on_every_metric_at_both_levels():
    out = score_many({"right": RIGHT, "wrong": WRONG}, REFS, java=False)
    right, wrong = out["right"], out["wrong"]
    assert right["n_segments"] == 3 and right["n_videos"] == 2
    assert right["micro"]["BLEU-4"] == pytest.approx(100.0, abs=1e-3)
    assert right["micro"]["ROUGE-L"] == pytest.approx(100.0)
    for level in ("micro", "macro"):
        for m in ("BLEU-3", "BLEU-4", "ROUGE-L", "CIDEr"):
            assert right[level][m] > wrong[level][m] >= 0.0
    assert right["micro"]["METEOR"] is None and "turned off" in right["meteor"]
    assert right["tokenizer"] == "python"


def test_macro_averages_videos_not_segments():
    """Two right segments in v1, one wrong in v2: macro ROUGE-L = mean(100, v2's) per video,
    while micro weights the three segments equally."""
    preds = {**RIGHT, "v2:0": "roll the carrot"}
    r = score(preds, REFS, java=False)
    per_v2 = score({"v2:0": "roll the carrot"}, {"v2:0": REFS["v2:0"]}, java=False)
    assert r["macro"]["ROUGE-L"] == pytest.approx((100 + per_v2["micro"]["ROUGE-L"]) / 2)
    assert r["micro"]["ROUGE-L"] == pytest.approx((200 + per_v2["micro"]["ROUGE-L"]) / 3)


def test_missing_and_extra_ids_are_an_error_that_lists_them():
    preds = {"v1:0": "slice", "v9:9": "extra one"}
    with pytest.raises(ValueError) as e:
        score(preds, REFS, java=False)
    message = str(e.value)
    assert "2 reference ids have no prediction: v1:1, v2:0" in message
    assert "1 predicted ids are not in the references: v9:9" in message


def test_empty_references_are_skipped_with_a_count_and_all_empty_is_an_error():
    refs = {**REFS, "v3:0": {"video_id": "v3", "references": ["", "  "]}}
    r = score({**RIGHT, "v3:0": "anything"}, refs, java=False)
    assert r["skipped_empty_references"] == 1 and r["n_segments"] == 3
    with pytest.raises(ValueError, match="no segment has a non-empty reference"):
        score({"v3:0": "x"}, {"v3:0": refs["v3:0"]}, java=False)
    with pytest.raises(ValueError, match="references not of the form"):
        score({"a": "x"}, {"a": ["not", "a", "dict"]}, java=False)


def test_cli_scores_files_and_fails_clearly(tmp_path, capsys):
    (tmp_path / "r.json").write_text(json.dumps(REFS))
    (tmp_path / "p.json").write_text(json.dumps(RIGHT))
    p, r, m = (str(tmp_path / name) for name in ("p.json", "r.json", "m.json"))
    result = main(["--predictions", p, "--references", r, "--out", m, "--no_java"])
    assert json.loads((tmp_path / "m.json").read_text())["micro"] == result["micro"]
    assert "CIDEr" in capsys.readouterr().out
    (tmp_path / "p.json").write_text(json.dumps({"v1:0": "x"}))
    with pytest.raises(SystemExit, match="no prediction: v1:1, v2:0"):
        main(["--predictions", str(tmp_path / "p.json"), "--references", str(tmp_path / "r.json")])
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SystemExit, match="cannot read JSON"):
        main(
            ["--predictions", str(tmp_path / "bad.json"), "--references", str(tmp_path / "r.json")]
        )


@pytest.mark.skipif(java_missing() is not None, reason=f"needs Java: {java_missing()}")
def test_with_java_ptb_tokenizes_and_meteor_scores():
    """The COCO pipeline proper (~20 s: METEOR loads its paraphrase tables)."""
    preds = {**RIGHT, "v1:0": "Slice the tomato, on the board."}
    both = score_many({"right": preds, "wrong": WRONG}, REFS)  # one METEOR process
    r, wrong = both["right"], both["wrong"]
    assert r["tokenizer"] == "ptb" and r["meteor"] == "ok"
    assert r["micro"]["BLEU-4"] == pytest.approx(100.0, abs=1e-3)  # PTB dropped the punctuation
    assert 90.0 < r["micro"]["METEOR"] <= 100.0
    assert wrong["micro"]["METEOR"] < 30.0 < r["macro"]["METEOR"]
