"""Who sees which household, case and alert, who may take which step, who sees ID numbers: one place.

Every route, page, CLI command and export asks this module; none re-derives a rule.

- **Households** (and the cases of the next issue, one per household and project): a field crew member sees
  the households they are assigned to (``assignment``); every other role sees every household.
- **Alerts**: a field crew member sees the prompts on the households they see, and the alerts assigned to
  them; GIS officers see no alerts; supervisors, inspectors and admins see every alert. Which of the visible
  alerts reach a role's inbox is :data:`INBOX_SEVERITIES` (clause 5.5.3).
- **Steps** of the closing loop are decided by role and severity (:data:`STEP_ROLES`), never by being the
  assignee alone; nobody takes a step on, or is assigned, an alert that concerns them (:func:`conflicts`);
  an alert is assigned only to a role that may verify it.
- **ID numbers and registry names** are masked for the roles that do not need them (:func:`mask_alert`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text

from supervision.accounts import mask_id_number, mask_name

if TYPE_CHECKING:
    from supervision.accounts import User

# --- ID numbers ------------------------------------------------------------------------------------------

#: Roles that need full ID numbers and registry names; field crews and GIS officers see them masked.
ID_NUMBER_ROLES = ("supervisor", "inspector", "admin")


def can_see_id_numbers(role: str) -> bool:
    """Whether ``role`` may see full ID numbers and registry names (others see them masked)."""
    return role in ID_NUMBER_ROLES


# --- households (and cases, by household) -------------------------------------------------------------------

#: Roles that see only the households they are assigned to.
ASSIGNED_ONLY_ROLES = ("field_crew",)


#: Assigned to a household: an assignment of the package, or a stage of its case (a reassignment included).
_ASSIGNED_SQL = """(EXISTS (SELECT 1 FROM assignment pol_s WHERE pol_s.household_id = {hid} AND pol_s.user_id = :pol_uid)
    OR EXISTS (SELECT 1 FROM household pol_hh JOIN case_file pol_cf ON pol_cf.project_id = pol_hh.project_id
               AND pol_cf.household_no = pol_hh.household_no JOIN case_stage pol_cs ON pol_cs.case_id = pol_cf.id
               WHERE pol_hh.id = {hid} AND pol_cs.assignee_user_id = :pol_uid))"""


def household_visible_sql(user: User, household_id: str) -> tuple[str, dict]:
    """A SQL condition true when ``user`` may see the household whose id is the SQL expression ``household_id``,
    and its parameters (assigned: by the package's assignments or as the assignee of a stage of its case)."""
    if user.role in ASSIGNED_ONLY_ROLES:
        return _ASSIGNED_SQL.format(hid=household_id), {"pol_uid": user.id}
    return "true", {}


def case_visible_sql(user: User, case: str = "cf") -> tuple[str, dict]:
    """The same rule for a ``case_file`` row aliased ``case``: its household's assignments or its stages."""
    if user.role not in ASSIGNED_ONLY_ROLES:
        return "true", {}
    return (f"""(EXISTS (SELECT 1 FROM assignment pol_s JOIN household pol_hh ON pol_hh.id = pol_s.household_id
                 WHERE pol_hh.project_id = {case}.project_id AND pol_hh.household_no = {case}.household_no
                   AND pol_s.user_id = :pol_uid)
             OR EXISTS (SELECT 1 FROM case_stage pol_cs WHERE pol_cs.case_id = {case}.id
                        AND pol_cs.assignee_user_id = :pol_uid))""", {"pol_uid": user.id})


def can_see_case(conn: Connection, user: User, case_id: int) -> bool:
    """Whether ``user`` may see the case ``case_id``."""
    cond, params = case_visible_sql(user, "cf")
    return bool(conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM case_file cf WHERE cf.id = :pol_cid AND {cond})"),
                             {**params, "pol_cid": case_id}).scalar())


