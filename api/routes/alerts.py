"""Alerts: list, detail with history, the steps of the closing loop, attachments, per-rule statistics."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field
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


class AlertItem(BaseModel):
    """An alert in a list or an inbox (evidence only for the roles that may read it)."""

    model_config = ConfigDict(extra="allow")

    id: int
    rule_code: str
    severity: Literal["prompt", "internal", "report"]
    subject_type: str
    subject_key: str
    message: str
    state: str
    firing: bool
    verdict: str | None = None
    assignee: str | None = None
    evidence: dict | None = None


class AlertStep(BaseModel):
    """One step taken on an alert."""

    model_config = ConfigDict(extra="allow")

    from_state: str | None
    to_state: str
    username: str | None
    name: str | None
    opinion: str | None
    acted_on: dt.date
    attachments: list
    created_at: dt.datetime


class AlertDetail(AlertItem):
    """One alert with its evidence and the history of its steps."""

    project_code: str
    amount_recovered_yuan: Decimal
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime
    history: list[AlertStep]


class AlertStepOut(BaseModel):
    """The alert's state after a step."""

    model_config = ConfigDict(extra="allow")

    id: int
    state: str
    state_zh: str


class RuleStatistics(BaseModel):
    """Per rule: counts by state, decisions, hit rate and amounts recovered."""

    model_config = ConfigDict(extra="allow")

    rule_code: str
    alerts: int
    firing: int
    by_state: dict[str, int]
    confirmed: int
    unfounded: int
    hit_rate: float | None
    recovered_yuan: Decimal


class AttachmentOut(BaseModel):
    """A stored attachment, named by its SHA-256."""

    model_config = ConfigDict(extra="allow")

    sha256: str
    file_name: str
    media_type: str
    size_bytes: int


@router.get("/alerts")
def list_alerts(conn: SessionDep, user: Reviewer, project: str, state: str | None = None,
                rule: str | None = None, limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> list[AlertItem]:
    """A project's alerts that the signed-in user may see (``supervision.policy``), masked for their role."""
    get_project(conn, project)
    return [AlertItem(**a) for a in alerts.list_alerts(conn, project, user, state=state, rule=rule, limit=limit)]


@router.get("/alerts/inbox")
def alert_inbox(conn: SessionDep, user: Reviewer, project: str) -> list[AlertItem]:
    """The open alerts routed to the signed-in user's role (prompt → field crew of the household,
    internal alarm → supervisors, report → inspectors)."""
    get_project(conn, project)
    return [AlertItem(**a) for a in alerts.inbox(conn, project, user)]


@router.get("/alerts/stats")
def alert_statistics(conn: SessionDep, user: Overseer, project: str) -> list[RuleStatistics]:
    """Per rule: counts by state, confirmed, unfounded, hit rate, amounts recovered."""
    get_project(conn, project)
    return [RuleStatistics(**r) for r in alerts.statistics(conn, project)]


@router.get("/alerts/{alert_id}", responses={404: {"description": "no such alert, or not visible to this user"}})
def get_alert(alert_id: AlertId, conn: SessionDep, user: Reviewer) -> AlertDetail:
    """One alert with its evidence and the history of its steps (404 when the user may not see it)."""
    return AlertDetail(**alerts.get_alert(conn, alert_id, user))


@router.post("/alerts/{alert_id}/actions", responses={
    403: {"description": "the policy refuses this user this step (role, severity, conflict of interest)"},
    404: {"description": "no such alert, or not visible to this user"},
    409: {"description": "the step contradicts the alert (state, assignee, date)"}})
def act_on_alert(alert_id: AlertId, body: AlertAction, conn: SessionDep, user: Reviewer) -> AlertStepOut:
    """Take one step of the loop (``supervision.policy`` decides who may, the alert's state whether it can)."""
    attachments = []
    for sha in body.attachments:
        row = conn.execute(text("SELECT sha256, file_name, media_type, size_bytes FROM attachment WHERE sha256 = :s"),
                           {"s": sha}).mappings().one_or_none()
        if row is None:
            raise HTTPException(422, f"附件 {sha} 不存在 / unknown attachment {sha}")
        attachments.append(dict(row))
    return AlertStepOut(**alert_loop.act(conn, alert_id, user, body.action, opinion=body.opinion,
                                         acted_on=body.acted_on, assignee=body.assignee,
                                         amount_recovered_yuan=body.amount_recovered_yuan, attachments=attachments))


@router.post("/attachments", status_code=status.HTTP_201_CREATED, responses=ATTACHMENT_RESPONSES,
             openapi_extra=multipart_body({}, "a PNG, JPEG or PDF file"))
async def upload_attachment(request: Request, conn: SessionDep, user: Reviewer, settings: SettingsDep) -> AttachmentOut:
    """Upload a PNG, JPEG or PDF (streamed with a size cap, checked by decoding) to attach to alert steps."""
    async with receive_upload(request, limit_bytes=alert_loop.MAX_ATTACHMENT_BYTES,
                              upload_dir=settings.home / "uploads", default_name="attachment") as upload:
        return AttachmentOut(**await run_in_threadpool(alert_loop.store_attachment, conn, upload.path,
                                                       file_name=upload.filename,
                                                       store_dir=settings.home / "attachments", user=user))
