"""Pretraining loop: LR schedule, per-regime losses, checkpoints, exact resume, the CLI."""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from model.data import TEXT, TEXT_VIDEO, VIDEO
from model.modeling import VideoBertForPreTraining
from model.train import Preset, latest_checkpoint, lr_factor, main, regime_losses, train
from tests.model.tiny import write_centroids, write_segments

TINY = Preset(
    hidden_size=32,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=64,
    batch_size=8,
    grad_accum=2,
    steps=4,
    warmup_steps=1,
    lr=3e-3,
    max_len=16,
    checkpoint_every=2,
    log_every=1,
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return write_segments(root / "segments.parquet"), write_centroids(root / "centroids.parquet")


def test_lr_warms_up_then_decays_linearly_to_zero():
    factors = [lr_factor(s, warmup=4, total=12) for s in range(12)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert factors[4:] == [1.0, 7 / 8, 6 / 8, 5 / 8, 4 / 8, 3 / 8, 2 / 8, 1 / 8]
    assert lr_factor(12, 4, 12) == 0.0


def test_regime_losses_sum_token_losses_per_regime():
    labels = torch.tensor([[-100, 1, -100], [2, -100, 0]])  # masked rows: (0,1), (1,0), (1,2)
    logits = torch.zeros(3, 4)
    logits[0, 1] = 10.0  # right and confident
    token_losses = F.cross_entropy(logits, labels[labels != -100], reduction="none")
    out = regime_losses(token_losses, labels, regime=torch.tensor([TEXT, VIDEO]))
    assert out[TEXT].tolist() == pytest.approx([math.log1p(3 * math.exp(-10.0)), 1], rel=1e-3)
    assert out[VIDEO].tolist() == pytest.approx([2 * math.log(4.0), 2])
    assert out[TEXT_VIDEO].tolist() == [0, 0]


def _log(path):
    return [json.loads(line) for line in (path / "log.jsonl").read_text().splitlines()]


def test_resume_from_a_checkpoint_continues_exactly(corpus, tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / "run"
    train(*corpus, out, TINY)
    full = _log(out)
    assert [line["step"] for line in full] == [1, 2, 3, 4]
    assert {"loss_text", "loss_video", "loss_text_video", "alignment_acc"} <= set(full[0])
    final = VideoBertForPreTraining.from_pretrained(out / "final").state_dict()
    # Interrupted after step 2: drop what came later, then resume in a fresh call.
    shutil.rmtree(out / "checkpoints" / "step-4")
    shutil.rmtree(out / "final")
    assert latest_checkpoint(out).name == "step-2"
    train(*corpus, out, TINY, resume=True)
    resumed = _log(out)
    assert [line["step"] for line in resumed] == [1, 2, 3, 4]
    for a, b in zip(full, resumed, strict=True):
        assert a["loss"] == b["loss"] and a["lr"] == b["lr"]
    again = VideoBertForPreTraining.from_pretrained(out / "final").state_dict()
    assert all(torch.equal(final[name], again[name]) for name in final)


def test_cli_trains_and_writes_final_model_and_log(corpus, tmp_path, capsys):
    torch.set_num_threads(1)
    args = ["--corpus", str(corpus[0]), "--centroids", str(corpus[1]), "--out", str(tmp_path)]
    sizes = ["--hidden_size", "32", "--num_hidden_layers", "1", "--num_attention_heads", "2"]
    main([*args, *sizes, "--intermediate_size", "64", "--steps", "2", "--batch_size", "4"])
    assert "pretrain: 2 steps" in capsys.readouterr().out
    assert (tmp_path / "final" / "config.json").exists()
    assert (tmp_path / "checkpoints" / "step-2" / "trainer_state.pt").exists()
    model = VideoBertForPreTraining.from_pretrained(tmp_path / "final")
    assert model.config.hidden_size == 32 and model.config.num_visual_tokens == 9


def test_torchrun_ddp_ranks_train_together(corpus, tmp_path):
    """Two CPU ranks (gloo): disjoint examples, one checkpoint with an RNG state per rank."""
    args = ["--corpus", str(corpus[0]), "--centroids", str(corpus[1]), "--out", str(tmp_path)]
    sizes = ["--hidden_size", "32", "--num_hidden_layers", "1", "--num_attention_heads", "2"]
    sizes += ["--intermediate_size", "64", "--steps", "2", "--batch_size", "8", "--log_every", "1"]
    sizes += ["--grad_accum", "2"]  # no_sync on the first micro-batch
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path.cwd())}
    command = [str(torchrun), "--nproc_per_node", "2", "-m", "model.train", *args, *sizes]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    step = tmp_path / "checkpoints" / "step-2"
    assert sorted(p.name for p in step.glob("rng-*.pt")) == ["rng-0.pt", "rng-1.pt"]
    assert [line["step"] for line in _log(tmp_path)] == [1, 2]
    assert done.stdout.count("pretrain: 2 steps") == 1  # rank 0 alone reports


def test_cli_rejects_a_missing_corpus(corpus, tmp_path):
    args = ["--corpus", str(tmp_path / "none.parquet"), "--centroids", str(corpus[1])]
    with pytest.raises(FileNotFoundError):
        main([*args, "--out", str(tmp_path), "--steps", "1", "--hidden_size", "32"])
