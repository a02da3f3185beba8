"""Orthophotos: streamed upload and ingest, the catalogue of a project, web-map tiles."""

from __future__ import annotations

import datetime as dt
from pathlib import Path, PurePath
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path as PathParam, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, SessionDep, SettingsDep, require_roles
from api.uploads import multipart_body, receive_upload
from imagery import catalogue
from imagery.ingest import ingest_orthophoto
from imagery.pyramid import ensure_pyramid_async
from imagery.tile_cache import TileCache
from imagery.tiles import TILE_FORMATS, serve_tile
from supervision import audit
from supervision.accounts import User
from supervision.projects import get_project

router = APIRouter(tags=["imagery"])

Uploader = Annotated[User, Depends(require_roles("gis_officer", "admin"))]
TILE_CACHE_SECONDS = 86400
#: Encoded tiles of this process, keyed by orthophoto id, COG checksum and z/x/y/format (bounded; a
#: re-ingested flight has a new checksum, so its old tiles are never served).
TILES = TileCache()
_FIELDS = ("project", "phase", "captured_on")
UPLOAD_RESPONSES: dict[int | str, dict] = {
    403: {"description": "the role may not upload"}, 404: {"description": "unknown project"},
    413: {"description": "larger than the upload limit"}, 415: {"description": "not multipart/form-data"},
    422: {"description": "not a usable orthophoto of the project, or a form field missing or malformed"}}


class OrthophotoPublic(BaseModel):
    """A catalogued orthophoto; ``tiles`` is the tile URL template once it has a COG."""

    id: int
    project: str
    phase: str
    captured_on: dt.date
    source_name: str = Field(description="the file name the flight came with (never a server path)")
    status: str
    from_package: bool
    resolution_m: float
    crs: str
    width_px: int
    height_px: int
    band_count: int
    dtype: str
    size_bytes: int
    sha256: str
    cog_sha256: str | None
    cog_size_bytes: int | None
    ingested_at: dt.datetime | None
    footprint: dict | None
    footprint_area_m2: float | None
    tiles: str | None


def _public(row: dict) -> dict:
    out = {k: v for k, v in row.items() if k not in ("source_path", "cog_path")}
    out["source_name"] = PurePath(str(row.get("source_path") or "")).name
    out["tiles"] = f"/tiles/{row['id']}/{{z}}/{{x}}/{{y}}.png" if row["status"] == "ingested" else None
    return out


def _ingest(conn: Connection, user: User, path: Path, *, project_code: str, phase: str, captured_on: dt.date,
            store_dir: Path, source_name: str) -> dict:
    """Ingest an uploaded file and record who did it (runs in the threadpool)."""
    project = get_project(conn, project_code)
    ortho_id = ingest_orthophoto(conn, path, project_id=project["id"], phase=phase, captured_on=captured_on,
                                 store_dir=store_dir, source_name=source_name)
    row = catalogue.list_orthophotos(conn, ortho_id=ortho_id)[0]
    audit.append(conn, actor=user.username, action="orthophoto.ingest", object_type="orthophoto",
                 object_key=str(ortho_id), details={"project": project_code, "phase": phase,
                                                    "source": source_name, "sha256": row["sha256"],
                                                    "cog_sha256": row["cog_sha256"]})
    TILES.drop((ortho_id,))
    ensure_pyramid_async(catalogue.tile_source(conn, ortho_id)[0])
    return _public(row)


@router.post("/orthophotos", status_code=status.HTTP_201_CREATED, response_model=OrthophotoPublic,
             responses=UPLOAD_RESPONSES,
             openapi_extra=multipart_body({"project": "project code", "phase": "baseline | after",
                                           "captured_on": "date of the flight, YYYY-MM-DD"},
                                          "a GeoTIFF orthophoto and its flight"))
async def upload_orthophoto(request: Request, conn: SessionDep, user: Uploader, settings: SettingsDep) -> dict:
    """Upload a GeoTIFF (multipart: ``file``, ``project``, ``phase``, ``captured_on``), streamed to disk.

    The file is refused with 413 past ``EXPRO_UPLOAD_MAX_BYTES`` and with 422 when it is not a usable
    orthophoto of the project; otherwise it is converted to a COG and catalogued (201).
    """
    async with receive_upload(request, limit_bytes=settings.upload_max_bytes, upload_dir=settings.home / "uploads",
                              fields=_FIELDS, suffix=".tif", default_name="upload.tif") as upload:
        missing = [f for f in _FIELDS if not upload.fields.get(f)]
        if missing:
            raise HTTPException(422, f"missing form field(s): {', '.join(missing)}")
        phase = upload.fields["phase"]
        if phase not in catalogue.PHASES:
            raise HTTPException(422, f"phase must be one of {', '.join(catalogue.PHASES)}")
        try:
            captured_on = dt.date.fromisoformat(upload.fields["captured_on"])
        except ValueError:
            raise HTTPException(422, "captured_on must be a date (YYYY-MM-DD)") from None
        return await run_in_threadpool(_ingest, conn, user, upload.path, project_code=upload.fields["project"],
                                       phase=phase, captured_on=captured_on,
                                       store_dir=settings.home / "orthophotos", source_name=upload.filename)


@router.get("/orthophotos", response_model=list[OrthophotoPublic], responses={404: {"description": "unknown project"}})
def list_orthophotos(project: str, conn: SessionDep, user: CurrentUser) -> list[dict]:
    """A project's orthophotos (``?project=CODE``; 404 for an unknown project)."""
    code = get_project(conn, project)["code"]
    return [_public(r) for r in catalogue.list_orthophotos(conn, code)]


OrthoId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]
TileIndex = Annotated[int, PathParam(ge=0, le=2**31 - 1)]
Zoom = Annotated[int, PathParam(ge=0, le=30)]


@router.get("/tiles/{ortho_id}/{z}/{x}/{y}.{fmt}", responses={
    200: {"content": {"image/png": {}, "image/webp": {}}}, 304: {"description": "not modified (ETag)"},
    404: {"description": "no such orthophoto, or no such tile in WebMercatorQuad"},
    409: {"description": "not ingested yet"}})
def get_tile(ortho_id: OrthoId, z: Zoom, x: TileIndex, y: TileIndex, fmt: Literal["png", "webp"], request: Request,
             conn: SessionDep, user: CurrentUser) -> Response:
    """A 256 px WebMercatorQuad tile of an ingested orthophoto, cacheable per user.

    Outside the orthophoto the tile is transparent (200). Tiles come from the process's tile cache, else
    from the flight's Web-Mercator pyramid (a windowed read), else they are warped while it is built.
    """
    cog_path, cog_sha256 = catalogue.tile_source(conn, ortho_id)
    etag = f'"{cog_sha256[:32]}-{z}-{x}-{y}-{fmt}"'
    headers = {"Cache-Control": f"private, max-age={TILE_CACHE_SECONDS}", "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    key = (ortho_id, cog_sha256, z, x, y, fmt)
    body = TILES.get(key)
    if body is None:
        body = serve_tile(cog_path, z, x, y, fmt)
        TILES.put(key, body)
    return Response(body, media_type=TILE_FORMATS[fmt][1], headers=headers)