def household_no_visible_sql(user: User, project_id: str, household_no: str) -> tuple[str, dict]:
    """The same condition for rows that name their household by project and number (parcels, claims)."""
    cond, params = household_visible_sql(user, "pol_h.id")
    if cond == "true":
        return cond, params
    return (f"EXISTS (SELECT 1 FROM household pol_h WHERE pol_h.project_id = {project_id} "
            f"AND pol_h.household_no = {household_no} AND {cond})", params)


def can_see_household(conn: Connection, user: User, household_id: int) -> bool:
    """Whether ``user`` may see the household ``household_id``."""
    cond, params = household_visible_sql(user, ":pol_hid")
    return bool(conn.execute(text(f"SELECT {cond}"), {**params, "pol_hid": household_id}).scalar())


# --- alerts ----------------------------------------------------------------------------------------------

#: Roles that may open alerts at all (GIS officers handle imagery and parcels, not alerts).
ALERT_ROLES = ("field_crew", "supervisor", "inspector", "admin")
#: Roles that see the per-rule statistics.
STATISTICS_ROLES = ("supervisor", "inspector", "admin")
#: The severities a field crew member sees on the households they see (clause 5.5.3: prompt the operator).
CREW_SEVERITIES = ("prompt",)
#: Which visible severities reach which role's inbox (prompt the operator, alarm the unit's management,
#: report to the discipline inspectors); alerts assigned to the user reach it whatever their severity.
INBOX_SEVERITIES = {"field_crew": ("prompt",), "supervisor": ("internal", "report"), "inspector": ("report",),
                    "admin": ("prompt", "internal", "report"), "gis_officer": ()}


def alert_visible_sql(user: User, alert: str = "a") -> tuple[str, dict]:
    """A SQL condition true when ``user`` may see the alert row aliased ``alert``, and its parameters."""
    if user.role not in ALERT_ROLES:
        return "false", {}
    if user.role not in ASSIGNED_ONLY_ROLES:
        return "true", {}
    cond, params = household_visible_sql(user, "pol_ah.household_id")
    return (f"({alert}.assignee_user_id = :pol_uid OR ({alert}.severity = ANY(:pol_crew_sev) AND EXISTS ("
            f"SELECT 1 FROM alert_household pol_ah WHERE pol_ah.alert_id = {alert}.id AND {cond})))",
            {**params, "pol_uid": user.id, "pol_crew_sev": list(CREW_SEVERITIES)})


def can_see_alert(conn: Connection, user: User, alert_id: int) -> bool:
    """Whether ``user`` may see the alert ``alert_id`` (False as well when there is no such alert)."""
    cond, params = alert_visible_sql(user, "a")
    return bool(conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM alert a WHERE a.id = :pol_aid AND {cond})"),
                             {**params, "pol_aid": alert_id}).scalar())


def inbox_severities(user: User) -> list[str]:
    """The severities routed to ``user``'s inbox."""
    return list(INBOX_SEVERITIES.get(user.role, ()))


# --- steps of the closing loop --------------------------------------------------------------------------

_ALL = ("prompt", "internal", "report")
_VERIFY = {"prompt": ("field_crew", "supervisor", "inspector", "admin"), "internal": ("supervisor", "inspector", "admin"),
           "report": ("inspector",)}

#: action -> severity -> the roles that may take it. A ``report`` (报送纪委监委) is assigned, verified, decided
#: and closed by inspectors only; rectification is recorded by the unit's supervisors or the inspectors.
STEP_ROLES: dict[str, dict[str, tuple[str, ...]]] = {
    "assign": {"prompt": ("supervisor", "inspector", "admin"), "internal": ("supervisor", "inspector", "admin"),
               "report": ("inspector",)},
    "start_verification": _VERIFY,
    "confirm": _VERIFY,
    "mark_unfounded": _VERIFY,
    "rectify": {s: ("supervisor", "inspector", "admin") for s in _ALL},
    "close": {"prompt": ("inspector", "admin"), "internal": ("inspector", "admin"), "report": ("inspector",)},
}
#: Roles that act only on alerts assigned to them (on top of their role and the severity).
ASSIGNEE_ONLY_ROLES = ("field_crew",)
#: The role that verifies an alert is the one it may be assigned to.
ASSIGNABLE_ROLES = _VERIFY

