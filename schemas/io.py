"""Beam-free file access for `model/` and the readers: local paths and gs:// URIs.

gs:// goes through the google-cloud-storage client, which honours `STORAGE_EMULATOR_HOST`
(tests run a GCS emulator on loopback) and otherwise uses Application Default Credentials.
Pipelines and stages use Beam's `FileSystems` instead (stages.store.files); both read the same
layout (schemas.layout).

    open_input(path)            a seekable binary file (Parquet readers take it as is)
    glob(pattern)               sorted paths matching `*` in the last path component
    iter_batches(paths, ...)    Arrow record batches of Parquet files, one file open at a time
    write_bytes(path, data)     a whole file, local (temp + rename) or gs:// (one upload)
    atomic_write_local(path, write)   write a local file (or directory) under a temp name, rename
"""

from __future__ import annotations

import fnmatch
import glob as _glob
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from schemas.layout import is_local


class StorageError(OSError):
    """A path that cannot be read, said in one line with the fix."""


def _split(uri: str) -> tuple[str, str]:
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    return bucket, name


def _client():
    if not hasattr(_client, "cached"):
        from google.cloud import storage

        _client.cached = storage.Client()  # anonymous against STORAGE_EMULATOR_HOST
    return _client.cached


def _bucket(uri: str):
    from google.api_core import exceptions

    if not uri.startswith("gs://"):
        raise StorageError(f"{uri}: only local paths and gs:// are supported")
    name, _ = _split(uri)
    bucket = _client().bucket(name)
    try:
        if not bucket.exists():
            raise StorageError(f"gs://{name} does not exist: create the bucket or fix the path")
    except exceptions.Forbidden as e:
        raise StorageError(
            f"gs://{name}: permission denied ({e.code}): grant your account storage.objects "
            "access or run `gcloud auth application-default login`"
        ) from e
    return bucket


def exists(path: str) -> bool:
    if is_local(path):
        return os.path.exists(path)
    bucket, name = _split(path)
    return _bucket(path).blob(name).exists() or bool(glob(path.rstrip("/") + "/*"))


def open_input(path: str):
    """A binary file for reading (a GCS BlobReader seeks with range requests)."""
    if is_local(path):
        return open(path, "rb")
    _, name = _split(path)
    blob = _bucket(path).blob(name)
    if not blob.exists():
        raise FileNotFoundError(path)
    return blob.open("rb")


def glob(pattern: str) -> list[str]:
    """Sorted paths matching `pattern`; wildcards only in its last component."""
    if is_local(pattern):
        return sorted(_glob.glob(pattern))
    directory, _, last = pattern.rpartition("/")
    _, prefix = _split(directory + "/")
    bucket = _bucket(pattern)
    names = (b.name for b in _client().list_blobs(bucket, prefix=prefix))
    return sorted(
        f"gs://{bucket.name}/{n}"
        for n in names
        if "/" not in n[len(prefix) :] and fnmatch.fnmatchcase(n[len(prefix) :], last)
    )


def _parquet(path: str, f) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(f)
    except (pa.ArrowInvalid, OSError) as e:
        raise StorageError(
            f"{path} is not a readable Parquet file ({e}): delete it and rerun the stage "
            "that wrote it"
        ) from e


def iter_batches(
    paths: Sequence[str], columns: list[str] | None = None, batch_size: int = 65_536
) -> Iterator[pa.RecordBatch]:
    """Record batches of every Parquet file in `paths`, in order; one file open at a time.
    A file that is not Parquet raises StorageError naming it."""
    for path in paths:
        with open_input(path) as f:
            yield from _parquet(path, f).iter_batches(batch_size=batch_size, columns=columns)


def read_schema(path: str) -> pa.Schema:
    with open_input(path) as f:
        return _parquet(path, f).schema_arrow


def write_bytes(path: str, data: bytes) -> None:
    """Write `path` whole: a local file atomically (temp + rename), a gs:// object in one
    upload (GCS objects appear whole or not at all)."""
    if is_local(path):
        atomic_write_local(path, lambda tmp: tmp.write_bytes(data))
        return
    _, name = _split(path)
    _bucket(path).blob(name).upload_from_string(data)


def atomic_write_local(path: str | Path, write: Callable[[Path], object]) -> Path:
    """`write(temp)` beside `path` (a file or a directory), then rename over `path`: a killed
    process never leaves a half-written `path`. Returns `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")  # keeps .ext
    try:
        write(tmp)
        if path.is_dir() and tmp.is_dir():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
    return path
