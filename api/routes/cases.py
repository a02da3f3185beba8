"""Cases and the field API (DATA_FORMATS §5): list, detail, captures, submit, review, reassign, quantities,
payments and the generated documents. Every rule is in ``supervision.cases`` and ``supervision.policy``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, ProjectDep, SessionDep, SettingsDep
from api.uploads import multipart_body, receive_upload
from supervision import case_check, cases
from supervision.accounts import User

router = APIRouter(tags=["cases"])

HouseholdNo = Annotated[str, Path(min_length=1, max_length=200, description="户号 / the household number")]
StageCode = Annotated[str, Path(min_length=1, max_length=100, description="the stage code, e.g. survey")]
CASE_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "the case is not assigned to the caller, or the policy refuses this act"},
    404: {"description": "no such project, case or stage"}}
CAPTURE_FIELDS = {"capture_uuid": "the client's UUID of this capture (resending it is safe)",
                  "stage": "the stage code", "item_code": "the archive item code",
                  "taken_at": "when it was taken (ISO 8601)", "lon": "longitude, WGS84", "lat": "latitude, WGS84",
                  "accuracy_m": "the position's accuracy in metres",
                  "document_no": "for the signed scan of a generated document: its number"}
REQUIRED_CAPTURE_FIELDS = ("capture_uuid", "stage", "item_code")


def case_session(conn: SessionDep) -> Iterator[Session]:
    """An ORM session on the request's transaction."""
    session = cases.session_for(conn)
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    else:
        session.commit()               # releases the session's savepoint; the request's transaction commits
    finally:
        session.close()


OrmDep = Annotated[Session, Depends(case_session)]


# --- response models -------------------------------------------------------------------------------------------

class CaseSummary(BaseModel):
    """One case in a list."""

    household_no: str
    case_type: str
    current_stage: str | None
    state: str
    assignee: str | None
    due_on: dt.date | None = None


class ItemOut(BaseModel):
    """An archive item of a stage and how many captures it has."""

    code: str
    name_zh: str
    name_en: str
    kind: str
    mandatory: bool
    min_count: int
    count: int


class StageOut(BaseModel):
    """A stage of a case."""

    code: str
    name_zh: str
    name_en: str
    position: int
    role: str
    state: str
    assignee: str | None
    time_limit_days: int
    opened_on: dt.date | None
    due_on: dt.date | None
    overdue: bool
    items: list[ItemOut]


class CaseDetail(BaseModel):
    """A case with its stages and archive items."""

    project_code: str
    household_no: str
    case_type: str
    casetype_version: str
    state: str
    current_stage: str | None
    accuracy_limit_m: float = Field(description="the project's limit on a capture's position accuracy")
    stages: list[StageOut]


class AlertBrief(BaseModel):
    """An alert as the checks at entry return it."""

    id: int
    rule_code: str
    severity: str
    subject_type: str
    subject_key: str
    message: str
    evidence: dict[str, Any]
    state: str


class CheckOut(BaseModel):
    """What the models found on the case in the same request."""

    household_no: str
    prompts: list[AlertBrief]
    routed: dict[str, int]
    rules_run: int


class CaptureOut(BaseModel):
    """A stored capture."""

    capture_uuid: str
    stage: str
    item_code: str
    kind: str
    media_type: str
    size_bytes: int
    sha256: str
    taken_at: dt.datetime | None
    lon: float | None
    lat: float | None
    accuracy_m: float | None
    exif: dict[str, Any]
    document_no: str | None
    created: bool
    checks: CheckOut | None = None


class StageActOut(BaseModel):
    """A stage after an act on it, and what the checks found."""

    household_no: str
    stage: str
    state: str
    assignee: str | None = None
    next_stage: str | None = None
    case_state: str
    checks: CheckOut | None = None


class ReviewIn(BaseModel):
    """A supervisor's decision."""

    decision: Literal["approve", "return"]
    opinion: str = Field(default="", max_length=4000)


