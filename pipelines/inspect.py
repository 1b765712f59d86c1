"""Summarise a corpus OUT root (local or gs://): what every stage wrote, why videos failed, and
what the corpus looks like, before anyone spends GPU-days on it.

    python -m pipelines.inspect --out=out            # plain text for a terminal
    python -m pipelines.inspect --out=out --json     # the same summary for machines
    python -m pipelines.inspect --out=out --report   # + OUT/report/index.html (pipelines.report)

Memory stays bounded on a large corpus: row counts come from Parquet footers (a seeded sample of
at most `max_footers` per-video files, scaled up), status tables are read as column subsets,
and the corpus is streamed in record batches into fixed-size histograms and token counts.
A stage that never ran, an empty directory or a corrupt file is reported as a line, not raised.
"""

import argparse
import json
import random
import re
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.io.filesystems import FileSystems

import schemas
from pipelines.options import STAGES
from pipelines.stats import (
    UNREADABLE,
    corpus_stats,
    describe_error,
    exists,
    join,
    tree_shape,
    video_stats,
)
from schemas import layout
from schemas.process import run_cli
from stages.store.files import match, read_metadata, read_parts

# The tables of a stage (a file, or the pattern of its shards) and their schema; per-video
# stages write data/<id>.parquet; every stage but kmeans has status/part-*.parquet.
TABLES = {
    "discover": {"videos/part-*.parquet": schemas.VIDEOS},
    "kmeans": {"centroids.parquet": schemas.CENTROIDS},
    "corpus": {"segments-*-of-*.parquet": schemas.SEGMENTS},
}
PER_VIDEO = {
    "transcripts": schemas.TRANSCRIPTS,
    "sentences": schemas.SENTENCES,
    "frames": schemas.CLIPS,
    "features": schemas.FEATURES,
    "tokens": schemas.TOKENS,
}
# Failures expected to be read from the Parquet layer: a truncated or foreign file.


def schema_lines(schema: pa.Schema) -> list[str]:
    """`name: type` per column, list types shortened: `list<element: int32>` → `list<int32>`."""
    return [re.sub(r"list<(element|item): ", "list<", f"{f.name}: {f.type}") for f in schema]


def schema_diff(schema: pa.Schema, expected: pa.Schema | None) -> list[str]:
    """How a file's schema differs from ours (empty when it matches): missing / extra / changed."""
    if expected is None or schema.remove_metadata().equals(expected):
        return []
    have, want = set(schema_lines(schema)), set(schema_lines(expected))
    names = {f.name for f in schema}
    diff = [f"missing {c}" for c in schema_lines(expected) if c not in have and
            c.split(":")[0] not in names]  # fmt: skip
    diff += [f"{'changed' if c.split(':')[0] in expected.names else 'extra'} {c}"
             for c in schema_lines(schema) if c not in want]  # fmt: skip
    return diff or ["nullability or field metadata differ"]


def table_info(path: str, expected: pa.Schema | None) -> dict:
    """Footer-only facts of one Parquet file, or of every shard matching a pattern: rows,
    columns, whether the schema is ours (a corrupt shard raises, naming itself)."""
    paths = match(path)
    rows, schema = 0, None
    for shard in paths:
        try:
            meta = read_metadata(shard)
        except UNREADABLE as e:
            raise type(e)(f"{shard}: {e}") from e
        rows += meta.num_rows
        schema = schema or meta.schema.to_arrow_schema()
    info = {"path": path, "rows": rows}
    if "*" in path:
        info["files"] = len(paths)
    return {**info, "schema": schema_lines(schema), "schema_diff": schema_diff(schema, expected)}


