"""FastAPI dependencies as Annotated aliases: settings, database connection, current user, roles."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Connection

from api.security import COOKIE_NAME, TokenClaims, read_token
from expro import db
from expro.settings import Settings, get_settings
from supervision.accounts import User, get_token_user

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


#: Methods for which the session cookie of the web pages is accepted (pages, tiles, GeoJSON). Every other
#: method needs the bearer token, which a page of another origin cannot make the browser send.
COOKIE_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class AuthSession:
    """The signed-in user and the claims of the token that signed them in."""

    user: User
    claims: TokenClaims


def user_from_token(conn: Connection, settings: Settings, token: str | None) -> AuthSession | None:
    """The session a token opens: valid signature, not expired, not revoked, issued after the last password change."""
    claims = read_token(settings, token) if token else None
    if claims is None:
        return None
    user = get_token_user(conn, claims.user_id, claims.version, claims.token_id)
    return None if user is None else AuthSession(user, claims)


def get_current_session(request: Request, conn: SessionDep, settings: SettingsDep,
                        bearer: Annotated[str | None, Depends(oauth2_scheme)]) -> AuthSession:
    """The session of the bearer token (header), or of the pages' cookie on GET and HEAD requests only."""
    token = bearer
    if token is None and request.method in COOKIE_METHODS:
        token = request.cookies.get(COOKIE_NAME)
    session = user_from_token(conn, settings, token)
    if session is None:
        raise NotAuthenticated()
    return session


CurrentSession = Annotated[AuthSession, Depends(get_current_session)]


def get_current_user(session: CurrentSession) -> User:
    """The user named by the bearer token (header) or, on GET and HEAD, by the session cookie of the pages."""
    return session.user


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
