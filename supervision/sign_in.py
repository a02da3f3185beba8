"""Sign-in with a throttle: failed attempts counted per account name and per client address.

The counts live in the database (``sign_in_throttle``) so that every server worker and the CLI
share them; a restart does not reset them. An account name is locked after
:data:`ACCOUNT_MAX_FAILURES` failures in a row (a success resets it; a day without failures too), for
a time that doubles with each further failure up to :data:`MAX_LOCK`; an address is locked after
:data:`ADDRESS_MAX_FAILURES` failures within :data:`ADDRESS_WINDOW` whatever the names tried (a success
does not reset it, so one valid account cannot launder guesses at others). Names that do not exist
are counted and locked the same way, so a lock tells nothing about who exists. While locked, even
the right password is refused.

The caller must commit the transaction even when the sign-in fails (the API answers with a
response rather than an exception for that reason).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import Connection, text

from supervision.accounts import User, authenticate

ACCOUNT_MAX_FAILURES = 5
ADDRESS_MAX_FAILURES = 20
ACCOUNT_WINDOW = dt.timedelta(hours=24)
ADDRESS_WINDOW = dt.timedelta(minutes=15)
FIRST_LOCK = dt.timedelta(minutes=1)
MAX_LOCK = dt.timedelta(minutes=30)
_KEY_MAX_CHARS = 200


@dataclass(frozen=True)
class SignInResult:
    """The outcome: the user (signed in), or None with ``retry_after_s`` set when a lock refused it."""

    user: User | None
    retry_after_s: int | None = None

    @property
    def locked(self) -> bool:
        """Whether the attempt was refused by a lock (the password was not even checked)."""
        return self.retry_after_s is not None


def _keys(username: str, address: str | None) -> list[tuple[str, str]]:
    keys = [("account", username.strip()[:_KEY_MAX_CHARS])]
    if address:
        keys.append(("address", address[:_KEY_MAX_CHARS]))
    return keys


def sign_in(conn: Connection, username: str, password: str, address: str | None) -> SignInResult:
    """Check the credentials unless the account name or the address is locked; count the failure."""
    keys = _keys(username, address)
    locked_until = conn.execute(text("""
        SELECT max(locked_until) FROM sign_in_throttle
        WHERE (scope, key) IN (SELECT * FROM unnest(CAST(:scopes AS text[]), CAST(:keys AS text[])))
          AND locked_until > now()"""), {"scopes": [k[0] for k in keys], "keys": [k[1] for k in keys]}).scalar()
    if locked_until is not None:
        now = conn.execute(text("SELECT now()")).scalar_one()
        return SignInResult(None, max(1, math.ceil((locked_until - now).total_seconds())))
    user = authenticate(conn, username, password)
    if user is None:
        for scope, key in keys:
            _count_failure(conn, scope, key)
        return SignInResult(None)
    conn.execute(text("DELETE FROM sign_in_throttle WHERE scope = 'account' AND key = :k"), {"k": keys[0][1]})
    return SignInResult(user)


def _count_failure(conn: Connection, scope: str, key: str) -> None:
    """One more failure for (scope, key) in the window; lock once past the scope's limit."""
    limit, window = ((ACCOUNT_MAX_FAILURES, ACCOUNT_WINDOW) if scope == "account"
                     else (ADDRESS_MAX_FAILURES, ADDRESS_WINDOW))
    conn.execute(text("""
        INSERT INTO sign_in_throttle AS t (scope, key, failures, first_failure_at, last_failure_at)
        VALUES (:s, :k, 1, now(), now())
        ON CONFLICT (scope, key) DO UPDATE SET
            failures = CASE WHEN t.last_failure_at < now() - CAST(:window AS interval) THEN 1 ELSE t.failures + 1 END,
            first_failure_at = CASE WHEN t.last_failure_at < now() - CAST(:window AS interval) THEN now()
                                    ELSE t.first_failure_at END,
            last_failure_at = now()"""), {"s": scope, "k": key, "window": window})
    conn.execute(text("""
        UPDATE sign_in_throttle SET locked_until = now() + LEAST(
            CAST(:first AS interval) * power(2, LEAST(failures - :limit, 16)), CAST(:max AS interval))
        WHERE scope = :s AND key = :k AND failures >= :limit"""),
        {"s": scope, "k": key, "limit": limit, "first": FIRST_LOCK, "max": MAX_LOCK})


def reset(conn: Connection, username: str) -> None:
    """Lift the lock of an account name (an admin who set a new password)."""
    conn.execute(text("DELETE FROM sign_in_throttle WHERE scope = 'account' AND key = :k"),
                 {"k": username.strip()[:_KEY_MAX_CHARS]})
