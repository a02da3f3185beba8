"""OGC API – Features (Part 1: Core, GeoJSON) under ``/ogc``: parcels, claimed buildings, measured footprints and
alerts as layers that QGIS and GDAL (the OAPIF driver) open, behind the same sign-in and the same policy.

- Collections are the same for every project; ``?project=CODE`` limits every answer (and every link the answer
  gives, so that a client following links stays in the project). Without it a collection spans all projects.
- Who sees which feature is ``supervision.policy`` (a field crew member: the parcels and buildings of assigned
  households, the footprints on their parcels, the alerts the policy shows them); names are masked for the roles
  that may not see them, alerts by ``policy.mask_alerts``.
- Output is GeoJSON in CRS84 (``ST_Transform(geom, 4326)``); ``bbox`` is CRS84 and matched exactly in CRS84, with
  an index prefilter in each project's working CRS. One SQL statement per page (offset paging ordered by id).
- The OpenAPI document is 3.1 (FastAPI), so the *oas30* conformance class is not claimed; ``service-desc`` links
  to it all the same.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, text

from api.deps import CurrentUser, SessionDep
from supervision import policy
from supervision.accounts import User, mask_name
from supervision.projects import get_project

router = APIRouter(prefix="/ogc", tags=["ogc"])

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = ["http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
               "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson"]
GEOJSON = "application/geo+json"
#: Page sizes: the default, and the maximum (a larger ``limit`` is served as this many, as Part 1 permits).
DEFAULT_LIMIT, MAX_LIMIT = 100, 10_000
MAX_OFFSET = 2**63 - 1
#: Degrees between the vertices of a bbox before it is projected into a project's CRS (the edges bend there).
SEGMENT_DEG = 0.01


class GeoJSONResponse(JSONResponse):
    """JSON served as ``application/geo+json``."""

    media_type = GEOJSON


class Link(BaseModel):
    """A link of the OGC API."""

    model_config = ConfigDict(extra="allow")

    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class LandingPage(BaseModel):
    """The landing page: title and links to the API description, conformance and collections."""

    model_config = ConfigDict(extra="allow")

    title: str
    description: str
    links: list[Link]


class Conformance(BaseModel):
    """The conformance classes the API implements."""

    conformsTo: list[str]


class CollectionInfo(BaseModel):
    """One collection: id, title, CRS84 extent (when it has features), links."""

    model_config = ConfigDict(extra="allow")

    id: str
    title: str
    description: str
    itemType: str
    crs: list[str]
    extent: dict[str, Any] | None = None
    links: list[Link]


class Collections(BaseModel):
    """The collections the signed-in user may open."""

    links: list[Link]
    collections: list[CollectionInfo]


class Feature(BaseModel):
    """A GeoJSON Feature (CRS84)."""

    model_config = ConfigDict(extra="allow")

    type: str
    id: int
    geometry: dict[str, Any] | None
    properties: dict[str, Any]
    links: list[Link] | None = None


class FeatureCollection(BaseModel):
    """A page of a collection's features (CRS84), with paging links."""

    model_config = ConfigDict(extra="allow")

    type: str
    features: list[Feature]
    numberMatched: int
    numberReturned: int
    timeStamp: str
    links: list[Link]


# --- the collections -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Collection:
    """A collection: its texts, and the SQL of its rows as ``user`` may see them.

    ``source(user)`` gives a query selecting ``id``, ``project_id``, ``srid``, ``geom`` (in the project's CRS) and
    ``props`` (json), and its parameters; ``mask`` turns the page's properties into what ``user`` may see."""

    id: str
    title: str
    description: str
    source: Callable[[User], tuple[str, dict]]
    mask: Callable[[list[dict], User], list[dict]]
    roles: tuple[str, ...] | None = None      # None: every signed-in role


def _parcels(user: User) -> tuple[str, dict]:
    visible, params = policy.household_no_visible_sql(user, "pa.project_id", "pa.household_no")
    return (f"""SELECT pa.id, pa.project_id, p.srid, pa.geom, json_build_object(
                   'project', p.code, 'parcel_code', pa.parcel_code, 'village_code', pa.village_code,
                   'land_class', pa.land_class, 'household_no', pa.household_no,
                   'certificate_no', pa.certificate_no, 'area_m2', round(pa.area_m2::numeric, 2),
                   'head_name', h.head_name) AS props
               FROM parcel pa JOIN project p ON p.id = pa.project_id
               LEFT JOIN household h ON h.project_id = pa.project_id AND h.household_no = pa.household_no
               WHERE {visible}""", params)


