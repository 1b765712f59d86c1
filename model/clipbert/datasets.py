"""Training pairs and text-to-video retrieval sets, all as `data.Pair`s of local video files.

Training:
- `corpus_pairs`: the corpus's sentences (its shards OUT/corpus/segments-*, split train) with their
  time spans, over the videos the DAG has (`video_files`): the same ASR text VideoBERT trains on.
- `sample_world_pairs`: the sample world's training actions, each with human-style captions
  (`model.caption.sample_captions`, as `make caption` trains on) over its span: caption data, the
  kind ClipBERT trains on (MSRVTT, YouCook II), for the sample world.
- `msrvtt_train_pairs`, `youcook2_pairs(subset="training")`: caption datasets users supply.

Retrieval (`RetrievalSet`: query texts, a gallery of video spans, the gallery indices that count
as a hit for each query):
- `sample_world_retrieval`: the sample world's held-out actions (OUT/sample/ground_truth.parquet).
  Queries: each held-out action's ground-truth caption, "<verb> the <noun>"; gallery: the
  held-out action clips (their spans); a hit is any clip of the same verb and noun (the query's
  own action among them), so several clips can be right for one query.
- `msrvtt_retrieval`: MSRVTT 1K-A test (`MSRVTT_JSFUSION_test.csv`: one caption per video, the
  caption's own video is its only hit).
- `youcook2_pairs(subset="validation")` → `pairs_retrieval`: YouCook II segment captions against
  the segments; a segment's own caption is its hit.
"""

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from model.clipbert.data import Pair
from model.data import corpus_files
from schemas import io as sio
from schemas import layout
from schemas.ids import VIDEO_ID
from schemas.io import iter_batches

log = logging.getLogger(__name__)
VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v")


@dataclass
class RetrievalSet:
    name: str
    queries: list[str]
    gallery: list[Pair]
    relevant: list[set[int]]
    """Per query, the gallery indices that count as a hit."""


def _local_media(directory: Path, video_id: str) -> Path | None:
    hits = [p for p in sorted(directory.glob(f"{video_id}.*")) if p.suffix in VIDEO_SUFFIXES]
    return hits[0] if hits else None


def video_files(out: str | Path) -> dict[str, str]:
    """{video id: local file} for the videos of OUT/discover/videos/part-*: the downloaded copy
    (OUT/download/videos) or the sample world's (OUT/sample/videos) when there is one, else the
    record's `uri` when it is a local file (--source directories). Ids that are not path-safe
    are skipped."""
    out = str(out)
    parts = sio.glob(layout.videos_glob(out))  # the sharded videos table
    rows = [r for b in sio.iter_batches(parts, columns=["video_id", "uri"]) for r in b.to_pylist()]
    dirs = [layout.download_dir(out), layout.join(layout.sample_dir(out), "videos")]
    dirs = [Path(d) for d in dirs if Path(d).is_dir()]
    files = {}
    for row in rows:
        vid, uri = row["video_id"], row["uri"] or ""
        if not VIDEO_ID.match(vid) or ".." in vid:
            log.warning("skipping video id %r: not safe as a file name", vid)
            continue
        local = next((f for d in dirs if (f := _local_media(d, vid)) is not None), None)
        if local is None and uri and layout.is_local(uri) and Path(uri).is_file():
            local = Path(uri)
        if local is not None:
            files[vid] = str(local)
    return files


def corpus_pairs(out: str | Path, splits: tuple[str, ...] = ("train",)) -> list[Pair]:
    """The corpus sentences of `splits` over their own video spans (rows without text or video
    file are left out)."""
    try:
        shards = corpus_files(str(out))
    except FileNotFoundError as e:
        raise SystemExit(str(e)) from None
    files = video_files(out)
    cols = ["video_id", "start_s", "end_s", "text", "text_token_ids", "split"]
    pairs = [
        Pair(r["video_id"], files[r["video_id"]], r["start_s"], r["end_s"], r["text"],
             tuple(r["text_token_ids"]))
        for batch in iter_batches(shards, columns=cols)
        for r in batch.to_pylist()
        if r["text_token_ids"] and r["split"] in splits and r["video_id"] in files
    ]  # fmt: skip
    pairs.sort(key=lambda p: (p.video_id, p.start_s))  # shards are not globally ordered
    return pairs


def has_sample_world(out: str | Path) -> bool:
    return sio.exists(layout.ground_truth_path(str(out)))


