"""API fixtures: the app on the test's rolled-back transaction, users of every role."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from expro.settings import get_settings
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


class _Serialised:
    """ASGI wrapper: one request at a time (they share the test's single database connection)."""

    def __init__(self, app) -> None:
        self.app, self.lock = app, None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.lock is None:
            self.lock = asyncio.Lock()
        async with self.lock:
            await self.app(scope, receive, send)


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
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(_Serialised(app), host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", "127.0.0.1", port, app)
    finally:
        server.should_exit = True
        thread.join(10)
