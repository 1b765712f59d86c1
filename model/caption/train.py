"""Training the captioner: Adam with linear decay, checkpoints and exact resume like model.train.

`train_captioner(features, targets, out, preset)` trains on segment features (N, F) and, per
segment, one or more reference captions as compact id lists (`CaptionVocab.encode`). Example i
of step s is drawn by `np.random.default_rng([seed, s])` (a segment, then one of its
references), so a resumed run sees exactly the batches an uninterrupted one would; dropout's
RNG is saved with each checkpoint. Writes OUT/log.jsonl, OUT/checkpoints/step-N (save_pretrained
+ trainer_state.pt + rng-0.pt, via `model.train.save_checkpoint`) and OUT/final/.
"""

import dataclasses
import json
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from model.caption.captioner import Captioner, pad_batch
from model.train import (
    Dist,
    latest_checkpoint,
    lr_factor,
    save_checkpoint,
    set_rng_state,
    truncate_log,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaptionPreset:
    d_model: int = 128
    num_layers: int = 2
    """Encoder layers and decoder layers each."""
    nhead: int = 8
    dim_feedforward: int = 512
    dropout: float = 0.4
    max_len: int = 32
    """WordPiece tokens per caption at most (YouCook II captions: ~12 on average)."""
    batch_size: int = 128
    steps: int = 40_000
    lr: float = 1e-3
    warmup_steps: int = 0
    """Adam at lr, decayed linearly to 0 (the paper states no warmup)."""
    clip: float = 1.0
    label_smoothing: float = 0.1
    beam: int = 3
    """Beam width for the reported captions (1: greedy)."""
    seed: int = 0
    checkpoint_every: int = 2_000
    log_every: int = 100


PRESETS = {
    # The paper (§4.6): 2-layer transformer, hidden 128, dropout 0.4, Adam 1e-3 with linear
    # decay, 40K iterations at batch 128.
    "paper": CaptionPreset(),
    # The sample world (~120 training actions): the same model, ~20-40 s per row on 2 cores.
    "small": CaptionPreset(batch_size=64, steps=600, checkpoint_every=300, log_every=50),
}


def batch_indices(
    step: int, seed: int, batch_size: int, n_refs: Sequence[int]
) -> list[tuple[int, int]]:
    """(segment, reference) pairs of step `step`: a pure function of (seed, step)."""
    rng = np.random.default_rng([seed, step])
    segments = rng.integers(0, len(n_refs), batch_size)
    return [(int(s), int(rng.integers(n_refs[s]))) for s in segments]


def _build(checkpoint: Path | None, input_dims, vocab, preset: CaptionPreset):
    if checkpoint is not None:
        log.info("resuming from %s", checkpoint)
        model = Captioner.from_pretrained(checkpoint)
        return model, torch.load(checkpoint / "trainer_state.pt", weights_only=True)
    torch.manual_seed(preset.seed)
    model = Captioner(
        input_dims, len(vocab), vocab.wordpieces, preset.d_model, preset.num_layers,
        preset.nhead, preset.dim_feedforward, preset.dropout, preset.max_len,
    )  # fmt: skip
    return model, None


def train_captioner(
    features: np.ndarray,
    targets: Sequence[Sequence[Sequence[int]]],
    input_dims: Sequence[int],
    vocab,
    out: str | Path,
    preset: CaptionPreset = PRESETS["small"],
    *,
    resume: bool = True,
    device: str = "cpu",
) -> Captioner:
    """Trains (or resumes, or returns the finished model in OUT/final) and returns it."""
    out = Path(out)
    if resume and (out / "final" / "config.json").exists():
        return Captioner.from_pretrained(out / "final").to(device)
    if not resume:
        shutil.rmtree(out, ignore_errors=True)
    if features.shape[1] != sum(input_dims):
        raise ValueError(f"features have {features.shape[1]} columns, parts sum to {input_dims}")
    checkpoint = latest_checkpoint(out) if resume else None
    model, state = _build(checkpoint, list(input_dims), vocab, preset)
    model.to(device)
    start = state["step"] if state else 0
    optimizer = torch.optim.Adam(model.parameters(), lr=preset.lr)
    schedule = lambda s: lr_factor(s, preset.warmup_steps, preset.steps)  # noqa: E731
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(torch.load(checkpoint / "rng-0.pt", weights_only=True))
    x_all = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)).to(device)
    if state is None:
        model.set_feature_stats(x_all)
    n_refs = [len(t) for t in targets]
    out.mkdir(parents=True, exist_ok=True)
    truncate_log(out / "log.jsonl", start)
    model.train()
    total, n, t0 = 0.0, 0, time.monotonic()
    for step in range(start, preset.steps):
        pairs = batch_indices(step, preset.seed, preset.batch_size, n_refs)
        rows = torch.tensor([s for s, _ in pairs], device=device)
        tokens = pad_batch([targets[s][r] for s, r in pairs]).to(device)
        _, loss = model(x_all[rows], tokens, preset.label_smoothing)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite captioning loss {loss.item()} at step {step}")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), preset.clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        total, n = total + loss.item(), n + 1
        done = step + 1
        if done % preset.log_every == 0 or done == preset.steps:
            lr, seconds = scheduler.get_last_lr()[0], time.monotonic() - t0
            line = {"step": done, "loss": total / n, "lr": lr, "seconds": seconds}
            with (out / "log.jsonl").open("a") as f:
                f.write(json.dumps(line) + "\n")
            total, n = 0.0, 0
        if done % preset.checkpoint_every == 0 or done == preset.steps:
            save_checkpoint(out, model, optimizer, scheduler, done, preset, Dist())
    model.save_pretrained(out / "final")
    return model.eval()


@torch.no_grad()
def caption(
    model: Captioner, features: np.ndarray, beam: int, batch_size: int = 256, device: str = "cpu"
) -> list[list[int]]:
    """Compact ids of each row's caption (beam=1: greedy)."""
    model.eval()
    x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    out: list[list[int]] = []
    for i in range(0, len(x), batch_size):
        out += model.generate(x[i : i + batch_size].to(device), beam=beam)
    return out


def preset_from(name: str, **overrides) -> CaptionPreset:
    return dataclasses.replace(PRESETS[name], **overrides)