class ReassignIn(BaseModel):
    """Hand a stage to another staff member."""

    username: str = Field(min_length=1, max_length=200)
    reason: str = Field(default="", max_length=2000)


class QuantityIn(BaseModel):
    """One line of the quantity record."""

    item_kind: Literal["building", "land", "attachment", "crop", "business_loss"] = "building"
    parcel_code: str | None = Field(default=None, max_length=200)
    building_no: str | None = Field(default=None, max_length=200)
    description: str = Field(default="", max_length=500)
    structure_type: Literal["brick_concrete", "brick_wood", "simple", "steel", "other"] | None = None
    storeys: int | None = Field(default=None, ge=1, le=200)
    quantity: Decimal = Field(ge=0, max_digits=16, decimal_places=4)
    unit: Literal["m2", "mu", "item"] = "m2"
    unit_price_yuan: Decimal = Field(ge=0, max_digits=16, decimal_places=2)
    amount_yuan: Decimal | None = Field(default=None, ge=0, max_digits=16, decimal_places=2)


class QuantitiesIn(BaseModel):
    """The whole quantity record of a case (it replaces the previous one)."""

    lines: list[QuantityIn] = Field(min_length=1, max_length=500)


class QuantityOut(BaseModel):
    """A stored line of the quantity record."""

    line_no: int
    item_kind: str
    parcel_code: str | None
    building_no: str | None
    description: str
    structure_type: str | None
    storeys: int | None
    quantity: Decimal
    unit: str
    unit_price_yuan: Decimal
    amount_yuan: Decimal


class QuantitiesOut(BaseModel):
    """The quantity record and what the checks found."""

    household_no: str
    lines: list[QuantityOut]
    total_yuan: Decimal
    checks: CheckOut | None = None


class PaymentIn(BaseModel):
    """A payment of compensation (DATA_FORMATS §5)."""

    payment_id: str = Field(min_length=1, max_length=200)
    amount_yuan: Decimal = Field(gt=0, max_digits=16, decimal_places=2)
    payee_id_number: str = Field(min_length=1, max_length=40)
    payee_name: str = Field(min_length=1, max_length=200)
    paid_on: dt.date


class PaymentOut(BaseModel):
    """A recorded payment and what the checks found."""

    payment_id: str
    household_no: str
    payee_id_number: str
    payee_name: str
    amount_yuan: Decimal
    paid_on: dt.date
    created: bool
    checks: CheckOut | None = None


class ConflictOut(BaseModel):
    """A refusal because of the case's state; ``missing`` lists the archive items still needed."""

    detail: str
    missing: list[str] | None = None


CONFLICT: dict[int | str, dict[str, Any]] = {409: {"model": ConflictOut, "description": "the stage is not open / not submitted, or items are missing"}}


def _check(conn: Any, project: dict, household_no: str, user: User) -> CheckOut:
    return CheckOut(**case_check.check_case(conn, project, household_no, user).as_dict())


def _masked_id(user: User, id_number: str) -> str:
    from supervision import policy
    from supervision.accounts import mask_id_number

    return id_number if policy.can_see_id_numbers(user.role) else mask_id_number(id_number)


# --- routes ----------------------------------------------------------------------------------------------------

