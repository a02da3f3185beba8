"""Progress and statistics of a project's cases (进度跟踪 / 统计分析), set-based over the whole project.

Every figure is one SQL statement over the cases the caller may see (``policy.case_visible_sql``: a field
crew member gets the same figures restricted to the cases assigned to them; the database owner at the
command line, ``user=None``, sees every case). The archive's required items come from the case-type
definitions as the project uses them (``supervision.cases.definition``), handed to SQL as arrays.

- **by stage**: the current stage of each active case (the first that is not approved); closed and
  withdrawn cases under ``closed`` / ``withdrawn``.
- **by village**, **by staff member** (the assignee of the current stage) and **by case type**.
- **overdue**: stages open, submitted or returned whose ``due_on`` is before today in China.
- **archive completeness**: for each stage a case has reached (not ``locked``), its mandatory items:
  required = the sum of their ``min_count``, present = the captures counted up to ``min_count``.
- **money**: agreed = the case's quantity record (核量) or, without one, its claims; paid = its payments.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

from supervision import casetypes, policy
from supervision.accounts import User
from supervision.cases import definition
from supervision.errors import SupervisionError
from supervision.identity import china_today

#: Roles that see the progress figures: the statistics roles (every case) and field crews (their cases).
PROGRESS_ROLES = tuple(policy.STATISTICS_ROLES) + tuple(policy.ASSIGNED_ONLY_ROLES)
#: Names of the pseudo-stages of cases that are no longer worked.
CASE_STATE_ZH = {"closed": "已办结", "withdrawn": "已撤销"}
CASE_TYPE_ZH = {"residential": "民宅", "enterprise": "企业", "farmland": "耕地"}
OVERDUE_LIMIT = 500


class ProgressForbiddenError(SupervisionError, PermissionError):
    """The caller's role may not see progress figures."""


def may_see_progress(user: User | None) -> bool:
    """Whether ``user`` may see the progress figures (None: the database owner at the command line)."""
    return user is None or user.role in PROGRESS_ROLES


def _visible(user: User | None) -> tuple[str, dict]:
    return ("true", {}) if user is None else policy.case_visible_sql(user, "cf")


def _definitions(project: dict) -> list[casetypes.CaseType]:
    return [definition(project, t) for t in casetypes.CASE_TYPES]


def _required_items(project: dict) -> dict[str, list]:
    """The mandatory items of every case type as parallel arrays for ``unnest``."""
    out: dict[str, list] = {"rt": [], "rs": [], "rpos": [], "ri": [], "rmin": []}
    for ct in _definitions(project):
        for pos, stage in enumerate(ct.stages, start=1):
            for item in stage.mandatory_items():
                out["rt"].append(ct.case_type)
                out["rs"].append(stage.code)
                out["rpos"].append(pos)
                out["ri"].append(item.code)
                out["rmin"].append(item.min_count)
    return out


def stage_names(project: dict) -> dict[str, str]:
    """Stage code -> Chinese name over the project's case types (the first type naming it wins)."""
    names: dict[str, str] = {}
    for ct in _definitions(project):
        for s in ct.stages:
            names.setdefault(s.code, s.name_zh)
    return {**names, **CASE_STATE_ZH}


#: The visible cases and their current stage (the first not approved), shared by the statements below.
_CURRENT = """
    vc AS (SELECT cf.id, cf.household_no, cf.case_type, cf.state FROM case_file cf
           WHERE cf.project_id = :p AND {visible}),
    cur AS (SELECT vc.id, vc.household_no, vc.case_type, vc.state AS case_state, s.code AS stage,
                   s.position, s.state AS stage_state, s.assignee_user_id, s.due_on
            FROM vc LEFT JOIN LATERAL (SELECT s.code, s.position, s.state, s.assignee_user_id, s.due_on
                                       FROM case_stage s WHERE s.case_id = vc.id AND s.state <> 'approved'
                                       ORDER BY s.position LIMIT 1) s ON vc.state = 'active')"""

