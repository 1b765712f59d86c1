"""Files under OUT, local or gs://: atomic writes, Parquet tables with a config fingerprint.

Every path goes through Beam's `FileSystems`, so `OUT` may be a local directory or `gs://...`.
A file is written under a temporary name and renamed into place, so a final name always means a
complete file; a killed run leaves at most a `.tmp-*` file, swept on the next run.
"""

import hashlib
import io
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from schemas.io import atomic_write_local
from schemas.layout import is_local

FINGERPRINT_KEY = b"videobert.fingerprint"


def _anonymous_against_emulator() -> None:
    """Against a GCS emulator (`STORAGE_EMULATOR_HOST`, as the tests run) Beam's GCS client
    connects anonymously at once: without this it first retries Application Default Credentials
    for ~30 s per process (and probes the GCE metadata server, which is not loopback)."""
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from apache_beam.internal.gcp import auth

        with auth._Credentials._credentials_lock:
            auth._Credentials._credentials, auth._Credentials._credentials_init = None, True


_anonymous_against_emulator()


def fingerprint(config: object) -> str:
    """A short stable hash of a (dataclass/dict) configuration."""
    blob = json.dumps(config, sort_keys=True, default=lambda o: getattr(o, "__dict__", str(o)))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def atomic_write(path: str, write: Callable[[BinaryIO], object]) -> None:
    """Create `path` (local or gs://) through FileSystems atomically: `write` fills a temp file
    beside it, which is then renamed over `path`; on any failure the temp file is removed."""
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    parent = path.rsplit("/", 1)[0]
    if not FileSystems.exists(parent):
        try:
            FileSystems.mkdirs(parent)
        except OSError:  # BeamIOError too: another worker created it in between
            if not FileSystems.exists(parent):
                raise
    try:
        with FileSystems.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            write(f)
        if FileSystems.exists(path):
            FileSystems.delete([path])
        FileSystems.rename([tmp], [path])
    except BaseException:
        if FileSystems.exists(tmp):
            FileSystems.delete([tmp])
        raise


def write_via_local_file(path: str, write: Callable[[Path], object]) -> None:
    """For writers that need a real local file (PyAV, pyarrow): `write(local temp)`, then
    publish it at `path` atomically; a local `path` is a rename, a gs:// one an upload."""
    if is_local(path):
        atomic_write_local(path, write)
        return
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / path.rsplit("/", 1)[-1]
        write(local)
        with open(local, "rb") as src:
            atomic_write(path, lambda f: shutil.copyfileobj(src, f, 1 << 20))


def match(pattern: str) -> list[str]:
    """Sorted paths matching `pattern` (none: an empty list)."""
    return sorted(m.path for r in FileSystems.match([pattern]) for m in r.metadata_list)


def read_parts(pattern: str, schema: pa.Schema, columns: list[str] | None = None) -> pa.Table:
    """The parts of a sharded table as one table (empty with `schema` when there are none).
    For summaries and small tables; pipelines read parts inside the job (stages.store.stage)."""
    tables = []
    for path in match(pattern):
        try:
            tables.append(read_table(path, columns))
        except pa.ArrowInvalid as e:  # name the part: the fix is to delete or rewrite it
            raise pa.ArrowInvalid(f"{path}: {e}") from e
    if not tables:
        empty = schema if columns is None else pa.schema([schema.field(c) for c in columns])
        return empty.empty_table()
    return pa.concat_tables(tables)


def write_table(table: pa.Table, path: str) -> None:
    """Write `table` as zstd Parquet to `path` atomically (temp name, then rename)."""
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    atomic_write(path, lambda f: f.write(buf.getvalue()))


def read_table(path: str, columns: list[str] | None = None) -> pa.Table:
    with FileSystems.open(path) as f:
        return pq.read_table(io.BytesIO(f.read()), columns=columns)


def read_metadata(path: str) -> pq.FileMetaData:
    """The Parquet footer only (row count, schema metadata), not the data."""
    with FileSystems.open(path, compression_type="uncompressed") as f:
        return pq.read_metadata(f)


def read_fingerprint(path: str) -> str | None:
    meta = read_metadata(path).schema.to_arrow_schema().metadata or {}
    value = meta.get(FINGERPRINT_KEY)
    return value.decode() if value else None


def with_fingerprint(schema: pa.Schema, fp: str) -> pa.Schema:
    return schema.with_metadata({**(schema.metadata or {}), FINGERPRINT_KEY: fp.encode()})
