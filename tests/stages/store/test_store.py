import os

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas import CLIPS, STATUS, Status, layout
from schemas.ids import validate_video_id
from stages.store.files import write_table
from stages.store.stage import SkipFinished, StageStore
from stages.store.status import WriteStatus, merge_status, status_row, summarize


@pytest.mark.parametrize("bad", ["", "..", "../x", "a/b", "a\\b", "x" * 97, "a b", ".hidden"])
def test_unsafe_video_ids_are_rejected(bad):
    with pytest.raises(ValueError, match="unsafe video id"):
        validate_video_id(bad)


@pytest.mark.parametrize("good", ["-jqJGoxY7y8", "sample-0001", "My_clip-1a2b3c4d"])
def test_safe_video_ids_pass(good):
    assert validate_video_id(good) == good


def test_data_path_stays_under_the_stage_dir(tmp_path):
    store = StageStore(str(tmp_path), "features")
    path = store.data_path("-jqJGoxY7y8")
    assert os.path.commonpath([path, str(tmp_path / "features")]) == str(tmp_path / "features")
    with pytest.raises(ValueError):
        store.data_path("../../etc/passwd")


def test_write_table_is_atomic_and_leaves_no_temp(tmp_path):
    path = str(tmp_path / "a" / "t.parquet")
    table = pa.table({"x": [1, 2, 3]})
    write_table(table, path)
    write_table(table, path)  # overwrite is fine
    assert pq.read_table(path).equals(table)
    assert os.listdir(tmp_path / "a") == ["t.parquet"]


def test_sweep_removes_leftovers_of_a_killed_run(tmp_path):
    store = StageStore(str(tmp_path), "frames")
    (tmp_path / "frames" / "data").mkdir(parents=True)
    (tmp_path / "frames" / "data" / "v.parquet.tmp-1234abcd").write_bytes(b"half")
    assert store.sweep_temp_files() == 1
    assert os.listdir(tmp_path / "frames" / "data") == []


def test_fingerprint_mismatch_means_not_done(tmp_path):
    store = StageStore(str(tmp_path), "frames")
    store.write_data("v1", pa.Table.from_pylist([], schema=CLIPS), "fp-a")
    assert store.is_done("v1", "fp-a")
    assert not store.is_done("v1", "fp-b")
    assert not store.is_done("v2", "fp-a")


def test_merge_status_keeps_one_row_per_video_newest_wins():
    prev = {"a": status_row("a", "frames", Status.DECODE_TIMEOUT, "slow")}
    rows = [status_row("a", "frames", Status.OK, items=3), status_row("b", "frames", Status.OK)]
    table = merge_status(pa.Table.from_pylist(list(prev.values()), schema=STATUS), rows)
    assert table.schema == STATUS
    assert table.column("video_id").to_pylist() == ["a", "b"]
    assert table.column("status").to_pylist() == ["ok", "ok"]


def test_summary_names_failures_with_an_example():
    rows = [
        status_row("a", "frames", Status.OK, items=5),
        status_row("b", "frames", Status.CORRUPT_MEDIA, "Invalid data found"),
    ]
    text = summarize("frames", rows, 1.5)
    assert "videos: 2  usable: 1  items: 5" in text
    assert "corrupt_media" in text and "b: Invalid data found" in text


def test_partition_finished_routes_done_failed_and_pending(tmp_path):
    out = str(tmp_path)
    store = StageStore(out, "frames")
    store.write_data("done", pa.Table.from_pylist([], schema=CLIPS), "fp")
    for row in [
        status_row("corrupt", "frames", Status.CORRUPT_MEDIA, "bad"),
        status_row("timeout", "frames", Status.DECODE_TIMEOUT, "slow"),
    ]:  # each in its own part, as WriteStatus places them
        write_table(merge_status(None, [row]), store.status_part(_part(row["video_id"])))
    videos = [{"video_id": v} for v in ("done", "corrupt", "timeout", "new")]
    with TestPipeline(runner="FnApiRunner") as p:
        parts = p | beam.Create(videos) | SkipFinished(store, "fp", force=False)
        assert_that(
            parts.todo | "ids" >> beam.Map(lambda v: v["video_id"]),
            equal_to(["timeout", "new"]),
            label="todo",
        )
        assert_that(
            parts.done | beam.Map(lambda r: (r["video_id"], r["status"])),
            equal_to([("done", "ok"), ("corrupt", "corrupt_media")]),
            label="done",
        )


def test_write_status_merges_with_previous_runs(tmp_path):
    store = StageStore(str(tmp_path), "tokens")
    for batch in (["a", "b"], ["b", "c"]):
        with TestPipeline(runner="FnApiRunner") as p:
            _ = (
                p
                | beam.Create([status_row(v, "tokens", Status.OK) for v in batch])
                | WriteStatus(store)
            )
    assert sorted(store.load_status()) == ["a", "b", "c"]


def _part(video_id: str) -> int:
    return layout.video_shard(video_id, layout.TABLE_SHARDS)


def test_status_parts_hold_each_video_once_in_its_own_part_sorted(tmp_path):
    store = StageStore(str(tmp_path), "frames")
    ids = [f"v{i:03d}" for i in range(200)]
    for status in (Status.DECODE_TIMEOUT, Status.OK):  # the second run's rows win
        with TestPipeline(runner="FnApiRunner") as p:
            _ = p | beam.Create([status_row(v, "frames", status) for v in ids]) | WriteStatus(store)
    paths = sorted(tmp_path.glob("frames/status/part-*-of-00016.parquet"))
    assert len(paths) == 16  # 200 videos spread over every part
    seen = []
    for path in paths:
        part = pq.read_table(path).column("video_id").to_pylist()
        assert part == sorted(part) and {_part(v) for v in part} == {int(path.name[5:10])}
        seen += part
    assert sorted(seen) == ids
    assert {r["status"] for r in store.load_status().values()} == {"ok"}
    with TestPipeline(runner="FnApiRunner") as p:  # replace: only this run's rows remain
        _ = (
            p
            | beam.Create([status_row("v000", "frames", Status.OK)])
            | WriteStatus(store, replace=True)
        )
    assert list(store.load_status()) == ["v000"]
