"""features: video record → S3D clip features (fused with the frames sampler).

Input element: a video record (schemas.VIDEOS). For each video, in one worker and streaming:
decode → 20 fps → 30-frame clips (stages.video.frames) → batches of clips → S3D `.features` →
mean over time and space → one 1024-d float32 vector per clip. Decoded frames never leave
the worker (a 224² clip is 4.5 MB; DESIGN.md); what is persisted per video is
`OUT/frames/data/<id>.parquet` (clip index + thumbnails) and
`OUT/features/data/<id>.parquet` (schemas.FEATURES), each written atomically once the video
is finished, so a killed run loses at most the videos in flight.

Outputs: tagged `frames_status` and `features_status` rows, one per video each.

Weights (`FeaturesConfig.weights`):
- "kinetics400": torchvision's S3D Kinetics-400 weights (downloaded to $TORCH_HOME on first
  use; offline that fails with an error naming the fixes below);
- a path to a state dict (`torch.load(..., weights_only=True)`);
- "random": seeded random init, for offline smoke runs and tests (logged as a WARNING).
"""

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import NamedTuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
import torch
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, PredictionResult
from apache_beam.utils.shared import Shared

from schemas import CLIPS, FEATURE_DIM, FEATURES, Status
from stages.store.dead_letter import MAIN, Guarded
from stages.store.files import fingerprint
from stages.store.stage import StageStore
from stages.store.status import status_row
from stages.video import frames
from stages.workers import acquire, worker_threads

log = logging.getLogger(__name__)

KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)


@dataclass(frozen=True)
class FeaturesConfig:
    weights: str = "kinetics400"
    """"kinetics400" (torchvision), "random" (seeded; smoke runs only), or a state-dict path."""
    device: str = "cpu"
    """"cpu" or "cuda" (bf16 autocast on GPU)."""
    batch_size: int = 4
    """Clips per S3D forward pass."""
    seed: int = 0
    """Seed of the random init when weights == "random"."""
    processes: int = 1
    """Concurrent S3D callers on one machine (local `--workers`; on Dataflow the harness
    threads of the one SDK process): torch threads = the worker's own CPUs / processes,
    computed in `DoFn.setup` on the worker."""


class WeightsUnavailableError(RuntimeError):
    pass


