import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.ids import validate_video_id
from stages.acquire.discover import Discover, local_records, local_video_ids
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


def test_local_records_find_videos_recursively_and_ignore_other_files(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ["x.mp4", "sub/y.MKV", "z.webm", "w.mov", "notes.txt", "img.jpg"]:
        (tmp_path / name).write_bytes(b"\0")
    records = local_records(str(tmp_path))
    assert sorted(r["video_id"] for r in records) == ["w", "x", "y", "z"]
    assert all(r["source"] == "local" and r["uri"].startswith(str(tmp_path)) for r in records)


def test_local_records_skip_hidden_files_and_dirs(tmp_path):
    """macOS `._x.mp4` forks and a killed download's `.yt-*` temp dir are not videos."""
    (tmp_path / ".yt-abc" / "tmp1").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    for name in ["x.mp4", "._x.mp4", ".yt-abc/tmp1/media.mp4", ".hidden/y.mp4"]:
        (tmp_path / name).write_bytes(b"\0")
    assert [r["video_id"] for r in local_records(str(tmp_path))] == ["x"]
    dotted = tmp_path / ".cache" / "videos"  # a hidden dir above the source is fine
    dotted.mkdir(parents=True)
    (dotted / "v.mp4").write_bytes(b"\0")
    assert [r["video_id"] for r in local_records(str(dotted))] == ["v"]


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
