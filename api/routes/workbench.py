"""The inspectors' alert workbench, the audit viewer, image chips and the evidence pack of an alert.

The pages use the cookie session of ``/login``. A step of the loop taken from the workbench form is a POST with
the cookie, so it also carries a per-session form token (HMAC of the token id; the cookie is SameSite=Lax) and
goes through :func:`supervision.alert_loop.act`, the one code path of the loop (policy, state, audit).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import shutil
import tempfile
from decimal import Decimal, InvalidOperation
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import shapely
from fastapi import APIRouter, Depends, File, Form, HTTPException, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection, text

from api.deps import AuthSession, SessionDep, SettingsDep, require_roles, user_from_token
from api.security import COOKIE_NAME, secret_key
from api.uploads import ENVELOPE_BYTES
from expro.settings import Settings
from imagery.chips import CLAIMED_RGB, MEASURED_RGB, ChipError, ChipReader, Outline, padded_bounds, render_chip
from supervision import alert_loop, alerts, audit, policy, projects
from supervision.accounts import ROLE_NAMES_ZH, User
from web_map import workbench as pages
from web_map.evidence_pack import render_evidence_pack
from web_map.security import content_security_policy, new_nonce

router = APIRouter(tags=["alerts"])
pages_router = APIRouter(tags=["pages"], include_in_schema=False)

CHINA = ZoneInfo("Asia/Shanghai")
Reviewer = Annotated[User, Depends(require_roles(*policy.ALERT_ROLES))]
AlertId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the alert's id")]
#: Who opens the audit viewer: the discipline inspectors and the administrators (the audit trail shows every
#: act of every user; the CLI's ``expro audit`` is the database owner's). Field crews, GIS officers and
#: supervisors may not.
AUDIT_ROLES = ("inspector", "admin")
AUDIT_PAGE_SIZE = 50
PACK_HEADER = "X-Evidence-Pack-SHA256"


# --- sessions and the form token -------------------------------------------------------------------------------

def _session(request: Request, conn: Connection, settings: Settings) -> AuthSession | None:
    return user_from_token(conn, settings, request.cookies.get(COOKIE_NAME))


def form_token(settings: Settings, session: AuthSession) -> str:
    """The workbench form's token for this session (HMAC of its token id with the server's key)."""
    return hmac.new(secret_key(settings).encode(), f"workbench:{session.claims.token_id}".encode(),
                    hashlib.sha256).hexdigest()


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


def _html(body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status_code, headers={"Content-Security-Policy": content_security_policy(new_nonce())})  # scripts: this server's


def _refusal(title: str, message: str, status_code: int) -> HTMLResponse:
    return _html(pages.message_page(title, message), status_code)


# --- what the workbench shows about an alert ------------------------------------------------------------------

_SUBJECT_SQL = """
WITH a AS (SELECT al.*, p.srid FROM alert al JOIN project p ON p.id = al.project_id WHERE al.id = :i),
hh AS (SELECT h.* FROM alert_household ah JOIN household h ON h.id = ah.household_id, a WHERE ah.alert_id = a.id)
SELECT ST_AsBinary(COALESCE(
    (SELECT b.geom FROM building b, a WHERE a.subject_type = 'building' AND b.project_id = a.project_id
       AND b.parcel_code || '/' || b.building_no = a.subject_key LIMIT 1),
    (SELECT pa.geom FROM parcel pa, a WHERE a.subject_type = 'parcel' AND pa.project_id = a.project_id
       AND pa.parcel_code = a.subject_key LIMIT 1),
    (SELECT COALESCE(b.geom, pa.geom) FROM claim c JOIN a ON a.subject_type = 'claim' AND c.project_id = a.project_id
       AND c.claim_id = a.subject_key LEFT JOIN building b ON b.id = c.building_id
       LEFT JOIN parcel pa ON pa.id = c.parcel_id LIMIT 1),
    (SELECT ST_Transform(f.geom, a.srid) FROM field_photo f, a WHERE a.subject_type = 'photo'
       AND f.project_id = a.project_id AND f.photo_id = a.subject_key LIMIT 1),
    (SELECT ST_Union(pa.geom) FROM hh JOIN parcel pa ON pa.project_id = hh.project_id
       AND pa.household_no = hh.household_no AND pa.land_class = 'homestead'),
    (SELECT ST_Union(pa.geom) FROM hh JOIN parcel pa ON pa.project_id = hh.project_id
       AND pa.household_no = hh.household_no))) AS wkb
