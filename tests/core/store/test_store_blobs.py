"""BlobStore: content addressing, layout, atomic streaming writes, deletes."""

from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path

import pytest

from uffizi.errors import InvalidInput
from uffizi.store.blobs import CHUNK, BlobStore


def test_put_bytes_is_content_addressed_under_ab_cd(blobs: BlobStore):
    sha, size = blobs.put_bytes(b"hello")
    assert sha == hashlib.sha256(b"hello").hexdigest() and size == 5
    assert blobs.path(sha) == blobs.root / sha[:2] / sha[2:4] / sha
    assert blobs.exists(sha) and blobs.size(sha) == 5
    with blobs.open(sha) as fh:
        assert fh.read() == b"hello"
    assert blobs.put_bytes(b"hello") == (sha, 5)  # the same bytes: one file
    assert list(blobs) == [sha]


def test_put_file_streams_in_chunks(blobs: BlobStore, tmp_path: Path):
    data = bytes(range(256)) * (3 * CHUNK // 256 + 7)  # a bit over 3 chunks
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    sha, size = blobs.put_file(src)
    assert (sha, size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert blobs.path(sha).read_bytes() == data

    reads: list[int] = []

    class Recording(io.BytesIO):
        def read(self, n: int = -1) -> bytes:
            reads.append(n)
            return super().read(n)

    assert blobs.put_stream(Recording(data)) == (sha, size)
    assert reads and all(0 < n <= CHUNK for n in reads)  # never the whole stream at once


def test_writes_leave_no_temporary_files(blobs: BlobStore, tmp_path: Path):
    for i in range(5):
        blobs.put_bytes(f"blob {i}".encode())
    assert list((blobs.root / "tmp").iterdir()) == []


def test_a_failed_write_leaves_nothing(blobs: BlobStore):
    def broken():
        yield b"part"
        raise OSError("disk gone")

    with pytest.raises(OSError):
        blobs._put(broken())
    assert list((blobs.root / "tmp").iterdir()) == [] and list(blobs) == []


def test_concurrent_puts_of_the_same_bytes(blobs: BlobStore):
    data = b"x" * 200_000
    results: list[tuple[str, int]] = []
    threads = [threading.Thread(target=lambda: results.append(blobs.put_bytes(data))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and len(results) == 8
    assert blobs.path(results[0][0]).read_bytes() == data


def test_delete_removes_the_file_and_empty_folders(blobs: BlobStore):
    sha, _ = blobs.put_bytes(b"gone soon")
    assert blobs.delete(sha) is True
    assert not blobs.exists(sha) and not blobs.path(sha).parent.exists()
    assert blobs.delete(sha) is False


@pytest.mark.parametrize("bad", ["../../etc/passwd", "ab", "A" * 64, "g" * 64, "", "0" * 63 + "/"])
def test_only_sha256_digests_become_paths(blobs: BlobStore, bad: str):
    with pytest.raises(InvalidInput):
        blobs.path(bad)
