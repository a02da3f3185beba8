"""Signed bearer tokens (JWT, HS256) for signed-in staff."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from functools import lru_cache
from pathlib import Path

import jwt

from expro.settings import Settings

ALGORITHM = "HS256"
COOKIE_NAME = "expro_token"


@lru_cache(maxsize=4)
def _secret_from_home(home: Path) -> str:
    path = home / "secret_key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    home.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key)
    return key


def secret_key(settings: Settings) -> str:
    """EXPRO_SECRET_KEY, or a random key kept in ``.expro/secret_key``."""
    return settings.secret_key or _secret_from_home(settings.home)


def create_token(settings: Settings, user_id: int, role: str) -> str:
    """A token for ``user_id`` valid for ``settings.token_minutes``."""
    now = dt.datetime.now(dt.timezone.utc)
    claims = {"sub": str(user_id), "role": role, "iat": now, "exp": now + dt.timedelta(minutes=settings.token_minutes)}
    return jwt.encode(claims, secret_key(settings), algorithm=ALGORITHM)


def read_token(settings: Settings, token: str) -> int | None:
    """The user id in a valid, unexpired token, or None."""
    try:
        claims = jwt.decode(token, secret_key(settings), algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
        return int(claims["sub"])
    except (jwt.PyJWTError, ValueError, KeyError):
        return None
