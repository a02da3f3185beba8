"""Database access for the CLI and the API: the URL, engines, migrations and versions."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import NullPool

from expro import cluster
from expro.errors import DatabaseError
from expro.settings import Settings, get_settings


def migrations_dir() -> Path:
    """The Alembic scripts: package ``expro.migrations`` (``sql/postgis`` in the clone, a copy in a wheel)."""
    found = Path(str(files("expro.migrations")))
    if not (found / "env.py").is_file():
        raise DatabaseError(f"the migrations are missing from this installation ({found}); reinstall Expro")
    return found


class _Binding:
    """A connection that commands and requests use instead of opening their own.

    Tests bind their rolled-back transaction here; a plain attribute (not a ContextVar) so that
    the API's worker threads see it too.
    """

    connection: Connection | None = None


_binding = _Binding()


#: URL schemes taken for PostgreSQL through psycopg2, the driver Expro ships (SQLAlchemy 2.1 maps a bare
#: ``postgresql://`` to psycopg 3, and knows no ``postgres://``).
PSYCOPG2_SCHEMES = frozenset({"postgresql", "postgres", "postgresql+psycopg2", "postgres+psycopg2"})
DRIVER = "postgresql+psycopg2"


def normalise_url(url: str) -> str:
    """The SQLAlchemy URL for a libpq-style ``url``: ``postgresql://``, ``postgres://`` → psycopg2.

    Host, port, ``?host=/socket/dir`` (or a percent-encoded socket directory as host) and the other
    libpq parameters are kept; a password left out is found by libpq (``PGPASSWORD``, ``~/.pgpass``).
    """
    try:
        parsed = make_url(url.strip())
    except ArgumentError:
        raise DatabaseError("EXPRO_DATABASE_URL 不是有效的数据库地址 / is not a valid database URL, "
                            "e.g. postgresql://user@host:5432/expro") from None
    if parsed.drivername not in PSYCOPG2_SCHEMES:
        raise DatabaseError(f"EXPRO_DATABASE_URL 必须是 PostgreSQL 地址 / must be a PostgreSQL URL "
                            f"(postgresql://, postgres:// or postgresql+psycopg2://), not {parsed.drivername}://")
    parsed = parsed.set(drivername=DRIVER)
    if parsed.host and unquote(parsed.host).startswith("/"):  # libpq's postgresql://%2Frun%2Fpostgresql/db
        parsed = parsed._replace(host=None).update_query_dict({"host": unquote(parsed.host)})
    return parsed.render_as_string(hide_password=False)


def database_url(settings: Settings | None = None, *, start: bool = False) -> str:
    """The database URL: ``EXPRO_DATABASE_URL`` (normalised), or the local cluster (started when ``start``)."""
    settings = settings or get_settings()
    if settings.database_url:
        return normalise_url(settings.database_url)
    if start:
        return cluster.up(settings.home, settings.pg_port).url
    info = cluster.cluster_info(settings.home, settings.pg_port)
    if info is None:
        raise DatabaseError("no database: run `expro db up` first, or set EXPRO_DATABASE_URL")
    return info.url


#: The application's database role (migration 0014): owns the application's tables, may only SELECT and
#: INSERT the audit tables. Engines made by ``engine_for`` act as it when the database has it.
APP_ROLE = "expro_app"

_APP_ROLE_USABLE = (
    "SELECT CASE WHEN to_regrole('expro_app') IS NULL OR to_regclass('public.audit_chain') IS NULL THEN false "
    "ELSE pg_has_role(session_user, 'expro_app', 'MEMBER') "
    "AND has_table_privilege('expro_app', 'public.audit_chain', 'SELECT') END")


def _act_as_app_role(dbapi_connection: Any, _record: Any) -> None:
    """On connect: ``SET ROLE expro_app`` when this database was set up for it and the login may use it."""
    with dbapi_connection.cursor() as cur:
        cur.execute(_APP_ROLE_USABLE)
        if cur.fetchone()[0]:
            cur.execute(f"SET ROLE {APP_ROLE}")
    dbapi_connection.commit()


@lru_cache(maxsize=4)
def engine_for(url: str) -> Engine:
    """A pooled engine for ``url`` (any form ``normalise_url`` accepts), one per URL, acting as ``APP_ROLE``."""
    engine = create_engine(normalise_url(url), pool_pre_ping=True, pool_size=5, max_overflow=5)
    event.listen(engine, "connect", _act_as_app_role)
    return engine


def owner_engine(url: str) -> Engine:
    """An unpooled engine acting as the login user itself (no ``SET ROLE``): databases, maintenance, tests."""
    return create_engine(normalise_url(url), poolclass=NullPool)


def get_engine(settings: Settings | None = None) -> Engine:
    """The process-wide engine for the configured database."""
    return engine_for(database_url(settings))


@contextlib.contextmanager
def bind_connection(conn: Connection) -> Iterator[None]:
    """Make every ``transaction()`` in this context use ``conn`` (inside a savepoint)."""
    previous, _binding.connection = _binding.connection, conn
    try:
        yield
    finally:
        _binding.connection = previous


@contextlib.contextmanager
def transaction() -> Iterator[Connection]:
    """One transaction on the configured database (a savepoint on a bound test connection)."""
    bound = _binding.connection
    if bound is not None:
        with bound.begin_nested():
            yield bound
        return
    engine = get_engine()
    with engine.begin() as conn:
        yield conn
        unsealed = conn.info.pop("expro_audit_unsealed", False)   # set by supervision.audit.append
    if unsealed:   # committed: chain it now (without waiting; a later seal does it otherwise)
        from supervision import audit

        audit.seal_committed(engine)


def migrate(conn: Connection) -> None:
    """Create PostGIS if needed and apply every Alembic migration on ``conn``."""
    from alembic import command
    from alembic.config import Config

    conn.exec_driver_sql("SET LOCAL ROLE NONE")   # migrate as the login user, not as APP_ROLE
    conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "heads")
    if conn.execute(text("SELECT to_regprocedure('expro_app_setup()')")).scalar() is not None:
        conn.execute(text("SELECT expro_app_setup()"))   # hand tables of later migrations to APP_ROLE
    conn.engine.dispose()   # connections opened before the role existed reconnect as APP_ROLE


def versions(conn: Connection) -> dict[str, str | None]:
    """PostgreSQL and PostGIS versions and the applied migration(s)."""
    pg = conn.execute(text("SHOW server_version")).scalar()
    postgis = conn.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")).scalar()
    full = conn.execute(text("SELECT postgis_full_version()")).scalar() if postgis else None
    migration = None
    if conn.execute(text("SELECT to_regclass('alembic_version')")).scalar() is not None:
        heads = conn.execute(text("SELECT version_num FROM alembic_version ORDER BY version_num")).scalars().all()
        migration = ",".join(heads)
    return {"postgresql": pg, "postgis": postgis, "postgis_full": full, "migration": migration}


def expected_heads() -> list[str]:
    """The head revisions of the migration scripts in this checkout."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    return sorted(ScriptDirectory.from_config(cfg).get_heads())
