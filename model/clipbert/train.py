"""`make clipbert`: train ClipBERT end to end on sparse clips decoded from the video files.

    python -m model.clipbert.train --out OUT --save OUT/clipbert [--preset small|paper]
        [--data auto|corpus|sample_captions|msrvtt|youcook2 ...] [--resume]
        [--<any preset field> VALUE ...]

Pairs: `corpus` the corpus's sentences over their spans of the videos the DAG has (the ASR text
VideoBERT trains on); `sample_captions` the sample world's training actions with human-style
captions (caption data, what ClipBERT trains on); `auto` (default) the second when OUT holds the
sample world, else the first; `msrvtt` / `youcook2` caption datasets you supply (see `--help`).
Each step draws `batch_size` pairs and, per pair, `clips` x `frames` sparse frames at random
positions (model.clipbert.data), decoded by DataLoader workers while the model trains; files that
fail are skipped and counted by reason (log.jsonl `skipped`).

Writes SAVE/log.jsonl, checkpoints/step-N (save_pretrained + optimizer/scheduler/RNG, exact
resume: the examples of step s depend only on (seed, s)) and final/ (+ preset.json, which
`make retrieval` reads for the frame size and clip layout). AdamW, linear warmup then decay,
gradient accumulation (each micro-batch takes its negatives from itself), clipping; bf16 autocast
on CUDA (--no-amp to turn it off). One process (no DDP).
"""

import argparse
import dataclasses
import json
import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from model.clipbert.data import ClipDataset, Collate, StepBatches, loader, usable_pairs
from model.clipbert.datasets import (
    corpus_pairs,
    has_sample_world,
    msrvtt_train_pairs,
    sample_world_pairs,
    youcook2_pairs,
)
from model.clipbert.init import build_clipbert
from model.clipbert.modeling import ClipBertForRetrieval
from model.clipbert.sampling import SamplingConfig
from model.train import (
    Dist,
    latest_checkpoint,
    lr_factor,
    parse_bool,
    save_checkpoint,
    set_rng_state,
    truncate_log,
)
from schemas.process import run_cli
from schemas.text import load_tokenizer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preset:
    init: str = "random"
    """Text BERT: random | minilm-local | a Hub name (bert-base-uncased) | a directory."""
    trunk: str = "resnet50"
    trunk_weights: str = "random"
    """imagenet | random | a state-dict path (model.clipbert.init)."""
    hidden_size: int = 256
    """Used by init=random only (pretrained inits bring their own sizes)."""
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    intermediate_size: int = 1024
    dropout: float = 0.1
    clips: int = 4
    """Sparse clips per example at training (N)."""
    frames: int = 1
    """Frames per clip (T), mean-pooled."""
    clip_s: float = 1.0
    side: int = 64
    eval_clips: int = 16
    """Dense clips per video at inference."""
    aggregate: str = "lse"
    """Clip scores → example score: lse | mean."""
    negatives: int = 7
    """In-batch negative videos per text."""
    per_video: int = 1
    """Pairs of one video next to each other in a batch (data.StepBatches): > 1 makes other
    moments of the same video negatives too."""
    batch_size: int = 16
    grad_accum: int = 1
    steps: int = 1000
    lr: float = 1e-4
    """BERT and heads."""
    trunk_lr: float = 5e-4
    """The ResNet trunk and the 1x1 projection."""
    warmup_steps: int = 30
    weight_decay: float = 0.01
    clip: float = 1.0
    max_text_len: int = 32
    workers: int = 2
    """DataLoader decoding processes (0: decode in the training process)."""
    seed: int = 0
    checkpoint_every: int = 250
    log_every: int = 50

    def sampling(self, dense: bool = False) -> SamplingConfig:
        clips = self.eval_clips if dense else self.clips
        return SamplingConfig(clips=clips, frames=self.frames, clip_s=self.clip_s, side=self.side)


