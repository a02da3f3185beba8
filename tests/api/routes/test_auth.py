"""Sign-in: throttle per account and address, revocation on logout and password change, cookie rules."""

from __future__ import annotations

import base64
import io

from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from expro.cli import cli
from supervision.sign_in import ACCOUNT_MAX_FAILURES, ADDRESS_MAX_FAILURES
from tests.api.conftest import PASSWORD, token

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGP4DwABAQEAWk1v8QAAAABJRU5ErkJggg==")


def _sign_in(client, username, password=PASSWORD):
    return client.post("/auth/token", data={"username": username, "password": password})


def _unlock(conn) -> None:
    """Let every lock run out (the test's transaction has one fixed now())."""
    conn.execute(text("UPDATE sign_in_throttle SET locked_until = now() - interval '1 second'"))


def test_thirty_wrong_passwords_lock_the_account_even_for_the_right_one(client, conn, project):
    for _ in range(30):
        assert _sign_in(client, "S003", "wrong-password").status_code in (401, 429)
    locked = _sign_in(client, "S003")
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1
    assert "稍后" in locked.json()["detail"]
    page = client.post("/login", data={"username": "S003", "password": PASSWORD}, follow_redirects=False)
    assert page.status_code == 303 and "error=locked" in page.headers["location"]
    _unlock(conn)
    assert _sign_in(client, "S003").status_code == 200          # the lock runs out
    assert _sign_in(client, "S003", "wrong-password").status_code == 401   # and the success reset the count


def test_the_account_locks_after_its_limit_and_unknown_names_lock_alike(client, project):
    for _ in range(ACCOUNT_MAX_FAILURES):
        assert _sign_in(client, "S003", "wrong-password").status_code == 401
    assert _sign_in(client, "S003").status_code == 429
    for _ in range(ACCOUNT_MAX_FAILURES):
        assert _sign_in(client, "nobody", "wrong-password").status_code == 401
    assert _sign_in(client, "nobody").status_code == 429     # the same answer: a lock says nothing of existence
    assert _sign_in(client, "S001").status_code == 200       # other accounts are not locked


def test_one_address_trying_many_names_is_locked(conn, project):
    attacker = TestClient(create_app(), client=("203.0.113.7", 40000))
    for i in range(ADDRESS_MAX_FAILURES):
        assert _sign_in(attacker, f"guess{i}", "wrong-password").status_code == 401
    assert _sign_in(attacker, "S001").status_code == 429     # even a right password, from that address
    elsewhere = TestClient(create_app(), client=("198.51.100.9", 40000))
    assert _sign_in(elsewhere, "S001").status_code == 200


def test_bearer_logout_revokes_the_token(client, project):
    headers = token(client, "S003")
    other = token(client, "S003")                             # a second session (another device)
    assert client.post("/auth/logout", headers=headers).status_code == 204
    assert client.get("/auth/me", headers=headers).status_code == 401
    assert client.post("/auth/logout", headers=headers).status_code == 401
    assert client.get("/auth/me", headers=other).status_code == 200     # only that session ended


def test_page_logout_revokes_the_cookie_token(client, project):
    client.post("/login", data={"username": "S003", "password": PASSWORD}, follow_redirects=False)
    stolen = client.cookies.get("expro_token")
    assert client.get("/projects").status_code == 200          # the cookie works for GET pages
    assert client.get("/logout", follow_redirects=False).status_code == 303
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {stolen}"}).status_code == 401
    client.cookies.set("expro_token", stolen)
    assert client.get("/map/T-001", follow_redirects=False).status_code == 303   # back to sign-in


def test_password_change_revokes_every_token(client, conn, project):
    headers = token(client, "S003")
    res = CliRunner().invoke(cli, ["user", "passwd", "S003", "--password", "a-brand-new-password"])
    assert res.exit_code == 0, res.output
    assert client.get("/auth/me", headers=headers).status_code == 401
    assert client.get("/auth/me", headers=token(client, "S003", "a-brand-new-password")).status_code == 200


def test_cookie_is_not_accepted_for_state_changing_requests(client, project):
    client.post("/login", data={"username": "S001", "password": PASSWORD}, follow_redirects=False)
    assert client.get("/projects").status_code == 200
    hostile = {"Origin": "https://evil.example", "Referer": "https://evil.example/page"}
    upload = client.post("/attachments", files={"file": ("a.png", io.BytesIO(PNG), "image/png")}, headers=hostile)
    assert upload.status_code == 401
    action = client.post("/alerts/1/actions", json={"action": "assign", "opinion": "x", "assignee": "S001"},
                         headers=hostile)
    assert action.status_code == 401
    assert client.post("/auth/logout", headers=hostile).status_code == 401


def test_cookie_is_secure_over_https_only(conn, project):
    https = TestClient(create_app(), base_url="https://testserver")
    res = https.post("/login", data={"username": "S003", "password": PASSWORD}, follow_redirects=False)
    cookie = res.headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert res.headers["strict-transport-security"].startswith("max-age=")
    plain = TestClient(create_app())
    res = plain.post("/login", data={"username": "S003", "password": PASSWORD}, follow_redirects=False)
    assert "secure" not in res.headers["set-cookie"].lower()


def test_open_redirect_after_login_is_refused(client, project):
    for target in ["//evil.example/x", "/\\evil.example", "https://evil.example"]:
        res = client.post("/login", data={"username": "S003", "password": PASSWORD, "next": target},
                          follow_redirects=False)
        assert res.headers["location"] == "/map", target


def test_cookie_is_secure_behind_a_trusted_https_proxy(live_server, project):
    """uvicorn takes X-Forwarded-Proto from a trusted proxy (127.0.0.1 by default): the cookie is Secure."""
    import httpx

    form = {"username": "S003", "password": PASSWORD}
    proxied = httpx.post(f"{live_server.url}/login", data=form, headers={"X-Forwarded-Proto": "https"})
    assert "secure" in proxied.headers["set-cookie"].lower()
    assert "strict-transport-security" in proxied.headers
    direct = httpx.post(f"{live_server.url}/login", data=form)
    assert "secure" not in direct.headers["set-cookie"].lower()
