"""Training: exact resume from a checkpoint, bad files skipped, and the CLIs on a real corpus."""

import dataclasses
import json
import shutil

import pyarrow.parquet as pq
import pytest
import torch

from model.clipbert import retrieval
from model.clipbert.modeling import ClipBertForRetrieval
from model.clipbert.train import PRESETS, main, train
from model.init import build_model
from model.train import latest_checkpoint
from tests.model.clipbert.world import TINY_BERT, colour_pairs

TINY = dataclasses.replace(
    PRESETS["small"], **TINY_BERT, trunk="resnet18", side=32, clips=2, clip_s=0.5, dropout=0.0,
    batch_size=4, negatives=3, grad_accum=2, steps=4, warmup_steps=1, checkpoint_every=2,
    log_every=1, workers=0, eval_clips=2,
)  # fmt: skip
CLI = {"trunk": "resnet18", "side": 32, "clips": 1, "batch_size": 4, "steps": 2, "workers": 0}
TINY_ARGS = [f"--{k}={v}" for k, v in {**TINY_BERT, **CLI}.items()]


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    return colour_pairs(tmp_path_factory.mktemp("colours"))


def _log(path):
    return [json.loads(line) for line in (path / "log.jsonl").read_text().splitlines()]


def test_resume_from_a_checkpoint_continues_exactly(pairs, tmp_path):
    torch.set_num_threads(1)
    train(pairs, tmp_path, TINY)
    full = _log(tmp_path)
    assert [line["step"] for line in full] == [1, 2, 3, 4]
    final = ClipBertForRetrieval.from_pretrained(tmp_path / "final").state_dict()
    shutil.rmtree(tmp_path / "checkpoints" / "step-4")  # killed after step 2
    shutil.rmtree(tmp_path / "final")
    assert latest_checkpoint(tmp_path).name == "step-2"
    train(pairs, tmp_path, TINY, resume=True)
    resumed = _log(tmp_path)
    assert [(a["loss"], a["lr"]) for a in full] == [(b["loss"], b["lr"]) for b in resumed]
    again = ClipBertForRetrieval.from_pretrained(tmp_path / "final").state_dict()
    assert all(torch.equal(final[k], again[k]) for k in final)
    assert json.loads((tmp_path / "final" / "preset.json").read_text())["side"] == 32


def test_bad_files_never_stop_training_and_are_counted(pairs, tmp_path):
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 64)
    junk = dataclasses.replace(pairs[0], video_id="junk", path=str(tmp_path / "junk.mp4"))
    last = train([*pairs, junk], tmp_path / "run", dataclasses.replace(TINY, steps=1))
    assert last["step"] == 1 and last["skipped"] == {"corrupt_media": 1}


def test_train_then_retrieval_on_the_sample_corpus_with_videobert_beside(tiny_corpus, tmp_path):
    save = tmp_path / "clipbert"
    main(["--out", tiny_corpus, "--save", str(save), "--data", "corpus", *TINY_ARGS])
    assert (save / "final" / "model.safetensors").exists()
    captions = tmp_path / "clipbert-captions"  # --data auto: the sample world's captions
    main(["--out", tiny_corpus, "--save", str(captions), *TINY_ARGS])
    assert (captions / "final" / "model.safetensors").exists()
    videobert = tmp_path / "videobert"
    build_model("random", f"{tiny_corpus}/kmeans/centroids.parquet", **TINY_BERT).save_pretrained(
        videobert
    )
    metrics = tmp_path / "retrieval.json"
    args = ["--clipbert", str(save / "final"), "--clips", "2", "--workers", "0"]
    args += ["--videobert", str(videobert), "--metrics", str(metrics)]
    result = retrieval.main(["--out", tiny_corpus, *args])
    truth = pq.read_table(f"{tiny_corpus}/sample/ground_truth.parquet").to_pylist()
    assert result["queries"] == sum(a["split"] == "heldout" for a in truth) > 0
    for method in ("chance", "videobert", "clipbert"):
        assert set(result[method]) == {"R@1", "R@5", "R@10", "MdR"}
        assert 0.0 <= result[method]["R@1"] <= result[method]["R@10"] <= 1.0
    assert json.loads(metrics.read_text()) == result
    assert "clipbert" in retrieval.table(result) and "videobert" in retrieval.table(result)


def test_missing_inputs_are_clear_errors(tmp_path, tiny_corpus):
    with pytest.raises(SystemExit, match="make corpus"):
        main(["--out", str(tmp_path), *TINY_ARGS])
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--data", "msrvtt"])  # needs --videos
    with pytest.raises(SystemExit, match="no sample world"):
        main(["--out", str(tmp_path), "--data", "sample_captions", *TINY_ARGS])
    with pytest.raises(SystemExit, match="make clipbert"):
        retrieval.main(["--out", tiny_corpus, "--clipbert", str(tmp_path / "nope")])