#: Agreed and paid amounts per visible case (quantity record, else claims; payments of the household).
_MONEY = """
    qsum AS (SELECT q.case_id, sum(q.amount_yuan) AS s FROM case_quantity q JOIN vc ON vc.id = q.case_id
             GROUP BY q.case_id),
    csum AS (SELECT c.household_no, sum(c.amount_yuan) AS s FROM claim c WHERE c.project_id = :p
             GROUP BY c.household_no),
    psum AS (SELECT pm.household_no, sum(pm.amount_yuan) AS s FROM payment pm WHERE pm.project_id = :p
             GROUP BY pm.household_no),
    money AS (SELECT vc.id, COALESCE(qsum.s, csum.s, 0) AS agreed, COALESCE(psum.s, 0) AS paid FROM vc
              LEFT JOIN qsum ON qsum.case_id = vc.id LEFT JOIN csum ON csum.household_no = vc.household_no
              LEFT JOIN psum ON psum.household_no = vc.household_no)"""


def _rows(conn: Connection, sql: str, params: dict) -> list[dict]:
    return [dict(r) for r in conn.execute(text(sql), params).mappings()]


def by_stage(conn: Connection, project: dict, user: User | None) -> list[dict]:
    """Cases per current stage (in stage order), with how many are open, submitted or returned."""
    visible, params = _visible(user)
    names = stage_names(project)
    rows = _rows(conn, f"""
        WITH {_CURRENT.format(visible=visible)}
        SELECT CASE WHEN case_state = 'active' THEN COALESCE(stage, 'closed') ELSE case_state END AS stage,
               min(position) AS position, count(*) AS cases,
               count(*) FILTER (WHERE stage_state = 'open') AS open,
               count(*) FILTER (WHERE stage_state = 'submitted') AS submitted,
               count(*) FILTER (WHERE stage_state = 'returned') AS returned
        FROM cur GROUP BY 1 ORDER BY min(position) NULLS LAST, 1""", {**params, "p": project["id"]})
    for r in rows:
        r.pop("position")
        r["name_zh"] = names.get(r["stage"], r["stage"])
    return rows


def by_village(conn: Connection, project: dict, user: User | None) -> list[dict]:
    """Per village: cases, closed, published (the publication stage reached), money agreed and paid."""
    visible, params = _visible(user)
    return _rows(conn, f"""
        WITH {_CURRENT.format(visible=visible)}, {_MONEY}
        SELECT COALESCE(h.village_code, '') AS village_code, COALESCE(v.name, h.village_code, '（不在名册）')
               AS village_name, count(*) AS cases, count(*) FILTER (WHERE cur.case_state = 'closed') AS closed,
               count(*) FILTER (WHERE EXISTS (SELECT 1 FROM case_stage ps WHERE ps.case_id = cur.id
                                              AND ps.code = 'publication' AND ps.state <> 'locked')) AS published,
               COALESCE(sum(money.agreed), 0) AS agreed_yuan, COALESCE(sum(money.paid), 0) AS paid_yuan
        FROM cur JOIN money ON money.id = cur.id
        LEFT JOIN household h ON h.project_id = :p AND h.household_no = cur.household_no
        LEFT JOIN admin_unit v ON v.project_id = :p AND v.level = 'village' AND v.code = h.village_code
        WHERE cur.case_state <> 'withdrawn'
        GROUP BY 1, 2 ORDER BY 1""", {**params, "p": project["id"]})


def by_staff(conn: Connection, project: dict, user: User | None, today: dt.date) -> list[dict]:
    """Per assignee of the current stage of active cases: cases, submitted (awaiting review), overdue."""
    visible, params = _visible(user)
    return _rows(conn, f"""
        WITH {_CURRENT.format(visible=visible)}
        SELECT u.username, u.name, u.role, count(*) AS cases,
               count(*) FILTER (WHERE cur.stage_state = 'submitted') AS submitted,
               count(*) FILTER (WHERE cur.due_on < :today) AS overdue
        FROM cur LEFT JOIN app_user u ON u.id = cur.assignee_user_id
        WHERE cur.case_state = 'active' AND cur.stage IS NOT NULL
        GROUP BY u.id, u.username, u.name, u.role ORDER BY u.username NULLS LAST""",
                 {**params, "p": project["id"], "today": today})


