"""API keys: their format, how they are stored (hashed), checked, scoped and tied to a tenant.

A key reads `uffizi_<id>_<secret>`: `id` (12 lowercase hex) is public and shown in listings,
`secret` (32 letters and digits) is random, shown once on creation and stored only as its
sha256 (a random 190-bit secret needs no slow hash). A key has scopes (`submit`, `read`,
`admin`; admin implies the others) and a tenant; everything a request creates belongs to
its key's tenant, and objects of other tenants answer 404.

Once any key has ever been created (revoking the last one does not reopen the service),
every request except `/healthz` and `/readyz` needs one, as `Authorization: Bearer <key>`
or `X-API-Key: <key>`. Before that the service is open and requests act as the tenant
`default` with every scope, which is also the tenant of jobs created before the first key.
The data functions here (`create_key`, `list_keys`, `revoke_key`, `any_keys`) are what the
`uffizi keys` commands and the `/v1/keys` routes call.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, select

from uffizi.errors import Forbidden, InvalidInput, UffiziError, Unauthorized
from uffizi.store.models import ApiKey, utcnow

SCOPES: tuple[str, ...] = ("submit", "read", "admin")
DEFAULT_TENANT = "default"
_KEY_RE = re.compile(r"^uffizi_([0-9a-f]{12})_([A-Za-z0-9]{32})$")
_TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_ALPHABET = string.ascii_letters + string.digits
_TOUCH_EVERY = timedelta(seconds=60)


class KeyNotFound(UffiziError):
    code = "key_not_found"
    status = 404


@dataclass(frozen=True)
class Principal:
    """Who is calling: their tenant, scopes and key id (None while the service is open)."""

    tenant: str
    scopes: frozenset[str]
    key_id: str | None = None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


OPEN = Principal(DEFAULT_TENANT, frozenset(SCOPES))


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(value: str | list[str] | tuple[str, ...]) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value)
    wanted = {s.strip().lower() for s in items if s.strip()}
    if not wanted or wanted - set(SCOPES):
        raise InvalidInput(f"scopes must be some of {', '.join(SCOPES)}; got {value!r}",
                           details={"scopes": list(SCOPES)})
    return [s for s in SCOPES if s in wanted]


def check_tenant(tenant: str) -> str:
    if not _TENANT_RE.match(tenant):
        raise InvalidInput(f"tenant {tenant!r} must be 1-128 letters, digits, '_', '.' or '-'")
    return tenant


def create_key(s: Session, *, tenant: str = DEFAULT_TENANT, scopes: str | list[str] = "submit,read",
               name: str = "") -> tuple[ApiKey, str]:
    """A new key: (its row, the full key text, which is never shown again)."""
    key_id = secrets.token_hex(6)
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(32))
    row = ApiKey(id=key_id, tenant=check_tenant(tenant), name=name[:256],
                 secret_hash=_hash(secret), scopes=",".join(parse_scopes(scopes)))
    s.add(row)
    s.commit()
    s.refresh(row)
    return row, f"uffizi_{key_id}_{secret}"


def list_keys(s: Session, *, tenant: str | None = None) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.created_at)
    if tenant is not None:
        query = query.where(ApiKey.tenant == tenant)
    return list(s.exec(query))


def revoke_key(s: Session, key_id: str, *, tenant: str | None = None) -> ApiKey:
    row = s.get(ApiKey, key_id)
    if row is None or (tenant is not None and row.tenant != tenant):
        raise KeyNotFound(f"no API key {key_id!r}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        s.add(row)
        s.commit()
        s.refresh(row)
    return row


def any_keys(s: Session) -> bool:
    return s.exec(select(ApiKey.id).limit(1)).first() is not None


class Authenticator:
    """Turns request headers into a `Principal`. Remembers that keys exist (once true, for
    good) and writes `last_used_at` at most once a minute per key."""

    def __init__(self, recheck_s: float = 1.0) -> None:
        self._keys_exist = False
        self._checked_at = 0.0
        self._recheck_s = recheck_s
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()

    def keys_exist(self, s: Session) -> bool:
        now = time.monotonic()
        if not self._keys_exist and now - self._checked_at >= self._recheck_s:
            self._keys_exist = any_keys(s)
            self._checked_at = now
        return self._keys_exist

    def authenticate(self, s: Session, token: str | None) -> Principal:
        if not token:
            if not self.keys_exist(s):
                return OPEN
            raise Unauthorized("this service needs an API key: 'Authorization: Bearer <key>' "
                               "or 'X-API-Key: <key>' (create one with `uffizi keys create`)")
        match = _KEY_RE.match(token.strip())
        row = s.get(ApiKey, match.group(1)) if match else None
        if (row is None or not hmac.compare_digest(row.secret_hash, _hash(match.group(2)))
                or row.revoked_at is not None):
            raise Unauthorized("unknown or revoked API key")
        self._keys_exist = True
        self._touch(s, row)
        return Principal(row.tenant, frozenset(row.scopes.split(",")), row.id)

    def _touch(self, s: Session, row: ApiKey) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._touched.get(row.id)
            if last is not None and now - last < _TOUCH_EVERY.total_seconds():
                return
            self._touched[row.id] = now
        row.last_used_at = utcnow()
        s.add(row)
        s.commit()


def require_scope(principal: Principal, scope: str) -> Principal:
    if not principal.allows(scope):
        raise Forbidden(f"this API key lacks the {scope!r} scope (it has: "
                        f"{', '.join(sorted(principal.scopes))})", details={"needs": scope})
    return principal
