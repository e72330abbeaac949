"""Inputs in: uploads, base64 and URLs become stored, content-addressed job inputs.

`Intake` stages every input as a file in the service's temp folder (uploads copied in
chunks, never whole in memory; URLs through the one guarded fetcher), hashing the bytes as
sent (for the Idempotency-Key request hash). `store()` then sniffs every input by content
(`platform.sniff`: 415 `unsupported_media` when no loader claims it or the pipeline does
not accept its media type, whatever its name says), and only when all of them pass runs the
`sanitize_input` hooks on each and puts what they return in the blob store. The records it
returns are the job's `inputs`: name, sha256 of what was stored, media type, size, URL.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, BinaryIO

from uffizi.errors import InvalidInput, UnsupportedMedia
from uffizi.net.fetch import fetch_to_file

_CHUNK = 1024 * 1024


def safe_name(name: str | None, default: str = "input") -> str:
    """The last path component of a client-given file name, printable, at most 255 chars."""
    base = PureWindowsPath(PurePosixPath(name or "").name).name
    base = "".join(c for c in base if c.isprintable()).strip().lstrip(".")
    return base[:255] or default


@dataclass
class Staged:
    name: str
    path: Path
    raw_sha256: str
    url: str | None = None


class Intake:
    def __init__(self, *, platform: Any, blobs: Any, tmp_dir: Path) -> None:
        self.platform, self.blobs = platform, blobs
        tmp_dir.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix="intake-", dir=tmp_dir))
        self.staged: list[Staged] = []

    def __enter__(self) -> Intake:
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def _new_path(self, name: str) -> Path:
        """A fresh folder per input, so a file keeps its own name (error messages use it)."""
        folder = self.dir / f"{len(self.staged):05d}"
        folder.mkdir()
        return folder / name

    def add_stream(self, name: str | None, stream: BinaryIO) -> Staged:
        name = safe_name(name)
        path, digest = self._new_path(name), hashlib.sha256()
        with path.open("wb") as out:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        return self._add(Staged(name, path, digest.hexdigest()))

    def add_base64(self, name: str | None, data: str, *, field: str) -> Staged:
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(f"{field} is not valid base64", details={"field": field}) from None
        name = safe_name(name)
        path = self._new_path(name)
        path.write_bytes(raw)
        return self._add(Staged(name, path, hashlib.sha256(raw).hexdigest()))

    def add_url(self, url: str, *, settings: Any) -> Staged:
        fetched = fetch_to_file(url, settings=settings, dest_dir=self.dir,
                                max_bytes=min(settings.fetch_max_bytes, settings.max_upload_bytes))
        name = safe_name(fetched.url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1], "download")
        path = self._new_path(name)
        os.replace(fetched.path, path)
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
        return self._add(Staged(name, path, digest.hexdigest(), url=url))

    def _add(self, staged: Staged) -> Staged:
        self.staged.append(staged)
        return staged

    def fingerprint(self) -> list[dict[str, Any]]:
        """What the inputs were as sent (for the request hash): name, hash or URL."""
        return [{"url": s.url} if s.url else {"name": s.name, "sha256": s.raw_sha256}
                for s in self.staged]

    def store(self, pipeline: Any, options: Any) -> list[dict[str, Any]]:
        if not self.staged:
            raise InvalidInput("a job needs at least one input: upload files as `inputs` or "
                               "give `urls`", details={"field": "inputs"})
        typed = []
        for s in self.staged:  # every input is checked before anything is stored
            _, media_type = self.platform.sniff(s.path)
            if not pipeline.accepts(media_type):
                raise UnsupportedMedia(
                    f"{s.name} is {media_type}; {pipeline.id} accepts "
                    f"{', '.join(pipeline.media_types)}",
                    details={"input": s.name, "media_type": media_type,
                             "accepted": list(pipeline.media_types)},
                )
            typed.append((s, media_type))
        records = []
        for s, media_type in typed:
            replaced = self.platform.sanitize_input(media_type, s.path, options)
            sha256, size = self.blobs.put_file(replaced or s.path)
            record = {"name": s.name, "sha256": sha256, "media_type": media_type, "size": size}
            if s.url:
                record["url"] = s.url
            records.append(record)
        return records
