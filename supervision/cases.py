"""Cases and their stages: opened by the import, worked in a fixed order, closed only with a full archive.

A case is one household's expropriation in one project (DATA_FORMATS §5). Its stages come from the case
type's definition (``supervision.casetypes``, overridable per project); only the first stage that is not
approved is open. This module holds every rule of the workflow; the API routes call it and never decide
anything themselves. Who may see or act is asked of ``supervision.policy``.

Every act appends to the audit trail in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select, text
from sqlalchemy.orm import Session

from supervision import audit, casetypes, policy
from supervision.accounts import User
from supervision.casetypes import CaseType, CaseTypeError
from supervision.errors import SupervisionError
from supervision.identity import china_today
from supervision.orm import Capture, Case, QuantityLine, Reassignment, Review, Stage

#: Defaults of project.toml ``[cases]``.
DEFAULT_CASE_CONFIG: dict[str, Any] = {
    "accuracy_limit_m": 20.0,       # a capture's reported position accuracy must be at least this good
    "capture_max_mb": 2048,         # the largest capture accepted (videos)
}
CASE_CONFIG_KEYS = frozenset(DEFAULT_CASE_CONFIG)
#: The case type a household gets from its claims: the first of these that any claim has.
CASE_TYPE_PRIORITY = ("enterprise", "residential", "farmland")
#: Item kinds whose captures must carry a position (taken on site).
POSITIONED_KINDS = frozenset({"photo", "video", "signature"})
OPEN_STATES = ("open", "returned")


class CaseError(SupervisionError):
    """A case request that cannot be carried out; the message is bilingual."""


class CaseNotFoundError(CaseError, LookupError):
    """No such case, stage or item."""


class CaseForbiddenError(CaseError, PermissionError):
    """The caller may not do this to this case (not assigned, own work, wrong role)."""


class CaseConflictError(CaseError):
    """The request contradicts the case's state: stage not open, items missing, other bytes for a UUID."""

    def __init__(self, message: str, *, missing: list[str] | None = None) -> None:
        super().__init__(message)
        self.missing = missing


class CaseRefusedError(CaseError, ValueError):
    """The request is malformed or its content is refused (position, accuracy, kind, document number)."""


# --- configuration -------------------------------------------------------------------------------------------

DISCLOSURE_KEYS = frozenset({"office_address", "office_phone", "office_name"})


def validate_case_config(cases: Any, casetype_overrides: Any, disclosure: Any = None) -> dict:
    """The stored ``case_config`` of a project from project.toml's ``[cases]``, ``[casetypes]`` and
    ``[disclosure]`` (the complaints office shown on the public pages); CaseTypeError naming a wrong key."""
    disclosure = disclosure or {}
    if not isinstance(disclosure, dict) or not all(isinstance(v, str) for v in disclosure.values()):
        raise CaseTypeError("project.toml [disclosure] 必须是文字字段的表 / must be a table of text fields")
    unknown_disclosure = sorted(set(disclosure) - DISCLOSURE_KEYS)
    if unknown_disclosure:
        raise CaseTypeError(f"project.toml [disclosure]: 未知字段 / unknown key(s) {', '.join(unknown_disclosure)}; "
                            "allowed: " + ", ".join(sorted(DISCLOSURE_KEYS)))
    cases = cases or {}
    if not isinstance(cases, dict):
        raise CaseTypeError("project.toml [cases] 必须是表 / must be a table")
    unknown = sorted(set(cases) - CASE_CONFIG_KEYS)
    if unknown:
        raise CaseTypeError(f"project.toml [cases]: 未知字段 / unknown key(s) {', '.join(unknown)}; allowed: "
                            + ", ".join(sorted(CASE_CONFIG_KEYS)))
    for key, value in cases.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise CaseTypeError(f"project.toml [cases] {key}: 必须为正数 / must be a positive number")
    overrides = casetype_overrides or {}
    if not isinstance(overrides, dict):
        raise CaseTypeError("project.toml [casetypes] 必须是表 / must be a table")
    for case_type in overrides:
        if case_type not in casetypes.CASE_TYPES:
            raise CaseTypeError(f"project.toml [casetypes.{case_type}]: 未知征收类型 / unknown case type; types: "
                                + ", ".join(casetypes.CASE_TYPES))
        casetypes.for_project(case_type, overrides)
    out: dict[str, Any] = {**{k: float(v) for k, v in cases.items()}, "casetypes": overrides}
    if disclosure:
        out["disclosure"] = dict(disclosure)
    return out


def case_config(project: dict) -> dict:
    """The project's case settings with the defaults filled in."""
    stored = project.get("case_config") or {}
    return {**DEFAULT_CASE_CONFIG, **{k: v for k, v in stored.items() if k not in ("casetypes", "disclosure")},
            "casetypes": stored.get("casetypes") or {}, "disclosure": stored.get("disclosure") or {}}


def definition(project: dict, case_type: str) -> CaseType:
    """The case type as the project uses it."""
    return casetypes.for_project(case_type, case_config(project)["casetypes"])


# --- opening cases (set-based, by the import) -----------------------------------------------------------------

