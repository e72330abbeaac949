"""The one sandbox for untrusted media: run a decode function in a child process with limits.

`run_limited(func, *args, timeout_s=..., memory_mb=..., **kwargs)` runs `func(*args, **kwargs)`
in a fresh child process and returns its result. The child is forked from a fork server (a
clean interpreter started once, with PIL and numpy preloaded), never from the caller, so
threads, CUDA contexts or torch state in the caller are never inherited. In the child:

- `RLIMIT_AS` caps its address space at `memory_mb` (setting `UFFIZI_DECODE_MEMORY_MB`),
- `RLIMIT_CPU` caps its CPU time at about `timeout_s` (setting `UFFIZI_DECODE_TIMEOUT_S`),
- core dumps are off.

The parent waits at most `timeout_s` seconds of wall time, then kills the child. Whatever goes
wrong ends in a typed error, never a hang: the time or memory limit -> `MediaTooLarge` naming
the setting; a crash (SIGSEGV, abort, odd exit) -> `CorruptMedia`; a `UffiziError` raised in
the child -> the same class, message and details in the parent; any other exception -> itself,
with the child's traceback as its cause.

Results travel back over a pipe as a pickle (protocol 5) whose large buffers (numpy arrays)
are sent out of band and received straight into a writable buffer: a 4000x3000 RGB image comes
back without an extra copy through pickle.
"""

from __future__ import annotations

import importlib
import math
import multiprocessing as mp
import pickle
import signal
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar

from uffizi.errors import CorruptMedia, MediaTooLarge, UffiziError

__all__ = ["run_limited", "TIMEOUT_SETTING", "MEMORY_SETTING"]

T = TypeVar("T")

TIMEOUT_SETTING = "UFFIZI_DECODE_TIMEOUT_S"
MEMORY_SETTING = "UFFIZI_DECODE_MEMORY_MB"

# Imported once in the fork server so that each child starts warm.
PRELOAD = ("numpy", "PIL.Image", "uffizi.media.sandbox", "uffizi.media.images")

_ctx_lock = threading.Lock()
_ctx: Any = None

try:  # the forkserver start method, on POSIX
    from multiprocessing import popen_forkserver as _pf
    from multiprocessing import spawn as _spawn
    from multiprocessing.context import ForkServerProcess as _ForkServerProcess
except ImportError:  # pragma: no cover - Windows
    _ForkServerProcess = None

_MAIN_KEYS = ("init_main_from_path", "init_main_from_name")
_launch_lock = threading.Lock()


if _ForkServerProcess is not None:

    class _Popen(_pf.Popen):
        """A forkserver launch that does not re-run the parent's main module in the child.

        multiprocessing re-runs the parent's main script in every spawn/forkserver child (so
        that functions defined there unpickle). Under `uffizi serve`, celery or pytest that
        costs 100+ ms of imports per decode, and sandbox targets never live in `__main__`.
        The launch asks `multiprocessing.spawn.get_preparation_data` for what the child must
        prepare; while we launch, that answer leaves out the main-module keys.
        """

        def _launch(self, process_obj: Any) -> None:
            with _launch_lock:
                original = _spawn.get_preparation_data

                def without_main(name: str) -> dict[str, Any]:
                    data = original(name)
                    for key in _MAIN_KEYS:
                        data.pop(key, None)
                    return data

                _spawn.get_preparation_data = without_main
                try:
                    super()._launch(process_obj)
                finally:
                    _spawn.get_preparation_data = original

    class _SandboxProcess(_ForkServerProcess):
        @staticmethod
        def _Popen(process_obj: Any) -> Any:
            return _Popen(process_obj)


def _context() -> tuple[Any, Any]:
    """(context, Process class): forkserver where the platform has it, spawn elsewhere."""
    global _ctx
    with _ctx_lock:
        if _ctx is None:
            if "forkserver" in mp.get_all_start_methods():
                ctx = mp.get_context("forkserver")
                ctx.set_forkserver_preload(list(PRELOAD))
                process_class = _SandboxProcess
            else:  # pragma: no cover - macOS/Windows have no forkserver
                ctx = mp.get_context("spawn")
                process_class = ctx.Process
            _ctx = (ctx, process_class)
        return _ctx


class _RemoteTraceback(Exception):
    """Carries the child's formatted traceback as the cause of a re-raised exception."""


# --- the child ---------------------------------------------------------------------------------
def _apply_limits(memory_mb: int, cpu_s: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 2))
    cap = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _error_payload(exc: BaseException) -> tuple[Any, ...]:
    if isinstance(exc, UffiziError):
        cls = type(exc)
        return ("uffizi", cls.__module__, cls.__qualname__, exc.message, exc.details)
    if isinstance(exc, MemoryError):
        return ("memory", str(exc) or "MemoryError")
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        blob = pickle.dumps(exc)
    except Exception:
        blob = None
    return ("error", blob, f"{type(exc).__name__}: {exc}", tb)


