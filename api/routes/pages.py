"""The browser pages: sign-in form, project list and the project map (cookie session)."""

from __future__ import annotations

import base64
import hashlib
import html
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import SessionDep, SettingsDep, user_from_token
from api.routes.auth import open_session
from api.security import COOKIE_NAME, cookie_is_secure
from supervision import audit, map_layers, projects
from supervision.alerts import alerts_geojson
from supervision.accounts import ROLE_NAMES_ZH, User, revoke_token
from web_map.project_map import build_project_map
from web_map.vector_tiles import VECTOR_TILE_THRESHOLD, use_vector_tiles
from web_map.security import content_security_policy, new_nonce

router = APIRouter(tags=["pages"], include_in_schema=False)

PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font:15px sans-serif;margin:40px;color:#222}} input{{font-size:15px;margin:4px 0;padding:4px}}
table{{border-collapse:collapse}} td,th{{border:1px solid #bbb;padding:4px 10px}} .err{{color:#c62828}}</style>
</head><body>{body}</body></html>"""


_STYLE = PAGE.format(title="", body="").split("<style>", 1)[1].split("</style>", 1)[0]
#: The simple pages' policy: nothing inline but their one stylesheet (by hash), nothing from elsewhere.
PAGE_CSP = ("default-src 'self'; style-src 'sha256-"
            + base64.b64encode(hashlib.sha256(_STYLE.encode("utf-8")).digest()).decode("ascii")
            + "'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(PAGE.format(title=html.escape(title), body=body), status_code=status_code,
                        headers={"Content-Security-Policy": PAGE_CSP})


def _cookie_user(request: Request, conn, settings) -> User | None:
    session = user_from_token(conn, settings, request.cookies.get(COOKIE_NAME))
    return session.user if session is not None else None


def _safe_next(next: str) -> str:
    """``next`` when it is a path of this site, else the map (no open redirect: //host, /\\host)."""
    return next if next.startswith("/") and not next.startswith(("//", "/\\")) and "\\" not in next else "/map"


def _to_login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


@router.get("/login")
def login_form(next: str = "/map", error: str = "") -> HTMLResponse:
    """The sign-in form."""
    msg = ""
    if error == "locked":
        msg = '<p class="err">登录失败次数过多，请稍后再试 / too many failed sign-ins, try again later</p>'
    elif error:
        msg = '<p class="err">用户名或密码错误</p>'
    body = (f"<h1>Expro 征收监督系统</h1><h2>登录</h2>{msg}"
            f'<form method="post" action="/login"><input type="hidden" name="next" value="{html.escape(next)}">'
            '<div><label>工号 <input name="username" autocomplete="username" required></label></div>'
            '<div><label>密码 <input name="password" type="password" autocomplete="current-password" required>'
            '</label></div><button type="submit">登录</button></form>')
    return _page("登录 · Expro", body)


@router.post("/login")
def login_submit(request: Request, username: Annotated[str, Form()], password: Annotated[str, Form()],
                 conn: SessionDep, settings: SettingsDep, next: Annotated[str, Form()] = "/map") -> Response:
    """Check the credentials (throttled like ``/auth/token``) and set the session cookie."""
    target = _safe_next(next)
    result, token = open_session(conn, settings, request, username, password)
    if token is None:
        error = "locked" if result.locked else "1"
        return RedirectResponse(f"/login?error={error}&next={quote(target)}", status_code=303)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE_NAME, token, httponly=True, samesite="lax", secure=cookie_is_secure(request),
                        max_age=settings.token_minutes * 60, path="/")
    return response


@router.get("/logout")
def logout(request: Request, conn: SessionDep, settings: SettingsDep) -> RedirectResponse:
    """End the session: its token is revoked (refused from now on, also as a bearer) and the cookie dropped."""
    session = user_from_token(conn, settings, request.cookies.get(COOKIE_NAME))
    if session is not None:
        revoke_token(conn, session.user.id, session.claims.token_id, session.claims.expires_at)
        audit.append(conn, actor=session.user.username, action="auth.logout", object_type="user",
                     object_key=session.user.username)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/", secure=cookie_is_secure(request), httponly=True, samesite="lax")
    return response


@router.get("/favicon.ico")
def favicon() -> Response:
    """No icon (avoids a 404 on every page)."""
    return Response(status_code=204)


@router.get("/")
def root() -> RedirectResponse:
    """The map is the home page."""
    return RedirectResponse("/map", status_code=303)


@router.get("/map")
def map_index(request: Request, conn: SessionDep, settings: SettingsDep) -> Response:
    """The list of projects (straight to the map when there is only one)."""
    user = _cookie_user(request, conn, settings)
    if user is None:
        return _to_login(request)
    items = projects.list_projects(conn)
    if len(items) == 1:
        return RedirectResponse(f"/map/{quote(items[0]['code'])}", status_code=303)
    rows = "".join(f'<tr><td><a href="/map/{quote(p["code"])}">{html.escape(p["code"])}</a></td>'
                   f'<td>{html.escape(p["name"])}</td><td>{p["households"]}</td><td>{p["parcels"]}</td></tr>'
                   for p in items) or '<tr><td colspan="4">暂无项目</td></tr>'
    body = (f"<p>{html.escape(user.name)}（{ROLE_NAMES_ZH[user.role]}） · <a href='/logout'>退出</a></p>"
            f"<h1>征收项目</h1><table><tr><th>项目编号</th><th>名称</th><th>户数</th><th>宗地数</th></tr>{rows}</table>")
    page = _page("征收项目 · Expro", body)
    page.headers["Content-Security-Policy"] = content_security_policy()
    return page


@router.get("/map/{code}")
def project_map(code: str, request: Request, conn: SessionDep, settings: SettingsDep) -> Response:
    """The project map: scope, parcels coloured by their worst open alert, claimed outlines and measured
    footprints, both flights, the alerts the user may see (``supervision.policy``), every value escaped, scripts
    limited to this server and the response's nonce. Above ``VECTOR_TILE_THRESHOLD`` parcels the parcels come
    as vector tiles (``api.routes.mvt``) instead of inline GeoJSON."""
    user = _cookie_user(request, conn, settings)
    if user is None:
        return _to_login(request)
    project = projects.get_project(conn, code)
    pid = project["id"]
    count = map_layers.parcel_count(conn, pid, user)
    parcels = None if use_vector_tiles(count) else map_layers.parcels_geojson(conn, pid, user)
    nonce = new_nonce()
    page = build_project_map(
        project, parcels, projects.scope_geojson(conn, pid), alerts_geojson(conn, pid, user), parcel_count=count,
        buildings=map_layers.buildings_geojson(conn, pid, user, VECTOR_TILE_THRESHOLD),
        footprints={phase: map_layers.footprints_geojson(conn, pid, user, phase, VECTOR_TILE_THRESHOLD)
                    for phase in ("baseline", "after")},
        orthophotos=_map_orthophotos(conn, pid), nonce=nonce)
    return HTMLResponse(page, headers={"Content-Security-Policy": content_security_policy(nonce)})


def _map_orthophotos(conn, project_id: int) -> list[dict]:
    """The project's ingested flights for the map, newest first, with their native zoom."""
    from imagery.catalogue import flights
    from imagery.tiles import zoom_range

    out = []
    for row in flights(conn, project_id, "ingested"):
        try:
            max_zoom = zoom_range(row["cog_path"])[1]
        except OSError:  # the COG is missing on disk: the layer would be empty
            continue
        out.append({"id": row["id"], "phase": row["phase"], "captured_on": str(row["captured_on"]),
                    "max_zoom": max_zoom})
    return out