CONFLICT_ZH = {"self": "预警对象是其本人", "own_household": "预警对象是其本人户籍所在户", "worked": "其经办过该户"}
CONFLICT_EN = {"self": "the alert is about them", "own_household": "the alert concerns their own household",
               "worked": "they worked on that household's case"}

ROLE_ZH = {"field_crew": "征收工作人员", "gis_officer": "GIS专员", "supervisor": "审核人", "inspector": "纪检监察人员",
           "admin": "管理员"}


@dataclass(frozen=True)
class Refusal:
    """Why a step is refused: ``forbidden`` (role, severity, conflict of interest) or ``conflict`` (the
    request contradicts the alert, e.g. an assignee who may not act on it); the message is bilingual."""

    kind: str
    zh: str
    en: str

    @property
    def message(self) -> str:
        """The message shown to the user: 中文 / English."""
        return f"{self.zh} / {self.en}"


def conflicts(conn: Connection, user_id: int, alert_id: int) -> list[str]:
    """How the alert concerns the user: ``self`` (its subject is them: their ID number in the subject or the
    evidence, or them as the staff member named), ``own_household`` (a household it concerns is their
    registry household or has them as a member), ``worked`` (they are assigned to a household it concerns)."""
    row = conn.execute(text("""
        WITH u AS (SELECT id, username, upper(id_number) AS id_number FROM app_user WHERE id = :u),
             a AS (SELECT * FROM alert WHERE id = :a),
             hh AS (SELECT h.id, h.household_no, h.head_id_number FROM alert_household ah
                    JOIN household h ON h.id = ah.household_id WHERE ah.alert_id = :a),
             reg AS (SELECT DISTINCT r.household_no FROM registry_person r, u, a
                     WHERE r.id_number = u.id_number AND r.household_no IS NOT NULL
                       AND r.extract_id IN (SELECT extract_id FROM expro_registry_extracts(a.project_id))),
             subject_reg AS (SELECT DISTINCT r.household_no FROM registry_person r, a
                     WHERE a.subject_type = 'person' AND r.id_number = upper(a.subject_key) AND r.household_no IS NOT NULL
                       AND r.extract_id IN (SELECT extract_id FROM expro_registry_extracts(a.project_id)))
        SELECT
          (u.id_number IS NOT NULL AND ((a.subject_type = 'person' AND upper(a.subject_key) = u.id_number)
               OR jsonb_path_exists(a.evidence, '$.** ? (@.type() == "string" && @ == $id)',
                                    jsonb_build_object('id', u.id_number))))
          OR jsonb_path_exists(a.evidence, '$.staff[*] ? (@.username == $u)', jsonb_build_object('u', u.username))
            AS self,
          EXISTS (SELECT 1 FROM hh WHERE hh.household_no IN (SELECT household_no FROM reg)
                     OR upper(hh.head_id_number) = u.id_number
                     OR EXISTS (SELECT 1 FROM household_member m WHERE m.household_id = hh.id
                                AND upper(m.id_number) = u.id_number))
          OR EXISTS (SELECT 1 FROM subject_reg WHERE subject_reg.household_no IN (SELECT household_no FROM reg))
          OR (a.subject_type = 'household' AND a.subject_key IN (SELECT household_no FROM reg)) AS own_household,
          EXISTS (SELECT 1 FROM hh JOIN assignment s ON s.household_id = hh.id WHERE s.user_id = u.id) AS worked
        FROM u, a"""), {"u": user_id, "a": alert_id}).mappings().one_or_none()
    if row is None:
        return []
    return [reason for reason in ("self", "own_household", "worked") if row[reason]]