PRESETS = {
    # Sized for the sample world (as VideoBERT's `small`): a random 2-layer BERT (the world's
    # ~20 words need no pretrained one; `--init minilm-local` for the wheel's MiniLM), a random
    # ResNet-50 at 64² (2x2 conv5 map → one visual token per clip after the 2x2 pool), 4x1
    # sparse clips, 1000 steps of 16: ~1 minute on one GPU, ~30-40 minutes on 2 CPU cores.
    "small": Preset(),
    # ClipBERT's MSRVTT retrieval setting (Lei et al. 2021, §4 and Tables 3-4, 7a): BERT-base,
    # ImageNet ResNet-50, 4x1 sparse clips for training, 16 dense clips and LogSumExp at
    # inference, lr 5e-5 (AdamW). The paper's 448-long-side frames are 448² crops here; its
    # batch/steps are per dataset (values below: ours, not stated in this form in the paper).
    "paper": Preset(
        init="bert-base-uncased",
        trunk_weights="imagenet",
        clips=4,
        side=448,
        negatives=7,
        batch_size=32,
        steps=20_000,
        lr=5e-5,
        trunk_lr=5e-5,
        warmup_steps=1000,
        workers=8,
        checkpoint_every=2000,
        log_every=50,
    ),
}


def build(preset: Preset) -> ClipBertForRetrieval:
    sizes = {"hidden_dropout_prob": preset.dropout, "attention_probs_dropout_prob": preset.dropout}
    if preset.init == "random":
        sizes |= {k: getattr(preset, k) for k in ("hidden_size", "num_hidden_layers")}
        sizes |= {k: getattr(preset, k) for k in ("num_attention_heads", "intermediate_size")}
    return build_clipbert(
        preset.init, preset.trunk, preset.trunk_weights, seed=preset.seed,
        aggregate=preset.aggregate, **sizes,
    )  # fmt: skip


def param_groups(model: ClipBertForRetrieval, preset: Preset) -> list[dict]:
    visual = [*model.trunk.parameters(), *model.proj.parameters()]
    ids = {id(p) for p in visual}
    rest = [p for p in model.parameters() if id(p) not in ids]
    return [{"params": visual, "lr": preset.trunk_lr}, {"params": rest, "lr": preset.lr}]


def train(
    pairs, save: str | Path, preset: Preset = PRESETS["small"], *,
    resume: bool = False, device: str | None = None, amp: bool | None = None,
) -> dict:  # fmt: skip
    """Train on `pairs` (data.Pair); returns the last log line."""
    save = Path(save)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    amp = dev.type == "cuda" if amp is None else amp
    d = Dist(device=dev)
    torch.manual_seed(preset.seed)
    pairs, bad = usable_pairs(pairs, preset.sampling())
    checkpoint = latest_checkpoint(save) if resume else None
    if resume and checkpoint is None:
        log.warning("--resume: no checkpoint under %s, starting from step 0", save)
    if checkpoint is not None:
        log.info("resuming from %s", checkpoint)
        model = ClipBertForRetrieval.from_pretrained(checkpoint)
        state = torch.load(checkpoint / "trainer_state.pt", weights_only=True)
    else:
        model, state = build(preset), None
    model.to(dev, memory_format=torch.channels_last)
    start = state["step"] if state else 0
    optimizer = torch.optim.AdamW(param_groups(model, preset), weight_decay=preset.weight_decay)
    schedule = lambda s: lr_factor(s, preset.warmup_steps, preset.steps)  # noqa: E731
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(torch.load(checkpoint / "rng-0.pt", weights_only=True))
    cfg = model.config
    collate = Collate(cfg.cls_token_id, cfg.sep_token_id, cfg.pad_token_id, preset.max_text_len)
    dataset = ClipDataset(pairs, preset.sampling(), preset.seed)
    batches = StepBatches(
        len(pairs), preset.batch_size, preset.steps, start, preset.seed,
        [p.video_id for p in pairs], preset.per_video,
    )  # fmt: skip
    data = loader(dataset, collate, batch_sampler=batches, workers=preset.workers)
    save.mkdir(parents=True, exist_ok=True)
    log_path = save / "log.jsonl"
    truncate_log(log_path, start)
    log.info("training on %d pairs (%d dropped: %s) on %s", len(pairs), sum(bad.values()),
             dict(bad), dev)  # fmt: skip

    skipped, last = Counter(bad), {}
    loss_sum = hits = seen = clips = 0.0
    t0 = time.monotonic()
    model.train()
    bar = tqdm(zip(range(start, preset.steps), data, strict=True), initial=start,
               total=preset.steps)  # fmt: skip
    for step, batch in bar:
        skipped.update(reason for _, reason, _ in batch["skipped"])
        n = len(batch["index"])
        micro = [range(m, n, preset.grad_accum) for m in range(preset.grad_accum)]
        micro = [list(m) for m in micro if len(m) >= 2]  # in-batch negatives need 2 videos
        for m in micro:
            frames = batch["frames"][m].to(dev, non_blocking=True)
            ids, mask = batch["text_ids"][m].to(dev), batch["text_mask"][m].to(dev)
            with torch.autocast(dev.type, torch.bfloat16, enabled=amp):
                loss, scores = model(frames, ids, mask, negatives=preset.negatives)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite loss {loss.item()} at step {step}")
            (loss / len(micro)).backward()
            loss_sum += loss.item() * len(m)
            hits += float((scores.argmax(1) == 0).sum())
            seen += len(m)
            clips += frames.shape[0] * frames.shape[1]
        torch.nn.utils.clip_grad_norm_(model.parameters(), preset.clip)
        lr = scheduler.get_last_lr()[1]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        done = step + 1
        if done % preset.log_every == 0 or done == preset.steps:
            seconds = time.monotonic() - t0
            last = {"step": done, "lr": lr, "loss": loss_sum / max(1.0, seen),
                    "in_batch_acc": hits / max(1.0, seen), "clips_per_s": clips / seconds,
                    "skipped": dict(skipped)}  # fmt: skip
            loss_sum = hits = seen = clips = 0.0
            t0 = time.monotonic()
            with log_path.open("a") as f:
                f.write(json.dumps(last) + "\n")
            bar.set_postfix(loss=f"{last['loss']:.3f}", acc=f"{last['in_batch_acc']:.2f}")
        if done % preset.checkpoint_every == 0 or done == preset.steps:
            save_checkpoint(save, model, optimizer, scheduler, done, preset, d)
    model.save_pretrained(save / "final")
    (save / "final" / "preset.json").write_text(json.dumps(asdict(preset), indent=2))
    print(f"clipbert: {preset.steps} steps → {save / 'final'}; skipped {dict(skipped)}")
    return last


