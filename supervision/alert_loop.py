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
from supervision import audit, policy, uploads
from supervision.accounts import User
from supervision.alerts import AlertNotFoundError as AlertNotFoundError  # raised by act, mapped in api.errors
from supervision.errors import SupervisionError
from supervision.identity import china_today


class AlertLoopError(SupervisionError, ValueError):
    """A step of the alert loop is not allowed (wrong state, role, or missing information)."""


class AlertPermissionError(AlertLoopError, PermissionError):
    """The policy does not let this user take this step (role, severity, conflict of interest)."""


class AttachmentError(SupervisionError, ValueError):
    """An attachment is refused (type by content, or size)."""


@dataclass(frozen=True)
class Transition:
    """One action: the states it starts from and the state it leads to (who may take it: ``policy.STEP_ROLES``)."""

    action: str
    from_states: tuple[str, ...]
    to_state: str
    zh: str = ""


TRANSITIONS: dict[str, Transition] = {t.action: t for t in [
    Transition("assign", ("new", "assigned"), "assigned", zh="分派核查"),
    Transition("start_verification", ("assigned",), "verifying", zh="开始核查"),
    Transition("confirm", ("verifying",), "confirmed", zh="核实属实"),
    Transition("mark_unfounded", ("verifying",), "unfounded", zh="核实不属实"),
    Transition("rectify", ("confirmed",), "rectified", zh="整改完成"),
    Transition("close", ("rectified", "unfounded"), "closed", zh="办结"),
]}

STATE_ZH = {"new": "新预警", "assigned": "已分派", "verifying": "核查中", "confirmed": "属实", "unfounded": "不属实",
            "rectified": "已整改", "closed": "已办结"}
ATTACHMENT_TYPES = frozenset({uploads.PNG, uploads.JPEG, uploads.PDF})
MAX_ATTACHMENT_BYTES = 50 * 1024 * 1024
#: Amounts are numeric(16, 2) in the database.
MAX_AMOUNT_YUAN = Decimal(10) ** 14
#: The time zone of step dates (the district's calendar).
TIMEZONE = "Asia/Shanghai"


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
    """Take ``action`` on the alert as ``user`` (the policy decides who may); returns the alert's new state.

    Raises AlertNotFoundError (no such alert, or not visible to ``user``), AlertPermissionError (the policy
    refuses ``user``) or AlertLoopError (state, assignee, date or missing information)."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise AlertLoopError(f"未知操作 {action!r} / unknown action {action!r}; actions: {', '.join(TRANSITIONS)}")
    row = conn.execute(text("SELECT a.id, a.state, a.severity, a.assignee_user_id, a.rule_code, a.subject_key, "
                            "p.code, (a.first_seen_at AT TIME ZONE :tz)::date AS raised_on "
                            "FROM alert a JOIN project p ON p.id = a.project_id WHERE a.id = :i FOR UPDATE"),
                       {"i": alert_id, "tz": TIMEZONE}).mappings().one_or_none()
    if row is None or not policy.can_see_alert(conn, user, alert_id):
        raise AlertNotFoundError(f"预警 {alert_id} 不存在或无权查看 / no alert {alert_id}")
    refusal = policy.step_refusal(conn, user, row, action)
    if refusal is not None:
        raise AlertPermissionError(refusal.message)
    if row["state"] not in transition.from_states:
        raise AlertLoopError(f"预警 {alert_id} 当前为“{STATE_ZH[row['state']]}”，“{transition.zh}”须在"
                             f"“{'或'.join(STATE_ZH[s] for s in transition.from_states)}”状态 / "
                             f"alert {alert_id} is {row['state']}; {action} needs {' or '.join(transition.from_states)}")
    if not opinion or not opinion.strip():
        raise AlertLoopError("每一步都须填写意见 / an opinion (意见) is required for every step")
    today = china_today()
    acted_on = acted_on or today
    if acted_on > today:
        raise AlertLoopError(f"日期 {acted_on} 晚于今天 / the date {acted_on} is in the future")
    if acted_on < row["raised_on"]:
        raise AlertLoopError(f"日期 {acted_on} 早于预警产生日期 {row['raised_on']} / "
                             f"the date {acted_on} is before the alert was raised ({row['raised_on']})")
    attachments = list(attachments or [])
    for item in attachments:
        known = conn.execute(text("SELECT 1 FROM attachment WHERE sha256 = :s"), {"s": item.get("sha256")}).scalar()
        if not known:
            raise AlertLoopError(f"附件 {item.get('sha256')!r} 不存在，请先上传 / "
                                 f"unknown attachment {item.get('sha256')!r}: upload it first")
    assignee_id = row["assignee_user_id"]
    if action == "assign":
        if not assignee:
            raise AlertLoopError("分派须指定核查人工号 / assign needs the assignee's username")
        target = conn.execute(text("SELECT id, username, role, active FROM app_user WHERE username = :u"),
                              {"u": assignee}).mappings().one_or_none()
        if target is None or not target["active"]:
            raise AlertLoopError(f"无此在岗人员 {assignee!r} / no active user {assignee!r}")
        refusal = policy.assignee_refusal(conn, target, row)
        if refusal is not None:
            raise AlertLoopError(refusal.message)
        assignee_id = target["id"]
    amount = None
    if action == "rectify" and amount_recovered_yuan not in (None, ""):
        try:
            amount = Decimal(str(amount_recovered_yuan))
        except InvalidOperation as exc:
            raise AlertLoopError(f"追回金额不是数字 / amount recovered is not a number: {amount_recovered_yuan!r}") from exc
        if not amount.is_finite() or amount < 0 or amount >= MAX_AMOUNT_YUAN:
            raise AlertLoopError(f"追回金额须在 0 与 {MAX_AMOUNT_YUAN} 元之间 / "
                                 f"amount recovered must be between 0 and {MAX_AMOUNT_YUAN} yuan")
    verdict = {"confirm": "confirmed", "mark_unfounded": "unfounded"}.get(action)
    conn.execute(text("""
        UPDATE alert SET state = :state, assignee_user_id = :assignee,
               verdict = COALESCE(CAST(:verdict AS text), verdict),
               amount_recovered_yuan = amount_recovered_yuan + COALESCE(CAST(:amount AS numeric), 0),
               closed_at = CASE WHEN :state = 'closed' THEN now() ELSE closed_at END
        WHERE id = :i"""), {"state": transition.to_state, "assignee": assignee_id, "verdict": verdict,
                            "amount": amount, "i": alert_id})
    conn.execute(text("""
        INSERT INTO alert_event (alert_id, from_state, to_state, user_id, opinion, acted_on, attachments)
        VALUES (:i, :f, :t, :u, :o, :d, CAST(:a AS jsonb))"""),
        {"i": alert_id, "f": row["state"], "t": transition.to_state, "u": user.id, "o": opinion.strip(),
         "d": acted_on, "a": json.dumps(attachments, ensure_ascii=False)})
    audit.append(conn, actor=user.username, action=f"alert.{action}", object_type="alert", object_key=str(alert_id),
                 details={"project": row["code"], "rule_code": row["rule_code"], "subject_key": row["subject_key"],
                          "from": row["state"], "to": transition.to_state, "opinion": opinion.strip(),
                          "acted_on": acted_on, "assignee": assignee, "amount_recovered_yuan": amount,
                          "attachments": attachments})
    return {"id": alert_id, "state": transition.to_state, "state_zh": STATE_ZH[transition.to_state]}