def _child(conn: Connection, memory_mb: int, cpu_s: int, func: Callable[..., Any],
           args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    buffers: list[pickle.PickleBuffer] = []
    try:
        _apply_limits(memory_mb, cpu_s)
        result = func(*args, **kwargs)
        payload = pickle.dumps(("ok", result), protocol=5, buffer_callback=buffers.append)
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
        buffers = []
        payload = pickle.dumps(("raised", _error_payload(exc)), protocol=5)
    raws = [b.raw() for b in buffers]
    conn.send([r.nbytes for r in raws])
    conn.send_bytes(payload)
    for raw in raws:
        conn.send_bytes(raw)
    conn.close()


# --- the parent --------------------------------------------------------------------------------
def _too_slow(timeout_s: float) -> MediaTooLarge:
    return MediaTooLarge(
        f"decoding took longer than the {timeout_s:g} s limit; raise {TIMEOUT_SETTING} "
        "if such inputs are expected",
        details={"limit": "decode_timeout_s", "setting": TIMEOUT_SETTING, "value": timeout_s},
    )


def _out_of_memory(memory_mb: int, why: str) -> MediaTooLarge:
    return MediaTooLarge(
        f"decoding needed more than the {memory_mb} MB memory limit ({why}); raise "
        f"{MEMORY_SETTING} if such inputs are expected",
        details={"limit": "decode_memory_mb", "setting": MEMORY_SETTING, "value": memory_mb},
    )


def _crashed(exitcode: int | None, timeout_s: float, memory_mb: int) -> UffiziError:
    if exitcode is not None and exitcode < 0:
        sig = -exitcode
        if sig == signal.SIGXCPU:
            return _too_slow(timeout_s)
        if sig == signal.SIGKILL:
            return _out_of_memory(memory_mb, "the decoder was killed, likely by the OOM killer")
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        return CorruptMedia(
            f"the decoder crashed ({name}); the file is damaged or crafted to break decoders",
            details={"signal": name},
        )
    return CorruptMedia(
        f"the decoder exited with status {exitcode} without an answer",
        details={"exitcode": exitcode},
    )


def _raise_from_child(payload: tuple[Any, ...], memory_mb: int) -> None:
    kind = payload[0]
    if kind == "uffizi":
        _, module, qualname, message, details = payload
        try:
            cls: Any = importlib.import_module(module)
            for part in qualname.split("."):
                cls = getattr(cls, part)
            if not (isinstance(cls, type) and issubclass(cls, UffiziError)):
                raise TypeError(qualname)
            exc = cls(message, details=details)
        except Exception:
            exc = CorruptMedia(message, details=details)
        raise exc
    if kind == "memory":
        raise _out_of_memory(memory_mb, payload[1])
    _, blob, summary, tb = payload
    try:
        err = pickle.loads(blob) if blob is not None else RuntimeError(summary)
    except Exception:
        err = RuntimeError(summary)
    raise err from _RemoteTraceback(tb)


def _receive(conn: Connection) -> tuple[str, Any]:
    sizes = conn.recv()
    payload = conn.recv_bytes()
    buffers = []
    for n in sizes:
        buf = bytearray(n)
        if n:
            conn.recv_bytes_into(buf)
        else:
            conn.recv_bytes()
        buffers.append(buf)
    return pickle.loads(payload, buffers=buffers)


def run_limited(func: Callable[..., T], /, *args: Any, timeout_s: float, memory_mb: int,
                **kwargs: Any) -> T:
    """Run `func(*args, **kwargs)` in a sandboxed child process and return its result.

    `func`, its arguments and its result must pickle (`func` by reference: a module-level
    function). Raises `MediaTooLarge` when the child runs past `timeout_s` seconds or
    `memory_mb` MB of address space, `CorruptMedia` when it crashes, and re-raises what the
    child raised (`UffiziError`s as the same class).
    """
    if timeout_s <= 0 or memory_mb <= 0:
        raise ValueError("run_limited needs a positive timeout_s and memory_mb")
    if getattr(func, "__module__", None) in ("__main__", "__mp_main__"):
        raise ValueError("run_limited needs a function importable by module name, not from __main__")
    ctx, process_class = _context()
    reader, writer = ctx.Pipe(duplex=False)
    cpu_s = max(1, math.ceil(timeout_s) + 1)
    proc = process_class(
        target=_child, args=(writer, memory_mb, cpu_s, func, args, kwargs),
        name="uffizi-decode", daemon=not mp.current_process().daemon,
    )
    outcome: tuple[str, Any] | None = None
    try:
        proc.start()  # the first call also starts the fork server
        writer.close()
        deadline = time.monotonic() + timeout_s
        while outcome is None:
            left = deadline - time.monotonic()
            ready = wait([reader, proc.sentinel], timeout=max(0.0, left))
            if reader in ready:
                try:
                    outcome = _receive(reader)
                except (EOFError, OSError):
                    proc.join(5)
                    raise _crashed(proc.exitcode, timeout_s, memory_mb) from None
            elif proc.sentinel in ready:
                proc.join()
                if reader.poll():  # the answer raced the exit
                    continue
                raise _crashed(proc.exitcode, timeout_s, memory_mb)
            elif left <= 0:
                raise _too_slow(timeout_s)
    finally:
        _reap(proc, grace_s=1.0 if outcome is not None else 0.0)
        reader.close()
        writer.close()
    kind, value = outcome
    if kind == "raised":
        _raise_from_child(value, memory_mb)
    return value  # type: ignore[no-any-return]


def _reap(proc: Any, *, grace_s: float) -> None:
    """Let an answered child exit on its own for a moment, then kill it; always join."""
    if proc.pid is None:
        return
    if grace_s and proc.is_alive():
        proc.join(grace_s)
    if proc.is_alive():
        proc.kill()
    proc.join()