"""


def _subject_geom(conn: Connection, alert_id: int) -> shapely.Geometry | None:
    """The alert's subject in the project CRS: the claimed outline, the parcel, the photo or the household's parcels."""
    wkb = conn.execute(text(_SUBJECT_SQL), {"i": alert_id}).scalar()
    return None if wkb is None else shapely.from_wkb(bytes(wkb))


def _footprints(conn: Connection, project_id: int, srid: int, geom: shapely.Geometry,
                bounds: tuple[float, float, float, float] | None = None) -> dict[str, list[shapely.Geometry]]:
    """The measured footprints of both phases that touch ``geom`` (or ``bounds``), in the project CRS."""
    area = shapely.box(*bounds) if bounds else geom.buffer(1.0)
    rows = conn.execute(text("""
        SELECT phase, ST_AsBinary(geom) AS wkb FROM footprint
        WHERE project_id = :p AND geom && ST_SetSRID(ST_GeomFromWKB(:w), ST_SRID(geom))
          AND ST_Intersects(geom, ST_SetSRID(ST_GeomFromWKB(:w), ST_SRID(geom)))"""),
        {"p": project_id, "w": shapely.to_wkb(area)}).all()
    out: dict[str, list[shapely.Geometry]] = {"baseline": [], "after": []}
    for r in rows:
        out[r.phase].append(shapely.from_wkb(bytes(r.wkb)))
    return out


def _flights(conn: Connection, project_id: int) -> dict[str, dict | None]:
    """The newest ingested flight of each phase (id, captured_on, cog_path), or None."""
    rows = conn.execute(text("""
        SELECT DISTINCT ON (phase) id, phase, captured_on, cog_path FROM orthophoto
        WHERE project_id = :p AND status = 'ingested' AND cog_path IS NOT NULL
        ORDER BY phase, captured_on DESC, id DESC"""), {"p": project_id}).mappings().all()
    out: dict[str, dict | None] = {"baseline": None, "after": None}
    for r in rows:
        out[r["phase"]] = dict(r)
    return out


def _project_of_alert(conn: Connection, alert_id: int) -> dict:
    row = conn.execute(text("SELECT p.id, p.code, p.srid FROM alert a JOIN project p ON p.id = a.project_id "
                            "WHERE a.id = :i"), {"i": alert_id}).mappings().one()
    return dict(row)


def _chip(conn: Connection, alert_id: int, phase: str) -> bytes:
    """The PNG chip of the alert's subject in the newest flight of ``phase``: claimed outline and footprints."""
    project = _project_of_alert(conn, alert_id)
    geom = _subject_geom(conn, alert_id)
    if geom is None:
        return render_chip(None, (0, 0, 1, 1), [], label="无对象位置")
    bounds = padded_bounds([geom])
    measured = _footprints(conn, project["id"], project["srid"], geom, bounds)[phase]
    outlines = [Outline(g, MEASURED_RGB, 2) for g in measured] + [Outline(geom, CLAIMED_RGB, 3)]
    flight = _flights(conn, project["id"])[phase]
    zh = "征收前" if phase == "baseline" else "征收后"
    if flight is None or not FsPath(flight["cog_path"]).is_file():
        return render_chip(None, bounds, outlines, label=f"{zh}：无影像")
    try:
        with ChipReader(flight["cog_path"]) as reader:
            rgb = reader.read(bounds)
    except ChipError:
        rgb = None
    return render_chip(rgb, bounds, outlines, label=f"{zh} {flight['captured_on']}")


