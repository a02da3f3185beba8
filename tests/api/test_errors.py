"""The error table: an unreachable database is 503 (nothing internal shown), out-of-range values are 422."""

from __future__ import annotations

import socket

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from expro.settings import get_settings
from tests.api.conftest import token


@pytest.fixture
def unreachable_db(monkeypatch):
    """Settings naming a database on a local port where nothing listens (no test connection bound)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("EXPRO_DATABASE_URL", f"postgresql+psycopg2://expro:secret-pw@127.0.0.1:{port}/nowhere")
    monkeypatch.setenv("EXPRO_SECRET_KEY", "unreachable-db-test-secret-of-32-bytes!")
    get_settings.cache_clear()
    yield port
    get_settings.cache_clear()


def test_server_on_an_unreachable_database_answers_503(unreachable_db):
    from api.security import create_token

    client = TestClient(create_app())
    health = client.get("/health")
    assert health.status_code == 503 and health.json()["database"] == "unreachable"
    bearer = {"Authorization": f"Bearer {create_token(get_settings(), 1, 'inspector')}"}
    for res in [client.post("/auth/token", data={"username": "S003", "password": "whatever-it-is"}),
                client.get("/projects", headers=bearer), client.get("/alerts?project=T-001", headers=bearer),
                client.post("/login", data={"username": "S003", "password": "whatever-it-is"})]:
        assert res.status_code == 503, res.request.url
        assert res.headers["retry-after"] and "数据库" in res.json()["detail"]
        for secret in ("secret-pw", str(unreachable_db), "psycopg2", "Traceback", "nowhere"):
            assert secret not in res.text


def test_out_of_range_numbers_are_422(client, project):
    headers = token(client, "S003")
    assert client.get("/alerts/99999999999999999999999", headers=headers).status_code in (404, 422)
    assert client.get("/tiles/99999999999999999999999/1/1/1.png", headers=headers).status_code == 422
    assert client.get("/tiles/1/99/1/1.png", headers=headers).status_code == 422
