"""API fixtures: the app on the test's rolled-back transaction, users of every role."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from expro.settings import get_settings
from supervision.accounts import upsert_user
from tests.common import write_package
from tests.live import serve

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


@dataclass
class LiveServer:
    """A uvicorn server of the app on a free local port, on the test's rolled-back transaction."""

    url: str
    host: str
    port: int
    app: FastAPI


@pytest.fixture
def live_server(conn, tmp_path):
    """The API served by a real uvicorn (in a thread of the test process); its home is under tmp_path."""
    app = create_app()
    settings = get_settings().model_copy(update={"home": tmp_path / "live-home"})
    app.dependency_overrides[get_settings] = lambda: settings
    with serve(app) as port:
        yield LiveServer(f"http://127.0.0.1:{port}", "127.0.0.1", port, app)
