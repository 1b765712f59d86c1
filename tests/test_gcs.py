"""gs:// end to end against a GCS emulator on loopback (the `gcs` fixture): the sample world
rendered into a gs:// OUT, the DAG over videos stored in a bucket, a rerun that changes
nothing, a --stages subset, inspect/report, pretrain + eval reading from gs://, and bad input."""

import json

import pyarrow as pa
import pytest

from model.data import load_segments
from pipelines import inspect
from pipelines.corpus import run
from schemas import SEGMENTS, layout
from schemas import io as sio
from tests.test_corpus_pipeline import TINY


def _blobs(prefix: str) -> dict[str, tuple[str, object]]:
    """name → (md5, updated) of every object under gs://bucket/<prefix>."""
    from google.cloud import storage

    client = storage.Client()
    return {b.name: (b.md5_hash, b.updated) for b in client.list_blobs("bucket", prefix=prefix)}


def _corpus(out: str) -> pa.Table:
    table = pa.Table.from_batches(list(sio.iter_batches(sio.glob(layout.corpus_glob(out)))))
    return table.sort_by([("video_id", "ascending"), ("segment_index", "ascending")])


@pytest.fixture(scope="module")
def world(gcs):
    """The sample world rendered into, and the whole DAG run on, gs://bucket/world."""
    out = f"{gcs}/world"
    run([f"--out={out}", *TINY])
    return out


def test_the_sample_world_renders_into_a_bucket_and_the_dag_runs_there(world):
    names = _blobs("world/")
    assert sum(n.startswith("world/sample/videos/") for n in names) == 4
    assert "world/kmeans/centroids.parquet" in names
    shards = sio.glob(layout.corpus_glob(world))
    assert shards == [f"{world}/corpus/segments-00000-of-00001.parquet"]
    corpus = _corpus(world)
    assert corpus.schema == SEGMENTS and len(set(corpus["video_id"].to_pylist())) == 4
    for stage in ("filter", "transcripts", "sentences", "frames", "features", "tokens", "corpus"):
        rows = [r for p in sio.glob(layout.status_glob(world, stage))
                for b in sio.iter_batches([p]) for r in b.to_pylist()]  # fmt: skip
        assert len(rows) == 4 and {r["status"] for r in rows} == {"ok"}, stage


def test_a_rerun_on_gcs_changes_nothing_and_a_stage_subset_rebuilds_the_same_corpus(world):
    before = _blobs("world/")
    run([f"--out={world}", *TINY])
    after = _blobs("world/")
    assert {n: md5 for n, (md5, _) in after.items()} == {n: md5 for n, (md5, _) in before.items()}
    kept = [n for n in before if any(d in n for d in ("/data/", "/kmeans/", "/sample/videos/"))]
    assert len(kept) > 20
    assert [n for n in kept if after[n] != before[n]] == []  # not even rewritten
    corpus = _corpus(world)
    run([f"--out={world}", *TINY, "--stages=kmeans,tokens,corpus"])
    assert _corpus(world).equals(corpus)


def test_the_dag_over_videos_stored_in_a_bucket(world, gcs):
    out = f"{gcs}/vb"
    run([f"--out={out}", f"--source={world}/sample/videos/", "--transcripts=none", *TINY[3:]])
    corpus = _corpus(out)
    assert len(set(corpus["video_id"].to_pylist())) == 4
    assert corpus.filter(pa.compute.is_valid(corpus["text"])).num_rows == 0  # video only


def test_inspect_and_report_read_a_gcs_out(world, capsys):
    assert inspect.main([f"--out={world}", "--report", "--max_videos=1"]) == 0
    text = capsys.readouterr().out
    assert "corpus" in text and "Traceback" not in text
    assert sio.exists(f"{world}/report/index.html")


def test_pretrain_and_eval_read_the_corpus_and_centroids_from_gcs(world, tmp_path):
    from model.evaluate import main as evaluate
    from model.train import train
    from tests.model.test_train import TINY as PRESET

    train(f"{world}/corpus", layout.centroids_path(world), tmp_path / "pretrain", PRESET,
          splits=None)  # fmt: skip
    model = tmp_path / "pretrain" / "final"
    metrics = evaluate(["--model", str(model), "--out", world])
    with sio.open_input(f"{world}/eval/metrics.json") as f:
        assert json.load(f) == json.loads(json.dumps(metrics))
    assert metrics["heldout_segments"] > 0


def test_gcs_bad_input_is_one_clear_line(world, gcs):
    with pytest.raises(SystemExit, match="gs://nobucket does not exist: create the bucket"):
        run(["--out=gs://nobucket/vb", *TINY])
    with pytest.raises(SystemExit, match="run the 'tokens' stage first"):
        run([f"--out={gcs}/empty", *TINY, "--stages=corpus"])
    with pytest.raises(FileNotFoundError, match="no corpus shards at gs://bucket/nothing"):
        load_segments(f"{gcs}/nothing/corpus")
    from google.cloud import storage

    bad = "broken/corpus/segments-00000-of-00001.parquet"
    storage.Client().bucket("bucket").blob(bad).upload_from_string(b"PAR1 not parquet")
    with pytest.raises(sio.StorageError, match=f"gs://bucket/{bad} is not a readable Parquet"):
        load_segments(f"{gcs}/broken/corpus")
    with pytest.raises(sio.StorageError, match="gs://nobucket does not exist"):
        sio.glob("gs://nobucket/corpus/segments-*.parquet")