def open_cases(conn: Connection, project: dict) -> dict[str, int]:
    """Open a case for every household of the project that has none; keep every existing case's progress.

    Cases of households the package no longer has are marked ``withdrawn`` (and reopened if they come
    back). Stages without an assignee get one: the household's assignment for that stage, else one of
    its assignees with the stage's role, else (supervisor stages) that assignee's supervisor, else the
    first project staff member with the role. Returns counts: opened, withdrawn, stages assigned.
    """
    pid = project["id"]
    defs = [definition(project, t) for t in casetypes.CASE_TYPES]
    today = china_today()
    opened = conn.execute(text("""
        WITH ht AS (
            SELECT h.household_no,
                   COALESCE((SELECT c.case_type FROM claim c WHERE c.household_id = h.id
                             ORDER BY array_position(CAST(:priority AS text[]), c.case_type) LIMIT 1),
                            'residential') AS case_type
            FROM household h WHERE h.project_id = :p),
        v AS (SELECT * FROM unnest(CAST(:types AS text[]), CAST(:versions AS text[])) AS v(case_type, version)),
        up AS (
            INSERT INTO case_file AS cf (project_id, household_no, case_type, casetype_version)
            SELECT :p, ht.household_no, ht.case_type, v.version FROM ht JOIN v USING (case_type)
            ON CONFLICT (project_id, household_no) DO UPDATE SET state = 'active'
                WHERE cf.state = 'withdrawn'
            RETURNING (xmax = 0) AS inserted)
        SELECT count(*) FILTER (WHERE inserted) FROM up"""),
        {"p": pid, "priority": list(CASE_TYPE_PRIORITY), "types": [d.case_type for d in defs],
         "versions": [d.version for d in defs]}).scalar_one()
    withdrawn = conn.execute(text("""
        UPDATE case_file cf SET state = 'withdrawn'
        WHERE cf.project_id = :p AND cf.state = 'active'
          AND NOT EXISTS (SELECT 1 FROM household h WHERE h.project_id = :p AND h.household_no = cf.household_no)"""),
        {"p": pid}).rowcount
    # the statements below join what was just written: give the planner its statistics first (else, on a
    # first import, it plans the assignment UPDATE for empty tables: nested loops, minutes at 10,000 cases)
    conn.exec_driver_sql("ANALYZE case_file")
    rows = [(d.case_type, n, s.code, s.role, s.time_limit_days) for d in defs for n, s in enumerate(d.stages, 1)]
    conn.execute(text("""
        INSERT INTO case_stage (case_id, position, code, role, time_limit_days, state, opened_on, due_on)
        SELECT cf.id, d.position, d.code, d.role, d.time_limit_days,
               CASE WHEN d.position = 1 THEN 'open' ELSE 'locked' END,
               CASE WHEN d.position = 1 THEN CAST(:today AS date) END,
               CASE WHEN d.position = 1 THEN CAST(:today AS date) + d.time_limit_days END
        FROM case_file cf
        JOIN unnest(CAST(:types AS text[]), CAST(:positions AS int[]), CAST(:codes AS text[]),
                    CAST(:roles AS text[]), CAST(:limits AS int[]))
             AS d(case_type, position, code, role, time_limit_days) ON d.case_type = cf.case_type
        WHERE cf.project_id = :p AND NOT EXISTS (SELECT 1 FROM case_stage s WHERE s.case_id = cf.id)"""),
        {"p": pid, "today": today, "types": [r[0] for r in rows], "positions": [r[1] for r in rows],
         "codes": [r[2] for r in rows], "roles": [r[3] for r in rows], "limits": [r[4] for r in rows]})
    conn.exec_driver_sql("ANALYZE case_stage")
    conn.execute(text("""
        UPDATE case_file cf SET extent = x.geom
        FROM (SELECT household_no, ST_Multi(ST_Union(geom)) AS geom FROM parcel
              WHERE project_id = :p AND household_no IS NOT NULL GROUP BY household_no) x
        WHERE cf.project_id = :p AND cf.household_no = x.household_no"""), {"p": pid})
    assigned = conn.execute(text("""
        WITH names AS (SELECT DISTINCT * FROM unnest(CAST(:names AS text[]), CAST(:name_codes AS text[]))
                       AS n(name, code)),
        ha AS (      -- an assignment names its stage by code or by its Chinese name (DATA_FORMATS §1)
            SELECT h.household_no, COALESCE(nm.code, a.stage) AS stage, a.user_id, u.role, a.id FROM assignment a
            JOIN household h ON h.id = a.household_id JOIN app_user u ON u.id = a.user_id
            LEFT JOIN names nm ON nm.name = a.stage
            WHERE a.project_id = :p AND u.active),
        by_code AS (SELECT DISTINCT ON (household_no, stage) household_no, stage, user_id FROM ha
                    ORDER BY household_no, stage, id),
        by_role AS (SELECT DISTINCT ON (household_no, role) household_no, role, user_id FROM ha
                    ORDER BY household_no, role, id),
        sup AS (SELECT DISTINCT ON (ha.household_no) ha.household_no, ps.supervisor_user_id AS user_id FROM ha
                JOIN project_staff ps ON ps.project_id = :p AND ps.user_id = ha.user_id
                JOIN app_user su ON su.id = ps.supervisor_user_id AND su.active AND su.role = 'supervisor'
                ORDER BY ha.household_no, ha.id),
        any_role AS (SELECT DISTINCT ON (u.role) u.role, u.id AS user_id FROM project_staff ps
                     JOIN app_user u ON u.id = ps.user_id WHERE ps.project_id = :p AND u.active
                     ORDER BY u.role, u.username),
        pick AS (
            SELECT s.id, COALESCE(bc.user_id, br.user_id, CASE WHEN s.role = 'supervisor' THEN sup.user_id END,
                                  ar.user_id) AS user_id
            FROM case_stage s JOIN case_file cf ON cf.id = s.case_id
            LEFT JOIN by_code bc ON bc.household_no = cf.household_no AND bc.stage = s.code
            LEFT JOIN by_role br ON br.household_no = cf.household_no AND br.role = s.role
            LEFT JOIN sup ON sup.household_no = cf.household_no
            LEFT JOIN any_role ar ON ar.role = s.role
            WHERE cf.project_id = :p AND s.assignee_user_id IS NULL AND cf.state = 'active')
        UPDATE case_stage s SET assignee_user_id = pick.user_id FROM pick
        WHERE s.id = pick.id AND pick.user_id IS NOT NULL"""),
        {"p": pid, "names": [st.name_zh for d in defs for st in d.stages],
         "name_codes": [st.code for d in defs for st in d.stages]}).rowcount
    conn.exec_driver_sql("ANALYZE case_stage")
    return {"opened": int(opened), "withdrawn": int(withdrawn), "stages_assigned": int(assigned)}