def _buildings(user: User) -> tuple[str, dict]:
    visible, params = policy.household_no_visible_sql(user, "pa.project_id", "pa.household_no")
    return (f"""SELECT b.id, b.project_id, p.srid, b.geom, json_build_object(
                   'project', p.code, 'parcel_code', b.parcel_code, 'building_no', b.building_no,
                   'household_no', pa.household_no, 'structure_type', b.structure_type, 'storeys', b.storeys,
                   'claimed_floor_area_m2', b.claimed_floor_area_m2,
                   'outline_area_m2', round(b.outline_area_m2::numeric, 2)) AS props
               FROM building b JOIN parcel pa ON pa.id = b.parcel_id JOIN project p ON p.id = b.project_id
               WHERE {visible}""", params)


def _footprints(user: User) -> tuple[str, dict]:
    visible, params = policy.household_no_visible_sql(user, "pa.project_id", "pa.household_no")
    # Footprints belong to no household: an assigned-only role sees those on the parcels it may see.
    on_visible = "true" if visible == "true" else (
        f"EXISTS (SELECT 1 FROM parcel pa WHERE pa.project_id = f.project_id AND pa.geom && f.geom "
        f"AND ST_Intersects(pa.geom, f.geom) AND {visible})")
    return (f"""SELECT f.id, f.project_id, p.srid, f.geom, json_build_object(
                   'project', p.code, 'footprint_id', f.footprint_id, 'phase', f.phase, 'source', f.source,
                   'height_m', f.height_m, 'pixel_size_m', f.pixel_size_m, 'orthophoto_id', f.orthophoto_id,
                   'area_m2', round(f.area_m2::numeric, 2)) AS props
               FROM footprint f JOIN project p ON p.id = f.project_id
               WHERE {on_visible}""", params)


def _alerts(user: User) -> tuple[str, dict]:
    visible, params = policy.alert_visible_sql(user, "a")
    # Where an alert is drawn: its building, parcel or photo; else the homestead parcels of its households.
    return (f"""SELECT a.id, a.project_id, p.srid, loc.geom, json_build_object(
                   'project', p.code, 'rule_code', a.rule_code, 'severity', a.severity,
                   'subject_type', a.subject_type, 'subject_key', a.subject_key, 'message', a.message,
                   'state', a.state, 'verdict', a.verdict, 'firing', a.firing,
                   'first_seen_at', a.first_seen_at, 'last_seen_at', a.last_seen_at) AS props,
                   a.evidence
               FROM alert a JOIN project p ON p.id = a.project_id
               CROSS JOIN LATERAL (SELECT COALESCE(
                   (SELECT ST_PointOnSurface(b.geom) FROM building b WHERE a.subject_type = 'building'
                      AND b.project_id = a.project_id AND b.parcel_code || '/' || b.building_no = a.subject_key),
                   (SELECT ST_PointOnSurface(pa.geom) FROM parcel pa WHERE a.subject_type = 'parcel'
                      AND pa.project_id = a.project_id AND pa.parcel_code = a.subject_key),
                   (SELECT ph.geom FROM field_photo ph WHERE a.subject_type = 'photo'
                      AND ph.project_id = a.project_id AND ph.photo_id = a.subject_key),
                   (SELECT ST_PointOnSurface(ST_Union(pa.geom)) FROM alert_household ah
                      JOIN household h ON h.id = ah.household_id
                      JOIN parcel pa ON pa.project_id = h.project_id AND pa.household_no = h.household_no
                                    AND pa.land_class = 'homestead'
                      WHERE ah.alert_id = a.id)) AS geom) loc
               WHERE loc.geom IS NOT NULL AND {visible}""", params)


def _mask_names(props: list[dict], user: User) -> list[dict]:
    """Household heads' names masked for the roles that may not see them (``policy.can_see_id_numbers``)."""
    if policy.can_see_id_numbers(user.role):
        return props
    return [{**p, "head_name": mask_name(p["head_name"])} if p.get("head_name") else p for p in props]