def data_dir_info(root: str, expected: pa.Schema, max_footers: int, seed: int) -> dict:
    """OUT/<stage>/data: file count and bytes from one listing; rows from the footers of at most
    `max_footers` files (a seeded sample, scaled up: `rows_exact` says which)."""
    data = join(root, "data")
    files = sorted(
        (m.path, m.size_in_bytes)
        for r in FileSystems.match([join(data, "*.parquet")])
        for m in r.metadata_list
    )
    info = {"path": data, "files": len(files), "bytes": sum(s for _, s in files), "rows": 0}
    picked = files if len(files) <= max_footers else random.Random(seed).sample(files, max_footers)
    rows, read, corrupt = 0, 0, []
    for path, _ in picked:
        try:
            meta = read_metadata(path)
        except UNREADABLE as e:
            corrupt.append({"path": path, "error": describe_error(e)})
            continue
        if "schema" not in info:
            schema = meta.schema.to_arrow_schema()
            info["schema"] = schema_lines(schema)
            info["schema_diff"] = schema_diff(schema, expected)
        rows, read = rows + meta.num_rows, read + 1
    info["rows_exact"] = len(picked) == len(files)
    info["rows"] = rows if info["rows_exact"] or not read else round(rows * len(files) / read)
    info["corrupt"] = {"count": len(corrupt), "examples": corrupt[:3]}
    return info


def status_info(path: str, top: int = 8, examples: int = 3) -> dict:
    """Counts per status, and per failing status its example ids and most common messages."""
    columns = ["video_id", "status", "error_message", "items", "seconds"]
    t = read_parts(path, schemas.STATUS, columns)
    counts = {r["values"]: r["counts"] for r in pc.value_counts(t["status"]).to_pylist()}
    usable = sum(n for s, n in counts.items() if s in schemas.USABLE)
    failures = []
    ranked = sorted(counts.items(), key=lambda kv: (kv[0] != "internal_error", -kv[1], kv[0]))
    for status, n in ranked[:top]:
        if status == schemas.Status.OK:
            continue
        rows = t.filter(pc.equal(t["status"], status))
        messages = pc.value_counts(rows["error_message"].drop_null()).to_pylist()
        messages.sort(key=lambda r: (-r["counts"], r["values"]))
        failures.append(
            {
                "status": status,
                "count": n,
                "examples": rows["video_id"].slice(0, examples).to_pylist(),
                "messages": [{"message": m["values"], "count": m["counts"]} for m in messages[:2]],
            }
        )
    return {
        "videos": t.num_rows,
        "usable": usable,
        "counts": dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        "items": int(pc.sum(t["items"]).as_py() or 0),
        "seconds": round(float(pc.sum(t["seconds"]).as_py() or 0.0), 1),
        "failures": failures,
    }


def stage_summary(out: str, stage: str, max_footers: int = 2000, seed: int = 0) -> dict:
    """Everything known about one stage's outputs; `state` is ok / not_run / empty / partial."""
    root = join(out, stage)
    summary = {"stage": stage, "state": "ok", "problems": [], "tables": [], "status": None}
    if not exists(root):
        return {**summary, "state": "not_run", "problems": [f"not run ({root} missing)"]}
    status_path = layout.status_glob(out, stage)
    paths = {name: join(root, name) for name in TABLES.get(stage, {})}
    if match(status_path):
        try:
            summary["status"] = status_info(status_path)
        except UNREADABLE as e:
            summary["problems"].append(f"unreadable {status_path} ({describe_error(e)})")
    elif stage != "kmeans":  # every stage but kmeans keeps one status row per video
        summary["problems"].append(f"no status table ({status_path} missing)")
    for name, path in paths.items():
        if not match(path):
            summary["problems"].append(f"missing {path}")
            continue
        try:
            summary["tables"].append(table_info(path, TABLES[stage][name]))
        except UNREADABLE as e:
            summary["problems"].append(f"unreadable {path} ({describe_error(e)})")
    if stage in PER_VIDEO:
        info = data_dir_info(root, PER_VIDEO[stage], max_footers, seed)
        if info["files"]:
            summary["tables"].append(info)
        else:
            summary["problems"].append(f"no data files ({info['path']} is empty or missing)")
        if info["corrupt"]["count"]:
            bad = info["corrupt"]
            summary["problems"].append(
                f"{bad['count']} unreadable data file(s), e.g. {bad['examples'][0]['path']} "
                f"({bad['examples'][0]['error']})"
            )
    if not summary["tables"] and summary["status"] is None:
        summary["state"] = "empty"
        summary["problems"].insert(0, f"empty ({root} has no readable outputs)")
    elif summary["problems"]:
        summary["state"] = "partial"
    return summary


