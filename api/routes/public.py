"""Public disclosure without login (clause 5.5.6): published results, masked, and the complaint form.

The figures and every rule are ``supervision.disclosure``; nothing here reads a name or an ID number.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import json
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field, ValidationError

from api.deps import SessionDep, SettingsDep
from api.routes.auth import client_address
from api.security import secret_key
from supervision import disclosure
from supervision.projects import get_project

router = APIRouter(tags=["public"])

ProjectCode = Annotated[str, Path(min_length=1, max_length=100, description="项目编号 / the project code")]
#: The most results one request returns.
PAGE_MAX = 200
PAGE_DEFAULT = 50
#: The largest complaint body read (JSON or form).
BODY_MAX_BYTES = 32 * 1024


class PublicBuilding(BaseModel):
    """A building of a published result: its number, structure, storeys and floor area."""

    building: str | None
    structure_type: str | None
    storeys: int | None
    floor_area_m2: Decimal


class PublicResult(BaseModel):
    """One published result; the head's name and ID number are masked (张*, 110101********1234)."""

    household_no: str
    case_type: str
    village_code: str
    village_name: str
    head_name_masked: str
    head_id_number_masked: str
    published_on: dt.date | None
    buildings: list[PublicBuilding]
    building_area_m2: Decimal
    total_yuan: Decimal


class PublicResults(BaseModel):
    """A page of a project's published results."""

    project_code: str
    project_name: str
    total: int
    limit: int
    offset: int
    results: list[PublicResult]


class ComplaintIn(BaseModel):
    """A complaint from the public about a project (optionally about one published household)."""

    project_code: str = Field(min_length=1, max_length=100)
    household_no: str | None = Field(default=None, max_length=disclosure.HOUSEHOLD_MAX)
    name: str = Field(min_length=1, max_length=disclosure.NAME_MAX)
    contact: str = Field(min_length=1, max_length=disclosure.CONTACT_MAX)
    text: str = Field(min_length=disclosure.TEXT_MIN, max_length=disclosure.TEXT_MAX)


class ComplaintOut(BaseModel):
    """A stored complaint (routed to the inspectors)."""

    complaint_id: int
    project_code: str
    household_no: str | None
    state: str
    received_at: dt.datetime


NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such project"}}
TOO_MANY: dict[int | str, dict[str, Any]] = {429: {"description": "too many complaints from this client or for this project in the "
                                                   "last hour; see Retry-After",
                  "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}}}


@router.get("/public/projects/{code}/results", responses={**NOT_FOUND, 422: {"description": "invalid parameter"}})
def results(code: ProjectCode, conn: SessionDep,
            village: Annotated[str | None, Query(max_length=100, description="村代码或村名 / village code or name")] = None,
            q: Annotated[str | None, Query(max_length=100, description="户号（或其开头）或户主全名 / household "
                                                                      "number (or its beginning) or the head's full name")] = None,
            limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = PAGE_DEFAULT,
            offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> PublicResults:
    """The published compensation results (no login): names and ID numbers masked; filter by village, search."""
    project = get_project(conn, code)
    total, rows = disclosure.published_results(conn, project, village=village, q=q, limit=limit, offset=offset)
    return PublicResults(project_code=project["code"], project_name=project["name"], total=total, limit=limit,
                         offset=offset, results=[PublicResult(**r) for r in rows])


# --- complaints ----------------------------------------------------------------------------------------------

COMPLAINT_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": ComplaintIn.model_json_schema()},
    "application/x-www-form-urlencoded": {"schema": ComplaintIn.model_json_schema()}}}}


