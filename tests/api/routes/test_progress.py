"""Progress and statistics (issue 11 point 9) through the API on real PostGIS: the figures follow the cases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import text

from supervision.accounts import upsert_user
from supervision.identity import china_today
from tests.api.conftest import PASSWORD, token
from tests.api.routes.case_files import capture, fill_stage
from tests.common import HOUSEHOLDS

HH1, HH2, HH3 = (h[0] for h in HOUSEHOLDS)
BASE = "/projects/T-001/cases"
URL = "/projects/T-001/progress"


@pytest.fixture
def staff(conn, project):
    """Supervisors, an admin and a GIS officer with passwords besides the package's crew."""
    upsert_user(conn, username="S002", name="周强", role="supervisor", password=PASSWORD)
    upsert_user(conn, username="S012", name="冯涛", role="supervisor", password=PASSWORD)
    upsert_user(conn, username="A01", name="管理员", role="admin", password=PASSWORD)
    upsert_user(conn, username="G01", name="孙丽", role="gis_officer", password=PASSWORD)
    return project


def _progress(client, headers) -> dict:
    res = client.get(URL, headers=headers)
    assert res.status_code == 200, res.text
    return res.json()


def _stage_count(figures: dict, stage: str) -> int:
    return next((r["cases"] for r in figures["by_stage"] if r["stage"] == stage), 0)


def _completeness(figures: dict, stage: str) -> dict:
    return next(r for r in figures["completeness"]["stages"] if r["stage"] == stage)


def _through(client, crew, reviewer, hh, stage, **kw):
    fill_stage(client, crew, hh, stage, **kw)
    assert client.post(f"{BASE}/{hh}/stages/{stage}/submit", headers=crew).status_code == 200
    res = client.post(f"{BASE}/{hh}/stages/{stage}/review", headers=reviewer,
                      json={"decision": "approve", "opinion": "同意"})
    assert res.status_code == 200, res.text


def test_progress_counts_the_cases_by_stage_village_staff_and_type(client, staff):
    figures = _progress(client, token(client, "S003"))          # an inspector sees every case
    assert figures["scope"] == "all" and figures["totals"]["cases"] == len(HOUSEHOLDS)
    assert _stage_count(figures, "pre_announcement") == len(HOUSEHOLDS)
    assert sum(r["cases"] for r in figures["by_village"]) == len(HOUSEHOLDS)
    assert figures["by_village"][0]["village_name"] == "王家村"
    assert sum(r["cases"] for r in figures["by_case_type"]) == len(HOUSEHOLDS)
    assert sum(r["cases"] for r in figures["by_staff"]) == len(HOUSEHOLDS)
    assert figures["overdue"] == [] and figures["totals"]["overdue_stages"] == 0
    money = figures["money"]
    # agreed = the claims while no quantity is recorded; paid = the package's payments
    assert Decimal(money["agreed_yuan"]) == Decimal("296000") + Decimal("10800") + 2 * Decimal("128000")
    assert Decimal(money["paid_yuan"]) == Decimal("306800") + Decimal("128000")
    assert Decimal(money["unpaid_yuan"]) == Decimal(money["agreed_yuan"]) - Decimal(money["paid_yuan"])


def test_figures_change_when_a_capture_is_stored_and_a_stage_approved(client, staff):
    crew, sup, inspector = token(client, "S001"), token(client, "S012"), token(client, "S003")
    before = _progress(client, inspector)
    first = _completeness(before, "pre_announcement")
    assert first["present"] == 0 and first["required"] > 0 and first["cases"] == len(HOUSEHOLDS)
    assert capture(client, crew, HH1, "pre_announcement", "status_quo_photo").status_code == 201
    after_capture = _completeness(_progress(client, inspector), "pre_announcement")
    assert after_capture["present"] == first["present"] + 1
    assert after_capture["items_complete"] == first["items_complete"] + 1
    # a second capture of an item whose min_count is 1 adds nothing: min_count counts
    assert capture(client, crew, HH1, "pre_announcement", "status_quo_photo", seed=5).status_code == 201
    assert _completeness(_progress(client, inspector), "pre_announcement")["present"] == after_capture["present"]

    _through(client, crew, sup, HH1, "pre_announcement")
    approved = _progress(client, inspector)
    assert _stage_count(approved, "pre_announcement") == len(HOUSEHOLDS) - 1
    assert _stage_count(approved, "survey") == 1
    assert _completeness(approved, "pre_announcement")["cases_complete"] == 1
    survey = _completeness(approved, "survey")                  # the survey stage is reached now: required, none present
    assert survey["cases"] == 1 and survey["present"] == 0
    assert approved["completeness"]["overall"]["required"] > before["completeness"]["overall"]["required"]


