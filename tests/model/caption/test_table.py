"""`make caption` end to end on a tiny world on disk (real Parquet, a really pretrained model)."""

import json
import os

import pytest

from model.caption.__main__ import main
from model.caption.metrics import score
from model.caption.table import ROWS
from model.config import VideoBertConfig
from model.modeling import VideoBertForPreTraining
from schemas.text import load_tokenizer
from tests.model.caption import world

ARGS = ["--steps", "30", "--beam", "2", "--no_java", "--device", "cpu"]


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return world.build(tmp_path_factory.mktemp("caption") / "out", load_tokenizer(None))


def test_one_command_trains_and_scores_every_row(out, capsys):
    result = main(["--out", str(out), *ARGS])
    table = capsys.readouterr().out
    for name in ROWS.values():
        assert name in table
    assert "6.12" in table and "0.55" in table  # the paper's S3D and VideoBERT + S3D beside
    on_disk = json.loads((out / "eval" / "captioning.json").read_text())
    assert set(on_disk["rows"]) == set(ROWS)
    # 24 actions: one has no clip (skipped, counted); 4 train videos, 2 reported
    assert on_disk["segments"] == {"train": 15, "eval": 8, "skipped": {"no_visual_tokens": 1}}
    for row in ROWS:
        r = on_disk["rows"][row]
        assert r["n_segments"] == 8 and r["n_videos"] == 2
        assert r["micro"]["METEOR"] is None and r["micro"]["CIDEr"] >= 0.0
    assert on_disk["rows"]["most_frequent_caption"]["n_segments"] == 8
    assert (out / "pretrain-video-only" / "final" / "config.json").exists()
    log = (out / "pretrain-video-only" / "log.jsonl").read_text().splitlines()
    assert all(json.loads(line)["loss_text_video"] is None for line in log)  # video-only MLM
    # the written predictions score the same with the standalone scorer
    refs = json.loads((out / "caption" / "references.json").read_text())
    preds = json.loads((out / "caption" / "predictions" / "videobert_s3d.json").read_text())
    assert score(preds, refs, java=False)["micro"] == result["rows"]["videobert_s3d"]["micro"]
    ex = on_disk["examples"][0]
    assert set(ex["predictions"]) == set(ROWS) and ex["references"]
    # a rerun reuses the cached features and finished captioners: same numbers, nothing rewritten
    cache = sorted((out / "caption" / "features").glob("videobert-*.parquet"))
    assert len(cache) == 2  # the model and the video-only model
    stamps = [os.stat(p).st_mtime_ns for p in cache]
    again = main(["--out", str(out), *ARGS, "--folds", "2"])
    assert [os.stat(p).st_mtime_ns for p in cache] == stamps
    assert again["rows"]["videobert"]["micro"] == result["rows"]["videobert"]["micro"]
    cv = again["cross_validation"]  # 2 folds of the 4 training videos, per learned row
    assert set(cv) == {"s3d", "videobert_video_only", "videobert", "videobert_s3d"}
    assert cv["videobert"]["folds"] == 2 and cv["videobert"]["CIDEr"] >= 0.0


def test_a_model_with_another_visual_vocabulary_is_a_clear_error(out, tmp_path):
    config = VideoBertConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
        num_visual_tokens=16, visual_k=4, visual_depth=2,
    )  # fmt: skip
    VideoBertForPreTraining(config).save_pretrained(tmp_path / "other")
    with pytest.raises(ValueError, match=r"k=4, depth=2 .* \(k=3, depth=2\).*Pretrain on this"):
        main(["--out", str(out), "--model", str(tmp_path / "other"), *ARGS])


def test_without_a_pretrained_model_the_error_says_what_to_run(out, tmp_path):
    with pytest.raises(FileNotFoundError, match="make pretrain"):
        main(["--out", str(out), "--model", str(tmp_path / "none"), *ARGS])
