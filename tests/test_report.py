"""The HTML report: content asserted from the real Parquet, self-contained (no network), and
rendered by headless Chromium into a non-blank screenshot with every section present."""

import io
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipelines.atlas import build_atlas, select_tokens
from pipelines.inspect import collect, main

SECTIONS = ("stages", "failures", "corpus", "plots", "examples", "atlas", "videos")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report(tiny_corpus, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report")
    assert main([f"--out={tiny_corpus}", f"--report_dir={root}", "--examples=3"]) == 0
    return root


def _tokens(out: str) -> dict[tuple[str, int], int]:
    rows = pq.read_table(f"{out}/tokens/data").to_pylist()
    pairs = ((r["video_id"], zip(r["clip_index"], r["tokens"], strict=True)) for r in rows)
    return {(vid, c): t for vid, clips in pairs for c, t in clips}


def test_index_has_every_section_plot_and_the_examples(tiny_corpus, report):
    html = (report / "index.html").read_text()
    for section in SECTIONS:
        assert f'id="{section}"' in html
    plots = re.findall(r'<img alt="([^"]+)" src="data:image/svg\+xml;base64,', html)
    assert plots == [
        "Status per stage",
        "Cluster occupancy",
        "Segment length (s)",
        "Visual tokens per segment",
        "Sentence length",
        "Video durations",
    ]
    summary, _ = collect(tiny_corpus, examples=3)
    for e in summary["corpus"]["examples"]:
        assert f"<td>{e['text']}</td>" in html.replace("&#39;", "'")
    assert "no failures: every video that entered a stage is ok" in html
    # Self-contained: nothing is fetched from anywhere when the file is opened.
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert set(re.findall(r'src="([a-z]+):', html)) == {"data"}


def test_atlas_shows_the_nearest_clips_assigned_to_each_sampled_token(tiny_corpus, report):
    summary, counts = collect(tiny_corpus)
    atlas = build_atlas(tiny_corpus, counts, summary["tree"], n_tokens=4, per_token=3)
    assert [t["token"] for t in atlas.tokens] == select_tokens(counts, 4)
    assigned = _tokens(tiny_corpus)
    chosen = {t["token"] for t in atlas.tokens}  # the videos holding one: data, not a constant
    assert atlas.videos_scanned == len({v for (v, _), t in assigned.items() if t in chosen})
    assert not atlas.problems
    features = pq.read_table(f"{tiny_corpus}/features/data").to_pylist()
    centroids = {
        r["node"]: np.array(r["centroid"])
        for r in pq.read_table(f"{tiny_corpus}/kmeans/centroids.parquet").to_pylist()
        if r["level"] == 2
    }
    for token in atlas.tokens:
        mine = sorted(
            (np.linalg.norm(np.array(f["feature"]) - centroids[token["token"]]), f["video_id"],
             f["clip_index"]) for f in features
            if assigned[(f["video_id"], f["clip_index"])] == token["token"]
        )  # fmt: skip
        shown = [(c["video_id"], c["clip_index"]) for c in token["clips"]]
        distance = {(v, c): d for d, v, c in mine}  # clips with equal features tie: any order
        assert [round(distance[c], 4) for c in shown] == [round(d, 4) for d, _, _ in mine[:3]]
        assert all(c["jpeg"][:2] == b"\xff\xd8" for c in token["clips"])  # JPEG thumbnails
    html = (report / "index.html").read_text()
    used = int(np.count_nonzero(counts))
    words = " ".join(html.replace("&#39;", "'").split())
    assert "Points per centroid by level (faiss's floor: 39): L1 min" in words
    shown = re.findall(r'id="token-(\d+)"', html)
    assert len(shown) == min(24, used) and len(set(shown)) == len(shown)
    assert html.count('src="data:image/jpeg;base64,') >= len(shown)


def test_video_pages_show_sentences_and_token_thumbnails_along_the_timeline(tiny_corpus, report):
    pages = sorted((report / "videos").glob("*.html"))
    summary, _ = collect(tiny_corpus, examples=3)
    assert [p.stem for p in pages] == sorted({e["video_id"] for e in summary["corpus"]["examples"]})
    assigned = _tokens(tiny_corpus)
    for page in pages:
        html = page.read_text()
        clips = sorted(c for v, c in assigned if v == page.stem)
        sentences = pq.read_table(f"{tiny_corpus}/sentences/data/{page.stem}.parquet").to_pylist()
        timeline = html.split('id="timeline"')[1].split("</section>")[0]
        assert re.findall(r'alt="clip (\d+)"', timeline) == [str(c) for c in clips]
        tokens = re.findall(r"· <b>(\d+)</b>", timeline)
        assert tokens == [str(assigned[(page.stem, c)]) for c in clips]
        for s in sentences:
            assert s["text"] in html.replace("&#39;", "'")
        assert 'href="../index.html"' in html


def _chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--user-data-dir={tmp / 'profile'}", *args],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium)")
def test_report_renders_in_headless_chromium(report, tmp_path):
    url = (report / "index.html").as_uri()
    dom = _chromium("--dump-dom", url, tmp=tmp_path).stdout.decode()
    for section in SECTIONS:
        assert re.search(rf'<(section|table) id="{section}"', dom)
    assert dom.count('class="token"') > 0 and dom.count("<figure>") == 6
    shot = tmp_path / "index.png"
    _chromium(f"--screenshot={shot}", "--window-size=1200,2400", url, tmp=tmp_path)
    image = Image.open(io.BytesIO(shot.read_bytes()))
    assert image.format == "PNG" and image.size == (1200, 2400)
    pixels = np.asarray(image.convert("L"), np.float32)
    assert pixels.std() > 20  # text, tables, plots: far from a blank page
    plots = pixels[1200:2400]  # below the tables: the plots and the atlas thumbnails
    assert (plots < 128).mean() > 0.01
    page = next((report / "videos").glob("*.html"))
    vshot = tmp_path / "video.png"
    _chromium(f"--screenshot={vshot}", "--window-size=1000,800", page.as_uri(), tmp=tmp_path)
    assert np.asarray(Image.open(vshot).convert("L"), np.float32).std() > 20
