"""Feature stage clips/s ÷ bare S3D forward, same batch size, resolution, memory format.

bare: a pre-made float batch (B, 3, 30, S, S) in channels_last_3d through `.features` + mean.
stage: `ExtractFeaturesFn` on a real 360p H.264 file: decode → 20 fps → crop → S3D → Parquet.
Random weights (Kinetics weights are not downloadable offline; FLOPs are identical).
"""

import tempfile

import torch

from benchmarks.common import interleaved, row, textured_video
from stages.video.features import ExtractFeaturesFn, FeaturesConfig, build_s3d
from stages.video.frames import FramesConfig

BATCH = 4


def _bare(model, side: int, n_clips: int) -> int:
    x = torch.randn(BATCH, 3, 30, side, side).contiguous(memory_format=torch.channels_last_3d)
    with torch.inference_mode():
        for _ in range(n_clips // BATCH):
            model.features(x).mean(dim=(2, 3, 4))
    return n_clips // BATCH * BATCH


def _stage(fn: ExtractFeaturesFn, video: dict) -> int:
    outputs = list(fn.process(video))  # TaggedOutput status rows
    return next(o.value["items"] for o in outputs if o.tag == "features_status")


def main(quick: bool = False) -> list[str]:
    lines = [
        f"features: clips/s, batch {BATCH}, channels_last_3d, {torch.get_num_threads()} threads"
    ]
    cfg = FeaturesConfig(weights="random", batch_size=BATCH)
    model = build_s3d(cfg)
    for side in (112, 224):
        seconds = (12 if quick else 24) * (2 if side == 112 else 1)  # 8-32 clips
        n_clips = int(seconds / 1.5)
        path = textured_video(640, 360, seconds)
        video = {"video_id": "bench", "uri": str(path.resolve())}
        with tempfile.TemporaryDirectory() as out:
            fn = ExtractFeaturesFn(out, FramesConfig(side=side), cfg)
            fn.setup()
            rates = interleaved(
                {
                    "bare": lambda s=side, n=n_clips: _bare(model, s, n),
                    "stage": lambda f=fn, v=video: _stage(f, v),
                },
                repeats=2,
            )
        lines += [
            row(f"{side}² bare S3D forward", rates["bare"], "clips/s"),
            row(
                f"{side}² feature stage (decode+S3D+write)",
                rates["stage"],
                "clips/s",
                "(goal ≥ 1.0 at 224²)" if side == 224 else "",
            ),
            row(f"{side}² stage ÷ bare", rates["stage"] / rates["bare"], "ratio", "(goal ≥ 0.90)"),
        ]
    return lines
