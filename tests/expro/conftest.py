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
    name = f"expro_t_{secrets.token_hex(5)}"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as admin:
        admin.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield engine.url.set(database=name)
    finally:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as admin:
            admin.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