def _conflict_refusal(reasons: list[str], who: str) -> Refusal:
    return Refusal("forbidden", f"{who}与该预警存在利益冲突（{'、'.join(CONFLICT_ZH[r] for r in reasons)}），须回避",
                   f"{who} may not handle this alert: {'; '.join(CONFLICT_EN[r] for r in reasons)}")


def step_refusal(conn: Connection, user: User, alert: Mapping[Any, Any], action: str) -> Refusal | None:
    """Why ``user`` may not take ``action`` on ``alert`` (a row with id, severity, assignee_user_id), or None.

    Decided by role and severity; assignee-only roles must also be the assignee; nobody acts on an alert that
    concerns them."""
    allowed = STEP_ROLES.get(action, {}).get(alert["severity"], ())
    if user.role not in allowed:
        names = "、".join(ROLE_ZH[r] for r in allowed) or "无"
        return Refusal("forbidden",
                       f"{ROLE_ZH.get(user.role, user.role)}不能对{alert['severity']}级预警执行此步骤（仅限：{names}）",
                       f"a {user.role} may not {action} a {alert['severity']} alert (only: {', '.join(allowed) or 'nobody'})")
    if user.role in ASSIGNEE_ONLY_ROLES and action != "assign" and alert["assignee_user_id"] != user.id:
        return Refusal("forbidden", "该预警未分派给您", f"the alert is not assigned to {user.username}")
    reasons = conflicts(conn, user.id, alert["id"])
    if reasons:
        return _conflict_refusal(reasons, "您")
    return None


def assignee_refusal(conn: Connection, assignee: Mapping[Any, Any], alert: Mapping[Any, Any]) -> Refusal | None:
    """Why the staff member ``assignee`` (id, username, role) may not be assigned ``alert``, or None."""
    allowed = ASSIGNABLE_ROLES.get(alert["severity"], ())
    if assignee["role"] not in allowed:
        names = "、".join(ROLE_ZH[r] for r in allowed)
        return Refusal("conflict",
                       f"{assignee['username']}（{ROLE_ZH.get(assignee['role'], assignee['role'])}）不能核查"
                       f"{alert['severity']}级预警，只能分派给：{names}",
                       f"{assignee['username']} ({assignee['role']}) cannot verify a {alert['severity']} alert; "
                       f"assign it to: {', '.join(allowed)}")
    reasons = conflicts(conn, assignee["id"], alert["id"])
    if reasons:
        return _conflict_refusal(reasons, str(assignee["username"]))
    return None


# --- masking ---------------------------------------------------------------------------------------------

_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(?:[0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9A-Za-z])")
_ID_KEY = re.compile(r"(?:^|_)id_numbers?$")
_NAME_KEY = re.compile(r"(?:^|_)names?$")
_NOT_PERSON_NAMES = {"file_name", "village_name", "township_name", "source_name"}
#: Keys of nested objects whose members are person names (NAME_MISMATCH's name comparisons).
_NAME_PAIRS = {"comparisons": ("given", "registry")}


