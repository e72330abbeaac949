"""Core settings, read from the environment (prefix `UFFIZI_`) and an optional `.env` file.

One settings class per distribution: verticals define their own with their own prefix
(`UFFIZI_MEDICAL_`, ...). Get them through `get_settings()`, which caches one instance; tests
call `get_settings.cache_clear()` after changing the environment.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "florence-community/Florence-2-base"


def _default_home() -> Path:
    return Path.home() / ".uffizi"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="UFFIZI_", env_file=".env", extra="ignore")

    # --- where things live
    home: Path = Field(default_factory=_default_home, description="Data directory (models, store)")

    # --- the model
    model: str = Field(
        DEFAULT_MODEL,
        description="Hub id, local folder, a name from the local model cache, or a preset "
        "(tiny, small, base-random, large-random: random weights, for tests and benchmarks)",
    )
    model_revision: str | None = Field(None, description="Hub revision (commit, tag, branch)")
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N, mps")
    dtype: Literal["auto", "float32", "float16", "bfloat16", "float64"] = "auto"
    attn_implementation: str = Field("auto", description="auto (sdpa where it works), sdpa, eager")
    offline: bool = Field(False, description="Never reach the hub; use the local model cache only")

    # --- the batcher
    max_batch_size: int = Field(8, ge=1, le=256)
    max_wait_ms: float = Field(5.0, ge=0, le=10_000)

    # --- untrusted media
    max_image_pixels: int = Field(100_000_000, ge=1, description="Refuse images with more pixels")
    max_upload_bytes: int = Field(512 * 1024 * 1024, ge=1)
    decode_timeout_s: float = Field(30.0, gt=0)
    decode_memory_mb: int = Field(4096, ge=64, description="Address-space cap of the decoder child")

    # --- plugins
    load_plugins: str | None = Field(
        None,
        description="Comma-separated allow-list of plugin (entry point) names to load; "
        "empty string loads none; unset loads all",
    )

    # --- the service (uffizi serve)
    db_url: str | None = Field(
        None, description="SQLAlchemy URL of the job store; default: SQLite file in the data dir "
        "(postgresql+psycopg://user@host/db for PostgreSQL)",
    )
    data_dir: Path | None = Field(None, description="Blobs and the SQLite file; default: HOME/data")
    runners: int = Field(2, ge=0, le=64, description="In-process runner threads (0: none)")
    lease_s: float = Field(30.0, gt=0, description="A running job's lease; renewed while it works")
    max_attempts: int = Field(3, ge=1, le=20)
    job_timeout_s: float = Field(3600.0, gt=0, description="Per-job limit (streaming jobs exempt)")
    broker_url: str | None = Field(None, description="Celery broker; set: jobs run on workers")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    insecure: bool = Field(False, description="Allow a non-loopback bind with no API key")
    idempotency_ttl_s: float = Field(24 * 3600.0, gt=0)
    webhook_secret: str | None = Field(
        None, description="HMAC-SHA256 key for webhook signatures; default: a random key kept "
        "in the data dir (webhook.key)",
    )

    # --- fetching by URL (images now; DICOMweb, streams and webhooks later)
    fetch_schemes: str = Field("https,http", description="Comma-separated allowed URL schemes")
    fetch_allow_hosts: str = Field(
        "", description="Comma-separated hosts or CIDRs allowed even if private/loopback"
    )
    fetch_max_bytes: int = Field(64 * 1024 * 1024, ge=1)
    fetch_timeout_s: float = Field(20.0, gt=0)

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir or self.home / "data"

    @property
    def resolved_db_url(self) -> str:
        return self.db_url or f"sqlite:///{self.resolved_data_dir / 'uffizi.db'}"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    def plugin_allow_list(self) -> set[str] | None:
        if self.load_plugins is None:
            return None
        return {p.strip() for p in self.load_plugins.split(",") if p.strip()}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings; a bad `UFFIZI_*` value is `InvalidSettings` naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        from uffizi.errors import InvalidSettings

        problems = [f"{Settings.model_config.get('env_prefix', '')}{'_'.join(map(str, e['loc'])).upper()}"
                    f": {e['msg']}" for e in exc.errors()]
        raise InvalidSettings(
            "invalid settings: " + "; ".join(problems) + " (fix the environment or .env)",
            details={"errors": problems},
        ) from None
