"""The closing loop of an alert: new → assigned → verifying → confirmed | unfounded → rectified → closed.

Every step is taken by a named user with an opinion, a date and optional attachments; it is
written to ``alert_event`` and to the audit trail. Re-running the checks never touches this.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import Connection, text

from gis_core.files import sha256_file
from supervision import audit, uploads
from supervision.accounts import User
from supervision.errors import SupervisionError


class AlertLoopError(SupervisionError, ValueError):
    """A step of the alert loop is not allowed (wrong state, role, or missing information)."""


class AlertPermissionError(AlertLoopError, PermissionError):
    """The user's role (or assignment) does not allow this step."""


class AttachmentError(SupervisionError, ValueError):
    """An attachment is refused (type by content, or size)."""


class AlertNotFoundError(SupervisionError, LookupError):
    """No alert has this id."""


@dataclass(frozen=True)
class Transition:
    """One action: the states it starts from, the state it leads to, and who may take it."""

    action: str
    from_states: tuple[str, ...]
    to_state: str
    roles: tuple[str, ...]
    assignee_may: bool = False
    zh: str = ""


TRANSITIONS: dict[str, Transition] = {t.action: t for t in [
    Transition("assign", ("new", "assigned"), "assigned", ("supervisor", "inspector", "admin"), zh="分派核查"),
    Transition("start_verification", ("assigned",), "verifying", ("inspector", "admin"), True, zh="开始核查"),
    Transition("confirm", ("verifying",), "confirmed", ("inspector", "admin"), True, zh="核实属实"),
    Transition("mark_unfounded", ("verifying",), "unfounded", ("inspector", "admin"), True, zh="核实不属实"),
    Transition("rectify", ("confirmed",), "rectified", ("supervisor", "inspector", "admin"), True, zh="整改完成"),
    Transition("close", ("rectified", "unfounded"), "closed", ("inspector", "admin"), zh="办结"),
]}

STATE_ZH = {"new": "新预警", "assigned": "已分派", "verifying": "核查中", "confirmed": "属实", "unfounded": "不属实",
            "rectified": "已整改", "closed": "已办结"}
ATTACHMENT_TYPES = frozenset({uploads.PNG, uploads.JPEG, uploads.PDF})
MAX_ATTACHMENT_BYTES = 50 * 1024 * 1024


def sniff_media_type(head: bytes) -> str | None:
    """The media type of an attachment from its first bytes (PNG, JPEG, PDF), or None; store_attachment decodes."""
    media = uploads.sniff_media_type(head)
    return media if media in ATTACHMENT_TYPES else None


def store_attachment(conn: Connection, source: Path, *, file_name: str, store_dir: Path, user: User) -> dict:
    """Check (by decoding, size- and pixel-limited) and keep a file by its SHA-256; returns its descriptor."""
    try:
        checked = uploads.check_file(source, allowed=ATTACHMENT_TYPES, max_bytes=MAX_ATTACHMENT_BYTES,
                                     file_name=file_name)
    except uploads.UploadError as exc:
        raise AttachmentError(str(exc)) from exc
    sha, media, size = checked.sha256, checked.media_type, checked.size_bytes
    store_dir.mkdir(parents=True, exist_ok=True)
    target = store_dir / sha
    if not target.exists():
        shutil.copyfile(source, target)
    conn.execute(text("""
        INSERT INTO attachment (sha256, media_type, size_bytes, file_name, path, uploaded_by)
        VALUES (:s, :m, :n, :f, :p, :u) ON CONFLICT (sha256) DO NOTHING"""),
        {"s": sha, "m": media, "n": size, "f": file_name, "p": str(target), "u": user.id})
    return {"sha256": sha, "file_name": file_name, "media_type": media, "size_bytes": size}


