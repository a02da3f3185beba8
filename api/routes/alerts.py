"""Alerts: list, detail with history, the steps of the closing loop, attachments, per-rule statistics."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from api.deps import SessionDep, SettingsDep, require_roles
from api.uploads import multipart_body, receive_upload
from supervision import alert_loop
from supervision.accounts import User
from supervision.projects import get_project

router = APIRouter(tags=["alerts"])

Reviewer = Annotated[User, Depends(require_roles("supervisor", "inspector", "admin", "field_crew"))]
Overseer = Annotated[User, Depends(require_roles("supervisor", "inspector", "admin"))]
ATTACHMENT_RESPONSES: dict[int | str, dict] = {
    413: {"description": "larger than the attachment limit"}, 415: {"description": "not multipart/form-data"},
    422: {"description": "not a complete PNG, JPEG or PDF file (checked by decoding)"}}


class AlertAction(BaseModel):
    """One step of the loop."""

    action: str = Field(description="assign | start_verification | confirm | mark_unfounded | rectify | close")
    opinion: str = Field(min_length=1, max_length=4000)
    acted_on: dt.date | None = None
    assignee: str | None = None
    amount_recovered_yuan: Decimal | None = Field(default=None, ge=0)
    attachments: list[str] = Field(default_factory=list, description="SHA-256 of uploaded attachments")


def _visible(conn, user: User, alert_id: int) -> dict:
    row = conn.execute(text("""
        SELECT a.id, p.code AS project_code, a.rule_code, a.severity, a.subject_type, a.subject_key, a.message,
               a.evidence, a.state, a.verdict, a.firing, u.username AS assignee, a.amount_recovered_yuan,
               a.first_seen_at, a.last_seen_at
        FROM alert a JOIN project p ON p.id = a.project_id LEFT JOIN app_user u ON u.id = a.assignee_user_id
        WHERE a.id = :i"""), {"i": alert_id}).mappings().one_or_none()
    if row is None or (user.role == "field_crew" and row["assignee"] != user.username):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id}")
    return dict(row)


@router.get("/alerts")
def list_alerts(conn: SessionDep, user: Reviewer, project: str, state: str | None = None,
                rule: str | None = None, limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> list[dict]:
    """A project's alerts (a field crew member sees only alerts assigned to them)."""
    get_project(conn, project)
    rows = conn.execute(text("""
        SELECT a.id, a.rule_code, a.severity, a.subject_type, a.subject_key, a.message, a.state, a.verdict, a.firing,
               u.username AS assignee
        FROM alert a JOIN project p ON p.id = a.project_id LEFT JOIN app_user u ON u.id = a.assignee_user_id
        WHERE p.code = :c AND (CAST(:s AS text) IS NULL OR a.state = :s) AND (CAST(:r AS text) IS NULL OR a.rule_code = :r)
          AND (:crew = false OR a.assignee_user_id = :uid)
        ORDER BY a.rule_code, a.subject_key LIMIT :lim"""),
        {"c": project, "s": state, "r": rule, "crew": user.role == "field_crew", "uid": user.id, "lim": limit})
    return [dict(r) for r in rows.mappings()]


@router.get("/alerts/inbox")
def alert_inbox(conn: SessionDep, user: Reviewer, project: str) -> list[dict]:
    """The open alerts routed to the signed-in user's role (prompt → field crew of the household,
    internal alarm → supervisors, report → inspectors)."""
    from supervision.alerts import inbox

    get_project(conn, project)
    return inbox(conn, project, user)


@router.get("/alerts/stats")
def alert_statistics(conn: SessionDep, user: Overseer, project: str) -> list[dict]:
    """Per rule: counts by state, confirmed, unfounded, hit rate, amounts recovered."""
    get_project(conn, project)
    return alert_loop.statistics(conn, project)


@router.get("/alerts/{alert_id}")
def get_alert(alert_id: int, conn: SessionDep, user: Reviewer) -> dict:
    """One alert with its evidence and the history of its steps."""
    alert = _visible(conn, user, alert_id)
    alert["history"] = alert_loop.history(conn, alert_id)
    return alert


@router.post("/alerts/{alert_id}/actions")
def act_on_alert(alert_id: int, body: AlertAction, conn: SessionDep, user: Reviewer) -> dict:
    """Take one step of the loop (the role and the alert's state decide whether it is allowed)."""
    _visible(conn, user, alert_id)
    attachments = []
    for sha in body.attachments:
        row = conn.execute(text("SELECT sha256, file_name, media_type, size_bytes FROM attachment WHERE sha256 = :s"),
                           {"s": sha}).mappings().one_or_none()
        if row is None:
            raise HTTPException(422, f"unknown attachment {sha}")
        attachments.append(dict(row))
    return alert_loop.act(conn, alert_id, user, body.action, opinion=body.opinion, acted_on=body.acted_on,
                          assignee=body.assignee, amount_recovered_yuan=body.amount_recovered_yuan,
                          attachments=attachments)


@router.post("/attachments", status_code=status.HTTP_201_CREATED, responses=ATTACHMENT_RESPONSES,
             openapi_extra=multipart_body({}, "a PNG, JPEG or PDF file"))
async def upload_attachment(request: Request, conn: SessionDep, user: Reviewer, settings: SettingsDep) -> dict:
    """Upload a PNG, JPEG or PDF (streamed with a size cap, checked by decoding) to attach to alert steps."""
    async with receive_upload(request, limit_bytes=alert_loop.MAX_ATTACHMENT_BYTES,
                              upload_dir=settings.home / "uploads", default_name="attachment") as upload:
        return await run_in_threadpool(alert_loop.store_attachment, conn, upload.path, file_name=upload.filename,
                                       store_dir=settings.home / "attachments", user=user)
