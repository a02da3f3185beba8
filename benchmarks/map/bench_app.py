"""The API with one page more for the map benchmark: a project's parcels drawn from vector tiles.

``/bench/vector/{code}`` is what the project map draws above ``web_map.vector_tiles.VECTOR_TILE_THRESHOLD``
parcels: Leaflet from this server, the scope, the parcels as ``parcels_vector_layer`` (tiles from
``/projects/{code}/tiles/parcels``), the legend's colours, fitted to the scope; same sign-in (the
cookie), same Content-Security-Policy with a nonce. The inline-GeoJSON page it is measured against is
the product's own ``/map/{code}``.
"""

from __future__ import annotations

from typing import cast

import folium
from branca.element import Figure
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.app import create_app
from api.deps import SessionDep, SettingsDep, user_from_token
from api.security import COOKIE_NAME
from supervision import projects
from web_map.security import add_nonce, content_security_policy, new_nonce, text
from web_map.vector_tiles import parcels_vector_layer


def vector_page(project: dict, scope: dict | None, nonce: str) -> str:
    """The map page of a project whose parcels come as vector tiles."""
    m = folium.Map(location=[41.75, 123.45], zoom_start=13, tiles=None, control_scale=True, prefer_canvas=True)
    m.default_js = [("leaflet", "/static/leaflet/leaflet.js"), ("jquery", "/static/jquery/jquery.min.js")]
    m.default_css = [("leaflet_css", "/static/leaflet/leaflet.css")]
    root = cast(Figure, m.get_root())
    root.header.add_child(folium.Element(f"<title>{text(project['name'])} · 征收监督地图</title>"))
    if scope is not None:
        folium.GeoJson(scope, name="征收范围", style_function=lambda _: {"color": "#c62828", "weight": 3,
                                                                    "fill": False, "dashArray": "6 4"}).add_to(m)
        xs = [c[0] for ring in scope["coordinates"] for part in ring for c in part]
        ys = [c[1] for ring in scope["coordinates"] for part in ring for c in part]
        m.fit_bounds([[min(ys), min(xs)], [max(ys), max(xs)]])
    parcels_vector_layer(project["code"]).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return add_nonce(root.render(), nonce)


def create_bench_app() -> FastAPI:
    """``api.app.create_app()`` plus the vector-tile page."""
    app = create_app()

    @app.get("/bench/vector/{code}", include_in_schema=False)
    def bench_vector(code: str, request: Request, conn: SessionDep, settings: SettingsDep) -> Response:
        if user_from_token(conn, settings, request.cookies.get(COOKIE_NAME)) is None:
            return RedirectResponse(f"/login?next=/bench/vector/{code}", status_code=303)
        project = projects.get_project(conn, code)
        nonce = new_nonce()
        page = vector_page(project, projects.scope_geojson(conn, project["id"]), nonce)
        return HTMLResponse(page, headers={"Content-Security-Policy": content_security_policy(nonce)})

    return app
