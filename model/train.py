"""`make pretrain`: VideoBERT pretraining on the segment corpus.

    python -m model.train --corpus OUT/corpus \
        --centroids OUT/kmeans/centroids.parquet --out OUT/pretrain [--preset small|paper]
        [--resume] [--<any preset field> VALUE ...]
    torchrun --nproc_per_node 8 -m model.train ...      # DDP: every rank builds its own examples

Writes OUT/pretrain/log.jsonl (losses per regime), checkpoints/step-N (save_pretrained + the
optimizer/scheduler/RNG state) and final/ (save_pretrained). AdamW (weight_decay 0 = the paper's
Adam) with linear warmup then linear decay, gradient accumulation and clipping; on CUDA bf16
autocast and torch.compile (--no-amp / --no-compile to turn them off).
"""

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm import tqdm

from model.data import REGIMES, PretrainingData, load_segments, log_unigram_prior
from model.init import build_model
from model.modeling import IGNORE, VideoBertForPreTraining
from model.presets import PRESETS, Preset, check_choices, departures
from schemas.process import run_cli

__all__ = ["PRESETS", "Preset", "main", "train"]

log = logging.getLogger(__name__)


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Multiplier of the peak lr for optimizer step `step` (0-based): linear warmup to 1 over
    `warmup` steps, then linear decay to 0 at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def regime_losses(
    token_losses: torch.Tensor, labels: torch.Tensor, regime: torch.Tensor
) -> torch.Tensor:
    """(3, 2) [sum of token CE, token count] per regime from the masked positions' losses
    (row-major order of labels != IGNORE, as the model returns them)."""
    rows = regime[:, None].expand_as(labels)[labels != IGNORE]
    out = torch.zeros(len(REGIMES), 2, device=token_losses.device)
    out[:, 0].index_add_(0, rows, token_losses.float())
    out[:, 1].index_add_(0, rows, torch.ones_like(token_losses, dtype=torch.float))
    return out


def alignment_hits(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """[correct, count] of the alignment predictions where labels != IGNORE."""
    valid = labels != IGNORE
    correct = (logits.detach().argmax(-1) == labels)[valid].sum()
    return torch.stack([correct, valid.sum()]).float()


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")


def setup_distributed(device: str | None) -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available() and device != "cpu"
    if world == 1:
        return Dist(device=torch.device(device or ("cuda" if cuda else "cpu")))
    dist.init_process_group("nccl" if cuda else "gloo")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local)
    return Dist(dist.get_rank(), world, torch.device(f"cuda:{local}" if cuda else "cpu"))


def latest_checkpoint(out: Path) -> Path | None:
    steps = [
        (int(p.name.split("-")[1]), p)
        for p in (out / "checkpoints").glob("step-*")
        if p.name.split("-")[1].isdigit() and (p / "trainer_state.pt").exists()
    ]
    return max(steps)[1] if steps else None


def save_checkpoint(out: Path, model, optimizer, scheduler, step: int, preset: Preset, d: Dist):
    """checkpoints/step-N: the model (save_pretrained) and trainer_state.pt, written under a
    temporary name then renamed (a killed run never leaves a half checkpoint); RNG per rank."""
    final = out / "checkpoints" / f"step-{step}"
    tmp = final.with_name(final.name + ".tmp")
    if d.rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
    _barrier(d)
    torch.save(rng_state(), tmp / f"rng-{d.rank}.pt")
    if d.rank == 0:
        state = {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": step,
            "preset": asdict(preset),
        }
        torch.save(state, tmp / "trainer_state.pt")
    _barrier(d)
    if d.rank == 0:
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
    _barrier(d)


def rng_state() -> dict:
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return {"cpu": torch.get_rng_state(), "cuda": cuda}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["cpu"])
    if state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])


def _barrier(d: Dist) -> None:
    if d.world > 1:
        dist.barrier()


def truncate_log(path: Path, step: int) -> None:
    """Keep the log lines of steps ≤ step (a resumed run rewrites what came after)."""
    if path.exists():
        lines = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= step]
        path.write_text("".join(line + "\n" for line in lines))


