"""Alerts: list, detail with history, the steps of the closing loop, attachments, per-rule statistics."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from api.deps import SessionDep, SettingsDep, require_roles
from api.uploads import multipart_body, receive_upload
from supervision import alert_loop, alerts, policy
from supervision.accounts import User
from supervision.projects import get_project

router = APIRouter(tags=["alerts"])

#: Who may open alerts and who sees the statistics: ``supervision.policy`` decides, never this module.
Reviewer = Annotated[User, Depends(require_roles(*policy.ALERT_ROLES))]
Overseer = Annotated[User, Depends(require_roles(*policy.STATISTICS_ROLES))]
AlertId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the alert's id")]
ATTACHMENT_RESPONSES: dict[int | str, dict] = {
    413: {"description": "larger than the attachment limit"}, 415: {"description": "not multipart/form-data"},
    422: {"description": "not a complete PNG, JPEG or PDF file (checked by decoding)"}}


class AlertAction(BaseModel):
    """One step of the loop."""

    action: Literal["assign", "start_verification", "confirm", "mark_unfounded", "rectify", "close"]
    opinion: str = Field(min_length=1, max_length=4000)
    acted_on: dt.date | None = None
    assignee: str | None = Field(default=None, max_length=200)
    amount_recovered_yuan: Decimal | None = Field(default=None, ge=0, max_digits=16, decimal_places=2)
    attachments: list[str] = Field(default_factory=list, description="SHA-256 of uploaded attachments")


@router.get("/alerts")
def list_alerts(conn: SessionDep, user: Reviewer, project: str, state: str | None = None,
                rule: str | None = None, limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> list[dict]:
    """A project's alerts that the signed-in user may see (``supervision.policy``), masked for their role."""
    get_project(conn, project)
    return alerts.list_alerts(conn, project, user, state=state, rule=rule, limit=limit)


@router.get("/alerts/inbox")
def alert_inbox(conn: SessionDep, user: Reviewer, project: str) -> list[dict]:
    """The open alerts routed to the signed-in user's role (prompt → field crew of the household,
    internal alarm → supervisors, report → inspectors)."""
    get_project(conn, project)
    return alerts.inbox(conn, project, user)


@router.get("/alerts/stats")
def alert_statistics(conn: SessionDep, user: Overseer, project: str) -> list[dict]:
    """Per rule: counts by state, confirmed, unfounded, hit rate, amounts recovered."""
    get_project(conn, project)
    return alerts.statistics(conn, project)


@router.get("/alerts/{alert_id}", responses={404: {"description": "no such alert, or not visible to this user"}})
def get_alert(alert_id: AlertId, conn: SessionDep, user: Reviewer) -> dict:
    """One alert with its evidence and the history of its steps (404 when the user may not see it)."""
    return alerts.get_alert(conn, alert_id, user)


@router.post("/alerts/{alert_id}/actions", responses={
    403: {"description": "the policy refuses this user this step (role, severity, conflict of interest)"},
    404: {"description": "no such alert, or not visible to this user"},
    409: {"description": "the step contradicts the alert (state, assignee, date)"}})
def act_on_alert(alert_id: AlertId, body: AlertAction, conn: SessionDep, user: Reviewer) -> dict:
    """Take one step of the loop (``supervision.policy`` decides who may, the alert's state whether it can)."""
    attachments = []
    for sha in body.attachments:
        row = conn.execute(text("SELECT sha256, file_name, media_type, size_bytes FROM attachment WHERE sha256 = :s"),
                           {"s": sha}).mappings().one_or_none()
        if row is None:
            raise HTTPException(422, f"附件 {sha} 不存在 / unknown attachment {sha}")
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