def _as_is(props: list[dict], user: User) -> list[dict]:
    """Properties that carry no personal data."""
    return props


def _mask_alerts(props: list[dict], user: User) -> list[dict]:
    """Alerts masked by ``policy.mask_alerts`` (their evidence lends the names to mask, and is then left out)."""
    return [{k: v for k, v in p.items() if k != "evidence"} for p in policy.mask_alerts(props, user)]


COLLECTIONS: dict[str, Collection] = {c.id: c for c in [
    Collection("parcels", "宗地", "征收范围内的宗地（地块），含用途、户号、面积（㎡）", _parcels, _mask_names),
    Collection("buildings", "登记房屋", "核量时登记的房屋轮廓与申报建筑面积（㎡）", _buildings, _as_is),
    Collection("footprints", "实测基底", "测量或影像提取的房屋基底（基期 baseline / 拆后 after）", _footprints,
               _as_is),
    Collection("alerts", "预警", "监督模型的预警，位于其对象（房屋、宗地、照片或户的宅基地）上", _alerts, _mask_alerts,
               roles=policy.ALERT_ROLES),
]}


# --- parameters ------------------------------------------------------------------------------------------

def _bad(zh: str, en: str) -> HTTPException:
    return HTTPException(status.HTTP_400_BAD_REQUEST, f"{zh} / {en}")


def parse_int(name: str, raw: str | None, default: int, low: int, high: int | None = None) -> int:
    """A non-negative integer parameter (400 when it is not one or below ``low``; above ``high`` it is ``high``)."""
    if raw is None:
        return default
    value = raw.strip()
    if not value.isascii() or not value.isdigit() or len(value) > 19:
        raise _bad(f"参数 {name} 须为整数（≥ {low}）", f"{name} must be an integer >= {low}, not {raw!r}")
    number = int(value)
    if number < low or number > MAX_OFFSET:
        raise _bad(f"参数 {name} 须在 {low} 与 {MAX_OFFSET} 之间", f"{name} must be between {low} and {MAX_OFFSET}")
    return number if high is None else min(number, high)


def parse_bbox(raw: str | None) -> tuple[float, float, float, float] | None:
    """``minx,miny,maxx,maxy`` (or six numbers with heights) in CRS84 degrees; 400 with the reason otherwise."""
    if raw is None:
        return None
    parts = raw.split(",")
    if len(parts) not in (4, 6):
        raise _bad("bbox 须为 4 个数 minx,miny,maxx,maxy（CRS84 经纬度，度）",
                   f"bbox must be 4 comma-separated numbers minx,miny,maxx,maxy in CRS84 degrees, got {len(parts)}")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise _bad("bbox 含非数字", f"bbox must contain numbers only: {raw!r}") from None
    if not all(math.isfinite(n) for n in numbers):
        raise _bad("bbox 含非有限数", "bbox numbers must be finite")
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    minx, miny, maxx, maxy = numbers
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90 and -90 <= maxy <= 90):
        raise _bad("bbox 超出经纬度范围（经度 −180…180，纬度 −90…90）",
                   "bbox is outside longitude -180..180 / latitude -90..90")
    if miny > maxy:
        raise _bad("bbox 的 miny 大于 maxy", "bbox miny is greater than maxy")
    if minx > maxx:
        raise _bad("不支持跨越 180° 经线的 bbox（minx 大于 maxx）",
                   "a bbox crossing the antimeridian (minx > maxx) is not supported")
    return minx, miny, maxx, maxy


@functools.lru_cache(maxsize=64)
def area_of_use(srid: int) -> tuple[float, float, float, float] | None:
    """The CRS84 bounds within which EPSG:``srid`` may be projected (None: unknown)."""
    import pyproj

    try:
        area = pyproj.CRS.from_epsg(srid).area_of_use
    except pyproj.exceptions.CRSError:
        return None
    return None if area is None else (area.west, area.south, area.east, area.north)