class _Masker:
    """Masks the ID numbers and names an alert carries, in its structure and wherever its text repeats them."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.names: set[str] = set()

    def collect(self, value: Any, key: str = "", parent: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                self.collect(v, str(k), key)
        elif isinstance(value, list):
            for v in value:
                self.collect(v, key, parent)
        elif isinstance(value, str) and value.strip():
            if _ID_KEY.search(key):
                self.ids.add(value.strip())
            elif self._is_name(key, parent):
                self.names.add(value.strip())

    @staticmethod
    def _is_name(key: str, parent: str) -> bool:
        return (bool(_NAME_KEY.search(key)) and key not in _NOT_PERSON_NAMES) or key in _NAME_PAIRS.get(parent, ())

    def text(self, value: str) -> str:
        for secret in sorted(self.ids, key=len, reverse=True):
            value = value.replace(secret, mask_id_number(secret))
        for name in sorted(self.names, key=len, reverse=True):
            if len(name) > 1:
                value = value.replace(name, mask_name(name))
        return _ID_IN_TEXT.sub(lambda m: mask_id_number(m.group(0)), value)

    def walk(self, value: Any, key: str = "", parent: str = "") -> Any:
        if isinstance(value, dict):
            return {k: self.walk(v, str(k), key) for k, v in value.items()}
        if isinstance(value, list):
            return [self.walk(v, key, parent) for v in value]
        if isinstance(value, str):
            if _ID_KEY.search(key):
                return mask_id_number(value)
            if self._is_name(key, parent):
                return mask_name(value)
            return self.text(value)
        return value


def mask_alert(alert: dict, user: User) -> dict:
    """The alert as ``user`` may see it: for roles without :func:`can_see_id_numbers`, every ID number and
    person name masked in its subject (person alerts), message, evidence and the opinions of its history."""
    if can_see_id_numbers(user.role):
        return alert
    masker = _Masker()
    masker.collect(alert.get("evidence") or {})
    if alert.get("subject_type") == "person" and alert.get("subject_key"):
        masker.ids.add(str(alert["subject_key"]).strip())
    out = dict(alert)
    if out.get("subject_type") == "person" and out.get("subject_key"):
        out["subject_key"] = mask_id_number(str(out["subject_key"]))
    elif isinstance(out.get("subject_key"), str):
        out["subject_key"] = masker.text(out["subject_key"])
    if isinstance(out.get("message"), str):
        out["message"] = masker.text(out["message"])
    if "evidence" in out:
        out["evidence"] = masker.walk(out["evidence"])
    if isinstance(out.get("history"), list):
        out["history"] = [{**h, "opinion": masker.text(h["opinion"]) if isinstance(h.get("opinion"), str)
                           else h.get("opinion")} for h in out["history"]]
    return out


def mask_alerts(alerts: Iterable[dict], user: User) -> list[dict]:
    """:func:`mask_alert` over many alerts."""
    return [mask_alert(a, user) for a in alerts]


# --- cases: who works a stage, who reviews it ---------------------------------------------------------------

#: Roles that hand a stage to someone else.
REASSIGN_ROLES = ("supervisor", "admin")
#: Roles that approve or return a submitted stage (DATA_FORMATS §5: supervisors only).
REVIEW_ROLES = ("supervisor",)
#: The stages whose worker is "the surveyor" of a case: they may not approve its quantity sheet.
SURVEY_STAGES = ("survey", "quantity")


def stage_work_refusal(conn: Connection, user: User, case: Any, stage: Any) -> Refusal | None:
    """Why ``user`` may not capture, record or submit on ``stage`` of ``case`` (ORM rows), or None.

    The stage's assignee and admins may; a field crew member otherwise only on an unassigned field stage of a
    case assigned to them (a stage reassigned to someone else is theirs no more); other roles on the stages of
    their own role."""
    if user.role == "admin" or stage.assignee_user_id == user.id:
        return None
    if user.role in ASSIGNED_ONLY_ROLES:
        if not can_see_case(conn, user, case.id):
            return Refusal("forbidden", f"您未被分派户号 {case.household_no} 的案件",
                           f"case {case.household_no} is not assigned to {user.username}")
        if stage.assignee_user_id is not None:      # assigned (or reassigned) to someone else
            return Refusal("forbidden", f"环节 {stage.code} 已分派给他人",
                           f"stage {stage.code} of case {case.household_no} is assigned to someone else")
        if stage.role == user.role:
            return None
    elif stage.role == user.role:
        return None
    return Refusal("forbidden", f"环节 {stage.code} 由{ROLE_ZH.get(stage.role, stage.role)}办理，您不能操作",
                   f"stage {stage.code} is worked by a {stage.role}; {user.username} ({user.role}) may not act on it")


def case_conflicts(conn: Connection, user: User, case: Any, stage: Any) -> list[str]:
    """How reviewing ``stage`` of ``case`` would be reviewing oneself: ``own_work`` (assigned to, submitted,
    captured for or recorded the stage), ``surveyor`` (the quantity stage of a case one surveyed or measured),
    ``own_household`` (the household is the reviewer's: their ID number in it, or their registry household)."""
    row = conn.execute(text("""
        WITH u AS (SELECT id, upper(id_number) AS id_number FROM app_user WHERE id = :u),
             cf AS (SELECT * FROM case_file WHERE id = :c)
        SELECT
          (:assignee = :u OR :submitted = :u
           OR EXISTS (SELECT 1 FROM case_capture cc WHERE cc.case_id = :c AND cc.stage_code = :code
                      AND cc.captured_by = :u)
           OR (:code = 'quantity' AND EXISTS (SELECT 1 FROM case_quantity q WHERE q.case_id = :c
                                              AND q.recorded_by = :u))) AS own_work,
          (:code = 'quantity' AND (
              EXISTS (SELECT 1 FROM case_stage s WHERE s.case_id = :c AND s.code = ANY(:survey)
                      AND (s.assignee_user_id = :u OR s.submitted_by = :u))
              OR EXISTS (SELECT 1 FROM stage_reassignment r JOIN case_stage s ON s.id = r.case_stage_id
                         WHERE s.case_id = :c AND s.code = ANY(:survey) AND r.from_user_id = :u)
              OR EXISTS (SELECT 1 FROM case_capture cc WHERE cc.case_id = :c AND cc.stage_code = ANY(:survey)
                         AND cc.captured_by = :u)
              OR EXISTS (SELECT 1 FROM case_quantity q WHERE q.case_id = :c AND q.recorded_by = :u))) AS surveyor,
          EXISTS (SELECT 1 FROM u, cf JOIN household h ON h.project_id = cf.project_id
                                          AND h.household_no = cf.household_no
                  WHERE u.id_number IS NOT NULL AND (
                      upper(h.head_id_number) = u.id_number
                      OR EXISTS (SELECT 1 FROM household_member m WHERE m.household_id = h.id
                                 AND upper(m.id_number) = u.id_number)
                      OR EXISTS (SELECT 1 FROM claim c WHERE c.household_id = h.id
                                 AND upper(c.claimant_id_number) = u.id_number)
                      OR EXISTS (SELECT 1 FROM registry_person r WHERE r.id_number = u.id_number
                                 AND r.household_no = cf.household_no
                                 AND r.extract_id IN (SELECT extract_id FROM expro_registry_extracts(cf.project_id)))))
            AS own_household"""),
        {"u": user.id, "c": case.id, "code": stage.code, "assignee": stage.assignee_user_id,
         "submitted": stage.submitted_by, "survey": list(SURVEY_STAGES)}).mappings().one()
    return [reason for reason in ("own_work", "surveyor", "own_household") if row[reason]]


CASE_CONFLICT_ZH = {"own_work": "这是您本人办理的环节", "surveyor": "您是该户的调查/核量人员，不能审核其核量单",
                    "own_household": "该户是您本人或您户籍所在户"}
CASE_CONFLICT_EN = {"own_work": "it is their own work", "surveyor": "they surveyed or measured this case and may "
                    "not approve its quantity sheet", "own_household": "the household is their own"}


def stage_review_refusal(conn: Connection, user: User, case: Any, stage: Any) -> Refusal | None:
    """Why ``user`` may not approve or return ``stage`` of ``case``: not a supervisor, or a conflict of interest."""
    if user.role not in REVIEW_ROLES:
        return Refusal("forbidden", "只有审核人（监督员）可以审核环节", f"only supervisors review stages, not a {user.role}")
    reasons = case_conflicts(conn, user, case, stage)
    if reasons:
        return Refusal("forbidden", "您须回避：" + "；".join(CASE_CONFLICT_ZH[r] for r in reasons),
                       f"{user.username} may not review this stage: " + "; ".join(CASE_CONFLICT_EN[r] for r in reasons))
    return None
