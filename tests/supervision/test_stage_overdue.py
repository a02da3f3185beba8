"""Overdue stages raise a prompt to the assignee and, past a margin, an internal alarm to the supervisors."""

from __future__ import annotations

from sqlalchemy import text

from supervision import models
from tests.common import HOUSEHOLDS, write_package

HH1 = HOUSEHOLDS[0][0]


def _overdue(conn, household_no: str, days: int) -> None:
    conn.execute(text("""
        UPDATE case_stage s SET due_on = (now() AT TIME ZONE 'Asia/Shanghai')::date - :d
        FROM case_file cf WHERE cf.id = s.case_id AND cf.household_no = :h AND s.state = 'open'"""),
        {"h": household_no, "d": days})


def _alerts(conn) -> dict[str, tuple[str, dict]]:
    rows = conn.execute(text("SELECT rule_code, subject_key, severity, evidence FROM alert "
                             "WHERE firing AND rule_code LIKE 'STAGE_OVERDUE%'")).all()
    return {f"{r[0]}:{r[1]}": (r[2], r[3]) for r in rows}


def test_overdue_prompts_then_escalates_past_the_margin(conn, tmp_path):
    from supervision.package.service import import_package

    import_package(conn, write_package(tmp_path / "pkg"))
    assert models.run_all(conn, "T-001")["STAGE_OVERDUE"] == 0          # new cases are due in the future
    _overdue(conn, HH1, 2)
    models.run_all(conn, "T-001")
    found = _alerts(conn)
    assert set(found) == {f"STAGE_OVERDUE:{HH1}"}
    severity, evidence = found[f"STAGE_OVERDUE:{HH1}"]
    assert severity == "prompt" and evidence["stage"] == "pre_announcement" and evidence["days_overdue"] == 2
    assert evidence["assignee"] == "S001"
    _overdue(conn, HH1, 6)                                               # past the default margin of 5 days
    models.run_all(conn, "T-001")
    assert _alerts(conn)[f"STAGE_OVERDUE_ESCALATED:{HH1}"][0] == "internal"
    conn.execute(text("UPDATE project SET rules = '{\"STAGE_OVERDUE_ESCALATED\": {\"margin_days\": 10}}'"))
    models.run_all(conn, "T-001")
    assert set(_alerts(conn)) == {f"STAGE_OVERDUE:{HH1}"}               # the margin is configurable
