import os
import socket

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas import Status
from schemas.ids import validate_video_id
from stages.acquire.discover import Discover, local_records, local_video_ids
from tests.nonroot import as_nobody
from tests.tables import status_table, videos_table


def test_local_ids_are_safe_unique_and_stable():
    rel = ["a.mp4", "a.mkv", "sub/My Video (1).mov", "../../evil.webm", "clean_name.mp4"]
    ids = local_video_ids(rel)
    assert len(set(ids)) == len(ids)
    assert ids[0].startswith("a-") and ids[1].startswith("a-")  # stem clash → hashed
    assert ids[2].startswith("My_Video_1-")
    assert ids[3] == "evil" or ids[3].startswith("evil")
    assert ids[4] == "clean_name"
    assert [validate_video_id(i) for i in ids] == ids
    assert local_video_ids(rel) == ids  # stable


def ids(source) -> list[str]:
    return sorted(r["video_id"] for r in local_records(str(source))[0])


def test_local_records_find_videos_recursively_and_count_other_files(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ["x.mp4", "sub/y.MKV", "z.webm", "w.mov", "notes.txt", "img.jpg", "song.mp3"]:
        (tmp_path / name).write_bytes(b"\0")
    records, rows, listing = local_records(str(tmp_path))
    assert sorted(r["video_id"] for r in records) == ["w", "x", "y", "z"]
    assert all(r["source"] == "local" and r["uri"].startswith(str(tmp_path)) for r in records)
    assert rows == []
    assert listing.skipped == {
        "not a video (.txt)": 1, "not a video (.jpg)": 1, "not a video (.mp3)": 1
    }  # fmt: skip
    assert "not a video (.mp3) 1" in listing.summary()


def test_only_the_project_s_and_the_os_s_litter_is_skipped_never_a_user_s_video(tmp_path):
    """macOS `._x.mp4` forks, a killed download's `.yt-*` dir and a killed render's
    `.sample-*` temp file are litter; a user's dot-named video or hidden dir is not."""
    (tmp_path / ".yt-abc" / "tmp1").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    for name in ["x.mp4", "._x.mp4", ".yt-abc/tmp1/media.mp4", ".hidden/y.mp4", ".DS_Store",
                 ".sample-0001.1a2b3c4d.tmp.mp4", "..%2F..%2Fetc.mp4"]:  # fmt: skip
        (tmp_path / name).write_bytes(b"\0")
    records, rows, listing = local_records(str(tmp_path))
    got = sorted(r["video_id"] for r in records)
    assert got[1:] == ["x", "y"] and got[0].startswith("2F_2Fetc-")  # safe id, still a video
    assert [validate_video_id(v) for v in got] == got
    assert rows == []
    assert listing.skipped == {"project temp files": 2, "OS metadata files": 2}
    dotted = tmp_path / ".cache" / "videos"  # a hidden dir above the source is fine
    dotted.mkdir(parents=True)
    (dotted / "v.mp4").write_bytes(b"\0")
    assert ids(dotted) == ["v"]


def test_links_fifos_and_sockets_become_status_rows_and_are_never_opened(tmp_path):
    (tmp_path / "ok.mp4").write_bytes(b"\0")
    (tmp_path / "dangling.mp4").symlink_to(tmp_path / "gone.mp4")
    (tmp_path / "loop.mp4").symlink_to(tmp_path / "loop.mp4")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "up").symlink_to(tmp_path)  # a directory loop
    os.mkfifo(tmp_path / "pipe.mp4")  # opening it would block forever
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock.mkv"))
        records, rows, _ = local_records(str(tmp_path))
    assert [r["video_id"] for r in records] == ["ok"]
    statuses = {r["video_id"]: (r["status"], r["error_message"]) for r in rows}
    assert statuses["dangling"][0] == Status.BROKEN_LINK and "dangling" in statuses["dangling"][1]
    assert statuses["loop"][0] == Status.BROKEN_LINK and "loop" in statuses["loop"][1]
    assert statuses["pipe"][0] == Status.NOT_A_FILE and "FIFO" in statuses["pipe"][1]
    assert statuses["sock"][0] == Status.NOT_A_FILE and "socket" in statuses["sock"][1]
    assert [s for v, (s, _) in statuses.items() if v.startswith("up")] == [Status.BROKEN_LINK]
    assert len(rows) == 5


def test_unreadable_files_and_directories_are_status_rows_for_a_non_root_user(open_tmp):
    src = open_tmp / "src"
    (src / "locked").mkdir(parents=True)
    for name in ["ok.mp4", "secret.mp4", "locked/inside.mp4"]:
        (src / name).write_bytes(b"\0")
    (src / "secret.mp4").chmod(0o000)
    (src / "locked").chmod(0o000)
    src.chmod(0o755)
    records, rows, _ = as_nobody(local_records, str(src))
    assert [r["video_id"] for r in records] == ["ok"]
    got = {r["video_id"]: r["status"] for r in rows}
    assert got == {"secret": Status.UNREADABLE, "locked": Status.UNREADABLE}
    message = next(r["error_message"] for r in rows if r["video_id"] == "locked")
    assert "directory" in message and "cannot be listed" in message


def test_discover_writes_a_status_row_for_every_unusable_entry(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "one.mp4").write_bytes(b"\0")
    os.mkfifo(src / "two.mp4")
    out = str(tmp_path / "out")
    with TestPipeline(runner="FnApiRunner") as p:
        videos, _ = p | Discover(out, [str(src)])
        assert_that(videos | beam.Map(lambda v: v["video_id"]), equal_to(["one"]))
    status = status_table(out, "discover").to_pylist()
    assert [(r["video_id"], r["status"]) for r in status] == [("one", "ok"), ("two", "not_a_file")]


def test_discover_local_writes_videos_table(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "one.mp4").write_bytes(b"\0")
    out = str(tmp_path / "out")
    with TestPipeline(runner="FnApiRunner") as p:
        videos, _ = p | Discover(out, [str(src)])
        assert_that(videos | beam.Map(lambda v: v["video_id"]), equal_to(["one"]))
    assert videos_table(out).column("video_id").to_pylist() == ["one"]
    assert status_table(out, "discover").column("status").to_pylist() == ["ok"]


def test_discover_empty_dir_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no video files"), TestPipeline(runner="FnApiRunner") as p:
        _ = p | Discover(str(tmp_path / "out"), [str(tmp_path)])
