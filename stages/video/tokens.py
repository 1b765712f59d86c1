"""tokens: a video's clip features → its visual tokens (k-means leaf ids) in time order.

Input element: a `features` status row (one per video). Side input: the `CentroidTree`.
Output: a TOKENS row per usable video (also written to `OUT/tokens/data/<id>.parquet`,
stamped with the tree's fingerprint: refitting k-means makes every token file stale, and
stale files are recomputed) and a tagged `status` row per video.
"""

import logging
import time

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.metrics import Metrics

from schemas import TOKENS, USABLE, Status
from stages.store.stage import StageStore, WithPrevious
from stages.store.status import status_row

log = logging.getLogger(__name__)


def tokens_row(features: pa.Table, tree) -> dict:
    """Assign every clip of one video's FEATURES table to its leaf, in clip order."""
    features = features.sort_by("clip_index")
    x = (
        features.column("feature")
        .combine_chunks()
        .flatten()
        .to_numpy()
        .reshape(features.num_rows, -1)
    )
    return {
        "video_id": features.column("video_id")[0].as_py(),
        "clip_index": features.column("clip_index").to_pylist(),
        "start_s": features.column("start_s").to_pylist(),
        "end_s": features.column("end_s").to_pylist(),
        "tokens": tree.assign(np.ascontiguousarray(x, dtype=np.float32)).tolist(),
    }


class AssignTokensFn(beam.DoFn):
    def __init__(self, out: str, force: bool):
        self._out, self._force = out, force
        self._tokens = Metrics.counter("tokens", "tokens")

    def setup(self):
        self._features = StageStore(self._out, "features")
        self._store = StageStore(self._out, "tokens")

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
            row = tokens_row(self._features.read_data(vid), tree)
            self._store.write_data(vid, pa.Table.from_pylist([row], schema=TOKENS), fp)
        if status is None or status["status"] != Status.OK:
            seconds = time.monotonic() - t0
            status = status_row(vid, "tokens", Status.OK, None, len(row["tokens"]), seconds)
        self._tokens.inc(len(row["tokens"]))
        yield row
        yield beam.pvalue.TaggedOutput("status", status)


class AssignVisualTokens(beam.PTransform):
    """features status rows + the tree → TOKENS rows (main) and `status` rows."""

    def __init__(self, out: str, tree, force: bool = False):
        super().__init__()
        self._out, self._tree, self._force = out, tree, force

    def expand(self, features_status):
        previous = features_status | "WithPrevious" >> WithPrevious(StageStore(self._out, "tokens"))
        return previous | "Assign" >> beam.ParDo(
            AssignTokensFn(self._out, self._force), tree=beam.pvalue.AsSingleton(self._tree)
        ).with_outputs("status", main="tokens")
