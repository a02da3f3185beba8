"""The alert loop through the API and the CLI: roles, states, history, audit, statistics, re-checks."""

from __future__ import annotations

import base64
import io

from click.testing import CliRunner
from sqlalchemy import text

from expro.cli import cli
from supervision import models
from supervision.accounts import upsert_user
from supervision.package.service import import_package
from tests.api.conftest import PASSWORD, token
from tests.common import package_tables, write_package
from supervision.identity import china_today

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGP4DwABAQEAWk1v8QAAAABJRU5ErkJggg==")


def _project_with_mismatches(conn, tmp_path):
    tables = package_tables()
    tables["claims"].loc[1, "amount_yuan"] = "10000.00"      # 6 mu x 1800 = 10800: off by 800
    tables["claims"].loc[3, "amount_yuan"] = "127000.00"     # 80 x 1600 = 128000: off by 1000
    tables["payments"].loc[0, "amount_yuan"] = "306000.00"   # paid what was claimed (no OVERPAID)
    result, _ = import_package(conn, write_package(tmp_path / "pkg", tables=tables))
    for username, name, role in [("S001", "赵敏", "field_crew"), ("S002", "周强", "supervisor"),
                                 ("S003", "吴刚", "inspector")]:
        upsert_user(conn, username=username, name=name, role=role, password=PASSWORD)
    counts = models.run_all(conn, "T-001")
    assert counts["AMOUNT_MISMATCH"] == 2
    return result


def test_alert_loop_through_the_api(conn, client, tmp_path):
    _project_with_mismatches(conn, tmp_path)
    inspector, crew, supervisor = token(client, "S003"), token(client, "S001"), token(client, "S002")
    listed = client.get("/alerts", params={"project": "T-001", "rule": "AMOUNT_MISMATCH"}, headers=inspector).json()
    alert = next(a for a in listed if a["subject_key"] == "C2")
    aid = alert["id"]
    assert alert["state"] == "new" and "800" in alert["message"]
    assert client.get("/alerts", params={"project": "T-001"}, headers=crew).json() == []   # nothing assigned yet
    assert client.get(f"/alerts/{aid}", headers=crew).status_code == 404
    step = lambda who, **body: client.post(f"/alerts/{aid}/actions", json=body, headers=who)  # noqa: E731
    assert step(crew, action="assign", opinion="x", assignee="S001").status_code == 404   # not visible to them
    assert step(inspector, action="confirm", opinion="太早").status_code == 409
    # an internal alarm is verified by the unit's management, not by the field crew who worked the household
    refused = step(inspector, action="assign", opinion="请现场核实", assignee="S001")
    assert refused.status_code == 409 and " / " in refused.json()["detail"]
    assert step(inspector, action="assign", opinion="请核实", assignee="S002").json()["state"] == "assigned"
    assert client.get(f"/alerts/{aid}", headers=crew).status_code == 404          # still not the crew's
    assert step(supervisor, action="start_verification", opinion="已到现场").json()["state"] == "verifying"
    up = client.post("/attachments", files={"file": ("现场.png", io.BytesIO(PNG), "image/png")}, headers=crew)
    assert up.status_code == 201, up.text
    sha = up.json()["sha256"]
    fake = client.post("/attachments", files={"file": ("fake.png", io.BytesIO(b"not an image"), "image/png")},
                       headers=crew)
    assert fake.status_code in (400, 422)                 # refused by content (the upload checks own the details)
    today = china_today().isoformat()
    res = step(supervisor, action="confirm", opinion="登记金额多算800元", acted_on=today, attachments=[sha])
    assert res.json()["state"] == "confirmed"
    assert step(supervisor, action="close", opinion="x").status_code == 403            # close is for inspectors
    assert step(supervisor, action="rectify", opinion="已追回", amount_recovered_yuan="800.00").json()["state"] == "rectified"
    assert step(inspector, action="close", opinion="办结").json()["state"] == "closed"
    detail = client.get(f"/alerts/{aid}", headers=inspector).json()
    assert [(h["from_state"], h["to_state"], h["username"]) for h in detail["history"]] == [
        ("new", "assigned", "S003"), ("assigned", "verifying", "S002"), ("verifying", "confirmed", "S002"),
        ("confirmed", "rectified", "S002"), ("rectified", "closed", "S003")]
    assert detail["history"][2]["acted_on"] == today and detail["history"][2]["attachments"][0]["sha256"] == sha
    assert detail["verdict"] == "confirmed" and float(detail["amount_recovered_yuan"]) == 800.0
    audit = conn.execute(text("SELECT actor, action FROM audit_event WHERE object_type = 'alert' AND object_key = :k "
                              "ORDER BY seq"), {"k": str(aid)}).all()
    assert [tuple(a) for a in audit] == [("S003", "alert.assign"), ("S002", "alert.start_verification"),
                                         ("S002", "alert.confirm"), ("S002", "alert.rectify"), ("S003", "alert.close")]
    # a re-check keeps the disposition
    models.run_all(conn, "T-001")
    again = client.get(f"/alerts/{aid}", headers=inspector).json()
    assert (again["state"], again["verdict"], again["firing"]) == ("closed", "confirmed", True)
    stats = client.get("/alerts/stats", params={"project": "T-001"}, headers=inspector).json()
    row = next(r for r in stats if r["rule_code"] == "AMOUNT_MISMATCH")
    assert (row["alerts"], row["confirmed"], row["unfounded"], row["hit_rate"]) == (2, 1, 0, 1.0)
    assert float(row["recovered_yuan"]) == 800.0 and row["by_state"] == {"closed": 1, "new": 1}
    assert client.get("/alerts/stats", params={"project": "T-001"}, headers=crew).status_code == 403