def restore_api_payments(conn: Connection, project_id: int) -> int:
    """Write the payments recorded through the API back into ``payment`` after a re-import replaced it."""
    return conn.execute(text("""
        INSERT INTO payment (project_id, payment_id, household_id, household_no, payee_id_number, payee_name,
                             amount_yuan, paid_on, agreement_no)
        SELECT cf.project_id, cp.payment_id, h.id, cf.household_no, cp.payee_id_number, cp.payee_name,
               cp.amount_yuan, cp.paid_on, cp.agreement_no
        FROM case_payment cp JOIN case_file cf ON cf.id = cp.case_id
        JOIN household h ON h.project_id = cf.project_id AND h.household_no = cf.household_no
        WHERE cf.project_id = :p
          AND NOT EXISTS (SELECT 1 FROM payment p WHERE p.project_id = :p AND p.payment_id = cp.payment_id)"""),
        {"p": project_id}).rowcount


# --- reading ---------------------------------------------------------------------------------------------------

def session_for(conn: Connection) -> Session:
    """An ORM session on ``conn``'s transaction (the caller commits or rolls back the connection)."""
    return Session(bind=conn, join_transaction_mode="create_savepoint", autoflush=True, expire_on_commit=False)


def list_cases(conn: Connection, project: dict, user: User, *, stage: str | None = None,
               state: str | None = None, limit: int = 1000, offset: int = 0) -> list[dict]:
    """The cases ``user`` may see: household_no, case_type, current_stage, state, assignee (set-based)."""
    visible, params = policy.case_visible_sql(user, "cf")
    rows = conn.execute(text(f"""
        SELECT cf.household_no, cf.case_type,
               CASE WHEN cf.state = 'active' THEN cur.code END AS current_stage,
               CASE WHEN cf.state = 'active' THEN cur.state ELSE cf.state END AS state,
               u.username AS assignee, cur.due_on
        FROM case_file cf
        LEFT JOIN LATERAL (SELECT s.code, s.state, s.assignee_user_id, s.due_on FROM case_stage s
                           WHERE s.case_id = cf.id AND s.state <> 'approved' ORDER BY s.position LIMIT 1) cur ON true
        LEFT JOIN app_user u ON u.id = cur.assignee_user_id
        WHERE cf.project_id = :p AND {visible}
          AND (CAST(:stage AS text) IS NULL OR cur.code = :stage)
          AND (CAST(:state AS text) IS NULL OR CASE WHEN cf.state = 'active' THEN cur.state ELSE cf.state END = :state)
        ORDER BY cf.household_no LIMIT :limit OFFSET :offset"""),
        {**params, "p": project["id"], "stage": stage, "state": state, "limit": limit, "offset": offset}).mappings()
    return [dict(r) for r in rows]


def get_case(session: Session, project: dict, household_no: str, user: User) -> Case:
    """The case of ``household_no`` (CaseNotFoundError; CaseForbiddenError when ``user`` may not see it)."""
    case = session.scalars(select(Case).where(Case.project_id == project["id"],
                                              Case.household_no == household_no)).one_or_none()
    if case is None:
        raise CaseNotFoundError(f"项目 {project['code']} 无户号 {household_no} 的案件 / no case {household_no} "
                                f"in project {project['code']}")
    if not policy.can_see_case(session.connection(), user, case.id):
        raise CaseForbiddenError(f"您未被分派户号 {household_no} 的案件 / case {household_no} is not assigned to you")
    return case


def _stage(case: Case, code: str) -> Stage:
    for s in case.stages:
        if s.code == code:
            return s
    raise CaseNotFoundError(f"案件 {case.household_no} 无环节 {code} / the case has no stage {code!r}; stages: "
                            + ", ".join(s.code for s in case.stages))


def item_counts(session: Session, case: Case) -> dict[tuple[str, str], int]:
    """How many captures the case has per (stage, item)."""
    rows = session.execute(select(Capture.stage_code, Capture.item_code, func.count())
                           .where(Capture.case_id == case.id).group_by(Capture.stage_code, Capture.item_code))
    return {(s, i): int(n) for s, i, n in rows}


def usernames(session: Session, ids: set[int | None]) -> dict[int, str]:
    """Usernames of the given user ids."""
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = session.execute(text("SELECT id, username FROM app_user WHERE id = ANY(:ids)"), {"ids": wanted})
    return {int(i): str(u) for i, u in rows}


def missing_items(ct: CaseType, stage_code: str, counts: dict[tuple[str, str], int]) -> list[str]:
    """The mandatory item codes of a stage that have fewer captures than their ``min_count``."""
    return [i.code for i in ct.stage(stage_code).mandatory_items() if counts.get((stage_code, i.code), 0) < i.min_count]