def _bbox_filter(conn: Connection, bbox: tuple[float, float, float, float], project: dict | None
                 ) -> tuple[str, dict]:
    """The SQL condition on a source row ``s`` for ``bbox``: an index prefilter in each project's CRS (the bbox
    clipped to where that CRS is defined, densified, projected, grown by a metre) and the exact test in CRS84."""
    srids = ([int(project["srid"])] if project is not None else
             [int(s) for s in conn.execute(text("SELECT DISTINCT srid FROM project ORDER BY srid")).scalars()])
    minx, miny, maxx, maxy = bbox
    params: dict = {"bb_x0": minx, "bb_y0": miny, "bb_x1": maxx, "bb_y1": maxy, "bb_seg": SEGMENT_DEG}
    prefilters = []
    for n, srid in enumerate(srids):
        area = area_of_use(srid)
        if area is None:                      # no known domain: the exact test alone
            prefilters.append(f"s.srid = {srid}")
            continue
        west, south, east, north = area[0] - 1, max(area[1] - 1, -89.9), area[2] + 1, min(area[3] + 1, 89.9)
        x0, y0, x1, y1 = max(minx, west), max(miny, south), min(maxx, east), min(maxy, north)
        if x0 > x1 or y0 > y1:
            continue                          # the bbox lies outside the CRS's domain: none of its rows
        params.update({f"bb{n}_x0": x0, f"bb{n}_y0": y0, f"bb{n}_x1": x1, f"bb{n}_y1": y1})
        prefilters.append(
            f"(s.srid = {srid} AND s.geom && ST_Expand(ST_Transform(ST_Segmentize(ST_MakeEnvelope("
            f":bb{n}_x0, :bb{n}_y0, :bb{n}_x1, :bb{n}_y1, 4326), :bb_seg), {srid}), 1))")
    if not prefilters:
        return "false", params
    exact = "ST_Intersects(ST_Transform(s.geom, 4326), ST_MakeEnvelope(:bb_x0, :bb_y0, :bb_x1, :bb_y1, 4326))"
    return f"({' OR '.join(prefilters)}) AND {exact}", params


# --- helpers ---------------------------------------------------------------------------------------------

def _collection(cid: str, user: User) -> Collection:
    collection = COLLECTIONS.get(cid)
    if collection is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"没有集合 {cid} / no collection {cid!r}")
    if collection.roles is not None and user.role not in collection.roles:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "your role may not do this / 无此权限")
    return collection


def _project(conn: Connection, code: str | None) -> dict | None:
    return None if code is None else get_project(conn, code)


def _url(request: Request, path: str, project: dict | None, params: dict | None = None) -> str:
    """The absolute URL of ``/ogc{path}`` with the project filter and ``params`` (None values left out)."""
    query = {"project": project["code"]} if project is not None else {}
    query.update({k: str(v) for k, v in (params or {}).items() if v is not None})
    base = str(request.base_url).rstrip("/") + "/ogc" + path
    return base + ("?" + urlencode(query) if query else "")


def _extent(conn: Connection, collection: Collection, user: User, project: dict | None) -> dict | None:
    """The CRS84 bbox of the collection's features that ``user`` sees (of their CRS84 geometries: a projected
    box would overshoot where the grid is rotated against the meridians)."""
    source, params = collection.source(user)
    row = conn.execute(text(f"""
        SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
        FROM (SELECT ST_Extent(ST_Transform(s.geom, 4326)) AS e FROM ({source}) s
              WHERE CAST(:proj AS bigint) IS NULL OR s.project_id = :proj) x
        WHERE e IS NOT NULL"""), {**params, "proj": None if project is None else project["id"]}).one_or_none()
    if row is None:
        return None
    # rounded outwards to 1e-7 degree (about a centimetre), so that the box still covers every feature
    box = [math.floor(row[0] * 1e7) / 1e7, math.floor(row[1] * 1e7) / 1e7,
           math.ceil(row[2] * 1e7) / 1e7, math.ceil(row[3] * 1e7) / 1e7]
    return {"spatial": {"bbox": [box], "crs": CRS84}}


def _collection_info(request: Request, conn: Connection, collection: Collection, user: User,
                     project: dict | None) -> dict:
    info: dict[str, Any] = {
        "id": collection.id, "title": collection.title, "description": collection.description,
        "itemType": "feature", "crs": [CRS84],
        "links": [
            {"href": _url(request, f"/collections/{collection.id}", project), "rel": "self",
             "type": "application/json", "title": collection.title},
            {"href": _url(request, f"/collections/{collection.id}/items", project), "rel": "items",
             "type": GEOJSON, "title": f"{collection.title}（GeoJSON）"}]}
    extent = _extent(conn, collection, user, project)
    if extent is not None:
        info["extent"] = extent
    return info


