"""One visibility rule, one step rule, one masking rule: the API, the map, the CLI and the exports agree.

The users and alerts are those of ``tests/supervision/policy_project.py``.
"""

from __future__ import annotations

import csv
import datetime as dt
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from expro.cli import cli
from tests.api.conftest import token
from tests.supervision.policy_project import ALL, alerts  # noqa: F401  (fixture)
from tests.supervision.policy_project import MISMATCH_ID
from supervision.identity import china_today

VISIBLE = {"S001": {"NAME_MISMATCH"}, "S009": set(), "S002": ALL, "S003": ALL}
INBOX = {"S001": {"NAME_MISMATCH"}, "S009": set(), "S002": {"AMOUNT_MISMATCH", "AREA_INFLATED", "STAFF_CONFLICT"},
         "S003": {"AREA_INFLATED", "STAFF_CONFLICT"}}
SECRETS = (MISMATCH_ID, "李秀英", "李秀")




def _map_page(client, username):
    client.cookies.clear()
    res = client.post("/login", data={"username": username, "password": "correct-horse-42", "next": "/map/T-001"})
    assert res.status_code == 200, res.text
    client.cookies.clear()
    return res


def _cli_rules(conn, username, tmp_path) -> tuple[set[str], set[str], str]:
    listed = CliRunner().invoke(cli, ["alerts", "list", "--project", "T-001", "--user", username])
    assert listed.exit_code == 0, listed.output
    out = tmp_path / f"{username}.csv"
    exported = CliRunner().invoke(cli, ["alerts", "export", "--project", "T-001", "--user", username, "-o", str(out),
                                        "--overwrite"])
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    listed_rules = {line.split("\t")[1] for line in listed.output.splitlines() if line.strip()}
    return listed_rules, {r["rule_code"] for r in rows}, listed.output + out.read_text(encoding="utf-8")


def test_every_place_shows_each_user_the_same_alerts(conn, client, alerts, tmp_path):
    for username, expected in VISIBLE.items():
        who = token(client, username)
        listed = client.get("/alerts", params={"project": "T-001"}, headers=who).json()
        assert {a["rule_code"] for a in listed} == expected, username
        for rule, aid in alerts.items():
            status = client.get(f"/alerts/{aid}", headers=who).status_code
            assert status == (200 if rule in expected else 404), (username, rule)
        inbox = client.get("/alerts/inbox", params={"project": "T-001"}, headers=who).json()
        assert {a["rule_code"] for a in inbox} == INBOX[username], username
        page = _map_page(client, username).text
        assert {rule for rule in ALL if rule in page} == expected, username
        listed_cli, exported_cli, _ = _cli_rules(conn, username, tmp_path)
        assert listed_cli == exported_cli == expected, username
    # the field crew member assigned to the household, and the parcels of their households only
    parcels = lambda u: client.get("/projects/T-001/parcels", headers=token(client, u)).json()["features"]  # noqa: E731
    assert len(parcels("S001")) == 4 and parcels("S009") == [] and len(parcels("S003")) == 4
    # a GIS officer opens no alert and sees none on the map
    gis = token(client, "G01")
    assert client.get("/alerts", params={"project": "T-001"}, headers=gis).status_code == 403
    assert not any(rule in _map_page(client, "G01").text for rule in ALL)


def test_field_crews_never_see_full_id_numbers_or_registry_names(conn, client, alerts, tmp_path):
    crew, inspector = token(client, "S001"), token(client, "S003")
    aid = alerts["NAME_MISMATCH"]
    shown = [client.get(f"/alerts/{aid}", headers=crew).text,
             client.get("/alerts", params={"project": "T-001"}, headers=crew).text,
             client.get("/alerts/inbox", params={"project": "T-001"}, headers=crew).text,
             _map_page(client, "S001").text, _cli_rules(conn, "S001", tmp_path)[2]]
    for place, body in enumerate(shown):
        for secret in SECRETS:
            assert secret not in body and json.dumps(secret)[1:-1] not in body, (place, secret)
    assert MISMATCH_ID[:6] + "********" + MISMATCH_ID[-4:] in shown[0]
    full = client.get(f"/alerts/{aid}", headers=inspector).json()
    assert full["subject_key"] == MISMATCH_ID and "李秀英" in full["message"]


def _step(client, aid, who, **body):
    return client.post(f"/alerts/{aid}/actions", json={"opinion": "意见", **body}, headers=who)


def _force(conn, aid, state, assignee):
    conn.execute(text("UPDATE alert SET state = :s, assignee_user_id = (SELECT id FROM app_user WHERE username = :u) "
                      "WHERE id = :i"), {"s": state, "u": assignee, "i": aid})


