"""Peak RSS of sampling a long 720p video, and of the fused decode → S3D step, each in a
fresh process (ru_maxrss), on a short and a long video: memory must be flat in length."""

import subprocess
import sys
import tempfile

from benchmarks.common import own_peak_rss_mb, row, textured_video
from schemas.process import run_cli

FPS = 20  # source rate of the generated long videos (keeps generation affordable)


def _child(kind: str, path: str) -> None:
    from stages.video.features import ExtractFeaturesFn, FeaturesConfig
    from stages.video.frames import FramesConfig, iter_clips

    if kind == "sample":
        n = sum(1 for _ in iter_clips(path, FramesConfig(side=224)))
    else:
        with tempfile.TemporaryDirectory() as out:
            fn = ExtractFeaturesFn(
                out, FramesConfig(side=112), FeaturesConfig(weights="random", batch_size=4)
            )
            fn.setup()
            outputs = list(fn.process({"video_id": "long", "uri": path}))
            n = next(o.value["items"] for o in outputs if o.tag == "features_status")
    peak_mb = own_peak_rss_mb()
    print(f"{n} {peak_mb:.0f}")


def _peak(kind: str, path: str) -> tuple[int, float]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_memory", kind, path],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return int(out[-2]), float(out[-1])


def main(quick: bool = False) -> list[str]:
    long_s = 180 if quick else 900
    lines = [f"memory: peak RSS (MB) in a fresh process, 720p {FPS} fps H.264 sources"]
    short = str(textured_video(1280, 720, 60, fps=FPS, preset="ultrafast"))
    long = str(textured_video(1280, 720, long_s, fps=FPS, preset="ultrafast"))
    for kind, label, goal in (
        ("sample", "sampling 224² (iter_clips)", "(goal < 1500)"),
        ("fused", "fused decode → S3D 112² → Parquet", "(goal ≤ 2000)"),
    ):
        for name, path in (("60 s", short), (f"{long_s // 60} min", long)):
            clips, mb = _peak(kind, path)
            lines.append(row(f"{label}, {name} ({clips} clips)", mb, "MB", goal))
    return lines


if __name__ == "__main__":
    run_cli(lambda: _child(sys.argv[1], sys.argv[2]))