def build_s3d(cfg: FeaturesConfig) -> torch.nn.Module:
    """S3D with the requested weights, in eval mode, channels_last_3d, on `cfg.device`."""
    from torchvision.models.video import S3D_Weights, s3d

    if cfg.weights == "random":
        log.warning(
            "S3D uses RANDOM weights (seed %d): features carry colour/motion only, "
            "not Kinetics semantics. Use --weights=kinetics400 for real corpora.",
            cfg.seed,
        )
        torch.manual_seed(cfg.seed)
        model = s3d(weights=None)
    elif cfg.weights == "kinetics400":
        weights = S3D_Weights.KINETICS400_V1
        try:
            model = s3d(weights=weights)
        except OSError as e:  # URLError is an OSError
            raise WeightsUnavailableError(
                f"could not fetch S3D Kinetics-400 weights from {weights.url} ({e}). Fix: "
                "download that file into $TORCH_HOME/hub/checkpoints/ on a machine with "
                "internet, or pass --weights=/path/to/s3d_state_dict.pth, or --weights=random "
                "for an offline smoke run."
            ) from e
    else:
        model = s3d(weights=None)
        with FileSystems.open(cfg.weights) as f:
            state = torch.load(f, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    model = model.eval().to(cfg.device, memory_format=torch.channels_last_3d)
    return model


def to_input(batch: np.ndarray) -> torch.Tensor:
    """(B, T, H, W, 3) uint8 RGB → (B, 3, T, H, W) float normalised, channels_last_3d.

    Permuting NTHWC to NCTHW *is* the channels_last_3d layout, so no copy is made here.
    """
    x = torch.from_numpy(batch).permute(0, 4, 1, 2, 3).float().div_(255.0)
    mean = torch.tensor(KINETICS_MEAN).view(1, 3, 1, 1, 1)
    std = torch.tensor(KINETICS_STD).view(1, 3, 1, 1, 1)
    return x.sub_(mean).div_(std)


@torch.inference_mode()
def embed(model: torch.nn.Module, batch: np.ndarray, device: str = "cpu") -> np.ndarray:
    """S3D `.features` averaged over time and space: (B, T, H, W, 3) uint8 → (B, 1024) f32."""
    x = to_input(batch).to(device, memory_format=torch.channels_last_3d)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda")):
        y = model.features(x)  # (B, 1024, T', H', W')
    return y.float().mean(dim=(2, 3, 4)).cpu().numpy()


class S3DModelHandler(ModelHandler):
    """Beam RunInference handler: clip frames (T, H, W, 3) uint8 → 1024-d feature.

    Usable directly as `RunInference(KeyedModelHandler(S3DModelHandler(cfg)))`; the corpus
    DAG calls it inside `ExtractFeaturesFn` so decode and inference stay fused per video.
    """

    def __init__(self, cfg: FeaturesConfig):
        self._cfg = cfg

    def load_model(self) -> torch.nn.Module:
        torch.set_num_threads(worker_threads(self._cfg.processes))
        return build_s3d(self._cfg)

    def run_inference(self, batch: Sequence[np.ndarray], model, inference_args=None):
        vectors = embed(model, np.stack(batch), self._cfg.device)
        return [PredictionResult(x, y) for x, y in zip(batch, vectors, strict=True)]

    def batch_elements_kwargs(self):
        return {"min_batch_size": self._cfg.batch_size, "max_batch_size": self._cfg.batch_size}


def features_table(video_id: str, clip_rows: list[dict], vectors: list[np.ndarray]) -> pa.Table:
    flat = np.asarray(vectors, dtype=np.float32).reshape(-1)
    return pa.table(
        {
            "video_id": pa.array([video_id] * len(clip_rows), pa.string()),
            "clip_index": pa.array([r["clip_index"] for r in clip_rows], pa.int32()),
            "start_s": pa.array([r["start_s"] for r in clip_rows], pa.float64()),
            "end_s": pa.array([r["end_s"] for r in clip_rows], pa.float64()),
            "feature": pa.FixedSizeListArray.from_arrays(pa.array(flat), FEATURE_DIM),
        },
        schema=FEATURES,
    )


def stage_fingerprints(frames_cfg: frames.FramesConfig, cfg: FeaturesConfig | None) -> dict:
    fp_frames = fingerprint(asdict(frames_cfg))
    if cfg is None:
        return {"frames": fp_frames}
    model = {k: v for k, v in asdict(cfg).items() if k in ("weights", "seed")}
    return {"frames": fp_frames, "features": fingerprint([fp_frames, model])}


def prefetch(items: Iterable, depth: int) -> Iterator:
    """Yield from `items` while a background thread produces up to `depth` ahead.

    Decoding (FFmpeg, outside the GIL) then overlaps the S3D forward of the previous batch.
    An exception raised by `items` is re-raised here; stopping early stops the producer.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop, done = threading.Event(), object()

    def produce():
        try:
            for item in items:
                if stop.is_set():
                    return
                q.put(item)
            q.put(done)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, re-raised there
            q.put(e)

    thread = threading.Thread(target=produce, daemon=True, name="decode-prefetch")
    thread.start()
    try:
        while (item := q.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(queue.Empty):
                q.get(timeout=0.05)


class ExtractFeaturesFn(beam.DoFn):
    """One video in, its clip index (+ features when `cfg` is set) written, status rows out."""

    def __init__(self, out: str, frames_cfg: frames.FramesConfig, cfg: FeaturesConfig | None):
        self._out, self._frames_cfg, self._cfg = out, frames_cfg, cfg
        self._fp = stage_fingerprints(frames_cfg, cfg)
        self._videos = Metrics.counter("features", "videos")
        self._clips = Metrics.counter("features", "clips")
        self._failed = Metrics.counter("features", "failed_videos")
        self._shared = Shared()  # one S3D per worker process, shared by its threads

    def setup(self):
        self._frames_store = StageStore(self._out, "frames")
        self._features_store = StageStore(self._out, "features")
        self._handler = self._model = None
        if self._cfg is not None:
            self._handler = S3DModelHandler(self._cfg)
            tag = fingerprint([self._cfg.weights, self._cfg.seed, self._cfg.device])
            self._shared_model = acquire(self._shared, tag, self._handler.load_model)
            self._model = self._shared_model.model
        self._done_clips, self._start = 0, time.monotonic()

    def _embed(self, batch: list[np.ndarray]) -> list[np.ndarray]:
        if not batch:
            return []
        return [r.inference for r in self._handler.run_inference(batch, self._model)]

    def process(self, video: dict):
        vid, t0 = video["video_id"], time.monotonic()
        rows, vectors, batch = [], [], []
        status, error = Status.OK, None
        try:
            clips = frames.open_clips(video["uri"], self._frames_cfg)
            if self._model is not None:
                clips = prefetch(clips, depth=2 * self._cfg.batch_size)
            for clip in clips:
                rows.append(frames.clip_row(vid, clip, self._frames_cfg))
                if self._model is not None:
                    batch.append(clip.frames)
                    if len(batch) == self._cfg.batch_size:
                        vectors += self._embed(batch)
                        batch = []
        except frames.MediaError as e:
            status, error = e.status, e.message
        vectors += self._embed(batch)

        self._videos.inc()
        self._clips.inc(len(rows))
        if rows:
            self._frames_store.write_data(
                vid, pa.Table.from_pylist(rows, schema=CLIPS), self._fp["frames"]
            )
        if status != Status.OK:
            self._failed.inc()
            log.warning("%s: %s: %s (%d clips kept)", vid, status, error, len(rows))
        seconds = time.monotonic() - t0
        yield beam.pvalue.TaggedOutput(
            "frames_status", status_row(vid, "frames", status, error, len(rows), seconds)
        )
        if self._cfg is None:
            return
        if rows:
            self._features_store.write_data(
                vid, features_table(vid, rows, vectors), self._fp["features"]
            )
            feat_status, feat_error = Status.OK, None
            if status == Status.TRUNCATED_MEDIA:  # the clips before the failure: say so
                feat_status, feat_error = status, f"frames: {error}"
        else:
            feat_status, feat_error = status, f"frames: {error}"
        yield beam.pvalue.TaggedOutput(
            "features_status",
            status_row(vid, "features", feat_status, feat_error, len(vectors), seconds),
        )
        self._log_progress(len(rows))

    def _log_progress(self, n_clips: int):
        self._done_clips += n_clips
        elapsed = time.monotonic() - self._start
        log.info(
            "features: %d clips in %.0fs (%.2f clips/s)",
            self._done_clips,
            elapsed,
            self._done_clips / max(elapsed, 1e-9),
        )


class ExtractOutputs(NamedTuple):
    frames_status: beam.PCollection
    features_status: beam.PCollection


class ExtractS3DFeatures(beam.PTransform):
    """Video records → per-video clip index + S3D features on disk; status rows out.

    With `cfg=None` only the frames stage runs (decode + clip index + thumbnails).
    Returns a DoOutputsTuple with `frames_status` and `features_status`.
    """

    def __init__(self, out: str, frames_cfg: frames.FramesConfig, cfg: FeaturesConfig | None):
        super().__init__()
        self._out, self._fn = out, ExtractFeaturesFn(out, frames_cfg, cfg)

    def expand(self, videos):
        features = "features" if self._fn._cfg is not None else None  # frames only: empty
        stages = {MAIN: None, "frames_status": "frames", "features_status": features}
        outputs = videos | "DecodeEmbed" >> Guarded(self._out, self._fn, stages)
        return ExtractOutputs(outputs["frames_status"], outputs["features_status"])
