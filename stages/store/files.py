"""Files under OUT, local or gs://: atomic writes, Parquet tables with a config fingerprint.

Every path goes through Beam's `FileSystems`, so `OUT` may be a local directory or `gs://...`.
A file is written under a temporary name and renamed into place, so a final name always means a
complete file; a killed run leaves at most a `.tmp-*` file, swept on the next run.
"""

import hashlib
import io
import json
import uuid
from collections.abc import Callable
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

FINGERPRINT_KEY = b"videobert.fingerprint"


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