def case_detail(session: Session, project: dict, case: Case) -> dict:
    """The case with its stages and, per stage, its archive items with their counts (DATA_FORMATS §5)."""
    ct = definition(project, case.case_type)
    counts = item_counts(session, case)
    names = usernames(session, {s.assignee_user_id for s in case.stages})
    current = next((s for s in case.stages if s.state != "approved"), None)
    stages = []
    for s in case.stages:
        try:
            defined = ct.stage(s.code)
        except CaseTypeError:           # a stage the project's definition no longer has: shown without items
            defined = None
        stages.append({
            "code": s.code, "name_zh": defined.name_zh if defined else s.code,
            "name_en": defined.name_en if defined else s.code, "position": s.position, "role": s.role,
            "state": s.state, "assignee": names.get(s.assignee_user_id) if s.assignee_user_id else None,
            "time_limit_days": s.time_limit_days, "opened_on": s.opened_on, "due_on": s.due_on,
            "overdue": bool(s.due_on and s.state != "approved" and s.due_on < china_today()),
            "items": [{"code": i.code, "name_zh": i.name_zh, "name_en": i.name_en, "kind": i.kind,
                       "mandatory": i.mandatory, "min_count": i.min_count,
                       "count": counts.get((s.code, i.code), 0)} for i in (defined.items if defined else ())],
        })
    return {"project_code": project["code"], "household_no": case.household_no, "case_type": case.case_type,
            "casetype_version": case.casetype_version,
            "state": case.state if case.state != "active" or current is None else current.state,
            "current_stage": current.code if current is not None and case.state == "active" else None,
            "accuracy_limit_m": float(case_config(project)["accuracy_limit_m"]), "stages": stages}


# --- acting on stages -------------------------------------------------------------------------------------------

def _refuse_if(refusal: policy.Refusal | None) -> None:
    if refusal is not None:
        raise CaseForbiddenError(refusal.message)


def _require_open(stage: Stage) -> None:
    if stage.state not in OPEN_STATES:
        raise CaseConflictError(f"环节 {stage.code} 当前状态为 {stage.state}，不可操作 / stage {stage.code} is "
                                f"{stage.state}, not open")


def submit_stage(session: Session, project: dict, case: Case, stage_code: str, user: User) -> Stage:
    """Submit an open stage for review (CaseConflictError with ``missing`` when its archive is incomplete)."""
    stage = _stage(case, stage_code)
    _refuse_if(policy.stage_work_refusal(session.connection(), user, case, stage))
    _require_open(stage)
    ct = definition(project, case.case_type)
    missing = missing_items(ct, stage_code, item_counts(session, case))
    if stage_code == "quantity" and not case.quantities and not _has_claims(session, project, case):
        missing.append("quantity_record")
    if missing:
        raise CaseConflictError(f"环节 {stage_code} 缺少必填档案 / stage {stage_code} is missing mandatory items: "
                                + ", ".join(missing), missing=missing)
    stage.state = "submitted"
    stage.submitted_at = dt.datetime.now(dt.UTC)
    stage.submitted_by = user.id
    session.flush()
    audit.append(session.connection(), actor=user.username, action="stage.submit", object_type="case_stage",
                 object_key=f"{project['code']}/{case.household_no}/{stage_code}", result="submitted")
    return stage


def _has_claims(session: Session, project: dict, case: Case) -> bool:
    return bool(session.execute(text("SELECT EXISTS (SELECT 1 FROM claim WHERE project_id = :p AND household_no = :h)"),
                                {"p": project["id"], "h": case.household_no}).scalar())


def review_stage(session: Session, project: dict, case: Case, stage_code: str, user: User, *, decision: str,
                 opinion: str) -> Stage:
    """A supervisor approves (the next stage opens) or returns (with an opinion) a submitted stage."""
    stage = _stage(case, stage_code)
    if decision not in ("approve", "return"):
        raise CaseRefusedError("decision 必须为 approve 或 return / decision must be approve or return")
    opinion = (opinion or "").strip()
    if decision == "return" and not opinion:
        raise CaseRefusedError("退回须填写意见 / a return needs an opinion")
    _refuse_if(policy.stage_review_refusal(session.connection(), user, case, stage))
    if stage.state != "submitted":
        raise CaseConflictError(f"环节 {stage_code} 当前状态为 {stage.state}，未提交审核 / stage {stage_code} is "
                                f"{stage.state}, not submitted")
    now = dt.datetime.now(dt.UTC)
    stage.state = "approved" if decision == "approve" else "returned"
    stage.decided_at, stage.decided_by = now, user.id
    session.add(Review(case_stage_id=stage.id, decision=decision, opinion=opinion or "同意 / approved",
                       reviewer_user_id=user.id))
    if decision == "approve":
        following = [s for s in case.stages if s.position > stage.position]
        if following:
            nxt = following[0]
            today = china_today()
            nxt.state, nxt.opened_on = "open", today
            nxt.due_on = today + dt.timedelta(days=nxt.time_limit_days)
        else:
            case.state, case.closed_at = "closed", now
    session.flush()
    audit.append(session.connection(), actor=user.username, action=f"stage.{decision}", object_type="case_stage",
                 object_key=f"{project['code']}/{case.household_no}/{stage_code}", opinion=opinion or None,
                 result=stage.state)
    return stage


