"""Sign-in: ``POST /auth/token`` (OAuth2 password form), ``POST /auth/logout`` and ``GET /auth/me``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel
from sqlalchemy import Connection

from api.deps import CurrentSession, CurrentUser, SessionDep, SettingsDep
from api.security import create_token
from expro.settings import Settings
from supervision import audit
from supervision.accounts import ROLE_NAMES_ZH, revoke_token, token_version
from supervision.sign_in import SignInResult, sign_in

router = APIRouter(prefix="/auth", tags=["auth"])

WRONG_CREDENTIALS = "wrong username or password / 用户名或密码错误"
LOCKED = "too many failed sign-ins, try again later / 登录失败次数过多，请稍后再试"
SIGN_IN_RESPONSES: dict[int | str, dict] = {
    401: {"description": "wrong username or password"},
    429: {"description": "too many failed sign-ins from this account name or address (see Retry-After)"}}


class Token(BaseModel):
    """A bearer token."""

    access_token: str
    token_type: str = "bearer"


class UserPublic(BaseModel):
    """What a user may see of their own account."""

    username: str
    name: str
    role: str
    role_zh: str


def client_address(request: Request) -> str | None:
    """The client's address (uvicorn puts the proxy's X-Forwarded-For there when the proxy is trusted)."""
    return request.client.host if request.client else None


def open_session(conn: Connection, settings: Settings, request: Request, username: str,
                 password: str) -> tuple[SignInResult, str | None]:
    """Sign in through the throttle; the token and an audit event on success."""
    result = sign_in(conn, username, password, client_address(request))
    if result.user is None:
        return result, None
    user = result.user
    audit.append(conn, actor=user.username, action="auth.login", object_type="user", object_key=user.username)
    return result, create_token(settings, user.id, user.role, token_version(conn, user.id))


@router.post("/token", response_model=Token, responses=SIGN_IN_RESPONSES)
def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request, conn: SessionDep,
          settings: SettingsDep) -> Token | JSONResponse:
    """Exchange a staff number and password for a bearer token (throttled per account and address).

    A failure is answered, not raised, so that the transaction counting it commits.
    """
    result, token = open_session(conn, settings, request, form.username, form.password)
    if result.locked:
        return JSONResponse({"detail": LOCKED}, status_code=status.HTTP_429_TOO_MANY_REQUESTS,
                            headers={"Retry-After": str(result.retry_after_s)})
    if token is None:
        return JSONResponse({"detail": WRONG_CREDENTIALS}, status_code=status.HTTP_401_UNAUTHORIZED,
                            headers={"WWW-Authenticate": "Bearer"})
    return Token(access_token=token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses={401: {"description": "not signed in"}})
def logout(session: CurrentSession, conn: SessionDep) -> Response:
    """End the session of the bearer token presented (it is refused from now on)."""
    revoke_token(conn, session.user.id, session.claims.token_id, session.claims.expires_at)
    audit.append(conn, actor=session.user.username, action="auth.logout", object_type="user",
                 object_key=session.user.username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=UserPublic, responses={401: {"description": "not signed in"}})
def me(user: CurrentUser) -> UserPublic:
    """The signed-in user."""
    return UserPublic(username=user.username, name=user.name, role=user.role, role_zh=ROLE_NAMES_ZH[user.role])
