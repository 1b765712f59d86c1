"""`python -m pipelines.inspect`: the summary asserted against the real Parquet it summarises,
the text and --json outputs, and every missing or damaged stage output a user can hit."""

import json
import math
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.inspect import main, render_text, summarize
from pipelines.options import STAGES
from schemas import STATUS
from schemas.tree import read_tree
from tests.tables import corpus_table, status_table, videos_table

PER_VIDEO = ("transcripts", "sentences", "frames", "features", "tokens")


def _stage(summary: dict, name: str) -> dict:
    return next(s for s in summary["stages"] if s["stage"] == name)


def test_summary_matches_the_parquet_it_summarises(tiny_corpus):
    out = Path(tiny_corpus)
    s = summarize(tiny_corpus, examples=3)
    assert [st["stage"] for st in s["stages"]] == list(STAGES)
    assert _stage(s, "download")["status"]["videos"] == 0  # sample videos are local files
    for name in PER_VIDEO:
        st = _stage(s, name)
        status = status_table(out, name).to_pylist()
        assert st["state"] == "ok" and st["status"]["counts"] == {"ok": 4}
        assert st["status"]["items"] == sum(r["items"] for r in status) > 0
        (data,) = st["tables"]
        files = sorted((out / name / "data").glob("*.parquet"))
        assert (data["files"], data["rows_exact"], data["schema_diff"]) == (4, True, [])
        assert data["rows"] == sum(pq.read_metadata(f).num_rows for f in files)
    videos = videos_table(out).to_pylist()
    assert s["videos"]["videos"] == 4
    assert s["videos"]["hours"] == round(sum(v["duration_s"] for v in videos) / 3600, 3)
    assert sum(s["videos"]["duration_s"]["hist"]) == 4
    occupancy = s["tree"].pop("occupancy")
    assert s["tree"] == {"k": 3, "depth": 2, "vocab": 9, "leaves": s["tree"]["leaves"]}
    tree = read_tree(f"{out}/kmeans/centroids.parquet")
    assert occupancy["n_train"] == tree.n_train and occupancy["empty_leaves"] == sum(
        tree.counts[-1] == 0
    )

    rows = corpus_table(out).to_pylist()
    c = s["corpus"]
    texts = [r for r in rows if r["text"] is not None]
    assert (c["segments"], c["videos"], c["with_text"]) == (len(rows), 4, len(texts))
    assert c["video_only"] == len(rows) - len(texts) > 0
    tokens = Counter(t for r in rows for t in r["visual_tokens"])
    u = c["visual_tokens"]
    assert (u["total"], u["used"], u["vocab"]) == (sum(tokens.values()), len(tokens), 9)
    entropy = -sum(n / u["total"] * math.log2(n / u["total"]) for n in tokens.values())
    assert u["entropy_bits"] == round(entropy, 3) and u["max_entropy_bits"] == round(
        math.log2(9), 3
    )
    assert u["top"][0]["count"] == max(tokens.values())
    assert u["top"][0]["path"] == f"{u['top'][0]['token'] // 3}.{u['top'][0]['token'] % 3}"
    words = Counter(len(r["text"].split()) for r in texts)
    assert c["sentence_words"]["max"] == max(words) and c["sentence_words"]["n"] == len(texts)
    assert c["sentence_words"]["hist"][max(words)] == words[max(words)]
    assert c["visual_tokens_per_segment"]["max"] == max(len(r["visual_tokens"]) for r in rows)
    assert len(c["examples"]) == 3
    by_key = {(r["video_id"], r["segment_index"]): r for r in rows}
    for e in c["examples"]:
        row = by_key[(e["video_id"], e["segment_index"])]
        assert (e["text"], e["visual_tokens"]) == (row["text"], row["visual_tokens"])
        assert e["text"]


def test_text_output_lists_every_stage_and_decoded_examples(tiny_corpus, capsys):
    assert main([f"--out={tiny_corpus}", "--examples=2"]) == 0
    text = capsys.readouterr().out
    for name in STAGES:
        assert f"\n  {name:<12} " in text
    assert "download     0 videos; items 0" in text
    assert "frames       4 videos: ok 4" in text
    assert "kmeans       tree k=3 depth=2" in text
    tree = read_tree(f"{tiny_corpus}/kmeans/centroids.parquet")
    occupancy = tree.occupancy()
    assert f"fitted on {tree.n_train} clips; {occupancy['empty_leaves']} empty leaves" in text
    lo, hi = occupancy["leaf_points_min"], occupancy["leaf_points_max"]
    assert f"training points per leaf min {lo} median" in text and f"max {hi}\n" in text
    first = occupancy["levels"][0]["min_points_per_centroid"]
    assert f"points per centroid (faiss's floor: 39): L1 min {first:g}" in text
    example = summarize(tiny_corpus, examples=2)["corpus"]["examples"][0]
    assert f'"{example["text"]}"' in text
    assert "visual tokens: " + " ".join(map(str, example["visual_tokens"])) in text
    assert max(len(line) for line in text.splitlines()) <= 120


def test_json_cli_is_the_summary(tiny_corpus):
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.inspect", f"--out={tiny_corpus}", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data == json.loads(json.dumps(summarize(tiny_corpus)))
    assert data["corpus"]["segments"] == corpus_table(tiny_corpus).num_rows