@router.get("/projects/{code}/cases", responses=CASE_RESPONSES)
def list_cases(conn: SessionDep, user: CurrentUser, project: ProjectDep,
               stage: Annotated[str | None, Query(max_length=100)] = None,
               state: Annotated[str | None, Query(max_length=20)] = None,
               limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
               offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> list[CaseSummary]:
    """The cases the caller may see (a field crew member: those assigned to them)."""
    return [CaseSummary(**r) for r in cases.list_cases(conn, project, user, stage=stage, state=state, limit=limit,
                                                        offset=offset)]


@router.get("/projects/{code}/cases/{household_no}", responses=CASE_RESPONSES)
def get_case(household_no: HouseholdNo, session: OrmDep, user: CurrentUser, project: ProjectDep) -> CaseDetail:
    """The case with its stages (state, assignee, due date) and each stage's archive items and counts."""
    case = cases.get_case(session, project, household_no, user)
    return CaseDetail(**cases.case_detail(session, project, case))


def _capture_out(capture: Any, created: bool, checks: CheckOut | None) -> CaptureOut:
    return CaptureOut(capture_uuid=str(capture.capture_uuid), stage=capture.stage_code, item_code=capture.item_code,
                      kind=capture.kind, media_type=capture.media_type, size_bytes=capture.size_bytes,
                      sha256=capture.sha256, taken_at=capture.taken_at, lon=capture.lon, lat=capture.lat,
                      accuracy_m=capture.accuracy_m, exif=capture.exif or {}, document_no=capture.document_no,
                      created=created, checks=checks)


@router.post("/projects/{code}/cases/{household_no}/captures", status_code=status.HTTP_201_CREATED,
             responses={**CASE_RESPONSES, 200: {"model": CaptureOut, "description": "resent: already stored"},
                        409: {"model": ConflictOut, "description": "the capture_uuid was stored with other bytes"},
                        413: {"description": "larger than the capture limit"},
                        415: {"description": "not multipart/form-data"},
                        422: {"description": "refused: no position, poor accuracy, content not of the item's kind, "
                                             "stage not open, document number not matching"}},
             openapi_extra=multipart_body(CAPTURE_FIELDS, "one capture of an archive item"))
async def store_capture(request: Request, response: Response, household_no: HouseholdNo, conn: SessionDep,
                        user: CurrentUser, project: ProjectDep, settings: SettingsDep) -> CaptureOut:
    """Store one photo, video, document, signature or form of the archive, checked by content and position.

    Idempotent on ``capture_uuid``: 201 stored, 200 when resent with the same bytes, 409 with other bytes."""
    limit = int(cases.case_config(project)["capture_max_mb"] * 1024**2)
    session = cases.session_for(conn)
    try:
        case = cases.get_case(session, project, household_no, user)
        async with receive_upload(request, limit_bytes=limit, upload_dir=settings.home / "uploads",
                                  fields=tuple(CAPTURE_FIELDS), default_name="capture") as upload:
            missing = [f for f in REQUIRED_CAPTURE_FIELDS if not upload.fields.get(f)]
            if missing:
                raise cases.CaseRefusedError("缺少字段 / missing field(s): " + ", ".join(missing))
            req = cases.CaptureRequest(file_name=upload.filename,
                                       **{k: upload.fields.get(k) for k in CAPTURE_FIELDS})  # type: ignore[arg-type]
            outcome = await run_in_threadpool(cases.store_capture, session, project, case, user, req, upload.path,
                                              settings.home / "captures")
        checks = None
        if outcome.created:
            checks = await run_in_threadpool(_check, conn, project, household_no, user)
        else:
            response.status_code = status.HTTP_200_OK
        out = _capture_out(outcome.capture, outcome.created, checks)
        session.commit()
        return out
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@router.post("/projects/{code}/cases/{household_no}/stages/{stage}/submit", responses={**CASE_RESPONSES, **CONFLICT})
def submit_stage(household_no: HouseholdNo, stage: StageCode, session: OrmDep, user: CurrentUser,
                 project: ProjectDep) -> StageActOut:
    """Submit an open stage for review: 409 with ``missing`` while its mandatory archive is incomplete."""
    case = cases.get_case(session, project, household_no, user)
    done = cases.submit_stage(session, project, case, stage, user)
    checks = _check(session.connection(), project, household_no, user)
    return StageActOut(household_no=household_no, stage=done.code, state=done.state, case_state=case.state,
                       checks=checks)


@router.post("/projects/{code}/cases/{household_no}/stages/{stage}/review", responses={**CASE_RESPONSES, **CONFLICT})
def review_stage(household_no: HouseholdNo, stage: StageCode, body: ReviewIn, session: OrmDep, user: CurrentUser,
                 project: ProjectDep) -> StageActOut:
    """A supervisor approves a submitted stage (the next one opens) or returns it with an opinion; never their
    own work, their own household, or (the surveyor) the quantity sheet."""
    case = cases.get_case(session, project, household_no, user)
    done = cases.review_stage(session, project, case, stage, user, decision=body.decision, opinion=body.opinion)
    nxt = next((s.code for s in case.stages if s.state in cases.OPEN_STATES), None)
    return StageActOut(household_no=household_no, stage=done.code, state=done.state, next_stage=nxt,
                       case_state=case.state)


@router.post("/projects/{code}/cases/{household_no}/stages/{stage}/assign", responses={**CASE_RESPONSES, **CONFLICT})
def reassign_stage(household_no: HouseholdNo, stage: StageCode, body: ReassignIn, session: OrmDep,
                   user: CurrentUser, project: ProjectDep) -> StageActOut:
    """Hand a stage to another staff member (supervisors and admins); the change is recorded and audited."""
    case = cases.get_case(session, project, household_no, user)
    done = cases.reassign_stage(session, project, case, stage, user, username=body.username, reason=body.reason)
    return StageActOut(household_no=household_no, stage=done.code, state=done.state, assignee=body.username,
                       case_state=case.state)


def _quantities_out(case: Any, checks: CheckOut | None) -> QuantitiesOut:
    lines = [QuantityOut(line_no=q.line_no, item_kind=q.item_kind, parcel_code=q.parcel_code,
                         building_no=q.building_no, description=q.description, structure_type=q.structure_type,
                         storeys=q.storeys, quantity=q.quantity, unit=q.unit, unit_price_yuan=q.unit_price_yuan,
                         amount_yuan=q.amount_yuan) for q in case.quantities]
    return QuantitiesOut(household_no=case.household_no, lines=lines,
                         total_yuan=sum((q.amount_yuan for q in case.quantities), Decimal("0")), checks=checks)


@router.get("/projects/{code}/cases/{household_no}/quantities", responses=CASE_RESPONSES)
def get_quantities(household_no: HouseholdNo, session: OrmDep, user: CurrentUser, project: ProjectDep) -> QuantitiesOut:
    """The case's quantity record (核量)."""
    return _quantities_out(cases.get_case(session, project, household_no, user), None)


@router.put("/projects/{code}/cases/{household_no}/quantities", responses={**CASE_RESPONSES, **CONFLICT})
def put_quantities(household_no: HouseholdNo, body: QuantitiesIn, session: OrmDep, user: CurrentUser,
                   project: ProjectDep) -> QuantitiesOut:
    """Record the quantities (replacing the previous record) while the quantity stage is open; the models run
    on the case at once."""
    case = cases.get_case(session, project, household_no, user)
    cases.record_quantities(session, project, case, user, [line.model_dump() for line in body.lines])
    return _quantities_out(case, _check(session.connection(), project, household_no, user))


@router.post("/projects/{code}/cases/{household_no}/payments", status_code=status.HTTP_201_CREATED,
             responses={**CASE_RESPONSES, 200: {"model": PaymentOut, "description": "resent: already recorded"},
                        409: {"model": ConflictOut, "description": "the agreement is not approved or the archive up to "
                                                                   "payment is incomplete; or the payment_id is taken"}})
def record_payment(household_no: HouseholdNo, body: PaymentIn, response: Response, session: OrmDep,
                   user: CurrentUser, project: ProjectDep) -> PaymentOut:
    """Record a payment: refused (409) until every stage before payment is approved with its mandatory archive."""
    case = cases.get_case(session, project, household_no, user)
    row, created = cases.record_payment(session, project, case, user, cases.PaymentRequest(**body.model_dump()))
    if not created:
        response.status_code = status.HTTP_200_OK
    checks = _check(session.connection(), project, household_no, user) if created else None
    return PaymentOut(**{**row, "payee_id_number": _masked_id(user, row["payee_id_number"])}, created=created,
                      checks=checks)


PDF_RESPONSES: dict[int | str, dict] = {**CASE_RESPONSES, 200: {"content": {"application/pdf": {}},
                                                                 "description": "the PDF"}}


def _pdf(session: Session, project: dict, household_no: str, user: User, kind: str) -> Response:
    case = cases.get_case(session, project, household_no, user)
    number, pdf = cases.document(session, project, case, kind, user)
    from supervision.documents import sha256_hex

    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{number}.pdf"', "X-Document-Number": number,
                             "X-Content-SHA256": sha256_hex(pdf)})