def load_pairs(args, tokenize) -> list:
    if args.data == "auto":  # caption data where OUT has it (the sample world), else the ASR
        args.data = "sample_captions" if has_sample_world(args.out) else "corpus"
        log.info("--data auto: training on %s pairs", args.data)
    if args.data == "corpus":
        return corpus_pairs(args.out)
    if args.data == "sample_captions":
        return sample_world_pairs(args.out, tokenize)
    if args.data == "msrvtt":
        return msrvtt_train_pairs(args.msrvtt_json, args.msrvtt_train_csv, args.videos, tokenize)
    return youcook2_pairs(args.youcook2, args.videos, tokenize, "training")


def parse_args(argv=None) -> tuple[argparse.Namespace, Preset]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="corpus root (corpus/, discover/, sample/)")
    parser.add_argument("--save", help="where to write (default OUT/clipbert)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument(
        "--data", choices=("auto", "corpus", "sample_captions", "msrvtt", "youcook2"),
        default="auto", help="auto: sample_captions when OUT holds the sample world, else corpus",
    )  # fmt: skip
    parser.add_argument("--videos", help="msrvtt / youcook2: the directory of video files")
    parser.add_argument("--msrvtt_json", help="MSRVTT_data.json")
    parser.add_argument("--msrvtt_train_csv", help="MSRVTT_train.9k.csv (column video_id)")
    parser.add_argument("--youcook2", help="youcookii_annotations_trainval.json")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--device", help="cpu | cuda (default: cuda when available)")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, help="bf16 autocast")
    for field in dataclasses.fields(Preset):
        kind = parse_bool if isinstance(field.default, bool) else type(field.default)
        parser.add_argument(f"--{field.name}", type=kind, help="preset override")
    args = parser.parse_args(argv)
    if args.data in ("msrvtt", "youcook2") and not args.videos:
        parser.error(f"--data {args.data} needs --videos")
    overrides = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(Preset)
        if getattr(args, f.name) is not None
    }
    return args, dataclasses.replace(PRESETS[args.preset], **overrides)


def main(argv=None) -> dict:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args, preset = parse_args(argv)
    tokenizer = load_tokenizer(None)
    tokenize = lambda t: tuple(tokenizer(t, add_special_tokens=False)["input_ids"])  # noqa: E731
    pairs = load_pairs(args, tokenize)
    save = args.save or f"{args.out.rstrip('/')}/clipbert"
    return train(pairs, save, preset, resume=args.resume, device=args.device, amp=args.amp)


if __name__ == "__main__":
    run_cli(main)
