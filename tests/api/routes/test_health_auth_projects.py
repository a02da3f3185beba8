"""Health, sign-in, role scoping and the map page, through real HTTP handling on real PostGIS."""

from __future__ import annotations

from sqlalchemy import text

from expro.db import expected_heads
from tests.api.conftest import PASSWORD, token


def test_health_is_public_and_reports_postgis(client):
    res = client.get("/health")
    assert res.status_code == 200
    body = res.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["postgis"].startswith("3.") and body["postgresql"].split(".")[0].isdigit()
    assert body["migration"].split(",") == expected_heads()


def test_every_other_route_needs_a_token(client, project):
    for path in ["/projects", "/projects/T-001", "/projects/T-001/parcels", "/auth/me", "/openapi.json"]:
        res = client.get(path)
        assert res.status_code == 401, path
        assert res.headers.get("www-authenticate") == "Bearer"
    res = client.get("/projects", headers={"Authorization": "Bearer not-a-token"})
    assert res.status_code == 401
    res = client.get("/map/T-001", follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"].startswith("/login")


def test_login_wrong_password_and_unknown_user(client, project):
    assert client.post("/auth/token", data={"username": "S003", "password": "wrong-password"}).status_code == 401
    assert client.post("/auth/token", data={"username": "nobody", "password": PASSWORD}).status_code == 401
    # S002 exists (imported from staff.csv) but has no password yet: cannot sign in
    assert client.post("/auth/token", data={"username": "S002", "password": ""}).status_code in (401, 422)


def test_passwords_are_argon2_hashes(conn, project):
    stored = conn.execute(text("SELECT password_hash FROM app_user WHERE username = 'S003'")).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_me_and_projects(client, project):
    headers = token(client, "S003")
    me = client.get("/auth/me", headers=headers).json()
    assert me == {"username": "S003", "name": "吴刚", "role": "inspector", "role_zh": "纪检监察人员"}
    listed = client.get("/projects", headers=headers).json()
    mine = next(p for p in listed if p["code"] == "T-001")
    assert (mine["households"], mine["parcels"], mine["buildings"]) == (3, 4, 4)
    assert client.get("/projects/NOPE", headers=headers).status_code == 404


def test_field_crew_sees_only_assigned_households(client, project):
    inspector = client.get("/projects/T-001/parcels", headers=token(client, "S003")).json()
    assert len(inspector["features"]) == 4
    assigned = client.get("/projects/T-001/parcels", headers=token(client, "S001")).json()
    assert len(assigned["features"]) == 4           # S001 is assigned every household
    other = client.get("/projects/T-001/parcels", headers=token(client, "S009")).json()
    assert other["features"] == []                  # S009 is assigned none
    statuses = {f["properties"]["parcel_code"]: f["properties"]["status"] for f in inspector["features"]}
    assert statuses["210112101201JC00001"] == "paid"       # household 1 was paid
    assert statuses["210112101201JC00003"] == "claimed"    # household 3 claimed, not paid


def test_login_page_sets_cookie_and_map_shows_parcels(client, project):
    res = client.post("/login", data={"username": "S003", "password": PASSWORD, "next": "/map/T-001"},
                      follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"] == "/map/T-001"
    page = client.get("/map/T-001")
    assert page.status_code == 200
    html = page.text
    assert "测试项目" in html and "宗地状态" in html and "已补偿" in html
    assert "/static/leaflet/leaflet.js" in html and "cdn.jsdelivr" not in html
    for parcel in ("210112101201JC00001", "210112101201JA00001"):
        assert parcel in html
    assert client.get("/static/leaflet/leaflet.js").status_code == 200


def test_login_is_audited(client, conn, project):
    token(client, "S003")
    row = conn.execute(text("SELECT actor, action FROM audit_event ORDER BY seq DESC LIMIT 1")).one()
    assert tuple(row) == ("S003", "auth.login")


def test_bad_login_form_is_not_a_server_error(client):
    res = client.post("/auth/token", data={"username": "x"})
    assert res.status_code == 422
