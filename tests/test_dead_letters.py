"""One bad video never kills a job and never hides; bundle retries are harmless.

Both compare a run of the tiny sample world with the session's clean run (`tiny_corpus`), on
the same rendered videos (the H.264 encoder's output can differ between two renders under load).
"""

import json
import shutil
from pathlib import Path

import av

from pipelines.corpus import run
from pipelines.inspect import main as inspect_main
from stages.store.dead_letter import read_dead_letters
from tests.tables import corpus_files, corpus_table, status_table, videos_table
from tests.test_corpus_pipeline import TINY

PER_VIDEO = ("transcripts", "sentences", "frames", "features")  # before the shared k-means


def _ids(out) -> list[str]:
    return sorted(videos_table(out)["video_id"].to_pylist())


def _status(out, stage) -> dict[str, dict]:
    rows = status_table(out, stage).to_pylist()
    return {r["video_id"]: {k: v for k, v in r.items() if k != "seconds"} for r in rows}


def _same_world(clean, out) -> str:
    shutil.copytree(f"{clean}/sample", f"{out}/sample")
    return out


def _data(out, stage, vid) -> bytes:
    return (Path(out) / stage / "data" / f"{vid}.parquet").read_bytes()


def test_an_unexpected_exception_in_one_video_becomes_its_row_and_a_dead_letter(
    tiny_corpus, tmp_path, monkeypatch, capsys
):
    bad, *others = _ids(tiny_corpus)
    real_open = av.open

    def flaky_open(source, *args, **kwargs):  # PyAV itself fails on one video's file
        if kwargs.get("mode", "r") == "r" and f"{bad}." in str(source):
            raise MemoryError(f"simulated allocation failure decoding {bad}")
        return real_open(source, *args, **kwargs)

    monkeypatch.setattr(av, "open", flaky_open)
    out = _same_world(tiny_corpus, str(tmp_path / "out"))
    run([f"--out={out}", *TINY, "--no-fail_fast"])

    for stage in ("frames", "features"):
        row = _status(out, stage)[bad]
        assert row["status"] == "internal_error"
        assert row["error_message"].startswith("MemoryError: ")
        assert "simulated allocation failure" in row["error_message"]
        [letter] = read_dead_letters(out, stage)
        assert letter["video_id"] == bad and letter["exception_type"] == "MemoryError"
        assert "flaky_open" in letter["traceback"] and "iter_clips" in letter["traceback"]
    assert _status(out, "tokens")[bad]["status"] == "upstream_failed"
    # Every other video: the same outputs as the clean run, byte for byte.
    for stage in PER_VIDEO:
        clean, now = _status(tiny_corpus, stage), _status(out, stage)
        for vid in others:
            assert now[vid] == clean[vid], (stage, vid)
            assert _data(out, stage, vid) == _data(tiny_corpus, stage, vid), (stage, vid)
    segments = corpus_table(out)
    assert sorted(set(segments["video_id"].to_pylist())) == others

    # `make inspect` lists them first.
    capsys.readouterr()
    inspect_main([f"--out={out}"])
    text = capsys.readouterr().out
    assert text.index("INTERNAL ERRORS") < text.index("STAGES")
    assert f"e.g. {bad}; tracebacks in {out}/failed/frames/" in text
    assert json.loads(Path(f"{out}/failed/features/{bad}.json").read_text())["stage"] == "features"


def test_bundles_replayed_give_byte_identical_outputs(tiny_corpus, tmp_path):
    out = _same_world(tiny_corpus, str(tmp_path / "out"))
    run([f"--out={out}", *TINY, "--direct_runner_bundle_repeat=1"])  # every bundle runs twice
    ids = _ids(tiny_corpus)
    assert _ids(out) == ids
    for stage in (*PER_VIDEO, "tokens"):
        assert _status(out, stage) == _status(tiny_corpus, stage), stage
        for vid in ids:
            assert _data(out, stage, vid) == _data(tiny_corpus, stage, vid), (stage, vid)
    tables = ["kmeans/centroids.parquet"]
    tables += [str(Path(p).relative_to(tiny_corpus)) for p in corpus_files(tiny_corpus)]
    assert [str(Path(p).relative_to(out)) for p in corpus_files(out)] == tables[1:]
    for table in tables:
        assert Path(out, table).read_bytes() == Path(tiny_corpus, table).read_bytes(), table
