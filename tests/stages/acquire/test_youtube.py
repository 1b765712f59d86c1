"""stages.acquire.youtube offline: yt-dlp's generic extractor against a fault-injecting loopback
server (tests/loopback.py) serving small real H.264 files, plus the error table on yt-dlp's
texts."""

import hashlib
import io
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import replace

import av
import numpy as np
import pytest
from yt_dlp import YoutubeDL
from yt_dlp.extractor.common import InfoExtractor
from yt_dlp.networking import Response
from yt_dlp.networking.exceptions import HTTPError
from yt_dlp.utils import DownloadError, ExtractorError, GeoRestrictedError

from schemas import Status
from schemas.ids import validate_video_id
from stages.acquire import youtube, youtube_errors, ytdlp
from stages.acquire.polite import Pacer, RetryPolicy
from stages.acquire.youtube import (
    AcquireConfig,
    AcquisitionError,
    download,
    js_runtime_status,
    list_source,
    probe,
    status_of_message,
    to_acquisition_error,
    video_id_for,
    ydl_params,
)
from stages.video.media import write_video
from tests.loopback import Fault, Loopback

FRAMES = 50  # 2 s at 25 fps
CFG = AcquireConfig(
    min_interval_s=0.0,
    request_sleep_s=0.0,
    socket_timeout_s=2.0,
    wall_clock_s=20.0,
    retry=RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05, deadline_s=20.0),
)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, bytes]:
    """Two small noisy H.264 mp4s (64×48, 2 s) and an audio-only mp4."""
    root = tmp_path_factory.mktemp("media")
    rng = np.random.default_rng(0)
    out = {}
    for name in ("a", "b"):
        path = root / f"{name}.mp4"
        frames = (rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(FRAMES))
        write_video(path, frames, fps=25)
        out[f"/{name}.mp4"] = path.read_bytes()
    out["/audio.mp4"] = _audio_only_mp4(root / "audio.mp4")
    return out


def _audio_only_mp4(path) -> bytes:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000, layout="mono")
        for i in range(16):
            samples = (np.random.default_rng(i).random((1, 1024)) * 0.1).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path.read_bytes()


@pytest.fixture
def scratch(tmp_path, monkeypatch) -> str:
    """The temp root download() works under (tempfile.gettempdir()), to check it is cleaned."""
    root = tmp_path / "scratch"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return str(root)


@pytest.fixture
def dest(tmp_path) -> str:
    return str(tmp_path / "videos")


def fetch(url: str, dest: str, cfg: AcquireConfig = CFG, video_id: str = "vid", **kw):
    sleeps: list[float] = []
    uri, size = download(url, video_id, dest, cfg, pacer=Pacer(0), sleep=sleeps.append, **kw)
    return uri, size, sleeps


def fails(url: str, dest: str, cfg: AcquireConfig = CFG, video_id: str = "vid") -> AcquisitionError:
    with pytest.raises(AcquisitionError) as info:
        download(url, video_id, dest, cfg, pacer=Pacer(0), sleep=lambda s: None)
    return info.value


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def decoded_frames(path: str) -> int:
    with av.open(path) as c:
        return sum(1 for _ in c.decode(video=0))


def listing(path: str) -> list[str]:
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


# --- downloads that succeed -------------------------------------------------------------------


def test_download_writes_a_decodable_file_and_cleans_up(media, dest, scratch):
    server = Loopback(media)
    with server as base:
        uri, size, sleeps = fetch(f"{base}/a.mp4", dest)
    assert uri == os.path.join(dest, "vid.mp4")
    assert size == len(media["/a.mp4"]) == os.path.getsize(uri)
    assert read(uri) == media["/a.mp4"]
    assert decoded_frames(uri) == FRAMES
    assert listing(dest) == ["vid.mp4"]  # no .tmp-* left
    assert listing(scratch) == []  # the local temp dir is gone
    assert server.count("/a.mp4") == 2  # the extractor's GET, then the download
    assert sleeps == []


def test_429_then_ok_honours_retry_after(media, dest, scratch):
    server = Loopback(media, {"/a.mp4": "429_then_ok"}, retry_after="1")
    with server as base:
        uri, size, sleeps = fetch(f"{base}/a.mp4", dest)
    assert size == len(media["/a.mp4"])
    assert len(sleeps) == 1 and sleeps[0] >= 1.0  # Retry-After: 1 beats the 0.01 s backoff
    assert server.count("/a.mp4") == 3
    assert listing(scratch) == []


