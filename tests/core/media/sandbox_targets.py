"""Functions the sandbox tests run in the child. Kept light (stdlib + numpy) and importable by
name, as every sandbox target must be."""

from __future__ import annotations

import os
import time

import numpy as np
from uffizi.errors import CorruptMedia


def add(a: int, b: int = 0) -> int:
    return a + b


def big_array(height: int, width: int) -> np.ndarray:
    a = np.empty((height, width, 3), np.uint8)
    a[...] = (np.arange(width, dtype=np.uint32) % 251).astype(np.uint8)[None, :, None]
    return a


def arrays_and_meta() -> tuple[np.ndarray, dict, np.ndarray]:
    return np.arange(12, dtype=np.float32).reshape(3, 4), {"k": [1, "two"]}, np.zeros(0, np.uint8)


def hog_memory(mb: int) -> int:
    block = np.ones(mb * 1024 * 1024, np.uint8)
    return int(block[-1])


def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def spin() -> None:
    while True:
        pass


def segfault() -> None:
    import ctypes

    ctypes.string_at(0)


def abort() -> None:
    os.abort()


def exit_quietly(code: int) -> None:
    os._exit(code)


def raise_corrupt() -> None:
    raise CorruptMedia("bad bytes at 17", details={"offset": 17})


def raise_value_error() -> None:
    raise ValueError("plain failure")


def pid() -> int:
    return os.getpid()


def limits() -> tuple[int, int]:
    import resource

    return resource.getrlimit(resource.RLIMIT_AS)[0], resource.getrlimit(resource.RLIMIT_CPU)[0]


def kill_self() -> None:
    import signal

    os.kill(os.getpid(), signal.SIGKILL)