def _registry_rows(conn: Connection, alert: dict) -> list[dict]:
    """The registry rows of the people the alert names (its subject person, the ID numbers in its evidence) and of
    the households it concerns."""
    ids: set[str] = set()

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, str(k))
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str) and key.endswith("id_number"):
            ids.add(value.strip().upper())

    walk(alert.get("evidence") or {})
    if alert["subject_type"] == "person":
        ids.add(str(alert["subject_key"]).strip().upper())
    rows = conn.execute(text("""
        SELECT r.id_number, r.name, r.household_no, r.relation_to_head, r.village_code, r.status, r.status_date,
               r.moved_in_on FROM registry_person r JOIN alert a ON a.id = :i
        WHERE (upper(r.id_number) = ANY(:ids) OR r.household_no IN (
                 SELECT h.household_no FROM alert_household ah JOIN household h ON h.id = ah.household_id
                 WHERE ah.alert_id = a.id))
          AND r.extract_id IN (SELECT extract_id FROM expro_registry_extracts(a.project_id))
        ORDER BY r.household_no, r.id_number"""), {"i": alert["id"], "ids": sorted(ids)}).mappings().all()
    return [dict(r) for r in rows]


def _audit_events(conn: Connection, *, where: str = "true", params: dict | None = None, limit: int = 200,
                  offset: int = 0) -> list[dict]:
    rows = conn.execute(text(f"""
        SELECT e.seq, e.recorded_at, e.actor, e.action, e.object_type, e.object_key, e.event_bytes,
               EXISTS (SELECT 1 FROM audit_chain c WHERE c.seq = e.seq) AS chained
        FROM audit_event e WHERE {where} ORDER BY e.seq DESC LIMIT :lim OFFSET :off"""),
        {**(params or {}), "lim": limit, "off": offset}).mappings().all()
    out = []
    for r in rows:
        event = json.loads(bytes(r["event_bytes"]).decode("utf-8"))
        out.append({**{k: r[k] for k in ("seq", "recorded_at", "actor", "action", "object_type", "object_key",
                                         "chained")},
                    "details": event.get("details") or {}, "opinion": event.get("opinion")})
    return out


def _alert_audit(conn: Connection, alert_id: int) -> list[dict]:
    """The audit events about one alert, oldest first."""
    events = _audit_events(conn, where="e.object_type = 'alert' AND e.object_key = :k", params={"k": str(alert_id)})
    return list(reversed(events))


# --- image chips and the evidence pack (API, bearer or cookie on GET) ---------------------------------------

@router.get("/alerts/{alert_id}/chips/{phase}.png", response_class=Response, responses={
    200: {"content": {"image/png": {}}, "description": "the subject in that flight, outlines drawn"},
    404: {"description": "no such alert, or not visible to this user"}})
def alert_chip(alert_id: AlertId, phase: Literal["baseline", "after"], conn: SessionDep, user: Reviewer) -> Response:
    """A PNG chip of the alert's subject in the newest baseline or after flight: the claimed outline (red) and
    the footprints measured in that flight (yellow); grey with a note when there is no such flight."""
    alerts.get_alert(conn, alert_id, user)          # 404 unless the policy lets the user see it
    return Response(_chip(conn, alert_id, phase), media_type="image/png",
                    headers={"Cache-Control": "private, max-age=60"})


@router.get("/alerts/{alert_id}/evidence-pack.pdf", response_class=Response, responses={
    200: {"content": {"application/pdf": {}}, "description": f"the pack; its SHA-256 in {PACK_HEADER}"},
    404: {"description": "no such alert, or not visible to this user"}})
def evidence_pack(alert_id: AlertId, conn: SessionDep, user: Reviewer) -> Response:
    """The alert's evidence pack (PDF, Chinese, embedded font): figures, evidence lists, chips of both flights,
    registry rows, history and audit events, masked for the reader's role; its SHA-256 stored and audited."""
    alert = alerts.get_alert(conn, alert_id, user)
    registry = policy.mask_alerts([{"evidence": {"rows": _registry_rows(conn, alert)}}], user)[0]["evidence"]["rows"]
    flights = _flights(conn, _project_of_alert(conn, alert_id)["id"])
    chips = []
    for phase, zh in (("baseline", "征收前"), ("after", "征收后")):
        flight = flights[phase]
        chips.append((f"{zh}影像 {flight['captured_on']}" if flight else f"{zh}：无影像", _chip(conn, alert_id, phase)))
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    pdf = render_evidence_pack(alert=alert, chips=chips, registry=registry, audit_events=_alert_audit(conn, alert_id),
                               generated_by=f"{user.name}（{user.username}）", generated_at=now)
    digest = hashlib.sha256(pdf).hexdigest()
    conn.execute(text("INSERT INTO alert_evidence_pack (alert_id, sha256, size_bytes, alert_state, generated_by, "
                      "generated_at) VALUES (:a, :s, :n, :st, :u, :t)"),
                 {"a": alert_id, "s": digest, "n": len(pdf), "st": alert["state"], "u": user.id, "t": now})
    audit.append(conn, actor=user.username, action="alert.evidence_pack", object_type="alert",
                 object_key=str(alert_id), details={"sha256": digest, "size_bytes": len(pdf), "state": alert["state"]})
    return Response(pdf, media_type="application/pdf", headers={
        PACK_HEADER: digest, "Content-Disposition": f'inline; filename="evidence-pack-{alert_id}.pdf"'})