def test_500_then_ok_is_retried_with_backoff(media, dest):
    server = Loopback(media, {"/a.mp4": "500_then_ok"})
    with server as base:
        uri, size, sleeps = fetch(f"{base}/a.mp4", dest)
    assert read(uri) == media["/a.mp4"]
    assert len(sleeps) == 1 and 0.009 <= sleeps[0] <= 0.011  # base_delay_s ± jitter
    assert server.count("/a.mp4") == 3


@pytest.mark.parametrize(
    ("kind", "status", "waits"),
    [("429_then_ok", Status.RATE_LIMITED, [1.0, 1.0]), ("500_then_ok", Status.SERVER_ERROR, None)],
)
def test_persistent_429_or_5xx_ends_with_its_status_after_all_attempts(
    media, dest, kind, status, waits
):
    server = Loopback(media, {"/a.mp4": Fault(kind, times=100)}, retry_after="1")
    sleeps: list[float] = []
    with server as base, pytest.raises(AcquisitionError) as info:
        download(f"{base}/a.mp4", "vid", dest, CFG, pacer=Pacer(0), sleep=sleeps.append)
    assert info.value.status == status
    assert f"HTTP Error {kind[:3]}" in info.value.message
    assert server.count("/a.mp4") == CFG.retry.max_attempts
    assert len(sleeps) == CFG.retry.max_attempts - 1 and (waits is None or sleeps == waits)
    assert listing(dest) == []


@pytest.mark.parametrize("kind", ["reset_mid_body", "truncated"])
def test_cut_body_is_resumed_with_a_checked_range(media, dest, kind):
    # Requests 1-2 are cut (the extractor's GET, then the download), the 3rd is whole: yt-dlp
    # resumes from its .part with Range (the server answers 206 + Content-Range) in one attempt.
    server = Loopback(media, {"/a.mp4": Fault(kind, times=2)})
    with server as base:
        uri, size, sleeps = fetch(f"{base}/a.mp4", dest)
    assert hashlib.sha256(read(uri)).digest() == (hashlib.sha256(media["/a.mp4"]).digest())
    hits = server.hits["/a.mp4"]
    assert [h.range for h in hits][:2] == [None, None]
    start = int(hits[2].range.removeprefix("bytes=").removesuffix("-"))
    assert 0 < start <= len(media["/a.mp4"]) // 2  # from what its .part holds
    assert sleeps == []  # no attempt of ours failed


# --- downloads that fail, and leave nothing behind ---------------------------------------------


@pytest.mark.parametrize("kind", ["reset_mid_body", "truncated"])
def test_body_always_cut_is_network_timeout_and_leaves_nothing(media, dest, scratch, kind):
    # Every response is cut: within an attempt yt-dlp resumes twice (each gets half the rest),
    # gives up, and our loop starts a fresh attempt in a fresh temp dir; after all of them the
    # video is NETWORK_TIMEOUT (retryable next run), never ok, and no partial file is visible.
    server = Loopback(media, {"/a.mp4": kind})
    with server as base:
        err = fails(f"{base}/a.mp4", dest)
    assert err.status == Status.NETWORK_TIMEOUT
    assert "Giving up after 2 retries" in err.message
    assert server.count("/a.mp4") == CFG.retry.max_attempts * 4  # extract + 1 GET + 2 resumes
    assert listing(dest) == []
    assert listing(scratch) == []


def test_html_page_instead_of_the_video_is_corrupt_media(media, dest, scratch):
    # The extractor sees video/mp4; the download then gets a 200 text/html error page.
    server = Loopback(media, {"/a.mp4": Fault("html", after=1)})
    with server as base:
        err = fails(f"{base}/a.mp4", dest)
    assert err.status == Status.CORRUPT_MEDIA
    assert "Invalid data found" in err.message
    assert listing(dest) == []
    assert listing(scratch) == []


def test_html_page_from_the_start_is_unsupported_url(media, dest):
    server = Loopback(media, {"/a.mp4": "html"})
    with server as base:
        err = fails(f"{base}/a.mp4", dest)
    assert err.status == Status.UNAVAILABLE
    assert err.message.startswith("Unsupported URL")
    assert server.count("/a.mp4") == 1


def test_audio_only_file_is_no_video_stream(media, dest):
    with Loopback(media) as base:
        err = fails(f"{base}/audio.mp4", dest)
    assert err.status == Status.NO_VIDEO_STREAM
    assert listing(dest) == []