def reassign_stage(session: Session, project: dict, case: Case, stage_code: str, user: User, *, username: str,
                   reason: str) -> Stage:
    """Hand a stage that is not approved to another active staff member (supervisors and admins), recorded."""
    stage = _stage(case, stage_code)
    if user.role not in policy.REASSIGN_ROLES:
        raise CaseForbiddenError("只有监督员或管理员可以改派 / only supervisors and admins reassign stages")
    if stage.state == "approved":
        raise CaseConflictError(f"环节 {stage_code} 已审核通过，不能改派 / stage {stage_code} is approved")
    row = session.execute(text("SELECT id, role, active FROM app_user WHERE username = :u"),
                          {"u": username}).mappings().one_or_none()
    if row is None or not row["active"]:
        raise CaseRefusedError(f"没有在职人员 {username} / no active staff member {username!r}")
    if row["role"] not in (stage.role, "admin") and not (stage.role == "field_crew" and row["role"] == "supervisor"):
        raise CaseRefusedError(f"{username} 的角色 {row['role']} 不能承办环节 {stage_code}（需 {stage.role}）/ "
                               f"{username} ({row['role']}) cannot work stage {stage_code} (needs {stage.role})")
    session.add(Reassignment(case_stage_id=stage.id, from_user_id=stage.assignee_user_id, to_user_id=row["id"],
                             changed_by=user.id, reason=reason or ""))
    before = usernames(session, {stage.assignee_user_id}).get(stage.assignee_user_id or -1)
    stage.assignee_user_id = int(row["id"])
    session.flush()
    audit.append(session.connection(), actor=user.username, action="stage.reassign", object_type="case_stage",
                 object_key=f"{project['code']}/{case.household_no}/{stage_code}", opinion=reason or None,
                 details={"from": before, "to": username}, result="reassigned")
    return stage


# --- captures ---------------------------------------------------------------------------------------------------

@dataclass
class CaptureRequest:
    """The fields of a capture upload (DATA_FORMATS §5), as sent."""

    capture_uuid: str
    stage: str
    item_code: str
    taken_at: str | None = None
    lon: str | None = None
    lat: str | None = None
    accuracy_m: str | None = None
    document_no: str | None = None
    file_name: str = "capture"


@dataclass
class CaptureOutcome:
    """What storing a capture did: ``created`` (201) or resent (200), and the capture."""

    capture: Capture
    created: bool
    notes: list[str] = field(default_factory=list)


def _number(value: str | None, what: str, low: float, high: float) -> float | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        number = float(value)
    except ValueError:
        raise CaseRefusedError(f"{what} 不是数字 / {what} is not a number: {value!r}") from None
    if not low <= number <= high:
        raise CaseRefusedError(f"{what} 超出范围 / {what} is out of range [{low}, {high}]: {value}")
    return number


def _timestamp(value: str | None) -> dt.datetime | None:
    if value is None or not value.strip():
        return None
    try:
        stamp = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CaseRefusedError(f"taken_at 不是 ISO 8601 时间 / taken_at is not an ISO 8601 time: {value!r}") from None
    if stamp.tzinfo is None:                 # a tablet's local time in China
        stamp = stamp.replace(tzinfo=dt.timezone(dt.timedelta(hours=8)))
    return stamp


def parse_uuid(value: str) -> uuid.UUID:
    """The client's capture UUID (CaseRefusedError when it is not one)."""
    try:
        return uuid.UUID(str(value).strip())
    except ValueError:
        raise CaseRefusedError(f"capture_uuid 不是 UUID / capture_uuid is not a UUID: {value!r}") from None


@dataclass
class CheckedRequest:
    """A capture request that passed every check but the file's content."""

    capture_id: uuid.UUID
    stage: Stage
    item: Any
    lon: float | None
    lat: float | None
    accuracy_m: float | None
    taken_at: dt.datetime | None
    document_no: str | None


def check_capture_request(session: Session, project: dict, case: Case, user: User, req: CaptureRequest,
                          *, resent_ok: bool = False) -> CheckedRequest:
    """Every check of a capture that needs no file: who, which stage and item, position, accuracy, time and
    the number of the document a signed scan stands for (raises the refusal)."""
    capture_id = parse_uuid(req.capture_uuid)
    stage = _stage(case, req.stage)
    _refuse_if(policy.stage_work_refusal(session.connection(), user, case, stage))
    ct = definition(project, case.case_type)
    try:
        item_stage, item = ct.item(req.item_code)
    except CaseTypeError as exc:
        raise CaseRefusedError(str(exc)) from None
    if item_stage.code != stage.code:
        raise CaseRefusedError(f"档案项 {item.code} 属于环节 {item_stage.code}，不属于 {stage.code} / item {item.code} "
                               f"belongs to stage {item_stage.code}, not {stage.code}")
    if stage.state not in OPEN_STATES and not resent_ok:
        raise CaseRefusedError(f"环节 {stage.code} 未开放（{stage.state}）/ stage {stage.code} is not open "
                               f"({stage.state})")
    lon = _number(req.lon, "lon", -180, 180)
    lat = _number(req.lat, "lat", -90, 90)
    accuracy = _number(req.accuracy_m, "accuracy_m", 0, 1e7)
    config = case_config(project)
    if (lon is None) != (lat is None):
        raise CaseRefusedError("lon 与 lat 须同时提供 / give both lon and lat")
    if item.kind in POSITIONED_KINDS and lon is None:
        raise CaseRefusedError(f"{item.name_zh}须带拍摄位置 / a {item.kind} needs its position (lon, lat)")
    if lon is not None:
        if accuracy is None:
            raise CaseRefusedError("缺少定位精度 accuracy_m / accuracy_m is missing")
        if accuracy > config["accuracy_limit_m"]:
            raise CaseRefusedError(f"定位精度 {accuracy:g} 米，差于项目限值 {config['accuracy_limit_m']:g} 米 / "
                                   f"position accuracy {accuracy:g} m is worse than the project's limit of "
                                   f"{config['accuracy_limit_m']:g} m")
    taken_at = _timestamp(req.taken_at)
    document_no = (req.document_no or "").strip() or None
    if item.document is not None:
        expected = current_document_no(session, case, item.document)
        if expected is None:
            raise CaseRefusedError(f"尚未生成{item.name_zh}对应的文书 / no {item.document} has been generated yet")
        if document_no != expected:
            raise CaseRefusedError(f"签字扫描件的文书编号 {document_no or '（未填）'} 与生成的 {expected} 不符 / the "
                                   f"scan's document number {document_no!r} does not match {expected}")
    return CheckedRequest(capture_id, stage, item, lon, lat, accuracy, taken_at, document_no)


