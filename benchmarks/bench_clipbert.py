"""ClipBERT's point, measured: sparse clips train faster and lighter than dense ones, and no worse.

1. Training throughput (the whole step: DataLoader workers decoding from an H.264 file by
   seeking, ResNet-50 + BERT forward/backward, AdamW) and peak memory for sparse 1x1, 4x1, 1x2
   and dense 16x1 (clips x frames) with the same model and batch size, one fresh process per
   layout (peak memory: CUDA max allocated, else the process's VmHWM), side by side in one run.
2. When OUT holds the sample corpus (`make corpus`), on a GPU (or --quick: 30 steps): text-to-
   video R@1 on the sample world's held-out actions after training on its training captions
   with sparse 4x1 vs dense 16x1 clips (same preset, steps and evaluation: 16 dense clips,
   LogSumExp), beside chance.

    python -m benchmarks.bench_clipbert [--side 224 --batch 8 --steps 6 --out out]
"""

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import own_peak_rss_mb, textured_video
from model.clipbert.data import ClipDataset, Collate, Pair, StepBatches, loader
from model.clipbert.train import PRESETS, build
from schemas.process import exit_now

LAYOUTS = {"sparse 1x1": (1, 1), "sparse 4x1": (4, 1), "sparse 1x2": (1, 2), "dense 16x1": (16, 1)}


def measure(clips: int, frames: int, side: int, batch: int, steps: int, workers: int) -> dict:
    """One layout in this process: seconds per step after one warm-up step, and peak memory."""
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    video = str(textured_video(640, 360, 60.0))
    pairs = [
        Pair("bench", video, 4.0 * i % 52, 4.0 * i % 52 + 8.0, "x", (2000 + i,)) for i in range(64)
    ]
    preset = dataclasses.replace(
        PRESETS["small"],
        clips=clips,
        frames=frames,
        side=side,
        batch_size=batch,
        negatives=batch - 1,
        workers=workers,
    )
    model = build(preset).to(dev, memory_format=torch.channels_last).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    cfg = model.config
    data = loader(
        ClipDataset(pairs, preset.sampling()),
        Collate(cfg.cls_token_id, cfg.sep_token_id, cfg.pad_token_id),
        batch_sampler=StepBatches(len(pairs), batch, steps + 1),
        workers=workers,
    )
    t0 = None
    for i, b in enumerate(data):
        if i == 1:  # after the warm-up step (cuDNN autotuning, worker start-up)
            if dev.type == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            t0 = time.perf_counter()
        with torch.autocast(dev.type, torch.bfloat16, enabled=dev.type == "cuda"):
            loss, _ = model(
                b["frames"].to(dev),
                b["text_ids"].to(dev),
                b["text_mask"].to(dev),
                negatives=batch - 1,
            )
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - t0) / steps
    peak = torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else own_peak_rss_mb()
    return {"s_per_step": seconds, "peak_mb": peak, "device": dev.type}


def throughput(side: int, batch: int, steps: int, workers: int) -> list[str]:
    rows = {}
    for name, (clips, frames) in LAYOUTS.items():
        args = [
            "--layout",
            f"{clips}x{frames}",
            "--side",
            str(side),
            "--batch",
            str(batch),
            "--steps",
            str(steps),
            "--workers",
            str(workers),
        ]
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_clipbert", *args],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        rows[name] = json.loads(out.strip().splitlines()[-1]) | {"clips": clips, "frames": frames}
    dense = rows["dense 16x1"]
    lines = [
        f"clipbert training, ResNet-50 + BERT, {side}², batch {batch} "
        f"({dense['device']}, {workers} decoding workers, {steps} steps each)",
        f"  {'layout':<12}{'clips/s':>10}{'examples/s':>12}{'peak MB':>10}"
        f"{'x dense ex/s':>14}{'x dense mem':>13}",
    ]
    for name, r in rows.items():
        ex = batch / r["s_per_step"]
        dense_ex = batch / dense["s_per_step"]
        lines.append(
            f"  {name:<12}{ex * r['clips']:>10.1f}{ex:>12.2f}{r['peak_mb']:>10.0f}"
            f"{ex / dense_ex:>14.2f}{r['peak_mb'] / dense['peak_mb']:>13.2f}"
        )
    return lines


def retrieval_r1(out: str, steps: int) -> list[str]:
    """R@1 after sparse 4x1 vs dense 16x1 training on the sample world's training captions
    (`make clipbert`'s default there; same everything else)."""
    from model.clipbert.datasets import sample_world_pairs
    from model.clipbert.retrieval import main as retrieval
    from model.clipbert.train import train
    from schemas.text import load_tokenizer

    tokenizer = load_tokenizer(None)
    pairs = sample_world_pairs(
        out, lambda t: tuple(tokenizer(t, add_special_tokens=False)["input_ids"])
    )

    lines = [f"clipbert sample-world retrieval after {steps} steps (eval: 16 dense clips, LSE)"]
    for name, clips in (("sparse 4x1", 4), ("dense 16x1", 16)):
        preset = dataclasses.replace(
            PRESETS["small"], clips=clips, steps=steps, checkpoint_every=steps
        )
        with tempfile.TemporaryDirectory() as tmp:
            start = time.monotonic()
            train(pairs, tmp, preset)
            seconds = time.monotonic() - start
            r = retrieval(
                [
                    "--out",
                    out,
                    "--clipbert",
                    f"{tmp}/final",
                    "--videobert",
                    "none",
                    "--metrics",
                    f"{tmp}/r.json",
                ]
            )
        m = r["clipbert"]
        lines.append(
            f"  {name:<12} R@1 {m['R@1']:.3f}  R@5 {m['R@5']:.3f}  (chance R@1 "
            f"{r['chance']['R@1']:.3f}); trained in {seconds:.0f} s"
        )
    return lines


def main(
    quick: bool = False, side: int | None = None, batch: int = 8, out: str = "out"
) -> list[str]:
    gpu = torch.cuda.is_available()
    side = side or (224 if gpu else 64)
    steps = 2 if quick else (10 if gpu else 3)
    lines = throughput(side, batch, steps, workers=8 if gpu else 2)
    if not (
        list(Path(out, "corpus").glob("segments-*-of-*.parquet")) and Path(out, "sample").is_dir()
    ):
        lines.append(f"  (no sample corpus under {out}: `make corpus` for the retrieval part)")
    elif not (gpu or quick):  # two 1000-step trainings of ResNet-50: hours on 2 CPU cores
        lines.append("  (retrieval part: on a GPU, or --quick for 30 steps each)")
    else:
        lines += retrieval_r1(out, 30 if quick else PRESETS["small"].steps)
    return lines


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layout", help="CxF: measure one layout (a child of the benchmark)")
    parser.add_argument("--side", type=int)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="out")
    parser.add_argument("--quick", action="store_true")
    a = parser.parse_args()
    if a.layout:
        c, f = (int(x) for x in a.layout.split("x"))
        print(json.dumps(measure(c, f, a.side or 64, a.batch, a.steps, a.workers)))
    else:
        print("\n".join(main(a.quick, a.side, a.batch, a.out)))
    exit_now(0)  # Arrow's pools can abort a normal exit (schemas.process)