# --- the workbench page -----------------------------------------------------------------------------------------

def _next_steps(conn: Connection, user: User, alert_id: int) -> tuple[list[tuple[str, str]], list[str]]:
    """The steps ``user`` may take now on the alert (policy and state), and why the others are refused."""
    row = conn.execute(text("SELECT id, state, severity, assignee_user_id FROM alert WHERE id = :i"),
                       {"i": alert_id}).mappings().one()
    steps, refusals = [], []
    for action, transition in alert_loop.TRANSITIONS.items():
        if row["state"] not in transition.from_states:
            continue
        refusal = policy.step_refusal(conn, user, row, action)
        if refusal is None:
            steps.append((action, transition.zh))
        else:
            refusals.append(f"{transition.zh}：{refusal.zh}")
    return steps, list(dict.fromkeys(refusals))


def _assignees(conn: Connection, alert_id: int) -> list[tuple[str, str]]:
    """Active staff to whom the alert may be assigned (``policy.assignee_refusal``)."""
    row = conn.execute(text("SELECT id, severity FROM alert WHERE id = :i"), {"i": alert_id}).mappings().one()
    users = conn.execute(text("SELECT id, username, name, role FROM app_user WHERE active AND role = ANY(:r) "
                              "ORDER BY username"),
                         {"r": list(policy.ASSIGNABLE_ROLES.get(row["severity"], ()))}).mappings().all()
    return [(u["username"], f"{u['name']}（{u['username']}，{ROLE_NAMES_ZH.get(u['role'], u['role'])}）")
            for u in users if policy.assignee_refusal(conn, u, row) is None]


def _case_links(conn: Connection, user: User, alert_id: int) -> tuple[list[tuple[str, str]], list[dict]]:
    """Links to the documents of the cases the alert concerns, and their captures (cases the user may see)."""
    cond, params = policy.case_visible_sql(user, "cf")
    cases = conn.execute(text(f"""
        SELECT cf.id, cf.household_no, p.code FROM alert_household ah JOIN household h ON h.id = ah.household_id
        JOIN case_file cf ON cf.project_id = h.project_id AND cf.household_no = h.household_no
        JOIN project p ON p.id = cf.project_id WHERE ah.alert_id = :i AND {cond} ORDER BY cf.household_no"""),
        {**params, "i": alert_id}).mappings().all()
    links: list[tuple[str, str]] = []
    captures: list[dict] = []
    for c in cases:
        base = f"/projects/{quote(c['code'])}/cases/{quote(c['household_no'])}"
        links += [(f"户 {c['household_no']} 核量单（PDF）", f"{base}/documents/quantity-sheet.pdf"),
                  (f"户 {c['household_no']} 协议书（PDF）", f"{base}/documents/agreement.pdf"),
                  (f"户 {c['household_no']} 案件与归档材料（JSON）", base)]
        captures += [dict(r) for r in conn.execute(text(
            "SELECT stage_code, item_code, file_name, sha256, taken_at FROM case_capture WHERE case_id = :c "
            "ORDER BY taken_at, id LIMIT 50"), {"c": c["id"]}).mappings().all()]
    return links, captures


def _to_geojson(geom: shapely.Geometry | None, srid: int) -> dict | None:
    if geom is None:
        return None
    from pyproj import Transformer

    to_wgs = Transformer.from_crs(srid, 4326, always_xy=True)
    return json.loads(shapely.to_geojson(shapely.transform(geom, lambda xy: _xy(to_wgs, xy))))


def _xy(transformer, xy):
    import numpy as np

    x, y = transformer.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([x, y])


def _fc(geoms: list[shapely.Geometry], srid: int) -> dict:
    return {"type": "FeatureCollection",
            "features": [{"type": "Feature", "properties": {}, "geometry": _to_geojson(g, srid)} for g in geoms]}


