import faiss
import pytest


@pytest.fixture(scope="module")
def one_faiss_thread():
    """Tiny fits gain nothing from threads, and OpenMP stalls badly on a busy 2-core box."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(threads)