def _world_actions(out: str | Path, split: str) -> tuple[list[dict], dict[str, str]]:
    """The sample world's actions of `split` whose video file is here, and the files."""
    path = Path(layout.ground_truth_path(str(out)))
    if not path.exists():
        raise SystemExit(f"no sample world at {path}: run `make corpus` (the sample preset)")
    files = video_files(out)
    actions = [
        a for a in pq.read_table(path).to_pylist() if a["split"] == split and a["video_id"] in files
    ]
    return actions, files


def sample_world_pairs(out: str | Path, tokenize, captions: int = 3) -> list[Pair]:
    """The sample world's training actions, `captions` human-style captions each (one pair per
    caption, drawn as `make caption`'s references are), over the action's span."""
    from model.caption.sample_captions import references

    actions, files = _world_actions(out, "train")
    return [
        Pair(a["video_id"], files[a["video_id"]], a["start_s"], a["end_s"], text, tokenize(text))
        for a in actions
        for text in references(a["verb"], a["noun"], (a["video_id"], a["action_index"]), captions)
    ]


def sample_world_retrieval(out: str | Path, tokenize, split: str = "heldout") -> RetrievalSet:
    """The sample world's held-out actions (module docstring)."""
    actions, files = _world_actions(out, split)
    queries = [f"{a['verb']} the {a['noun']}" for a in actions]
    gallery = [
        Pair(a["video_id"], files[a["video_id"]], a["start_s"], a["end_s"], q, tokenize(q))
        for a, q in zip(actions, queries, strict=True)
    ]
    relevant = [{j for j, g in enumerate(queries) if g == q} for q in queries]
    return RetrievalSet("sample_world", queries, gallery, relevant)


def pairs_retrieval(name: str, pairs: list[Pair]) -> RetrievalSet:
    """Each pair's text as a query whose only hit is its own video span."""
    return RetrievalSet(name, [p.text for p in pairs], pairs, [{i} for i in range(len(pairs))])


def _find(video_dir: Path, video_id: str) -> str | None:
    if not VIDEO_ID.match(video_id) or ".." in video_id:
        return None
    direct = _local_media(video_dir, video_id)
    if direct is not None:
        return str(direct)
    nested = [p for p in video_dir.rglob(f"{video_id}.*") if p.suffix in VIDEO_SUFFIXES]
    return str(sorted(nested)[0]) if nested else None


def _whole_video(video_id: str, path: str, text: str, tokenize) -> Pair:
    return Pair(video_id, path, 0.0, float("inf"), text, tokenize(text))


def msrvtt_retrieval(test_csv: str, video_dir: str, tokenize) -> RetrievalSet:
    """MSRVTT 1K-A: `MSRVTT_JSFUSION_test.csv` (columns video_id, sentence) over
    `video_dir/<video_id>.mp4`; videos not found are left out with a warning."""
    pairs, missing = [], 0
    with open(test_csv, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if (path := _find(Path(video_dir), row["video_id"])) is None:
                missing += 1
                continue
            pairs.append(_whole_video(row["video_id"], path, row["sentence"], tokenize))
    if missing:
        log.warning("msrvtt: %d test videos not found under %s", missing, video_dir)
    return pairs_retrieval("msrvtt_1k_a", pairs)


def msrvtt_train_pairs(data_json: str, train_csv: str, video_dir: str, tokenize) -> list[Pair]:
    """MSRVTT training captions (`MSRVTT_data.json` sentences) of the videos listed in
    `train_csv` (e.g. MSRVTT_train.9k.csv, column video_id): one pair per caption."""
    with open(train_csv, newline="", encoding="utf-8") as f:
        train = {row["video_id"] for row in csv.DictReader(f)}
    with open(data_json, encoding="utf-8") as f:
        sentences = json.load(f)["sentences"]
    paths = {v: _find(Path(video_dir), v) for v in sorted(train)}
    return [
        _whole_video(s["video_id"], paths[s["video_id"]], s["caption"], tokenize)
        for s in sentences
        if paths.get(s["video_id"])
    ]


def youcook2_pairs(annotations: str, video_dir: str, tokenize, subset: str) -> list[Pair]:
    """YouCook II segment captions of `subset` (training | validation) over the segments of
    the videos found under `video_dir` (searched recursively for `<youtube id>.*`)."""
    from model.youcook import read_annotations

    captions = [c for c in read_annotations(annotations) if c.subset == subset]
    paths = {v: _find(Path(video_dir), v) for v in sorted({c.video_id for c in captions})}
    if missing := sum(p is None for p in paths.values()):
        log.warning("youcook2: %d %s videos not found under %s", missing, subset, video_dir)
    return [
        Pair(c.video_id, paths[c.video_id], c.start_s, c.end_s, c.sentence, tokenize(c.sentence))
        for c in captions
        if paths[c.video_id]
    ]