async def _complaint_fields(request: Request) -> tuple[dict, bool]:
    """The complaint's fields from a JSON or form body, and whether it came from the page's form."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > BODY_MAX_BYTES:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "投诉内容过长 / the complaint is too large")
    body = await request.body()
    if len(body) > BODY_MAX_BYTES:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "投诉内容过长 / the complaint is too large")
    if media == "application/x-www-form-urlencoded":
        try:
            parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except (UnicodeDecodeError, ValueError):
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "表单无法解析 / the form cannot be parsed") from None
        return {k: v[0] for k, v in parsed.items()}, True
    if media in ("", "application/json") or media.endswith("+json"):
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "请求体无法解析 / the body cannot be parsed") from None
        if not isinstance(data, dict):
            raise HTTPException(422, "请求体必须是对象 / the body must be a JSON object")
        return data, False
    raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "请以 JSON 或表单提交 / send JSON or a form")


@router.post("/public/complaints", status_code=status.HTTP_201_CREATED, openapi_extra=COMPLAINT_BODY,
             response_model=ComplaintOut,
             responses={**NOT_FOUND, **TOO_MANY,
                        303: {"description": "sent from the page's form: back to the page"},
                        413: {"description": "the body is too large"},
                        415: {"description": "neither JSON nor a form"},
                        422: {"description": "a field is missing or too long, or the household "
                                                              "has no published result"}})
async def complaint(request: Request, conn: SessionDep, settings: SettingsDep) -> Response:
    """File a complaint (no login; rate-limited per client and per project). It is stored, routed to the
    inspectors' queue (a ``report`` alert, rule ``PUBLIC_COMPLAINT``) and audited."""
    fields, from_form = await _complaint_fields(request)
    if from_form and not fields.get("household_no"):
        fields.pop("household_no", None)
    try:
        body = ComplaintIn.model_validate(fields)
    except ValidationError as exc:
        raise HTTPException(422, json.loads(exc.json(include_url=False, include_context=False))) from None
    project = get_project(conn, body.project_code)
    digest = disclosure.client_digest(client_address(request), secret_key(settings))
    try:
        stored = disclosure.submit_complaint(conn, project, disclosure.ComplaintRequest(**body.model_dump()), digest)
    except disclosure.RateLimitedError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=429, headers={"Retry-After": str(exc.retry_after_s)})
    except disclosure.ComplaintRefusedError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=422)
    if from_form:
        return RedirectResponse(f"/public/projects/{_q(project['code'])}?submitted={stored['complaint_id']}",
                                status_code=status.HTTP_303_SEE_OTHER)
    return JSONResponse(ComplaintOut(**stored).model_dump(mode="json"), status_code=status.HTTP_201_CREATED)


# --- the page ------------------------------------------------------------------------------------------------

_STYLE = """body{font:15px sans-serif;margin:32px;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #bbb;padding:4px 8px;text-align:left}
td.n{text-align:right}input,select,textarea{font-size:15px;margin:3px 0;padding:3px}textarea{width:100%}
.box{border:1px solid #ccc;padding:8px 16px;margin:16px 0;background:#fafafa}.ok{color:#2e7d32}"""
#: The page's policy: its one stylesheet by hash, nothing inline, forms only to this site.
PUBLIC_CSP = ("default-src 'self'; style-src 'sha256-"
              + base64.b64encode(hashlib.sha256(_STYLE.encode("utf-8")).digest()).decode("ascii")
              + "'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")