def capture_limit_bytes(project: dict) -> int:
    """The largest capture the project accepts."""
    return int(case_config(project)["capture_max_mb"] * 1024**2)


def store_capture(session: Session, project: dict, case: Case, user: User, req: CaptureRequest, upload: Path,
                  store_dir: Path) -> CaptureOutcome:
    """Check and store one capture; idempotent on ``capture_uuid`` (same bytes: the stored one, other bytes: 409)."""
    from gis_core.files import sha256_file

    from supervision import exif as exif_reader
    from supervision import uploads

    capture_id = parse_uuid(req.capture_uuid)
    stage = _stage(case, req.stage)
    _refuse_if(policy.stage_work_refusal(session.connection(), user, case, stage))
    digest = sha256_file(upload)
    existing = session.scalars(select(Capture).where(Capture.capture_uuid == capture_id)).one_or_none()
    if existing is not None:
        if existing.sha256 == digest and existing.case_id == case.id:
            return CaptureOutcome(existing, created=False)
        raise CaseConflictError(f"capture_uuid {capture_id} 已用于另一文件 / capture_uuid {capture_id} was already "
                                "stored with other bytes")
    ok = check_capture_request(session, project, case, user, req)
    item, lon, lat, accuracy, taken_at, document_no = ok.item, ok.lon, ok.lat, ok.accuracy_m, ok.taken_at, ok.document_no
    allowed = uploads.KIND_MEDIA_TYPES[item.kind]
    try:
        checked = uploads.check_file(upload, allowed=allowed, max_bytes=capture_limit_bytes(project),
                                     file_name=req.file_name)
    except uploads.UploadTooLargeError:
        raise
    except uploads.UploadError as exc:
        raise CaseRefusedError(f"{exc}（档案项 {item.code} 为{item.kind}）/ item {item.code} is a {item.kind}") from None
    meta = exif_reader.read(upload, checked.media_type)
    target_dir = store_dir / project["code"] / case.household_no
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{capture_id}{uploads.SUFFIX.get(checked.media_type, '')}"
    shutil.copyfile(upload, target)
    from geoalchemy2 import WKTElement

    capture = Capture(case_id=case.id, capture_uuid=capture_id, stage_code=stage.code, item_code=item.code,
                      kind=item.kind, media_type=checked.media_type, size_bytes=checked.size_bytes,
                      sha256=checked.sha256, file_path=str(target), file_name=req.file_name, taken_at=taken_at,
                      lon=lon, lat=lat, accuracy_m=accuracy,
                      position=WKTElement(f"POINT({lon} {lat})", srid=4326) if lon is not None else None,
                      exif=meta, document_no=document_no, captured_by=user.id)
    session.add(capture)
    try:
        session.flush()
    except Exception:
        target.unlink(missing_ok=True)
        raise
    audit.append(session.connection(), actor=user.username, action="capture.store", object_type="capture",
                 object_key=str(capture_id), result="stored",
                 details={"case": f"{project['code']}/{case.household_no}", "stage": stage.code, "item": item.code,
                          "media_type": checked.media_type, "size_bytes": checked.size_bytes,
                          "lon": lon, "lat": lat, "accuracy_m": accuracy, "document_no": document_no},
                 attachments=[{"name": req.file_name, "sha256": checked.sha256}])
    return CaptureOutcome(capture, created=True)


# --- the quantity record, documents and payments -------------------------------------------------------------

def _decimal(value: Any, what: str, line: int) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise CaseRefusedError(f"第 {line} 行 {what} 不是数字 / line {line}: {what} is not a number") from None
    if not number.is_finite() or number < 0:
        raise CaseRefusedError(f"第 {line} 行 {what} 必须为非负数 / line {line}: {what} must be >= 0")
    return number


def record_quantities(session: Session, project: dict, case: Case, user: User, lines: list[dict]) -> list[QuantityLine]:
    """Replace the case's quantity record (核量) with ``lines`` while the quantity stage is open."""
    stage = _stage(case, "quantity")
    _refuse_if(policy.stage_work_refusal(session.connection(), user, case, stage))
    _require_open(stage)
    if not lines:
        raise CaseRefusedError("核量记录不能为空 / give at least one line")
    new: list[QuantityLine] = []
    for n, raw in enumerate(lines, start=1):
        quantity = _decimal(raw.get("quantity"), "quantity", n)
        price = _decimal(raw.get("unit_price_yuan"), "unit_price_yuan", n)
        given = raw.get("amount_yuan")
        amount = (quantity * price).quantize(Decimal("0.01")) if given is None else _decimal(given, "amount_yuan", n)
        if abs(quantity * price - amount) > 1:
            raise CaseRefusedError(f"第 {n} 行金额 {amount} 与数量×单价 {quantity * price:.2f} 不符（差额超过 1 元）/ "
                                   f"line {n}: amount {amount} differs from quantity × unit price by more than 1 yuan")
        kind = raw.get("item_kind", "building")
        if kind not in ("building", "land", "attachment", "crop", "business_loss"):
            raise CaseRefusedError(f"第 {n} 行 item_kind 无效 / line {n}: unknown item_kind {kind!r}")
        if kind == "building" and not raw.get("building_no"):
            raise CaseRefusedError(f"第 {n} 行房屋须有 building_no / line {n}: a building needs building_no")
        new.append(QuantityLine(line_no=n, item_kind=kind, parcel_code=raw.get("parcel_code"),
                                building_no=raw.get("building_no"), description=raw.get("description") or "",
                                structure_type=raw.get("structure_type"), storeys=raw.get("storeys"),
                                quantity=quantity, unit=raw.get("unit", "m2"), unit_price_yuan=price,
                                amount_yuan=amount, recorded_by=user.id))
    def key(q: QuantityLine) -> tuple:
        return (q.line_no, q.item_kind, q.parcel_code, q.building_no, q.description, q.structure_type, q.storeys,
                Decimal(q.quantity), q.unit, Decimal(q.unit_price_yuan), Decimal(q.amount_yuan))
    if [key(q) for q in case.quantities] == [key(q) for q in new]:
        return list(case.quantities)           # resent unchanged (a client retrying): nothing written again
    case.quantities.clear()
    session.flush()
    case.quantities.extend(new)
    session.flush()
    audit.append(session.connection(), actor=user.username, action="quantity.record", object_type="case",
                 object_key=f"{project['code']}/{case.household_no}", result="recorded",
                 details={"lines": len(new), "total_yuan": str(sum((q.amount_yuan for q in new), Decimal(0)))})
    return new


