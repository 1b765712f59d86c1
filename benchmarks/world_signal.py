"""How much verb / noun signal the sample world puts into random-weight S3D features.

Renders the 30-frame, 20 fps clips (1.5 s, on the pipeline's grid) of the first N sample videos
in memory, snapping each sample time to the source frame shown then, resizes the short side to 112
and centre-crops 112² as the frames stage does (no codec in between), runs torchvision's S3D with
random weights (seed 0) and reports leave-one-out 1-NN (cosine) accuracy of verb and noun over the
clips that lie fully inside an action, against chance (1/6). Two neighbourhoods: any other clip,
and only clips of other videos (the stricter number: the neighbouring clip of the same action is
nearly a copy). 1-NN is an upper bound on what k-means tokens keep: `benchmarks.bench_tokens`
measures the tokens themselves. CPU: ~0.12 s per clip on 2 cores.

    .venv/bin/python -m benchmarks.world_signal --videos 36   # from the repo root
"""

import argparse
import time

import numpy as np
import torch
import torchvision

from schemas.process import run_cli
from stages.acquire.sample_world import (
    NOUNS,
    VERBS,
    WorldConfig,
    frame_times,
    plan_video,
    render_frames,
)

CLIP_FRAMES, RATE, CROP = 30, 20, 112
MEAN, STD = (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)


def action_clips(plan):
    """[(clip start time, verb, noun)] of the 1.5 s grid clips fully inside an action."""
    span = CLIP_FRAMES / RATE
    starts = np.arange(int(plan.duration_s / span)) * span
    return [(s, a.verb, a.noun) for s in starts for a in plan.actions
            if a.start_s <= s and s + span <= a.end_s]  # fmt: skip


def clip_pixels(plan, start):
    """(30, 112, 112, 3) uint8: the frames a 20 fps sampler would pick, short side resized to
    112 (bilinear) and centre-cropped, as stages.video.frames does."""
    source = frame_times(plan)
    wanted = start + np.arange(CLIP_FRAMES) / RATE
    shown = source[np.clip(np.searchsorted(source, wanted + 1e-6) - 1, 0, len(source) - 1)]
    frames = torch.from_numpy(np.stack(list(render_frames(plan, shown)))).permute(0, 3, 1, 2)
    scale = CROP / min(plan.height, plan.width)
    size = max(CROP, round(plan.height * scale)), max(CROP, round(plan.width * scale))
    frames = torch.nn.functional.interpolate(
        frames.float(), size=size, mode="bilinear", antialias=True, align_corners=False
    )
    top, left = (size[0] - CROP) // 2, (size[1] - CROP) // 2
    frames = frames[:, :, top : top + CROP, left : left + CROP].round().clamp(0, 255)
    return frames.to(torch.uint8).permute(0, 2, 3, 1).numpy()


def loo_accuracy(feats, labels, groups, *, other_groups):
    sim = feats @ feats.T
    np.fill_diagonal(sim, -np.inf)
    if other_groups:
        sim[groups[:, None] == groups[None, :]] = -np.inf
    return float((labels[sim.argmax(1)] == labels).mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=36)
    parser.add_argument("--seed", type=int, default=0, help="world seed")
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args(argv)

    began = time.perf_counter()
    cfg = WorldConfig(n_videos=args.videos, seed=args.seed)
    plans = [plan_video(cfg, i) for i in range(cfg.n_videos)]
    total = sum(int(p.duration_s / (CLIP_FRAMES / RATE)) for p in plans)
    clips = [(p, *c) for p in plans for c in action_clips(p)]
    print(f"{len(plans)} videos: {total} clips on the 20 fps grid, {len(clips)} inside an action")

    torch.manual_seed(0)
    model = torchvision.models.video.s3d(weights=None).eval()
    model = model.to(memory_format=torch.channels_last_3d)
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1, 1), torch.tensor(STD).view(1, 3, 1, 1, 1)
    feats = []
    with torch.no_grad():
        for b in range(0, len(clips), args.batch):
            pixels = np.stack([clip_pixels(p, s) for p, s, _, _ in clips[b : b + args.batch]])
            x = torch.from_numpy(pixels).permute(0, 4, 1, 2, 3).float().div(255)  # (B,3,T,H,W)
            x = ((x - mean) / std).contiguous(memory_format=torch.channels_last_3d)
            feats.append(model.features(x).mean(dim=(2, 3, 4)))  # (B, 1024)
    feats = torch.nn.functional.normalize(torch.cat(feats), dim=1).numpy()

    groups = np.array([p.index for p, *_ in clips])
    for name, vocab, col in (("verb", VERBS, 2), ("noun", NOUNS, 3)):
        labels = np.array([vocab.index(c[col]) for c in clips])
        anyone = loo_accuracy(feats, labels, groups, other_groups=False)
        others = loo_accuracy(feats, labels, groups, other_groups=True)
        print(f"{name}: 1-NN {anyone:.1%} (other videos only: {others:.1%}), chance {1 / 6:.1%}")
    print(f"{time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    run_cli(main)
