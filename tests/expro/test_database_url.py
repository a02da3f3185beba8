"""EXPRO_DATABASE_URL in the forms psql, QGIS and GDAL take: postgresql://, postgres://, sockets, PGPASSWORD."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from expro import cluster, db
from expro.errors import DatabaseError
from expro.settings import Settings
from tests.common import write_package
from tests.expro.running import clean_env, libpq_url, run, served

EXPRO = str(Path(sys.executable).with_name("expro"))


@pytest.mark.parametrize(("given", "driver", "host", "query"), [
    ("postgresql://u:p@db.example:5433/expro", "postgresql+psycopg2", "db.example", {}),
    ("postgres://u:p@db.example/expro", "postgresql+psycopg2", "db.example", {}),
    ("postgresql+psycopg2://u@db.example/expro", "postgresql+psycopg2", "db.example", {}),
    ("postgresql://postgres@/expro?host=/var/run/postgresql", "postgresql+psycopg2", None,
     {"host": "/var/run/postgresql"}),
    ("postgresql://postgres@%2Fvar%2Frun%2Fpostgresql/expro", "postgresql+psycopg2", None,
     {"host": "/var/run/postgresql"}),
    ("postgresql:///expro?sslmode=disable", "postgresql+psycopg2", None, {"sslmode": "disable"}),
])
def test_libpq_urls_are_taken_through_psycopg2(given, driver, host, query):
    url = make_url(db.database_url(Settings(database_url=given)))
    assert url.drivername == driver
    assert url.host == host and dict(url.query) == query and url.database == "expro"


@pytest.mark.parametrize("given", ["mysql://u@h/expro", "postgresql+asyncpg://u@h/expro", "not a url"])
def test_other_urls_are_refused_with_a_message(given):
    with pytest.raises(DatabaseError, match="EXPRO_DATABASE_URL"):
        db.database_url(Settings(database_url=given))


@pytest.fixture
def real(engine) -> URL:
    """The test cluster's URL (host, port, user, password, database)."""
    return engine.url


def _who(url: str) -> tuple[str, str]:
    with db.engine_for(db.database_url(Settings(database_url=url))).connect() as c:
        return tuple(c.execute(text("SELECT current_database(), session_user")).one())


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg2"])
def test_each_scheme_reaches_the_cluster(real, scheme):
    assert _who(libpq_url(real, scheme=scheme, password=True)) == (real.database, real.username)


def test_password_from_pgpassword_and_host_port_as_parameters(real, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", real.password)
    plain = f"postgresql://{real.username}@/{real.database}?host={real.host}&port={real.port}"
    assert _who(plain) == (real.database, real.username)


def test_password_from_pgpass_file(real, monkeypatch, tmp_path):
    monkeypatch.delenv("PGPASSWORD", raising=False)
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"{real.host}:{real.port}:*:{real.username}:{real.password}\n", encoding="utf-8")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    assert _who(libpq_url(real)) == (real.database, real.username)


@pytest.fixture(scope="module")
def socket_cluster() -> Iterator[tuple[Path, str]]:
    """A throwaway PostgreSQL cluster that listens only on a Unix socket: (socket directory, password)."""
    _, bindir = cluster.find_bindir()
    user = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="expro-sock-"))
    password = secrets.token_urlsafe(16)
    as_user = ["runuser", "-u", user, "--"] if user else []
    if user:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    pwfile = root / "pw"
    pwfile.write_text(password + "\n")
    if user:
        os.chown(pwfile, entry.pw_uid, entry.pw_gid)
    data = root / "data"
    try:
        subprocess.run(as_user + [str(bindir / "initdb"), "-D", str(data), "-U", "expro", "--pwfile", str(pwfile),
                                  "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "-E", "UTF8",
                                  "--locale=C.UTF-8"], check=True, capture_output=True, cwd="/")
        subprocess.run(as_user + [str(bindir / "pg_ctl"), "start", "-w", "-D", str(data), "-l", str(root / "log"),
                                  "-o", f"-c listen_addresses='' -c unix_socket_directories='{root}' "
                                        "-c fsync=off -c shared_buffers=32MB"],
                       check=True, capture_output=True, cwd="/")
        yield root, password
    finally:
        subprocess.run(as_user + [str(bindir / "pg_ctl"), "stop", "-D", str(data), "-m", "immediate", "-w"],
                       capture_output=True, cwd="/")
        shutil.rmtree(root, ignore_errors=True)


def test_db_up_import_check_and_serve_over_a_socket_with_a_plain_url(socket_cluster, tmp_path):
    sock, password = socket_cluster
    url = f"postgresql://expro@/expro?host={sock}"
    env = clean_env(EXPRO_DATABASE_URL=url, PGPASSWORD=password, EXPRO_HOME=str(tmp_path / "home"))
    created = run(["psql", "-h", str(sock), "-U", "expro", "-d", "postgres", "-c", "CREATE DATABASE expro"],
                  env, tmp_path)
    assert created.returncode == 0, created.stderr

    up = run([EXPRO, "db", "up"], env, tmp_path)
    assert up.returncode == 0, up.stderr
    assert "PostGIS 3." in up.stdout

    package = write_package(tmp_path / "package")
    imported = run([EXPRO, "import", str(package)], env, tmp_path)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    listed = run(["psql", "-h", str(sock), "-U", "expro", "-d", "expro", "-tAc", "SELECT count(*) FROM project"],
                 env, tmp_path)
    assert listed.stdout.strip() == "1"
    checked = run([EXPRO, "check", "--project", "T-001"], env, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    with served(EXPRO, env, tmp_path) as base:
        health = httpx.get(f"{base}/health", timeout=10)
    assert health.status_code == 200, health.text
    assert health.json()["postgis"].startswith("3.")


def test_serve_refuses_a_url_it_cannot_use_before_listening(tmp_path):
    refused = run([EXPRO, "serve", "--port", "1"], clean_env(EXPRO_DATABASE_URL="mysql://u@db.example/expro",
                                                             EXPRO_HOME=str(tmp_path)), tmp_path, timeout=60)
    assert refused.returncode != 0
    assert "EXPRO_DATABASE_URL" in refused.stderr and "Traceback" not in refused.stderr
