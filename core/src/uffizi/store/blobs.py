"""`BlobStore`: content-addressed files on disk (job inputs, result records, artifacts).

A blob is named by the sha256 of its bytes and lives at `root/ab/cd/<sha256>`. Writes stream
through a temporary file in `root/tmp` (never the whole file in memory), are fsynced, then
renamed into place, so a reader never sees half a blob and storing the same bytes twice keeps
one file. The store knows nothing about jobs: which blobs are still referenced is the job
store's business (`uffizi.store.jobs.delete_job`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from uffizi.errors import InvalidInput

CHUNK = 1024 * 1024
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def check_sha256(sha256: str) -> str:
    """The digest itself when it is 64 lowercase hex digits; `InvalidInput` otherwise (it
    becomes a path, so nothing else may pass)."""
    if not isinstance(sha256, str) or not _SHA256_RE.match(sha256):
        raise InvalidInput(f"not a sha256 digest: {str(sha256)[:80]!r}")
    return sha256


class BlobStore:
    """Content-addressed files under `root`."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()
        self._tmp = self.root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"BlobStore({str(self.root)!r})"

    def path(self, sha256: str) -> Path:
        """Where the blob lives (whether or not it exists)."""
        check_sha256(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        """The blob opened for reading; `FileNotFoundError` when it is not stored."""
        return self.path(sha256).open("rb")

    def size(self, sha256: str) -> int:
        return self.path(sha256).stat().st_size

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        """Store `data`; returns (sha256, size)."""
        return self._put(iter((bytes(data),)))

    def put_file(self, path: str | Path) -> tuple[str, int]:
        """Store a copy of the file at `path`, read in chunks; returns (sha256, size)."""
        with open(path, "rb") as fh:
            return self._put(iter(lambda: fh.read(CHUNK), b""))

    def put_stream(self, stream: BinaryIO) -> tuple[str, int]:
        """Store what a binary stream holds (an upload), read in chunks; returns (sha256, size)."""
        return self._put(iter(lambda: stream.read(CHUNK), b""))

    def delete(self, sha256: str) -> bool:
        """Remove the blob; False when it was not there."""
        path = self.path(sha256)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        for parent in (path.parent, path.parent.parent):  # drop emptied fan-out folders
            try:
                parent.rmdir()
            except OSError:
                break
        return True

    def __iter__(self) -> Iterator[str]:
        """Every stored digest (for maintenance: finding unreferenced blobs)."""
        for path in self.root.glob("??/??/*"):
            if _SHA256_RE.match(path.name):
                yield path.name

    def _put(self, chunks: Iterator[bytes]) -> tuple[str, int]:
        self._tmp.mkdir(parents=True, exist_ok=True)
        tmp = self._tmp / f".{uuid.uuid4().hex}.part"
        digest, size = hashlib.sha256(), 0
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)  # umask applies
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha256 = digest.hexdigest()
            final = self.path(sha256)
            if final.is_file() and final.stat().st_size == size:
                tmp.unlink()
            else:
                for _ in range(3):  # a concurrent delete may remove the fan-out folder
                    final.parent.mkdir(parents=True, exist_ok=True)
                    try:
                        os.replace(tmp, final)
                        break
                    except FileNotFoundError:
                        continue
                else:
                    os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return sha256, size
