"""End to end: a file of URLs on a loopback server → discover → filter → download → corpus."""

from pathlib import Path

import numpy as np
import pytest

from pipelines.corpus import run
from stages.acquire.youtube import video_id_for
from stages.video.media import write_video
from tests.loopback import Fault, Loopback
from tests.tables import corpus_table, status_table, videos_table

ARGS = [
    "--side=64",
    "--weights=random",
    "--kmeans_k=2",
    "--kmeans_depth=1",
    "--sentence_splitter=pause",
    "--min_interval_s=0",
    "--socket_timeout_s=2",
    "--download_timeout_s=20",
    "--allow_private_hosts",  # the loopback server
]


def _video(path, seed):
    rng = np.random.default_rng(seed)
    frames = (rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(75))
    write_video(path, frames, fps=25)  # 3 s → 2 clips
    return path.read_bytes()


def _status(out, stage):
    return {r["video_id"]: r for r in status_table(out, stage).to_pylist()}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    d = tmp_path_factory.mktemp("served")
    files = {
        "/pasta-recipe.mp4": _video(d / "a.mp4", 0),
        "/bread-baking.mp4": _video(d / "b.mp4", 1),
        "/cat-video.mp4": _video(d / "c.mp4", 2),  # off topic: never downloaded
        "/soup-recipe.mp4": _video(d / "d.mp4", 3),  # an HTML page at download time
    }
    server = Loopback(files, faults={"/soup-recipe.mp4": Fault("html", after=1)})
    with server as base:
        yield server, base, d


def test_url_list_goes_through_every_stage_and_reruns_download_nothing(served, tmp_path):
    server, base, _ = served
    urls = tmp_path / "urls.txt"
    urls.write_text(
        "# cooking videos\n"
        f"{base}/pasta-recipe.mp4\n{base}/bread-baking.mp4\n{base}/cat-video.mp4\n"
        f"{base}/soup-recipe.mp4\n"
        "not a url or an id\n"
        f"{base}/pasta-recipe.mp4\n"  # a duplicate
    )
    out = str(tmp_path / "out")
    run([f"--out={out}", f"--source={urls}", *ARGS])

    discover = _status(out, "discover")
    assert [r["status"] for r in discover.values()].count("ok") == 4
    bad = [r for r in discover.values() if r["status"] == "bad_source_line"]
    assert len(bad) == 1 and ":6:" in bad[0]["error_message"]
    videos = {r["title"]: r for r in videos_table(out).to_pylist()}
    ids = {t: v["video_id"] for t, v in videos.items()}
    assert all(v["source"] == "url" for v in videos.values())
    info = Path(out, "discover", "info", f"{ids['pasta-recipe']}.json.gz")
    assert info.stat().st_size > 0  # the probe's info: the download reuses it

    filtered = _status(out, "filter")
    assert filtered[ids["cat-video"]]["status"] == "off_topic"
    assert server.count("/cat-video.mp4") <= 1  # probed once at most, never downloaded

    download = _status(out, "download")
    assert download[ids["pasta-recipe"]]["status"] == "ok"
    assert download[ids["bread-baking"]]["status"] == "ok"
    # The page now serves HTML: yt-dlp finds no video in it ("Unsupported URL").
    assert download[ids["soup-recipe"]]["status"] in ("unavailable", "corrupt_media")

    assert not list(Path(out, "download", "videos").glob(f"{ids['soup-recipe']}*"))
    assert ids["cat-video"] not in download

    segments = corpus_table(out).to_pylist()
    assert {s["video_id"] for s in segments} == {ids["pasta-recipe"], ids["bread-baking"]}
    assert all(len(s["visual_tokens"]) > 0 for s in segments)

    hits = {p: server.count(p) for p in ("/pasta-recipe.mp4", "/bread-baking.mp4")}
    run([f"--out={out}", f"--source={urls}", *ARGS])
    assert {p: server.count(p) for p in hits} == hits  # nothing fetched again
    assert corpus_table(out).to_pylist() == segments


def test_dry_run_sizes_the_job_and_downloads_nothing(served, tmp_path, capsys):
    server, base, _ = served
    urls = tmp_path / "urls.txt"
    urls.write_text(f"{base}/bread-baking.mp4\n{base}/cat-video.mp4\n")
    before = server.count("/bread-baking.mp4")
    out = str(tmp_path / "out")
    run([f"--out={out}", f"--source={urls}", "--plan_only", *ARGS])
    err = capsys.readouterr().err
    assert "1 video" in err and "off_topic" in err
    assert server.count("/bread-baking.mp4") - before <= 1  # the metadata probe only
    assert not (tmp_path / "out" / "download").exists()