@router.get("/projects/{code}/cases/{household_no}/documents/quantity-sheet.pdf", response_class=Response,
            responses=PDF_RESPONSES)
def quantity_sheet(household_no: HouseholdNo, session: OrmDep, user: CurrentUser, project: ProjectDep) -> Response:
    """The generated 核量单 (numbered; the same record gives the same document)."""
    return _pdf(session, project, household_no, user, "quantity_sheet")


@router.get("/projects/{code}/cases/{household_no}/documents/agreement.pdf", response_class=Response,
            responses=PDF_RESPONSES)
def agreement(household_no: HouseholdNo, session: OrmDep, user: CurrentUser, project: ProjectDep) -> Response:
    """The generated 协议书 (numbered; the same record gives the same document)."""
    return _pdf(session, project, household_no, user, "agreement")


# --- resumable uploads (large videos) ---------------------------------------------------------------------------

class UploadStart(BaseModel):
    """Begin a resumable upload of one capture: its fields and its size."""

    capture_uuid: str = Field(min_length=1, max_length=64)
    stage: str = Field(min_length=1, max_length=100)
    item_code: str = Field(min_length=1, max_length=100)
    taken_at: str | None = Field(default=None, max_length=64)
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    accuracy_m: float | None = Field(default=None, ge=0, le=1e7)
    document_no: str | None = Field(default=None, max_length=200)
    file_name: str = Field(default="capture", min_length=1, max_length=200)
    size_bytes: int = Field(gt=0, le=2**53)