@pages_router.get("/workbench/{code}")
def workbench(code: str, request: Request, conn: SessionDep, settings: SettingsDep,
              rule: str | None = None, severity: str | None = None, state: str | None = None,
              village: str | None = None, alert: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
              done: str = "", error: str = "") -> Response:
    """The project's alert workbench (cookie session; the roles that may open alerts)."""
    session = _session(request, conn, settings)
    if session is None:
        return _to_login(request)
    user = session.user
    if user.role not in policy.ALERT_ROLES:
        return _refusal("无权访问", f"{ROLE_NAMES_ZH.get(user.role, user.role)}不能处理预警 / your role may not open alerts",
                        403)
    project = projects.get_project(conn, code)
    rows = alerts.list_alerts(conn, code, user, state=state or None, rule=rule or None, limit=5000)
    villages_of = {r.id: r.codes for r in conn.execute(text("""
        SELECT ah.alert_id AS id, array_agg(DISTINCT h.village_code) AS codes FROM alert_household ah
        JOIN household h ON h.id = ah.household_id JOIN alert a ON a.id = ah.alert_id
        WHERE a.project_id = :p GROUP BY ah.alert_id"""), {"p": project["id"]}).all()}
    rows = [r for r in rows if (not severity or r["severity"] == severity)
            and (not village or village in (villages_of.get(r["id"]) or []))]
    villages = [(r.code, f"{r.name}（{r.code}）") for r in conn.execute(text(
        "SELECT code, name FROM admin_unit WHERE project_id = :p AND level = 'village' ORDER BY code"),
        {"p": project["id"]}).all()]
    rules = list(conn.execute(text("SELECT DISTINCT rule_code FROM alert WHERE project_id = :p ORDER BY 1"),
                              {"p": project["id"]}).scalars())
    stats = alerts.statistics(conn, code) if user.role in policy.STATISTICS_ROLES else None
    flights = _flights(conn, project["id"])
    map_data: dict[str, Any] = {
        "flights": [{"id": f["id"], "phase": f["phase"], "captured_on": str(f["captured_on"]),
                     "max_zoom": _max_zoom(f["cog_path"])} for f in flights.values() if f],
        "alerts": alerts.alerts_geojson(conn, project["id"], user), "chosen": alert}
    detail = '<p class="muted" id="no-alert">请在左侧选择一条预警。</p>'
    if alert is not None:
        try:
            chosen = alerts.get_alert(conn, alert, user)
        except alerts.AlertNotFoundError:
            chosen = None
            detail = '<p class="err" id="no-alert">该预警不存在或无权查看。</p>'
        if chosen is not None and chosen["project_code"] != code:
            chosen = None
            detail = '<p class="err" id="no-alert">该预警不属于本项目。</p>'
        if chosen is not None:
            geom = _subject_geom(conn, alert)
            if geom is not None:
                fps = _footprints(conn, project["id"], project["srid"], geom, padded_bounds([geom]))
                map_data["subject"] = _to_geojson(geom, project["srid"])
                map_data["footprints"] = {k: _fc(v, project["srid"]) for k, v in fps.items()}
            steps, refusals = _next_steps(conn, user, alert)
            links, captures = _case_links(conn, user, alert)
            detail = pages.detail_panel(
                alert=chosen, flights=flights, links=links, captures=captures, steps=steps, refusals=refusals,
                assignees=_assignees(conn, alert) if any(a == "assign" for a, _ in steps) else [],
                csrf=form_token(settings, session),
                message=f"已完成：{alert_loop.TRANSITIONS[done].zh}" if done in alert_loop.TRANSITIONS else "",
                error=error[:500], filters={"rule": rule, "severity": severity, "state": state, "village": village})
    filters = {"rule": rule, "severity": severity, "state": state, "village": village,
               "alert": str(alert) if alert else None}
    return _html(pages.workbench_page(user=user, role_zh=ROLE_NAMES_ZH.get(user.role, user.role), project=project,
                                      alerts=rows, filters=filters, villages=villages, rules=rules, statistics=stats,
                                      detail=detail, map_data=map_data))


def _max_zoom(cog_path: str) -> int:
    from imagery.tiles import zoom_range

    try:
        return zoom_range(cog_path)[1]
    except OSError:
        return 20


