"""The checks at entry run the batch models on one case: the same alerts, the rest of the project untouched."""

from __future__ import annotations

from sqlalchemy import text

from supervision import case_check, models
from supervision.projects import get_project
from tests.common import HOUSEHOLDS
from tests.supervision.policy_project import build, user


def _firing(conn) -> set[tuple[str, str, str]]:
    return {tuple(r) for r in conn.execute(text(
        "SELECT rule_code, subject_type, subject_key FROM alert a JOIN project p ON p.id = a.project_id "
        "WHERE p.code = 'T-001' AND a.firing")).all()}


def test_per_case_checks_give_the_batch_alerts(conn, tmp_path):
    planted = build(conn, tmp_path)                       # imports and runs the batch check
    assert {"NAME_MISMATCH", "AMOUNT_MISMATCH", "AREA_INFLATED", "STAFF_CONFLICT"} <= set(planted)
    batch = _firing(conn)
    conn.execute(text("DELETE FROM alert"))
    project = get_project(conn, "T-001")
    admin = user(conn, "S002")
    seen: set[tuple[str, str, str]] = set()
    for household_no, _, _ in HOUSEHOLDS:
        result = case_check.check_case(conn, project, household_no, admin)
        assert result.rules_run > 0
        now = _firing(conn)
        assert seen <= now                                # a case's check leaves the other cases' alerts alone
        seen = now
    assert seen == batch


def test_a_case_check_leaves_other_households_alerts_firing(conn, tmp_path):
    build(conn, tmp_path)
    before = _firing(conn)
    other = [a for a in before if a[0] == "STAFF_CONFLICT"]
    assert other
    # household 0003's conflict is not touched by a check of household 0001
    case_check.check_case(conn, get_project(conn, "T-001"), HOUSEHOLDS[0][0], user(conn, "S002"))
    assert set(other) <= _firing(conn)
    assert _firing(conn) == before
    models.run_all(conn, "T-001")
    assert _firing(conn) == before


def _firing_detail(conn, code: str) -> dict[tuple[str, str, str], tuple[str, str]]:
    """Firing alerts of a project by subject: severity and evidence (canonical JSON)."""
    rows = conn.execute(text(
        "SELECT rule_code, subject_type, subject_key, severity, evidence::jsonb::text AS ev FROM alert a "
        "JOIN project p ON p.id = a.project_id WHERE p.code = :c AND a.firing"), {"c": code}).all()
    return {(r.rule_code, r.subject_type, r.subject_key): (r.severity, r.ev) for r in rows}


def test_per_case_checks_give_the_batch_alerts_on_the_synthetic_district(conn, district_dir):
    """Every household of a generated district checked one by one gives the batch check's alerts and evidence."""
    import tomllib

    from supervision.accounts import get_user, upsert_user
    from supervision.package.service import import_package

    pkg = district_dir(17, 120)
    code = tomllib.loads((pkg / "project.toml").read_text(encoding="utf-8"))["code"]
    import_package(conn, pkg, progress=False)
    models.run_all(conn, code)
    batch = _firing_detail(conn, code)
    planted = {k[0] for k in batch}
    assert len(planted) >= 8, planted                     # the generator plants many rules at once
    households = conn.execute(text(
        "SELECT h.household_no FROM household h JOIN project p ON p.id = h.project_id WHERE p.code = :c "
        "ORDER BY h.household_no"), {"c": code}).scalars().all()
    assert len(households) == 120
    conn.execute(text("DELETE FROM alert a USING project p WHERE p.id = a.project_id AND p.code = :c"), {"c": code})
    admin = get_user(conn, upsert_user(conn, username="cc-admin", name="管理员", role="admin"))
    project = get_project(conn, code)
    for household_no in households:
        case_check.check_case(conn, project, household_no, admin)
    per_case = _firing_detail(conn, code)
    assert set(per_case) == set(batch), (set(batch) - set(per_case), set(per_case) - set(batch))
    assert per_case == batch
