"""Progress and statistics of a project's cases (进度跟踪 / 统计分析); the figures are ``supervision.progress``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel

from api.deps import CurrentUser, ProjectDep, SessionDep
from supervision import progress

router = APIRouter(tags=["progress"])


class Totals(BaseModel):
    """Case counts of the project (or of the caller's cases)."""

    cases: int
    active: int
    closed: int
    withdrawn: int
    published: int
    overdue_stages: int


class StageCount(BaseModel):
    """Cases whose current stage is ``stage`` (``closed`` / ``withdrawn`` for cases no longer worked)."""

    stage: str
    name_zh: str
    cases: int
    open: int
    submitted: int
    returned: int


class VillageCount(BaseModel):
    """Cases and money of one village."""

    village_code: str
    village_name: str
    cases: int
    closed: int
    published: int
    agreed_yuan: Decimal
    paid_yuan: Decimal
    unpaid_yuan: Decimal


class StaffCount(BaseModel):
    """Current stages assigned to one staff member (``username`` null: not assigned)."""

    username: str | None
    name: str | None
    role: str | None
    cases: int
    submitted: int
    overdue: int


class CaseTypeCount(BaseModel):
    """Cases of one case type."""

    case_type: str
    name_zh: str
    cases: int
    active: int
    closed: int
    withdrawn: int


class OverdueStage(BaseModel):
    """A stage past its time limit (时限)."""

    household_no: str
    stage: str
    name_zh: str
    state: str
    assignee: str | None
    due_on: dt.date
    days_overdue: int


class StageCompleteness(BaseModel):
    """The mandatory archive of one stage over the cases that reached it."""

    stage: str
    name_zh: str
    cases: int
    required: int
    present: int
    items_required: int
    items_complete: int
    cases_complete: int
    ratio: float


class OverallCompleteness(BaseModel):
    """The mandatory archive of every reached stage."""

    required: int
    present: int
    items_required: int
    items_complete: int
    ratio: float


class Completeness(BaseModel):
    """Archive completeness per stage and overall."""

    stages: list[StageCompleteness]
    overall: OverallCompleteness


class Money(BaseModel):
    """Compensation agreed (quantity record, else claims) and paid."""

    agreed_yuan: Decimal
    paid_yuan: Decimal
    unpaid_yuan: Decimal


class ProgressOut(BaseModel):
    """A project's progress and statistics; ``scope`` ``assigned``: a field crew member's own cases only."""

    project_code: str
    project_name: str
    as_of: dt.date
    scope: Literal["all", "assigned"]
    totals: Totals
    by_stage: list[StageCount]
    by_village: list[VillageCount]
    by_staff: list[StaffCount]
    by_case_type: list[CaseTypeCount]
    overdue: list[OverdueStage]
    completeness: Completeness
    money: Money


@router.get("/projects/{code}/progress")
def project_progress(conn: SessionDep, user: CurrentUser, project: ProjectDep,
                     overdue_limit: Annotated[int, Query(ge=0, le=5000, description="how many overdue stages to "
                                                         "list (the most overdue first)")] = 500) -> ProgressOut:
    """Cases by stage, village, staff member and case type; overdue stages; archive completeness; money agreed
    and paid (supervisors, inspectors, admins; a field crew member: the same figures over their own cases)."""
    if not progress.may_see_progress(user):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "您的角色无权查看进度统计 / your role may not see the "
                                                       "progress figures")
    return ProgressOut(**progress.project_progress(conn, project, user, overdue_limit=overdue_limit))
