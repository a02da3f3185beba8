"""``expro db up|status|down``: the database the other commands use."""

from __future__ import annotations

import click

from expro import cluster
from expro import db as database
from expro.cli.options import die_on
from expro.errors import ExproError
from expro.settings import get_settings


def ensure_database() -> dict:
    """Bring the database up (local cluster or EXPRO_DATABASE_URL), migrate it, return versions."""
    url = database.database_url(get_settings(), start=True)
    engine = database.engine_for(url)
    with engine.begin() as conn:
        database.migrate(conn)
        return database.versions(conn)


@click.group()
def db() -> None:
    """Manage the PostGIS database (a project-local cluster unless EXPRO_DATABASE_URL is set)."""


@db.command("up")
def db_up() -> None:
    """Install PostGIS if missing, create/start the local cluster, create the database, migrate."""
    try:
        found = ensure_database()
    except ExproError as exc:
        die_on(exc)
    settings = get_settings()
    where = "EXPRO_DATABASE_URL" if settings.database_url else f"local cluster in {settings.home}"
    click.echo(f"database ready ({where}): PostgreSQL {found['postgresql']}, PostGIS {found['postgis']}, "
               f"migration {found['migration']}")


@db.command("status")
def db_status() -> None:
    """Say whether the database is reachable, and its versions."""
    settings = get_settings()
    if not settings.database_url:
        info = cluster.cluster_info(settings.home, settings.pg_port)
        if info is None:
            click.echo(f"no local cluster in {settings.home}: run `expro db up`")
            raise SystemExit(1)
        running = cluster.is_running(info)
        click.echo(f"local cluster: {info.data_dir} port {info.port} "
                   f"{'running' if running else 'stopped'} (run as {info.run_as or 'current user'})")
        if not running:
            raise SystemExit(1)
    try:
        with database.get_engine().connect() as conn:
            found = database.versions(conn)
    except ExproError as exc:
        die_on(exc)
    click.echo(f"PostgreSQL {found['postgresql']}, PostGIS {found['postgis']}, migration {found['migration']}")


@db.command("down")
def db_down() -> None:
    """Stop the local cluster (nothing to do with EXPRO_DATABASE_URL)."""
    settings = get_settings()
    if settings.database_url:
        click.echo("EXPRO_DATABASE_URL is set: no local cluster to stop")
        return
    try:
        stopped = cluster.down(settings.home)
    except ExproError as exc:
        die_on(exc)
    click.echo("local cluster stopped" if stopped else "local cluster was not running")