def by_case_type(conn: Connection, project: dict, user: User | None) -> list[dict]:
    """Per case type: cases, active, closed, withdrawn."""
    visible, params = _visible(user)
    rows = _rows(conn, f"""
        SELECT cf.case_type, count(*) AS cases, count(*) FILTER (WHERE cf.state = 'active') AS active,
               count(*) FILTER (WHERE cf.state = 'closed') AS closed,
               count(*) FILTER (WHERE cf.state = 'withdrawn') AS withdrawn
        FROM case_file cf WHERE cf.project_id = :p AND {visible} GROUP BY cf.case_type ORDER BY cf.case_type""",
                 {**params, "p": project["id"]})
    for r in rows:
        r["name_zh"] = CASE_TYPE_ZH.get(r["case_type"], r["case_type"])
    return rows


def overdue(conn: Connection, project: dict, user: User | None, today: dt.date,
            limit: int = OVERDUE_LIMIT) -> tuple[int, list[dict]]:
    """The stages past their time limit (open, submitted or returned, ``due_on`` before ``today``): how many,
    and the ``limit`` most overdue with household, stage, assignee, due date and days overdue."""
    visible, params = _visible(user)
    names = stage_names(project)
    rows = _rows(conn, f"""
        SELECT cf.household_no, s.code AS stage, s.state, u.username AS assignee, s.due_on,
               CAST(:today AS date) - s.due_on AS days_overdue, count(*) OVER () AS total
        FROM case_file cf JOIN case_stage s ON s.case_id = cf.id
        LEFT JOIN app_user u ON u.id = s.assignee_user_id
        WHERE cf.project_id = :p AND cf.state = 'active' AND {visible}
          AND s.state IN ('open', 'submitted', 'returned') AND s.due_on < :today
        ORDER BY s.due_on, cf.household_no LIMIT :limit""",
                 {**params, "p": project["id"], "today": today, "limit": limit})
    total = int(rows[0]["total"]) if rows else 0
    for r in rows:
        r.pop("total")
        r["name_zh"] = names.get(r["stage"], r["stage"])
    return total, rows


