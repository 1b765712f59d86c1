"""stages.acquire.info_cache: the probe's info dict kept per video for the download."""

import gzip
import time

import pytest

from stages.acquire.info_cache import info_age_s, info_path, load_info, save_info


def test_info_round_trips_as_gzip_json_under_discover(tmp_path):
    out = str(tmp_path)
    info = {"id": "dQw4w9WgXcQ", "epoch": 1_700_000_000, "formats": [{"url": "https://x/y"}]}
    save_info(out, "dQw4w9WgXcQ", info)
    path = tmp_path / "discover" / "info" / "dQw4w9WgXcQ.json.gz"
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert load_info(out, "dQw4w9WgXcQ") == info
    assert sorted(p.name for p in path.parent.iterdir()) == ["dQw4w9WgXcQ.json.gz"]  # no temp
    assert load_info(out, "abcdefghijk") is None  # never probed


@pytest.mark.parametrize("data", [b"not gzip", gzip.compress(b"{cut"), gzip.compress(b"[1]")])
def test_a_damaged_info_file_is_no_info(tmp_path, data):
    path = tmp_path / "discover" / "info" / "abcdefghijk.json.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    assert load_info(str(tmp_path), "abcdefghijk") is None  # the download extracts again


@pytest.mark.parametrize("bad", ["../escape", "a/b", "", ".hidden"])
def test_ids_are_validated_before_they_become_paths(tmp_path, bad):
    with pytest.raises(ValueError):
        info_path(str(tmp_path), bad)
    with pytest.raises(ValueError):
        save_info(str(tmp_path), bad, {})
    assert not (tmp_path / "discover").exists()


def test_info_age_comes_from_yt_dlp_s_epoch():
    now = time.time()
    assert info_age_s({"epoch": int(now) - 100}, now) == pytest.approx(100, abs=1)
    assert info_age_s({}, now) == float("inf")
    assert info_age_s({"epoch": "yesterday"}, now) == float("inf")
