"""Sign-in: ``POST /auth/token`` (OAuth2 password form) and ``GET /auth/me``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from api.deps import CurrentUser, SessionDep, SettingsDep
from api.security import create_token
from supervision import audit
from supervision.accounts import ROLE_NAMES_ZH, authenticate

router = APIRouter(prefix="/auth", tags=["auth"])


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


@router.post("/token", response_model=Token)
def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], conn: SessionDep, settings: SettingsDep) -> Token:
    """Exchange a staff number and password for a bearer token."""
    user = authenticate(conn, form.username, form.password)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password / 用户名或密码错误",
                            headers={"WWW-Authenticate": "Bearer"})
    audit.append(conn, actor=user.username, action="auth.login", object_type="user", object_key=user.username)
    return Token(access_token=create_token(settings, user.id, user.role))


@router.get("/me", response_model=UserPublic)
def me(user: CurrentUser) -> UserPublic:
    """The signed-in user."""
    return UserPublic(username=user.username, name=user.name, role=user.role, role_zh=ROLE_NAMES_ZH[user.role])
