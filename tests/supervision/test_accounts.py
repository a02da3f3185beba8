"""Accounts: sign-in takes the same time whether the account exists, has a password, or is disabled."""

from __future__ import annotations

import time

from sqlalchemy import text

from supervision.accounts import authenticate, upsert_user

PASSWORD = "correct-horse-42"


def _fastest(conn, username: str, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        assert authenticate(conn, username, "not-the-password") is None
        best = min(best, time.perf_counter() - start)
    return best


def test_sign_in_time_does_not_tell_who_exists(conn):
    upsert_user(conn, username="T-pw", name="甲", role="inspector", password=PASSWORD)
    upsert_user(conn, username="T-nopw", name="乙", role="field_crew")
    upsert_user(conn, username="T-off", name="丙", role="inspector", password=PASSWORD)
    conn.execute(text("UPDATE app_user SET active = false WHERE username = 'T-off'"))
    authenticate(conn, "T-pw", "warm-up")
    reference = _fastest(conn, "T-pw")
    for username in ("T-nopw", "T-off", "T-nobody-at-all"):
        ratio = _fastest(conn, username) / reference
        assert 0.5 < ratio < 2.0, (username, ratio)      # before: an account without a password was ~20x faster
