"""What one running service holds: `ServiceState` (settings, platform, store, runner, model
status, auth, metrics, webhooks), kept on `app.state.uffizi` and handed to routes through
the dependencies in `uffizi.api.deps`.

`ModelStatus` loads the engine in a background thread so the server answers at once: while
it loads, `/readyz` says so and `/v1/infer` answers 503 `model_unavailable`; when it cannot
load, both say why and name the setting to change (UFFIZI_MODEL). `broker_problem` says why
a broker URL cannot be reached (None when it can).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from uffizi.errors import ModelUnavailable, UffiziError

log = logging.getLogger("uffizi.api")


class ModelStatus:
    """idle -> loading -> loaded | failed (with the reason)."""

    def __init__(self, platform: Any) -> None:
        self.platform = platform
        self.state = "loaded" if platform.engine_loaded else "idle"
        self.reason: str | None = None
        self.seconds: float | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.on_loaded: list[Any] = []

    @property
    def model(self) -> str:
        return self.platform.settings.model

    def start(self) -> None:
        """Load the engine in the background (once)."""
        with self._lock:
            if self.state in ("loading", "loaded"):
                return
            self.state, self.reason = "loading", None
            self._thread = threading.Thread(target=self._load, name="uffizi-model-load", daemon=True)
            self._thread.start()

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            engine = self.platform.engine()
        except Exception as exc:  # noqa: BLE001 - reported by /readyz and every request
            message = exc.message if isinstance(exc, UffiziError) else f"{type(exc).__name__}: {exc}"
            self.state, self.reason = "failed", message
            log.error("model %s cannot be loaded: %s", self.model, message)
            return
        self.seconds = time.perf_counter() - started
        for callback in self.on_loaded:
            callback(engine)
        self.state = "loaded"
        log.info("model %s loaded in %.1f s", self.model, self.seconds)

    def wait(self, timeout: float | None = None) -> bool:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.state == "loaded"

    def engine(self) -> Any:
        """The engine when it is loaded; `ModelUnavailable` (503) while it loads or failed."""
        if self.state == "loaded":
            return self.platform.engine()
        if self.state == "idle":  # not preloading: load on first use, in this thread
            self.start()
            self.wait()
            if self.state == "loaded":
                return self.platform.engine()
        if self.state == "loading":
            raise ModelUnavailable(f"the model {self.model} is still loading; retry shortly",
                                   details={"model": self.model, "state": "loading"})
        raise ModelUnavailable(
            f"the model {self.model} cannot be loaded: {self.reason}; set UFFIZI_MODEL (or "
            "`uffizi serve --model`) to a hub id, a local folder or a preset",
            details={"model": self.model, "state": "failed", "reason": self.reason},
        )

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"model": self.model, "state": self.state}
        if self.reason:
            info["reason"] = f"{self.reason} (setting UFFIZI_MODEL)"
        if self.state == "loaded":
            engine_info = getattr(self.platform.engine(), "info", None)
            if isinstance(engine_info, dict):
                info.update({k: engine_info[k] for k in ("revision", "device", "dtype",
                                                          "random_weights") if k in engine_info})
        return info


def broker_problem(url: str, timeout_s: float = 1.0) -> str | None:
    """None when the broker answers; else what is wrong. Redis gets a PING, anything else
    (amqp) a TCP connect."""
    parts = urlsplit(url)
    defaults = {"redis": 6379, "rediss": 6379, "amqp": 5672, "amqps": 5671}
    host, port = parts.hostname or "localhost", parts.port or defaults.get(parts.scheme, 0)
    if not port:
        return f"cannot tell the port of broker URL scheme {parts.scheme!r}"
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            if parts.scheme == "redis":
                sock.settimeout(timeout_s)
                sock.sendall(b"PING\r\n")
                reply = sock.recv(64)
                if not (reply.startswith(b"+PONG") or reply.startswith(b"-NOAUTH")):
                    return f"broker at {host}:{port} answered {reply[:40]!r} to PING"
    except OSError as exc:
        return f"broker at {host}:{port} is unreachable: {exc}"
    return None


@dataclass
class ServiceState:
    settings: Any
    platform: Any
    db: Any
    blobs: Any
    runner: Any
    model: ModelStatus
    auth: Any
    metrics: Any
    webhooks: Any = None
    tmp_dir: Path = field(default_factory=lambda: Path("/tmp"))
    extras: dict[str, Any] = field(default_factory=dict)