STRUCTURE_ZH = {"brick_concrete": "砖混", "brick_wood": "砖木", "simple": "简易", "steel": "钢结构", "other": "其他"}


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _q(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _buildings(buildings: list[dict]) -> str:
    """A result's buildings, one per line, escaped."""
    lines = []
    for b in buildings:
        storeys = f"{b['storeys']}层 " if b["storeys"] else ""
        lines.append(_e(f"{b['building'] or ''} {STRUCTURE_ZH.get(b['structure_type'] or '', '')} "
                        f"{storeys}{b['floor_area_m2']} ㎡"))
    return "<br>".join(lines) or "—"


@router.get("/public/projects/{code}", include_in_schema=False)
def page(code: ProjectCode, conn: SessionDep,
         village: Annotated[str | None, Query(max_length=100)] = None,
         q: Annotated[str | None, Query(max_length=100)] = None,
         page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
         submitted: Annotated[int | None, Query(ge=1)] = None) -> HTMLResponse:
    """The public page of a project's published results (简体中文), with the way to complain and the form."""
    project = get_project(conn, code)
    offset = (page_no - 1) * PAGE_DEFAULT
    total, rows = disclosure.published_results(conn, project, village=village, q=q, limit=PAGE_DEFAULT,
                                               offset=offset)
    options = "".join(f'<option value="{_e(v["code"])}"{" selected" if village in (v["code"], v["name"]) else ""}>'
                      f'{_e(v["name"])}</option>' for v in disclosure.villages(conn, project))
    table_rows = "".join(
        "<tr>"
        f"<td>{_e(r['household_no'])}</td><td>{_e(r['village_name'])}</td><td>{_e(r['head_name_masked'])}</td>"
        f"<td>{_e(r['head_id_number_masked'])}</td><td>{_buildings(r['buildings'])}</td>"
        f"<td class=\"n\">{_e(r['building_area_m2'])}</td><td class=\"n\">{_e(_money(r['total_yuan']))}</td>"
        f"<td>{_e(r['published_on'])}</td></tr>" for r in rows) or '<tr><td colspan="8">暂无公示结果</td></tr>'
    pages = max(1, -(-total // PAGE_DEFAULT))
    nav = []
    for target, label in ((page_no - 1, "上一页"), (page_no + 1, "下一页")):
        if 1 <= target <= pages:
            query = urlencode({k: v for k, v in (("village", village), ("q", q), ("page", target)) if v})
            nav.append(f'<a href="/public/projects/{_q(project["code"])}?{_e(query)}">{label}</a>')
    office = disclosure.office(project)
    if office["name"] or office["address"] or office["phone"]:
        how = (f"<p>受理投诉单位：{_e(office['name'] or '—')}；地址：{_e(office['address'] or '—')}；"
               f"电话：{_e(office['phone'] or '—')}。</p>"
               "<p>也可通过下方表单在线提交，我们将转纪检监察人员处理。</p>")
    else:
        how = f"<p>{_e(disclosure.GENERIC_OFFICE_ZH)}</p>"
    thanks = (f'<p class="ok">您的投诉（编号 {_e(submitted)}）已收到，将转交纪检监察人员处理。</p>'
              if submitted else "")
    households = "".join(f'<option value="{_e(r["household_no"])}">' for r in rows)
    body = (
        f"<h1>{_e(project['name'])} 征收补偿结果公示</h1>"
        f"<p>项目编号 {_e(project['code'])}。依规公示补偿结果，个人信息已脱敏（姓名、身份证号部分隐藏）。</p>"
        f'<form method="get" action="/public/projects/{_q(project["code"])}">'
        f'<label>村 <select name="village"><option value="">全部</option>{options}</select></label> '
        '<label>户号或户主姓名 <input name="q" maxlength="100"></label> <button type="submit">查询</button></form>'
        f"<p>共 {total} 户，第 {page_no}/{pages} 页 {' '.join(nav)}</p>"
        "<table><tr><th>户号</th><th>村</th><th>户主</th><th>身份证号</th><th>房屋（结构、层数、建筑面积）</th>"
        f"<th>房屋面积合计(㎡)</th><th>补偿总额(元)</th><th>公示日期</th></tr>{table_rows}</table>"
        f'<div class="box"><h2>异议与投诉</h2>{how}{thanks}'
        '<form method="post" action="/public/complaints">'
        f'<input type="hidden" name="project_code" value="{_e(project["code"])}">'
        f'<div><label>户号（可不填）<input name="household_no" list="hh" maxlength="{disclosure.HOUSEHOLD_MAX}">'
        f'</label><datalist id="hh">{households}</datalist></div>'
        f'<div><label>姓名 <input name="name" required maxlength="{disclosure.NAME_MAX}"></label></div>'
        f'<div><label>联系方式 <input name="contact" required maxlength="{disclosure.CONTACT_MAX}"></label></div>'
        f'<div><label>投诉内容<textarea name="text" rows="5" required minlength="{disclosure.TEXT_MIN}" '
        f'maxlength="{disclosure.TEXT_MAX}"></textarea></label></div>'
        '<button type="submit">提交投诉</button></form>'
        "<p>同一网络每小时最多提交 5 次。请如实反映情况，恶意投诉将依法处理。</p></div>")
    document = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{_e(project["name"])} '
                f"补偿结果公示</title><style>{_STYLE}</style></head><body>{body}</body></html>")
    return HTMLResponse(document, headers={"Content-Security-Policy": PUBLIC_CSP})
