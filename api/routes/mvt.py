"""Mapbox vector tiles of a project's parcels, made by PostGIS (``ST_AsMVT``), cached, behind sign-in."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path as PathParam, Query, Request, Response, status
from sqlalchemy import Connection, text

from api.deps import CurrentUser, ProjectDep, SessionDep
from imagery.tile_cache import TileCache
from supervision import policy
from supervision.accounts import User
from supervision.map_layers import WORST_ALERT_CTES, search_parcels

router = APIRouter(tags=["map"])

MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
LAYER = "parcels"
EXTENT = 4096
BUFFER = 64
#: Below this zoom a tile would carry a whole district's parcels as specks: the page draws none there.
MIN_ZOOM = 10
MAX_ZOOM = 22
#: Browsers may keep a tile this long; the server's cache is keyed by the data's version instead.
BROWSER_SECONDS = 60
#: Encoded tiles of this process, keyed by project, who sees what, the data's version and z/x/y.
TILES = TileCache(max_bytes=128 * 2**20)

Zoom = Annotated[int, PathParam(ge=0, le=MAX_ZOOM)]
TileIndex = Annotated[int, PathParam(ge=0, le=2**31 - 1)]

#: What a tile depends on besides the user's rights: parcels, claims and payments (status), alerts and
#: their steps (worst open alert). Index look-ups only.
VERSION_SQL = """
    SELECT concat_ws(':',
        (SELECT max(id) FROM parcel WHERE project_id = :p), (SELECT count(*) FROM parcel WHERE project_id = :p),
        (SELECT max(id) FROM claim WHERE project_id = :p), (SELECT max(id) FROM payment WHERE project_id = :p),
        (SELECT max(id) FROM alert WHERE project_id = :p),
        (SELECT extract(epoch FROM max(last_seen_at)) FROM alert WHERE project_id = :p),
        (SELECT max(e.id) FROM alert_event e JOIN alert a ON a.id = e.alert_id WHERE a.project_id = :p))"""

#: The parcels of a tile with their status and worst open alert (``supervision.map_layers.WORST_ALERT_CTES``,
#: the same as the inline map page's).
TILE_SQL = """
    WITH env AS (SELECT ST_TileEnvelope(:z, :x, :y) AS g),
    box AS (SELECT ST_Transform(ST_Expand(g, (ST_XMax(g) - ST_XMin(g)) * :buffer / :extent), :srid) AS g FROM env),
    pa AS (
        SELECT pa.parcel_code, pa.household_no, pa.land_class, pa.area_m2, pa.geom FROM parcel pa, box
        WHERE pa.project_id = :p AND pa.geom && box.g AND {visible}),
    """ + WORST_ALERT_CTES + """,
    paid AS (SELECT DISTINCT household_no FROM payment WHERE project_id = :p),
    claimed AS (SELECT DISTINCT parcel_code FROM claim WHERE project_id = :p),
    mvt AS (
        SELECT ST_AsMVTGeom(ST_Transform(pa.geom, 3857), env.g, :extent, :buffer, true) AS geom,
               pa.parcel_code, pa.household_no, pa.land_class, round(pa.area_m2::numeric, 2)::float8 AS area_m2,
               CASE WHEN paid.household_no IS NOT NULL THEN 'paid'
                    WHEN claimed.parcel_code IS NOT NULL THEN 'claimed' ELSE 'unclaimed' END AS status,
               COALESCE(worst.severity, 'none') AS severity, COALESCE(worst.open_alerts, 0)::int AS open_alerts
        FROM pa CROSS JOIN env
        LEFT JOIN worst ON worst.parcel_code = pa.parcel_code
        LEFT JOIN paid ON paid.household_no = pa.household_no
        LEFT JOIN claimed ON claimed.parcel_code = pa.parcel_code)
    SELECT ST_AsMVT(mvt, :layer, :extent, 'geom') FROM mvt WHERE geom IS NOT NULL"""


def _audience(user: User) -> tuple:
    """Who sees the same tile: one key per role, per user where the policy narrows rows to the user."""
    crew = user.role in policy.ASSIGNED_ONLY_ROLES
    return (user.role, user.id if crew else None)


def data_version(conn: Connection, project_id: int) -> str:
    """A fingerprint of what the project's parcel tiles show (changes when parcels, claims, payments or
    alerts do)."""
    return str(conn.execute(text(VERSION_SQL), {"p": project_id}).scalar_one())


def parcel_tile(conn: Connection, project: dict, user: User, z: int, x: int, y: int) -> bytes:
    """The MVT tile ``z/x/y`` (layer ``parcels``) of the project's parcels that ``user`` may see."""
    visible, vparams = policy.household_no_visible_sql(user, "pa.project_id", "pa.household_no")
    alert_visible, aparams = policy.alert_visible_sql(user, "a")
    sql = TILE_SQL.format(visible=visible, alert_visible=alert_visible)
    body = conn.execute(text(sql), {**vparams, **aparams, "p": project["id"], "srid": project["srid"], "z": z,
                                    "x": x, "y": y, "extent": EXTENT, "buffer": BUFFER,
                                    "layer": LAYER}).scalar_one()
    return bytes(body or b"")


@router.get("/projects/{code}/tiles/parcels/{z}/{x}/{y}.pbf", responses={
    200: {"content": {MVT_MEDIA_TYPE: {}}, "description": "the tile (empty outside the parcels)"},
    304: {"description": "not modified (ETag)"}, 404: {"description": "unknown project, or no such tile"}})
def parcels_tile(project: ProjectDep, z: Zoom, x: TileIndex, y: TileIndex, request: Request, conn: SessionDep,
                 user: CurrentUser) -> Response:
    """A Mapbox vector tile of the project's parcels with their status and worst open alert severity.

    Attributes: ``parcel_code``, ``household_no``, ``land_class``, ``area_m2``, ``status`` (paid, claimed,
    unclaimed), ``severity`` (report, internal, prompt, none) and ``open_alerts``; rows and alerts as the
    policy lets the user see them. Tiles are cached per role (per user for a field crew) and data version.
    """
    if not (x < 2 ** z and y < 2 ** z):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no tile {z}/{x}/{y} in WebMercatorQuad / 无此瓦片")
    version = data_version(conn, project["id"])
    key = (project["id"], _audience(user), version, z, x, y)
    etag = '"' + hashlib.sha256(repr(key).encode()).hexdigest()[:32] + '"'
    headers = {"Cache-Control": f"private, max-age={BROWSER_SECONDS}", "ETag": etag, "Vary": "Authorization, Cookie"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    body = TILES.get(key)
    if body is None:
        body = b"" if z < MIN_ZOOM else parcel_tile(conn, project, user, z, x, y)
        TILES.put(key, body)
    return Response(body, media_type=MVT_MEDIA_TYPE, headers=headers)


@router.get("/projects/{code}/map/search")
def map_search(project: ProjectDep, conn: SessionDep, user: CurrentUser,
               q: Annotated[str, Query(max_length=40, description="户号、宗地代码或脱敏姓名（张*）")] = "") -> dict:
    """The map's search box: parcels whose household number or parcel code contains ``q``, or whose household
    head's masked name starts with it, each with its WGS84 bounds (at most 10; of the parcels the user sees)."""
    return {"query": q, "results": search_parcels(conn, project["id"], user, q)}