def _features(rows: Sequence[Any], collection: Collection, user: User) -> list[dict]:
    props = collection.mask([{**(r.props or {}), **({"evidence": r.evidence} if "evidence" in r._fields else {})}
                             for r in rows], user)
    return [{"type": "Feature", "id": r.id, "geometry": r.geometry, "properties": p} for r, p in zip(rows, props)]


# --- routes ----------------------------------------------------------------------------------------------

PROJECT_PARAM = Query(None, max_length=200, description="只看此项目 / limit to the project with this code")
PAGE_PARAMETERS = [
    {"name": "limit", "in": "query", "required": False, "style": "form", "explode": False,
     "description": f"每页要素数 / features per page (default {DEFAULT_LIMIT}; above {MAX_LIMIT} served as {MAX_LIMIT})",
     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}},
    {"name": "offset", "in": "query", "required": False, "style": "form", "explode": False,
     "description": "跳过的要素数 / features to skip (the next link carries it)",
     "schema": {"type": "integer", "minimum": 0, "default": 0}},
    {"name": "bbox", "in": "query", "required": False, "style": "form", "explode": False,
     "description": "minx,miny,maxx,maxy in CRS84 degrees (lon/lat)",
     "schema": {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}},
]
BAD_REQUEST: dict[int | str, dict] = {400: {"description": "a bad limit, offset or bbox (the message says which)"}}


@router.get("", response_model=LandingPage)
def ogc_landing_page(request: Request, conn: SessionDep, user: CurrentUser,
                     project: str | None = PROJECT_PARAM) -> dict:
    """The landing page of the OGC API – Features: links to the API description, conformance and collections."""
    proj = _project(conn, project)
    title = "Expro 征收监督 OGC API – Features" + (f"（{proj['name']}）" if proj else "")
    return {"title": title, "description": "宗地、登记房屋、实测基底与预警，供 QGIS / GDAL 以图层打开（CRS84 GeoJSON）",
            "links": [
                {"href": _url(request, "", proj), "rel": "self", "type": "application/json", "title": "本页"},
                {"href": str(request.base_url).rstrip("/") + "/openapi.json", "rel": "service-desc",
                 "type": "application/vnd.oai.openapi+json;version=3.1", "title": "API 描述（OpenAPI）"},
                {"href": _url(request, "/conformance", proj), "rel": "conformance", "type": "application/json",
                 "title": "符合的标准类"},
                {"href": _url(request, "/collections", proj), "rel": "data", "type": "application/json",
                 "title": "集合"}]}


@router.get("/conformance", response_model=Conformance)
def ogc_conformance(user: CurrentUser, project: str | None = PROJECT_PARAM) -> dict:
    """The conformance classes: Part 1 core and GeoJSON."""
    return {"conformsTo": CONFORMANCE}


@router.get("/collections", response_model=Collections)
def ogc_collections(request: Request, conn: SessionDep, user: CurrentUser,
                    project: str | None = PROJECT_PARAM) -> dict:
    """The collections the signed-in user may open, each with its CRS84 extent."""
    proj = _project(conn, project)
    visible = [c for c in COLLECTIONS.values() if c.roles is None or user.role in c.roles]
    return {"links": [{"href": _url(request, "/collections", proj), "rel": "self", "type": "application/json"}],
            "collections": [_collection_info(request, conn, c, user, proj) for c in visible]}


@router.get("/collections/{collection_id}", response_model=CollectionInfo)
def ogc_collection(collection_id: str, request: Request, conn: SessionDep, user: CurrentUser,
                   project: str | None = PROJECT_PARAM) -> dict:
    """One collection with its CRS84 extent and its links."""
    collection = _collection(collection_id, user)
    return _collection_info(request, conn, collection, user, _project(conn, project))


@router.get("/collections/{collection_id}/items", response_model=FeatureCollection,
            response_class=GeoJSONResponse, responses=BAD_REQUEST, openapi_extra={"parameters": PAGE_PARAMETERS})