def collect(
    out: str, examples: int = 5, seed: int = 0, max_footers: int = 2000
) -> tuple[dict, np.ndarray]:
    """The whole summary (plain dicts, JSON-ready) and the corpus's visual-token counts."""
    stages = {s: stage_summary(out, s, max_footers, seed) for s in STAGES}
    summary = {"out": out, "stages": list(stages.values()), "videos": video_stats(out, stages)}
    path, tokens = layout.corpus_glob(out), np.zeros(0, np.int64)
    if not match(path):
        summary["corpus"] = {"problem": f"not built ({path} missing)"}
    else:
        try:
            summary["corpus"], tokens = corpus_stats(out, examples, seed)
        except UNREADABLE as e:
            summary["corpus"] = {"problem": f"unreadable {path} ({describe_error(e)})"}
    summary["tree"] = tree_shape(out)
    return summary, tokens


def summarize(out: str, examples: int = 5, seed: int = 0, max_footers: int = 2000) -> dict:
    return collect(out, examples, seed, max_footers)[0]


def _stats_line(name: str, d: dict) -> str:
    if not d.get("n"):
        return f"  {name:<28} none"
    return (
        f"  {name:<28} mean {d['mean']:<6} median {d['median']:<4} p95 {d['p95']:<4} max {d['max']}"
    )


def _wrapped(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, 100, initial_indent=indent, subsequent_indent=indent + "  ")


def _stage_lines(s: dict, tree: dict | None) -> list[str]:
    name = s["stage"]
    if s["state"] in ("not_run", "empty"):
        return [f"{name:<12} {s['problems'][0]}", *(f"    ! {p}" for p in s["problems"][1:])]
    st = s["status"]
    head = f"{name:<12} "
    if st:
        counts = "".join(
            f"{', ' if i else ': '}{k} {v}" for i, (k, v) in enumerate(st["counts"].items())
        )
        head += f"{st['videos']} videos{counts}; items {st['items']}; {st['seconds']} s"
    if name == "kmeans" and tree:
        head += (
            f"tree k={tree['k']} depth={tree['depth']}: {tree['leaves']} of {tree['vocab']} leaves"
        )
    lines = [head.rstrip(), *(_occupancy_lines(tree) if name == "kmeans" and tree else [])]
    for t in s["tables"]:
        rows = t["rows"] if t.get("rows_exact", True) else f"~{t['rows']}"
        files = f"{t['files']} files, " if "files" in t else ""
        diff = t.get("schema_diff", [])
        ok = f"schema differs from schemas/: {', '.join(diff)}" if diff else "schema as in schemas/"
        lines += _wrapped(f"{t['path']}: {files}{rows} rows, {ok}", "    ")
        lines += _wrapped("; ".join(t.get("schema", [])), "      ")
    for f in st["failures"] if st else []:
        msg = f["messages"][0]["message"][:90] if f["messages"] else ""
        lines.append(f"    {f['status']:<20} {f['count']:>6}  e.g. {', '.join(f['examples'])}"
                     + (f"  \"{msg}\"" if msg else ""))  # fmt: skip
    lines += [f"    ! {p}" for p in s["problems"]]
    return lines


def _occupancy_lines(tree: dict) -> list[str]:
    """Leaf occupancy and points per centroid per level of the fitted tree."""
    o = tree.get("occupancy")
    if not o:
        return []
    lo, med, hi = o["leaf_points"] or (0, 0, 0)
    lines = [f"    fitted on {o['n_train']} clips; {o['empty_leaves']} empty leaves; training "
             f"points per leaf min {lo} median {med:g} max {hi}"]  # fmt: skip
    per = ", ".join(f"L{lv['level']} min {lv['min_points_per_centroid']:g} median "
                    f"{lv['median_points_per_centroid']:g}" for lv in o["levels"])  # fmt: skip
    if per:
        lines += _wrapped(f"points per centroid (faiss's floor: 39): {per}", "    ")
    return lines


