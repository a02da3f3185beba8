"""Public disclosure (issue 11 point 10, clause 5.5.6) without login, on real PostGIS: published results masked,
filters, the page, complaints (stored, rate-limited, routed to the inspectors, audited); every other route
still needs a token."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import text

from supervision import disclosure
from supervision.accounts import mask_id_number, mask_name, upsert_user
from tests.api.conftest import PASSWORD, token
from tests.api.routes.case_files import fill_stage
from tests.common import HOUSEHOLDS, VILLAGE

HH1, HH2, HH3 = (h[0] for h in HOUSEHOLDS)
BASE = "/projects/T-001/cases"
RESULTS = "/public/projects/T-001/results"
PAGE = "/public/projects/T-001"
SECRETS = [v for h in HOUSEHOLDS for v in h[1:]]          # every head's ID number and name


@pytest.fixture
def staff(conn, project):
    """A supervisor who reviews the stages."""
    upsert_user(conn, username="S012", name="冯涛", role="supervisor", password=PASSWORD)
    return project


def _through(client, crew, reviewer, hh, stage, **kw):
    fill_stage(client, crew, hh, stage, **kw)
    assert client.post(f"{BASE}/{hh}/stages/{stage}/submit", headers=crew).status_code == 200
    res = client.post(f"{BASE}/{hh}/stages/{stage}/review", headers=reviewer,
                      json={"decision": "approve", "opinion": "同意"})
    assert res.status_code == 200, res.text


def _publish(client, hh):
    """Drive the case through the API until its publication stage opens."""
    crew, sup = token(client, "S001"), token(client, "S012")
    for stage in ("pre_announcement", "survey"):
        _through(client, crew, sup, hh, stage)
    number = client.get(f"{BASE}/{hh}/documents/quantity-sheet.pdf", headers=crew).headers["X-Document-Number"]
    _through(client, crew, sup, hh, "quantity", extra={"quantity_sheet_signed": {"document_no": number}})
    _through(client, crew, sup, hh, "valuation")


def _reach_publication(conn, hh):
    """What ``_publish`` does through the API, in one statement (for the tests that are not about the stages)."""
    conn.execute(text("""
        UPDATE case_stage s SET state = CASE WHEN s.position < p.position THEN 'approved' ELSE 'open' END,
                                opened_on = COALESCE(s.opened_on, CURRENT_DATE)
        FROM case_file cf JOIN case_stage p ON p.case_id = cf.id AND p.code = 'publication'
        WHERE s.case_id = cf.id AND cf.household_no = :h AND s.position <= p.position"""), {"h": hh})


def _no_secret(body: str) -> None:
    for secret in SECRETS:
        assert secret not in body


def _complain(client, **fields):
    body = {"project_code": "T-001", "name": "路人甲", "contact": "13800000000", "text": "补偿面积与实际不符，请核查。",
            **fields}
    return client.post("/public/complaints", json=body)


def test_only_published_results_are_listed_and_masked(client, staff):
    assert client.get(RESULTS).json()["total"] == 0                 # no login needed; nothing published yet
    _publish(client, HH1)
    res = client.get(RESULTS)
    assert res.status_code == 200
    body = res.json()
    assert body["total"] == 1
    [row] = body["results"]
    hh, id_number, name = HOUSEHOLDS[0]
    assert row["household_no"] == hh and row["village_code"] == VILLAGE and row["village_name"] == "王家村"
    assert row["head_name_masked"] == mask_name(name) == name[0] + "*" * (len(name) - 1)
    assert re.fullmatch(r"\d{6}\*{8}[0-9X]{4}", row["head_id_number_masked"])
    assert row["head_id_number_masked"] == mask_id_number(id_number)
    assert [b["floor_area_m2"] for b in row["buildings"]] == ["160.00"]
    assert row["building_area_m2"] == "160.00"
    assert row["total_yuan"] == "306800.00"                          # the claims: the house and the crops
    _no_secret(res.text)


def test_filters_by_village_and_search_by_household_or_full_name(client, conn, staff):
    _reach_publication(conn, HH1)
    _reach_publication(conn, HH2)
    assert client.get(RESULTS, params={"village": VILLAGE}).json()["total"] == 2
    assert client.get(RESULTS, params={"village": "王家村"}).json()["total"] == 2
    assert client.get(RESULTS, params={"village": "李家村"}).json()["total"] == 0
    found = client.get(RESULTS, params={"q": HH2})
    assert [r["household_no"] for r in found.json()["results"]] == [HH2]
    assert client.get(RESULTS, params={"q": HH1[:10]}).json()["total"] == 2     # a household number's beginning
    by_name = client.get(RESULTS, params={"q": HOUSEHOLDS[0][2]})
    assert [r["household_no"] for r in by_name.json()["results"]] == [HH1]
    _no_secret(by_name.text)
    assert client.get(RESULTS, params={"q": HOUSEHOLDS[0][2][:2]}).json()["total"] == 0   # no partial names
    assert client.get(RESULTS, params={"q": "%"}).json()["total"] == 0
    assert client.get(RESULTS, params={"q": HOUSEHOLDS[2][2]}).json()["total"] == 0       # HH3 is not published
    page = client.get(RESULTS, params={"limit": 1, "offset": 1}).json()
    assert page["total"] == 2 and [r["household_no"] for r in page["results"]] == [HH2]
    assert client.get(RESULTS, params={"limit": 0}).status_code == 422
    assert client.get(RESULTS, params={"limit": 100_000}).status_code == 422
    assert client.get("/public/projects/NOPE/results").status_code == 404


def test_the_page_shows_masked_results_escaped_and_the_complaint_form(client, conn, staff):
    conn.execute(text("UPDATE project SET name = '<script>alert(1)</script>浑南' WHERE code = 'T-001'"))
    _reach_publication(conn, HH1)
    res = client.get(PAGE, params={"q": HOUSEHOLDS[0][2]})
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/html")
    assert "script-src" not in res.headers["content-security-policy"]
    assert "'unsafe-inline'" not in res.headers["content-security-policy"]
    page = res.text
    assert '<html lang="zh-CN">' in page and "<script>" not in page and "&lt;script&gt;" in page
    assert mask_name(HOUSEHOLDS[0][2]) in page and mask_id_number(HOUSEHOLDS[0][1]) in page
    _no_secret(page)
    assert 'action="/public/complaints"' in page and 'name="text"' in page and "投诉" in page
    assert disclosure.GENERIC_OFFICE_ZH in page                       # the project names no office
    assert client.get("/public/projects/NOPE").status_code == 404


def test_the_page_names_the_projects_office_when_configured(client, conn, staff):
    conn.execute(text("""UPDATE project SET case_config = case_config || '{"disclosure": {"office_address":
                         "沈阳市浑南区征收办 201 室", "office_phone": "024-12345678", "office_name": "浑南区征收办<b>"}}'::jsonb
                         WHERE code = 'T-001'"""))
    page = client.get(PAGE).text
    assert "沈阳市浑南区征收办 201 室" in page and "024-12345678" in page and "浑南区征收办&lt;b&gt;" in page
    assert disclosure.GENERIC_OFFICE_ZH not in page


def test_a_complaint_is_stored_routed_to_the_inspectors_and_audited(client, conn, staff):
    _reach_publication(conn, HH1)
    res = _complain(client, household_no=HH1)
    assert res.status_code == 201, res.text
    out = res.json()
    assert out["household_no"] == HH1 and out["state"] == "new"
    row = conn.execute(text("SELECT * FROM complaint WHERE id = :i"), {"i": out["complaint_id"]}).mappings().one()
    assert re.fullmatch(r"[0-9a-f]{64}", row["client_digest"]) and row["body"].startswith("补偿面积")
    assert "testclient" not in str(dict(row))                   # the client's address is not stored
    alert = conn.execute(text("SELECT * FROM alert WHERE rule_code = 'PUBLIC_COMPLAINT'")).mappings().one()
    assert (alert["severity"], alert["subject_type"], alert["subject_key"]) == ("report", "household", HH1)
    assert alert["evidence"]["complaint_ids"] == [out["complaint_id"]]
    inbox = client.get("/alerts/inbox", params={"project": "T-001"}, headers=token(client, "S003"))
    assert inbox.status_code == 200
    assert [a["subject_key"] for a in inbox.json() if a["rule_code"] == "PUBLIC_COMPLAINT"] == [HH1]
    crew = client.get("/alerts/inbox", params={"project": "T-001"}, headers=token(client, "S001")).json()
    assert not [a for a in crew if a["rule_code"] == "PUBLIC_COMPLAINT"]
    audit = conn.execute(text("SELECT actor, object_key FROM audit_event WHERE action = 'complaint.submit'")).all()
    assert [tuple(a) for a in audit] == [("public", str(out["complaint_id"]))]
    # a second complaint about the household joins the same alert; one naming no household gets its own
    second = _complain(client, household_no=HH1, text="评估价格偏低，要求复核。")
    assert second.status_code == 201
    evidence = conn.execute(text("SELECT evidence FROM alert WHERE rule_code = 'PUBLIC_COMPLAINT' "
                                 "AND subject_key = :h"), {"h": HH1}).scalar_one()
    assert evidence["complaints"] == 2 and evidence["complaint_ids"][-1] == second.json()["complaint_id"]
    assert _complain(client).status_code == 201
    assert conn.execute(text("SELECT count(*) FROM alert WHERE rule_code = 'PUBLIC_COMPLAINT'")).scalar_one() == 2
    _no_secret(res.text + second.text)


def test_a_new_complaint_reopens_the_households_closed_complaint_alert(client, conn, staff):
    _reach_publication(conn, HH1)
    assert _complain(client, household_no=HH1).status_code == 201
    conn.execute(text("UPDATE alert SET state = 'closed', firing = false WHERE rule_code = 'PUBLIC_COMPLAINT'"))
    assert _complain(client, household_no=HH1, text="问题仍未解决，再次投诉。").status_code == 201
    alert = conn.execute(text("SELECT id, state, firing FROM alert WHERE rule_code = 'PUBLIC_COMPLAINT'")).one()
    assert (alert.state, alert.firing) == ("new", True)
    step = conn.execute(text("SELECT from_state, to_state, user_id FROM alert_event WHERE alert_id = :i"),
                        {"i": alert.id}).one()
    assert tuple(step) == ("closed", "new", None)


def test_complaints_are_validated(client, conn, staff):
    _reach_publication(conn, HH1)
    assert _complain(client, household_no=HH2).status_code == 422          # not published
    assert _complain(client, household_no="NO-SUCH").status_code == 422
    assert _complain(client, project_code="NOPE").status_code == 404
    assert _complain(client, name="").status_code == 422
    assert _complain(client, text="短").status_code == 422
    assert _complain(client, text="长" * (disclosure.TEXT_MAX + 1)).status_code == 422
    assert _complain(client, contact="1" * (disclosure.CONTACT_MAX + 1)).status_code == 422
    assert client.post("/public/complaints", content=b"{not json", headers={"content-type": "application/json"}
                       ).status_code == 400
    assert client.post("/public/complaints", content=b"x", headers={"content-type": "text/plain"}).status_code == 415


def test_complaints_are_rate_limited_per_client_and_per_project(client, conn, staff):
    for _ in range(disclosure.CLIENT_LIMIT_PER_HOUR):
        assert _complain(client).status_code == 201
    refused = _complain(client)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    n = conn.execute(text("SELECT count(*) FROM complaint")).scalar_one()
    assert n == disclosure.CLIENT_LIMIT_PER_HOUR
    # an hour later the client may complain again
    conn.execute(text("UPDATE complaint SET created_at = created_at - interval '61 minutes'"))
    assert _complain(client).status_code == 201
    # the project's limit holds whatever the client
    conn.execute(text("""INSERT INTO complaint (project_id, complainant_name, contact, body, client_digest)
                         SELECT p.id, 'x', 'y', 'zzzzz', md5(g::text) || md5(g::text)
                         FROM project p, generate_series(1, :n) g WHERE p.code = 'T-001'"""),
                 {"n": disclosure.PROJECT_LIMIT_PER_HOUR})
    assert _complain(client).status_code == 429


def test_the_page_form_posts_a_complaint_and_comes_back(client, conn, staff):
    _reach_publication(conn, HH1)
    res = client.post("/public/complaints", data={"project_code": "T-001", "household_no": "", "name": "路人乙",
                                                  "contact": "024-000", "text": "公示时间太短，请延长。"},
                      follow_redirects=False)
    assert res.status_code == 303
    target = urlparse(res.headers["location"])
    assert target.path == PAGE
    complaint_id = int(parse_qs(target.query)["submitted"][0])
    assert conn.execute(text("SELECT household_no FROM complaint WHERE id = :i"), {"i": complaint_id}).scalar() is None
    assert f"编号 {complaint_id}" in client.get(res.headers["location"]).text


#: Documented routes open without a token: health, sign-in and the public disclosure (the pages, not in the
#: OpenAPI document, redirect to the sign-in form: tests/api/routes/test_health_auth_projects.py).
OPEN_PATHS = {"/health", "/auth/token", "/public/projects/{code}/results", "/public/complaints"}


def _filled(path: str) -> str:
    path = path.replace(".{fmt}", ".png").replace("{code}", "T-001")
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_route_but_the_public_ones_needs_a_token(client, project):
    document = client.app.openapi()
    assert OPEN_PATHS <= set(document["paths"])
    checked = 0
    for path, operations in document["paths"].items():
        if path in OPEN_PATHS:
            continue
        for method in operations:
            res = client.request(method.upper(), _filled(path))
            assert res.status_code == 401, (method, path, res.status_code)
            checked += 1
    assert checked >= 20
    assert client.get("/public/projects/T-001").status_code == 200      # the public page, no token