def act(conn: Connection, alert_id: int, user: User, action: str, *, opinion: str, acted_on: dt.date | None = None,
        assignee: str | None = None, amount_recovered_yuan: str | Decimal | None = None,
        attachments: list[dict] | None = None) -> dict:
    """Take ``action`` on the alert as ``user``; returns the alert's new state. Raises AlertLoopError."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise AlertLoopError(f"unknown action {action!r}; actions: {', '.join(TRANSITIONS)}")
    row = conn.execute(text("SELECT a.id, a.state, a.assignee_user_id, a.rule_code, a.subject_key, p.code "
                            "FROM alert a JOIN project p ON p.id = a.project_id WHERE a.id = :i FOR UPDATE"),
                       {"i": alert_id}).one_or_none()
    if row is None:
        raise AlertNotFoundError(f"no alert {alert_id}")
    is_assignee = row.assignee_user_id == user.id
    if user.role not in transition.roles and not (transition.assignee_may and is_assignee):
        raise AlertPermissionError(f"{user.username} ({user.role}) may not {action} alert {alert_id}")
    if row.state not in transition.from_states:
        raise AlertLoopError(f"alert {alert_id} is {row.state} ({STATE_ZH[row.state]}); "
                             f"{action} needs {' or '.join(transition.from_states)}")
    if not opinion or not opinion.strip():
        raise AlertLoopError("an opinion (意见) is required for every step")
    acted_on = acted_on or dt.date.today()
    if acted_on > dt.date.today():
        raise AlertLoopError(f"the date {acted_on} is in the future")
    attachments = list(attachments or [])
    for item in attachments:
        known = conn.execute(text("SELECT 1 FROM attachment WHERE sha256 = :s"), {"s": item.get("sha256")}).scalar()
        if not known:
            raise AlertLoopError(f"unknown attachment {item.get('sha256')!r}: upload it first")
    updates = {"state": transition.to_state}
    assignee_id = row.assignee_user_id
    if action == "assign":
        if not assignee:
            raise AlertLoopError("assign needs the assignee's username")
        target = conn.execute(text("SELECT id, role, active FROM app_user WHERE username = :u"),
                              {"u": assignee}).one_or_none()
        if target is None or not target.active:
            raise AlertLoopError(f"no active user {assignee!r}")
        assignee_id = target.id
    amount = None
    if action == "rectify" and amount_recovered_yuan not in (None, ""):
        try:
            amount = Decimal(str(amount_recovered_yuan))
        except InvalidOperation as exc:
            raise AlertLoopError(f"amount recovered is not a number: {amount_recovered_yuan!r}") from exc
        if amount < 0:
            raise AlertLoopError("amount recovered cannot be negative")
    verdict = {"confirm": "confirmed", "mark_unfounded": "unfounded"}.get(action)
    conn.execute(text("""
        UPDATE alert SET state = :state, assignee_user_id = :assignee,
               verdict = COALESCE(CAST(:verdict AS text), verdict),
               amount_recovered_yuan = amount_recovered_yuan + COALESCE(CAST(:amount AS numeric), 0),
               closed_at = CASE WHEN :state = 'closed' THEN now() ELSE closed_at END
        WHERE id = :i"""), {**updates, "assignee": assignee_id, "verdict": verdict, "amount": amount, "i": alert_id})
    conn.execute(text("""
        INSERT INTO alert_event (alert_id, from_state, to_state, user_id, opinion, acted_on, attachments)
        VALUES (:i, :f, :t, :u, :o, :d, CAST(:a AS jsonb))"""),
        {"i": alert_id, "f": row.state, "t": transition.to_state, "u": user.id, "o": opinion.strip(), "d": acted_on,
         "a": json.dumps(attachments, ensure_ascii=False)})
    audit.append(conn, actor=user.username, action=f"alert.{action}", object_type="alert", object_key=str(alert_id),
                 details={"project": row.code, "rule_code": row.rule_code, "subject_key": row.subject_key,
                          "from": row.state, "to": transition.to_state, "opinion": opinion.strip(),
                          "acted_on": acted_on, "assignee": assignee, "amount_recovered_yuan": amount,
                          "attachments": attachments})
    return {"id": alert_id, "state": transition.to_state, "state_zh": STATE_ZH[transition.to_state]}


def history(conn: Connection, alert_id: int) -> list[dict]:
    """Every step taken on the alert, oldest first."""
    rows = conn.execute(text("""
        SELECT e.from_state, e.to_state, u.username, u.name, e.opinion, e.acted_on, e.attachments, e.created_at
        FROM alert_event e LEFT JOIN app_user u ON u.id = e.user_id WHERE e.alert_id = :i ORDER BY e.id"""),
                        {"i": alert_id}).mappings().all()
    return [dict(r) for r in rows]


def statistics(conn: Connection, project_code: str) -> list[dict]:
    """Per rule: alerts by state, confirmed, unfounded, hit rate = confirmed ÷ (confirmed + unfounded), recovered."""
    rows = conn.execute(text("""
        SELECT a.rule_code, count(*) AS alerts, count(*) FILTER (WHERE a.firing) AS firing,
               count(*) FILTER (WHERE a.verdict = 'confirmed') AS confirmed,
               count(*) FILTER (WHERE a.verdict = 'unfounded') AS unfounded,
               sum(a.amount_recovered_yuan) AS recovered_yuan
        FROM alert a JOIN project p ON p.id = a.project_id
        WHERE p.code = :c GROUP BY a.rule_code ORDER BY a.rule_code"""),
                        {"c": project_code}).mappings().all()
    states = conn.execute(text("""
        SELECT a.rule_code, a.state, count(*) AS n FROM alert a JOIN project p ON p.id = a.project_id
        WHERE p.code = :c GROUP BY a.rule_code, a.state"""), {"c": project_code}).all()
    by_rule: dict[str, dict[str, int]] = {}
    for r in states:
        by_rule.setdefault(r.rule_code, {})[r.state] = r.n
    out = []
    for r in rows:
        decided = r["confirmed"] + r["unfounded"]
        out.append({"rule_code": r["rule_code"], "alerts": r["alerts"], "firing": r["firing"],
                    "by_state": by_rule.get(r["rule_code"], {}), "confirmed": r["confirmed"],
                    "unfounded": r["unfounded"], "hit_rate": (r["confirmed"] / decided) if decided else None,
                    "recovered_yuan": r["recovered_yuan"]})
    return out
