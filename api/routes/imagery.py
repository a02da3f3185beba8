"""Orthophotos: streamed upload and ingest, the catalogue of a project, web-map tiles."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, SessionDep, SettingsDep, require_roles
from imagery import catalogue
from imagery.errors import FileTooLargeError
from imagery.ingest import ingest_orthophoto
from imagery.tiles import TILE_FORMATS, render_tile
from supervision import audit
from supervision.accounts import User
from supervision.projects import get_project

router = APIRouter(tags=["imagery"])

Uploader = Annotated[User, Depends(require_roles("gis_officer", "admin"))]
TILE_CACHE_SECONDS = 86400
_FIELD_MAX_BYTES = 1024
_FIELDS = ("project", "phase", "captured_on")


class OrthophotoPublic(BaseModel):
    """A catalogued orthophoto; ``tiles`` is the tile URL template once it has a COG."""

    id: int
    project: str
    phase: str
    captured_on: dt.date
    source_path: str
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
    out = dict(row)
    out["tiles"] = f"/tiles/{row['id']}/{{z}}/{{x}}/{{y}}.png" if row["status"] == "ingested" else None
    return out


class _UploadSink:
    """Streaming multipart/form-data receiver: the ``file`` part goes to disk, size-limited."""

    def __init__(self, target: Any, limit_bytes: int) -> None:
        self.target, self.limit_bytes = target, limit_bytes
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.file_bytes = 0
        self._header_name, self._header_value = b"", b""
        self._headers: dict[bytes, bytes] = {}
        self._part: str | None = None
        self._buffer = bytearray()

    def callbacks(self) -> dict:
        def on_part_begin() -> None:
            self._headers, self._part, self._buffer = {}, None, bytearray()

        def on_header_field(data: bytes, start: int, end: int) -> None:
            self._header_name += data[start:end]

        def on_header_value(data: bytes, start: int, end: int) -> None:
            self._header_value += data[start:end]

        def on_header_end() -> None:
            self._headers[self._header_name.strip().lower()] = self._header_value.strip()
            self._header_name, self._header_value = b"", b""

        def on_headers_finished() -> None:
            _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
            name = options.get(b"name", b"").decode("utf-8", "replace")
            if name == "file":
                if self.filename is not None:
                    raise HTTPException(422, "send one file per upload")
                self.filename = Path(options.get(b"filename", b"upload.tif").decode("utf-8", "replace")).name
            self._part = name

        def on_part_data(data: bytes, start: int, end: int) -> None:
            if self._part == "file":
                self.file_bytes += end - start
                if self.file_bytes > self.limit_bytes:
                    raise FileTooLargeError(f"the file is larger than the upload limit of "
                                            f"{self.limit_bytes / 1024**2:.0f} MiB")
                self.target.write(data[start:end])
            elif self._part in _FIELDS:
                self._buffer += data[start:end]
                if len(self._buffer) > _FIELD_MAX_BYTES:
                    raise HTTPException(422, f"form field {self._part!r} is too long")

        def on_part_end() -> None:
            if self._part in _FIELDS:
                self.fields[self._part] = self._buffer.decode("utf-8", "replace").strip()

        return {"on_part_begin": on_part_begin, "on_header_field": on_header_field,
                "on_header_value": on_header_value, "on_header_end": on_header_end,
                "on_headers_finished": on_headers_finished, "on_part_data": on_part_data,
                "on_part_end": on_part_end}


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
    return _public(row)


@router.post("/orthophotos", status_code=status.HTTP_201_CREATED, response_model=OrthophotoPublic)
async def upload_orthophoto(request: Request, conn: SessionDep, user: Uploader, settings: SettingsDep) -> dict:
    """Upload a GeoTIFF (multipart: ``file``, ``project``, ``phase``, ``captured_on``), streamed to disk.

    The file is refused with 413 past ``EXPRO_UPLOAD_MAX_BYTES`` and with 422 when it is not a usable
    orthophoto of the project; otherwise it is converted to a COG and catalogued (201).
    """
    limit = settings.upload_max_bytes
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in options:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send the file as multipart/form-data")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise FileTooLargeError(f"the file is larger than the upload limit of {limit / 1024**2:.0f} MiB")
    upload_dir = settings.home / "uploads"
    upload_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=upload_dir, suffix=".tif", delete=True) as tmp:
        sink = _UploadSink(tmp, limit)
        parser = MultipartParser(options[b"boundary"], sink.callbacks())
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
        tmp.flush()
        if sink.filename is None:
            raise HTTPException(422, "no file part named 'file' in the upload")
        missing = [f for f in _FIELDS if not sink.fields.get(f)]
        if missing:
            raise HTTPException(422, f"missing form field(s): {', '.join(missing)}")
        phase = sink.fields["phase"]
        if phase not in catalogue.PHASES:
            raise HTTPException(422, f"phase must be one of {', '.join(catalogue.PHASES)}")
        try:
            captured_on = dt.date.fromisoformat(sink.fields["captured_on"])
        except ValueError:
            raise HTTPException(422, "captured_on must be a date (YYYY-MM-DD)") from None
        return await run_in_threadpool(_ingest, conn, user, Path(tmp.name), project_code=sink.fields["project"],
                                       phase=phase, captured_on=captured_on,
                                       store_dir=settings.home / "orthophotos", source_name=sink.filename)


@router.get("/orthophotos", response_model=list[OrthophotoPublic])
def list_orthophotos(project: str, conn: SessionDep, user: CurrentUser) -> list[dict]:
    """A project's orthophotos (``?project=CODE``; 404 for an unknown project)."""
    code = get_project(conn, project)["code"]
    return [_public(r) for r in catalogue.list_orthophotos(conn, code)]


@router.get("/tiles/{ortho_id}/{z}/{x}/{y}.{fmt}", responses={200: {"content": {"image/png": {}}}})
def get_tile(ortho_id: int, z: int, x: int, y: int, fmt: Literal["png", "webp"], request: Request,
             conn: SessionDep, user: CurrentUser) -> Response:
    """A 256 px WebMercatorQuad tile of an ingested orthophoto (404 outside it), cacheable per user."""
    cog_path, cog_sha256 = catalogue.tile_source(conn, ortho_id)
    etag = f'"{cog_sha256[:32]}-{z}-{x}-{y}-{fmt}"'
    headers = {"Cache-Control": f"private, max-age={TILE_CACHE_SECONDS}", "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    body = render_tile(cog_path, z, x, y, fmt)
    return Response(body, media_type=TILE_FORMATS[fmt][1], headers=headers)
