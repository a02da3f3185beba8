"""The expro command: database status, accounts."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import text

from expro.cli import cli
from supervision.accounts import authenticate


def test_db_status_reports_postgis(conn):
    res = CliRunner().invoke(cli, ["db", "status"])
    assert res.exit_code == 0, res.output
    assert "PostGIS 3." in res.output


def test_user_add_hashes_password_and_can_sign_in(conn):
    res = CliRunner().invoke(cli, ["user", "add", "T900", "--name", "孙丽", "--role", "inspector",
                                   "--password", "a-long-password"])
    assert res.exit_code == 0, res.output
    stored = conn.execute(text("SELECT password_hash, role FROM app_user WHERE username = 'T900'")).one()
    assert stored.password_hash.startswith("$argon2id$") and stored.role == "inspector"
    assert authenticate(conn, "T900", "a-long-password") is not None
    assert authenticate(conn, "T900", "wrong-password") is None


def test_user_add_refuses_short_password_and_unknown_role(conn):
    res = CliRunner().invoke(cli, ["user", "add", "T901", "--name", "x", "--role", "inspector", "--password", "short"])
    assert res.exit_code == 2 and "at least 8" in res.output
    res = CliRunner().invoke(cli, ["user", "add", "T901", "--name", "x", "--role", "boss", "--password", "long-enough"])
    assert res.exit_code == 2
    assert conn.execute(text("SELECT count(*) FROM app_user WHERE username = 'T901'")).scalar_one() == 0