def test_failures_give_counts_reasons_and_example_ids(tmp_path):
    rows = [
        ("a", "ok", None, 3),
        ("b", "corrupt_media", "Invalid data found when processing input", 0),
        ("c", "corrupt_media", "Invalid data found when processing input", 0),
        ("d", "corrupt_media", "moov atom not found", 0),
        ("e", "too_short", "0.4 s: less than one clip", 0),
    ]
    table = pa.Table.from_pylist(
        [
            dict(
                zip(("video_id", "status", "error_message", "items"), r, strict=True),
                stage="frames",
                seconds=0.5,
            )
            for r in rows
        ],  # fmt: skip
        schema=STATUS,
    )
    (tmp_path / "frames" / "status").mkdir(parents=True)
    pq.write_table(table, tmp_path / "frames" / "status" / "part-00000-of-00016.parquet")
    st = _stage(summarize(str(tmp_path)), "frames")
    assert st["status"]["counts"] == {"corrupt_media": 3, "ok": 1, "too_short": 1}
    assert (st["status"]["usable"], st["status"]["items"]) == (1, 3)
    corrupt, short = st["status"]["failures"]
    assert corrupt == {
        "status": "corrupt_media",
        "count": 3,
        "examples": ["b", "c", "d"],
        "messages": [
            {"message": "Invalid data found when processing input", "count": 2},
            {"message": "moov atom not found", "count": 1},
        ],
    }
    assert short["examples"] == ["e"]
    assert st["state"] == "partial"  # a status table but no data files
    assert f"no data files ({tmp_path}/frames/data is empty or missing)" in st["problems"]
    text = render_text(summarize(str(tmp_path)))
    assert 'corrupt_media             3  e.g. b, c, d  "Invalid data found' in text


def _damage(out: Path, how: str) -> None:
    if how == "features_missing":
        shutil.rmtree(out / "features")
    elif how == "tokens_empty":
        shutil.rmtree(out / "tokens")
        (out / "tokens").mkdir()
    elif how == "frames_file_corrupt":
        (out / "frames" / "data" / "sample-0000.parquet").write_bytes(b"PAR1 not parquet")
    elif how == "status_corrupt":
        path = sorted((out / "sentences" / "status").glob("part-*.parquet"))[0]
        path.write_bytes(path.read_bytes()[:50])
    elif how == "centroids_missing":
        (out / "kmeans" / "centroids.parquet").unlink()
    elif how == "corpus_missing":
        shutil.rmtree(out / "corpus")
        (out / "tokens" / "data" / "stray file!.parquet").write_bytes(b"")  # not a video id
    elif how == "segments_corrupt":
        (out / "corpus" / "segments-00000-of-00001.parquet").write_bytes(b"")


# (damage, the line printed, what the report says): `{out}` is the damaged OUT root.
DAMAGES = [
    ("features_missing", "features     not run ({out}/features missing)",
     "features: not run ({out}/features missing)"),
    ("tokens_empty", "tokens       empty ({out}/tokens has no readable outputs)",
     "tokens: empty ({out}/tokens has no readable outputs)"),
    ("frames_file_corrupt", "! 1 unreadable data file(s), e.g. {out}/frames/data/sample-0000",
     "frames: 1 unreadable data file(s), e.g. {out}/frames/data/sample-0000.parquet"),
    ("status_corrupt", "! unreadable {out}/sentences/status/part-*.parquet (ArrowInvalid: "
     "{out}/sentences/status/part-0", "sentences: unreadable {out}/sentences/status/part-*"),
    ("centroids_missing", "! missing {out}/kmeans/centroids.parquet",
     "atlas needs {out}/kmeans/centroids.parquet (missing)"),
    ("corpus_missing", "corpus: not built ({out}/corpus/segments-*-of-*.parquet missing)",
     "corpus: not built ({out}/corpus/segments-*-of-*.parquet missing)"),
    ("segments_corrupt", "corpus: unreadable {out}/corpus/segments-*-of-*.parquet (ArrowInvalid: "
     "{out}/corpus/segments-00000-of-00001.parquet",
     "corpus: unreadable {out}/corpus/segments-*-of-*.parquet (ArrowInvalid"),
]  # fmt: skip


@pytest.mark.parametrize("how, printed, reported", DAMAGES, ids=[d[0] for d in DAMAGES])
def test_missing_or_damaged_outputs_are_a_clear_line(
    tiny_corpus, tmp_path, capsys, how, printed, reported
):
    out = tmp_path / "out"
    shutil.copytree(tiny_corpus, out)
    _damage(out, how)
    assert main([f"--out={out}", "--report", "--max_videos=2", "--atlas_tokens=3"]) == 0
    captured = capsys.readouterr()
    assert printed.format(out=out) in captured.out
    assert "Traceback" not in captured.out + captured.err
    assert reported.format(out=out) in (out / "report" / "index.html").read_text()
    if how == "centroids_missing":
        assert "vocabulary size unknown" in captured.out
    if how == "corpus_missing":  # no examples to pick pages from: seeded videos with tokens
        assert len(list((out / "report" / "videos").glob("sample-*.html"))) == 4


def test_an_out_root_with_nothing_in_it(tmp_path, capsys):
    assert main([f"--out={tmp_path}/nothing", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {s["state"] for s in data["stages"]} == {"not_run"}
    assert data["corpus"] == {
        "problem": f"not built ({tmp_path}/nothing/corpus/segments-*-of-*.parquet missing)"
    }


def test_row_counts_are_estimated_from_a_sample_of_footers(tiny_corpus):
    frames = _stage(summarize(tiny_corpus, max_footers=2), "frames")["tables"][0]
    exact = _stage(summarize(tiny_corpus), "frames")["tables"][0]["rows"]
    assert frames["files"] == 4 and frames["rows_exact"] is False
    assert 0.5 * exact <= frames["rows"] <= 1.5 * exact
