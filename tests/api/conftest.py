"""API fixtures: the app on the test's rolled-back transaction, users of every role."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from supervision.accounts import upsert_user
from tests.common import write_package

PASSWORD = "correct-horse-42"


@pytest.fixture
def client(conn):
    """A TestClient whose requests run on the test's transaction."""
    with TestClient(create_app()) as c:
        yield c


@pytest.fixture
def project(conn, tmp_path):
    """The canonical package imported (project T-001), with passwords for S001 (field crew) and S003 (inspector)."""
    from supervision.package.service import import_package

    result, _ = import_package(conn, write_package(tmp_path / "pkg"))
    upsert_user(conn, username="S001", name="赵敏", role="field_crew", password=PASSWORD)
    upsert_user(conn, username="S003", name="吴刚", role="inspector", password=PASSWORD)
    upsert_user(conn, username="S009", name="钱芳", role="field_crew", password=PASSWORD)
    return result


def token(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    """Authorization header for ``username``."""
    res = client.post("/auth/token", data={"username": username, "password": password})
    assert res.status_code == 200, res.text
    return {"Authorization": f"Bearer {res.json()['access_token']}"}