# Served paths whose faults leave a retryable failure, and the status each leaves.
RETRYABLE_FAULTS = {
    "/down-recipe.mp4": (Fault("500_then_ok", times=99), "discover", "server_error"),  # probe
    "/busy-recipe.mp4": (Fault("500_then_ok", after=1, times=99), "download", "server_error"),
    "/slow-recipe.mp4": (Fault("429_then_ok", after=1, times=99), "download", "rate_limited"),
    "/cut-recipe.mp4": (Fault("reset_mid_body", after=1), "download", "network_timeout"),
}
# Permanent failures: properties of the video, not of the moment.
PERMANENT = {
    "/gone-recipe.mp4": ("discover", "unavailable"),  # 404 at the probe: removed
    "/huge-recipe.mp4": ("download", "too_large"),  # Content-Length 50 GB
    "/noise-recipe.mp4": ("download", "corrupt_media"),  # random bytes
    "/cat-video.mp4": ("filter", "off_topic"),
}


def test_retry_failed_re_requests_exactly_the_retryable_failures(tmp_path):
    names = ["pasta", "gone", "down", "busy", "slow", "cut", "huge"]
    files = {f"/{n}-recipe.mp4": _video(tmp_path / f"{n}.mp4", i) for i, n in enumerate(names)}
    files["/noise-recipe.mp4"] = np.random.default_rng(9).bytes(50_000)
    files["/cat-video.mp4"] = files["/pasta-recipe.mp4"]
    faults = {p: f for p, (f, _, _) in RETRYABLE_FAULTS.items()}
    permanent = {"/huge-recipe.mp4": Fault("huge_length", after=1), "/gone-recipe.mp4": Fault(
        "404")}  # fmt: skip
    server = Loopback(files, {**faults, **permanent})
    urls, out = tmp_path / "urls.txt", str(tmp_path / "out")
    # The short wall clock ends each retryable failure after 2 attempts (one ~2 s backoff).
    argv = [f"--out={out}", f"--source={urls}", "--stages=discover,filter,download",
            *ARGS, "--download_timeout_s=3"]  # fmt: skip
    with server as base:
        urls.write_text("".join(f"{base}{p}\n" for p in files))
        vid = {p: video_id_for(f"{base}{p}") for p in files}
        run(argv)
        first = {stage: _status(out, stage) for stage in ("discover", "filter", "download")}
        expected = {p: (stage, status) for p, (_, stage, status) in RETRYABLE_FAULTS.items()}
        expected |= {**PERMANENT, "/pasta-recipe.mp4": ("download", "ok")}
        assert {p: first[stage][vid[p]]["status"] for p, (stage, _) in expected.items()} == {
            p: status for p, (_, status) in expected.items()
        }

        counts = {p: server.count(p) for p in files}
        run(argv)  # without --retry_failed a rerun requests nothing at all
        assert {p: server.count(p) for p in files} == counts
        assert _status(out, "download") == first["download"]

        for path in RETRYABLE_FAULTS:  # the server recovers
            del server.faults[path]
        run([*argv, "--retry_failed"])
        again = {p: server.count(p) - counts[p] for p in files}

    assert {p for p, n in again.items() if n} == set(RETRYABLE_FAULTS)
    # The probe, then the media GET: the download runs on the probe's cached info.
    assert again["/down-recipe.mp4"] == 2
    assert again["/busy-recipe.mp4"] == again["/slow-recipe.mp4"] == again["/cut-recipe.mp4"] == 1
    download = _status(out, "download")
    assert {p: download[vid[p]]["status"] for p in RETRYABLE_FAULTS} == dict.fromkeys(
        RETRYABLE_FAULTS, "ok"
    )
    for p, (stage, _) in PERMANENT.items():
        if stage == "download":
            assert download[vid[p]] == first["download"][vid[p]]  # the very same row
    assert download[vid["/pasta-recipe.mp4"]] == first["download"][vid["/pasta-recipe.mp4"]]
    assert sorted(f.name.rsplit("-", 1)[0] for f in Path(out, "download", "videos").iterdir()) == [
        "busy-recipe", "cut-recipe", "down-recipe", "pasta-recipe", "slow-recipe"
    ]  # fmt: skip
