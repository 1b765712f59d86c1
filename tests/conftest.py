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