def test_money_agreed_follows_the_quantity_record_and_paid_follows_payments(client, conn, staff):
    crew, sup, s002, admin, inspector = (token(client, u) for u in ("S001", "S012", "S002", "A01", "S003"))
    conn.execute(text("DELETE FROM payment WHERE household_no = :h"), {"h": HH3})   # not paid before the case
    start = _progress(client, inspector)
    for stage in ("pre_announcement", "survey"):
        _through(client, crew, sup, HH3, stage)
    lines = {"lines": [{"item_kind": "building", "parcel_code": "210112101201JC00003", "building_no": "1",
                        "structure_type": "brick_concrete", "storeys": 1, "quantity": "90.00",
                        "unit_price_yuan": "1600.00"}]}
    assert client.put(f"{BASE}/{HH3}/quantities", headers=crew, json=lines).status_code == 200
    recorded = _progress(client, inspector)
    assert Decimal(recorded["money"]["agreed_yuan"]) - Decimal(start["money"]["agreed_yuan"]) == \
        Decimal("90") * 1600 - Decimal("128000")
    number = client.get(f"{BASE}/{HH3}/documents/quantity-sheet.pdf", headers=crew).headers["X-Document-Number"]
    _through(client, crew, sup, HH3, "quantity", extra={"quantity_sheet_signed": {"document_no": number}})
    for stage in ("valuation", "publication"):
        _through(client, crew, sup, HH3, stage)
    agreement = client.get(f"{BASE}/{HH3}/documents/agreement.pdf", headers=crew).headers["X-Document-Number"]
    _through(client, crew, sup, HH3, "agreement", extra={"agreement_signed": {"document_no": agreement}})
    fill_stage(client, s002, HH3, "review")
    assert client.post(f"{BASE}/{HH3}/stages/review/submit", headers=s002).status_code == 200
    assert client.post(f"{BASE}/{HH3}/stages/review/review", headers=sup,
                       json={"decision": "approve", "opinion": "同意"}).status_code == 200
    before_pay = _progress(client, inspector)
    assert before_pay["totals"]["published"] == start["totals"]["published"] + 1
    res = client.post(f"{BASE}/{HH3}/payments", headers=admin, json={
        "payment_id": "API-PAY-9", "amount_yuan": "50000.00", "payee_id_number": HOUSEHOLDS[2][1],
        "payee_name": HOUSEHOLDS[2][2], "paid_on": "2025-08-01"})
    assert res.status_code == 201, res.text
    paid = _progress(client, inspector)
    assert Decimal(paid["money"]["paid_yuan"]) - Decimal(before_pay["money"]["paid_yuan"]) == Decimal("50000")
    village = paid["by_village"][0]
    assert Decimal(village["unpaid_yuan"]) == Decimal(village["agreed_yuan"]) - Decimal(village["paid_yuan"])


def test_overdue_stages_are_listed_with_days_overdue(client, conn, staff):
    today = china_today()
    conn.execute(text("""UPDATE case_stage s SET due_on = :d FROM case_file cf
                         WHERE cf.id = s.case_id AND cf.household_no = :h AND s.state = 'open'"""),
                 {"d": today - dt.timedelta(days=3), "h": HH2})
    figures = _progress(client, token(client, "S003"))
    assert figures["totals"]["overdue_stages"] == 1
    [late] = figures["overdue"]
    assert late["household_no"] == HH2 and late["stage"] == "pre_announcement" and late["days_overdue"] == 3
    assert late["assignee"] == "S001" and late["name_zh"] == "预公告"
    assert next(r for r in figures["by_staff"] if r["username"] == "S001")["overdue"] == 1
    # due today is not overdue
    conn.execute(text("""UPDATE case_stage s SET due_on = :d FROM case_file cf
                         WHERE cf.id = s.case_id AND cf.household_no = :h AND s.state = 'open'"""),
                 {"d": today, "h": HH2})
    assert _progress(client, token(client, "S003"))["overdue"] == []


def test_field_crew_gets_the_figures_of_their_own_cases_only(client, staff):
    sup = token(client, "S002")
    assert _progress(client, token(client, "S009"))["totals"]["cases"] == 0     # assigned nothing
    res = client.post(f"{BASE}/{HH2}/stages/pre_announcement/assign", headers=sup,
                      json={"username": "S009", "reason": "调整分工"})
    assert res.status_code == 200, res.text
    mine = _progress(client, token(client, "S009"))
    assert mine["scope"] == "assigned" and mine["totals"]["cases"] == 1
    assert [r["username"] for r in mine["by_staff"]] == ["S009"]
    assert _completeness(mine, "pre_announcement")["cases"] == 1
    everyone = _progress(client, token(client, "A01"))
    assert everyone["scope"] == "all" and everyone["totals"]["cases"] == len(HOUSEHOLDS)
    assert Decimal(mine["money"]["agreed_yuan"]) < Decimal(everyone["money"]["agreed_yuan"])


def test_progress_needs_a_role_that_may_see_it(client, staff):
    assert client.get(URL).status_code == 401
    assert client.get(URL, headers=token(client, "G01")).status_code == 403
    assert client.get("/projects/NOPE/progress", headers=token(client, "S003")).status_code == 404
