"""The report's captioning section: OUT/eval/captioning.json (`make caption`) with, for each
example segment, the middle-frame thumbnail of the clip at the segment's midpoint."""

import json
import logging

from apache_beam.io.filesystems import FileSystems

from pipelines.stats import UNREADABLE, exists, join
from schemas import layout
from stages.store.files import read_table

log = logging.getLogger(__name__)
METRICS = ("BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr")


def middle_thumbnail(out: str, video_id: str, start_s: float, end_s: float) -> bytes | None:
    """JPEG of the clip nearest the span's midpoint (OUT/frames/), None when there is none."""
    path = layout.data_path(out, "frames", video_id)
    try:
        clips = read_table(path, columns=["start_s", "end_s", "thumbnail"]).to_pylist()
    except UNREADABLE:
        return None
    mid = (start_s + end_s) / 2
    best = min(clips, key=lambda c: abs((c["start_s"] + c["end_s"]) / 2 - mid), default=None)
    return best["thumbnail"] if best else None


def captioning(out: str) -> dict | None:
    """The captioning results with a `jpeg` per example, or None when `make caption` has not
    run (or its file does not parse: logged)."""
    path = join(out, "eval", "captioning.json")
    if not exists(path):
        return None
    try:
        with FileSystems.open(path) as f:
            result = json.loads(f.read())
        rows = [{"name": r["name"], **{m: r["micro"][m] for m in METRICS}}
                for r in result["rows"].values()]  # fmt: skip
        examples = result.get("examples", [])
        for e in examples:
            e["jpeg"] = middle_thumbnail(out, e["video_id"], e["start_s"], e["end_s"])
    except (*UNREADABLE, ValueError, KeyError, TypeError) as e:
        log.warning("report: %s unreadable (%s): no captioning section", path, e)
        return None
    names = {k: r["name"] for k, r in result["rows"].items()}
    return {"dataset": result.get("dataset"), "metrics": METRICS, "rows": rows,
            "examples": examples, "row_names": names}  # fmt: skip