def test_huge_content_length_is_too_large_without_reading_it(media, dest, scratch):
    server = Loopback(media, {"/a.mp4": "huge_length"})
    start = time.monotonic()
    with server as base:
        err = fails(f"{base}/a.mp4", dest)
    assert err.status == Status.TOO_LARGE
    assert "53687091200 bytes" in err.message  # yt-dlp skipped it silently; we noticed
    assert time.monotonic() - start < 3
    assert server.count("/a.mp4") == 2  # not retried
    assert listing(dest) == [] and listing(scratch) == []


def test_no_content_length_is_capped_while_reading(media, dest):
    # yt-dlp's max_filesize needs a Content-Length; the progress hook counts bytes instead.
    cfg = replace(CFG, max_filesize_mb=0.02)  # ~21 KB < the ~70 KB file
    with Loopback(media, {"/a.mp4": "no_length"}) as base:
        err = fails(f"{base}/a.mp4", dest, cfg)
    assert err.status == Status.TOO_LARGE
    assert listing(dest) == []


def test_stall_mid_body_ends_by_socket_timeout_and_wall_clock(media, dest, scratch):
    cfg = replace(CFG, socket_timeout_s=0.4, wall_clock_s=1.5)
    server = Loopback(media, {"/a.mp4": "stall"}, stall_s=30)
    start = time.monotonic()
    with server as base:
        err = fails(f"{base}/a.mp4", dest, cfg)
    elapsed = time.monotonic() - start
    assert err.status == Status.NETWORK_TIMEOUT
    assert "timed out" in err.message or "wall clock" in err.message
    assert elapsed < 1.5 + 4 * 0.4 + 1  # wall clock + a few socket timeouts, never 30 s
    assert listing(dest) == [] and listing(scratch) == []


def test_slow_trickle_is_ended_by_the_wall_clock(media, dest):
    # Bytes keep coming (no socket timeout fires): only the progress hook can end it.
    cfg = replace(CFG, wall_clock_s=1.0)
    server = Loopback(media, {"/a.mp4": "trickle"}, trickle_bytes=512, trickle_interval_s=0.05)
    start = time.monotonic()
    with server as base:
        err = fails(f"{base}/a.mp4", dest, cfg)
    assert err.status == Status.NETWORK_TIMEOUT
    assert "wall clock" in err.message
    assert time.monotonic() - start < 3.5  # the whole body would take ~7 s
    assert listing(dest) == []


def test_404_is_unavailable_and_not_retried(media, dest):
    server = Loopback(media, {"/a.mp4": "404"})
    with server as base:
        err = fails(f"{base}/a.mp4", dest)
    assert err.status == Status.UNAVAILABLE
    assert "HTTP Error 404" in err.message
    assert server.count("/a.mp4") == 1


# --- ids and paths ------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["../../etc/passwd", "a/b", "", "has space", "..", "x" * 200])
def test_unsafe_video_id_is_refused_before_any_request(media, tmp_path, bad):
    dest = tmp_path / "videos"
    server = Loopback(media)
    with server as base:
        err = fails(f"{base}/a.mp4", str(dest), video_id=bad)
    assert err.status == Status.INVALID_ID
    assert server.count("/a.mp4") == 0
    assert list(tmp_path.iterdir()) == []  # not even dest was created


@pytest.mark.parametrize(
    "source",
    [
        "http://127.0.0.1:1/../../etc/passwd",
        "http://127.0.0.1:1/a/b/..%2F..%2Fx.mp4",
        "http://127.0.0.1:1/",
        "http://127.0.0.1:1/has space.mp4",
        {
            "id": "../../x",
            "title": "../../evil",
            "webpage_url": "http://h/v",
            "extractor_key": "Generic",
        },
        {"id": "a/b", "title": "../", "webpage_url": "http://h/w", "extractor_key": "Youtube"},
        {"id": "..", "title": "x", "url": "http://h/..", "ie_key": "Vimeo"},
        {"title": "no id ../", "url": ""},
    ],
)
def test_video_id_for_never_escapes_dest_dir(tmp_path, source):
    vid = video_id_for(source)
    assert validate_video_id(vid) == vid
    assert "/" not in vid and ".." not in vid and len(vid) <= 64 + 9
    path = os.path.realpath(tmp_path / f"{vid}.mp4")
    assert os.path.commonpath([tmp_path, path]) == str(tmp_path)


