"""The wall-clock cap and the address policy (`stages.acquire.netguard`) against a misbehaving
loopback server: a download or a transcript request ends within its cap whatever the server
does, and private addresses are refused unless allowed, after redirects too."""

import time
from dataclasses import replace

import pytest
import requests

from schemas import Status
from stages.acquire.netguard import GuardTripped, NetGuard, check_url, is_public_address
from stages.acquire.polite import Pacer, RetryPolicy
from stages.acquire.youtube import AcquireConfig, AcquisitionError, download, probe
from stages.text.asr import TranscriptError
from stages.text.youtube_transcripts import (
    Json3Track,
    YouTubeTranscriptConfig,
    fetch_json3_track,
    make_session,
)
from tests.loopback import Loopback

CAP_S = 3.0
BODY = bytes(range(256)) * 64  # 16 KiB: ~4.5 hours at 1 byte/s
CFG = AcquireConfig(
    min_interval_s=0.0,
    request_sleep_s=0.0,
    socket_timeout_s=5.0,  # longer than the cap: only the guard can end these in time
    wall_clock_s=CAP_S,
    retry=RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05),
    allow_private_hosts=True,
)


def _download(url: str, dest, cfg: AcquireConfig = CFG) -> tuple[AcquisitionError, float]:
    start = time.monotonic()
    with pytest.raises(AcquisitionError) as caught:
        download(url, "vid", str(dest), cfg, pacer=Pacer(0), sleep=lambda s: None)
    return caught.value, time.monotonic() - start


@pytest.mark.parametrize("kind", ["trickle", "endless_headers", "stall"])
def test_download_ends_within_twice_the_wall_clock_whatever_the_server_does(tmp_path, kind):
    # 1 byte/s: every recv returns data, so no socket timeout ever fires; endless headers never
    # let yt-dlp see a response; a stall mid-body outlasts the cap with the socket timeout.
    server = Loopback(
        {"/a.mp4": BODY}, {"/a.mp4": kind}, trickle_bytes=1, trickle_interval_s=1.0, stall_s=60
    )
    with server as base:
        err, elapsed = _download(f"{base}/a.mp4", tmp_path)
    print(f"{kind}: ended after {elapsed:.2f} s (cap {CAP_S:g} s)")
    assert err.status == Status.NETWORK_TIMEOUT
    assert "wall clock" in err.message
    assert elapsed <= 2 * CAP_S
    assert list(tmp_path.iterdir()) == []  # no temp dir, no partial file


def test_transcript_request_ends_within_twice_the_wall_clock(tmp_path):
    cfg = YouTubeTranscriptConfig(
        min_interval_s=0.0, timeout_s=5.0, wall_clock_s=CAP_S, allow_private_hosts=True
    )
    server = Loopback({"/en.json3": BODY}, {"/en.json3": "trickle"}, trickle_bytes=1,
                      trickle_interval_s=1.0)  # fmt: skip
    start = time.monotonic()
    with server as base, pytest.raises(TranscriptError) as caught:
        track = Json3Track(f"{base}/en.json3", "en", True)
        fetch_json3_track(track, make_session(cfg), cfg, pacer=Pacer(0))
    elapsed = time.monotonic() - start
    print(f"transcript trickle: ended after {elapsed:.2f} s (cap {CAP_S:g} s)")
    assert caught.value.status == Status.NETWORK_TIMEOUT
    assert elapsed <= 2 * CAP_S


def test_loopback_sources_are_refused_by_default_before_any_request(tmp_path):
    server = Loopback({"/a.mp4": BODY})
    cfg = replace(CFG, allow_private_hosts=False)
    with server as base:
        err, _ = _download(f"{base}/a.mp4", tmp_path, cfg)
        with pytest.raises(AcquisitionError) as probed:
            probe(f"{base}/a.mp4", cfg, pacer=Pacer(0), sleep=lambda s: None)
    assert err.status == probed.value.status == Status.PRIVATE_HOST
    assert "--allow_private_hosts" in err.message
    assert server.count("/a.mp4") == 0


def test_a_redirect_to_the_metadata_server_is_refused_by_yt_dlp_and_requests():
    # The source itself is allowed (127.0.0.1, as a proxy would be); the redirect target is a
    # link-local address (the cloud metadata server): the connection is never made.
    metadata = "http://169.254.169.254/computeMetadata/v1/instance/"
    server = Loopback({"/r.mp4": b""}, {"/r.mp4": "redirect"}, redirect_to=metadata)
    with server as base:
        guard = NetGuard(5.0, allow_private=False, allowed_hosts=frozenset({"127.0.0.1"}))
        try:
            with guard, pytest.raises(requests.ConnectionError):
                requests.get(f"{base}/r.mp4", timeout=2)
        finally:
            guard.close()
        assert guard.error().status == Status.PRIVATE_HOST and "169.254.169.254" in guard.refused

        cfg = replace(CFG, allow_private_hosts=False, proxy=None)
        from stages.acquire.ytdlp import handle

        guard = NetGuard(5.0, allow_private=False, allowed_hosts=frozenset({"127.0.0.1"}))
        try:
            with guard, pytest.raises(Exception):  # noqa: B017 (yt-dlp's DownloadError)
                handle(cfg).ydl.extract_info(f"{base}/r.mp4", download=False)
        finally:
            guard.close()
        assert guard.error().status == Status.PRIVATE_HOST
    assert server.count("/r.mp4") == 2


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x.mp4",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/v.mp4",
        "http://[::1]/v.mp4",
        "http://[::ffff:127.0.0.1]/v.mp4",
        "http://100.64.0.1/v.mp4",
        "http://localhost:8080/v.mp4",
    ],
)
def test_check_url_refuses_non_public_addresses(url):
    with pytest.raises(GuardTripped) as caught:
        check_url(url, allow_private=False)
    assert caught.value.status == Status.PRIVATE_HOST
    check_url(url, allow_private=True)  # the explicit option lets them through


def test_public_addresses_pass():
    assert is_public_address("8.8.8.8") and is_public_address("2001:4860:4860::8888")
    assert not is_public_address("224.0.0.1")
    check_url("http://93.184.216.34/v.mp4", allow_private=False)


def test_a_retry_cut_by_the_wall_clock_keeps_the_earlier_attempts_reason():
    """An HTTP 500, then a retry that the cap cuts short: the video failed for the server's
    reason (retryable `server_error`), not for a `network_timeout` of our own making."""
    from yt_dlp.utils import DownloadError

    from stages.acquire.youtube_errors import retrying
    from stages.acquire.ytdlp import YdlLog

    calls = []

    def attempt():
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise DownloadError("ERROR: unable to download video data: HTTP Error 500: Internal")
        time.sleep(1.5)  # the cap (0.5 s) ends this attempt

    cfg = replace(AcquireConfig(), wall_clock_s=0.5, min_interval_s=0.0)
    policy = RetryPolicy(base_delay_s=0.01, jitter=0.0, deadline_s=10.0)
    with pytest.raises(AcquisitionError) as err:
        retrying(attempt, cfg, "probe x", YdlLog(), policy=policy, pacer=None, sleep=time.sleep)
    assert len(calls) == 2
    assert err.value.status == Status.SERVER_ERROR
    assert "HTTP Error 500" in err.value.message and "wall clock" in err.value.message
