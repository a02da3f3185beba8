"""supervision.policy: who sees which household and alert, who may take which step, what is masked."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from supervision import alert_loop, policy
from tests.supervision.policy_project import ALL, alerts  # noqa: F401  (fixture)
from tests.supervision.policy_project import MISMATCH_ID, S010_ID, user

#: What each user sees: field crew the prompts of their households (and what is assigned to them).
VISIBLE = {"S001": {"NAME_MISMATCH"}, "S009": set(), "S010": set(), "G01": set(),
           "S002": ALL, "S003": ALL, "S011": ALL}




def test_alert_visibility_by_user(conn, alerts):
    for username, expected in VISIBLE.items():
        u = user(conn, username)
        assert {rule for rule, aid in alerts.items() if policy.can_see_alert(conn, u, aid)} == expected, username


def test_an_alert_assigned_to_a_crew_member_becomes_visible_to_them(conn, alerts):
    conn.execute(text("UPDATE alert SET assignee_user_id = (SELECT id FROM app_user WHERE username = 'S009') "
                      "WHERE id = :i"), {"i": alerts["NAME_MISMATCH"]})
    assert policy.can_see_alert(conn, user(conn, "S009"), alerts["NAME_MISMATCH"])


def test_household_visibility_is_the_same_rule_for_cases(conn, alerts):
    households = conn.execute(text("SELECT h.household_no, h.id FROM household h JOIN project p ON p.id = h.project_id "
                                   "WHERE p.code = 'T-001'")).all()
    seen = {name: {no for no, hid in households if policy.can_see_household(conn, user(conn, name), hid)}
            for name in ("S001", "S009", "S010", "S002", "S003")}
    everyone = {no for no, _ in households}
    assert seen["S001"] == everyone and seen["S009"] == set() and seen["S002"] == seen["S003"] == everyone
    assert seen["S010"] == {"2101121012010003"}


def test_conflicts_of_interest(conn, alerts):
    reasons = lambda name, rule: set(policy.conflicts(conn, user(conn, name).id, alerts[rule]))  # noqa: E731
    assert reasons("S010", "STAFF_CONFLICT") == {"self", "own_household", "worked"}
    assert reasons("S011", "AREA_INFLATED") == {"own_household"}      # lives in household 0002
    assert reasons("S011", "NAME_MISMATCH") == {"own_household"}      # the subject is of their registry household
    assert reasons("S001", "NAME_MISMATCH") == {"worked"}
    assert all(reasons("S003", rule) == set() for rule in ALL)
    conn.execute(text("UPDATE app_user SET id_number = :i WHERE username = 'S002'"), {"i": MISMATCH_ID})
    assert "self" in reasons("S002", "NAME_MISMATCH")


def _alert(conn, aid):
    return dict(conn.execute(text("SELECT * FROM alert WHERE id = :i"), {"i": aid}).mappings().one())


def test_step_rules_by_role_and_severity(conn, alerts):
    report, internal, prompt = (_alert(conn, alerts[r]) for r in ("AREA_INFLATED", "AMOUNT_MISMATCH", "NAME_MISMATCH"))
    refused = lambda name, alert, action: policy.step_refusal(conn, user(conn, name), alert, action)  # noqa: E731
    for action in ("assign", "start_verification", "confirm", "mark_unfounded", "close"):
        assert refused("S002", report, action) is not None           # a report is the inspectors'
        assert refused("S003", report, action) is None
    assert refused("S002", report, "rectify") is None                 # the unit records what it rectified
    assert refused("S002", internal, "assign") is None and refused("S002", internal, "confirm") is None
    assert refused("S002", internal, "close") is not None
    # being the assignee is never enough: role and severity decide
    report["assignee_user_id"] = user(conn, "S002").id
    assert refused("S002", report, "start_verification") is not None
    # a field crew member verifies prompts assigned to them, never alerts of a household they worked
    prompt["assignee_user_id"] = user(conn, "S009").id
    assert refused("S009", prompt, "start_verification") is None and refused("S009", prompt, "close") is not None
    prompt["assignee_user_id"] = user(conn, "S001").id
    assert refused("S001", prompt, "start_verification").kind == "forbidden"
    # nobody acts on an alert about their own household
    assert "利益冲突" in refused("S011", report, "start_verification").message


def test_assignees_must_be_able_to_act(conn, alerts):
    staff = lambda name: dict(conn.execute(text(  # noqa: E731
        "SELECT id, username, role FROM app_user WHERE username = :u"), {"u": name}).mappings().one())
    report, prompt = _alert(conn, alerts["AREA_INFLATED"]), _alert(conn, alerts["NAME_MISMATCH"])
    assert policy.assignee_refusal(conn, staff("S002"), report) is not None     # supervisors do not verify reports
    assert policy.assignee_refusal(conn, staff("S003"), report) is None
    assert policy.assignee_refusal(conn, staff("S011"), report) is not None     # their own household
    assert policy.assignee_refusal(conn, staff("S001"), prompt) is not None     # worked the household
    assert policy.assignee_refusal(conn, staff("S009"), prompt) is None
    assert policy.assignee_refusal(conn, staff("G01"), prompt) is not None      # GIS officers verify nothing


def test_masking_for_field_crews_and_gis_officers(conn, alerts):
    from supervision.alerts import get_alert

    conn.execute(text("UPDATE alert SET assignee_user_id = (SELECT id FROM app_user WHERE username = 'S001') "
                      "WHERE id = :i"), {"i": alerts["STAFF_CONFLICT"]})     # legacy assignment: visible to S001
    full = get_alert(conn, alerts["NAME_MISMATCH"], user(conn, "S003"))
    assert full["subject_key"] == MISMATCH_ID and MISMATCH_ID in full["message"] and "李秀英" in full["message"]
    for name in ("S001",):
        for rule in ("NAME_MISMATCH", "STAFF_CONFLICT"):
            shown = json.dumps(get_alert(conn, alerts[rule], user(conn, name)), ensure_ascii=False, default=str)
            for secret in (MISMATCH_ID, S010_ID, "李秀英", "李秀", "孙丽"):
                assert secret not in shown, (rule, secret)
        masked = get_alert(conn, alerts["NAME_MISMATCH"], user(conn, name))
        assert masked["subject_key"] == MISMATCH_ID[:6] + "********" + MISMATCH_ID[-4:]
        assert masked["evidence"]["registry_name"] == "李**" and "李**" in masked["message"]
    g01 = policy.mask_alert(dict(full), user(conn, "G01"))
    assert MISMATCH_ID not in json.dumps(g01, ensure_ascii=False, default=str)
    assert user(conn, "S001").can_see_id_numbers is False and user(conn, "G01").can_see_id_numbers is False
    assert user(conn, "S003").can_see_id_numbers is True


def test_id_numbers_in_free_text_are_masked(conn, alerts):
    u = user(conn, "S001")
    out = policy.mask_alert({"message": "见 110101199003070011 与 11010119900307001X", "evidence": {}}, u)
    assert out["message"] == "见 110101********0011 与 110101********001X"
    assert policy.mask_alert({"message": "户号 2101121012010001", "evidence": {}}, u)["message"] == "户号 2101121012010001"


def test_act_refuses_dates_before_the_alert(conn, alerts):
    with pytest.raises(alert_loop.AlertLoopError, match="早于预警产生日期"):
        alert_loop.act(conn, alerts["AREA_INFLATED"], user(conn, "S003"), "assign", opinion="分派", assignee="S003",
                       acted_on=__import__("datetime").date(2020, 1, 1))


def test_act_refuses_amounts_the_database_cannot_hold(conn, alerts):
    aid, inspector = alerts["AREA_INFLATED"], user(conn, "S003")
    for action in ("assign", "start_verification", "confirm"):
        alert_loop.act(conn, aid, inspector, action, opinion="核查", assignee="S003")
    with pytest.raises(alert_loop.AlertLoopError, match="amount recovered"):
        alert_loop.act(conn, aid, inspector, "rectify", opinion="追回", amount_recovered_yuan="1e20")
    with pytest.raises(alert_loop.AlertLoopError, match="amount recovered"):
        alert_loop.act(conn, aid, inspector, "rectify", opinion="追回", amount_recovered_yuan="NaN")