def test_video_id_for_keeps_youtube_ids_and_is_stable():
    assert video_id_for("https://www.youtube.com/watch?v=-jqJGoxY7y8&t=3") == "-jqJGoxY7y8"
    assert video_id_for("https://youtu.be/dQw4w9WgXcQ") == "dQw4w9WgXcQ"
    assert video_id_for("dQw4w9WgXcQ") == "dQw4w9WgXcQ"
    assert video_id_for({"id": "dQw4w9WgXcQ", "ie_key": "Youtube"}) == "dQw4w9WgXcQ"
    url = "http://127.0.0.1:8000/clips/Pasta Night.mp4"
    vid = video_id_for(url)
    assert vid.startswith("Pasta-Night-") and len(vid) == len("Pasta-Night-") + 8
    assert video_id_for(url) == vid  # deterministic
    assert (
        video_id_for({"id": "Pasta Night", "webpage_url": url, "extractor_key": "Generic"}) == vid
    )
    assert video_id_for(url.replace("8000", "8001")) != vid
    quoted = "http://127.0.0.1:8000/clips/Pasta%20Night.mp4?t=1"
    assert video_id_for(quoted).startswith("Pasta-Night-")  # unquoted, the query left out


# --- error mapping --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("ERROR: [youtube] abcdefghijk: Private video. Sign in if you've been granted access "
         "to this video. Use --cookies-from-browser or --cookies", Status.PRIVATE),
        ("ERROR: [youtube] abcdefghijk: Join this channel to get access to members-only content "
         "like this video, and other exclusive perks.", Status.PRIVATE),
        ("ERROR: [youtube] abcdefghijk: The uploader has not made this video available in your "
         "country\nThis video is available in Germany.", Status.GEO_BLOCKED),
        ("ERROR: [youtube] abcdefghijk: Sign in to confirm your age. This video may be "
         "inappropriate for some users. Use --cookies-from-browser", Status.AGE_RESTRICTED),
        ("ERROR: [youtube] abcdefghijk: Sign in to confirm you\u2019re not a bot. Use "
         "--cookies-from-browser or --cookies for the authentication.", Status.BOT_CHECK),
        ("ERROR: [youtube] abcdefghijk: Sign in to confirm you're not a bot.", Status.BOT_CHECK),
        ("ERROR: [youtube] abcdefghijk: This live event will begin in 3 hours.", Status.LIVE),
        ("ERROR: [youtube] abcdefghijk: Premieres in 2 days", Status.LIVE),
        ("ERROR: [youtube] abcdefghijk: Video unavailable", Status.UNAVAILABLE),
        ("ERROR: [youtube] abcdefghijk: Video unavailable. This video has been removed by the "
         "uploader", Status.UNAVAILABLE),
        ("ERROR: [youtube] abcdefghijk: Video unavailable. This content isn't available, try "
         "again later. The current session has been rate-limited by YouTube for up to an hour.",
         Status.RATE_LIMITED),
        ("ERROR: [youtube] abcdefghijk: Unable to download webpage: HTTP Error 429: Too Many "
         "Requests (caused by <HTTPError 429: Too Many Requests>)", Status.RATE_LIMITED),
        ("ERROR: \r[download] Got error: HTTP Error 503: Service Unavailable. Giving up after 2 "
         "retries", Status.SERVER_ERROR),
        ("ERROR: unable to download video data: HTTP Error 403: Forbidden", Status.BLOCKED),
        ("ERROR: \r[download] Got error: 2178 bytes read, 2179 more expected",
         Status.NETWORK_TIMEOUT),
        ("ERROR: [generic] slow: Unable to download webpage: Read timed out. (read timeout=1.0)",
         Status.NETWORK_TIMEOUT),
        ("[download] File is larger than max-filesize (3 bytes > 1 bytes). Aborting.",
         Status.TOO_LARGE),
        ("ERROR: [youtube] abcdefghijk: Some new failure", None),
    ],
)  # fmt: skip
def test_status_of_message(text, status):
    assert status_of_message(text) == status


def _http_error(status: int, headers: dict[str, str]) -> HTTPError:
    response = Response(io.BytesIO(b""), "http://h/x", headers, status=status)
    return HTTPError(response)


def _download_error(cause: BaseException, text: str) -> DownloadError:
    return DownloadError(text, (type(cause), cause, None))


