"""One exception hierarchy with stable error codes.

Every error a user can cause or meet is a `UffiziError` subclass with a stable `code` (what
clients branch on), an HTTP status (what the API answers) and a message that says what to fix.
The CLI prints `error[code]: message` and exits non-zero; the API's one handler turns these into
`{"error": {"code", "message", "details"}}`. Codes never change once released.
"""

from __future__ import annotations

from typing import Any, ClassVar


class UffiziError(Exception):
    """Base of every error Uffizi raises on purpose."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}

    def __str__(self) -> str:
        return self.message


# --- bad input (4xx) -------------------------------------------------------------------------
class InvalidInput(UffiziError):
    code = "invalid_input"
    status = 422


class UnknownTask(InvalidInput):
    code = "unknown_task"


class MissingTaskInput(InvalidInput):
    """The task needs text or a region and none was given (or one was given it cannot use)."""

    code = "missing_task_input"


class InvalidRegion(InvalidInput):
    code = "invalid_region"


class UnknownPipeline(UffiziError):
    code = "unknown_pipeline"
    status = 404


class UnknownExporter(UffiziError):
    code = "unknown_format"
    status = 404


class UnknownAdapter(UffiziError):
    code = "unknown_adapter"
    status = 404


class InvalidOptions(InvalidInput):
    code = "invalid_options"


class InvalidSettings(InvalidInput):
    """A `UFFIZI_*` environment variable (or `.env` line) has a value the setting refuses."""

    code = "invalid_settings"


class UnsupportedMedia(UffiziError):
    """The bytes are not a format any registered loader accepts."""

    code = "unsupported_media"
    status = 415


class CorruptMedia(InvalidInput):
    """The format was recognised but the file cannot be decoded (truncated, damaged)."""

    code = "corrupt_media"


class MediaTooLarge(UffiziError):
    """Over a configured limit (pixels, bytes): a decompression bomb or simply too big."""

    code = "media_too_large"
    status = 413


# --- model and environment (5xx, or 4xx for a bad model path the user gave) -------------------
class ModelLoadError(UffiziError):
    """The model source cannot be loaded: missing folder, incomplete files, remote code only."""

    code = "model_load_failed"
    status = 503


class ModelNotFound(ModelLoadError):
    code = "model_not_found"


class RemoteCodeModel(ModelLoadError):
    code = "model_needs_remote_code"


class PluginError(UffiziError):
    code = "plugin_error"
    status = 500


class InferenceError(UffiziError):
    code = "inference_failed"
    status = 500


class EngineOverloaded(UffiziError):
    code = "engine_overloaded"
    status = 503


class Canceled(UffiziError):
    code = "canceled"
    status = 409


# --- the job store and the runners -------------------------------------------------------------
class JobNotFound(UffiziError):
    """No such job, or it belongs to another tenant (the two look the same on purpose)."""

    code = "job_not_found"
    status = 404


class JobConflict(UffiziError):
    """The job is in a state that does not allow this (retrying a job that did not fail)."""

    code = "job_not_retryable"
    status = 409


class IdempotencyConflict(UffiziError):
    """The same Idempotency-Key was sent earlier with a different request body."""

    code = "idempotency_key_reused"
    status = 422


class ModelUnavailable(UffiziError):
    """The engine cannot be loaded; the message names the setting to change (UFFIZI_MODEL)."""

    code = "model_unavailable"
    status = 503


class JobTimeout(UffiziError):
    """The job ran past its `timeout_s` (streaming pipelines are exempt)."""

    code = "job_timeout"
    status = 504


class MaxAttemptsExceeded(UffiziError):
    """The job was claimed `max_attempts` times and each runner died before finishing it."""

    code = "max_attempts_exceeded"
    status = 500


class StoreUnavailable(UffiziError):
    """The job store's database cannot be reached."""

    code = "store_unavailable"
    status = 503


# --- the service: who may call it, what it accepts, what it fetches ----------------------------
class Unauthorized(UffiziError):
    """No API key, or one that is unknown or revoked."""

    code = "unauthorized"
    status = 401


class Forbidden(UffiziError):
    """The API key is valid but lacks the scope this call needs (submit, read, admin)."""

    code = "forbidden"
    status = 403


class PayloadTooLarge(UffiziError):
    """The request body (uploads included) is over `max_upload_bytes`."""

    code = "payload_too_large"
    status = 413


class FetchRefused(InvalidInput):
    """A URL the fetcher will not open: a scheme off the allow-list, or a host that resolves
    to a loopback, private, link-local or metadata address not allow-listed in
    `fetch_allow_hosts`."""

    code = "fetch_refused"


class FetchFailed(InvalidInput):
    """A URL that was allowed but could not be fetched (HTTP error, timeout, too many redirects)."""

    code = "fetch_failed"


class WebhookRefused(FetchRefused):
    """A job's webhook URL that the fetcher's guard refuses."""

    code = "webhook_refused"


class JobNotFinished(UffiziError):
    """The job has no result yet (or never will: it failed or was canceled)."""

    code = "job_not_finished"
    status = 409


class ArtifactNotFound(UffiziError):
    code = "artifact_not_found"
    status = 404


class InsecureBind(UffiziError):
    """`uffizi serve` on a non-loopback address while no API key exists (and no --insecure)."""

    code = "insecure_bind"
    status = 400
