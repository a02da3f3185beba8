"""Staff accounts: roles, argon2id password hashing, lookup."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, text

from supervision.errors import SupervisionError

ROLES = ("field_crew", "gis_officer", "supervisor", "inspector", "admin")
ROLE_NAMES_ZH = {"field_crew": "征收工作人员", "gis_officer": "GIS专员", "supervisor": "审核人",
                 "inspector": "纪检监察人员", "admin": "管理员"}
MIN_PASSWORD_LENGTH = 8

_hasher = PasswordHasher()
_DUMMY_HASH: str | None = None


class AccountError(SupervisionError, ValueError):
    """A user account cannot be created or changed as asked."""


@dataclass(frozen=True)
class User:
    """A signed-in staff member."""

    id: int
    username: str
    name: str
    role: str
    active: bool

    @property
    def can_see_id_numbers(self) -> bool:
        """Whether this role may see full ID numbers (others see them masked): ``policy.can_see_id_numbers``."""
        from supervision.policy import can_see_id_numbers

        return can_see_id_numbers(self.role)


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def _dummy_hash() -> str:
    """An argon2id hash of a random secret, made once, verified when an account has no password."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(32))
    return _DUMMY_HASH


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (False for accounts without a password).

    Always runs one argon2 verification (against a dummy hash when there is none), so the time taken
    does not tell whether the account exists or has a password.
    """
    matched: bool
    try:
        matched = _hasher.verify(stored_hash or _dummy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        matched = False
    return matched and bool(stored_hash)


def upsert_user(conn: Connection, *, username: str, name: str, role: str, password: str | None = None,
                id_number: str | None = None) -> int:
    """Create the account or update its name, role (and password when given); returns its id."""
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    if not username.strip():
        raise AccountError("username must not be empty")
    pw_hash = hash_password(password) if password is not None else None
    return conn.execute(text("""
        INSERT INTO app_user (username, name, role, id_number, password_hash)
        VALUES (:u, :n, :r, :i, :h)
        ON CONFLICT (username) DO UPDATE SET name = EXCLUDED.name, role = EXCLUDED.role,
            id_number = COALESCE(EXCLUDED.id_number, app_user.id_number),
            password_hash = COALESCE(EXCLUDED.password_hash, app_user.password_hash), active = true,
            token_version = app_user.token_version + CASE WHEN EXCLUDED.password_hash IS NULL THEN 0 ELSE 1 END
        RETURNING id"""), {"u": username.strip(), "n": name, "r": role, "i": id_number, "h": pw_hash}).scalar_one()


def set_password(conn: Connection, username: str, password: str) -> bool:
    """Set the password of ``username`` and end every session it had (tokens issued before are refused).

    Returns False when there is no such account.
    """
    pw_hash = hash_password(password)
    return conn.execute(text("UPDATE app_user SET password_hash = :h, token_version = token_version + 1 "
                             "WHERE username = :u RETURNING id"), {"h": pw_hash, "u": username}).scalar() is not None


def authenticate(conn: Connection, username: str, password: str) -> User | None:
    """The active user with these credentials, or None; one argon2 verification whatever the account."""
    row = conn.execute(text("SELECT id, username, name, role, active, password_hash FROM app_user "
                            "WHERE username = :u"), {"u": username}).one_or_none()
    matched = verify_password(row.password_hash if row is not None else None, password)
    if row is None or not matched or not row.active:
        return None
    return User(row.id, row.username, row.name, row.role, row.active)


def get_user(conn: Connection, user_id: int) -> User | None:
    """The user with this id, or None."""
    row = conn.execute(text("SELECT id, username, name, role, active FROM app_user WHERE id = :i"),
                       {"i": user_id}).one_or_none()
    return None if row is None else User(row.id, row.username, row.name, row.role, row.active)


def token_version(conn: Connection, user_id: int) -> int:
    """The version written into new tokens of ``user_id`` (bumped when the password changes)."""
    return conn.execute(text("SELECT token_version FROM app_user WHERE id = :i"), {"i": user_id}).scalar_one()


def get_token_user(conn: Connection, user_id: int, version: int, token_id: str) -> User | None:
    """The active user a token names, unless the token was revoked or issued before a password change."""
    row = conn.execute(text("""
        SELECT id, username, name, role, active FROM app_user u
        WHERE u.id = :i AND u.active AND u.token_version = :v
          AND NOT EXISTS (SELECT 1 FROM revoked_token r WHERE r.jti = :j)"""),
                       {"i": user_id, "v": version, "j": token_id}).one_or_none()
    return None if row is None else User(row.id, row.username, row.name, row.role, row.active)


def revoke_token(conn: Connection, user_id: int, token_id: str, expires_at: dt.datetime) -> None:
    """Refuse the token ``token_id`` from now on (a logout); expired revocations are purged."""
    conn.execute(text("DELETE FROM revoked_token WHERE expires_at < now()"))
    conn.execute(text("INSERT INTO revoked_token (jti, user_id, expires_at) VALUES (:j, :u, :e) "
                      "ON CONFLICT (jti) DO NOTHING"), {"j": token_id, "u": user_id, "e": expires_at})


def mask_id_number(id_number: str) -> str:
    """Mask a resident ID as usual in China: 110101********1234."""
    value = id_number.strip()
    if len(value) <= 10:
        return value[:2] + "*" * max(len(value) - 2, 0)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_name(name: str) -> str:
    """Mask a name as usual in China: 张*, 欧阳**."""
    value = name.strip()
    if len(value) <= 1:
        return value
    surname_len = 2 if len(value) >= 4 else 1
    return value[:surname_len] + "*" * (len(value) - surname_len)