class UploadState(BaseModel):
    """How far an upload is: resume by sending bytes from ``offset``."""

    upload_id: str
    capture_uuid: str
    offset: int
    size_bytes: int
    state: Literal["receiving", "complete", "refused"]
    error: str | None
    capture: CaptureOut | None = None


UPLOAD_RESPONSES: dict[int | str, dict] = {
    **CASE_RESPONSES, 409: {"model": ConflictOut, "description": "the offset is not where the received bytes end, "
                                                                  "or the upload has ended"},
    413: {"description": "more bytes than the upload's declared size, or larger than the capture limit"},
    415: {"description": "not application/offset+octet-stream (or application/octet-stream)"},
    422: {"description": "refused (position, accuracy, stage not open; at the end: content not of the item's kind)"}}
#: The media types of a byte range: tus's, and plain octets for clients that cannot set it.
OFFSET_TYPES = ("application/offset+octet-stream", "application/octet-stream")
OFFSET_BODY = {"requestBody": {"required": True, "content": {
    media: {"schema": {"type": "string", "format": "binary"}} for media in OFFSET_TYPES}}}


def _upload_request(body: UploadStart) -> Any:
    values = body.model_dump(exclude={"size_bytes"})
    for key in ("lon", "lat", "accuracy_m"):
        values[key] = None if values[key] is None else repr(values[key])
    return cases.CaptureRequest(**values)


@router.post("/projects/{code}/cases/{household_no}/uploads", status_code=status.HTTP_201_CREATED,
             responses={**UPLOAD_RESPONSES, 200: {"model": UploadState, "description": "already started: resume it"}})
