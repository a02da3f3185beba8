"""FastAPI dependencies as Annotated aliases: settings, database connection, current user, roles."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Connection

from api.security import COOKIE_NAME, read_token
from expro import db
from expro.settings import Settings, get_settings
from supervision.accounts import User, get_user

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)

SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_conn() -> Iterator[Connection]:
    """One transaction per request (committed when the handler returns without error)."""
    with db.transaction() as conn:
        yield conn


SessionDep = Annotated[Connection, Depends(get_conn)]


class NotAuthenticated(HTTPException):
    """401 with the bearer challenge."""

    def __init__(self) -> None:
        super().__init__(status.HTTP_401_UNAUTHORIZED, "not authenticated / 未登录",
                         headers={"WWW-Authenticate": "Bearer"})


def get_current_user(request: Request, conn: SessionDep, settings: SettingsDep,
                     bearer: Annotated[str | None, Depends(oauth2_scheme)]) -> User:
    """The user named by the bearer token (header) or the session cookie of the web pages."""
    token = bearer or request.cookies.get(COOKIE_NAME)
    if not token:
        raise NotAuthenticated()
    user_id = read_token(settings, token)
    user = get_user(conn, user_id) if user_id is not None else None
    if user is None or not user.active:
        raise NotAuthenticated()
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_roles(*roles: str) -> Callable[[User], User]:
    """A dependency that lets only ``roles`` through (403 for the others)."""
    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "your role may not do this / 无此权限")
        return user
    return check


def get_project_or_404(code: str, conn: SessionDep, user: CurrentUser) -> dict:
    """The project named in the path (404 when unknown); requires a signed-in user."""
    from supervision.projects import get_project

    return get_project(conn, code)


ProjectDep = Annotated[dict, Depends(get_project_or_404)]