def current_document_no(session: Session, case: Case, kind: str) -> str | None:
    """The number of the latest generated document of ``kind`` for the case."""
    return session.execute(text("SELECT document_no FROM case_document WHERE case_id = :c AND kind = :k "
                                "ORDER BY id DESC LIMIT 1"), {"c": case.id, "k": kind}).scalar()


DOCUMENT_PREFIX = {"quantity_sheet": "HL", "agreement": "XY"}


def case_record(session: Session, project: dict, case: Case) -> Any:
    """The one record both documents are rendered from: the household, its parcels and the quantity record
    (the claims as registered when no quantities have been recorded yet)."""
    from supervision.documents import BuildingLine, CaseRecord, ItemLine

    conn = session.connection()
    head = conn.execute(text("""
        SELECT h.head_name, h.head_id_number, COALESCE(v.name, h.village_code) AS village_name
        FROM household h LEFT JOIN admin_unit v ON v.project_id = h.project_id AND v.level = 'village'
                                               AND v.code = h.village_code
        WHERE h.project_id = :p AND h.household_no = :h"""), {"p": project["id"], "h": case.household_no}).mappings()
    row = head.one_or_none()
    if row is None:
        raise CaseConflictError(f"户号 {case.household_no} 已不在项目中 / household {case.household_no} is no longer "
                                "in the project")
    parcels = tuple(conn.execute(text("SELECT DISTINCT parcel_code FROM parcel WHERE project_id = :p AND "
                                      "household_no = :h ORDER BY parcel_code"),
                                 {"p": project["id"], "h": case.household_no}).scalars())
    lines: list[dict[str, Any]]
    if case.quantities:
        lines = [{"item_kind": q.item_kind, "building_no": q.building_no, "parcel_code": q.parcel_code,
                  "structure_type": q.structure_type, "storeys": q.storeys, "quantity": q.quantity, "unit": q.unit,
                  "unit_price_yuan": q.unit_price_yuan, "amount_yuan": q.amount_yuan,
                  "description": q.description} for q in case.quantities]
        surveyor_id = case.quantities[0].recorded_by
    else:
        lines = [dict(r) for r in conn.execute(text("""
            SELECT c.item_kind, c.building_no, c.parcel_code, b.structure_type, b.storeys, c.quantity, c.unit,
                   c.unit_price_yuan, c.amount_yuan, c.claim_id AS description
            FROM claim c LEFT JOIN building b ON b.id = c.building_id
            WHERE c.project_id = :p AND c.household_no = :h ORDER BY c.claim_id"""),
            {"p": project["id"], "h": case.household_no}).mappings()]
        surveyor_id = next((s.assignee_user_id for s in case.stages if s.code == "survey"), None)
    surveyor = conn.execute(text("SELECT name FROM app_user WHERE id = :u"), {"u": surveyor_id}).scalar() or ""
    def building_label(ln: dict[str, Any]) -> str:
        """The building number; with the parcel's own part of its code (after the 12-digit area code) when the
        household has several parcels."""
        if len(parcels) <= 1 or not ln["parcel_code"]:
            return str(ln["building_no"])
        return f"{str(ln['parcel_code'])[12:] or ln['parcel_code']}/{ln['building_no']}"

    buildings = tuple(BuildingLine(building_no=building_label(ln), structure_type=ln["structure_type"] or "other",
                                   storeys=int(ln["storeys"] or 1), floor_area_m2=Decimal(ln["quantity"]),
                                   unit_price_yuan=Decimal(ln["unit_price_yuan"]),
                                   amount_yuan=Decimal(ln["amount_yuan"]))
                      for ln in lines if ln["item_kind"] == "building")
    items = tuple(ItemLine(item_kind=ln["item_kind"], description=str(ln["description"] or ""),
                           quantity=Decimal(ln["quantity"]), unit=ln["unit"],
                           unit_price_yuan=Decimal(ln["unit_price_yuan"]), amount_yuan=Decimal(ln["amount_yuan"]))
                  for ln in lines if ln["item_kind"] != "building")
    return CaseRecord(project_code=project["code"], project_name=project["name"], village_name=row["village_name"],
                      household_no=case.household_no, head_name=row["head_name"],
                      head_id_number=row["head_id_number"], case_type=case.case_type, parcel_codes=parcels,
                      buildings=buildings, items=items, surveyor_name=surveyor)


def record_digest(record: Any) -> str:
    """The SHA-256 of a record's canonical JSON: the same record, the same digest."""
    import dataclasses
    import hashlib

    return hashlib.sha256(audit.canonical_bytes(dataclasses.asdict(record))).hexdigest()