def start_upload(household_no: HouseholdNo, body: UploadStart, response: Response, session: OrmDep,
                 user: CurrentUser, project: ProjectDep, settings: SettingsDep) -> UploadState:
    """Begin a resumable upload (large videos): every check that needs no file runs now; resend to resume."""
    from supervision import resumable

    case = cases.get_case(session, project, household_no, user)
    row, created = resumable.start(session, project, case, user, _upload_request(body), body.size_bytes,
                                   settings.home / "uploads" / "resumable")
    location = f"/projects/{project['code']}/cases/{household_no}/uploads/{row.id}"
    response.headers.update({"Location": location, "Upload-Offset": str(row.received_bytes)})
    if not created:
        response.status_code = status.HTTP_200_OK
    return UploadState(**resumable.state(row))


@router.get("/projects/{code}/cases/{household_no}/uploads/{upload_id}", responses=UPLOAD_RESPONSES)
def upload_state(household_no: HouseholdNo, upload_id: Annotated[str, Path(max_length=64)], response: Response,
                 session: OrmDep, user: CurrentUser, project: ProjectDep) -> UploadState:
    """The upload's state: the offset to resume from, or how it ended."""
    from supervision import resumable

    case = cases.get_case(session, project, household_no, user)
    row = resumable.get(session, case, upload_id, user)
    response.headers["Upload-Offset"] = str(row.received_bytes)
    return UploadState(**resumable.state(row))


@router.patch("/projects/{code}/cases/{household_no}/uploads/{upload_id}", responses=UPLOAD_RESPONSES,
              openapi_extra=OFFSET_BODY)
async def append_upload(request: Request, response: Response, household_no: HouseholdNo,
                        upload_id: Annotated[str, Path(max_length=64)], conn: SessionDep, user: CurrentUser,
                        project: ProjectDep, settings: SettingsDep,
                        upload_offset: Annotated[int, Header(alias="Upload-Offset", ge=0, le=2**53)]) -> UploadState:
    """Send the next bytes, from ``Upload-Offset`` (the offset the state says); a lost connection keeps what
    arrived. With the last byte the capture is checked by content and stored."""
    from starlette.requests import ClientDisconnect

    from supervision import resumable
    from supervision.uploads import UploadTooLargeError

    if request.headers.get("content-type", "").split(";")[0].strip().lower() not in OFFSET_TYPES:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send application/offset+octet-stream")
    session = cases.session_for(conn)
    try:
        case = cases.get_case(session, project, household_no, user)
        row = resumable.get(session, case, upload_id, user, lock=True)
        resumable.check_offset(row, upload_offset)
        remaining = row.size_bytes - upload_offset
        written = 0
        with open(row.part_path, "r+b") as part:
            part.seek(upload_offset)
            part.truncate(upload_offset)
            try:
                async for chunk in request.stream():
                    written += len(chunk)
                    if written > remaining:
                        raise UploadTooLargeError(f"超出声明的大小 {row.size_bytes} 字节 / more bytes than the declared "
                                                  f"size of {row.size_bytes}")
                    part.write(chunk)
            except ClientDisconnect:
                pass                   # keep what arrived: the client resumes from the new offset
        capture = await run_in_threadpool(resumable.received, session, project, case, user, row,
                                          upload_offset + written, settings.home / "captures")
        out = UploadState(**resumable.state(row))
        if capture is not None:
            checks = await run_in_threadpool(_check, conn, project, household_no, user)
            out.capture = _capture_out(capture, True, checks)
        response.headers["Upload-Offset"] = str(row.received_bytes)
        session.commit()
        if row.state == "refused":     # kept (the request's transaction commits), and told as a 422
            return JSONResponse({"detail": row.error or "refused", **out.model_dump(mode="json")},  # type: ignore[return-value]
                                status_code=422, headers={"Upload-Offset": str(row.received_bytes)})
        return out
    except BaseException:
        if session.in_transaction():
            session.rollback()
        raise
    finally:
        session.close()