def test_structured_causes_win_over_text_and_retry_after_is_read():
    err = _http_error(429, {"Retry-After": "7"})
    exc = _download_error(err, "ERROR: [generic] x: Unable to download webpage: HTTP Error 429")
    retry = youtube_errors.retry_of(exc)
    assert retry is not None and retry.retry_after_s == 7.0 and retry.reason == "HTTP 429"
    assert to_acquisition_error(exc).status == Status.RATE_LIMITED
    gone = _download_error(_http_error(410, {}), "ERROR: x: HTTP Error 410: Gone")
    assert youtube_errors.retry_of(gone) is None
    assert to_acquisition_error(gone).status == Status.UNAVAILABLE
    geo = GeoRestrictedError("The uploader has not made this video available", countries=["DE"])
    mapped = to_acquisition_error(_download_error(geo, f"ERROR: [youtube] {geo.msg}"))
    assert mapped.status == Status.GEO_BLOCKED and "DE" in mapped.message
    assert youtube_errors.retry_of(_download_error(geo, "x")) is None


def test_missing_javascript_runtime_is_named_with_what_to_install(monkeypatch):
    monkeypatch.setattr(ytdlp, "_deno_bin", lambda: "/opt/deno")
    assert js_runtime_status() is None
    monkeypatch.setattr(ytdlp, "_deno_bin", lambda: None)
    monkeypatch.setattr(ytdlp.shutil, "which", lambda name: None)
    missing = js_runtime_status()
    assert missing is not None and 'pip install "yt-dlp[default,deno]"' in missing
    exc = DownloadError(
        "ERROR: [youtube] abcdefghijk: Requested format is not available. Use --list-formats"
    )
    mapped = to_acquisition_error(exc, ["[youtube] No supported JavaScript runtime could be found"])
    assert mapped.status == Status.UNAVAILABLE
    assert "Requested format is not available" in mapped.message
    assert 'pip install "yt-dlp[default,deno]"' in mapped.message


def test_live_wrong_extension_and_declared_size_are_refused_before_download():
    refuse = youtube.RefuseUnwanted(max_bytes=10)
    for live in ("is_live", "is_upcoming", "post_live"):
        with pytest.raises(AcquisitionError) as info:
            refuse({"live_status": live}, incomplete=True)
        assert info.value.status == Status.LIVE
    with pytest.raises(AcquisitionError) as info:
        refuse({"ext": "exe"})
    assert info.value.status == Status.UNSAFE_MEDIA
    with pytest.raises(AcquisitionError) as info:
        refuse({"ext": "webm", "filesize_approx": 11})
    assert info.value.status == Status.TOO_LARGE
    assert refuse({"ext": "mkv", "filesize": 10}) is None


# --- format selection, params, probe, list ------------------------------------------------------


def _fmt(format_id: str, **kw) -> dict:
    return {"format_id": format_id, "url": f"https://h/{format_id}", "protocol": "https", **kw}


@pytest.mark.parametrize(
    ("formats", "chosen"),
    [
        (
            [
                _fmt("18", ext="mp4", height=360, vcodec="avc1.42001E", acodec="mp4a.40.2"),
                _fmt("134", ext="mp4", height=360, vcodec="avc1.4d401e", acodec="none"),
                _fmt("396", ext="mp4", height=360, vcodec="av01.0.01M.08", acodec="none"),
                _fmt("136", ext="mp4", height=720, vcodec="avc1.4d401f", acodec="none"),
                _fmt("140", ext="m4a", vcodec="none", acodec="mp4a.40.2"),
            ],
            "134",  # H.264, video-only, ≤ 360p, one file
        ),
        ([_fmt("243", ext="webm", height=360, vcodec="vp9", acodec="none")], "243"),
        ([_fmt("direct", ext="mp4", protocol="http")], "direct"),  # a direct link: all unknown
        ([_fmt("140", ext="m4a", vcodec="none", acodec="mp4a.40.2")], None),  # audio only
        ([_fmt("137", ext="mp4", height=1080, vcodec="avc1", acodec="none")], None),  # too tall
    ],
)
def test_default_format_picks_one_small_video_stream(formats, chosen):
    info = {"id": "x", "title": "t", "formats": formats, "extractor": "t", "extractor_key": "T"}
    info["webpage_url"] = "https://h/x"
    with YoutubeDL(ydl_params(CFG)) as ydl:
        if chosen is None:
            with pytest.raises(ExtractorError, match="Requested format is not available"):
                ydl.process_ie_result(info, download=False)
        else:
            assert ydl.process_ie_result(info, download=False)["format_id"] == chosen