def document(session: Session, project: dict, case: Case, kind: str, user: User) -> tuple[str, bytes]:
    """The generated 核量单 (``quantity_sheet``) or 协议书 (``agreement``) of the case: number and PDF.

    A document is generated once per state of the record: the same record returns the stored PDF and
    number; a changed record gets the next number. Its SHA-256 is stored and audited."""
    from supervision import documents
    from supervision.orm import Document

    if kind not in DOCUMENT_PREFIX:
        raise CaseNotFoundError(f"无此文书 / no document {kind!r}")
    record = case_record(session, project, case)
    digest = record_digest(record)
    stored = session.scalars(select(Document).where(Document.case_id == case.id, Document.kind == kind,
                                                    Document.record_sha256 == digest)).one_or_none()
    if stored is not None:
        return stored.document_no, stored.pdf
    count = session.execute(text("SELECT count(*) FROM case_document WHERE case_id = :c AND kind = :k"),
                            {"c": case.id, "k": kind}).scalar_one()
    number = f"{project['code']}-{DOCUMENT_PREFIX[kind]}-{case.household_no}-{count + 1:02d}"
    render = documents.render_quantity_sheet if kind == "quantity_sheet" else documents.render_agreement
    pdf = render(record, number, china_today())
    row = Document(case_id=case.id, kind=kind, document_no=number, record_sha256=digest,
                   pdf_sha256=documents.sha256_hex(pdf), pdf=pdf, generated_by=user.id)
    session.add(row)
    session.flush()
    audit.append(session.connection(), actor=user.username, action="document.generate", object_type="document",
                 object_key=number, result="generated",
                 details={"case": f"{project['code']}/{case.household_no}", "kind": kind, "record_sha256": digest,
                          "total_yuan": str(record.total_yuan)},
                 attachments=[{"name": f"{number}.pdf", "sha256": row.pdf_sha256}])
    return number, pdf


@dataclass
class PaymentRequest:
    """A payment of compensation to a payee of the case."""

    payment_id: str
    amount_yuan: Decimal
    payee_id_number: str
    payee_name: str
    paid_on: dt.date


def record_payment(session: Session, project: dict, case: Case, user: User, req: PaymentRequest) -> tuple[dict, bool]:
    """Record a payment: 409 until every stage before payment is approved with its mandatory archive.

    Idempotent on ``payment_id``: the same payment again returns it (False: not created); another payment
    under the same id is a conflict."""
    from supervision.orm import CasePayment

    stage = _stage(case, "payment")
    _refuse_if(policy.stage_work_refusal(session.connection(), user, case, stage))
    payment_id = req.payment_id.strip()
    if not payment_id:
        raise CaseRefusedError("payment_id 不能为空 / payment_id is empty")
    if req.amount_yuan <= 0 or not req.amount_yuan.is_finite():
        raise CaseRefusedError("amount_yuan 必须为正数 / amount_yuan must be positive")
    existing = session.execute(text("SELECT household_no, payee_id_number, payee_name, amount_yuan, paid_on "
                                    "FROM payment WHERE project_id = :p AND payment_id = :i"),
                               {"p": project["id"], "i": payment_id}).mappings().one_or_none()
    wanted = {"household_no": case.household_no, "payee_id_number": req.payee_id_number.strip().upper(),
              "payee_name": req.payee_name.strip(), "amount_yuan": req.amount_yuan.quantize(Decimal("0.01")),
              "paid_on": req.paid_on}
    if existing is not None:
        if dict(existing) == wanted:
            return {"payment_id": payment_id, **wanted}, False
        raise CaseConflictError(f"付款编号 {payment_id} 已用于另一笔付款 / payment_id {payment_id} is already used")
    ct = definition(project, case.case_type)
    counts = item_counts(session, case)
    blocking = [s for s in case.stages if s.position < stage.position and s.state != "approved"]
    missing = [code for s in case.stages if s.position < stage.position for code in missing_items(ct, s.code, counts)]
    if blocking or missing:
        names = ", ".join(s.code for s in blocking)
        raise CaseConflictError(f"协议未审核通过或档案不全，不能付款（未通过：{names or '无'}）/ no payment before the "
                                f"agreement is approved and the archive up to payment is complete (not approved: "
                                f"{names or 'none'})", missing=missing)
    agreement_no = current_document_no(session, case, "agreement")
    household_id = session.execute(text("SELECT id FROM household WHERE project_id = :p AND household_no = :h"),
                                   {"p": project["id"], "h": case.household_no}).scalar()
    if household_id is None:
        raise CaseConflictError(f"户号 {case.household_no} 已不在项目中 / household {case.household_no} is no longer "
                                "in the project")
    session.add(CasePayment(case_id=case.id, payment_id=payment_id, payee_id_number=wanted["payee_id_number"],
                            payee_name=wanted["payee_name"], amount_yuan=wanted["amount_yuan"], paid_on=req.paid_on,
                            agreement_no=agreement_no, recorded_by=user.id))
    session.flush()
    session.execute(text("""
        INSERT INTO payment (project_id, payment_id, household_id, household_no, payee_id_number, payee_name,
                             amount_yuan, paid_on, agreement_no)
        VALUES (:p, :i, :hid, :h, :idn, :name, :amount, :paid_on, :ag)"""),
        {"p": project["id"], "i": payment_id, "hid": household_id, "h": case.household_no,
         "idn": wanted["payee_id_number"], "name": wanted["payee_name"], "amount": wanted["amount_yuan"],
         "paid_on": req.paid_on, "ag": agreement_no})
    audit.append(session.connection(), actor=user.username, action="payment.record", object_type="payment",
                 object_key=payment_id, result="paid",
                 details={"case": f"{project['code']}/{case.household_no}", "amount_yuan": str(wanted["amount_yuan"]),
                          "paid_on": req.paid_on, "agreement_no": agreement_no})
    return {"payment_id": payment_id, **wanted}, True
