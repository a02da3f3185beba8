"""Every response carries the security headers; text the database cannot store is refused with 422."""

from __future__ import annotations

import io

from tests.api.conftest import PASSWORD, token


def test_security_headers_on_every_response(client, project):
    for res in [client.get("/health"), client.get("/projects"), client.get("/static/leaflet/leaflet.js"),
                client.get("/projects/NOPE", headers=token(client, "S003"))]:
        assert res.headers["x-content-type-options"] == "nosniff"
        assert res.headers["x-frame-options"] == "DENY"
        assert res.headers["referrer-policy"] == "same-origin"
        assert res.headers["content-security-policy"].startswith("default-src 'self'")
        assert "strict-transport-security" not in res.headers        # plain HTTP here


def test_a_page_with_its_own_policy_keeps_it(client):
    res = client.get("/login")
    policies = res.headers.get_list("content-security-policy")
    assert len(policies) == 1 and "style-src 'sha256-" in policies[0]


def test_nul_byte_in_any_string_parameter_is_422(client, project):
    res = client.post("/auth/token", content=b"username=adm%00in&password=x",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert res.status_code == 422 and "NUL" in res.json()["detail"]
    res = client.post("/login", content=b"username=S003&password=" + PASSWORD.encode() + b"%00",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert res.status_code == 422
    headers = token(client, "S003")
    assert client.get("/projects/T%00X", headers=headers).status_code == 422
    assert client.get("/alerts?project=T-001%00", headers=headers).status_code == 422
    assert client.get("/orthophotos", params={"project": "T\x00"}, headers=headers).status_code == 422
    for body in [b'{"action": "assign", "opinion": "a\\u0000b"}', b'{"action": "assign", "opinion": "\\ud800"}',
                 b'{"act\\u0000ion": "assign", "opinion": "x"}']:
        res = client.post("/alerts/1/actions", content=body, headers={**headers, "Content-Type": "application/json"})
        assert res.status_code == 422, body


def test_nul_byte_in_multipart_text_is_422(client, project):
    headers = token(client, "S001")
    res = client.post("/attachments", headers=headers, files={"file": ("a\x00.png", io.BytesIO(b"x"), "image/png")})
    assert res.status_code == 422


def test_nul_byte_past_the_middleware_is_still_422(client, project):
    """Bodies the middleware does not read (a multipart sign-in form, JSON under another type) hit the guard."""
    res = client.post("/auth/token", files={"username": (None, "adm\x00in"), "password": (None, "x")})
    assert res.status_code == 422
    headers = {**token(client, "S003"), "Content-Type": "application/vnd.expro+json"}
    res = client.post("/alerts/1/actions", content=b'{"action": "assign", "opinion": "a\\u0000b"}', headers=headers)
    assert res.status_code in (404, 422)
    res = client.post("/auth/token", content=b'username=S003&password=x', headers={"Content-Type": "text/plain"})
    assert res.status_code == 422
