"""The batcher: one thread owns the model; callers on any thread submit work and wait.

Work arrives as items (one image with one or more task requests). The thread takes the first
item, keeps collecting until `max_batch_size` (image, task) pairs are waiting or `max_wait_ms`
has passed, then hands the whole batch to a `process` callback. Because only this thread ever
touches the model, the engine is safe to call from many threads.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from uffizi.errors import EngineOverloaded

log = logging.getLogger(__name__)


@dataclass
class WorkItem:
    """One image and the pairs to run on it; `future` resolves to the list of results."""

    payload: Any
    size: int  # number of (image, task) pairs
    future: Future = field(default_factory=Future)
    submitted: float = field(default_factory=time.perf_counter)


class Batcher:
    def __init__(
        self,
        process: Callable[[list[WorkItem]], None],
        *,
        max_batch_size: int,
        max_wait_ms: float,
        max_queue: int = 10_000,
        name: str = "uffizi-batcher",
    ) -> None:
        self._process = process
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self._queue: queue.Queue[WorkItem | None] = queue.Queue(maxsize=max_queue)
        self._stop = threading.Event()
        self._gate = threading.Lock()  # no item can be queued once close() has queued the end
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: WorkItem) -> Future:
        with self._gate:
            if self._stop.is_set():
                raise EngineOverloaded("the engine is shutting down")
            try:
                self._queue.put_nowait(item)
            except queue.Full:
                raise EngineOverloaded(
                    f"more than {self._queue.maxsize} requests are waiting; retry later"
                ) from None
        return item.future

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def close(self, timeout: float = 10.0) -> None:
        """Stop taking work, finish the batch in progress, fail what is still queued."""
        with self._gate:
            if self._stop.is_set():
                return
            self._stop.set()
            self._queue.put(None)  # after every item submitted before: the loop drains them
        self._thread.join(timeout)

    def _collect(self, first: WorkItem) -> list[WorkItem]:
        batch, pairs = [first], first.size
        deadline = time.perf_counter() + self.max_wait
        while pairs < self.max_batch_size:
            remaining = deadline - time.perf_counter()
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)
                break
            batch.append(item)
            pairs += item.size
        return batch

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                break
            batch = self._collect(first)
            try:
                self._process(batch)
            except BaseException as exc:  # noqa: BLE001 - never let the thread die silently
                log.exception("batch failed")
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)
        # fail whatever is still queued
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None and not item.future.done():
                item.future.set_exception(EngineOverloaded("the engine was closed"))