def _model_and_state(checkpoint: Path | None, centroids, preset: Preset):
    """The model (and the trainer state) from a checkpoint, else freshly built."""
    if checkpoint is not None:
        log.info("resuming from %s", checkpoint)
        model = VideoBertForPreTraining.from_pretrained(checkpoint)
        return model, torch.load(checkpoint / "trainer_state.pt", weights_only=True)
    sizes = {
        "hidden_dropout_prob": preset.dropout,
        "attention_probs_dropout_prob": preset.dropout,
    }
    if preset.init == "random":
        sizes |= {
            "hidden_size": preset.hidden_size,
            "num_hidden_layers": preset.num_hidden_layers,
            "num_attention_heads": preset.num_attention_heads,
            "intermediate_size": preset.intermediate_size,
        }
    model = build_model(
        preset.init,
        centroids,
        seed=preset.seed,
        visual_init=preset.visual_init,
        alignment_init=preset.alignment_init,
        **sizes,
    )
    return model, None


@torch.no_grad()
def init_prior_bias(model: VideoBertForPreTraining, videos, mode: str) -> None:
    """The MLM decoder bias at start (`--prior_bias`, see Preset.prior_bias)."""
    if mode == "none":
        return
    config, bias = model.config, model.cls.predictions.bias
    prior = log_unigram_prior(videos, config)
    if mode == "all":
        bias.copy_(prior)
        log.info("init: MLM bias = the corpus' log unigram frequencies for every id")
        return
    text_mean = bias[: config.text_vocab_size].mean()
    visual = prior[config.first_visual_id :]
    bias[config.first_visual_id :] = visual - visual.mean() + text_mean
    bias[config.video_sep_id] = text_mean
    log.info("init: MLM bias: the text checkpoint's for WordPieces; visual ids from the corpus")


def train(
    corpus: str | Path,
    centroids: str | Path,
    out: str | Path,
    preset: Preset = PRESETS["small"],
    *,
    resume: bool = False,
    device: str | None = None,
    amp: bool | None = None,
    compile_model: bool | None = None,
    splits: tuple[str, ...] | None = ("train",),
) -> dict:
    """Pretrain; returns the summary (also printed and the last line of log.jsonl)."""
    out = Path(out)
    check_choices(preset)
    d = setup_distributed(device)
    if d.rank == 0:
        taken = departures(preset)
        log.info("departures from the paper's recipe: %s", "none" if not taken else "")
        for line in taken:
            log.info("  - %s", line)
    on_cuda = d.device.type == "cuda"
    amp = on_cuda if amp is None else amp
    compile_model = on_cuda if compile_model is None else compile_model
    torch.manual_seed(preset.seed + d.rank)

    checkpoint = latest_checkpoint(out) if resume else None
    if resume and checkpoint is None:
        log.warning("--resume: no checkpoint under %s, starting from step 0", out)
    model, state = _model_and_state(checkpoint, centroids, preset)
    start = state["step"] if state else 0
    videos = load_segments(corpus, splits)
    if state is None:
        init_prior_bias(model, videos, preset.prior_bias)
    model.to(d.device)
    config = model.config
    data = PretrainingData(
        videos,
        config,
        max_len=preset.max_len,
        seed=preset.seed,
        mask_prob=preset.mask_prob,
        text_video_mask_prob=preset.text_video_mask_prob,
        max_concat=preset.max_concat,
        max_subsample=preset.max_subsample,
        regime_weights=[float(w) for w in preset.regime_weights.split(",")],
    )
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        params, lr=preset.lr, weight_decay=preset.weight_decay, fused=on_cuda or None
    )
    schedule = lambda s: lr_factor(s, preset.warmup_steps, preset.steps)  # noqa: E731
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(torch.load(checkpoint / f"rng-{d.rank}.pt", weights_only=True))

    ddp = None
    if d.world > 1:
        ddp = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[d.device.index] if on_cuda else None
        )
    step_model = ddp or model
    if compile_model:  # compile the DDP wrapper (not the reverse): DDP-aware graph breaks
        step_model = torch.compile(step_model)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "log.jsonl"
    if d.rank == 0:
        truncate_log(log_path, start)
    indices = list(range(d.rank, preset.batch_size, d.world))
    micro = [indices[m :: preset.grad_accum] for m in range(preset.grad_accum)]
    n_params = sum(p.numel() for p in params)
    frozen = model.num_parameters() - n_params
    log.info("training %d parameters (%d frozen) on %s", n_params, frozen, d.device)

    stats = torch.zeros(len(REGIMES), 2, device=d.device)
    align = torch.zeros(2, device=d.device)  # [correct, count]
    tokens, t0, last = 0, time.monotonic(), {}
    bar = tqdm(range(start, preset.steps), initial=start, total=preset.steps, disable=d.rank != 0)
    step_model.train()
    for step in bar:
        for m, chunk in enumerate(micro):
            batch = {k: v.to(d.device) for k, v in data.batch(step, chunk).items()}
            regime = batch.pop("regime")
            last_micro = m == len(micro) - 1
            ctx = ddp.no_sync() if ddp and not last_micro else contextlib.nullcontext()
            with ctx, torch.autocast(d.device.type, torch.bfloat16, enabled=amp):
                output = step_model(**batch)
                loss = output.loss / len(micro)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite loss {loss.item()} at step {step}")
            loss.backward()
            stats += regime_losses(output.mlm_token_losses, batch["labels"], regime)
            align += alignment_hits(output.alignment_logits, batch["alignment_labels"])
            tokens += int(batch["attention_mask"].sum())
        torch.nn.utils.clip_grad_norm_(params, preset.clip)
        lr = scheduler.get_last_lr()[0]  # this step's
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        done = step + 1
        if done % preset.log_every == 0 or done == preset.steps:
            last = _log_line(done, lr, stats, align, tokens * d.world, t0, d)
            stats.zero_()
            align.zero_()
            if d.rank == 0:
                with log_path.open("a") as f:
                    f.write(json.dumps(last) + "\n")
                bar.set_postfix(loss=f"{last['loss']:.3f}")
        if done % preset.checkpoint_every == 0 or done == preset.steps:
            save_checkpoint(out, model, optimizer, scheduler, done, preset, d)
    if d.rank == 0:
        model.save_pretrained(out / "final")
        _print_summary(last, out, time.monotonic() - t0)
    if d.world > 1:
        dist.destroy_process_group()
    return last


