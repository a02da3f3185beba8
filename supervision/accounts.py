"""Staff accounts: roles, argon2id password hashing, lookup."""

from __future__ import annotations

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
        """Whether this role may see full ID numbers (others see them masked)."""
        return self.role in ("supervisor", "inspector", "admin", "field_crew")


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (False for accounts without a password)."""
    if not stored_hash:
        return False
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


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
            password_hash = COALESCE(EXCLUDED.password_hash, app_user.password_hash), active = true
        RETURNING id"""), {"u": username.strip(), "n": name, "r": role, "i": id_number, "h": pw_hash}).scalar_one()


def authenticate(conn: Connection, username: str, password: str) -> User | None:
    """The active user with these credentials, or None."""
    row = conn.execute(text("SELECT id, username, name, role, active, password_hash FROM app_user "
                            "WHERE username = :u"), {"u": username}).one_or_none()
    if row is None:
        _hasher.hash("timing-equaliser")   # same cost whether or not the user exists
        return None
    if not row.active or not verify_password(row.password_hash, password):
        return None
    return User(row.id, row.username, row.name, row.role, row.active)


def get_user(conn: Connection, user_id: int) -> User | None:
    """The user with this id, or None."""
    row = conn.execute(text("SELECT id, username, name, role, active FROM app_user WHERE id = :i"),
                       {"i": user_id}).one_or_none()
    return None if row is None else User(row.id, row.username, row.name, row.role, row.active)


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