def test_a_supervisor_cannot_dismiss_a_report_by_assigning_it_to_themselves(conn, client, alerts):
    aid, supervisor, inspector = alerts["AREA_INFLATED"], token(client, "S002"), token(client, "S003")
    res = _step(client, aid, supervisor, action="assign", assignee="S002")
    assert res.status_code == 403 and " / " in res.json()["detail"]
    res = _step(client, aid, inspector, action="assign", assignee="S002")       # a role that cannot verify it
    assert res.status_code == 409 and "S002" in res.json()["detail"]
    _force(conn, aid, "assigned", "S002")                                      # an assignment made before the fix
    assert _step(client, aid, supervisor, action="start_verification").status_code == 403
    _force(conn, aid, "verifying", "S002")
    assert _step(client, aid, supervisor, action="mark_unfounded").status_code == 403
    assert conn.execute(text("SELECT verdict FROM alert WHERE id = :i"), {"i": aid}).scalar() is None
    # the inspectors take it
    _force(conn, aid, "new", None)
    assert _step(client, aid, inspector, action="assign", assignee="S003").json()["state"] == "assigned"
    assert _step(client, aid, inspector, action="start_verification").json()["state"] == "verifying"
    assert _step(client, aid, inspector, action="mark_unfounded").json()["state"] == "unfounded"


def test_the_staff_member_an_alert_is_about_cannot_handle_it(conn, client, alerts):
    aid, inspector = alerts["STAFF_CONFLICT"], token(client, "S003")
    res = _step(client, aid, inspector, action="assign", assignee="S010")
    assert res.status_code == 409 and "/" in res.json()["detail"]
    _force(conn, aid, "assigned", "S010")                                      # an assignment made before the fix
    s010 = token(client, "S010")
    assert _step(client, aid, s010, action="start_verification").status_code == 403
    _force(conn, aid, "verifying", "S010")
    res = _step(client, aid, s010, action="mark_unfounded")
    assert res.status_code == 403
    assert conn.execute(text("SELECT state FROM alert WHERE id = :i"), {"i": aid}).scalar() == "verifying"
    # an inspector from the household the alert concerns must stand aside too
    aid = alerts["AREA_INFLATED"]
    res = _step(client, aid, inspector, action="assign", assignee="S011")
    assert res.status_code == 409 and "利益冲突" in res.json()["detail"] and "own household" in res.json()["detail"]
    _force(conn, aid, "assigned", "S003")
    res = _step(client, aid, token(client, "S011"), action="start_verification")
    assert res.status_code == 403 and "利益冲突" in res.json()["detail"]


def test_a_prompt_goes_to_a_crew_member_who_did_not_work_the_household(conn, client, alerts):
    aid, supervisor = alerts["NAME_MISMATCH"], token(client, "S002")
    assert _step(client, aid, supervisor, action="assign", assignee="S001").status_code == 409   # worked it
    assert _step(client, aid, supervisor, action="assign", assignee="S009").json()["state"] == "assigned"
    s009, s001 = token(client, "S009"), token(client, "S001")
    assert client.get(f"/alerts/{aid}", headers=s009).status_code == 200      # assigned to them: visible
    assert _step(client, aid, s001, action="start_verification").status_code == 403   # sees it, may not act
    assert _step(client, aid, s009, action="start_verification").json()["state"] == "verifying"
    assert _step(client, aid, s009, action="confirm").json()["state"] == "confirmed"


def test_refusals_are_never_500(conn, client, alerts):
    aid, inspector = alerts["AREA_INFLATED"], token(client, "S003")
    res = _step(client, aid, inspector, action="assign", assignee="S003", acted_on="2020-01-01")
    assert res.status_code == 409 and "早于预警产生日期" in res.json()["detail"] and "before the alert" in res.json()["detail"]
    assert _step(client, aid, inspector, action="dismiss").status_code == 422
    assert _step(client, aid, inspector, action="assign", assignee="nobody").status_code == 409
    assert _step(client, 10**9, inspector, action="assign", assignee="S003").status_code == 404
    assert client.get(f"/alerts/{10**20}", headers=inspector).status_code == 422
    tomorrow = (china_today() + dt.timedelta(days=2)).isoformat()
    assert _step(client, aid, inspector, action="assign", assignee="S003", acted_on=tomorrow).status_code == 409


def test_the_cli_obeys_the_same_rule(conn, alerts):
    run = lambda *args: CliRunner().invoke(cli, ["alerts", "act", *map(str, args)])  # noqa: E731
    aid = alerts["AREA_INFLATED"]
    res = run(aid, "assign", "--user", "S002", "--opinion", "自己核", "--assignee", "S002")
    assert res.exit_code == 2 and "report" in res.output
    res = run(aid, "assign", "--user", "S003", "--opinion", "分派", "--assignee", "S011")
    assert res.exit_code == 2 and "利益冲突" in res.output
    res = run(alerts["AMOUNT_MISMATCH"], "assign", "--user", "S001", "--opinion", "x", "--assignee", "S002")
    assert res.exit_code == 2                                                  # not visible to field crew
    assert run(aid, "assign", "--user", "S003", "--opinion", "分派", "--assignee", "S003").exit_code == 0