def _log_line(step, lr, stats, align, tokens, t0, d: Dist) -> dict:
    if d.world > 1:
        dist.all_reduce(stats)
        dist.all_reduce(align)
    sums, counts = stats[:, 0].tolist(), stats[:, 1].tolist()
    line = {"step": step, "lr": lr}
    line["loss"] = sum(sums) / max(1.0, sum(counts))  # MLM, all regimes
    for name, s, c in zip(REGIMES, sums, counts, strict=True):
        line[f"loss_{name}"] = s / c if c else None  # JSON null: no example of that regime
    correct, count = align.tolist()
    line["alignment_acc"] = correct / count if count else None
    line["tokens_per_s"] = tokens / (time.monotonic() - t0)
    return line


def _print_summary(last: dict, out: Path, seconds: float) -> None:
    print(f"pretrain: {last.get('step', 0)} steps in {seconds:.0f} s → {out / 'final'}")
    for key, value in last.items():
        if key != "step" and value is not None:
            print(f"  {key:<18} {value:.4g}")


def parse_bool(text: str) -> bool:
    if text.lower() not in ("true", "false", "1", "0"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return text.lower() in ("true", "1")


def parse_args(argv=None) -> tuple[argparse.Namespace, Preset]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, help="OUT/corpus (its shards; local or gs://)")
    parser.add_argument("--centroids", required=True, help="OUT/kmeans/centroids.parquet")
    parser.add_argument("--out", required=True, help="OUT/pretrain")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    parser.add_argument("--device", help="cpu | cuda (default: cuda when available)")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, help="bf16 autocast")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, help="torch.compile")
    parser.add_argument("--splits", default="train", help="comma-separated; 'all' for every row")
    for field in dataclasses.fields(Preset):
        kind = parse_bool if isinstance(field.default, bool) else type(field.default)
        parser.add_argument(f"--{field.name}", type=kind, help="preset override")
    args = parser.parse_args(argv)
    overrides = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(Preset)
        if getattr(args, f.name) is not None
    }
    return args, dataclasses.replace(PRESETS[args.preset], **overrides)


def main(argv=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args, preset = parse_args(argv)
    splits = None if args.splits == "all" else tuple(args.splits.split(","))
    train(
        args.corpus,
        args.centroids,
        args.out,
        preset,
        resume=args.resume,
        device=args.device,
        amp=args.amp,
        compile_model=args.compile,
        splits=splits,
    )


if __name__ == "__main__":
    run_cli(main)