def test_alert_loop_through_the_cli_and_hit_rate(conn, tmp_path):
    _project_with_mismatches(conn, tmp_path)
    ids = conn.execute(text("SELECT a.id FROM alert a JOIN project p ON p.id = a.project_id WHERE p.code = 'T-001' "
                            "AND a.rule_code = 'AMOUNT_MISMATCH' ORDER BY a.subject_key")).scalars().all()
    run = lambda *args: CliRunner().invoke(cli, ["alerts", "act", *map(str, args)])  # noqa: E731
    for aid, verdict in zip(ids, ["confirm", "mark_unfounded"], strict=True):
        assert run(aid, "assign", "--user", "S002", "--opinion", "分派", "--assignee", "S003").exit_code == 0
        assert run(aid, "start_verification", "--user", "S003", "--opinion", "核查").exit_code == 0
        res = run(aid, verdict, "--user", "S003", "--opinion", "结论", "--date", china_today().isoformat())
        assert res.exit_code == 0, res.output
    res = run(ids[1], "rectify", "--user", "S002", "--opinion", "x")
    assert res.exit_code == 2 and "needs confirmed" in res.output
    picture = tmp_path / "photo.png"
    picture.write_bytes(PNG)
    assert run(ids[0], "rectify", "--user", "S002", "--opinion", "追回", "--amount", "800", "--attach", picture).exit_code == 0
    assert run(ids[1], "close", "--user", "S003", "--opinion", "不属实，办结").exit_code == 0
    models.run_all(conn, "T-001")
    states = dict(conn.execute(text("SELECT id, state FROM alert WHERE id = ANY(:i)"), {"i": ids}).all())
    assert states == {ids[0]: "rectified", ids[1]: "closed"}
    res = CliRunner().invoke(cli, ["alerts", "stats", "--project", "T-001"])
    line = next(x for x in res.output.splitlines() if x.startswith("AMOUNT_MISMATCH"))
    assert line.split("\t")[1:7] == ["2", "2", "1", "1", "50.0%", "800.00"]


def test_inboxes_route_alerts_by_severity(conn, client, tmp_path):
    _project_with_mismatches(conn, tmp_path)
    conn.execute(text("UPDATE alert a SET severity = CASE a.subject_key WHEN 'C2' THEN 'prompt' ELSE 'report' END "
                      "FROM project p WHERE p.id = a.project_id AND p.code = 'T-001' AND a.rule_code = 'AMOUNT_MISMATCH'"))
    upsert_user(conn, username="S009", name="钱芳", role="field_crew", password=PASSWORD)
    box = lambda who: {a["subject_key"] for a in client.get(  # noqa: E731
        "/alerts/inbox", params={"project": "T-001"}, headers=token(client, who)).json()}
    assert box("S001") == {"C2"}          # the prompt, on a household S001 is assigned to
    assert box("S009") == set()           # assigned nothing
    assert box("S003") == {"C4"}          # the inspector's queue: reports
    assert box("S002") == {"C4"}          # supervisors: internal alarms and reports


def test_map_shows_the_alerts_with_their_message(conn, client, tmp_path):
    _project_with_mismatches(conn, tmp_path)
    res = client.post("/login", data={"username": "S003", "password": PASSWORD, "next": "/map/T-001"})
    assert res.status_code == 200
    assert "AMOUNT_MISMATCH" in res.text and "相差 -800.00 元" in res.text
    assert res.text.count("L.circleMarker(") == 2
    assert "/static/jquery/jquery.min.js" in res.text and "code.jquery.com" not in res.text