def test_ydl_params_carry_proxy_cookies_and_timeouts(tmp_path):
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n")
    cfg = replace(CFG, proxy="socks5://127.0.0.1:9", cookies=str(cookies), socket_timeout_s=7.5)
    params = ydl_params(cfg, noplaylist=False)
    assert params["proxy"] == "socks5://127.0.0.1:9"
    assert params["cookiefile"].read() == "# Netscape HTTP Cookie File\n"  # a private copy
    assert params["socket_timeout"] == 7.5
    assert params["max_filesize"] == int(CFG.max_filesize_mb * 1024 * 1024)
    assert params["noplaylist"] is False  # extra overrides
    assert params["format"] == youtube.default_format(360)
    assert params["ignoreerrors"] is False and params["skip_unavailable_fragments"] is False
    assert "proxy" not in ydl_params(CFG) and "cookiefile" not in ydl_params(CFG)


def test_cookie_file_is_never_rewritten(media, dest, tmp_path):
    cookies = tmp_path / "cookies.txt"
    text = "# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tk\tv\n"
    cookies.write_text(text)
    with Loopback(media) as base:
        fetch(f"{base}/a.mp4", dest, replace(CFG, cookies=str(cookies)))
    assert cookies.read_text() == text


def test_probe_makes_one_request_and_returns_metadata(media):
    server = Loopback(media)
    with server as base:
        meta, info = probe(f"{base}/b.mp4", CFG, pacer=Pacer(0))
    assert meta["video_id"] == video_id_for(f"{base}/b.mp4") and meta["video_id"].startswith("b-")
    assert meta["url"] == f"{base}/b.mp4"
    assert meta["title"] == "b"
    assert meta["duration_s"] is None  # the generic extractor does not read the file
    assert meta["caption_languages"] == [] and meta["auto_caption_languages"] == []
    assert server.count("/b.mp4") == 1


def test_list_source_of_a_single_url_is_one_entry_and_failures_are_mapped(media):
    with Loopback(media, {"/gone.mp4": "404"}) as base:
        entries = list_source(f"{base}/a.mp4", CFG, pacer=Pacer(0))
        with pytest.raises(AcquisitionError) as info:
            list_source(f"{base}/gone.mp4", CFG, pacer=Pacer(0))
    assert entries == [
        {
            "video_id": video_id_for(f"{base}/a.mp4"),
            "url": f"{base}/a.mp4",
            "title": "a",
            "duration_s": None,
        }
    ]
    assert info.value.status == Status.UNAVAILABLE


# --- YouTube-shaped results and failures, through yt-dlp's real wrapping (no network) ------------

TABS = {"videos": ["dQw4w9WgXcQ", "-jqJGoxY7y8"], "shorts": ["abcdefghijk", "A_B-c1d2e3f"]}
FAILURES = {
    "private": "Private video. Sign in if you've been granted access to this video",
    "bot": "Sign in to confirm you\u2019re not a bot. Use --cookies-from-browser or --cookies",
    "age": "Sign in to confirm your age. This video may be inappropriate for some users.",
    "removed": "Video unavailable. This video has been removed by the uploader",
    "session": "Video unavailable. This content isn't available, try again later.",
    "upcoming": "This live event will begin in 3 hours.",
}


class FakeIE(InfoExtractor):
    """`fake:<what>`: a channel with two tabs, a tab of YouTube entries, a live video, or a
    video that fails with YouTube's words (the pattern RELIABILITY.md describes)."""

    IE_NAME = "fake"
    _VALID_URL = r"fake:(?P<what>\w+)"
    calls: list[str] = []
    media_url = ""

    def _real_extract(self, url):
        what = self._match_valid_url(url).group("what")
        FakeIE.calls.append(what)
        if what == "channel":
            tabs = [self.url_result(f"fake:{tab}", FakeIE) for tab in TABS]
            return self.playlist_result(tabs, "channel")
        if what in TABS:
            entries = [
                self.url_result(
                    f"https://www.youtube.com/shorts/{vid}", "Youtube", vid, f"t {vid}", duration=60
                )
                for vid in TABS[what]
            ]
            return self.playlist_result(entries, what)
        if what == "geo":
            self.raise_geo_restricted(countries=["DE"])
        if what == "live":
            fmt = {"format_id": "0", "url": FakeIE.media_url, "ext": "mp4", "protocol": "http"}
            return {"id": "abcdefghijk", "title": "t", "live_status": "is_live", "formats": [fmt]}
        if what == "broken":
            return {"id": "abcdefghijk"}["streamingData"]  # a KeyError: layout changed
        self.raise_no_formats(FAILURES[what], expected=True, video_id="abcdefghijk")


