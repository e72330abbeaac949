"""Credentials over the API: `/v1/keys` (admin scope: create, list, revoke the API keys of
the caller's own tenant; `uffizi keys` manages every tenant from the server's shell) and
`/v1/webhooks/secret` (the caller's tenant's webhook signing secret)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from uffizi.api import auth
from uffizi.api.deps import AdminDep, ReadDep, SessionDep, SettingsDep
from uffizi.api.schemas import ErrorBody, KeyCreate, KeyCreated, KeyOut, WebhookSecret, key_out
from uffizi.api.webhooks import SIGNATURE_HEADER, tenant_secret
from uffizi.errors import Forbidden

router = APIRouter(tags=["keys"])
_ERRORS: dict[int | str, dict[str, Any]] = {c: {"model": ErrorBody} for c in (401, 403, 404, 422)}


@router.post("/v1/keys", status_code=201, response_model=KeyCreated, responses=_ERRORS,
             summary="Create an API key", description="The full key is in the answer, once; it is "
             "stored hashed. Admins create keys for their own tenant.")
def create_key(body: KeyCreate, s: SessionDep, principal: AdminDep) -> KeyCreated:
    if principal.key_id is not None and body.tenant != principal.tenant:
        raise Forbidden(f"an admin key of tenant {principal.tenant!r} cannot create keys for {body.tenant!r}")
    row, key = auth.create_key(s, tenant=body.tenant, scopes=body.scopes, name=body.name)
    return key_out(row, KeyCreated, key=key)


@router.get("/v1/keys", response_model=list[KeyOut], responses=_ERRORS, summary="List API keys")
def list_keys(s: SessionDep, principal: AdminDep) -> list[KeyOut]:
    tenant = principal.tenant if principal.key_id is not None else None
    return [key_out(row) for row in auth.list_keys(s, tenant=tenant)]


@router.delete("/v1/keys/{key_id}", response_model=KeyOut, responses=_ERRORS, summary="Revoke an API key")
def revoke_key(key_id: str, s: SessionDep, principal: AdminDep) -> KeyOut:
    tenant = principal.tenant if principal.key_id is not None else None
    return key_out(auth.revoke_key(s, key_id, tenant=tenant))


@router.get("/v1/webhooks/secret", response_model=WebhookSecret, responses=_ERRORS,
            summary="This tenant's webhook secret",
            description=f"Deliveries carry `{SIGNATURE_HEADER}: sha256=<hex>`, the HMAC-SHA256 of "
            "the body with this secret.")
def webhook_secret(principal: ReadDep, settings: SettingsDep) -> WebhookSecret:
    return WebhookSecret(secret=tenant_secret(settings, principal.tenant))