@pages_router.post("/workbench/alerts/{alert_id}/actions")
def workbench_step(alert_id: AlertId, request: Request, conn: SessionDep, settings: SettingsDep,
                   action: Annotated[str, Form()], opinion: Annotated[str, Form(max_length=4000)] = "",
                   csrf: Annotated[str, Form()] = "", acted_on: Annotated[str, Form()] = "",
                   assignee: Annotated[str, Form(max_length=200)] = "",
                   amount_recovered_yuan: Annotated[str, Form(max_length=32)] = "",
                   f_rule: Annotated[str, Form(max_length=64)] = "", f_severity: Annotated[str, Form(max_length=16)] = "",
                   f_state: Annotated[str, Form(max_length=16)] = "",
                   f_village: Annotated[str, Form(max_length=32)] = "",
                   attachment: Annotated[UploadFile | None, File()] = None) -> Response:
    """A step of the loop from the workbench form: the session cookie and its form token, then
    :func:`supervision.alert_loop.act` (policy, state, audit); back to the workbench with the outcome."""
    session = _session(request, conn, settings)
    if session is None:
        return _to_login(request)
    if not hmac.compare_digest(csrf, form_token(settings, session)):
        return _refusal("请求无效", "表单已过期或来源不明，请刷新页面后重试 / invalid form token", 403)
    origin = request.headers.get("origin")
    if origin and origin != f"{request.url.scheme}://{request.url.netloc}":
        return _refusal("请求无效", "请求来源不是本站 / cross-site request refused", 403)
    user = session.user
    if user.role not in policy.ALERT_ROLES:
        return _refusal("无权操作", "您的角色不能处理预警 / your role may not act on alerts", 403)
    project = _project_of_alert(conn, alert_id) if policy.can_see_alert(conn, user, alert_id) else None
    if project is None:
        return _refusal("预警不存在", f"预警 {alert_id} 不存在或无权查看", 404)
    kept = {k: v for k, v in (("rule", f_rule), ("severity", f_severity), ("state", f_state),
                              ("village", f_village)) if v}
    back = f"/workbench/{quote(project['code'])}"
    try:
        day = dt.date.fromisoformat(acted_on) if acted_on else None
    except ValueError:
        return RedirectResponse(f"{back}?{urlencode({**kept, 'alert': alert_id, 'error': '日期格式不对'})}", status_code=303)
    amount: Decimal | None = None
    if amount_recovered_yuan.strip():
        try:
            amount = Decimal(amount_recovered_yuan.strip().replace(",", ""))
        except InvalidOperation:
            return RedirectResponse(f"{back}?{urlencode({**kept, 'alert': alert_id, 'error': '追回金额不是数字'})}",
                                    status_code=303)
    attachments = []
    if attachment is not None and attachment.filename:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > alert_loop.MAX_ATTACHMENT_BYTES + ENVELOPE_BYTES:
            return _refusal("附件过大", f"附件不能超过 {alert_loop.MAX_ATTACHMENT_BYTES // 2**20} MB", 413)
        settings.home.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=settings.home, suffix=".upload") as tmp:
            shutil.copyfileobj(attachment.file, tmp)
            tmp.flush()
            try:
                attachments.append(alert_loop.store_attachment(
                    conn, FsPath(tmp.name), file_name=attachment.filename, store_dir=settings.home / "attachments",
                    user=user))
            except alert_loop.AttachmentError as exc:
                return RedirectResponse(f"{back}?{urlencode({**kept, 'alert': alert_id, 'error': str(exc)})}",
                                        status_code=303)
    try:
        alert_loop.act(conn, alert_id, user, action, opinion=opinion, acted_on=day, assignee=assignee or None,
                       amount_recovered_yuan=amount, attachments=attachments)
    except alert_loop.AlertPermissionError as exc:
        return _refusal("无权执行此步骤", str(exc), 403)
    except alert_loop.AlertLoopError as exc:
        return RedirectResponse(f"{back}?{urlencode({**kept, 'alert': alert_id, 'error': str(exc).split(' / ')[0]})}",
                                status_code=303)
    return RedirectResponse(f"{back}?{urlencode({**kept, 'alert': alert_id, 'done': action})}", status_code=303)