@pytest.fixture
def fake_youtube(monkeypatch) -> AcquireConfig:
    """download()/list_source() see FakeIE; the config leaves generic out (it matches all)."""

    class WithFake(YoutubeDL):
        def __init__(self, params=None, auto_init=True):
            super().__init__(params, auto_init)
            self.add_info_extractor(FakeIE())

    monkeypatch.setattr(ytdlp, "YoutubeDL", WithFake)
    FakeIE.calls = []
    return replace(CFG, extractors=("youtube.*",))


def test_list_source_expands_a_channel_s_tabs_up_to_max_entries(fake_youtube):
    rows = list_source("fake:channel", fake_youtube, max_entries=3, pacer=Pacer(0))
    assert FakeIE.calls == ["channel", "videos", "shorts"]
    assert rows == [
        {
            "video_id": vid,
            "url": f"https://www.youtube.com/watch?v={vid}",  # canonical, never the raw id
            "title": f"t {vid}",
            "duration_s": 60.0,
        }
        for vid in ["dQw4w9WgXcQ", "-jqJGoxY7y8", "abcdefghijk"]
    ]
    FakeIE.calls = []
    assert len(list_source("fake:channel", fake_youtube, max_entries=2, pacer=Pacer(0))) == 2
    assert FakeIE.calls == ["channel", "videos"]  # enough after the first tab


@pytest.mark.parametrize(
    ("what", "status"),
    [
        ("private", Status.PRIVATE),
        ("bot", Status.BOT_CHECK),
        ("age", Status.AGE_RESTRICTED),
        ("removed", Status.UNAVAILABLE),
        ("session", Status.RATE_LIMITED),
        ("upcoming", Status.LIVE),
        ("geo", Status.GEO_BLOCKED),
        ("broken", Status.UNAVAILABLE),
    ],
)
def test_youtube_failures_map_through_yt_dlp_without_retries(fake_youtube, dest, what, status):
    sleeps: list[float] = []
    with pytest.raises(AcquisitionError) as info:
        download(
            f"fake:{what}", "abcdefghijk", dest, fake_youtube, pacer=Pacer(0), sleep=sleeps.append
        )
    assert info.value.status == status
    assert sleeps == []  # one attempt of ours: retrying cannot help
    # yt-dlp itself retries a geo block once with a faked X-Forwarded-For (geo_bypass; the
    # YouTube extractor turns that off).
    assert FakeIE.calls == [what] * (2 if what == "geo" else 1)
    assert listing(dest) == []
    if what == "geo":
        assert "DE" in info.value.message


def test_live_video_is_refused_before_any_media_request(fake_youtube, media, dest):
    server = Loopback(media)
    with server as base:
        FakeIE.media_url = f"{base}/a.mp4"
        with pytest.raises(AcquisitionError) as info:
            download("fake:live", "abcdefghijk", dest, fake_youtube, pacer=Pacer(0))
    assert info.value.status == Status.LIVE
    assert server.count("/a.mp4") == 0


def test_downloaded_files_of_two_videos_do_not_collide(media, dest):
    with Loopback(media) as base:
        a = fetch(f"{base}/a.mp4", dest, video_id=video_id_for(f"{base}/a.mp4"))[0]
        b = fetch(f"{base}/b.mp4", dest, video_id=video_id_for(f"{base}/b.mp4"))[0]
    assert a != b and read(b) == media["/b.mp4"]
    shutil.rmtree(dest)


# --- the request budget: the probe's info reused, one YoutubeDL per thread -----------------------


def test_download_on_the_probe_s_info_requests_only_the_media(media, dest):
    server = Loopback(media)
    with server as base:
        url = f"{base}/a.mp4"
        _, info = probe(url, CFG, pacer=Pacer(0))
        info = json.loads(json.dumps(info))  # as stages.acquire.info_cache keeps it
        assert server.count("/a.mp4") == 1
        uri, _, _ = fetch(url, dest, info=info)
        assert server.count("/a.mp4") == 2  # no second extraction: the media GET only
        assert read(uri) == media["/a.mp4"]
        fetch(url, dest, video_id="without")
        assert server.count("/a.mp4") == 4  # extract + GET
        stale = {**info, "epoch": time.time() - CFG.info_max_age_s - 60}
        fetch(url, dest, info=stale, video_id="stale")
        assert server.count("/a.mp4") == 6  # too old to trust its URLs: extracted again


