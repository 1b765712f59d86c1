"""Every test is offline: the Hugging Face Hub (and anything else off loopback) is never tried."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# An exception a per-video step did not anticipate crashes the test (--fail_fast), instead of
# becoming an internal_error row + dead letter (stages.store.dead_letter; tests/test_dataflow.py
# turns it off with --no-fail_fast).
os.environ.setdefault("VIDEOBERT_FAIL_FAST", "1")


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> str:
    """The whole corpus DAG run once on a 4-video sample world (~8 s); read-only for tests."""
    from pipelines.corpus import run
    from tests.test_corpus_pipeline import TINY

    out = str(tmp_path_factory.mktemp("tiny_corpus") / "out")
    run([f"--out={out}", *TINY])
    return out


from tests.nonroot import open_tmp  # noqa: E402, F401 (a fixture: a /tmp dir `nobody` can reach)


@pytest.fixture(scope="session")
def gcs():
    """A GCS emulator (gcp-storage-emulator, in memory) on a free loopback port, with the
    bucket `bucket`; STORAGE_EMULATOR_HOST points every GCS client at it for the session."""
    import logging
    import socket

    from gcp_storage_emulator.server import create_server

    logging.getLogger("gcp_storage_emulator").setLevel(logging.ERROR)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket="bucket")
    server.start()
    before = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{port}"
    from stages.store.files import _anonymous_against_emulator

    _anonymous_against_emulator()
    try:
        yield "gs://bucket"
    finally:
        server.stop()
        if before is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = before
