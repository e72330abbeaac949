"""The dependencies routes declare: `Annotated` aliases over the one `ServiceState`.

`StateDep`, `SettingsDep`, `PlatformDep`, `BlobsDep`, `RunnerDep`, `SessionDep` (one store
session per request, closed after the response), `PrincipalDep` (who is calling; see
`uffizi.api.auth`) and the scope guards `ReadDep`, `SubmitDep`, `AdminDep`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from uffizi.api.auth import Principal, require_scope
from uffizi.api.state import ServiceState
from uffizi.platform import Platform
from uffizi.settings import Settings


def get_state(request: Request) -> ServiceState:
    return request.app.state.uffizi


StateDep = Annotated[ServiceState, Depends(get_state)]


def get_settings(state: StateDep) -> Settings:
    return state.settings


def get_platform(state: StateDep) -> Platform:
    return state.platform


def get_blobs(state: StateDep) -> Any:
    return state.blobs


def get_runner(state: StateDep) -> Any:
    return state.runner


def get_session(state: StateDep) -> Iterator[Session]:
    with state.db.session() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
PlatformDep = Annotated[Platform, Depends(get_platform)]
BlobsDep = Annotated[Any, Depends(get_blobs)]
RunnerDep = Annotated[Any, Depends(get_runner)]
SessionDep = Annotated[Session, Depends(get_session)]


_bearer = HTTPBearer(auto_error=False, scheme_name="bearer",
                     description="An API key, `uffizi_<id>_<secret>` (`uffizi keys create`)")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="apiKey",
                       description="The same API key, in a header of its own")


def get_principal(
    state: StateDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_header)],
) -> Principal:
    token = bearer.credentials if bearer is not None else api_key
    with state.db.session() as s:
        return state.auth.authenticate(s, token)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def needs(scope: str):
    """A dependency that admits callers whose key has `scope` (admin has every scope)."""

    def check(principal: PrincipalDep) -> Principal:
        return require_scope(principal, scope)

    check.__name__ = f"needs_{scope}"
    return check


ReadDep = Annotated[Principal, Depends(needs("read"))]
SubmitDep = Annotated[Principal, Depends(needs("submit"))]
AdminDep = Annotated[Principal, Depends(needs("admin"))]
