"""A DoFn that drives yt-dlp closes its YoutubeDLs (connections, cookie jar) in teardown."""

import pytest

from stages.acquire import ytdlp
from stages.acquire.discover import ExpandSourceFn, ProbeFn
from stages.acquire.download import DownloadFn


@pytest.mark.parametrize(
    "make",
    [
        lambda cfg: DownloadFn("out", cfg, "fp"),
        lambda cfg: ProbeFn("out", cfg, retry_failed=False),
        lambda cfg: ExpandSourceFn(cfg, max_entries=None),
    ],
)
def test_teardown_closes_this_threads_youtubedl_handles(make, monkeypatch):
    cfg = ytdlp.AcquireConfig()
    first = ytdlp.handle(cfg)
    closed = []
    monkeypatch.setattr(first.ydl, "close", lambda: closed.append(first))
    assert ytdlp.handle(cfg) is first  # reused while the DoFn lives

    make(cfg).teardown()

    assert closed == [first]
    assert ytdlp.handle(cfg) is not first  # a later bundle gets a fresh one
    ytdlp.close_handles()