def completeness(conn: Connection, project: dict, user: User | None) -> dict:
    """The mandatory archive of the stages the visible cases have reached: per stage and overall, required
    (sum of ``min_count``), present (captures counted up to ``min_count``), items and cases complete."""
    visible, params = _visible(user)
    names = stage_names(project)
    rows = _rows(conn, f"""
        WITH vc AS (SELECT cf.id, cf.case_type FROM case_file cf
                    WHERE cf.project_id = :p AND cf.state <> 'withdrawn' AND {visible}),
        req AS (SELECT * FROM unnest(CAST(:rt AS text[]), CAST(:rs AS text[]), CAST(:rpos AS int[]),
                                     CAST(:ri AS text[]), CAST(:rmin AS int[]))
                AS r(case_type, stage_code, position, item_code, min_count)),
        stage_req AS (SELECT case_type, stage_code, min(position) AS position, sum(min_count) AS required,
                             count(*) AS items_required FROM req GROUP BY case_type, stage_code),
        reached AS (SELECT vc.id AS case_id, vc.case_type, s.code AS stage_code FROM vc
                    JOIN case_stage s ON s.case_id = vc.id WHERE s.state <> 'locked'),
        have AS (      -- per case and stage, from its captures alone: items counted up to min_count
            SELECT cc.case_id, req.stage_code, sum(LEAST(cc.n, req.min_count)) AS present,
                   count(*) FILTER (WHERE cc.n >= req.min_count) AS items_complete
            FROM (SELECT cc.case_id, cc.stage_code, cc.item_code, count(*) AS n FROM case_capture cc
                  JOIN vc ON vc.id = cc.case_id GROUP BY 1, 2, 3) cc
            JOIN vc ON vc.id = cc.case_id
            JOIN req ON req.case_type = vc.case_type AND req.stage_code = cc.stage_code AND req.item_code = cc.item_code
            GROUP BY cc.case_id, req.stage_code),
        per_case AS (
            SELECT sr.stage_code, sr.position, reached.case_id, sr.required, COALESCE(have.present, 0) AS present,
                   sr.items_required, COALESCE(have.items_complete, 0) AS items_complete
            FROM reached JOIN stage_req sr ON sr.case_type = reached.case_type AND sr.stage_code = reached.stage_code
            LEFT JOIN have ON have.case_id = reached.case_id AND have.stage_code = reached.stage_code)
        SELECT stage_code AS stage, min(position) AS position, count(*) AS cases,
               sum(required) AS required, sum(present) AS present, sum(items_required) AS items_required,
               sum(items_complete) AS items_complete,
               count(*) FILTER (WHERE items_complete = items_required) AS cases_complete
        FROM per_case GROUP BY stage_code ORDER BY min(position), stage_code""",
                 {**params, "p": project["id"], **_required_items(project)})
    stages = []
    for r in rows:
        r.pop("position")
        code = str(r.pop("stage"))
        stage: dict[str, Any] = {"stage": code, "name_zh": names.get(code, code),
                                 **{k: int(v) for k, v in r.items()}}
        stage["ratio"] = (stage["present"] / stage["required"]) if stage["required"] else 1.0
        stages.append(stage)
    required = sum(s["required"] for s in stages)
    present = sum(s["present"] for s in stages)
    overall = {"required": required, "present": present,
               "items_required": sum(s["items_required"] for s in stages),
               "items_complete": sum(s["items_complete"] for s in stages),
               "ratio": (present / required) if required else 1.0}
    return {"stages": stages, "overall": overall}


def project_progress(conn: Connection, project: dict, user: User | None, *,
                     overdue_limit: int = OVERDUE_LIMIT) -> dict:
    """Every figure of the project's progress as ``user`` may see it (ProgressForbiddenError for roles that
    may not): totals, by stage, village, staff and case type, overdue stages, archive completeness, money."""
    if not may_see_progress(user):
        raise ProgressForbiddenError("您的角色无权查看进度统计 / your role may not see the progress figures")
    # JIT compiling these statements costs seconds and buys nothing (as in supervision.models.prepare_check)
    conn.execute(text("SET LOCAL jit = off"))
    today = china_today()
    villages = by_village(conn, project, user)
    types = by_case_type(conn, project, user)
    late_total, late = overdue(conn, project, user, today, overdue_limit)
    agreed = sum((Decimal(v["agreed_yuan"]) for v in villages), Decimal("0"))
    paid = sum((Decimal(v["paid_yuan"]) for v in villages), Decimal("0"))
    for v in villages:
        v["unpaid_yuan"] = Decimal(v["agreed_yuan"]) - Decimal(v["paid_yuan"])
    totals: dict[str, Any] = {
        "cases": sum(t["cases"] for t in types), "active": sum(t["active"] for t in types),
        "closed": sum(t["closed"] for t in types), "withdrawn": sum(t["withdrawn"] for t in types),
        "published": sum(v["published"] for v in villages), "overdue_stages": late_total}
    return {"project_code": project["code"], "project_name": project["name"], "as_of": today,
            "scope": "all" if user is None or user.role not in policy.ASSIGNED_ONLY_ROLES else "assigned",
            "totals": totals, "by_stage": by_stage(conn, project, user), "by_village": villages,
            "by_staff": by_staff(conn, project, user, today), "by_case_type": types,
            "overdue": late, "completeness": completeness(conn, project, user),
            "money": {"agreed_yuan": agreed, "paid_yuan": paid, "unpaid_yuan": agreed - paid}}