# --- the audit viewer -----------------------------------------------------------------------------------------

def _chain_state(conn: Connection) -> dict:
    """The chain's verification (:func:`supervision.audit.verify_database`) after sealing what is committed."""
    audit.seal(conn, wait=False)
    report = audit.verify_database(conn)
    return {"intact": report.intact, "events": report.summary.count, "pending": report.pending,
            "breaks": [b.render() for b in report.breaks], "head": report.summary.last_hash.hex()}


def _checkpoint(conn: Connection, day: dt.date | None) -> dict | None:
    """The checkpoint of ``day`` (else the newest), and whether it still matches the chain."""
    row = conn.execute(text(
        "SELECT k.day, k.pos, k.seq, k.hash, k.created_by, k.created_at, c.hash AS chain_hash "
        "FROM audit_checkpoint k LEFT JOIN audit_chain c ON c.pos = k.pos "
        "WHERE CAST(:d AS date) IS NULL OR k.day = :d ORDER BY k.day DESC LIMIT 1"), {"d": day}).mappings().one_or_none()
    if row is None:
        return None
    matches = row["pos"] == 0 or (row["chain_hash"] is not None and bytes(row["chain_hash"]) == bytes(row["hash"]))
    return {"day": str(row["day"]), "pos": row["pos"], "hash": bytes(row["hash"]).hex(),
            "created_by": row["created_by"], "created_at": row["created_at"], "matches": matches}


@pages_router.get("/audit")
def audit_viewer(request: Request, conn: SessionDep, settings: SettingsDep, actor: str = "", action: str = "",
                 subject: str = "", object_type: str = "", date_from: str = "", date_to: str = "",
                 page: Annotated[int, Query(ge=1, le=100000)] = 1) -> Response:
    """Who did what, when, on which case or alert: filterable, paginated, with the chain's state and checkpoint."""
    session = _session(request, conn, settings)
    if session is None:
        return _to_login(request)
    user = session.user
    if user.role not in AUDIT_ROLES:
        return _refusal("无权访问", f"{ROLE_NAMES_ZH.get(user.role, user.role)}不能查看审计日志（仅限纪检监察人员、管理员）"
                        " / your role may not open the audit trail", 403)
    try:
        start = dt.date.fromisoformat(date_from) if date_from else None
        end = dt.date.fromisoformat(date_to) if date_to else None
    except ValueError:
        return _refusal("日期无效", "日期须为 YYYY-MM-DD / dates must be YYYY-MM-DD", 422)
    conds: list[str] = ["true"]
    params: dict[str, Any] = {}
    if actor:
        conds.append("e.actor = :actor")
        params["actor"] = actor.strip()
    if action:
        conds.append("e.action LIKE :action")
        params["action"] = action.strip().replace("%", r"\%").replace("_", r"\_") + "%"
    if subject:
        conds.append("(e.object_key = :subject OR e.object_key LIKE :subject_prefix)")
        params["subject"] = subject.strip()
        params["subject_prefix"] = subject.strip().replace("%", r"\%").replace("_", r"\_") + "/%"
    if object_type:
        conds.append("e.object_type = :otype")
        params["otype"] = object_type.strip()
    if start:
        conds.append("e.recorded_at >= :start")
        params["start"] = dt.datetime.combine(start, dt.time(0), tzinfo=CHINA)
    if end:
        conds.append("e.recorded_at < :end")
        params["end"] = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0), tzinfo=CHINA)
    where = " AND ".join(conds)
    chain = _chain_state(conn)
    total = conn.execute(text(f"SELECT count(*) FROM audit_event e WHERE {where}"), params).scalar_one()
    events = _audit_events(conn, where=where, params=params, limit=AUDIT_PAGE_SIZE + 1,
                           offset=(page - 1) * AUDIT_PAGE_SIZE)
    filters = {"actor": actor, "action": action, "subject": subject, "object_type": object_type,
               "date_from": date_from, "date_to": date_to}
    return _html(pages.audit_page(user=user, role_zh=ROLE_NAMES_ZH.get(user.role, user.role),
                                  events=events[:AUDIT_PAGE_SIZE], filters=filters, page=page,
                                  has_next=len(events) > AUDIT_PAGE_SIZE, total=total, chain=chain,
                                  checkpoint=_checkpoint(conn, end)))
