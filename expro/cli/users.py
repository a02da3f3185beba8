"""``expro user add|passwd|list``: staff accounts."""

from __future__ import annotations

import click
from sqlalchemy import text

from expro import db
from expro.cli.options import EXIT_BAD_INPUT, fail
from supervision import audit, sign_in
from supervision.accounts import ROLES, AccountError, mask_id_number, set_password, upsert_user


@click.group()
def user() -> None:
    """Manage staff accounts (roles: field_crew, gis_officer, supervisor, inspector, admin)."""


@user.command("add")
@click.argument("username")
@click.option("--name", required=True, help="Full name (姓名).")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--id-number", default=None, help="Resident ID number (身份证号).")
@click.password_option(help="Password (asked for when omitted).")
def user_add(username: str, name: str, role: str, id_number: str | None, password: str) -> None:
    """Create or update the account USERNAME (the staff number, 工号)."""
    try:
        with db.transaction() as conn:
            existed = conn.execute(text("SELECT role FROM app_user WHERE username = :u"), {"u": username}).scalar()
            uid = upsert_user(conn, username=username, name=name, role=role, password=password, id_number=id_number)
            audit.append(conn, actor=audit.cli_actor(), action="user.update" if existed else "user.add",
                         object_type="app_user", object_key=username,
                         details={"id": uid, "name": name, "role": role, "previous_role": existed,
                                  "id_number": mask_id_number(id_number) if id_number else None,
                                  "password_set": password is not None})
    except AccountError as exc:
        fail(f"错误 / error: {exc}", EXIT_BAD_INPUT)
    click.echo(f"user {username} ({role}) saved")


@user.command("passwd")
@click.argument("username")
@click.password_option(help="New password (asked for when omitted).")
def user_passwd(username: str, password: str) -> None:
    """Set the password of USERNAME: every session it had ends, and a sign-in lock is lifted."""
    try:
        with db.transaction() as conn:
            found = set_password(conn, username, password)
            if found:
                sign_in.reset(conn, username)
                audit.append(conn, actor=audit.cli_actor(), action="user.passwd", object_type="app_user",
                             object_key=username, details={"sessions_ended": True})
    except AccountError as exc:
        fail(f"错误 / error: {exc}", EXIT_BAD_INPUT)
    if not found:
        fail(f"no user {username!r}", EXIT_BAD_INPUT)
    click.echo(f"password of {username} changed; its earlier sessions are signed out")


@user.command("list")
def user_list() -> None:
    """List the accounts."""
    with db.transaction() as conn:
        rows = conn.execute(text("SELECT username, name, role, active, password_hash IS NOT NULL AS can_sign_in "
                                 "FROM app_user ORDER BY username")).all()
    for r in rows:
        click.echo(f"{r.username}\t{r.name}\t{r.role}\t{'active' if r.active else 'disabled'}\t"
                   f"{'password set' if r.can_sign_in else 'no password'}")