def ogc_items(collection_id: str, request: Request, conn: SessionDep, user: CurrentUser,
              project: str | None = PROJECT_PARAM) -> GeoJSONResponse:
    """A page of the collection's features in CRS84 GeoJSON: ``limit``, ``offset`` and ``bbox``, with the number
    matched and a ``next`` link that keeps the other parameters."""
    collection = _collection(collection_id, user)
    query = request.query_params
    limit = parse_int("limit", query.get("limit"), DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = parse_int("offset", query.get("offset"), 0, 0)
    bbox = parse_bbox(query.get("bbox"))
    proj = _project(conn, project)
    source, params = collection.source(user)
    where = ["(CAST(:proj AS bigint) IS NULL OR s.project_id = :proj)"]
    if bbox is not None:
        cond, bbox_params = _bbox_filter(conn, bbox, proj)
        where.append(cond)
        params = {**params, **bbox_params}
    filters = " AND ".join(where)
    params = {**params, "proj": None if proj is None else proj["id"], "lim": limit, "off": offset}
    rows = conn.execute(text(f"""
        WITH page AS (SELECT s.id FROM ({source}) s WHERE {filters} ORDER BY s.id LIMIT :lim OFFSET :off),
             matched AS (SELECT count(*) AS n FROM ({source}) s WHERE {filters})
        SELECT matched.n AS matched, f.* FROM matched LEFT JOIN LATERAL (
            SELECT s.*, ST_AsGeoJSON(ST_Transform(s.geom, 4326), 7)::json AS geometry
            FROM ({source}) s WHERE s.id IN (SELECT id FROM page)) f ON true
        ORDER BY f.id"""), params).all()
    matched = int(rows[0].matched)
    rows = [r for r in rows if r.id is not None]
    features = _features(rows, collection, user)
    page_params = {k: v for k, v in query.items() if k not in ("limit", "offset", "project")}
    path = f"/collections/{collection.id}/items"
    links = [{"href": _url(request, path, proj, {**page_params, "limit": limit, "offset": offset or None}),
              "rel": "self",
              "type": GEOJSON, "title": "本页"},
             {"href": _url(request, f"/collections/{collection.id}", proj), "rel": "collection",
              "type": "application/json", "title": collection.title}]
    if offset + len(features) < matched and features:
        next_params = {**page_params, "limit": limit, "offset": offset + len(features)}
        links.append({"href": _url(request, path, proj, next_params),
                      "rel": "next", "type": GEOJSON, "title": "下一页"})
    if offset > 0:
        links.append({"href": _url(request, path, proj, {**page_params, "limit": limit,
                                                          "offset": max(offset - limit, 0) or None}),
                      "rel": "prev", "type": GEOJSON,
                      "title": "上一页"})
    return GeoJSONResponse({"type": "FeatureCollection", "features": features, "numberMatched": matched,
                            "numberReturned": len(features),
                            "timeStamp": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                            "links": links})


@router.get("/collections/{collection_id}/items/{feature_id}", response_model=Feature,
            response_class=GeoJSONResponse)
def ogc_item(collection_id: str, feature_id: str, request: Request, conn: SessionDep, user: CurrentUser,
             project: str | None = PROJECT_PARAM) -> GeoJSONResponse:
    """One feature in CRS84 GeoJSON (404 when there is none with this id that the user may see)."""
    collection = _collection(collection_id, user)
    proj = _project(conn, project)
    missing = HTTPException(status.HTTP_404_NOT_FOUND,
                            f"{collection.title}中没有要素 {feature_id} / no feature {feature_id!r} in {collection.id}")
    if not (feature_id.isascii() and feature_id.isdigit()) or int(feature_id) > MAX_OFFSET:
        raise missing
    source, params = collection.source(user)
    rows = conn.execute(text(f"""
        SELECT s.*, ST_AsGeoJSON(ST_Transform(s.geom, 4326), 7)::json AS geometry
        FROM ({source}) s WHERE s.id = :fid AND (CAST(:proj AS bigint) IS NULL OR s.project_id = :proj)"""),
        {**params, "fid": int(feature_id), "proj": None if proj is None else proj["id"]}).all()
    if not rows:
        raise missing
    feature = _features(rows, collection, user)[0]
    feature["links"] = [
        {"href": _url(request, f"/collections/{collection.id}/items/{feature_id}", proj), "rel": "self",
         "type": GEOJSON},
        {"href": _url(request, f"/collections/{collection.id}", proj), "rel": "collection",
         "type": "application/json", "title": collection.title}]
    return GeoJSONResponse(feature)
