"""The job store's tables (SQLModel). A job's row is the truth about that job.

Tables: `jobs`, `artifacts` (files a job produced, in the blob store), `api_keys` (hashed,
scoped, per tenant) and `idempotency_keys` (per tenant, kept `idempotency_ttl_s`). Schema
changes go through Alembic migrations in `uffizi/store/migrations`; never edit a released one.
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware (UTC), on SQLite (which
    keeps no zone) as on PostgreSQL (`timestamp with time zone`). Naive values are taken as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class JobStatus(str, Enum):
    pending = "pending"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    canceled = "canceled"

    @property
    def final(self) -> bool:
        return self in (JobStatus.succeeded, JobStatus.failed, JobStatus.canceled)


class Job(SQLModel, table=True):
    __tablename__ = "jobs"

    id: str = Field(primary_key=True, max_length=64)
    tenant: str = Field(default="default", index=True, max_length=128)
    pipeline: str = Field(index=True, max_length=256)  # "vertical/name@vN"
    status: str = Field(default=JobStatus.pending.value, index=True, max_length=16)
    options: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # [{"name", "sha256", "media_type", "size"}] in submission order
    inputs: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    progress: float = 0.0
    progress_detail: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    attempts: int = 0
    max_attempts: int = 3
    timeout_s: float | None = None  # None: no limit (streaming pipelines)
    cancel_requested: bool = False
    lease_owner: str | None = Field(default=None, max_length=128)
    lease_expires_at: datetime | None = Field(default=None, index=True, sa_type=UTCDateTime)
    error_code: str | None = Field(default=None, max_length=64)
    error_message: str | None = None
    warnings: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    provenance: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    records_sha256: str | None = Field(default=None, max_length=64)  # result records (JSON blob)
    webhook_url: str | None = None
    idempotency_key: str | None = Field(default=None, max_length=256)
    created_at: datetime = Field(default_factory=utcnow, index=True, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Artifact(SQLModel, table=True):
    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("job_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(foreign_key="jobs.id", index=True, max_length=64)
    tenant: str = Field(default="default", index=True, max_length=128)
    name: str = Field(max_length=512)
    media_type: str = Field(max_length=128)
    sha256: str = Field(max_length=64)
    size: int = Field(sa_type=BigInteger)  # bytes; artifacts (videos) may pass 2 GiB
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=32)  # public prefix shown in listings
    tenant: str = Field(default="default", index=True, max_length=128)
    name: str = Field(default="", max_length=256)
    secret_hash: str = Field(max_length=128)  # sha256 of the secret part; the key is random
    scopes: str = Field(default="submit,read", max_length=256)  # comma-separated
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class IdempotencyKey(SQLModel, table=True):
    __tablename__ = "idempotency_keys"

    tenant: str = Field(primary_key=True, max_length=128)
    key: str = Field(primary_key=True, max_length=256)
    request_hash: str = Field(max_length=64)
    job_id: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, index=True, sa_type=UTCDateTime)
