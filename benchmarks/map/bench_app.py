"""The API with one page more for the map benchmark: a project's map with every parcel inlined as GeoJSON.

Above ``web_map.vector_tiles.VECTOR_TILE_THRESHOLD`` parcels the product's ``/map/{code}`` draws the parcels
from vector tiles. ``/bench/inline/{code}`` is the same page (``web_map.project_map.build_project_map``, same
layers, same sign-in, same Content-Security-Policy with a nonce) with the parcels inlined as GeoJSON whatever
their number: what the map would be without the vector tiles, measured against it in the same run.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.app import create_app
from api.deps import SessionDep, SettingsDep, user_from_token
from api.routes.pages import _map_orthophotos
from api.security import COOKIE_NAME
from supervision import map_layers, projects
from supervision.alerts import alerts_geojson
from web_map.project_map import build_project_map
from web_map.security import content_security_policy, new_nonce


def create_bench_app() -> FastAPI:
    """``api.app.create_app()`` plus the inline-GeoJSON page."""
    app = create_app()

    @app.get("/bench/inline/{code}", include_in_schema=False)
    def bench_inline(code: str, request: Request, conn: SessionDep, settings: SettingsDep) -> Response:
        session = user_from_token(conn, settings, request.cookies.get(COOKIE_NAME))
        if session is None:
            return RedirectResponse(f"/login?next=/bench/inline/{code}", status_code=303)
        user = session.user
        project = projects.get_project(conn, code)
        pid = project["id"]
        nonce = new_nonce()
        page = build_project_map(
            project, map_layers.parcels_geojson(conn, pid, user), projects.scope_geojson(conn, pid),
            alerts_geojson(conn, pid, user), buildings=map_layers.buildings_geojson(conn, pid, user, 10**7),
            footprints={ph: map_layers.footprints_geojson(conn, pid, user, ph, 10**7) for ph in ("baseline", "after")},
            orthophotos=_map_orthophotos(conn, pid), nonce=nonce)
        return HTMLResponse(page, headers={"Content-Security-Policy": content_security_policy(nonce)})

    return app
