"""tokens: a video's clip features → its visual tokens (k-means leaf ids) in time order.

Input element: a `features` status row (one per video). Side input: the `CentroidTree`.
Output: a TOKENS row per usable video (also written to `OUT/tokens/data/<id>.parquet`,
stamped with the tree's fingerprint: refitting k-means makes every token file stale, and
stale files are recomputed) and a tagged `status` row per video.

Every video is assigned, whatever its split: held-out and evaluation videos get tokens from a
tree fitted on pretraining videos only. A video whose features hold NaN/Inf gets `bad_features`
(no tokens: rerun its features); features of another dimension than the tree are a
configuration error that stops the run and names the stage to rerun.

Assignment descends the tree (k distances per level, `CentroidTree.assign`); with
`device="cuda"` and a CUDA torch, the same descent runs as batched GEMMs on the GPU (one log
line says which).
"""

import logging
import time
from typing import NamedTuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.metrics import Metrics

from schemas import TOKENS, USABLE, Status
from schemas.tree import CentroidTree
from stages.store.dead_letter import MAIN, Guarded
from stages.store.stage import StageStore, WithPrevious
from stages.store.status import status_row

log = logging.getLogger(__name__)


class BadFeatures(ValueError):
    """Clip features with NaN/Inf: the video gets `bad_features`."""


def check_dim(x: np.ndarray, tree: CentroidTree, video_id: str) -> None:
    if x.shape[1] != tree.dim:
        raise ValueError(
            f"tokens: {video_id} has {x.shape[1]}-d features but the k-means tree "
            f"(OUT/kmeans/centroids.parquet) is {tree.dim}-d: rerun the kmeans stage on these "
            "features (--stages=kmeans,tokens,corpus --force), or the features stage with the "
            "settings the tree was fitted on"
        )


def torch_assign(tree: CentroidTree, x: np.ndarray, device: str) -> np.ndarray:
    """`tree.assign` as torch ops on `device`: per level, the k children's centroids of each
    row, gathered, then argmin ‖c‖² − 2 x·c (missing nodes never win)."""
    import torch

    xt = torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(device)
    node = torch.zeros(len(x), dtype=torch.int64, device=device)
    kids = torch.arange(tree.k, device=device)
    for cent, count in zip(tree.centroids, tree.counts, strict=True):
        c = torch.from_numpy(cent).to(device)
        norms = torch.where(torch.from_numpy(count > 0).to(device), (c * c).sum(1), torch.inf)
        children = node[:, None] * tree.k + kids  # (N, k)
        dist = norms[children] - 2 * torch.einsum("nd,nkd->nk", xt, c[children])
        node = children.gather(1, dist.argmin(1, keepdim=True))[:, 0]
    return node.cpu().numpy().astype(np.int32)


def assigner(device: str):
    """`tree, x → leaf ids` on the GPU when asked for and present, else numpy on the CPU."""
    if device == "cuda":
        try:
            import torch

            if torch.cuda.is_available():
                log.info("tokens: assigning on the GPU (torch CUDA)")
                return lambda tree, x: torch_assign(tree, x, "cuda")
        except ImportError:
            pass
        log.info("tokens: --device cuda but no CUDA torch: assigning on the CPU (numpy)")
    else:
        log.info("tokens: assigning on the CPU (numpy)")
    return lambda tree, x: tree.assign(x)


def tokens_row(features: pa.Table, tree: CentroidTree, assign=None) -> dict:
    """Assign every clip of one video's FEATURES table to its leaf, in clip order."""
    features = features.sort_by("clip_index")
    video_id = features.column("video_id")[0].as_py()
    flat = features.column("feature").combine_chunks().flatten().to_numpy()
    x = np.ascontiguousarray(flat.reshape(features.num_rows, -1), dtype=np.float32)
    check_dim(x, tree, video_id)
    finite = np.isfinite(x).all(axis=1)
    if not finite.all():
        raise BadFeatures(f"{int((~finite).sum())} of {len(x)} clips have NaN/Inf features: "
                          "rerun the features stage for this video (--force)")  # fmt: skip
    return {
        "video_id": video_id,
        "clip_index": features.column("clip_index").to_pylist(),
        "start_s": features.column("start_s").to_pylist(),
        "end_s": features.column("end_s").to_pylist(),
        "tokens": (assign or (lambda t, v: t.assign(v)))(tree, x).tolist(),
    }


class AssignTokensFn(beam.DoFn):
    def __init__(self, out: str, force: bool, device: str = "cpu"):
        self._out, self._force, self._device = out, force, device
        self._tokens = Metrics.counter("tokens", "tokens")

    def setup(self):
        self._features = StageStore(self._out, "features")
        self._store = StageStore(self._out, "tokens")
        self._assign = assigner(self._device)

    def process(self, item: tuple[dict, dict | None], tree):
        features_status, previous = item
        vid, t0 = features_status["video_id"], time.monotonic()
        if features_status["status"] not in USABLE:
            message = f"features: {features_status['status']}"
            yield beam.pvalue.TaggedOutput(
                "status", status_row(vid, "tokens", Status.UPSTREAM_FAILED, message)
            )
            return
        fp = tree.fingerprint()
        status = None
        if not self._force and self._store.is_done(vid, fp):
            row = self._store.read_data(vid).to_pylist()[0]
            status = previous  # carried over unchanged when it says ok
        else:
            try:
                row = tokens_row(self._features.read_data(vid), tree, self._assign)
            except BadFeatures as e:
                log.warning("tokens: %s: %s", vid, e)
                bad = status_row(vid, "tokens", Status.BAD_FEATURES, str(e))
                yield beam.pvalue.TaggedOutput("status", bad)
                return
            self._store.write_data(vid, pa.Table.from_pylist([row], schema=TOKENS), fp)
        if status is None or status["status"] != Status.OK:
            seconds = time.monotonic() - t0
            status = status_row(vid, "tokens", Status.OK, None, len(row["tokens"]), seconds)
        self._tokens.inc(len(row["tokens"]))
        yield row
        yield beam.pvalue.TaggedOutput("status", status)


class TokensOutputs(NamedTuple):
    tokens: beam.PCollection
    status: beam.PCollection


class AssignVisualTokens(beam.PTransform):
    """features status rows + the tree → TOKENS rows (main) and `status` rows."""

    def __init__(self, out: str, tree, force: bool = False, device: str = "cpu"):
        super().__init__()
        self._out, self._tree, self._force, self._device = out, tree, force, device

    def expand(self, features_status):
        previous = features_status | "WithPrevious" >> WithPrevious(StageStore(self._out, "tokens"))
        fn = AssignTokensFn(self._out, self._force, self._device)
        outputs = previous | "Assign" >> Guarded(
            self._out,
            fn,
            {MAIN: None, "status": "tokens"},
            tree=beam.pvalue.AsSingleton(self._tree),
        )
        return TokensOutputs(outputs[MAIN], outputs["status"])
