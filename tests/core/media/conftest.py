"""Fixtures of the media tests: settings with roomy limits, and a writer of sample files."""

from __future__ import annotations

from pathlib import Path

import pytest
from media_samples import encode
from PIL import Image
from uffizi.settings import Settings


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home", decode_timeout_s=20, decode_memory_mb=2048)


@pytest.fixture
def write(tmp_path):
    """write(name, bytes_or_image, fmt=None, **params) -> Path."""

    def _write(name: str, content, fmt: str | None = None, **params) -> Path:
        path = tmp_path / name
        if isinstance(content, Image.Image):
            content = encode(content, fmt or name.rsplit(".", 1)[-1].upper(), **params)
        path.write_bytes(content)
        return path

    return _write
