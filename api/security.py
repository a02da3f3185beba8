"""Signed bearer tokens (JWT, HS256) for signed-in staff."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jwt
from starlette.requests import Request

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


@dataclass(frozen=True)
class TokenClaims:
    """What a valid token says: whose it is, its id (for revocation), its version, when it expires."""

    user_id: int
    token_id: str
    version: int
    expires_at: dt.datetime


def create_token(settings: Settings, user_id: int, role: str, version: int = 0) -> str:
    """A token for ``user_id`` valid for ``settings.token_minutes``, with its own id and the user's token version."""
    now = dt.datetime.now(dt.timezone.utc)
    claims = {"sub": str(user_id), "role": role, "iat": now, "exp": now + dt.timedelta(minutes=settings.token_minutes),
              "jti": secrets.token_urlsafe(16), "ver": version}
    return jwt.encode(claims, secret_key(settings), algorithm=ALGORITHM)


def read_token(settings: Settings, token: str) -> TokenClaims | None:
    """The claims of a valid, unexpired token, or None (whether it was revoked is the database's to say)."""
    try:
        claims = jwt.decode(token, secret_key(settings), algorithms=[ALGORITHM],
                            options={"require": ["exp", "sub", "jti"]})
        return TokenClaims(int(claims["sub"]), str(claims["jti"]), int(claims.get("ver", 0)),
                           dt.datetime.fromtimestamp(int(claims["exp"]), dt.timezone.utc))
    except (jwt.PyJWTError, ValueError, KeyError, TypeError, OverflowError):
        return None


def cookie_is_secure(request: Request) -> bool:
    """Whether the session cookie must be ``Secure``: the request came over HTTPS.

    Behind a reverse proxy uvicorn takes the scheme from ``X-Forwarded-Proto`` when the proxy's
    address is trusted (``--forwarded-allow-ips`` / ``FORWARDED_ALLOW_IPS``, 127.0.0.1 by default).
    """
    return request.url.scheme == "https"