def test_the_probe_s_info_never_holds_the_cookies(media, dest, tmp_path):
    cookies = tmp_path / "cookies.txt"
    jar = "# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tsid\tsecret42\n"
    cookies.write_text(jar)
    cfg = replace(CFG, cookies=str(cookies))
    with Loopback(media) as base:
        _, info = probe(f"{base}/a.mp4", cfg, pacer=Pacer(0))
        assert info["formats"][0]["url"] == f"{base}/a.mp4"
        assert "secret42" not in json.dumps(info)  # yt-dlp put it in each format's "cookies"
        uri, _, _ = fetch(f"{base}/a.mp4", dest, cfg, info=info)
    assert read(uri) == media["/a.mp4"]


def test_a_refused_cached_stream_url_is_extracted_again_once(media, dest):
    server = Loopback(media, {"/a.mp4": Fault("403", after=1, times=1)})
    with server as base:
        _, info = probe(f"{base}/a.mp4", CFG, pacer=Pacer(0))
        uri, _, sleeps = fetch(f"{base}/a.mp4", dest, info=info)
    assert read(uri) == media["/a.mp4"] and sleeps == []  # within the same attempt
    assert [h.fault for h in server.hits["/a.mp4"]] == [None, "403", None, None]


def test_a_403_after_extracting_again_is_blocked(media, dest):
    server = Loopback(media, {"/a.mp4": Fault("403", after=1)})
    with server as base:
        _, info = probe(f"{base}/a.mp4", CFG, pacer=Pacer(0))
        err = fails_with_info(f"{base}/a.mp4", dest, info)
    assert err.status == Status.BLOCKED
    assert server.count("/a.mp4") == 3  # probe, the cached URL, the fresh extraction: no loop


def fails_with_info(url: str, dest: str, info: dict) -> AcquisitionError:
    with pytest.raises(AcquisitionError) as caught:
        download(url, "vid", dest, CFG, info=info, pacer=Pacer(0), sleep=lambda s: None)
    return caught.value


def test_one_youtubedl_per_thread_and_configuration(media, dest, monkeypatch):
    made: list[str] = []

    class Counted(YoutubeDL):
        def __init__(self, params=None, auto_init=True):
            made.append(threading.current_thread().name)
            super().__init__(params, auto_init)

    monkeypatch.setattr(ytdlp, "YoutubeDL", Counted)
    with Loopback(media) as base:
        for name in ("a", "b", "a"):
            fetch(f"{base}/{name}.mp4", dest, video_id=f"v{name}")
        probe(f"{base}/b.mp4", CFG, pacer=Pacer(0))
        probe(f"{base}/a.mp4", CFG, pacer=Pacer(0))
        assert len(made) == 2  # one for downloads, one for probes: not one per call
        fetch(f"{base}/a.mp4", dest, replace(CFG, max_height=240), video_id="small")
        assert len(made) == 3  # another configuration
        other = threading.Thread(target=fetch, args=(f"{base}/b.mp4", dest), name="other")
        other.start()
        other.join()
    assert made[-1] == "other" and len(made) == 4
    assert sorted(os.listdir(dest)) == ["small.mp4", "va.mp4", "vb.mp4", "vid.mp4"]


def _damaged(data: bytes) -> bytes:
    """`data` (an mp4 with its index at the end) with the first 64 KiB of frames overwritten."""
    start = data.index(b"mdat") + 4
    noise = np.random.default_rng(1).bytes(64 * 1024)
    return data[:start] + noise + data[start + len(noise) :]


@pytest.mark.parametrize(
    ("name", "mangle", "status"),
    [
        ("whole", lambda d: d, None),
        ("damaged_frames", _damaged, Status.CORRUPT_MEDIA),  # opens; the first packet fails
        ("cut_before_index", lambda d: d[: len(d) // 2], Status.CORRUPT_MEDIA),
        ("html", lambda d: b"<!DOCTYPE html><html><body>Busy</body></html>", Status.CORRUPT_MEDIA),
        ("audio_only", None, Status.NO_VIDEO_STREAM),
    ],
)
def test_verify_media_opens_and_decodes_the_first_packet(media, tmp_path, name, mangle, status):
    path = tmp_path / f"{name}.mp4"
    data = media["/audio.mp4"] if mangle is None else mangle(media["/a.mp4"])
    path.write_bytes(data)
    if status is None:
        youtube.verify_media(str(path))
        return
    with pytest.raises(AcquisitionError) as caught:
        youtube.verify_media(str(path))
    assert caught.value.status == status