def _internal_error_lines(summary: dict) -> list[str]:
    """Unexpected exceptions first: each is a bug or an input no rule anticipated."""
    lines = []
    for s in summary["stages"]:
        for f in (s["status"] or {}).get("failures", []):
            if f["status"] == schemas.Status.INTERNAL_ERROR:
                where = join(summary["out"], "failed", s["stage"])
                lines.append(f"  {s['stage']:<12} {f['count']:>6}  e.g. {', '.join(f['examples'])}"
                             f"; tracebacks in {where}/")  # fmt: skip
    return ["", "INTERNAL ERRORS (a bug or an unanticipated input)", *lines] if lines else []


def render_text(summary: dict) -> str:
    """The summary as plain text that reads well in an 100-column terminal."""
    lines = [f"OUT = {summary['out']}", *_internal_error_lines(summary), "", "STAGES"]
    for s in summary["stages"]:
        lines += ["  " + line for line in _stage_lines(s, summary["tree"])]
    v = summary["videos"]
    lines += ["", "VIDEOS"]
    if "problem" in v:
        lines.append(f"  {v['problem']}")
    else:
        lines.append(f"  {v['videos']} videos, {v['hours']} h declared"
                     + (f", {v['videos_with_clips']} with clips, {v['clips']} clips"
                        if "clips" in v else ""))  # fmt: skip
    c = summary["corpus"]
    lines += ["", "CORPUS"]
    if "problem" in c:
        return "\n".join([*lines, f"  corpus: {c['problem']}"]) + "\n"
    lines += [
        f"  {c['segments']} segments from {c['videos']} videos: {c['with_text']} with text, "
        f"{c['video_only']} video-only, {c['text_only']} text-only (no clip)",
        "  splits: " + ", ".join(f"{k} {n}" for k, n in c["splits"].items()),
        _stats_line("visual tokens / segment", c["visual_tokens_per_segment"]),
        _stats_line("WordPiece tokens / sentence", c["text_tokens_per_segment"]),
        _stats_line("words / sentence", c["sentence_words"]),
    ]
    u = c["visual_tokens"]
    vocab = (
        f"{u['used']} of {u['vocab']} used ({u['used'] / u['vocab']:.0%}; {u['leaves_in_tree']} "
        f"leaves in the tree), entropy {u['entropy_bits']} of {u['max_entropy_bits']} bits"
        if u["vocab"]
        else f"{u['used']} used (vocabulary size unknown: no readable kmeans/centroids.parquet), "
        f"entropy {u['entropy_bits']} bits"
    )
    top = ", ".join(f"{t['token']} ({t['share']:.1%})" for t in u["top"][:8])
    lines += [f"  visual tokens: {u['total']} in segments; {vocab}", f"  most frequent: {top}"]
    lines += ["", "EXAMPLE SEGMENTS"]
    for e in c["examples"]:
        lines.append(f"  {e['video_id']} #{e['segment_index']} "
                     f"[{e['start_s']:.1f}-{e['end_s']:.1f} s] \"{e['text']}\"")  # fmt: skip
        lines.append(f"      visual tokens: {' '.join(map(str, e['visual_tokens'])) or '(none)'}")
    return "\n".join(lines) + "\n"


def parse_args(argv=None) -> argparse.Namespace:
    a = argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).add_argument
    a("--out", default="out", help="corpus output root (local dir or gs://bucket/prefix)")
    a("--json", action="store_true", help="print the summary as JSON instead of text")
    a("--report", action="store_true", help="also write OUT/report/index.html + video pages")
    a("--report_dir", default=None, help="write the report here, not OUT/report (implies --report)")
    a("--examples", type=int, default=5, help="example segments (and video pages)")
    a("--atlas_tokens", type=int, default=24, help="visual tokens shown in the atlas")
    a("--atlas_clips", type=int, default=8, help="nearest clips shown per atlas token")
    a("--max_videos", type=int, default=200, help="videos sampled for the atlas (seeded)")
    a("--max_footers", type=int, default=2000, help="data-file footers read per stage")
    a("--seed", type=int, default=0, help="seed of every sample")
    return a.__self__.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    summary, tokens = collect(args.out, args.examples, args.seed, args.max_footers)
    print(json.dumps(summary, indent=1) if args.json else render_text(summary), end="")
    if args.report or args.report_dir:
        from pipelines.report import write_report

        path = write_report(summary, tokens, args)
        print(f"report: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_cli(main)
