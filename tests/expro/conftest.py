"""Fixtures for tests that run the ``expro`` command as a user would."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import URL


@pytest.fixture
def fresh_database(engine: Engine) -> Iterator[URL]:
    """A new empty database in the test cluster, dropped afterwards (its URL, password included)."""
    from expro.db import owner_engine

    admin_engine = owner_engine(engine.url.render_as_string(hide_password=False))   # the login user, not expro_app
    name = f"expro_t_{secrets.token_hex(5)}"
    with admin_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as admin:
        admin.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield engine.url.set(database=name)
    finally:
        with admin_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as admin:
            admin.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
